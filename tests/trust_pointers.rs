//! `--apply` removes pointers by descriptor, never by a path a co-writer can redirect.
//!
//! A pointer is a file or symlink in a bucket directory (`<cache>/wheels-v8/pypi/zz/...`).
//! Anyone who can write in the cache can swap that directory for a symlink between the
//! tool's check of the pointer and its unlink; a tool that unlinks by path then deletes a
//! same-named file wherever the symlink leads (here `victim/.ssh/authorized_keys`). And a
//! bucket directory can be a mount point, whose files are not the cache's to delete.
//!
//! The race is made deterministic with `strace`: every unlink is held at its entry, and
//! the swap is made while the tool waits inside the unlink of the planted pointer.

mod common;
#[path = "common/descriptors.rs"]
mod descriptors;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use descriptors::{Mount, is_root, spawn_with_delayed_unlinks, strace_works, wait_for_unlink};

const KEY: &[u8] = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ2aXN0aW0 victim@host\n";

/// `--apply --json` searching only the projects dir.
fn apply_json_args(sandbox: &Sandbox) -> Vec<OsString> {
    let mut args = apply_args(&[&sandbox.projects()]);
    args.push("--json".into());
    args
}

/// `<cache>/wheels-v8`, the bucket uv 0.13.9 writes its wheel pointers to.
fn wheels_bucket(sandbox: &Sandbox) -> PathBuf {
    let bucket = sandbox.cache().join("wheels-v8");
    let listing: Vec<_> = fs::read_dir(sandbox.cache())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        bucket.is_dir(),
        "uv 0.13.9 writes wheels-v8; the cache holds {listing:?}"
    );
    bucket
}

/// `victim/.ssh/authorized_keys` outside the cache; returns the `.ssh` dir.
fn victim(sandbox: &Sandbox) -> PathBuf {
    let ssh = sandbox.path("victim/.ssh");
    fs::create_dir_all(&ssh).unwrap();
    fs::write(ssh.join("authorized_keys"), KEY).unwrap();
    ssh
}

/// A pointer named `authorized_keys` in `dir`, a symlink naming archive `id` as uv's do.
fn plant_pointer(dir: &Path, id: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let pointer = dir.join("authorized_keys");
    symlink(format!("../../../archive-v0/{id}"), &pointer).unwrap();
    pointer
}

fn real(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|e| panic!("resolve {}: {e}", path.display()))
}

#[test]
fn a_bucket_dir_swapped_for_a_symlink_mid_unlink_never_deletes_outside_the_cache() {
    if !strace_works() {
        eprintln!("note: skipped: strace cannot trace a process here");
        return;
    }
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    // A live archive, so that the cache has archives and the run has nothing else to do.
    sandbox.venv("projects/live", &uv(), LinkMode::Copy, &["alpha"]);
    let pypi = wheels_bucket(&sandbox).join("pypi");
    let ssh = victim(&sandbox);
    let victim_before = snapshot(&sandbox.path("victim"));
    // Two dangling pointers (their archives do not exist), in two bucket directories: the
    // one whose unlink is held is swapped mid-call, the other before the tool reaches it.
    let dirs = ["zy", "zz"];
    for dir in dirs {
        plant_pointer(&pypi.join(dir), &format!("dangling{dir}00000000000000"));
    }

    let log = sandbox.path("strace.log");
    let cmd = sandbox.prune_cmd(&apply_json_args(&sandbox));
    let child = spawn_with_delayed_unlinks(&cmd, &log, Duration::from_secs(2));
    let line = wait_for_unlink(&log, "authorized_keys", Duration::from_secs(300));
    // The co-writer: each bucket dir moved aside and replaced by a symlink to the victim.
    for dir in dirs {
        fs::rename(pypi.join(dir), pypi.join(format!("{dir}.real"))).unwrap();
        symlink(&ssh, pypi.join(dir)).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let described = format!(
        "held call: {line}\n{}",
        describe(&cmd, &output).replacen(&format!("{cmd:?}"), "uv-cache-prune under strace", 1)
    );

    assert_eq!(
        fs::read(ssh.join("authorized_keys")).ok().as_deref(),
        Some(KEY),
        "the victim's authorized_keys was deleted or changed: {described}"
    );
    assert_same_snapshot(&victim_before, &snapshot(&sandbox.path("victim")));
    assert!(output.status.success(), "{described}");

    // The held unlink removed the pointer from the cache's own directory (wherever it
    // was moved); the other pointer now lies behind a symlink and was left, and said.
    let gone: Vec<&str> = dirs
        .into_iter()
        .filter(|dir| {
            fs::symlink_metadata(pypi.join(format!("{dir}.real")).join("authorized_keys")).is_err()
        })
        .collect();
    assert_eq!(
        gone.len(),
        1,
        "exactly the held pointer is gone: {described}"
    );
    let left = dirs.into_iter().find(|dir| !gone.contains(dir)).unwrap();
    assert_eq!(
        fs::read_link(pypi.join(format!("{left}.real")).join("authorized_keys")).unwrap(),
        PathBuf::from(format!("../../../archive-v0/dangling{left}00000000000000"))
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["removed_pointers"], 1, "{described}");
    let expected = format!(
        "left a dangling pointer: {} is a symlink or not a directory, and a path through it may lead out of the cache; remove it by hand",
        real(&sandbox.cache())
            .join("wheels-v8/pypi")
            .join(left)
            .display()
    );
    assert_eq!(warnings(&report), vec![expected], "{described}");
    assert_eq!(warning_kinds(&report), vec!["left-in-place"], "{described}");
}

#[test]
fn a_pointer_on_another_mount_keeps_its_archive_and_the_file_there() {
    if !is_root() {
        eprintln!("note: skipped: bind mounts need root");
        return;
    }
    let sandbox = Sandbox::new();
    sandbox.wheel("beta", "1.0");
    let venv = sandbox.venv("projects/gone", &uv(), LinkMode::Copy, &["beta"]);
    delete(&venv);
    let id = sandbox.archive_of("beta", "1.0");
    // A tree outside the cache holding a pointer to the dead archive, mounted over a
    // bucket directory: the inventory reads it, but it is not the cache's to delete.
    let elsewhere = sandbox.path("elsewhere");
    let outside = plant_pointer(&elsewhere, &id);
    let elsewhere_before = snapshot(&elsewhere);
    let zz = wheels_bucket(&sandbox).join("pypi/zz");
    fs::create_dir_all(&zz).unwrap();
    let mount = Mount::bind(&elsewhere, &zz);

    let (report, stderr) = sandbox.prune_json_and_stderr(&apply_args(&[&sandbox.projects()]));
    assert_same_snapshot(&elsewhere_before, &snapshot(&elsewhere));
    assert!(fs::symlink_metadata(&outside).is_ok());
    // Refused, and the archive kept whole, with the run going on (exit 0).
    assert_eq!(
        warnings(&report),
        vec![format!(
            "kept {}: a pointer naming it cannot be removed safely ({} is another mount, and deletion never crosses a mount); nothing of the archive was deleted; check that path and run again",
            sandbox.cache().join("archive-v0").join(&id).display(),
            real(&sandbox.cache()).join("wheels-v8/pypi/zz").display()
        )],
        "{stderr}"
    );
    assert_eq!(report["removed_bytes"], 0, "nothing was deleted");
    // The report calls it kept, not removed, and says why.
    assert_eq!(candidate_ids(&report), BTreeSet::new());
    assert_eq!(live_ids(&report), set([&id]));
    assert_eq!(evidence_kinds(&report, &id), set(["pointer-refused"]));
    assert_eq!(report["archives"]["dead"], 0);
    assert_eq!(report["reclaimable_bytes"], 0);
    assert!(sandbox.all_archives().contains(&id));
    assert_eq!(
        archive_problems(&sandbox.cache(), &id),
        Vec::<String>::new()
    );

    // Once the mount is gone the archive is removed like any other.
    drop(mount);
    assert_same_snapshot(&elsewhere_before, &snapshot(&elsewhere));
    let report = sandbox.prune_json(&apply_args(&[&sandbox.projects()]));
    assert_eq!(warnings(&report), Vec::<String>::new());
    assert_eq!(candidate_ids(&report), set([&id]));
    assert!(report["removed_bytes"].as_u64().unwrap() > 0);
    assert!(!sandbox.all_archives().contains(&id));
}
