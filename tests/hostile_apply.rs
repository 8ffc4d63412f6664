//! `--apply` in a cache others can write to: deletion never leaves the cache.
//!
//! A co-writer swapping a directory of the trash for a symlink while it is being deleted,
//! a bind mount inside a dead archive or inside trash, a dangling `<cache>/.lock` symlink,
//! trash entries we did not make or cannot delete: in each, files outside the cache must
//! stay byte-for-byte as they were, what is left must be said, and new dead archives must
//! still be removed. The caches are real uv caches; only the hostile parts are made here.

mod common;

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::ground_truth::TRASH_PREFIX;
use common::*;
use rustix::fs::{CWD, RenameFlags, renameat_with};
use serde_json::Value;

/// A sandbox whose `name` 1.0 archive (with `modules` extra modules) is dead: installed
/// into a venv that was then deleted. Returns the archive id.
fn dead_archive(sandbox: &Sandbox, name: &str, modules: usize) -> String {
    sandbox.wheel_with_modules(name, "1.0", modules);
    let venv = sandbox.venv(
        &format!("projects/{name}/.venv"),
        &uv(),
        LinkMode::Copy,
        &[name],
    );
    delete(&venv);
    sandbox.archive_of(name, "1.0")
}

/// `--apply` searching only the projects dir, where every venv was deleted.
fn apply_all(sandbox: &Sandbox) -> Vec<OsString> {
    apply_args(&[&sandbox.projects()])
}

/// An `--apply` that ran; its JSON report and stderr (exit 0 asserted).
fn apply_ok(sandbox: &Sandbox) -> (Value, String) {
    sandbox.prune_json_and_stderr(&apply_all(sandbox))
}

fn trash_path(sandbox: &Sandbox, id: &str) -> PathBuf {
    sandbox
        .cache()
        .join("archive-v0")
        .join(format!("{TRASH_PREFIX}{id}"))
}

/// Makes `id` trash as an interrupted run leaves it: renamed, its pointers still there
/// (a run dies between pointer removal and deletion only after removing them, but the
/// next run must cope either way).
fn make_trash(sandbox: &Sandbox, id: &str) -> PathBuf {
    let trash = trash_path(sandbox, id);
    fs::rename(sandbox.archive_dir(id), &trash).expect("rename the archive to trash");
    trash
}

fn warnings_of(report: &Value) -> Vec<String> {
    warnings(report)
}

fn is_root() -> bool {
    // The owner of /proc/self is the effective uid.
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A bind mount, unmounted when dropped (before the sandbox is removed: a recursive
/// delete of the sandbox would otherwise empty the mounted tree).
struct BindMount {
    target: PathBuf,
}

impl BindMount {
    /// `mount --bind source target`, or `None` (after saying why) where that cannot be.
    fn new(source: &Path, target: &Path) -> Option<BindMount> {
        if !is_root() {
            eprintln!("note: skipped: bind mounts need root");
            return None;
        }
        let status = Command::new("mount")
            .arg("--bind")
            .arg(source)
            .arg(target)
            .stderr(Stdio::piped())
            .output();
        match status {
            Ok(out) if out.status.success() => Some(BindMount {
                target: target.to_owned(),
            }),
            Ok(out) => {
                eprintln!(
                    "note: skipped: mount --bind failed here: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                None
            }
            Err(e) => {
                eprintln!("note: skipped: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.target)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.target).status();
        }
    }
}

/// A tree of files outside the cache that nothing may touch.
fn victim_tree(sandbox: &Sandbox, rel: &str) -> PathBuf {
    let victim = sandbox.path(rel);
    for sub in ["a", "a/b"] {
        fs::create_dir_all(victim.join(sub)).unwrap();
    }
    for (i, file) in ["one.txt", "a/two.txt", "a/b/three.txt"].iter().enumerate() {
        fs::write(victim.join(file), format!("victim file {i}\n").repeat(100)).unwrap();
    }
    victim
}

/// Item 1: a co-writer exchanges the trash's package directory with a symlink to a copy of
/// it outside the cache (same names, so a path-based delete would find every file there),
/// over and over, while `--apply` deletes it. Over several runs not a byte outside the
/// cache may change.
#[test]
fn a_directory_swapped_for_a_symlink_mid_deletion_never_leads_outside_the_cache() {
    let sandbox = Sandbox::new();
    let name = "swapped";
    sandbox.wheel_with_modules(name, "1.0", 3000);
    let attacker = sandbox.path("attacker");
    fs::create_dir_all(&attacker).unwrap();
    for run in 0..4 {
        let venv = sandbox.venv(
            &format!("projects/run-{run}/.venv"),
            &uv(),
            LinkMode::Copy,
            &[name],
        );
        delete(&venv);
        let id = sandbox.archive_of(name, "1.0");
        // The victim: a copy of the package directory, outside the cache.
        let victim = sandbox.path(format!("victim-{run}"));
        fs::create_dir_all(&victim).unwrap();
        let copied = Command::new("cp")
            .arg("-a")
            .arg(sandbox.archive_dir(&id).join(name))
            .arg(&victim)
            .status()
            .expect("run cp");
        assert!(copied.success(), "copy the package dir to the victim");
        let before = snapshot(&victim);
        let link = attacker.join(format!("link-{run}"));
        symlink(victim.join(name), &link).unwrap();

        let trash_pkg = trash_path(&sandbox, &id).join(name);
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = {
            let (stop, link) = (Arc::clone(&stop), link.clone());
            std::thread::spawn(move || co_writer(&trash_pkg, &link, &stop))
        };
        let output = sandbox.prune(&apply_all(&sandbox));
        stop.store(true, Ordering::SeqCst);
        let swaps = swaps.join().expect("the co-writer thread");
        eprintln!(
            "run {run}: {swaps} exchanges; exit {:?}",
            output.status.code()
        );

        assert_same_snapshot(&before, &snapshot(&victim));
        assert!(
            output.status.code().is_some_and(|c| c <= 1),
            "no crash: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Leave the next run a cache without this run's leftovers in the way.
        let _ = fs::remove_file(&link);
    }
}

/// Waits for `trash_pkg` to appear, then exchanges it with `link` until told to stop or
/// the trash is gone; returns how many exchanges it made.
fn co_writer(trash_pkg: &Path, link: &Path, stop: &AtomicBool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stop.load(Ordering::SeqCst) && fs::symlink_metadata(trash_pkg).is_err() {
        if Instant::now() > deadline {
            return 0;
        }
        std::hint::spin_loop();
    }
    let mut swaps = 0;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match renameat_with(CWD, trash_pkg, CWD, link, RenameFlags::EXCHANGE) {
            Ok(()) => swaps += 1,
            Err(_) if fs::symlink_metadata(trash_pkg.parent().unwrap()).is_err() => break,
            Err(_) => std::thread::yield_now(),
        }
    }
    swaps
}

/// Item 2, planning: an archive holding a mount point is kept, saying so, and `--apply`
/// leaves the mounted tree whole.
#[test]
fn an_archive_holding_a_bind_mount_is_kept_and_the_mounted_tree_untouched() {
    let sandbox = Sandbox::new();
    let id = dead_archive(&sandbox, "mounted", 0);
    let other = dead_archive(&sandbox, "plain", 0);
    let victim = victim_tree(&sandbox, "victim");
    let before = snapshot(&victim);
    let mount_point = sandbox.archive_dir(&id).join("mnt");
    fs::create_dir(&mount_point).unwrap();
    let Some(_mount) = BindMount::new(&victim, &mount_point) else {
        return;
    };

    let plan = sandbox.plan(&[&sandbox.projects()]);
    assert_eq!(
        candidate_ids(&plan),
        set([&other]),
        "the dry run predicts it"
    );
    let (report, _) = apply_ok(&sandbox);
    assert_eq!(live_ids(&report), set([&id]));
    assert!(
        evidence_kinds(&report, &id).contains("unreadable"),
        "{}",
        live(&report, &id)
    );
    assert!(
        live(&report, &id).to_string().contains("mount point"),
        "the evidence says it is a mount: {}",
        live(&report, &id)
    );
    assert!(sandbox.archive_dir(&id).join("mounted").is_dir());
    assert!(
        !sandbox.archive_dir(&other).exists(),
        "the other dead one went"
    );
    assert_same_snapshot(&before, &snapshot(&victim));
}

/// Item 2, deleting: a bind mount inside leftover trash (it appeared after planning) is
/// not entered: the mounted files all remain, the rest of the trash goes, and the tool
/// says what it left.
#[test]
fn deletion_never_enters_a_bind_mount_inside_trash() {
    let sandbox = Sandbox::new();
    let id = dead_archive(&sandbox, "trashed", 40);
    let victim = victim_tree(&sandbox, "victim");
    let before = snapshot(&victim);
    let trash = make_trash(&sandbox, &id);
    let mount_point = trash.join("trashed").join("mnt");
    fs::create_dir(&mount_point).unwrap();
    let Some(_mount) = BindMount::new(&victim, &mount_point) else {
        return;
    };

    let (report, _) = apply_ok(&sandbox);
    assert_same_snapshot(&before, &snapshot(&victim));
    let said = warnings_of(&report);
    assert!(
        said.iter()
            .any(|w| w.contains(&path_str(&mount_point)) && w.contains("mounted")),
        "says it left the mount: {said:?}"
    );
    // Everything but the way down to the mount is gone.
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&trash), ["trashed"]);
    assert_eq!(names(&trash.join("trashed")), ["mnt"]);
}

/// Item 3: a dangling `<cache>/.lock` symlink is refused, naming it, and nothing is
/// created where it points (outside the cache), nor anything deleted.
#[test]
fn a_dangling_lock_symlink_is_refused_and_nothing_is_created_outside() {
    let sandbox = Sandbox::new();
    let id = dead_archive(&sandbox, "locked", 0);
    let lock = sandbox.cache().join(".lock");
    fs::remove_file(&lock).expect("uv made a lock file");
    let outside = sandbox.path("outside");
    fs::create_dir(&outside).unwrap();
    symlink(outside.join("made-by-us.lock"), &lock).unwrap();

    let output = sandbox.prune(&apply_all(&sandbox));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&path_str(&lock)),
        "names the lock: {stderr}"
    );
    assert!(stderr.contains("symlink"), "says why: {stderr}");
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing created"
    );
    assert!(sandbox.archive_dir(&id).is_dir(), "nothing deleted");
    assert!(
        fs::symlink_metadata(&lock)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// Item 9: trash entries we did not make (a symlink, a name with no valid id, a file)
/// are warned about and left; new dead archives are removed all the same, run after run.
#[test]
fn trash_we_did_not_make_is_left_with_a_warning_and_new_dead_archives_still_go() {
    let sandbox = Sandbox::new();
    let victim = victim_tree(&sandbox, "victim");
    let before = snapshot(&victim);
    dead_archive(&sandbox, "firstone", 0);
    let archive_v0 = sandbox.cache().join("archive-v0");
    let valid_id = "Zb3xQ9kLm2Np7RtVw4Yc1"; // an id-shaped name
    let stray_link = archive_v0.join(format!("{TRASH_PREFIX}{valid_id}"));
    symlink(&victim, &stray_link).unwrap();
    let bad_name = archive_v0.join(format!("{TRASH_PREFIX}not an id!"));
    fs::create_dir(&bad_name).unwrap();
    fs::write(bad_name.join("keep.txt"), b"not ours").unwrap();
    let stray_file = archive_v0.join(format!("{TRASH_PREFIX}{}", "A".repeat(21)));
    fs::write(&stray_file, b"a file").unwrap();

    for round in ["first", "second"] {
        let id = dead_archive(&sandbox, &format!("dead{round}"), 0);
        let (report, _) = apply_ok(&sandbox);
        assert!(!sandbox.archive_dir(&id).exists(), "{round}: removed");
        assert!(trash_entries(&sandbox.cache()).len() == 3, "{round}: left");
        let said = warnings_of(&report);
        for (path, what) in [
            (&stray_link, "symlink"),
            (&bad_name, "no valid archive id"),
            (&stray_file, "not a directory"),
        ] {
            assert!(
                said.iter()
                    .any(|w| w.contains(&path_str(path)) && w.contains(what)),
                "{round}: warns about {}: {said:?}",
                path.display()
            );
        }
    }
    assert!(
        fs::symlink_metadata(&stray_link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(bad_name.join("keep.txt")).unwrap(), b"not ours");
    assert_eq!(fs::read(&stray_file).unwrap(), b"a file");
    assert_same_snapshot(&before, &snapshot(&victim));
}

/// Item 9: trash holding a directory of another user (we may neither write nor chmod
/// it) is emptied as far as it can be, the rest left with a warning naming it, and new
/// dead archives are removed, run after run.
#[test]
fn trash_holding_another_user_s_directory_is_left_and_new_dead_archives_still_go() {
    let sandbox = Sandbox::new();
    let old = dead_archive(&sandbox, "stuck", 0);
    let trash = make_trash(&sandbox, &old);
    let foreign = trash.join("stuck").join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("theirs.txt"), b"owned by 4242").unwrap();
    for path in [&foreign, &foreign.join("theirs.txt")] {
        std::os::unix::fs::chown(path, Some(4242), Some(4242)).unwrap();
    }
    fs::set_permissions(&foreign, fs::Permissions::from_mode(0o755)).unwrap();

    for round in ["first", "second"] {
        let id = dead_archive(&sandbox, &format!("dead{round}"), 0);
        let Some(report) =
            sandbox.prune_json_with_permissions_enforced(&apply_args(&[&sandbox.projects()]))
        else {
            return;
        };
        assert!(!sandbox.archive_dir(&id).exists(), "{round}: removed");
        assert_eq!(
            fs::read(foreign.join("theirs.txt")).unwrap(),
            b"owned by 4242"
        );
        assert_eq!(fs::metadata(&foreign).unwrap().uid(), 4242);
        let said = warnings_of(&report);
        assert!(
            said.iter().any(|w| w.contains(&path_str(&foreign))),
            "{round}: names what it left: {said:?}"
        );
    }
    // What was ours in that trash is gone.
    assert!(!trash.join("stuck").join("__init__.py").exists());
}

/// Message: trash left by an interrupted run is reported on its own line, not as part of
/// what the plan removed.
#[test]
fn leftover_trash_is_reported_apart_from_the_plan() {
    let sandbox = Sandbox::new();
    let id = dead_archive(&sandbox, "leftover", 0);
    let trash = make_trash(&sandbox, &id);
    let bytes = du_bytes(&[&trash]);
    // Its pointers are the plan's (dangling, removed and counted with the plan).
    let pointers = |id: &str| {
        let known = set([id]);
        let paths: Vec<_> = cache_pointers(&sandbox.cache(), &known)
            .into_iter()
            .map(|p| p.path)
            .collect();
        du_bytes(&paths)
    };

    let args = apply_args(&[&sandbox.projects()]);
    let mut cmd = sandbox.prune_cmd(&args);
    let output = cmd.output().unwrap();
    let human = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    let removed = human
        .lines()
        .find(|l| l.starts_with("Removed "))
        .unwrap_or("");
    // The plan's line counts its dangling pointers, as planned, and no trash.
    let (freed, planned) = removed
        .strip_prefix("Removed 0 archives and 2 pointers: ")
        .and_then(|rest| rest.strip_suffix(")."))
        .and_then(|rest| rest.split_once(" freed (planned "))
        .unwrap_or_else(|| panic!("the plan's line counts no trash: {human}"));
    assert_eq!(freed, planned, "{human}");
    assert!(
        human.contains("Also removed 1 trash dir left by an interrupted run"),
        "{human}"
    );
    assert!(!trash.exists());

    // And in JSON: its own field, with the bytes `du` counted.
    let id = dead_archive(&sandbox, "leftoveragain", 0);
    make_trash(&sandbox, &id);
    let bytes_again = du_bytes(&[&trash_path(&sandbox, &id)]);
    let pointer_bytes = pointers(&id);
    let report = sandbox.prune_json(&args);
    assert_eq!(report["removed_bytes"], pointer_bytes, "{report:#}");
    assert_eq!(report["reclaimable_bytes"], pointer_bytes, "{report:#}");
    assert!(pointer_bytes < bytes_again);
    assert_eq!(report["leftover_trash"]["entries"], 1);
    assert_eq!(report["leftover_trash"]["bytes"], bytes_again);
    assert!(bytes > 0);
}

/// Message: when the lock is held by another uv-cache-prune, `--no-wait` says so (and the
/// JSON names it), where it says "uv" when uv holds it.
#[test]
fn a_busy_cache_names_another_uv_cache_prune_as_the_holder() {
    let sandbox = Sandbox::new();
    dead_archive(&sandbox, "big", 4000);
    let locks = sandbox.path("xdg/state/uv-cache-prune/locks");
    let mut first = sandbox.prune_cmd(&apply_args(&[&sandbox.projects()]));
    let mut first = first
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Catch it holding the cache lock (and, a moment later, its marker), and hold it
    // there with SIGSTOP.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut locked_since = None;
    let stopped = loop {
        if cache_lock_held(&sandbox.cache()) {
            let since = *locked_since.get_or_insert_with(Instant::now);
            if marker_held(&locks) || since.elapsed() > Duration::from_millis(50) {
                signal(&first, "-STOP");
                break cache_lock_held(&sandbox.cache());
            }
        }
        if first.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
    };
    if !stopped {
        let _ = first.wait();
        eprintln!("note: skipped: the first run ended before it could be caught");
        return;
    }
    let mut args = apply_args(&[&sandbox.projects()]);
    args.push("--no-wait".into());
    let (report, stderr) = sandbox.prune_json_and_stderr(&args);
    signal(&first, "-CONT");
    assert!(first.wait().unwrap().success());
    assert_eq!(report["status"], "busy");
    assert_eq!(report["lock_holder"], "uv-cache-prune");
    assert!(stderr.contains("another uv-cache-prune"), "{stderr}");
}

/// True while some process holds `<cache>/.lock`.
fn cache_lock_held(cache: &Path) -> bool {
    fs::File::open(cache.join(".lock"))
        .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
}

/// True while some process holds a marker lock under `locks`.
fn marker_held(locks: &Path) -> bool {
    let Ok(entries) = fs::read_dir(locks) else {
        return false;
    };
    entries.flatten().any(|e| {
        fs::File::open(e.path())
            .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
    })
}

fn signal(child: &std::process::Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {signal} {}", child.id());
}
