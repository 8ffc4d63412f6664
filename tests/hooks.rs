//! The git hooks, with real git: installed where git looks, chained with an existing hook,
//! registering the repository, pruning in the background (or, with the test switch, in
//! the foreground), and never failing or holding up git.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_uv-cache-prune");

fn ok(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(output.status.success(), "{}", describe(cmd, &output));
    output
}

/// A git repository with one commit and a `.venv` holding `alpha` (hardlinks).
fn python_repo(sandbox: &Sandbox) -> PathBuf {
    sandbox.wheel("alpha", "1.0");
    let repo = sandbox.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    ok(sandbox
        .git_cmd("git")
        .arg("-C")
        .arg(&repo)
        .args(["init", "-q", "-b", "main"]));
    std::fs::write(repo.join("pyproject.toml"), "[project]\nname = \"p\"\n").unwrap();
    std::fs::write(repo.join(".gitignore"), ".venv\n").unwrap();
    ok(sandbox
        .git_cmd("git")
        .arg("-C")
        .arg(&repo)
        .args(["add", "."]));
    ok(sandbox
        .git_cmd("git")
        .arg("-C")
        .arg(&repo)
        .args(["commit", "-qm", "init"]));
    sandbox.venv("repo/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    repo
}

fn install_hooks(sandbox: &Sandbox, repo: &Path, extra: &[&str]) -> String {
    let mut cmd = sandbox.git_cmd(BIN);
    cmd.args(["install-hooks", "--repo"]).arg(repo).args(extra);
    String::from_utf8_lossy(&ok(&mut cmd).stdout).into_owned()
}

fn git(sandbox: &Sandbox, repo: &Path, args: &[&str]) -> Command {
    let mut cmd = sandbox.git_cmd("git");
    cmd.arg("-C").arg(repo).args(args);
    cmd
}

fn registered(sandbox: &Sandbox) -> String {
    let out = ok(sandbox.git_cmd(BIN).args(["roots", "list"]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn state_dir(sandbox: &Sandbox) -> PathBuf {
    sandbox.path("xdg/state/uv-cache-prune")
}

fn hook_log(sandbox: &Sandbox) -> String {
    std::fs::read_to_string(state_dir(sandbox).join("hook.log")).unwrap_or_default()
}

/// An archive that is dead: `beta`, installed into a venv that is then deleted.
fn dead_beta(sandbox: &Sandbox) -> String {
    sandbox.wheel("beta", "1.0");
    let venv = sandbox.venv("scratch/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&venv);
    sandbox.archive_of("beta", "1.0")
}

/// Eight days from now: past the hooks' "unused for a week" policy.
fn next_week() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now.as_secs() + 8 * 86_400).to_string()
}

#[test]
fn a_checkout_registers_the_repo_and_prunes_in_the_background_without_waiting() {
    let sandbox = Sandbox::new();
    let repo = python_repo(&sandbox);
    let beta = dead_beta(&sandbox);
    install_hooks(&sandbox, &repo, &[]);
    // A prune that cannot finish until the test says so: the binary behind a wrapper that
    // waits for a release file. git must return while it waits.
    let (started, release) = (sandbox.path("prune-started"), sandbox.path("release"));
    let wrapper = sandbox.path("held-prune");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --hook ]; then\n  touch '{}'\n  while [ ! -e '{}' ]; do sleep 0.05; done\nfi\nexec '{BIN}' \"$@\"\n",
            started.display(),
            release.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut checkout = git(&sandbox, &repo, &["checkout", "-q", "-b", "feature"]);
    let mut git_run = checkout
        .env("UV_CACHE_PRUNE_BIN", &wrapper)
        .env("UV_CACHE_PRUNE_NOW", next_week())
        .spawn()
        .expect("git checkout");
    let status = wait_up_to(&mut git_run, Duration::from_secs(60));
    let _ = std::fs::write(&release, "");
    assert_eq!(
        status.map(|s| s.success()),
        Some(true),
        "git waited for the prune"
    );
    assert_eq!(registered(&sandbox).trim(), path_str(&repo));

    // The prune did start, finishes once released, and logs one line.
    eventually(
        || hook_log(&sandbox).contains("uv-cache-prune --hook"),
        &|| hook_log(&sandbox),
    );
    assert!(started.exists());
    assert!(
        hook_log(&sandbox).contains("removed 1 archive "),
        "{}",
        hook_log(&sandbox)
    );
    assert!(!sandbox.archive_dir(&beta).exists());
    sandbox.assert_imports(&repo.join(".venv"), &["alpha"]);

    // Throttled: within the day, a second checkout starts nothing.
    std::fs::remove_file(&started).unwrap();
    let mut back = git(&sandbox, &repo, &["checkout", "-q", "main"]);
    ok(back
        .env("UV_CACHE_PRUNE_BIN", &wrapper)
        .env("UV_CACHE_PRUNE_NOW", next_week()));
    std::thread::sleep(Duration::from_millis(500));
    assert!(!started.exists(), "a throttled hook started a prune");
}

/// The child's status if it exits within `limit`; else kills it and returns `None`.
fn wait_up_to(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().ok();
    child.wait().ok();
    None
}

/// Waits (a minute at most) for `done`; panics with `state()` if it never comes.
fn eventually(done: impl Fn() -> bool, state: &dyn Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out: {}", state());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_sync_switch_prunes_in_the_foreground_keeping_what_the_repo_uses() {
    let sandbox = Sandbox::new();
    let repo = python_repo(&sandbox);
    let alpha = sandbox.archive_of("alpha", "1.0");
    let beta = dead_beta(&sandbox);
    install_hooks(&sandbox, &repo, &[]);

    // Dead, but only just: the hooks' week-long policy keeps it.
    let mut checkout = git(&sandbox, &repo, &["checkout", "-q", "-b", "x"]);
    ok(checkout
        .env("UV_CACHE_PRUNE_BIN", BIN)
        .env("UV_CACHE_PRUNE_HOOK_SYNC", "1"));
    assert!(
        sandbox.archive_dir(&beta).exists(),
        "{}",
        hook_log(&sandbox)
    );
    assert!(
        hook_log(&sandbox).contains("removed 0 archives"),
        "{}",
        hook_log(&sandbox)
    );

    // A week later (and past the throttle), it goes; what the repo's venv uses stays.
    let mut checkout = git(&sandbox, &repo, &["checkout", "-q", "-b", "y"]);
    ok(checkout
        .env("UV_CACHE_PRUNE_BIN", BIN)
        .env("UV_CACHE_PRUNE_HOOK_SYNC", "1")
        .env("UV_CACHE_PRUNE_HOOK_THROTTLE", "0")
        .env("UV_CACHE_PRUNE_NOW", next_week()));
    assert!(
        !sandbox.archive_dir(&beta).exists(),
        "{}",
        hook_log(&sandbox)
    );
    assert!(sandbox.archive_dir(&alpha).exists());
    sandbox.assert_imports(&repo.join(".venv"), &["alpha"]);
}

#[test]
fn an_existing_hook_still_runs_and_uninstall_restores_it_byte_for_byte() {
    let sandbox = Sandbox::new();
    let repo = python_repo(&sandbox);
    let hooks = repo.join(".git/hooks");
    let calls = sandbox.path("calls");
    let original = format!(
        "#!/bin/sh\n# the team's own hook\necho \"$@\" >> '{}'\nexit 3\n",
        calls.display()
    );
    std::fs::write(hooks.join("post-checkout"), &original).unwrap();
    std::fs::set_permissions(
        hooks.join("post-checkout"),
        std::fs::Permissions::from_mode(0o751),
    )
    .unwrap();

    let said = install_hooks(&sandbox, &repo, &[]);
    assert!(said.contains("existing hook still runs"), "{said}");
    // Idempotent: a second install changes nothing.
    install_hooks(&sandbox, &repo, &[]);
    let shim = std::fs::read_to_string(hooks.join("post-checkout")).unwrap();
    assert!(shim.contains("uv-cache-prune git hook shim"));

    let mut checkout = git(&sandbox, &repo, &["checkout", "-q", "-b", "x"]);
    let output = checkout.env("UV_CACHE_PRUNE_BIN", BIN).output().unwrap();
    // The old hook's failure is still git's, as before the install.
    assert!(!output.status.success(), "{}", describe(&checkout, &output));
    let args = std::fs::read_to_string(&calls).unwrap();
    let args: Vec<&str> = args.split_whitespace().collect();
    assert_eq!(args.len(), 3, "{args:?}");
    assert_eq!(args[0], args[1], "a new branch at the same commit");
    assert_eq!(args[2], "1");
    assert_eq!(registered(&sandbox).trim(), path_str(&repo));
    // The shim exits with exactly the old hook's status (how git maps it is git's business).
    let mut direct = sandbox.git_cmd(hooks.join("post-checkout"));
    let status = direct
        .current_dir(&repo)
        .args(["0", "0", "0"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));

    install_hooks(&sandbox, &repo, &["--uninstall"]);
    assert_eq!(
        std::fs::read_to_string(hooks.join("post-checkout")).unwrap(),
        original
    );
    let mode = std::fs::metadata(hooks.join("post-checkout"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o751);
    assert!(!hooks.join("post-merge").exists());
    assert!(!hooks.join("post-checkout.uv-cache-prune-chained").exists());
}

#[test]
fn the_hook_never_fails_git() {
    let sandbox = Sandbox::new();
    let repo = python_repo(&sandbox);
    let beta = dead_beta(&sandbox);
    install_hooks(&sandbox, &repo, &[]);

    // No binary: one line saying how to install it, and git succeeds.
    let mut checkout = git(&sandbox, &repo, &["checkout", "-q", "-b", "a"]);
    let output = ok(checkout.env("PATH", "/usr/bin:/bin"));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("uv-cache-prune is not installed"),
        "{}",
        describe(&checkout, &output)
    );

    // The cache locked by uv (a shared flock, as every uv command holds): nothing deleted.
    let mut holder = Command::new("flock")
        .arg("-s")
        .arg(sandbox.cache().join(".lock"))
        .args(["sleep", "30"])
        .spawn()
        .expect("flock");
    std::thread::sleep(Duration::from_millis(300));
    let mut checkout = git(&sandbox, &repo, &["checkout", "-q", "-b", "b"]);
    ok(checkout
        .env("UV_CACHE_PRUNE_BIN", BIN)
        .env("UV_CACHE_PRUNE_HOOK_SYNC", "1")
        .env("UV_CACHE_PRUNE_NOW", next_week()));
    holder.kill().ok();
    holder.wait().ok();
    assert!(
        hook_log(&sandbox).contains("skipped"),
        "{}",
        hook_log(&sandbox)
    );
    assert!(sandbox.archive_dir(&beta).exists());

    // A state dir that cannot be created (under a file: even root cannot): still fine.
    let blocker = sandbox.path("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let mut checkout = git(&sandbox, &repo, &["checkout", "-q", "-b", "c"]);
    ok(checkout
        .env("UV_CACHE_PRUNE_BIN", BIN)
        .env("UV_CACHE_PRUNE_HOOK_SYNC", "1")
        .env("UV_CACHE_PRUNE_STATE_DIR", blocker.join("state")));
}

#[test]
fn a_worktree_of_the_repo_runs_the_hook_too() {
    let sandbox = Sandbox::new();
    let repo = python_repo(&sandbox);
    install_hooks(&sandbox, &repo, &[]);
    let worktree = sandbox.path("worktree");
    let mut add = git(&sandbox, &repo, &["worktree", "add", "-q", "-b", "w"]);
    ok(add.arg(&worktree).env("UV_CACHE_PRUNE_BIN", BIN));
    let mut checkout = git(&sandbox, &worktree, &["checkout", "-q", "-b", "w2"]);
    ok(checkout.env("UV_CACHE_PRUNE_BIN", BIN));
    let roots = registered(&sandbox);
    assert!(roots.lines().any(|l| l == path_str(&worktree)), "{roots}");
}

#[test]
fn core_hooks_path_is_respected() {
    let sandbox = Sandbox::new();
    let repo = python_repo(&sandbox);
    ok(&mut git(
        &sandbox,
        &repo,
        &["config", "core.hooksPath", "githooks"],
    ));
    install_hooks(&sandbox, &repo, &[]);
    assert!(repo.join("githooks/post-checkout").exists());
    assert!(!repo.join(".git/hooks/post-checkout").exists());
    let mut checkout = git(&sandbox, &repo, &["checkout", "-q", "-b", "x"]);
    ok(checkout.env("UV_CACHE_PRUNE_BIN", BIN));
    assert_eq!(registered(&sandbox).trim(), path_str(&repo));
}
