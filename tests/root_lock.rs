//! Root's `--apply` on someone else's cache must not lock its owner out.
//!
//! uv before 0.8.19 made no `<cache>/.lock`, and a cache restored in CI has none either:
//! the first `--apply` creates it. Made by root with root's umask, it was `root:root 0644`
//! (or 0600 under umask 077), and every later uv command of the cache's owner failed with
//! "Could not acquire lock ... Permission denied". It must be created mode 0666 (as uv's
//! own is) and, by root in another user's cache, belong to the cache's owner.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::users::{TestUser, open_path_to, shared_python};
use common::*;

/// `cmd` run through `sh` with umask 077 first: what a locked-down root account has.
fn with_umask_077(cmd: &Command) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c").arg("umask 077 && exec \"$0\" \"$@\"");
    testbed::sandbox::wrapping(sh, cmd)
}

/// A uv command of the sandbox, to run as `user`, with a Python every user can run.
fn user_uv<S: AsRef<OsStr>>(sandbox: &Sandbox, args: &[S]) -> Command {
    let mut cmd = sandbox.uv_cmd(&uv());
    cmd.env("UV_PYTHON", shared_python()).args(args);
    cmd
}

/// `uv pip install` of `package` from the find-links dir into `venv`, as the user.
fn user_install(sandbox: &Sandbox, user: &TestUser, venv: &Path, package: &str) {
    let wheels = sandbox.wheels();
    let args = [
        OsStr::new("pip"),
        OsStr::new("install"),
        OsStr::new("--python"),
        venv.as_os_str(),
        OsStr::new("--link-mode"),
        OsStr::new("copy"),
        OsStr::new("--no-index"),
        OsStr::new("--find-links"),
        wheels.as_os_str(),
        OsStr::new(package),
    ];
    user.ok(&mut user_uv(sandbox, &args));
}

#[test]
fn roots_apply_creates_a_missing_lock_the_caches_owner_can_take() {
    let Some(user) = TestUser::create("rootlock") else {
        return;
    };
    let sandbox = Sandbox::new();
    open_path_to(sandbox.dir());
    for name in ["gamma", "delta", "epsilon"] {
        sandbox.wheel(name, "1.0");
    }
    for dir in ["cache", "xdg", "home", "projects"] {
        let path = sandbox.path(dir);
        fs::create_dir_all(&path).unwrap();
        user.give(&path);
    }
    // Root runs with the user's HOME, as `sudo -E` would: the user's own cache, seen.
    user.set_home(&sandbox.home());
    // The user's cache: one live archive (gamma, in projects/live) and a dead one (delta).
    let live = sandbox.path("projects/live");
    let gone = sandbox.path("projects/gone");
    for (venv, package) in [(&live, "gamma"), (&gone, "delta")] {
        user.ok(&mut user_uv(
            &sandbox,
            &[OsStr::new("venv"), venv.as_os_str()],
        ));
        user_install(&sandbox, &user, venv, package);
    }
    delete(&gone);
    let dead = sandbox.archive_of("delta", "1.0");
    // A cache without a lock file, as uv before 0.8.19 or a CI restore leaves it.
    let lock = sandbox.cache().join(".lock");
    fs::remove_file(&lock).unwrap();

    let mut args = apply_args(&[&sandbox.projects()]);
    args.push("--json".into());
    let mut apply = with_umask_077(&sandbox.prune_cmd(&args));
    let output = apply.output().unwrap();
    assert!(output.status.success(), "{}", describe(&apply, &output));
    assert!(
        !sandbox.all_archives().contains(&dead),
        "the dead archive went"
    );

    // The owner's uv takes the lock again: shared (an install) and exclusive (a prune).
    user_install(&sandbox, &user, &live, "epsilon");
    user.ok(&mut user_uv(&sandbox, &["cache", "prune"]));

    let meta = fs::symlink_metadata(&lock).expect("--apply created the lock file");
    assert!(meta.file_type().is_file());
    assert_eq!(
        (meta.uid(), meta.gid()),
        (user.uid, user.gid),
        "the lock belongs to the cache's owner"
    );
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        0o666,
        "mode 0666, as uv makes it"
    );
}
