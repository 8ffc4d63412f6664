//! `--apply` deletes exactly the plan: the dead archives and every pointer naming them, so
//! that uv (both releases) can install the same wheels again afterwards. A leftover `.rev`
//! pointer to a deleted archive makes uv fail ("failed to read directory"), which is why
//! this scenario reinstalls from find-links.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;

/// Every symlink in the pointer buckets (`wheels-v*`, `sdists-v*`, `environments-v*`),
/// with the archive it names.
fn cache_symlinks(cache: &Path) -> Vec<(std::path::PathBuf, String)> {
    walkdir::WalkDir::new(cache)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.file_name() != "archive-v0")
        .filter_map(Result::ok)
        .filter(|e| e.path_is_symlink())
        .map(|e| {
            let id = archive_named_by(e.path());
            (e.into_path(), id)
        })
        .collect()
}

#[test]
fn apply_removes_dead_archives_and_their_pointers_and_uv_still_works() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    let gamma = sandbox.wheel("gamma", "3.0");
    sandbox.publish(&gamma);
    let server = IndexServer::start(&sandbox.index_dir());
    let index = Source::Index(&server.url());

    let keeper = sandbox.venv("projects/keep/.venv", &uv(), LinkMode::Symlink, &["alpha"]);
    for (label, bin) in [("old", uv_old()), ("new", uv())] {
        let local = sandbox.venv(
            &format!("projects/{label}/.venv"),
            &bin,
            LinkMode::Hardlink,
            &["beta"],
        );
        let remote = sandbox.venv_from(
            &format!("projects/{label}-index/.venv"),
            &bin,
            LinkMode::Copy,
            index,
            &["gamma"],
        );
        delete(&local);
        delete(&remote);
    }
    let alpha = sandbox.archive_of("alpha", "1.0");
    let dead: BTreeSet<String> = sandbox
        .all_archives()
        .difference(&set([&alpha]))
        .cloned()
        .collect();
    assert_eq!(
        dead.len(),
        4,
        "beta and gamma, one archive per uv release: {dead:?}"
    );
    let dead_dirs: Vec<_> = dead.iter().map(|id| sandbox.archive_dir(id)).collect();
    let expected_bytes = du_bytes(&dead_dirs);
    let projects_before = snapshot(&sandbox.projects());

    let mut args = plan_args(&[&sandbox.projects()]);
    args.push("--apply".into());
    let report = sandbox.prune_json(&args);
    assert_eq!(report["dry_run"], false);
    assert_eq!(candidate_ids(&report), dead, "{report:#}");
    assert_eq!(report["removed_bytes"], expected_bytes, "{report:#}");

    assert_eq!(
        sandbox.all_archives(),
        set([&alpha]),
        "only the live archive is left"
    );
    let dangling: Vec<_> = cache_symlinks(&sandbox.cache())
        .into_iter()
        .filter(|(_, id)| dead.contains(id))
        .collect();
    assert!(
        dangling.is_empty(),
        "pointers to deleted archives remain: {dangling:?}"
    );
    for ext in ["rev", "http"] {
        for pointer in files_with_extension(&sandbox.cache(), ext) {
            assert!(
                pointer.with_extension("").exists(),
                "{} outlived its archive",
                pointer.display()
            );
        }
    }
    assert_same_snapshot(&projects_before, &snapshot(&sandbox.projects()));
    let keeper_import = std::process::Command::new(keeper.join("bin/python"))
        .args(["-c", "import alpha; print(alpha.VERSION)"])
        .output()
        .expect("run the kept venv");
    assert_eq!(String::from_utf8_lossy(&keeper_import.stdout).trim(), "1.0");

    // Both releases reinstall the deleted wheels from the same sources.
    for (label, bin) in [("old", uv_old()), ("new", uv())] {
        sandbox.venv(
            &format!("projects/{label}-again/.venv"),
            &bin,
            LinkMode::Hardlink,
            &["beta"],
        );
        sandbox.venv_from(
            &format!("projects/{label}-index-again/.venv"),
            &bin,
            LinkMode::Copy,
            index,
            &["gamma"],
        );
    }
}
