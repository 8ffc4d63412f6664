//! `--apply` on a cache baked into a container image's lower layer (overlayfs).
//!
//! overlayfs cannot rename a directory of a lower layer (without `redirect_dir` it fails
//! with `EXDEV`), so the rename of a dead archive into trash failed after its pointers
//! were removed: exit 1, the archive stayed, and every later run did the same. Now such an
//! archive is deleted in place (its pointers are already gone, so no reader can reach it
//! half-deleted), and the report says up front that deleting a lower layer's files only
//! hides them. The lower layer itself is never changed.

mod common;
#[path = "common/descriptors.rs"]
mod descriptors;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use descriptors::{Mount, is_root};

fn real(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|e| panic!("resolve {}: {e}", path.display()))
}

#[test]
fn a_dead_archive_in_an_overlay_lower_layer_is_deleted_in_place() {
    if !is_root() {
        eprintln!("note: skipped: overlay mounts need root");
        return;
    }
    let sandbox = Sandbox::new();
    sandbox.wheel("kept", "1.0");
    sandbox.wheel_with_modules("gone", "1.0", 3);
    sandbox.venv("projects/live", &uv(), LinkMode::Copy, &["kept"]);
    let venv = sandbox.venv("projects/old", &uv(), LinkMode::Copy, &["gone"]);
    delete(&venv);
    let dead = sandbox.archive_of("gone", "1.0");
    let live = sandbox.archive_of("kept", "1.0");

    // The layers on a tmpfs of their own (overlayfs refuses some upper filesystems, an
    // overlay root among them); the cache moved into `lower` and the merged view mounted
    // where the cache was, so every command sees the same cache path.
    let layers = sandbox.path("layers");
    fs::create_dir_all(&layers).unwrap();
    let _tmpfs = Mount::new(&["-t", "tmpfs", "tmpfs"], &layers);
    let (lower, upper, work) = (
        layers.join("lower"),
        layers.join("upper"),
        layers.join("work"),
    );
    for dir in [&lower, &upper, &work] {
        fs::create_dir(dir).unwrap();
    }
    let copied = Command::new("cp")
        .arg("-a")
        .arg(sandbox.cache().join("."))
        .arg(&lower)
        .status()
        .unwrap();
    assert!(copied.success());
    delete(&sandbox.cache());
    fs::create_dir(sandbox.cache()).unwrap();
    let options = format!(
        "lowerdir={},upperdir={},workdir={},redirect_dir=off",
        lower.display(),
        upper.display(),
        work.display()
    );
    let _overlay = Mount::new(
        &["-t", "overlay", "overlay", "-o", options.as_str()],
        &sandbox.cache(),
    );
    let lower_before = snapshot(&lower);

    let (report, stderr) = sandbox.prune_json_and_stderr(&apply_args(&[&sandbox.projects()]));
    assert_eq!(candidate_ids(&report), set([&dead]), "{stderr}");
    assert_eq!(warning_kinds(&report), vec!["filesystem"], "{report:#}");
    assert_eq!(
        warnings(&report),
        vec![format!(
            "{} is on overlayfs (a container image's layer?): deleting what a lower layer holds only hides it in the upper layer and frees nothing in the image; prune before the layer is committed to reclaim its space",
            real(&sandbox.cache()).display()
        )],
        "{stderr}"
    );
    assert_eq!(
        sandbox.all_archives(),
        set([&live]),
        "the dead archive is gone"
    );
    assert_eq!(trash_entries(&sandbox.cache()), set::<&str>([]));
    assert_eq!(
        pointer_problems(&sandbox.cache(), &sandbox.all_archives()),
        Vec::<String>::new()
    );
    assert_same_snapshot(&lower_before, &snapshot(&lower));

    // The next run has nothing to do and says nothing.
    let (report, stderr) = sandbox.prune_json_and_stderr(&apply_args(&[&sandbox.projects()]));
    assert_eq!(candidate_ids(&report), set::<&str>([]), "{stderr}");
    assert_eq!(warnings(&report), Vec::<String>::new(), "{stderr}");
    assert_eq!(report["removed_bytes"], 0);
    assert_same_snapshot(&lower_before, &snapshot(&lower));

    // uv installs the package again from the merged cache.
    let again = sandbox.venv("projects/again", &uv(), LinkMode::Copy, &["gone"]);
    sandbox.assert_imports(&again, &["gone"]);
    assert_same_snapshot(&lower_before, &snapshot(&lower));
}
