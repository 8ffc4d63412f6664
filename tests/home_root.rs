//! The home directory as a default root, as a new user meets it: a fresh shell outside
//! any repository, nothing registered, venvs made by real uv with `--link-mode symlink`
//! (the one mode where an archive called dead breaks a venv, since no hard link keeps it).
//! The home is the sandbox's; the tool runs from the sandbox's temp dir, in no worktree.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// What the command said on stderr.
fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A dry run with no grace and every default root, from outside any repository.
fn default_plan(sandbox: &Sandbox, extra: &[&str]) -> Value {
    assert!(
        !sandbox.dir().ancestors().any(|d| d.join(".git").exists()),
        "the sandbox must be outside any git worktree"
    );
    sandbox.prune_json(&[&["--grace", "0s"], extra].concat())
}

/// The report's root of origin `home`; panics unless there is exactly one, at `home`.
fn home_root<'a>(report: &'a Value, home: &Path) -> &'a Value {
    let homes: Vec<&Value> = report["roots"]
        .as_array()
        .unwrap_or_else(|| panic!("no roots: {report:#}"))
        .iter()
        .filter(|r| r["origin"] == "home")
        .collect();
    assert_eq!(homes.len(), 1, "one home root: {report:#}");
    assert_eq!(homes[0]["path"], path_str(home), "{report:#}");
    homes[0]
}

/// One venv per package, `home/<rel>` with `package` installed by symlink.
fn plant(sandbox: &Sandbox, venvs: &[(&str, &str)]) -> Vec<(String, PathBuf)> {
    venvs
        .iter()
        .map(|(rel, package)| {
            sandbox.wheel(package, "1.0");
            let venv = sandbox.venv(&format!("home/{rel}"), &uv(), LinkMode::Symlink, &[package]);
            (sandbox.archive_of(package, "1.0"), venv)
        })
        .collect()
}

#[test]
fn a_symlink_venv_in_home_experiments_is_live_with_default_roots() {
    let sandbox = Sandbox::new();
    let planted = plant(&sandbox, &[("experiments/x", "alpha")]);
    let (alpha, venv) = &planted[0];
    // A dead one beside it: installed, then its venv deleted.
    sandbox.wheel("beta", "1.0");
    let gone = sandbox.venv("projects/gone", &uv(), LinkMode::Symlink, &["beta"]);
    delete(&gone);
    let beta = sandbox.archive_of("beta", "1.0");

    let report = default_plan(&sandbox, &[]);
    assert_eq!(live_ids(&report), set([alpha]), "{report:#}");
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert_eq!(
        evidence_venvs_of_kind(&report, alpha, "symlink"),
        [Some(path_str(venv))].into(),
        "{report:#}"
    );
    assert_eq!(home_root(&report, &sandbox.home())["venvs"], 1);

    // --no-default-roots turns the home off with the rest: nothing holds alpha then.
    let report = default_plan(&sandbox, &["--no-default-roots"]);
    assert!(
        report["roots"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["origin"] != "home")
    );
    assert_eq!(candidate_ids(&report), set([alpha, &beta]), "{report:#}");

    // And --apply keeps it: the venv still imports alpha through its symlinks.
    let output = sandbox.prune(&["--grace", "0s", "--apply"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(sandbox.all_archives(), set([alpha]));
    sandbox.assert_imports(venv, &["alpha"]);
}

#[test]
fn the_home_walk_skips_caches_trash_and_excluded_trees() {
    let sandbox = Sandbox::new();
    let planted = plant(
        &sandbox,
        &[
            ("code/y/.venv", "coded"),
            (".cache/x", "cached"),
            (".cargo/registry/v", "carg"),
            (".local/share/Trash/files/t", "trashed"),
            ("big/z/.venv", "bigdata"),
            ("work/tox-env/.tox/py312", "toxed"),
            ("web/node_modules/n", "nodey"),
        ],
    );
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "exclude = [\"~/big\", \".tox\"]\n").unwrap();

    let report = default_plan(&sandbox, &[]);
    let (coded, coded_venv) = &planted[0];
    assert_eq!(live_ids(&report), set([coded]), "{report:#}");
    assert_eq!(
        candidate_ids(&report),
        set(planted[1..].iter().map(|(id, _)| id)),
        "{report:#}"
    );
    assert_eq!(
        evidence_venvs_of_kind(&report, coded, "symlink"),
        [Some(path_str(coded_venv))].into()
    );
    let home = home_root(&report, &sandbox.home());
    assert_eq!(home["venvs"], 1, "{report:#}");
    assert_eq!(home["unreadable"], Value::Array(vec![]), "{report:#}");

    // Named as a root, an excluded tree's venv is searched after all; so is ~/.cache.
    let big = sandbox.home().join("big");
    let cache = sandbox.home().join(".cache");
    let report = default_plan(
        &sandbox,
        &["--root", &path_str(&big), "--root", &path_str(&cache)],
    );
    let expected = [coded, &planted[1].0, &planted[4].0];
    assert_eq!(live_ids(&report), set(expected), "{report:#}");
}

#[test]
fn a_bad_exclude_is_an_error_naming_the_config_and_the_entry() {
    let sandbox = Sandbox::new();
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "exclude = [\"src/vendor\"]\n").unwrap();
    sandbox.wheel("alpha", "1.0");
    sandbox.venv("projects/a", &uv(), LinkMode::Symlink, &["alpha"]);
    let output = sandbox.prune(&["--grace", "0s"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("config.toml") && err.contains("\"src/vendor\"") && err.contains("~/data"),
        "{err}"
    );
    assert_eq!(sandbox.all_archives().len(), 1, "nothing deleted");
}

#[test]
fn the_directories_searched_are_counted_exactly() {
    let sandbox = Sandbox::new();
    let home = sandbox.home();
    plant(&sandbox, &[("code/y", "alpha"), (".cache/x", "beta")]);
    for dir in [
        "docs/a/b",
        "proj/.git/objects/00",
        "proj/node_modules/p/lib",
    ] {
        std::fs::create_dir_all(home.join(dir)).unwrap();
    }
    // A cargo target dir: listed (its tag is read there), not entered.
    let target = home.join("proj/target");
    std::fs::create_dir_all(target.join("debug/deps")).unwrap();
    std::fs::write(
        target.join("CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n",
    )
    .unwrap();
    let mut top: Vec<String> = std::fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(
        top,
        [".cache", "code", "docs", "proj"],
        "nothing else in the home"
    );

    // Listed: ~, code, code/y (a venv: listed, not entered), docs, docs/a, docs/a/b, proj,
    // proj/target. Not: .cache, .git, node_modules, the venv's insides, target/debug.
    let report = default_plan(&sandbox, &[]);
    assert_eq!(home_root(&report, &home)["dirs_searched"], 8, "{report:#}");

    let human = sandbox.prune(&[
        "--grace",
        "0s",
        "--no-default-roots",
        "--root",
        &path_str(&home.join("docs")),
    ]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("Searched 1 root (3 directories), found 0 venvs"),
        "{text}"
    );
}

/// Unmounts on drop, before the sandbox's temp dir is removed.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Mounts a FUSE filesystem whose daemon is already gone at `point`: the mount stays in
/// the table, and any access to it fails ("Transport endpoint is not connected"), as
/// after an `sshfs` crash. `None` (after saying why) where this cannot be done.
fn dead_fuse_mount(point: &Path) -> Option<Mounted> {
    std::fs::create_dir_all(point).unwrap();
    let script = format!(
        "exec 3<>/dev/fuse && mount -t fuse -o fd=3,rootmode=40000,user_id=0,group_id=0 deadfuse '{}'",
        point.display()
    );
    let mounted = Command::new("sh").arg("-c").arg(script).output();
    if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!(
            "note: skipped, cannot mount a FUSE filesystem here (needs root and /dev/fuse): {mounted:?}"
        );
        return None;
    }
    Some(Mounted(point.to_owned()))
}

#[test]
fn a_dead_fuse_mount_in_home_is_listed_but_blocks_only_under_a_chosen_root() {
    let sandbox = Sandbox::new();
    let planted = plant(&sandbox, &[("code/y", "alpha")]);
    sandbox.wheel("beta", "1.0");
    let gone = sandbox.venv("projects/gone", &uv(), LinkMode::Symlink, &["beta"]);
    delete(&gone);
    let beta = sandbox.archive_of("beta", "1.0");
    let remote = sandbox.home().join("remote");
    let Some(_unmount) = dead_fuse_mount(&remote) else {
        return;
    };

    // Under the home nobody chose: named, and beta is still a candidate.
    let (report, stderr) = sandbox.prune_json_and_stderr(&["--grace", "0s"]);
    assert_eq!(live_ids(&report), set([&planted[0].0]), "{report:#}");
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    let home = home_root(&report, &sandbox.home());
    assert_eq!(
        home["not_searched"],
        serde_json::json!([{"path": path_str(&remote), "fstype": "fuse", "class": "fuse"}]),
        "{report:#}"
    );
    assert!(
        stderr.contains(&path_str(&remote)) && !stderr.contains("every archive is kept"),
        "{stderr}"
    );

    // Under a root the user chose, the same mount is a blind spot: everything is kept.
    let home_path = sandbox.home();
    let report = sandbox.plan(&[&home_path]);
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
}

#[test]
fn a_worktree_inside_the_home_is_walked_once_as_itself() {
    let sandbox = Sandbox::new();
    let planted = plant(
        &sandbox,
        &[("proj/.venv", "alpha"), ("notes/.venv", "beta")],
    );
    let proj = sandbox.home().join("proj");
    std::fs::create_dir_all(proj.join(".git")).unwrap();
    let mut cmd = sandbox.prune_cmd(&["--grace", "0s", "--json"]);
    cmd.current_dir(proj.join(".venv"));
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(live_ids(&report), set(planted.iter().map(|(id, _)| id)));
    let worktree = root(&report, &path_str(&proj));
    assert_eq!(worktree["origin"], "worktree", "{report:#}");
    assert_eq!(worktree["venvs"], 1, "{report:#}");
    // The home walk leaves proj to its own walk: ~, notes, notes/.venv.
    let home = home_root(&report, &sandbox.home());
    assert_eq!(home["venvs"], 1, "{report:#}");
    assert_eq!(home["dirs_searched"], 3, "{report:#}");
}
