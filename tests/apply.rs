//! `--apply` deletes exactly the plan: the dead archives and every pointer naming them, so
//! that live venvs of every link mode keep working and uv (both releases) can install the
//! same wheels again afterwards. A leftover `.rev` pointer to a deleted archive makes uv
//! fail ("failed to read directory"), which is why these scenarios reinstall from
//! find-links, and why a pointer whose archive is already gone is removed too.

mod common;

use std::collections::BTreeSet;

use common::*;

/// The pointers in `sandbox`'s cache that name one of `ids`.
fn pointers_to(
    sandbox: &Sandbox,
    known: &BTreeSet<String>,
    ids: &BTreeSet<String>,
) -> Vec<Pointer> {
    cache_pointers(&sandbox.cache(), known)
        .into_iter()
        .filter(|p| ids.contains(&p.id))
        .collect()
}

#[test]
fn apply_removes_dead_archives_and_their_pointers_and_uv_still_works() {
    let sandbox = Sandbox::new();
    for name in ["alpha", "beta", "delta", "epsilon"] {
        sandbox.wheel(name, "1.0");
    }
    let gamma = sandbox.wheel("gamma", "3.0");
    sandbox.publish(&gamma);
    let server = IndexServer::start(&sandbox.index_dir());
    let index = Source::Index(&server.url());

    let keepers = [
        ("alpha", LinkMode::Symlink),
        ("delta", LinkMode::Hardlink),
        ("epsilon", LinkMode::Copy),
    ]
    .map(|(name, mode)| {
        let venv = sandbox.venv(
            &format!("projects/keep-{}/.venv", mode.as_arg()),
            &uv(),
            mode,
            &[name],
        );
        (venv, name)
    });
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
    let live: BTreeSet<String> = keepers
        .iter()
        .map(|(_, name)| sandbox.archive_of(name, "1.0"))
        .collect();
    let known = sandbox.all_archives();
    let dead: BTreeSet<String> = known.difference(&live).cloned().collect();
    assert_eq!(
        dead.len(),
        4,
        "beta and gamma, one archive per uv release: {dead:?}"
    );
    let mut dead_paths: Vec<_> = dead.iter().map(|id| sandbox.archive_dir(id)).collect();
    let dead_pointers = pointers_to(&sandbox, &known, &dead);
    // What goes: the archives and the pointers naming them (a `.http` takes a block).
    dead_paths.extend(dead_pointers.iter().map(|p| p.path.clone()));
    let expected_bytes = du_bytes(&dead_paths);
    assert_eq!(
        dead_pointers.len(),
        8,
        "a symlink and a .rev or .http per dead archive: {dead_pointers:#?}"
    );
    let projects_before = snapshot(&sandbox.projects());

    let report = sandbox.prune_json(&apply_args(&[&sandbox.projects()]));
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["status"], "ok", "{report:#}");
    assert_eq!(candidate_ids(&report), dead, "{report:#}");
    assert_eq!(report["removed_bytes"], expected_bytes, "{report:#}");
    assert_eq!(
        report["removed_pointers"],
        dead_pointers.len(),
        "{report:#}"
    );

    assert_eq!(
        sandbox.all_archives(),
        live,
        "only the live archives are left"
    );
    let left = pointers_to(&sandbox, &known, &dead);
    assert!(
        left.is_empty(),
        "pointers to deleted archives remain: {left:#?}"
    );
    let problems = pointer_problems(&sandbox.cache(), &known);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(trash_entries(&sandbox.cache()).is_empty());
    assert_same_snapshot(&projects_before, &snapshot(&sandbox.projects()));
    for (venv, name) in &keepers {
        sandbox.assert_imports(venv, &[name]);
    }

    // Both releases reinstall the deleted wheels from the same sources.
    for (label, bin) in [("old", uv_old()), ("new", uv())] {
        let local = sandbox.venv(
            &format!("projects/{label}-again/.venv"),
            &bin,
            LinkMode::Hardlink,
            &["beta"],
        );
        let remote = sandbox.venv_from(
            &format!("projects/{label}-index-again/.venv"),
            &bin,
            LinkMode::Copy,
            index,
            &["gamma"],
        );
        sandbox.assert_imports(&local, &["beta"]);
        sandbox.assert_imports(&remote, &["gamma"]);
    }
    // uv's own prune still understands the cache we leave behind.
    sandbox.uv_ok(&uv(), &["cache", "prune"]);
}

#[test]
fn pointers_whose_archive_is_already_gone_are_removed_so_uv_can_reinstall() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    let keeper = sandbox.venv("projects/keep/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    let gone = sandbox.venv("projects/gone/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&gone);
    let known = sandbox.all_archives();
    let beta = sandbox.archive_of("beta", "1.0");
    // Someone (an older pruner, a user) removed the archive but not its pointers.
    delete(&sandbox.archive_dir(&beta));
    let dangling = pointers_to(&sandbox, &known, &set([&beta]));
    assert_eq!(dangling.len(), 2, "a symlink and a .rev: {dangling:#?}");

    // The trap this guards against: uv trusts the .rev and fails.
    sandbox.uv_ok(&uv(), &["venv", "projects/trap/.venv"]);
    let mut install = sandbox.uv_cmd(&uv());
    install
        .args(["pip", "install", "--python", "projects/trap/.venv"])
        .args(["--no-index", "--find-links"])
        .arg(sandbox.wheels())
        .arg("beta");
    let trapped = install.output().expect("run uv pip install");
    assert!(
        !trapped.status.success(),
        "uv reinstalled through a dangling .rev; the premise of this test is gone: {}",
        describe(&install, &trapped)
    );

    let report = sandbox.prune_json(&apply_args(&[&sandbox.projects()]));
    assert_eq!(report["removed_pointers"], 2, "{report:#}");
    let left = cache_pointers(&sandbox.cache(), &known);
    assert!(
        left.iter().all(|p| p.id != beta),
        "dangling pointers remain: {left:#?}"
    );
    assert_eq!(
        sandbox.all_archives(),
        set([sandbox.archive_of("alpha", "1.0")])
    );
    sandbox.assert_imports(&keeper, &["alpha"]);
    let again = sandbox.venv("projects/again/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    sandbox.assert_imports(&again, &["beta"]);
}
