//! Installs the search for venvs used to miss, each with real uv and `--link-mode
//! symlink` (the one mode where deleting a "dead" archive breaks a venv): a `.venv` that is
//! a symlink, a project called `target`, a `uv pip install --target` directory, a venv on
//! another filesystem mounted under the root, and a venv whose `lib/pythonX.Y` cannot be
//! searched. Each must be found, or kept as doubt that names the path.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// The `path`s of `kind` evidence for `id`.
fn evidence_paths_of_kind(report: &Value, id: &str, kind: &str) -> BTreeSet<String> {
    live(report, id)["evidence"]
        .as_array()
        .unwrap_or_else(|| panic!("no evidence for {id}: {report:#}"))
        .iter()
        .filter(|e| e["kind"] == kind)
        .filter_map(|e| e["path"].as_str().map(str::to_owned))
        .collect()
}

/// `venvs` of the one root of `report`.
fn venv_count(report: &Value, root_path: &Path) -> u64 {
    root(report, &path_str(root_path))["venvs"]
        .as_u64()
        .unwrap_or_else(|| panic!("root without a venv count: {report:#}"))
}

#[test]
fn a_dot_venv_symlinked_to_a_venv_elsewhere_is_scanned_once() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    // The venv lives outside the root; two projects point at it, and a loop sits beside.
    let shared = sandbox.venv("elsewhere/shared-env", &uv(), LinkMode::Symlink, &["alpha"]);
    sandbox.venv("elsewhere/unused", &uv(), LinkMode::Symlink, &["beta"]);
    let projects = sandbox.projects();
    for project in ["p", "q"] {
        std::fs::create_dir_all(projects.join(project)).unwrap();
        std::os::unix::fs::symlink(&shared, projects.join(project).join(".venv")).unwrap();
    }
    std::os::unix::fs::symlink("loop-b", projects.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", projects.join("loop-b")).unwrap();
    let (alpha, beta) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    );

    let report = sandbox.plan(&[&projects]);
    assert_eq!(live_ids(&report), set([&alpha]), "{report:#}");
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    let real = std::fs::canonicalize(&shared).unwrap();
    assert_eq!(
        evidence_venvs_of_kind(&report, &alpha, "symlink"),
        [Some(path_str(&real))].into(),
        "{report:#}"
    );
    assert_eq!(venv_count(&report, &projects), 1, "{report:#}");
}

#[test]
fn a_project_named_target_is_searched_but_a_cargo_target_dir_is_not() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    let python_target = sandbox.venv(
        "projects/target/.venv",
        &uv(),
        LinkMode::Symlink,
        &["alpha"],
    );
    // A venv inside a tagged cache is a cache's business, not a user's: skipped.
    let cargo_target = sandbox.path("projects/crate/target");
    sandbox.venv(
        "projects/crate/target/debug/env",
        &uv(),
        LinkMode::Symlink,
        &["beta"],
    );
    // The tag exactly as cargo writes it.
    let cargo_tag = b"Signature: 8a477f597d28d172789f06886806bc55\n\
        # This file is a cache directory tag created by cargo.\n\
        # For information about cache directory tags see https://bford.info/cachedir/\n";
    std::fs::write(cargo_target.join("CACHEDIR.TAG"), cargo_tag).unwrap();
    let (alpha, beta) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    );
    let projects = sandbox.projects();

    let report = sandbox.plan(&[&projects]);
    assert_eq!(live_ids(&report), set([&alpha]), "{report:#}");
    assert_eq!(
        evidence_venvs_of_kind(&report, &alpha, "symlink"),
        [Some(path_str(&python_target))].into()
    );
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");

    // A tag without the signature marks nothing: that venv is found again.
    std::fs::write(cargo_target.join("CACHEDIR.TAG"), b"not a tag\n").unwrap();
    let report = sandbox.plan(&[&projects]);
    assert_eq!(live_ids(&report), set([&alpha, &beta]), "{report:#}");
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
}

#[test]
fn a_uv_pip_install_target_dir_is_a_site() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    let beta_wheel = sandbox.wheel("beta", "1.0");
    let vendor = sandbox.path("projects/app/vendor");
    let install = [
        OsStr::new("pip"),
        OsStr::new("install"),
        OsStr::new("--target"),
        vendor.as_os_str(),
        OsStr::new("--link-mode"),
        OsStr::new("symlink"),
    ];
    sandbox.uv_ok_from(&uv(), &install, Source::FindLinks, &["alpha"]);
    // beta reaches the cache (a venv outside the root), and pip copies the same wheel into
    // a target dir inside it: pip's INSTALLER, so not a site, and no content evidence.
    sandbox.venv("elsewhere/env", &uv(), LinkMode::Copy, &["beta"]);
    let pip_vendor = sandbox.path("projects/app/pip-vendor");
    let pip = Command::new(python())
        .args(["-m", "pip", "install", "--quiet", "--no-index", "--target"])
        .arg(&pip_vendor)
        .arg(&beta_wheel)
        .output()
        .expect("run pip");
    assert!(pip.status.success(), "pip install --target: {pip:?}");
    let (alpha, beta) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    );
    let projects = sandbox.projects();

    let report = sandbox.plan(&[&projects]);
    assert_eq!(live_ids(&report), set([&alpha]), "{report:#}");
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert_eq!(
        evidence_venvs_of_kind(&report, &alpha, "symlink"),
        [Some(path_str(&vendor))].into()
    );
    assert_eq!(venv_count(&report, &projects), 1, "{report:#}");
}

/// Unmounts on drop, before the sandbox's temp dir is removed.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_venv_on_a_tmpfs_mounted_under_the_root_is_found() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    let disk = sandbox.path("projects/disk");
    std::fs::create_dir_all(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
        .arg(&disk)
        .output();
    if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("note: skipped, cannot mount a tmpfs here (needs root): {mounted:?}");
        return;
    }
    let _unmount = Mounted(disk.clone());
    let venv = sandbox.venv(
        "projects/disk/app/.venv",
        &uv(),
        LinkMode::Symlink,
        &["alpha"],
    );
    let alpha = sandbox.archive_of("alpha", "1.0");
    let projects = sandbox.projects();

    let report = sandbox.plan(&[&projects]);
    assert_eq!(live_ids(&report), set([&alpha]), "{report:#}");
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert_eq!(
        evidence_venvs_of_kind(&report, &alpha, "symlink"),
        [Some(path_str(&venv))].into()
    );
    let not_searched = &root(&report, &path_str(&projects))["not_searched"];
    assert_eq!(not_searched, &Value::Array(vec![]), "{report:#}");
}

#[test]
fn an_unsearchable_python_dir_in_a_venv_keeps_every_wheel_and_names_the_dir() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    let venv = sandbox.venv("projects/app/.venv", &uv(), LinkMode::Symlink, &["alpha"]);
    sandbox.venv("elsewhere/env", &uv(), LinkMode::Symlink, &["beta"]);
    let python_dir = site_packages(&venv).parent().unwrap().to_owned();
    let (alpha, beta) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    );
    let projects = sandbox.projects();
    let before = snapshot(&sandbox.cache());

    set_mode(&python_dir, 0o000);
    let report = sandbox.plan_with_permissions_enforced(&[&projects]);
    set_mode(&python_dir, 0o755);
    let Some(report) = report else {
        eprintln!("note: skipped, this machine cannot make a directory unsearchable");
        return;
    };
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert_eq!(live_ids(&report), set([&alpha, &beta]), "{report:#}");
    for id in [&alpha, &beta] {
        assert_eq!(
            evidence_paths_of_kind(&report, id, "unreadable"),
            set([path_str(&python_dir)]),
            "{report:#}"
        );
    }
    assert_same_snapshot(&before, &snapshot(&sandbox.cache()));
}
