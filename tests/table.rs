//! A large prune reads as a summary: 300 dead archives real uv unpacked (150 packages, two
//! versions each), shown on a real pseudo-terminal as one row per package, largest first,
//! a screenful at most, then `... and N more packages (X): --all lists every archive`,
//! the result line last; piped output and `--all` list every archive; lines fit the
//! terminal; the progress stage that measures archives moves.

mod common;
#[path = "common/pty.rs"]
mod pty;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use serde_json::Value;
use uv_cache_prune::human_bytes;

const PACKAGES: usize = 150;

/// 150 packages at 1.0 and at 2.0 (sizes spread out), installed by uv into two venvs
/// that are then deleted, and `keeper` in a venv that stays.
fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn big_cache() -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let mut ones = Vec::new();
    let mut twos = Vec::new();
    for i in 0..PACKAGES {
        let name = format!("pkg{i:03}");
        sandbox.wheel_with(&name, "1.0", (i * 7919) % 60_000);
        sandbox.wheel_with(&name, "2.0", (i * 104_729) % 30_000);
        ones.push(format!("{name}==1.0"));
        twos.push(format!("{name}==2.0"));
    }
    sandbox.wheel("keeper", "1.0");
    for (venv, wanted) in [("projects/one", &ones), ("projects/two", &twos)] {
        let venv = sandbox.venv(venv, &uv(), LinkMode::Copy, &refs(wanted));
        delete(&venv);
    }
    sandbox.venv("projects/keep", &uv(), LinkMode::Hardlink, &["keeper==1.0"]);
    let projects = sandbox.projects();
    (sandbox, projects)
}

fn args(root: &std::path::Path, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut args = plan_args(&[root]);
    args.extend(extra.iter().map(Into::into));
    args
}

/// Package totals from the JSON, largest first (ties by name), as the table orders them.
fn package_totals(json: &Value) -> Vec<(String, u64)> {
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for c in json["candidates"].as_array().unwrap() {
        *totals
            .entry(c["name"].as_str().unwrap().to_owned())
            .or_default() += c["bytes"].as_u64().unwrap();
    }
    let mut totals: Vec<(String, u64)> = totals.into_iter().collect();
    totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    totals
}

fn screen_lines(screen: &str) -> Vec<&str> {
    screen.trim_end_matches('\n').lines().collect()
}

#[test]
fn a_large_prune_is_a_screenful_of_packages_on_a_terminal_and_every_archive_piped() {
    let (sandbox, projects) = big_cache();
    let json = sandbox.prune_json(&args(&projects, &[]));
    let ids: Vec<String> = json["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2 * PACKAGES, "{json:#}");
    let total = json["reclaimable_bytes"].as_u64().unwrap();
    let result = format!(
        "Dry run: nothing was deleted. --apply would remove 300 archives and free {}.",
        human_bytes(total)
    );
    let totals = package_totals(&json);

    // Piped: every archive, each package's two under a row with its total; result last.
    let piped = sandbox.prune(&args(&projects, &[]));
    let piped = String::from_utf8(piped.stdout).unwrap();
    for id in &ids {
        assert!(piped.contains(id.as_str()), "{id} not listed:\n{piped}");
    }
    let (name, bytes) = &totals[0];
    assert!(
        piped
            .lines()
            .any(|l| l == format!("{:>10}  {name:<28} 2 archives (total)", human_bytes(*bytes))),
        "{piped}"
    );
    assert_eq!(piped.lines().last(), Some(&*result), "{piped}");

    // A 100x40 terminal: a row per package, largest first, a screenful, then the rest.
    let err = sandbox.path("stderr.txt");
    let cmd = sandbox.prune_cmd(&args(&projects, &["--color", "never"]));
    let shown = pty::run_in_pty(&cmd, 100, 40, None, Some(&err));
    assert_eq!(shown.status, 0, "{}", shown.screen);
    let lines = screen_lines(&shown.screen);
    assert!(
        lines.len() <= 40,
        "{} lines:\n{}",
        lines.len(),
        shown.screen
    );
    assert!(
        lines.iter().all(|l| l.chars().count() <= 100),
        "{}",
        shown.screen
    );
    assert_eq!(lines.last(), Some(&&*result), "{}", shown.screen);
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("SIZE  PACKAGE"))
        .unwrap_or_else(|| panic!("{}", shown.screen));
    let rows: Vec<&str> = lines[header + 1..]
        .iter()
        .take_while(|l| !l.starts_with("... and "))
        .copied()
        .collect();
    assert!(rows.len() >= 10, "{}", shown.screen);
    for (row, (name, bytes)) in rows.iter().zip(&totals) {
        assert_eq!(
            *row,
            format!("{:>10}  {name:<28} {:>8}  1.0, 2.0", human_bytes(*bytes), 2),
            "{}",
            shown.screen
        );
    }
    let rest = &totals[rows.len()..];
    let more = format!(
        "... and {} more packages ({}): --all lists every archive",
        rest.len(),
        human_bytes(rest.iter().map(|(_, b)| b).sum())
    );
    assert_eq!(lines[header + 1 + rows.len()], more, "{}", shown.screen);
    assert!(!shown.screen.contains(ids[0].as_str()), "{}", shown.screen);

    // --all on the terminal lists every archive.
    let cmd = sandbox.prune_cmd(&args(&projects, &["--all", "--color", "never"]));
    let all = pty::run_in_pty(&cmd, 100, 40, None, Some(&err));
    for id in &ids {
        assert!(all.screen.contains(id.as_str()), "{id}:\n{}", all.screen);
    }

    // 60 columns: prose wraps at word boundaries to fit (only a path may be longer).
    let cmd = sandbox.prune_cmd(&args(&projects, &["--color", "never"]));
    let narrow = pty::run_in_pty(&cmd, 60, 40, None, Some(&err));
    for line in screen_lines(&narrow.screen) {
        assert!(
            line.contains('/') || line.chars().count() <= 60,
            "{line:?} is wider than 60:\n{}",
            narrow.screen
        );
    }
    let in_use = narrow
        .screen
        .lines()
        .position(|l| l.starts_with("In use: "))
        .unwrap_or_else(|| panic!("{}", narrow.screen));
    let paragraph: Vec<&str> = narrow.screen.lines().skip(in_use).take(2).collect();
    assert_eq!(
        paragraph,
        [
            "In use: 1 archive (1 hardlink; --explain PACKAGE says which",
            "  venv, environment or lock)."
        ],
        "{}",
        narrow.screen
    );

    // --apply on the terminal: what was freed is the last line, under the table.
    let cmd = sandbox.prune_cmd(&args(&projects, &["--apply", "--color", "never"]));
    let applied = pty::run_in_pty(&cmd, 100, 40, None, Some(&err));
    let lines = screen_lines(&applied.screen);
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("Removed 300 archives and ") && last.contains(" freed (planned "),
        "{}",
        applied.screen
    );
    assert!(lines.len() <= 40, "{}", applied.screen);
}

#[test]
fn the_measuring_stage_moves() {
    let sandbox = Sandbox::new();
    let mut wanted = Vec::new();
    // 60,000 files: measuring them on one thread outlasts a few spinner ticks (80 ms).
    for i in 0..4 {
        let name = format!("many{i:02}");
        sandbox.wheel_with_modules(&name, "1.0", 15_000);
        wanted.push(format!("{name}==1.0"));
    }
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let venv = sandbox.venv("projects/gone", &uv(), LinkMode::Copy, &wanted);
    delete(&venv);
    let projects = sandbox.projects();
    // stdout to a file; stderr, where the bars are, on the terminal.
    let out = sandbox.path("stdout.txt");
    let cmd = sandbox.prune_cmd(&args(&projects, &["--threads", "1"]));
    let shown = pty::run_in_pty(&cmd, 120, 40, Some(&out), None);
    assert_eq!(shown.status, 0, "{}", shown.screen);
    let counts: Vec<u64> = shown
        .screen
        .split("measuring archives")
        .skip(1)
        .filter_map(|after| after.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(
        !counts.is_empty(),
        "no frame of the stage:\n{:?}",
        shown.screen
    );
    assert!(
        counts.iter().any(|n| *n > 0),
        "the stage stayed at 0 in every frame: {counts:?}\n{:?}",
        shown.screen
    );
}
