//! Lock files as evidence, and CI mode (`--only-locked`), with real uv, real `uv.lock`
//! files and a loopback index that publishes digests the way PyPI does.
//!
//! A project whose `.venv` is gone still needs what its `uv.lock` names: the next
//! `uv sync` links those archives. And a CI cache should keep exactly what the current
//! lock needs: after `--only-locked uv.lock --apply`, `uv sync --offline --frozen` must
//! still work, and nothing else may be left.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::locked::*;
use common::uv_bin::uv_0_10;
use common::*;
use serde_json::Value;

/// The packages every scenario's index serves: wheels with digests, plus the sdist-only
/// `delta`.
struct World {
    sandbox: Sandbox,
    server: IndexServer,
}

impl World {
    fn new() -> World {
        let sandbox = Sandbox::new();
        for (name, version) in [
            ("alpha", "1.0"),
            ("alpha", "2.0"),
            ("gamma", "1.0"),
            ("omega", "1.0"),
        ] {
            let wheel = sandbox.wheel(name, version);
            publish_hashed(&sandbox, name, &wheel);
        }
        let delta = sdist(&sandbox, "delta", "1.0");
        publish_hashed(&sandbox, "delta", &delta);
        let server = IndexServer::start(&sandbox.index_dir());
        World { sandbox, server }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    /// `<projects>/<name>`, a project depending on `deps`, synced by `bin`.
    fn project(&self, bin: &Path, name: &str, deps: &[String]) -> PathBuf {
        let dir = self.sandbox.projects().join(name);
        write_project(&dir, name, deps, "");
        sync(&self.sandbox, bin, &dir, &self.url());
        dir
    }

    fn archive(&self, name: &str, version: &str) -> String {
        self.sandbox.archive_of(name, version)
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The `(kind, path)` of every piece of evidence keeping `id`.
fn evidence_paths(report: &Value, id: &str) -> BTreeSet<(String, Option<String>)> {
    live(report, id)["evidence"]
        .as_array()
        .unwrap_or_else(|| panic!("no evidence for {id}: {report:#}"))
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["path"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn only_lockfile(lock: &Path) -> BTreeSet<(String, Option<String>)> {
    BTreeSet::from([("lockfile".to_owned(), Some(path_str(lock)))])
}

/// `--only-locked <lock>...` `--json` `extra...`, without `--grace`.
fn only_locked_args(locks: &[&Path], extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    for lock in locks {
        args.push("--only-locked".into());
        args.push(lock.as_os_str().to_owned());
    }
    args.extend(extra.iter().map(Into::into));
    args
}

#[test]
fn a_project_whose_venv_was_deleted_keeps_what_its_lock_names() {
    let world = World::new();
    let sandbox = &world.sandbox;
    let dirpkg = source_tree(sandbox, "dirpkg", "0.3");
    let app = world.project(
        &uv(),
        "app",
        &[
            "alpha==1.0".into(),
            "gamma".into(),
            "delta".into(),
            format!("dirpkg @ file://{}", dirpkg.display()),
        ],
    );
    let gone = world.project(&uv(), "gone", &strings(&["omega"]));
    delete(&app.join(".venv"));
    delete(&gone);
    let lock = app.join("uv.lock");
    let locked = set([
        world.archive("alpha", "1.0"),
        world.archive("gamma", "1.0"),
        world.archive("delta", "1.0"),
        world.archive("dirpkg", "0.3"),
    ]);
    let omega = world.archive("omega", "1.0");

    let report = sandbox.plan(&[&sandbox.projects()]);
    assert_eq!(live_ids(&report), locked, "{report:#}");
    assert_eq!(candidate_ids(&report), set([&omega]), "{report:#}");
    assert_eq!(root(&report, &path_str(&sandbox.projects()))["locks"], 1);
    for id in &locked {
        assert_eq!(evidence_paths(&report, id), only_lockfile(&lock), "{id}");
    }

    // --explain names the lock too.
    let explain = sandbox.prune(&[
        "--grace",
        "0s",
        "--no-default-roots",
        "--root",
        &path_str(&sandbox.projects()),
        "--explain",
        "delta",
    ]);
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(explain.status.success(), "{text}");
    assert!(
        text.contains("lockfile") && text.contains(&path_str(&lock)),
        "{text}"
    );

    // --ignore-locks: the lock proves nothing, everything is a candidate.
    let mut args = plan_args(&[&sandbox.projects()]);
    args.push("--ignore-locks".into());
    let ignored = sandbox.prune_json(&args);
    let mut everything = locked.clone();
    everything.insert(omega.clone());
    assert_eq!(candidate_ids(&ignored), everything, "{ignored:#}");

    // Applying removes only the deleted project's archive, and the project syncs offline.
    let applied = sandbox.prune_json(&apply_args(&[&sandbox.projects()]));
    assert_eq!(candidate_ids(&applied), set([&omega]), "{applied:#}");
    assert_eq!(sandbox.all_archives(), locked);
    assert_eq!(
        pointer_problems(&sandbox.cache(), &locked),
        Vec::<String>::new()
    );
    sync_offline(sandbox, &uv(), &app);
    sandbox.assert_imports(&app.join(".venv"), &["alpha", "gamma", "delta", "dirpkg"]);
}

#[test]
fn the_config_can_turn_lock_evidence_off() {
    let world = World::new();
    let sandbox = &world.sandbox;
    let app = world.project(&uv(), "app", &strings(&["alpha==1.0"]));
    delete(&app.join(".venv"));
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "ignore-locks = true\n").unwrap();
    let report = sandbox.plan(&[&sandbox.projects()]);
    assert_eq!(
        candidate_ids(&report),
        set([world.archive("alpha", "1.0")]),
        "{report:#}"
    );
}

#[test]
fn only_locked_keeps_exactly_the_upgraded_lock_and_it_syncs_offline() {
    let world = World::new();
    let sandbox = &world.sandbox;
    let app = world.project(&uv(), "app", &strings(&["alpha==1.0", "delta"]));
    let old_alpha = world.archive("alpha", "1.0");
    // The dependency bump of a weekly CI run: a new lock, a new archive.
    write_project(&app, "app", &strings(&["alpha==2.0", "delta"]), "");
    sync(sandbox, &uv(), &app, &world.url());
    // A live venv elsewhere: CI mode does not consult venvs.
    let other = sandbox.venv_from(
        "projects/other/.venv",
        &uv(),
        LinkMode::Hardlink,
        Source::Index(&world.url()),
        &["omega"],
    );
    let lock = app.join("uv.lock");
    let needed = set([world.archive("alpha", "2.0"), world.archive("delta", "1.0")]);
    let omega = world.archive("omega", "1.0");

    let dry = sandbox.prune_json(&only_locked_args(&[&lock], &[]));
    assert_eq!(live_ids(&dry), needed, "{dry:#}");
    // No root walked; the report names the lock instead.
    assert_eq!(dry["roots"], serde_json::json!([]), "{dry:#}");
    assert_eq!(dry["only_locked"], serde_json::json!([path_str(&lock)]));
    assert_eq!(candidate_ids(&dry), set([&old_alpha, &omega]), "{dry:#}");
    for id in &needed {
        assert_eq!(evidence_paths(&dry, id), only_lockfile(&lock), "{id}");
    }

    // No --grace: archives made a second ago go (the CI job made everything just now).
    let applied = sandbox.prune_json(&only_locked_args(&[&lock], &["--apply"]));
    assert_eq!(
        candidate_ids(&applied),
        set([&old_alpha, &omega]),
        "{applied:#}"
    );
    assert_eq!(sandbox.all_archives(), needed);
    assert_eq!(
        pointer_problems(&sandbox.cache(), &needed),
        Vec::<String>::new()
    );
    delete(&app.join(".venv"));
    sync_offline(sandbox, &uv(), &app);
    sandbox.assert_imports(&app.join(".venv"), &["alpha", "delta"]);
    assert!(other.exists());
}

#[test]
fn only_locked_with_grace_keeps_what_is_recent() {
    let world = World::new();
    let sandbox = &world.sandbox;
    let app = world.project(&uv(), "app", &strings(&["alpha==1.0"]));
    let _gone = world.project(&uv(), "gone", &strings(&["omega"]));
    let lock = app.join("uv.lock");
    let dry = sandbox.prune_json(&only_locked_args(&[&lock], &["--grace", "1h"]));
    assert_eq!(candidate_ids(&dry), BTreeSet::new(), "{dry:#}");
    let omega = world.archive("omega", "1.0");
    assert!(evidence_kinds(&dry, &omega).contains("grace"), "{dry:#}");
}

#[test]
fn only_locked_keeps_a_workspace_and_its_members() {
    let world = World::new();
    let sandbox = &world.sandbox;
    let ws = sandbox.projects().join("ws");
    write_source_tree(&ws.join("packages/member"), "member", "0.6", &["gamma"]);
    write_project(
        &ws,
        "ws",
        &strings(&["alpha==2.0", "member"]),
        "\n[tool.uv.workspace]\nmembers = [\"packages/*\"]\n\n[tool.uv.sources]\nmember = { workspace = true }\n",
    );
    sync(sandbox, &uv(), &ws, &world.url());
    let _gone = world.project(&uv(), "gone", &strings(&["alpha==1.0"]));
    let old_alpha = world.archive("alpha", "1.0");
    let lock = ws.join("uv.lock");
    let needed = set([
        world.archive("alpha", "2.0"),
        world.archive("gamma", "1.0"),
        world.archive("member", "0.6"),
    ]);

    let applied = sandbox.prune_json(&only_locked_args(&[&lock], &["--apply"]));
    assert_eq!(candidate_ids(&applied), set([old_alpha]), "{applied:#}");
    assert_eq!(sandbox.all_archives(), needed);
    delete(&ws.join(".venv"));
    sync_offline(sandbox, &uv(), &ws);
    sandbox.assert_imports(&ws.join(".venv"), &["alpha", "gamma", "member"]);
}

#[test]
fn only_locked_reads_pointers_uv_0_10_wrote() {
    let world = World::new();
    let sandbox = &world.sandbox;
    let old = uv_0_10();
    let app = world.project(&old, "app", &strings(&["alpha==1.0", "delta"]));
    let _gone = world.project(&old, "gone", &strings(&["alpha==2.0", "omega"]));
    // uv 0.10 writes `Archive` as a 4-element array: msgpack fixarray 0x94.
    let pointers = files_with_extension(&sandbox.cache().join("wheels-v6"), "http");
    assert!(!pointers.is_empty());
    for pointer in &pointers {
        let bytes = std::fs::read(pointer).unwrap();
        assert_eq!(bytes.first(), Some(&0x94), "{}", pointer.display());
    }
    let lock = app.join("uv.lock");
    let needed = set([world.archive("alpha", "1.0"), world.archive("delta", "1.0")]);
    let dead = set([world.archive("alpha", "2.0"), world.archive("omega", "1.0")]);
    let applied = sandbox.prune_json(&only_locked_args(&[&lock], &["--apply"]));
    assert_eq!(candidate_ids(&applied), dead, "{applied:#}");
    assert_eq!(sandbox.all_archives(), needed);
    delete(&app.join(".venv"));
    sync_offline(sandbox, &old, &app);
    sandbox.assert_imports(&app.join(".venv"), &["alpha", "delta"]);
}

#[test]
fn a_lock_that_does_not_parse_keeps_every_archive_of_the_names_it_mentions() {
    let world = World::new();
    let sandbox = &world.sandbox;
    let app = world.project(&uv(), "app", &strings(&["alpha==1.0", "gamma"]));
    let _other = world.project(&uv(), "other", &strings(&["alpha==2.0", "omega"]));
    delete(&app.join(".venv"));
    delete(&sandbox.projects().join("other"));
    let lock = app.join("uv.lock");
    let mut text = std::fs::read_to_string(&lock).unwrap();
    text.push_str("\n[[package\n");
    std::fs::write(&lock, text).unwrap();

    let (report, stderr) = sandbox.prune_json_and_stderr(&plan_args(&[&sandbox.projects()]));
    // Every alpha, whatever the version: the lock can no longer say which one.
    let kept = set([
        world.archive("alpha", "1.0"),
        world.archive("alpha", "2.0"),
        world.archive("gamma", "1.0"),
    ]);
    assert_eq!(live_ids(&report), kept, "{report:#}");
    assert_eq!(candidate_ids(&report), set([world.archive("omega", "1.0")]));
    assert!(
        stderr.contains(&path_str(&lock)) && stderr.contains("cannot parse"),
        "{stderr}"
    );
    assert_eq!(warning_kinds(&report), vec!["lockfile"], "{report:#}");

    // In CI mode a lock that cannot be read is an error: nothing is deleted.
    let before = sandbox.world_snapshot();
    let output = sandbox.prune(&only_locked_args(&[&lock], &["--apply"]));
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&path_str(&lock)), "{stderr}");
    assert_same_snapshot(&before, &sandbox.world_snapshot());
}

#[test]
fn only_locked_with_a_missing_lock_deletes_nothing() {
    let world = World::new();
    let sandbox = &world.sandbox;
    let _app = world.project(&uv(), "app", &strings(&["alpha==1.0"]));
    let missing = sandbox.projects().join("nowhere/uv.lock");
    let before = sandbox.world_snapshot();
    let output = sandbox.prune(&only_locked_args(&[&missing], &["--apply"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A lock file named on the command line that is not there is a typo: bad usage.
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&path_str(&missing)), "{stderr}");
    assert_same_snapshot(&before, &sandbox.world_snapshot());
}

#[test]
fn a_lock_that_cannot_be_read_keeps_every_archive() {
    let world = World::new();
    let sandbox = &world.sandbox;
    let app = world.project(&uv(), "app", &strings(&["alpha==1.0"]));
    let _gone = world.project(&uv(), "gone", &strings(&["omega"]));
    delete(&app.join(".venv"));
    delete(&sandbox.projects().join("gone"));
    let lock = app.join("uv.lock");
    set_mode(&lock, 0o000);
    let Some(report) = sandbox.plan_with_permissions_enforced(&[&sandbox.projects()]) else {
        return;
    };
    set_mode(&lock, 0o644);
    // It may name anything: nothing is a candidate, and the warning says which file.
    assert_eq!(candidate_ids(&report), BTreeSet::new(), "{report:#}");
    assert_eq!(live_ids(&report), sandbox.all_archives());
    let warnings = warnings(&report);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(&path_str(&lock)) && w.contains("every archive is kept")),
        "{warnings:?}"
    );
    // Classified for scripts: one warning, an unreadable file.
    assert_eq!(warning_kinds(&report), vec!["unreadable"], "{warnings:?}");
}
