//! Hostile or broken input on disk: the pruner must never panic, must say what it could not
//! read (naming the path), and must keep anything it cannot prove dead.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::*;

/// True when `needle` appears on stderr or in one of the report's warnings.
fn diagnosed(report: &serde_json::Value, stderr: &str, needle: &Path) -> bool {
    let needle = needle.to_string_lossy();
    stderr.contains(&*needle) || warnings(report).iter().any(|w| w.contains(&*needle))
}

#[test]
fn a_corrupt_http_pointer_keeps_the_archive_its_symlink_names() {
    let sandbox = Sandbox::new();
    let wheel = sandbox.wheel("gamma", "3.0");
    sandbox.publish(&wheel);
    let server = IndexServer::start(&sandbox.index_dir());
    let venv = sandbox.venv_from(
        "projects/g/.venv",
        &uv(),
        LinkMode::Hardlink,
        Source::Index(&server.url()),
        &["gamma"],
    );
    delete(&venv);
    let gamma = sandbox.archive_of("gamma", "3.0");
    let pointers = files_with_extension(&sandbox.cache().join("wheels-v8"), "http");
    let [pointer] = pointers.as_slice() else {
        panic!("expected one .http pointer: {pointers:?}");
    };
    assert_eq!(archive_named_by(&pointer.with_extension("")), gamma);
    // 0xc1 is a byte msgpack never uses: no decoder can take this for a value.
    std::fs::write(pointer, b"\xc1\xc1 this is not msgpack \xff\x00").expect("corrupt the pointer");

    let (report, stderr) = sandbox.prune_json_and_stderr(&plan_args(&[&sandbox.projects()]));
    assert!(!candidate_ids(&report).contains(&gamma), "{report:#}");
    assert!(
        evidence_kinds(&report, &gamma).contains("pointer-unreadable"),
        "{report:#}"
    );
    assert!(
        diagnosed(&report, &stderr, pointer),
        "no warning names {}:\nstderr: {stderr}\nreport: {report:#}",
        pointer.display()
    );
}

#[test]
fn a_root_that_does_not_exist_is_reported_not_fatal() {
    // A root from the config file: directories come and go. (A `--root` that does not
    // exist is a typo, bad usage: tests/typos.rs.)
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    let missing = sandbox.path("no/such/root");
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let roots = serde_json::to_string(&[path_str(&missing)]).unwrap();
    std::fs::write(&config, format!("roots = {roots}\n")).unwrap();

    let args = ["--grace", "0s", "--root"].map(std::ffi::OsString::from);
    let args = [&args[..], &[sandbox.projects().into_os_string()]].concat();
    let (report, stderr) = sandbox.prune_json_and_stderr(&args);
    assert!(
        diagnosed(&report, &stderr, &missing),
        "nothing names {}:\nstderr: {stderr}\nreport: {report:#}",
        missing.display()
    );
    assert_eq!(live_ids(&report), set([sandbox.archive_of("alpha", "1.0")]));
}

#[test]
fn an_unreadable_directory_under_a_root_is_listed_and_keeps_what_it_may_use() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    // Copy mode: no link count betrays the hidden venv, only reading it would.
    sandbox.venv("projects/locked/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    let locked = sandbox.path("projects/locked");
    let projects = sandbox.projects();

    set_mode(&locked, 0o000);
    let report = sandbox.plan_with_permissions_enforced(&[&projects]);
    set_mode(&locked, 0o755);
    let Some(report) = report else {
        eprintln!("note: skipped the unreadable-directory assertions");
        return;
    };
    let unreadable = &root(&report, &path_str(&projects))["unreadable"];
    assert!(
        unreadable
            .as_array()
            .is_some_and(|u| u.iter().any(|p| p == path_str(&locked).as_str())),
        "{} not listed as unreadable: {report:#}",
        locked.display()
    );
    let alpha = sandbox.archive_of("alpha", "1.0");
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert!(
        evidence_kinds(&report, &alpha).contains("unreadable"),
        "{report:#}"
    );
}

#[test]
fn dangling_symlinks_in_site_packages_do_not_disturb_the_plan() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    let venv = sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    let gone = sandbox.venv("projects/gone/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&gone);
    let site_packages = site_packages(&venv);
    let archive_v0 = sandbox.cache().join("archive-v0");
    for (name, target) in [
        ("dangling.py", sandbox.path("nowhere/dangling.py")),
        (
            "vanished.py",
            archive_v0.join("NoSuchArchive0000/vanished.py"),
        ),
        ("loop.py", site_packages.join("loop.py")),
    ] {
        std::os::unix::fs::symlink(target, site_packages.join(name)).expect("make symlink");
    }

    let report = sandbox.plan(&[&sandbox.projects()]);
    let (alpha, beta) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    );
    assert_eq!(live_ids(&report), set([&alpha]), "{report:#}");
    assert_eq!(
        evidence_kinds(&report, &alpha),
        set(["hardlink"]),
        "{report:#}"
    );
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
}

#[test]
fn a_venv_under_a_non_utf8_directory_name_is_found() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    // uv itself wants UTF-8 paths, so the venv is made under a plain name and moved.
    sandbox.venv("projects/plain/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    let odd = sandbox.projects().join(OsStr::from_bytes(b"bad\xff"));
    std::fs::rename(sandbox.path("projects/plain"), &odd).expect("rename to a non-UTF-8 name");

    let projects = sandbox.projects();
    let report = sandbox.plan(&[&projects]);
    let alpha = sandbox.archive_of("alpha", "1.0");
    assert_eq!(live_ids(&report), set([&alpha]), "{report:#}");
    assert_eq!(
        evidence_kinds(&report, &alpha),
        set(["content"]),
        "{report:#}"
    );
    assert_eq!(
        root(&report, &path_str(&projects))["venvs"],
        1,
        "{report:#}"
    );
}
