//! `install-hooks` puts the hooks exactly where git runs them, with real git: a
//! `core.hooksPath` that ends in a space or is not UTF-8 is taken byte for byte (not
//! trimmed, not decoded lossily), a real checkout then runs the installed hook, and
//! `install-hooks --uninstall` removes it from there.

mod common;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_uv-cache-prune");

fn ok(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(output.status.success(), "{}", describe(cmd, &output));
    output
}

fn git(sandbox: &Sandbox, repo: &Path) -> Command {
    let mut cmd = sandbox.git_cmd("git");
    cmd.arg("-C").arg(repo);
    cmd
}

/// A repository with one commit whose `core.hooksPath` is `hooks_path`.
fn repo_with_hooks_path(sandbox: &Sandbox, hooks_path: &Path) -> PathBuf {
    let repo = sandbox.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    ok(git(sandbox, &repo).args(["init", "-q", "-b", "main"]));
    std::fs::write(repo.join("README"), "hi\n").unwrap();
    ok(git(sandbox, &repo).args(["add", "."]));
    ok(git(sandbox, &repo).args(["commit", "-qm", "init"]));
    ok(git(sandbox, &repo)
        .args(["config", "core.hooksPath"])
        .arg(hooks_path));
    repo
}

fn install_hooks(sandbox: &Sandbox, repo: &Path, extra: &[&str]) -> String {
    let mut cmd = sandbox.git_cmd(BIN);
    cmd.args(["install-hooks", "--repo"]).arg(repo).args(extra);
    String::from_utf8_lossy(&ok(&mut cmd).stdout).into_owned()
}

fn registered(sandbox: &Sandbox) -> String {
    let out = ok(sandbox.git_cmd(BIN).args(["roots", "list"]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hook_log(sandbox: &Sandbox) -> String {
    let log = sandbox.path("xdg/state/uv-cache-prune/hook.log");
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Installs, proves a branch checkout runs the hook (it registers the repository and
/// logs a run), then uninstalls from the same place.
fn installs_where_git_runs_hooks(sandbox: &Sandbox, hooks_dir: &Path) {
    let repo = repo_with_hooks_path(sandbox, hooks_dir);
    let installed = install_hooks(sandbox, &repo, &[]);
    for name in ["post-checkout", "post-merge"] {
        let hook = hooks_dir.join(name);
        assert!(
            std::fs::symlink_metadata(&hook).is_ok_and(|m| m.is_file()),
            "{} missing; install said:\n{installed}",
            hook.display()
        );
    }
    assert_eq!(installed.lines().count(), 2, "{installed}");
    assert!(
        registered(sandbox).starts_with("No roots registered;"),
        "installing registers nothing"
    );

    let mut checkout = git(sandbox, &repo);
    checkout
        .args(["checkout", "-q", "-b", "other"])
        .env("UV_CACHE_PRUNE_BIN", BIN)
        .env("UV_CACHE_PRUNE_HOOK_SYNC", "1")
        .env("UV_CACHE_PRUNE_HOOK_THROTTLE", "0");
    ok(&mut checkout);
    assert_eq!(
        registered(sandbox).trim(),
        path_str(&repo),
        "the hook ran and registered the repository"
    );
    let log = hook_log(sandbox);
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("uv-cache-prune --hook"))
            .count(),
        1,
        "{log}"
    );

    let removed = install_hooks(sandbox, &repo, &["--uninstall"]);
    assert_eq!(
        removed
            .lines()
            .filter(|l| l.starts_with("removed: "))
            .count(),
        2,
        "{removed}"
    );
    for name in ["post-checkout", "post-merge"] {
        assert!(!hooks_dir.join(name).exists(), "{removed}");
    }
}

#[test]
fn a_hooks_path_ending_in_a_space_is_used_as_is() {
    let sandbox = Sandbox::new();
    let hooks_dir = sandbox.path("hooks ");
    installs_where_git_runs_hooks(&sandbox, &hooks_dir);
    assert!(
        !sandbox.path("hooks").exists(),
        "nothing goes to the trimmed path"
    );
}

#[test]
fn a_hooks_path_that_is_not_utf8_is_used_as_is() {
    let sandbox = Sandbox::new();
    let mut name = sandbox.path("h").into_os_string().into_vec();
    name.push(0xff);
    let hooks_dir = PathBuf::from(OsString::from_vec(name));
    installs_where_git_runs_hooks(&sandbox, &hooks_dir);
    assert!(
        !sandbox.path("h\u{fffd}").exists(),
        "nothing goes to a lossily decoded path"
    );
}
