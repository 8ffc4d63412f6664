//! Setting a machine up, as a person reads it: `doctor` says whether the git hooks can find
//! `uv-cache-prune` on `PATH` (and how to install it when not), shows the settings a prune
//! would use (config file, roots with the missing ones, keep, policies), checks another
//! repository's hooks with `--repo` and another cache with `--cache-dir` (a typo in
//! either is bad usage, as in the prune); `install-hooks --uninstall` says what it did
//! when there was nothing to remove; and `cargo xtask` shows cargo's build progress.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_uv-cache-prune");

/// Runs `cmd`; panics with its output unless it exits 0 with nothing on stderr.
fn quiet_ok(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{}",
        describe(cmd, &output)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// `uv-cache-prune doctor ARGS` in the sandbox, outside any git repository.
fn doctor_cmd(sandbox: &Sandbox, args: &[&std::ffi::OsStr]) -> Command {
    let mut cmd = sandbox.git_cmd(BIN);
    cmd.env("GIT_CEILING_DIRECTORIES", sandbox.dir())
        .arg("doctor")
        .args(args);
    cmd
}

fn doctor(sandbox: &Sandbox, args: &[&std::ffi::OsStr]) -> String {
    quiet_ok(&mut doctor_cmd(sandbox, args))
}

/// The doctor's line for `label`, value only; panics when there is none.
fn value<'a>(screen: &'a str, label: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.len() > 15 && l[..15].trim_end() == label)
        .map(|l| &l[15..])
        .unwrap_or_else(|| panic!("no {label:?} line:\n{screen}"))
}

/// The values of `label`'s line and of the indented lines under it.
fn block<'a>(screen: &'a str, label: &str) -> Vec<&'a str> {
    let mut lines = screen.lines().skip_while(|l| !l.starts_with(label));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no {label}:\n{screen}"));
    std::iter::once(&first[15..])
        .chain(
            lines
                .take_while(|l| l.starts_with(&" ".repeat(15)))
                .map(|l| &l[15..]),
        )
        .collect()
}

fn git(sandbox: &Sandbox, repo: &Path, args: &[&str]) {
    quiet_ok(sandbox.git_cmd("git").arg("-C").arg(repo).args(args));
}

/// An empty git repository at `<sandbox>/<name>`.
fn repo(sandbox: &Sandbox, name: &str) -> PathBuf {
    let repo = sandbox.path(name);
    std::fs::create_dir_all(&repo).unwrap();
    git(sandbox, &repo, &["init", "-q", "-b", "main"]);
    repo
}

fn install_hooks(sandbox: &Sandbox, repo: &Path, extra: &[&str]) -> String {
    let mut cmd = sandbox.git_cmd(BIN);
    quiet_ok(cmd.args(["install-hooks", "--repo"]).arg(repo).args(extra))
}

#[test]
fn doctor_says_whether_the_hooks_can_find_uv_cache_prune_on_path() {
    let sandbox = Sandbox::new();
    let (empty, bin) = (sandbox.path("empty-bin"), sandbox.path("bin"));
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    // Named like the tool, but not executable: `command -v` in the shim skips it too.
    let not_executable = empty.join("uv-cache-prune");
    std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    set_mode(&not_executable, 0o644);
    let on = |path: &Path| {
        let mut cmd = doctor_cmd(&sandbox, &[]);
        value(&quiet_ok(cmd.env("PATH", path)), "on PATH").to_owned()
    };
    assert_eq!(
        on(&empty),
        "uv-cache-prune is not on PATH, so the git hooks do nothing: install it with \
         `uv tool install uv-cache-prune`, or `cargo xtask install` in a clone of \
         uv-cache-prune (more ways: docs/install.md)"
    );
    let installed = bin.join("uv-cache-prune");
    std::os::unix::fs::symlink(BIN, &installed).unwrap();
    let path = std::env::join_paths([&empty, &bin]).unwrap();
    assert_eq!(
        on(Path::new(&path)),
        format!("{} (the git hooks run this one)", path_str(&installed))
    );
}

#[test]
fn doctor_shows_the_settings_in_force_and_the_roots_that_are_missing() {
    let sandbox = Sandbox::new();
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    // Nothing configured: the defaults, said as such.
    let screen = doctor(&sandbox, &[]);
    assert_eq!(
        value(&screen, "config"),
        format!("none ({} not present: defaults apply)", path_str(&config))
    );
    assert_eq!(
        block(&screen, "roots"),
        [
            "none configured or registered (`uv-cache-prune roots add DIR`, or the git hooks)"
                .to_owned(),
            format!("{} (home)", path_str(&sandbox.home())),
        ]
    );
    let defaults = [
        ("keep", "nothing (config `keep`, or --keep PACKAGE)"),
        ("grace", "1h (default): archives younger than this are kept"),
        (
            "unused-for",
            "not set: a dead archive goes whenever it was last used",
        ),
        ("max-size", "not set: every dead archive goes"),
        (
            "hooks prune",
            "dead archives unused for 7days (default, `hook-unused-for`)",
        ),
        (
            "lock files",
            "each uv.lock beside a pyproject.toml under a root keeps what it names",
        ),
    ];
    for (label, said) in defaults {
        assert_eq!(value(&screen, label), said, "{screen}");
    }

    // A config, a registered root that is here and one deleted since.
    let (src, gone, moved) = (
        sandbox.projects().join("src"),
        sandbox.projects().join("old"),
        sandbox.projects().join("moved-away"),
    );
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&gone).unwrap();
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!(
            "roots = [{:?}, {:?}]\nkeep = [\"numpy\", \"torch\"]\ngrace = \"10m\"\n\
             unused-for = \"30d\"\nmax-size = \"20GiB\"\nhook-unused-for = \"14d\"\n\
             ignore-locks = true\nexclude = [\".tox\"]\n",
            path_str(&src),
            path_str(&moved)
        ),
    )
    .unwrap();
    let mut add = sandbox.bare_prune_cmd();
    quiet_ok(add.args(["roots", "add"]).arg(&src).arg(&gone));
    delete(&gone);

    let screen = doctor(&sandbox, &[]);
    assert_eq!(value(&screen, "config"), path_str(&config));
    assert_eq!(
        block(&screen, "roots"),
        [
            format!("{} (config)", path_str(&src)),
            format!(
                "{} (config): does not exist, not searched; fix or remove it in the config",
                path_str(&moved)
            ),
            format!("{} (registered)", path_str(&src)),
            format!(
                "{} (registered): does not exist (deleted from its filesystem): \
                 `uv-cache-prune roots prune` or the next --apply forgets it",
                path_str(&gone)
            ),
            format!("{} (home)", path_str(&sandbox.home())),
        ]
    );
    let configured = [
        ("keep", "numpy, torch (config)"),
        ("grace", "10m (config): archives younger than this are kept"),
        (
            "unused-for",
            "30days (config): only archives unused this long go",
        ),
        (
            "max-size",
            "20.0 GiB (config): dead archives go, least recently used first, only until the \
             cache fits",
        ),
        (
            "hooks prune",
            "dead archives unused for 14days (config, `hook-unused-for`)",
        ),
        (
            "lock files",
            "ignored (config `ignore-locks`): only venvs keep archives",
        ),
        ("exclude", ".tox (config)"),
    ];
    for (label, said) in configured {
        assert_eq!(value(&screen, label), said, "{screen}");
    }
}

#[test]
fn doctor_checks_the_hooks_of_the_repository_named_by_repo() {
    let sandbox = Sandbox::new();
    let (app, other) = (repo(&sandbox, "app"), repo(&sandbox, "other"));
    install_hooks(&sandbox, &app, &[]);
    let hooks = |args: &[&std::ffi::OsStr]| value(&doctor(&sandbox, args), "hooks").to_owned();
    let repo_flag = std::ffi::OsStr::new("--repo");

    assert_eq!(
        hooks(&[]),
        "not in a git repository (`--repo DIR` checks one)"
    );
    assert_eq!(
        hooks(&[repo_flag, app.as_os_str()]),
        format!(
            "{0}/.git/hooks/post-checkout, {0}/.git/hooks/post-merge",
            path_str(&app)
        )
    );
    assert_eq!(
        hooks(&[repo_flag, other.as_os_str()]),
        format!(
            "not installed in {0} (`uv-cache-prune install-hooks --repo {0}`)",
            path_str(&other)
        )
    );
    // Run from inside the repository, it checks that one.
    let mut inside = doctor_cmd(&sandbox, &[]);
    let screen = quiet_ok(inside.current_dir(&app));
    assert!(
        value(&screen, "hooks").ends_with("/.git/hooks/post-merge"),
        "{screen}"
    );
    let plain = sandbox.path("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let said = hooks(&[repo_flag, plain.as_os_str()]);
    assert!(
        said.starts_with(&format!("{} is not a git repository: ", path_str(&plain))),
        "{said}"
    );

    // A typo is bad usage, as in the prune: exit 2, one line, the close sibling named.
    let typo = sandbox.path("ap");
    let mut cmd = doctor_cmd(&sandbox, &[repo_flag, typo.as_os_str()]);
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&cmd, &output));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: --repo {} does not exist (did you mean {}?): nothing was read or deleted; \
             it should name a git repository, so check the spelling, or leave the flag out\n",
            path_str(&typo),
            path_str(&app)
        )
    );
}

#[test]
fn doctor_takes_cache_dir_like_the_prune() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    sandbox.wheel("gamma", "1.0");
    // UV_CACHE_DIR's cache: one archive. Another cache: two, both dead.
    let gone = sandbox.venv("projects/gone", &uv(), LinkMode::Hardlink, &["alpha"]);
    delete(&gone);
    let other = sandbox.path("other-cache");
    let mut venv = sandbox.uv_cmd(&uv());
    let scratch = sandbox.path("scratch");
    quiet_ok(
        venv.env("UV_CACHE_DIR", &other)
            .arg("venv")
            .arg(&scratch)
            .arg("-q"),
    );
    let mut install = sandbox.uv_cmd(&uv());
    install
        .env("UV_CACHE_DIR", &other)
        .args([
            "pip",
            "install",
            "-q",
            "--link-mode",
            "hardlink",
            "--no-index",
        ])
        .arg("--find-links")
        .arg(sandbox.wheels())
        .arg("--python")
        .arg(&scratch)
        .args(["beta", "gamma"]);
    quiet_ok(&mut install);
    delete(&scratch);
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "grace = \"0s\"\n").unwrap();

    let flag = std::ffi::OsStr::new("--cache-dir");
    let screen = doctor(&sandbox, &[flag, other.as_os_str()]);
    assert_eq!(
        value(&screen, "cache"),
        format!("{} (from --cache-dir)", path_str(&other))
    );
    let dry_run = value(&screen, "dry run");
    assert!(
        dry_run.starts_with("2 archives: 0 in use, 0 held back, 2 removable; "),
        "{screen}"
    );
    // Without the flag, UV_CACHE_DIR's.
    let screen = doctor(&sandbox, &[]);
    assert_eq!(
        value(&screen, "cache"),
        format!("{} (from UV_CACHE_DIR)", path_str(&sandbox.cache()))
    );
    assert!(
        value(&screen, "dry run").starts_with("1 archives: "),
        "{screen}"
    );

    let typo = sandbox.path("cahce");
    let mut cmd = doctor_cmd(&sandbox, &[flag, typo.as_os_str()]);
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&cmd, &output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: --cache-dir {} does not exist (did you mean {}?): ",
            path_str(&typo),
            path_str(&sandbox.cache())
        )),
        "{stderr}"
    );
}

#[test]
fn uninstalling_twice_says_there_was_nothing_to_remove() {
    let sandbox = Sandbox::new();
    let app = repo(&sandbox, "app");
    let hooks = app.join(".git/hooks");
    let (checkout, merge) = (
        path_str(&hooks.join("post-checkout")),
        path_str(&hooks.join("post-merge")),
    );
    install_hooks(&sandbox, &app, &[]);
    assert_eq!(
        install_hooks(&sandbox, &app, &["--uninstall"]),
        format!("removed: {checkout}\nremoved: {merge}\n")
    );
    assert_eq!(
        install_hooks(&sandbox, &app, &["--uninstall"]),
        format!(
            "no uv-cache-prune hook at {checkout}; nothing to remove\n\
             no uv-cache-prune hook at {merge}; nothing to remove\n"
        )
    );

    // A hook of the team's own is not ours; one ours had replaced, with our shim deleted
    // by hand since, is pointed at rather than put back behind the user's back.
    let theirs = "#!/bin/sh\necho theirs\n";
    std::fs::write(hooks.join("post-checkout"), theirs).unwrap();
    std::fs::write(hooks.join("post-merge"), theirs).unwrap();
    install_hooks(&sandbox, &app, &[]);
    std::fs::remove_file(hooks.join("post-merge")).unwrap();
    std::fs::remove_file(hooks.join("post-checkout")).unwrap();
    std::fs::rename(
        hooks.join("post-checkout.uv-cache-prune-chained"),
        hooks.join("post-checkout"),
    )
    .unwrap();
    assert_eq!(
        install_hooks(&sandbox, &app, &["--uninstall"]),
        format!(
            "not ours, left alone: {checkout}\n\
             no uv-cache-prune hook at {merge}; nothing to remove, but the hook it replaced \
             is still at {merge}.uv-cache-prune-chained: rename it back to run it again\n"
        )
    );
    assert_eq!(
        std::fs::read_to_string(hooks.join("post-checkout")).unwrap(),
        theirs
    );
    assert_eq!(
        std::fs::read_to_string(hooks.join("post-merge.uv-cache-prune-chained")).unwrap(),
        theirs
    );
}

/// The first `cargo xtask` in a fresh clone builds for minutes: cargo's progress must
/// show (the alias once ran cargo with `--quiet`), on stderr, and stdout stays the task's.
#[test]
fn cargo_xtask_shows_cargos_progress_on_stderr() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["xtask", "--help"]);
    let output = cmd.output().expect("run cargo xtask");
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let status = |word: &str| stderr.lines().any(|l| l.trim_start().starts_with(word));
    assert!(
        status("Finished") && status("Running"),
        "cargo's status lines: {}",
        describe(&cmd, &output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("Tasks for uv-cache-prune\n"),
        "{}",
        describe(&cmd, &output)
    );
}
