//! Which archives a venv keeps alive, for each way uv can put files into a venv, and how
//! the bytes of the dead ones are counted.

mod common;

use std::path::Path;

use common::*;

/// A sandbox with wheels for `packages` (name, version) already built.
/// `du -sB1` of archive `id` and every pointer naming it: what removing it frees.
fn du_with_pointers(sandbox: &Sandbox, id: &str) -> u64 {
    let cache = sandbox.cache();
    let mut paths = vec![sandbox.archive_dir(id)];
    paths.extend(
        cache_pointers(&cache, &sandbox.all_archives())
            .into_iter()
            .filter(|p| p.id == id)
            .map(|p| p.path),
    );
    du_bytes(&paths)
}

fn sandbox_with(packages: &[(&str, &str)]) -> Sandbox {
    let sandbox = Sandbox::new();
    for (name, version) in packages {
        sandbox.wheel(name, version);
    }
    sandbox
}

#[test]
fn two_venvs_share_alpha_then_both_are_deleted() {
    let sandbox = Sandbox::new();
    // Big enough that a byte count off by a file or a block cannot go unnoticed.
    sandbox.wheel_with("alpha", "1.0", 200 * 1024);
    let a = sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    let b = sandbox.venv("projects/b/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    let alpha = sandbox.archive_of("alpha", "1.0");
    let projects = sandbox.projects();

    delete(&a);
    let report = sandbox.plan(&[&projects]);
    assert_eq!(live_ids(&report), set([&alpha]), "{report:#}");
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert_eq!(
        evidence_venvs_of_kind(&report, &alpha, "hardlink"),
        [Some(path_str(&b))].into()
    );
    assert_eq!(reclaimable_bytes(&report), 0);

    delete(&b);
    let report = sandbox.plan(&[&projects]);
    assert_eq!(candidate_ids(&report), set([&alpha]), "{report:#}");
    assert!(live_ids(&report).is_empty(), "{report:#}");
    assert_eq!(archive_count(&report, "total"), 1);
    assert_eq!(archive_count(&report, "live"), 0);
    assert_eq!(archive_count(&report, "dead"), 1);
    let expected = du_with_pointers(&sandbox, &alpha);
    assert_eq!(reclaimable_bytes(&report), expected, "{report:#}");
    assert_eq!(candidate(&report, &alpha)["bytes"], expected);
    assert_eq!(candidate(&report, &alpha)["name"], "alpha");
    assert_eq!(candidate(&report, &alpha)["version"], "1.0");
}

#[test]
fn each_link_mode_leaves_its_own_evidence() {
    let sandbox = sandbox_with(&[("alpha", "1.0"), ("beta", "1.0"), ("gamma", "1.0")]);
    let cases = [
        ("alpha", LinkMode::Hardlink, "hardlink"),
        ("beta", LinkMode::Symlink, "symlink"),
        ("gamma", LinkMode::Copy, "content"),
    ];
    let venvs: Vec<_> = cases
        .iter()
        .map(|(name, mode, _)| {
            let rel = format!("projects/{}/.venv", mode.as_arg());
            sandbox.venv(&rel, &uv(), *mode, &[name])
        })
        .collect();

    let report = sandbox.plan(&[&sandbox.projects()]);
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert_eq!(live_ids(&report), sandbox.all_archives());
    for ((name, _, kind), venv) in cases.iter().zip(&venvs) {
        let id = sandbox.archive_of(name, "1.0");
        assert_eq!(
            evidence_kinds(&report, &id),
            set([kind]),
            "{name}: {report:#}"
        );
        assert_eq!(
            evidence_venvs(&report, &id),
            [Some(path_str(venv))].into(),
            "{name}"
        );
    }
}

#[test]
fn a_copy_of_alpha_1_does_not_keep_alpha_2() {
    let sandbox = sandbox_with(&[("alpha", "1.0"), ("alpha", "2.0")]);
    let old = sandbox.venv("projects/old/.venv", &uv(), LinkMode::Copy, &["alpha==2.0"]);
    let current = sandbox.venv(
        "projects/current/.venv",
        &uv(),
        LinkMode::Copy,
        &["alpha==1.0"],
    );
    delete(&old);

    let report = sandbox.plan(&[&sandbox.projects()]);
    let (v1, v2) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("alpha", "2.0"),
    );
    assert_eq!(live_ids(&report), set([&v1]), "{report:#}");
    assert_eq!(candidate_ids(&report), set([&v2]), "{report:#}");
    assert_eq!(evidence_kinds(&report, &v1), set(["content"]));
    assert_eq!(
        evidence_venvs(&report, &v1),
        [Some(path_str(&current))].into()
    );
}

#[test]
fn a_hardlinked_venv_outside_every_root_keeps_its_archive_by_link_count() {
    let sandbox = sandbox_with(&[("alpha", "1.0"), ("beta", "1.0")]);
    sandbox.venv("elsewhere/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    let gone = sandbox.venv("projects/gone/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&gone);

    let report = sandbox.plan(&[&sandbox.projects()]);
    let (alpha, beta) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    );
    assert_eq!(live_ids(&report), set([&alpha]), "{report:#}");
    assert_eq!(evidence_kinds(&report, &alpha), set(["nlink"]));
    assert_eq!(evidence_venvs(&report, &alpha), [None].into());
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    // Only beta's bytes (and its pointers') are reclaimable: alpha's files are shared
    // with the outside venv.
    assert_eq!(
        reclaimable_bytes(&report),
        du_with_pointers(&sandbox, &beta)
    );
}

#[test]
fn a_fresh_dead_archive_is_kept_by_the_default_grace_period() {
    let sandbox = sandbox_with(&[("alpha", "1.0")]);
    let venv = sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    delete(&venv);
    let alpha = sandbox.archive_of("alpha", "1.0");
    let projects: &Path = &sandbox.projects();

    let report = sandbox.prune_json(&[
        "--no-default-roots".as_ref(),
        "--root".as_ref(),
        projects.as_os_str(),
    ]);
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert_eq!(
        evidence_kinds(&report, &alpha),
        set(["grace"]),
        "{report:#}"
    );
    assert_eq!(reclaimable_bytes(&report), 0);
}

#[test]
fn an_archive_id_starting_with_a_dash_is_an_archive_like_any_other() {
    // uv's ids use the alphabet [A-Za-z0-9_-], so one in 64 starts with '-'.
    let sandbox = sandbox_with(&[("alpha", "1.0"), ("beta", "1.0")]);
    sandbox.venv("projects/keep/.venv", &uv(), LinkMode::Symlink, &["beta"]);
    let gone = sandbox.venv("projects/gone/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    delete(&gone);
    let (old, beta_old) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    );
    let alpha = format!("-{}", &old[1..]);
    let beta = format!("-{}", &beta_old[..beta_old.len() - 1]);
    sandbox.rename_archive(&old, &alpha);
    sandbox.rename_archive(&beta_old, &beta);

    let report = sandbox.plan(&[&sandbox.projects()]);
    assert_eq!(candidate_ids(&report), set([&alpha]), "{report:#}");
    assert_eq!(live_ids(&report), set([&beta]), "{report:#}");
    assert_eq!(
        reclaimable_bytes(&report),
        du_with_pointers(&sandbox, &alpha)
    );
}
