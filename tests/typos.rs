//! A typo must not shrink the live set: a root, cache, registered directory or lock file
//! named on the command line that does not exist is bad usage (exit 2) before anything is
//! read or deleted, with a message naming the path (and a close sibling when there is
//! one). A missing root in the config file is one warning line; `$UV_CACHE_DIR` at a
//! missing directory is a machine where uv has not run yet (exit 0).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A symlink-mode venv in `projects/src` using `alpha`, and a dead `beta`.
fn world(sandbox: &Sandbox) -> PathBuf {
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    sandbox.venv("projects/src/.venv", &uv(), LinkMode::Symlink, &["alpha"]);
    let gone = sandbox.venv("scratch/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&gone);
    sandbox.projects().join("src")
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

/// Exit 2, one `error:` line naming `path`, nothing on stdout; returns the line.
fn assert_usage_error(cmd: &mut Command, path: &Path) -> String {
    let out = output(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{}", describe(cmd, &out));
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains(&format!("{} does not exist", path_str(path))),
        "names {}: {stderr}",
        path.display()
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// What `roots list` says of an empty registry.
const NO_ROOTS: &str = "No roots registered; `uv-cache-prune roots add DIR` registers one (the git hooks register their repository).\n";

fn registered(sandbox: &Sandbox) -> String {
    let out = output(sandbox.bare_prune_cmd().args(["roots", "list"]));
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_mistyped_root_is_bad_usage_and_deletes_nothing() {
    let sandbox = Sandbox::new();
    let src = world(&sandbox);
    let scr = sandbox.projects().join("scr");
    let before = sandbox.world_snapshot();
    for apply in [false, true] {
        let mut args = plan_args(&[&scr]);
        if apply {
            args.push("--apply".into());
        }
        let stderr = assert_usage_error(&mut sandbox.prune_cmd(&args), &scr);
        assert!(
            stderr.contains(&format!("did you mean {}?", path_str(&src))),
            "{stderr}"
        );
        assert_same_snapshot(&before, &sandbox.world_snapshot());
    }
    // The same typo among good roots still stops the run.
    let args = apply_args(&[&src, &scr]);
    assert_usage_error(&mut sandbox.prune_cmd(&args), &scr);
    assert_same_snapshot(&before, &sandbox.world_snapshot());
}

#[test]
fn a_mistyped_cache_dir_is_bad_usage_not_an_empty_cache() {
    let sandbox = Sandbox::new();
    let src = world(&sandbox);
    let typo = sandbox.path("cahce");
    let before = sandbox.world_snapshot();
    let stderr = assert_usage_error(
        &mut sandbox.prune_cmd_at(&typo, &apply_args(&[&src])),
        &typo,
    );
    assert!(
        stderr.contains(&format!("did you mean {}?", path_str(&sandbox.cache()))),
        "{stderr}"
    );
    assert!(!typo.exists(), "nothing is created at the typo");
    assert_same_snapshot(&before, &sandbox.world_snapshot());
}

#[test]
fn a_missing_register_or_only_locked_path_is_bad_usage() {
    let sandbox = Sandbox::new();
    let src = world(&sandbox);
    let before = sandbox.world_snapshot();

    let missing_dir = sandbox.projects().join("nowhere");
    let mut args = apply_args(&[&src]);
    args.extend(["--register".into(), missing_dir.clone().into()]);
    assert_usage_error(&mut sandbox.prune_cmd(&args), &missing_dir);
    assert_eq!(registered(&sandbox), NO_ROOTS, "nothing was registered");

    let missing_lock = src.join("uv.lokc");
    let mut cmd = sandbox.prune_cmd(&["--apply", "--only-locked"]);
    cmd.arg(&missing_lock);
    assert_usage_error(&mut cmd, &missing_lock);
    assert_same_snapshot(&before, &sandbox.world_snapshot());
}

#[test]
fn roots_add_of_a_missing_directory_registers_nothing() {
    let sandbox = Sandbox::new();
    let src = sandbox.projects().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let scr = sandbox.projects().join("scr");
    let mut cmd = sandbox.bare_prune_cmd();
    cmd.args(["roots", "add"]).arg(&src).arg(&scr);
    let stderr = assert_usage_error(&mut cmd, &scr);
    assert!(
        stderr.contains(&format!("did you mean {}?", path_str(&src))),
        "{stderr}"
    );
    assert_eq!(registered(&sandbox), NO_ROOTS, "not even the good one");
}

#[test]
fn a_missing_config_root_is_one_warning_and_the_run_goes_on() {
    let sandbox = Sandbox::new();
    let src = world(&sandbox);
    let missing = sandbox.path("projects/moved-away");
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, format!("roots = [{:?}]\n", path_str(&missing))).unwrap();
    let mut cmd = sandbox.prune_cmd(&["--grace", "0s", "--root"]);
    cmd.arg(&src);
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&cmd, &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let about: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(&path_str(&missing)))
        .collect();
    assert_eq!(about.len(), 1, "{stderr}");
    assert!(
        about[0].starts_with("warning: ") && about[0].contains("does not exist"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("2 archives: 1 in use, 0 held back, 1 removable;"),
        "{stdout}"
    );
}

#[test]
fn uv_cache_dir_at_a_missing_directory_is_still_nothing_to_do() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path("no-cache-yet");
    let mut cmd = sandbox.bare_prune_cmd();
    cmd.env("UV_CACHE_DIR", &missing).arg("--apply");
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&cmd, &out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No cache there yet"),
        "{}",
        describe(&cmd, &out)
    );
    assert!(!missing.exists());
}

#[test]
fn a_root_that_names_a_file_is_bad_usage_and_deletes_nothing() {
    let sandbox = Sandbox::new();
    let src = world(&sandbox);
    // Meant the project, named its pyproject.toml: its symlink venv must not go unsearched.
    let file = src.join("pyproject.toml");
    std::fs::write(&file, "[project]\nname = \"src\"\n").unwrap();
    let before = sandbox.world_snapshot();
    let mut args = vec![
        "--no-default-roots".into(),
        "--root".into(),
        file.clone().into_os_string(),
    ];
    args.extend(["--grace", "0s", "--apply"].map(Into::into));
    let out = output(&mut sandbox.prune_cmd(&args));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "error: --root {} is a file, not a directory: nothing was read or deleted; name the directory that holds it ({})\n",
            path_str(&file),
            path_str(&src)
        )
    );
    assert!(out.stdout.is_empty());
    assert_same_snapshot(&before, &sandbox.world_snapshot());
}
