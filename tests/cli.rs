//! The command-line contract from docs/architecture.md: help, exit codes (0 done, 1 runtime error with
//! a one-line cause naming the path, 2 bad usage) and the shape of `--json` schema 1.

mod common;

use std::process::Output;

use common::*;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_exits_0_and_mentions_apply() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .bare_prune_cmd()
        .arg("--help")
        .output()
        .expect("run --help");
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("--apply"));
}

#[test]
fn an_unknown_flag_is_bad_usage() {
    let sandbox = Sandbox::new();
    let output = sandbox.prune(&["--frobnicate"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn a_bad_duration_is_bad_usage() {
    let sandbox = Sandbox::new();
    let output = sandbox.prune(&["--grace", "soon"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn a_directory_that_is_not_a_uv_cache_is_refused() {
    let sandbox = Sandbox::new();
    let not_a_cache = sandbox.path("not-a-cache");
    std::fs::create_dir_all(not_a_cache.join("archive-v0")).expect("create dir");
    std::fs::write(not_a_cache.join("notes.txt"), "precious").expect("write");
    let mut cmd = sandbox.bare_prune_cmd();
    cmd.arg("--cache-dir").arg(&not_a_cache).arg("--apply");
    let output = cmd.output().expect("run uv-cache-prune");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&cmd, &output));
    let message = stderr(&output);
    assert_eq!(message.trim().lines().count(), 1, "one line: {message}");
    assert!(
        message.contains(&path_str(&not_a_cache)),
        "names the path: {message}"
    );
    assert!(not_a_cache.join("notes.txt").exists());
}

#[test]
fn a_cache_dir_that_does_not_exist_yet_means_nothing_to_do() {
    // From UV_CACHE_DIR: uv makes its cache lazily. (`--cache-dir` at a missing directory
    // is a typo, bad usage: tests/typos.rs.)
    let sandbox = Sandbox::new();
    let missing = sandbox.path("no-such-cache");
    let mut cmd = sandbox.bare_prune_cmd();
    cmd.env("UV_CACHE_DIR", &missing);
    let output = cmd.output().expect("run uv-cache-prune");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&cmd, &output));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    assert!(said.contains(&path_str(&missing)), "names the path: {said}");
    assert!(!missing.exists(), "a dry run creates nothing");
}

#[test]
fn the_json_report_has_the_schema_1_shape() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    let gone = sandbox.venv("projects/gone/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&gone);

    let projects = sandbox.projects();
    let report = sandbox.plan(&[&projects]);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["cache_dir"], path_str(&sandbox.cache()));
    assert_eq!(report["dry_run"], true);
    assert_eq!(archive_count(&report, "total"), 2);
    assert_eq!(archive_count(&report, "live"), 1);
    assert_eq!(archive_count(&report, "dead"), 1);
    assert!(
        report.get("removed_bytes").is_none_or(|b| b.is_null()),
        "dry run: {report:#}"
    );
    let beta = sandbox.archive_of("beta", "1.0");
    for key in ["id", "name", "version", "bytes"] {
        assert!(
            !candidate(&report, &beta)[key].is_null(),
            "candidate {key}: {report:#}"
        );
    }
    let alpha = sandbox.archive_of("alpha", "1.0");
    assert_eq!(live(&report, &alpha)["name"], "alpha");
    assert_eq!(live(&report, &alpha)["version"], "1.0");
    let root = root(&report, &path_str(&projects));
    assert_eq!(root["venvs"], 1, "{report:#}");
    assert_eq!(root["unreadable"], serde_json::json!([]), "{report:#}");
}

#[test]
fn nothing_to_do_is_success() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    let report = sandbox.plan(&[&sandbox.projects()]);
    assert!(candidate_ids(&report).is_empty());
    assert_eq!(reclaimable_bytes(&report), 0);

    let args = plan_args(&[&sandbox.projects()]);
    let output = sandbox.prune(&[args.as_slice(), &["--apply".into()]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        sandbox.all_archives(),
        set([sandbox.archive_of("alpha", "1.0")])
    );
}

/// Every subcommand's `--help` ends with examples, as the top level's does, each a command
/// line of that subcommand.
#[test]
fn every_subcommand_help_has_examples() {
    let sandbox = Sandbox::new();
    let cases: [(&[&str], &str); 9] = [
        (
            &["roots"],
            "  uv-cache-prune roots add ~/src ~/work   # search these on every run, like --root\n",
        ),
        (&["roots", "list"], "  uv-cache-prune roots list\n"),
        (
            &["roots", "add"],
            "  uv-cache-prune roots add ~/src ~/work  # search both on every run\n",
        ),
        (
            &["roots", "remove"],
            "  uv-cache-prune roots remove ~/work\n",
        ),
        (
            &["roots", "prune"],
            "  uv-cache-prune roots prune  # after deleting old projects\n",
        ),
        (
            &["install-hooks"],
            "  uv-cache-prune install-hooks --uninstall           # restore the hooks they replaced\n",
        ),
        (
            &["doctor"],
            "  uv-cache-prune doctor                   # the cache, the config, the hooks, what a prune frees\n",
        ),
        (
            &["df"],
            "  uv-cache-prune df --unused-for 30d      # what a prune with that policy would free\n",
        ),
        (
            &["generate-shell-completion"],
            "  uv-cache-prune generate-shell-completion zsh > ~/.zfunc/_uv-cache-prune\n",
        ),
    ];
    for (sub, example) in cases {
        let output = sandbox
            .bare_prune_cmd()
            .args(sub)
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{sub:?}");
        let help = String::from_utf8_lossy(&output.stdout);
        let examples = help
            .split_once("\nExample")
            .map(|(_, rest)| rest)
            .unwrap_or_else(|| panic!("{sub:?} --help has no examples:\n{help}"));
        assert!(examples.contains(example), "{sub:?}: {help}");
    }
}

#[test]
fn explain_takes_an_archive_id_that_starts_with_a_dash() {
    // uv draws ids from the URL-safe base64 alphabet: one in 64 starts with `-`.
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    let venv = sandbox.venv("projects/gone", &uv(), LinkMode::Hardlink, &["alpha"]);
    delete(&venv);
    let old = sandbox.archive_of("alpha", "1.0");
    let id = format!("-{}", &old[1..]);
    sandbox.rename_archive(&old, &id);
    let output = sandbox.prune(&["--grace", "0s", "--explain", &id]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with(&format!("alpha 1.0 (archive {id})")),
        "{stdout}"
    );
}
