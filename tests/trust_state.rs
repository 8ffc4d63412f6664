//! The tool's own state directory is trusted only when it is a real directory of the
//! (effective) user, not writable by every user, and so is every file in it: a symlink
//! put there is never followed, another user's or a world-writable registry is refused
//! with one line saying what to do, and the run fails closed (every archive kept). Root
//! running with a user's environment (`sudo -E`) leaves the state that user's.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::users::{TestUser, open_path_to, shared_python};
use common::*;
use serde_json::Value;

fn state_dir(sandbox: &Sandbox) -> PathBuf {
    sandbox.path("xdg/state/uv-cache-prune")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

fn expect(cmd: &mut Command, code: i32) -> Output {
    let output = run(cmd);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        describe(cmd, &output)
    );
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(output)
        )
    })
}

fn roots_add(sandbox: &Sandbox, dir: &Path) -> Command {
    let mut cmd = sandbox.bare_prune_cmd();
    cmd.args(["roots", "add"]).arg(dir);
    cmd
}

/// A sandbox with a registered project (a symlink venv using alpha) and a dead beta.
fn registered_project() -> (Sandbox, PathBuf, String, String) {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    let project = sandbox.path("elsewhere/p");
    sandbox.venv("elsewhere/p/.venv", &uv(), LinkMode::Symlink, &["alpha"]);
    let gone = sandbox.venv("elsewhere/gone/.venv", &uv(), LinkMode::Copy, &["beta"]);
    delete(&gone);
    expect(&mut roots_add(&sandbox, &project), 0);
    let (alpha, beta) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    );
    (sandbox, project, alpha, beta)
}

/// Every entry under `dir`, relative, sorted: to see that nothing was created there.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(next) = todo.pop() {
        for entry in fs::read_dir(&next).unwrap_or_else(|e| panic!("{}: {e}", next.display())) {
            let path = entry.unwrap().path();
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                todo.push(path.clone());
            }
            found.push(path.strip_prefix(dir).unwrap().to_owned());
        }
    }
    found.sort();
    found
}

#[test]
fn a_dangling_state_lock_symlink_is_never_followed() {
    let (sandbox, _project, _, _) = registered_project();
    let outside = sandbox.path("outside/nologin");
    fs::create_dir_all(outside.parent().unwrap()).unwrap();
    let lock = state_dir(&sandbox).join("state.lock");
    fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&outside, &lock).unwrap();
    let other = sandbox.path("other");
    fs::create_dir_all(&other).unwrap();

    // A registry update is refused, naming the symlink and what to do.
    let output = expect(&mut roots_add(&sandbox, &other), 1);
    assert!(
        stderr(&output).contains(&format!(
            "refusing {}: it is a symlink, and our state files are never followed out of the state directory; remove it and run again",
            lock.display()
        )),
        "{}",
        stderr(&output)
    );
    // Runs (a dry run records last use, an apply takes its lock too) still finish.
    expect(&mut sandbox.prune_cmd(&["--grace", "0s"]), 0);
    expect(&mut sandbox.prune_cmd(&["--grace", "0s", "--apply"]), 0);
    assert!(
        fs::symlink_metadata(&outside).is_err(),
        "{} was created through the state.lock symlink",
        outside.display()
    );
    assert!(fs::symlink_metadata(&lock).unwrap().is_symlink());
}

#[test]
fn a_locks_symlink_to_another_directory_creates_nothing_there() {
    let (sandbox, _project, alpha, beta) = registered_project();
    let elsewhere = sandbox.path("elsewhere-locks");
    fs::create_dir_all(&elsewhere).unwrap();
    let locks = state_dir(&sandbox).join("locks");
    let _ = fs::remove_dir_all(&locks);
    std::os::unix::fs::symlink(&elsewhere, &locks).unwrap();

    let output = expect(
        &mut sandbox.prune_cmd(&["--grace", "0s", "--apply", "--json"]),
        0,
    );
    let report = json(&output);
    // The marker is only for messages: the apply itself goes on.
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert!(sandbox.archive_dir(&alpha).is_dir());
    assert_eq!(listing(&elsewhere), Vec::<PathBuf>::new());
    assert!(fs::symlink_metadata(&locks).unwrap().is_symlink());
}

#[test]
fn a_state_directory_that_is_a_symlink_is_refused_and_its_target_left_byte_for_byte() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    let gone = sandbox.venv("projects/a/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    delete(&gone);
    let alpha = sandbox.archive_of("alpha", "1.0");
    // Someone else's directory, with a registry of its own.
    let victim = sandbox.path("victim");
    fs::create_dir_all(&victim).unwrap();
    let bytes = b"{\n  \"version\": 1,\n  \"roots\": [\"/srv/theirs\"]\n}\n";
    fs::write(victim.join("roots.json"), bytes).unwrap();
    let state = state_dir(&sandbox);
    fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&victim, &state).unwrap();
    let before = listing(&victim);
    let cache_before = snapshot(&sandbox.cache());

    let other = sandbox.path("other");
    fs::create_dir_all(&other).unwrap();
    let output = expect(&mut roots_add(&sandbox, &other), 1);
    let refusal = format!(
        "refusing the state directory {}: it is a symlink (to {}), and our state is kept only in a real directory; replace it with a directory of yours or set UV_CACHE_PRUNE_STATE_DIR to a directory of your own",
        state.display(),
        victim.display()
    );
    assert!(stderr(&output).contains(&refusal), "{}", stderr(&output));
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));

    // A run fails closed: the registered roots are unknown, so alpha (dead) is kept.
    for args in [
        &["--grace", "0s", "--json"][..],
        &["--grace", "0s", "--apply", "--json"],
    ] {
        let report = json(&expect(&mut sandbox.prune_cmd(args), 0));
        assert!(candidate_ids(&report).is_empty(), "{report:#}");
        assert!(live_ids(&report).contains(&alpha), "{report:#}");
        assert!(
            warnings(&report).iter().any(|w| w.contains(&refusal)),
            "{report:#}"
        );
    }
    assert_same_snapshot(&cache_before, &snapshot(&sandbox.cache()));
    assert_eq!(fs::read(victim.join("roots.json")).unwrap(), bytes);
    assert_eq!(listing(&victim), before);
}

#[test]
fn a_registry_writable_by_all_or_owned_by_another_user_is_refused() {
    let (sandbox, project, alpha, beta) = registered_project();
    let registry = state_dir(&sandbox).join("roots.json");
    let bytes = fs::read(&registry).unwrap();
    let other = sandbox.path("other");
    fs::create_dir_all(&other).unwrap();

    let refused_with = |why: &str| {
        let line = format!("refusing {}: {why}", registry.display());
        let output = expect(&mut roots_add(&sandbox, &other), 1);
        assert!(stderr(&output).contains(&line), "{}", stderr(&output));
        // Unknown roots keep every archive, the dead beta too.
        let report = json(&expect(
            &mut sandbox.prune_cmd(&["--grace", "0s", "--apply", "--json"]),
            0,
        ));
        assert!(candidate_ids(&report).is_empty(), "{report:#}");
        assert!(
            warnings(&report).iter().any(|w| w.contains(&line)),
            "{report:#}"
        );
        assert!(sandbox.archive_dir(&beta).is_dir());
        assert_eq!(fs::read(&registry).unwrap(), bytes);
    };

    fs::set_permissions(&registry, fs::Permissions::from_mode(0o666)).unwrap();
    refused_with(&format!(
        "every user can write it (mode 666); run `chmod o-w {}`",
        registry.display()
    ));
    fs::set_permissions(&registry, fs::Permissions::from_mode(0o644)).unwrap();

    if let Some(stranger) = TestUser::create("trust-registry") {
        stranger.give(&registry);
        refused_with(&format!(
            "it belongs to user {}, not to you (user {})",
            stranger.uid,
            users::effective_uid()
        ));
        fs::remove_file(&registry).unwrap();
        fs::write(&registry, &bytes).unwrap();
    }

    // Trusted again: the registry works, and beta goes.
    expect(&mut roots_add(&sandbox, &other), 0);
    let report = json(&expect(
        &mut sandbox.prune_cmd(&["--grace", "0s", "--apply", "--json"]),
        0,
    ));
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert!(sandbox.archive_dir(&alpha).is_dir());
    let _ = project;
}

#[test]
fn a_world_writable_state_directory_is_refused() {
    let (sandbox, _project, _alpha, beta) = registered_project();
    let state = state_dir(&sandbox);
    fs::set_permissions(&state, fs::Permissions::from_mode(0o777)).unwrap();
    let other = sandbox.path("other");
    fs::create_dir_all(&other).unwrap();
    let line = format!(
        "refusing the state directory {}: every user can write in it (mode 777); run `chmod o-w {}`",
        state.display(),
        state.display()
    );
    let output = expect(&mut roots_add(&sandbox, &other), 1);
    assert!(stderr(&output).contains(&line), "{}", stderr(&output));
    let report = json(&expect(
        &mut sandbox.prune_cmd(&["--grace", "0s", "--apply", "--json"]),
        0,
    ));
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert!(sandbox.archive_dir(&beta).is_dir());
    // Group-writable is fine (umask 002 systems).
    fs::set_permissions(&state, fs::Permissions::from_mode(0o775)).unwrap();
    expect(&mut roots_add(&sandbox, &other), 0);
}

/// Every entry under `dir` with its owner.
fn owners(dir: &Path) -> Vec<(PathBuf, u32)> {
    listing(dir)
        .into_iter()
        .map(|rel| {
            let uid = fs::symlink_metadata(dir.join(&rel)).unwrap().uid();
            (rel, uid)
        })
        .collect()
}

#[test]
fn root_with_a_users_environment_leaves_the_state_the_users() {
    let Some(user) = TestUser::create("trust-sudo") else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    user.give(sandbox.dir());
    open_path_to(sandbox.dir());
    // Root runs with the user's HOME, as `sudo -E` would: the user's own cache, seen.
    user.set_home(&sandbox.home());
    let as_user = |cmd: &mut Command| -> Output {
        cmd.env("UV_PYTHON", shared_python());
        user.ok(cmd)
    };
    let uv_install = |venv: &Path, package: &str| {
        as_user(sandbox.uv_cmd(&uv()).arg("venv").arg(venv));
        as_user(
            sandbox
                .uv_cmd(&uv())
                .args(["pip", "install", "--python"])
                .arg(venv)
                .args(["--link-mode", "symlink", "--no-index", "--find-links"])
                .arg(sandbox.wheels())
                .arg(package),
        );
    };
    let project = sandbox.path("work/p");
    uv_install(&project.join(".venv"), "alpha");
    let gone = sandbox.path("work/gone");
    uv_install(&gone.join(".venv"), "beta");
    fs::remove_dir_all(&gone).unwrap();
    as_user(&mut roots_add(&sandbox, &project));
    let alpha = sandbox.archive_of("alpha", "1.0");
    let beta = sandbox.archive_of("beta", "1.0");

    // Root, with the user's HOME and XDG_STATE_HOME (sudo -E): a dry run, then an apply.
    let mut dry = sandbox.prune_cmd(&["--grace", "0s", "--json"]);
    dry.env("UV_PYTHON", shared_python());
    assert_eq!(candidate_ids(&json(&expect(&mut dry, 0))), set([&beta]));
    let mut apply = sandbox.prune_cmd(&["--grace", "0s", "--apply", "--json"]);
    let report = json(&expect(&mut apply, 0));
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert!(sandbox.archive_dir(&alpha).is_dir());

    let state = state_dir(&sandbox);
    let found = owners(&state);
    for name in ["roots.json", "last-use.json", "state.lock", "locks"] {
        assert!(
            found.iter().any(|(p, _)| p == Path::new(name)),
            "{name} missing: {found:?}"
        );
    }
    let foreign: Vec<_> = found.iter().filter(|(_, uid)| *uid != user.uid).collect();
    assert!(foreign.is_empty(), "not the user's: {foreign:?}");
    assert_eq!(fs::metadata(&state).unwrap().uid(), user.uid);

    // The user can still use it.
    let other = sandbox.path("work/other");
    fs::create_dir_all(&other).unwrap();
    user.give(&other);
    as_user(&mut roots_add(&sandbox, &other));
    let mut dry = sandbox.prune_cmd(&["--grace", "0s", "--unused-for", "1s", "--json"]);
    let output = as_user(&mut dry);
    let report = json(&output);
    assert!(live_ids(&report).contains(&alpha), "{report:#}");
    assert!(
        !stderr(&output).contains("cannot record"),
        "{}",
        stderr(&output)
    );
}

/// A user's state directory (with a cache of theirs) that root runs on with the user's
/// environment, as `sudo -E` would.
fn users_state(tag: &str) -> Option<(TestUser, Sandbox)> {
    let user = TestUser::create(tag)?;
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.venv("work/p/.venv", &uv(), LinkMode::Symlink, &["alpha"]);
    fs::create_dir_all(state_dir(&sandbox)).unwrap();
    user.give(sandbox.dir());
    open_path_to(sandbox.dir());
    user.set_home(&sandbox.home());
    Some((user, sandbox))
}

#[test]
fn root_never_gives_away_a_hard_link_to_a_file_of_its_own() {
    let Some((user, sandbox)) = users_state("trust-hardlink") else {
        return;
    };
    // A root-only file outside the state directory, hard-linked in as `last-use.json`
    // (where hard links to another user's files are allowed, the user can make this link;
    // here root makes it, as fs.protected_hardlinks forbids the user).
    let secret = sandbox.path("secret");
    fs::write(&secret, b"root's\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    fs::hard_link(&secret, state_dir(&sandbox).join("last-use.json")).unwrap();

    let mut dry = sandbox.prune_cmd(&["--grace", "0s", "--json"]);
    expect(&mut dry, 0);
    let meta = fs::metadata(&secret).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (0, 0, 0o600),
        "root gave its file to user {}",
        user.uid
    );
    assert_eq!(fs::read(&secret).unwrap(), b"root's\n");
}

#[test]
fn root_creates_no_state_where_a_users_symlink_leads() {
    let Some((user, sandbox)) = users_state("trust-parent") else {
        return;
    };
    // The user replaced their `$XDG_STATE_HOME` with a symlink to a directory of root's
    // (think /etc): root, creating the state directory, must not create it there.
    let xdg_state = sandbox.path("xdg/state");
    fs::remove_dir_all(&xdg_state).unwrap();
    let roots_place = sandbox.path("etc-like");
    fs::create_dir(&roots_place).unwrap();
    std::os::unix::fs::symlink(&roots_place, &xdg_state).unwrap();
    std::os::unix::fs::lchown(&xdg_state, Some(user.uid), Some(user.gid)).unwrap();

    for args in [&["--grace", "0s"][..], &["--grace", "0s", "--apply"]] {
        let output = run(&mut sandbox.prune_cmd(args));
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{}",
            stderr(&output)
        );
        let created: Vec<_> = fs::read_dir(&roots_place).unwrap().collect();
        assert!(created.is_empty(), "root created {created:?}");
    }
    let mut add = roots_add(&sandbox, &sandbox.path("work/p"));
    let output = run(&mut add);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is a symlink of user"),
        "{}",
        stderr(&output)
    );
    assert_eq!(fs::read_dir(&roots_place).unwrap().count(), 0);
}

#[test]
fn root_uses_no_existing_state_where_a_users_symlink_leads() {
    let Some((user, sandbox)) = users_state("trust-parent-existing") else {
        return;
    };
    // The user points their `$XDG_STATE_HOME` at a state directory that is not theirs
    // (root's own here; another user's alike): root, with the user's environment, must
    // neither read that registry nor write its records there.
    let xdg_state = sandbox.path("xdg/state");
    fs::remove_dir_all(&xdg_state).unwrap();
    let elsewhere = sandbox.path("roots-state");
    let theirs = elsewhere.join("uv-cache-prune");
    fs::create_dir_all(&theirs).unwrap();
    fs::write(
        theirs.join("roots.json"),
        b"{\"version\": 1, \"roots\": []}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&elsewhere, &xdg_state).unwrap();
    std::os::unix::fs::lchown(&xdg_state, Some(user.uid), Some(user.gid)).unwrap();
    let before = listing(&theirs);
    let registry = fs::read(theirs.join("roots.json")).unwrap();

    for args in [&["--grace", "0s"][..], &["--grace", "0s", "--apply"]] {
        let output = run(&mut sandbox.prune_cmd(args));
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("is a symlink of user"),
            "{}",
            stderr(&output)
        );
        assert_eq!(
            listing(&theirs),
            before,
            "root wrote into {}",
            theirs.display()
        );
        assert_eq!(fs::read(theirs.join("roots.json")).unwrap(), registry);
    }
}
