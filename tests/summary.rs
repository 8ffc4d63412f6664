//! What a person reads first: the summary tells archives in use, held back by a policy
//! (which, how many bytes, what releases them) and removable apart, in the human report,
//! the JSON and `doctor`; `--explain` in a dry run says what `--apply` would do, version
//! by version; the result line comes last.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use serde_json::json;
use uv_cache_prune::human_bytes;

fn text(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 report")
}

/// The report with each wrapped paragraph joined back onto one line.
fn unwrapped(text: &str) -> String {
    text.replace("\n  ", " ")
}

/// `--no-default-roots --root <projects>` and `extra`.
fn args<'a>(root: &'a Path, extra: &[&'a str]) -> Vec<&'a std::ffi::OsStr> {
    let mut args: Vec<&std::ffi::OsStr> = vec!["--no-default-roots".as_ref(), "--root".as_ref()];
    args.push(root.as_os_str());
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    args
}

/// Alpha in a venv that stays; beta in one just deleted (`rm -rf oldproj`).
fn one_used_one_gone(sandbox: &Sandbox) -> (String, String) {
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel_with("beta", "1.0", 40_000);
    sandbox.venv("projects/keep", &uv(), LinkMode::Hardlink, &["alpha==1.0"]);
    let old = sandbox.venv(
        "projects/oldproj",
        &uv(),
        LinkMode::Hardlink,
        &["beta==1.0"],
    );
    delete(&old);
    (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    )
}

#[test]
fn an_archive_in_the_grace_window_is_held_back_not_live() {
    let sandbox = Sandbox::new();
    let (_alpha, beta) = one_used_one_gone(&sandbox);
    let projects = sandbox.projects();
    let beta_bytes = du_bytes(&[sandbox.archive_dir(&beta)]);
    let held = human_bytes(beta_bytes);

    // Default grace (1h): beta is not in use, but held back, and the flag is named.
    let report = unwrapped(&text(&sandbox.prune(&args(&projects, &[]))));
    let lines: Vec<&str> = report.lines().collect();
    assert!(
        lines.contains(&"2 archives: 1 in use, 1 held back, 0 removable; 0 B reclaimable."),
        "{report}"
    );
    assert!(
        lines.contains(&&*format!(
            "Held back, not in use: 1 archive; 1 ({held}) by grace: --grace 0s releases them."
        )),
        "{report}"
    );
    assert!(
        lines.contains(&"In use: 1 archive (1 hardlink; --explain PACKAGE says which venv, environment or lock)."),
        "{report}"
    );
    assert!(
        !report.contains(" live"),
        "nothing is called live:\n{report}"
    );
    assert_eq!(
        lines.last().copied(),
        Some("Dry run: nothing was deleted, and --apply would remove nothing."),
        "{report}"
    );

    let json = sandbox.prune_json(&args(&projects, &[]));
    assert_eq!(
        json["archives"],
        json!({"total": 2, "live": 2, "dead": 0, "in_use": 1, "held_back": 1, "in_doubt": 0, "removable": 0}),
        "{json:#}"
    );
    assert_eq!(
        json["held_back"],
        json!({"grace": {"archives": 1, "bytes": beta_bytes, "release": "--grace 0s"}}),
        "{json:#}"
    );

    // --unused-for: held back by that policy, not called recently used and live.
    let json = sandbox.prune_json(&args(&projects, &["--grace", "0s", "--unused-for", "30d"]));
    assert_eq!(json["archives"]["held_back"], 1, "{json:#}");
    assert_eq!(json["held_back"]["unused-for"]["archives"], 1, "{json:#}");
    assert_eq!(
        json["held_back"]["unused-for"]["bytes"], beta_bytes,
        "{json:#}"
    );

    // Released: removable, and the result line, last, says what --apply would do.
    let report = text(&sandbox.prune(&args(&projects, &["--grace", "0s"])));
    let lines: Vec<&str> = report.lines().collect();
    let reclaim = human_bytes(
        candidate(
            &sandbox.prune_json(&args(&projects, &["--grace", "0s"])),
            &beta,
        )["bytes"]
            .as_u64()
            .unwrap(),
    );
    assert!(
        lines.contains(&&*format!(
            "2 archives: 1 in use, 0 held back, 1 removable; {reclaim} reclaimable."
        )),
        "{report}"
    );
    assert_eq!(
        lines.last().copied(),
        Some(&*format!(
            "Dry run: nothing was deleted. --apply would remove 1 archive and free {reclaim}."
        )),
        "{report}"
    );

    // doctor says the same, from the registered root.
    let mut add = sandbox.bare_prune_cmd();
    add.args(["roots", "add"]).arg(&projects);
    text(&add.output().unwrap());
    let doctor = text(&sandbox.bare_prune_cmd().arg("doctor").output().unwrap());
    let line = doctor
        .lines()
        .find(|l| l.starts_with("dry run"))
        .unwrap_or_else(|| panic!("{doctor}"));
    assert_eq!(
        line,
        format!(
            "dry run        2 archives: 1 in use, 1 held back [1 ({held}) by grace, --grace 0s \
             releases them], 0 removable; 0 B reclaimable (`uv-cache-prune` for details)"
        ),
        "{doctor}"
    );
}

#[test]
fn apply_prints_what_was_freed_last() {
    let sandbox = Sandbox::new();
    let (_alpha, beta) = one_used_one_gone(&sandbox);
    let projects = sandbox.projects();
    let report = text(&sandbox.prune(&args(&projects, &["--grace", "0s", "--apply"])));
    let last = report.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Removed 1 archive and ") && last.contains(" freed (planned "),
        "the result line is last:\n{report}"
    );
    assert!(!sandbox.archive_dir(&beta).exists());
}

#[test]
fn explain_in_a_dry_run_says_what_apply_would_do_version_by_version() {
    let sandbox = Sandbox::new();
    let versions = ["1.10", "1.9", "1.0", "1.10.1", "2.0rc1"];
    for (i, version) in versions.iter().enumerate() {
        sandbox.wheel("alpha", version);
        let venv = sandbox.venv(
            &format!("projects/v{i}"),
            &uv(),
            LinkMode::Copy,
            &[&format!("alpha=={version}")],
        );
        delete(&venv);
    }
    let projects = sandbox.projects();
    let json = sandbox.prune_json(&args(&projects, &["--grace", "0s"]));
    let report = text(&sandbox.prune(&args(&projects, &["--grace", "0s", "--explain", "alpha"])));
    let lines: Vec<&str> = report.lines().collect();
    let heads: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("alpha "))
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(
        heads,
        ["1.0", "1.9", "1.10", "1.10.1", "2.0rc1"],
        "{report}"
    );
    for version in ["1.0", "1.9", "1.10", "1.10.1", "2.0rc1"] {
        let id = sandbox.archive_of("alpha", version);
        let bytes = human_bytes(candidate(&json, &id)["bytes"].as_u64().unwrap());
        let at = lines
            .iter()
            .position(|l| l.starts_with(&format!("alpha {version} (archive {id})")))
            .unwrap_or_else(|| panic!("{version}: {report}"));
        assert_eq!(
            lines[at + 1],
            format!("  --apply would remove it (nothing uses it; policy dead), freeing {bytes}"),
            "{report}"
        );
    }
    // The JSON lists them in the same order.
    let explained = sandbox.prune_json(&args(&projects, &["--grace", "0s", "--explain", "alpha"]));
    let order: Vec<&str> = explained["explain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["1.0", "1.9", "1.10", "1.10.1", "2.0rc1"]);
}
