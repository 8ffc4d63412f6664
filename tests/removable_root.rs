//! A registered project on a disk that comes and goes: while the disk is unplugged, the
//! project's root is missing, but it was not deleted. A dry run must not forget it, and
//! no run may remove what its venvs used when last seen (`root-unmounted`), or the venv
//! breaks when the disk comes back.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::users::root_or_skip;
use common::*;

/// An ext4 image mounted (loop) in the sandbox; unmounted and its loop devices detached
/// on drop, even when the test panics.
struct Disk {
    image: PathBuf,
    point: PathBuf,
}

fn sh(cmd: &mut Command) {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(output.status.success(), "{}", describe(cmd, &output));
}

impl Disk {
    fn new(sandbox: &Sandbox) -> Disk {
        let image = sandbox.path("disk.img");
        let point = sandbox.path("media/disk");
        std::fs::create_dir_all(&point).unwrap();
        sh(Command::new("truncate").args(["-s", "64M"]).arg(&image));
        sh(Command::new("mkfs.ext4").arg("-q").arg(&image));
        let disk = Disk { image, point };
        disk.plug();
        disk
    }

    fn plug(&self) {
        sh(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&self.image)
            .arg(&self.point));
    }

    fn unplug(&self) {
        sh(Command::new("umount").arg(&self.point));
    }

    fn is_mounted(&self) -> bool {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let point = self.point.to_string_lossy();
        info.lines()
            .any(|l| l.split(' ').nth(4) == Some(point.as_ref()))
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        while self.is_mounted() {
            let status = Command::new("umount").arg(&self.point).status();
            if !status.is_ok_and(|s| s.success()) {
                let _ = Command::new("umount").arg("-l").arg(&self.point).status();
                break;
            }
        }
        // `mount -o loop` detaches on unmount; a loop device left by a failure is not.
        if let Ok(out) = Command::new("losetup").arg("-j").arg(&self.image).output() {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some(dev) = line.split(':').next() {
                    let _ = Command::new("losetup").args(["-d", dev]).status();
                }
            }
        }
    }
}

fn registry(sandbox: &Sandbox) -> Vec<u8> {
    let path = sandbox.path("xdg/state/uv-cache-prune/roots.json");
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn roots_list(sandbox: &Sandbox) -> String {
    let mut cmd = sandbox.bare_prune_cmd();
    cmd.args(["roots", "list"]);
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `root-unmounted` evidence of `id`: its path.
fn unmounted_paths(report: &serde_json::Value, id: &str) -> Vec<String> {
    live(report, id)["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "root-unmounted")
        .map(|e| e["path"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A project registered as a root, on a loop-mounted disk, whose symlink-mode venv uses
/// `alpha`.
struct OnDisk {
    // Fields drop in order: the disk is unmounted before the sandbox goes.
    disk: Disk,
    sandbox: Sandbox,
    project: PathBuf,
    venv: PathBuf,
    alpha: String,
}

impl OnDisk {
    fn new() -> OnDisk {
        let sandbox = Sandbox::new();
        let disk = Disk::new(&sandbox);
        sandbox.wheel("alpha", "1.0");
        let project = disk.point.join("proj");
        let venv = sandbox.venv(
            "media/disk/proj/.venv",
            &uv(),
            LinkMode::Symlink,
            &["alpha"],
        );
        let alpha = sandbox.archive_of("alpha", "1.0");
        let mut add = sandbox.bare_prune_cmd();
        add.args(["roots", "add"]).arg(&project);
        sh(&mut add);
        OnDisk {
            disk,
            sandbox,
            project,
            venv,
            alpha,
        }
    }
}

#[test]
fn a_registered_root_on_an_unplugged_disk_keeps_what_its_venv_links() {
    if !root_or_skip("a_registered_root_on_an_unplugged_disk_keeps_what_its_venv_links") {
        return;
    }
    let OnDisk {
        sandbox,
        disk,
        project,
        venv,
        alpha,
    } = OnDisk::new();
    let args = ["--grace", "0s"];

    // Seen while plugged in: what it uses is recorded.
    let report = sandbox.prune_json(&args);
    assert_eq!(
        evidence_kinds(&report, &alpha),
        set(["symlink"]),
        "{report:#}"
    );

    disk.unplug();
    let before = registry(&sandbox);
    let (report, stderr) = sandbox.prune_json_and_stderr(&args);
    assert_eq!(registry(&sandbox), before, "a dry run rewrote the registry");
    assert_eq!(
        evidence_kinds(&report, &alpha),
        set(["root-unmounted"]),
        "{report:#}"
    );
    assert_eq!(unmounted_paths(&report, &alpha), [path_str(&project)]);
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    let missing = format!(
        "registered root {} is missing: its filesystem ({}) is not mounted (or another one is in its place); the 1 archive(s) it used when last seen are kept",
        project.display(),
        disk.point.display()
    );
    assert!(stderr.contains(&missing), "{stderr}");
    assert!(!stderr.contains("forgotten"), "{stderr}");

    let mut explain = sandbox.prune_cmd(&["--grace", "0s", "--explain", "alpha"]);
    let output = explain.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("root-unmounted") && text.contains(&path_str(&project)),
        "{text}"
    );

    // Applying with the disk still away removes nothing and forgets nothing.
    let report = sandbox.prune_json(&["--grace", "0s", "--apply"]);
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert!(sandbox.archive_dir(&alpha).is_dir(), "alpha was removed");
    assert_eq!(registry(&sandbox), before);

    // Back: the venv works, the root is still registered, and it is seen again.
    disk.plug();
    sandbox.assert_imports(&venv, &["alpha"]);
    assert_eq!(roots_list(&sandbox), format!("{}\n", path_str(&project)));
    let report = sandbox.prune_json(&args);
    assert_eq!(
        evidence_kinds(&report, &alpha),
        set(["symlink"]),
        "{report:#}"
    );
}

#[test]
fn a_root_deleted_from_a_disk_that_is_here_is_forgotten_only_by_apply() {
    if !root_or_skip("a_root_deleted_from_a_disk_that_is_here_is_forgotten_only_by_apply") {
        return;
    }
    // The disk stays mounted for the whole test: bound, not left to `..`.
    let OnDisk {
        sandbox,
        disk: _disk,
        project,
        alpha,
        ..
    } = OnDisk::new();
    sandbox.prune_json(&["--grace", "0s"]);

    // Deleted, with its disk plugged in: a dry run says so and changes no registry.
    delete(&project);
    let before = registry(&sandbox);
    let (report, stderr) = sandbox.prune_json_and_stderr(&["--grace", "0s"]);
    assert_eq!(candidate_ids(&report), set([&alpha]), "{report:#}");
    assert!(
        stderr.contains(&format!(
            "registered root {} vanished: `--apply` or `uv-cache-prune roots prune` will forget it",
            project.display()
        )),
        "{stderr}"
    );
    assert_eq!(registry(&sandbox), before);
    let report = sandbox.prune_json(&["--grace", "0s", "--apply"]);
    assert_eq!(candidate_ids(&report), set([&alpha]), "{report:#}");
    assert!(
        roots_list(&sandbox).starts_with("No roots registered;"),
        "forgotten"
    );
}

#[test]
fn another_filesystem_mounted_in_the_disks_place_is_not_the_disk() {
    if !root_or_skip("another_filesystem_mounted_in_the_disks_place_is_not_the_disk") {
        return;
    }
    let OnDisk {
        sandbox,
        disk,
        project,
        venv,
        alpha,
    } = OnDisk::new();
    let args = ["--grace", "0s"];
    sandbox.prune_json(&args);

    // Another disk (a tmpfs here: another stick, an automount's placeholder) mounted at
    // the same point, first without the project's path, then with an empty tree there.
    disk.unplug();
    sh(Command::new("mount")
        .args(["-t", "tmpfs", "other"])
        .arg(&disk.point));
    let before = registry(&sandbox);
    for round in ["path missing", "path there, no venv"] {
        let report = sandbox.prune_json(&["--grace", "0s", "--apply"]);
        assert!(candidate_ids(&report).is_empty(), "{round}: {report:#}");
        assert_eq!(
            evidence_kinds(&report, &alpha),
            set(["root-unmounted"]),
            "{round}: {report:#}"
        );
        assert!(
            sandbox.archive_dir(&alpha).is_dir(),
            "{round}: alpha was removed"
        );
        assert_eq!(registry(&sandbox), before, "{round}: the registry changed");
        std::fs::create_dir_all(&project).unwrap();
    }
    // A second pass over the impostor must still keep it: walking it recorded nothing
    // over what the real disk used.
    let report = sandbox.prune_json(&["--grace", "0s", "--apply"]);
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    sh(Command::new("umount").arg(&disk.point));

    disk.plug();
    sandbox.assert_imports(&venv, &["alpha"]);
    let report = sandbox.prune_json(&args);
    assert_eq!(
        evidence_kinds(&report, &alpha),
        set(["symlink"]),
        "{report:#}"
    );
}
