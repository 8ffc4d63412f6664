//! Policies on top of liveness, with the clock set by `UV_CACHE_PRUNE_NOW` (as Cargo's GC
//! tests do): `--unused-for`, `--max-size`, `--keep`, the config file, the root registry,
//! `--explain` and the per-venv view. Liveness always wins; a policy only chooses among
//! dead archives.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;

const DAY: u64 = 86_400;

/// Now, in seconds since the epoch: the start of every scenario's fake timeline.
fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A dry run (`plan_args` plus `extra`) with the clock set to `now`; the JSON report.
fn plan_at(sandbox: &Sandbox, now: u64, roots: &[&Path], extra: &[&str]) -> Value {
    let mut args = plan_args(roots);
    args.extend(extra.iter().map(OsString::from));
    prune_at(sandbox, now, &args)
}

fn prune_at(sandbox: &Sandbox, now: u64, args: &[OsString]) -> Value {
    let mut cmd = sandbox.prune_cmd(args);
    cmd.arg("--json").env("UV_CACHE_PRUNE_NOW", now.to_string());
    let output = cmd.output().expect("run uv-cache-prune");
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", describe(&cmd, &output)))
}

fn policy_of(report: &Value, id: &str) -> String {
    candidate(report, id)["policy"]
        .as_str()
        .expect("policy")
        .to_owned()
}

#[test]
fn unused_for_keeps_a_recently_dead_archive_and_removes_an_old_one() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    let a = sandbox.venv("projects/a/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    let b = sandbox.venv("projects/b/.venv", &uv(), LinkMode::Copy, &["beta"]);
    let (alpha, beta) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    );
    let projects = sandbox.projects();
    let t0 = today();

    // Day 0: both seen live. Alpha's venv goes. Day 25: beta seen live, then its venv goes.
    plan_at(&sandbox, t0, &[&projects], &[]);
    delete(&a);
    plan_at(&sandbox, t0 + 25 * DAY, &[&projects], &[]);
    delete(&b);

    // Day 40: alpha was last used 40 days ago, beta 15.
    let report = plan_at(
        &sandbox,
        t0 + 40 * DAY,
        &[&projects],
        &["--unused-for", "30d"],
    );
    assert_eq!(candidate_ids(&report), set([&alpha]), "{report:#}");
    assert_eq!(policy_of(&report, &alpha), "unused-for");
    assert_eq!(
        evidence_kinds(&report, &beta),
        set(["recently-used"]),
        "{report:#}"
    );
    let last_use = live(&report, &beta)["last_use"].as_u64().expect("last_use");
    assert_eq!(last_use, t0 + 25 * DAY);

    // Without the policy both are simply dead.
    let report = plan_at(&sandbox, t0 + 40 * DAY, &[&projects], &[]);
    assert_eq!(candidate_ids(&report), set([&alpha, &beta]));
    assert_eq!(policy_of(&report, &beta), "dead");
}

#[test]
fn max_size_removes_the_least_recently_used_first_and_stops_at_the_target() {
    let sandbox = Sandbox::new();
    let projects = sandbox.projects();
    let t0 = today();
    let names = ["alpha", "beta", "gamma"];
    let venvs: Vec<_> = names
        .iter()
        .map(|name| {
            sandbox.wheel_with(name, "1.0", 64 * 1024);
            sandbox.venv(
                &format!("projects/{name}/.venv"),
                &uv(),
                LinkMode::Copy,
                &[name],
            )
        })
        .collect();
    let ids: Vec<String> = names.iter().map(|n| sandbox.archive_of(n, "1.0")).collect();
    // Alpha last used on day 0, beta on day 1, gamma on day 2.
    for (day, venv) in venvs.iter().enumerate() {
        plan_at(&sandbox, t0 + day as u64 * DAY, &[&projects], &[]);
        delete(venv);
    }

    let archive_v0 = sandbox.cache().join("archive-v0");
    let total = du_bytes(&[&archive_v0]);
    let size = |id: &str| du_bytes(&[sandbox.archive_dir(id)]);
    // Removing alpha is not enough, alpha and beta is: gamma must stay.
    let target = total - size(&ids[0]) - size(&ids[1]) / 2;
    let report = plan_at(
        &sandbox,
        t0 + 3 * DAY,
        &[&projects],
        &["--max-size", &format!("{target}B")],
    );
    assert_eq!(
        candidate_ids(&report),
        set([&ids[0], &ids[1]]),
        "{report:#}"
    );
    assert_eq!(policy_of(&report, &ids[0]), "max-size");
    assert_eq!(evidence_kinds(&report, &ids[2]), set(["within-size"]));
    // The promise adds the pointers naming them to the archives' own bytes.
    assert_eq!(
        reclaimable_bytes(&report),
        du_with_pointers(&sandbox, &[&ids[0], &ids[1]])
    );

    // A target the cache already meets removes nothing.
    let report = plan_at(
        &sandbox,
        t0 + 3 * DAY,
        &[&projects],
        &["--max-size", &format!("{total}B")],
    );
    assert!(candidate_ids(&report).is_empty(), "{report:#}");

    // A target below what live archives hold: every dead archive goes, and it says so.
    let keeper = sandbox.venv("projects/keeper/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    let report = plan_at(&sandbox, t0 + 3 * DAY, &[&projects], &["--max-size", "1B"]);
    assert_eq!(
        candidate_ids(&report),
        set([&ids[1], &ids[2]]),
        "{report:#}"
    );
    assert!(
        warnings(&report).iter().any(|w| w.contains("--max-size")),
        "{report:#}"
    );
    assert_eq!(warning_kinds(&report), vec!["policy"], "{report:#}");
    sandbox.assert_imports(&keeper, &["alpha"]);
}

#[test]
fn keep_wins_over_every_other_policy_but_never_over_liveness() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    let a = sandbox.venv(
        "projects/a/.venv",
        &uv(),
        LinkMode::Hardlink,
        &["alpha", "beta"],
    );
    let (alpha, beta) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    );
    delete(&a);
    let later = today() + 90 * DAY;
    let projects = sandbox.projects();

    let extra = ["--keep", "Alpha", "--unused-for", "0s", "--max-size", "0"];
    let report = plan_at(&sandbox, later, &[&projects], &extra);
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert_eq!(evidence_kinds(&report, &alpha), set(["keep"]));

    // The same from the config file, with the user's "forget what I haven't used in a
    // month" and a size cap.
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        "keep = [\"alpha\"]\nunused-for = \"30d\"\nmax-size = \"20GiB\"\n",
    )
    .unwrap();
    let report = plan_at(&sandbox, later, &[&projects], &[]);
    assert_eq!(evidence_kinds(&report, &alpha), set(["keep"]), "{report:#}");
    // 20 GiB is far above this cache: beta is dead and old, but the size target spares it.
    assert_eq!(
        evidence_kinds(&report, &beta),
        set(["within-size"]),
        "{report:#}"
    );
    // Flags win over the config.
    let report = plan_at(&sandbox, later, &[&projects], &["--max-size", "0"]);
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert_eq!(policy_of(&report, &beta), "max-size");
}

#[test]
fn a_bad_config_file_is_an_error_naming_it() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.venv("projects/a/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "max-size = \"huge\"\n").unwrap();
    let output = sandbox.prune(&plan_args(&[&sandbox.projects()]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&*config.to_string_lossy()), "{stderr}");
}

/// Runs our binary without `--no-default-roots` (so the registry counts), cwd outside git.
fn default_roots_plan(sandbox: &Sandbox, extra: &[&str]) -> Value {
    let mut args: Vec<OsString> = vec!["--grace".into(), "0s".into()];
    args.extend(extra.iter().map(OsString::from));
    prune_at(sandbox, today(), &args)
}

/// What `roots list` says of an empty registry.
const NO_ROOTS: &str = "No roots registered; `uv-cache-prune roots add DIR` registers one (the git hooks register their repository).";

#[test]
fn a_registered_root_keeps_its_venvs_and_a_vanished_one_is_forgotten() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    let project = sandbox.path("elsewhere/project");
    let venv = sandbox.venv(
        "elsewhere/project/.venv",
        &uv(),
        LinkMode::Symlink,
        &["alpha"],
    );
    let alpha = sandbox.archive_of("alpha", "1.0");

    // Not a root yet: alpha looks dead.
    let report = default_roots_plan(&sandbox, &[]);
    assert_eq!(candidate_ids(&report), set([&alpha]), "{report:#}");

    let report = default_roots_plan(&sandbox, &["--register", &path_str(&project)]);
    assert_eq!(
        evidence_venvs(&report, &alpha),
        [Some(path_str(&venv))].into()
    );
    // Remembered: no flag needed any more.
    let report = default_roots_plan(&sandbox, &[]);
    assert_eq!(
        evidence_kinds(&report, &alpha),
        set(["symlink"]),
        "{report:#}"
    );
    let listed = sandbox
        .bare_prune_cmd()
        .args(["roots", "list"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        path_str(&project)
    );

    // The project is deleted (its filesystem is still here): a dry run says so, and alpha
    // is dead, but forgetting the root is a decision, left to --apply.
    delete(&project);
    let list = || {
        let listed = sandbox
            .bare_prune_cmd()
            .args(["roots", "list"])
            .output()
            .unwrap();
        assert!(listed.status.success());
        String::from_utf8_lossy(&listed.stdout).trim().to_owned()
    };
    let report = default_roots_plan(&sandbox, &[]);
    assert!(
        warnings(&report)
            .iter()
            .any(|w| w.contains(&path_str(&project)) && w.contains("vanished")),
        "{report:#}"
    );
    assert_eq!(candidate_ids(&report), set([&alpha]));
    assert_eq!(list(), format!("{}  (vanished)", path_str(&project)));
    let report = default_roots_plan(&sandbox, &["--apply"]);
    assert!(
        warnings(&report)
            .iter()
            .any(|w| w.contains(&path_str(&project)) && w.contains("forgotten")),
        "{report:#}"
    );
    assert_eq!(list(), NO_ROOTS);
}

#[test]
fn roots_subcommands_add_remove_and_prune() {
    let sandbox = Sandbox::new();
    let (one, two) = (sandbox.path("one"), sandbox.path("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    let roots = |args: &[&str]| {
        let mut cmd = sandbox.bare_prune_cmd();
        cmd.arg("roots").args(args);
        let output = cmd.output().unwrap();
        assert!(output.status.success(), "{}", describe(&cmd, &output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    roots(&["add", &path_str(&one), &path_str(&two)]);
    assert_eq!(
        roots(&["list"]),
        format!("{}\n{}\n", path_str(&one), path_str(&two))
    );
    roots(&["remove", &path_str(&one)]);
    assert_eq!(roots(&["list"]), format!("{}\n", path_str(&two)));
    delete(&two);
    assert!(roots(&["list"]).contains("(vanished)"));
    assert!(roots(&["prune"]).contains(&path_str(&two)));
    assert_eq!(roots(&["list"]).trim(), NO_ROOTS);
}

#[test]
fn explain_names_the_venv_that_keeps_an_archive_and_the_policy_that_removes_one() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("alpha", "2.0");
    let keeper = sandbox.venv(
        "projects/keep/.venv",
        &uv(),
        LinkMode::Hardlink,
        &["alpha==1.0"],
    );
    let gone = sandbox.venv(
        "projects/gone/.venv",
        &uv(),
        LinkMode::Hardlink,
        &["alpha==2.0"],
    );
    delete(&gone);
    let (v1, v2) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("alpha", "2.0"),
    );
    let projects = sandbox.projects();

    let report = plan_at(&sandbox, today(), &[&projects], &["--explain", "alpha"]);
    let explained = report["explain"].as_array().expect("explain");
    let by_id = |id: &str| explained.iter().find(|e| e["id"] == id).expect("explained");
    assert_eq!(explained.len(), 2, "{report:#}");
    assert_eq!(by_id(&v1)["fate"], "keep");
    assert_eq!(by_id(&v1)["evidence"][0]["kind"], "hardlink");
    assert_eq!(by_id(&v1)["evidence"][0]["venv"], path_str(&keeper));
    assert_eq!(by_id(&v2)["fate"], "remove");
    assert_eq!(by_id(&v2)["policy"], "dead");
    assert_eq!(by_id(&v2)["bytes"], du_with_pointers(&sandbox, &[&v2]));

    // The human view says the same in words; an archive id works as the query too.
    let mut args = plan_args(&[&projects]);
    args.extend(["--explain".into(), v1.clone().into()]);
    let output = sandbox.prune(&args);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(&v1) && text.contains(&path_str(&keeper)),
        "{text}"
    );
    assert!(!text.contains(&v2), "{text}");
}

#[test]
fn the_per_venv_figure_is_what_deleting_that_venv_makes_reclaimable() {
    let sandbox = Sandbox::new();
    for name in ["alpha", "beta", "gamma"] {
        sandbox.wheel_with(name, "1.0", 32 * 1024);
    }
    // `a` alone holds alpha (hardlinks); beta is shared with `b`; `c` alone holds gamma
    // (symlinks).
    let a = sandbox.venv(
        "projects/a/.venv",
        &uv(),
        LinkMode::Hardlink,
        &["alpha", "beta"],
    );
    let b = sandbox.venv("projects/b/.venv", &uv(), LinkMode::Copy, &["beta"]);
    let c = sandbox.venv("projects/c/.venv", &uv(), LinkMode::Symlink, &["gamma"]);
    let projects = sandbox.projects();
    let report = plan_at(&sandbox, today(), &[&projects], &["--per-venv"]);
    let share = |venv: &Path| {
        let venvs = report["venvs"].as_array().expect("venvs");
        let share = venvs
            .iter()
            .find(|v| v["venv"] == path_str(venv))
            .expect("venv listed");
        (share["bytes"].as_u64().unwrap(), share["archives"].clone())
    };
    let (a_bytes, a_archives) = share(&a);
    let (b_bytes, _) = share(&b);
    let (c_bytes, c_archives) = share(&c);
    assert_eq!(
        a_archives,
        serde_json::json!([sandbox.archive_of("alpha", "1.0")])
    );
    assert_eq!(b_bytes, 0, "beta is shared with a");
    assert_eq!(
        c_archives,
        serde_json::json!([sandbox.archive_of("gamma", "1.0")])
    );
    assert!(a_bytes > 32 * 1024 && c_bytes > 32 * 1024, "{report:#}");

    delete(&a);
    let after_a = plan_at(&sandbox, today(), &[&projects], &[]);
    assert_eq!(reclaimable_bytes(&after_a), a_bytes, "{after_a:#}");
    delete(&c);
    let after_c = plan_at(&sandbox, today(), &[&projects], &[]);
    assert_eq!(
        reclaimable_bytes(&after_c),
        a_bytes + c_bytes,
        "{after_c:#}"
    );
}

/// `du -sB1` of archives `ids` and every pointer naming them: what removing them frees.
fn du_with_pointers(sandbox: &Sandbox, ids: &[&str]) -> u64 {
    let mut paths: Vec<PathBuf> = ids.iter().map(|id| sandbox.archive_dir(id)).collect();
    paths.extend(
        cache_pointers(&sandbox.cache(), &sandbox.all_archives())
            .into_iter()
            .filter(|p| ids.contains(&p.id.as_str()))
            .map(|p| p.path),
    );
    du_bytes(&paths)
}
