//! One cache shared by two uv releases with different bucket versions (`wheels-v6` from
//! 0.12.5, `wheels-v8` from 0.13.9) and pointer formats (map vs array `Archive`, `.rev`
//! from find-links vs `.http` from an index). Each release unpacks its own archives; the
//! pruner must read both generations and tell whose venvs are gone.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;

/// What one uv release left behind: its venvs and the archives it created.
struct Generation {
    venvs: Vec<PathBuf>,
    archives: BTreeSet<String>,
}

/// Installs `alpha` from find-links and `gamma` from the index with `bin`, each into its
/// own venv, and records which archives appeared (ground truth by set difference).
fn install_generation(sandbox: &Sandbox, label: &str, bin: &Path, index_url: &str) -> Generation {
    let before = sandbox.all_archives();
    let venvs = vec![
        sandbox.venv(
            &format!("projects/{label}-local/.venv"),
            bin,
            LinkMode::Hardlink,
            &["alpha"],
        ),
        sandbox.venv_from(
            &format!("projects/{label}-index/.venv"),
            bin,
            LinkMode::Hardlink,
            Source::Index(index_url),
            &["gamma"],
        ),
    ];
    let archives: BTreeSet<String> = sandbox
        .all_archives()
        .difference(&before)
        .cloned()
        .collect();
    assert_eq!(
        archives.len(),
        2,
        "{label} unpacked alpha and gamma: {archives:?}"
    );
    Generation { venvs, archives }
}

/// Both releases install the same two wheels, then one release's venvs are deleted.
fn delete_one_generation(delete_old: bool) {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    let gamma = sandbox.wheel("gamma", "3.0");
    sandbox.publish(&gamma);
    let server = IndexServer::start(&sandbox.index_dir());

    let old = install_generation(&sandbox, "old", &uv_old(), &server.url());
    let new = install_generation(&sandbox, "new", &uv(), &server.url());
    for bucket in ["wheels-v6", "wheels-v8"] {
        let dir = sandbox.cache().join(bucket);
        for ext in ["rev", "http"] {
            let pointers = files_with_extension(&dir, ext);
            assert_eq!(pointers.len(), 1, "one .{ext} in {bucket}: {pointers:?}");
        }
    }

    let (gone, kept) = if delete_old { (old, new) } else { (new, old) };
    gone.venvs.iter().for_each(|venv| delete(venv));

    let report = sandbox.plan(&[&sandbox.projects()]);
    assert_eq!(candidate_ids(&report), gone.archives, "{report:#}");
    assert_eq!(live_ids(&report), kept.archives, "{report:#}");
    let mut gone_paths: Vec<_> = gone
        .archives
        .iter()
        .map(|id| sandbox.archive_dir(id))
        .collect();
    // The promise counts the pointers naming them too.
    gone_paths.extend(
        cache_pointers(&sandbox.cache(), &sandbox.all_archives())
            .into_iter()
            .filter(|p| gone.archives.contains(&p.id))
            .map(|p| p.path),
    );
    assert_eq!(
        reclaimable_bytes(&report),
        du_bytes(&gone_paths),
        "{report:#}"
    );
}

#[test]
fn venvs_of_uv_0_12_are_deleted_so_its_archives_are_the_candidates() {
    delete_one_generation(true);
}

#[test]
fn venvs_of_uv_0_13_are_deleted_so_its_archives_are_the_candidates() {
    delete_one_generation(false);
}
