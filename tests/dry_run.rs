//! Dry run is the default and must be read-only: after it, every entry of the cache and of
//! the venvs has the same type, size, mode, inode, link count, mtime, link target and
//! content as before, although the plan found something to delete.

mod common;

use common::*;

#[test]
fn a_dry_run_changes_nothing_in_the_cache_or_the_venvs() {
    let sandbox = Sandbox::new();
    for (name, version) in [("alpha", "1.0"), ("beta", "1.0"), ("gamma", "1.0")] {
        sandbox.wheel(name, version);
    }
    let delta = sandbox.wheel("delta", "4.0");
    sandbox.publish(&delta);
    let server = IndexServer::start(&sandbox.index_dir());
    sandbox.venv("projects/hard/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    sandbox.venv("projects/sym/.venv", &uv(), LinkMode::Symlink, &["beta"]);
    let gone = [
        sandbox.venv("projects/gone/.venv", &uv(), LinkMode::Hardlink, &["gamma"]),
        sandbox.venv_from(
            "projects/gone-index/.venv",
            &uv(),
            LinkMode::Hardlink,
            Source::Index(&server.url()),
            &["delta"],
        ),
    ];
    gone.iter().for_each(|venv| delete(venv));

    let before = sandbox.world_snapshot();
    let args = plan_args(&[&sandbox.projects()]);
    let human = sandbox.prune(&args);
    assert!(
        human.status.success(),
        "{}",
        describe(&sandbox.prune_cmd(&args), &human)
    );
    let report = sandbox.prune_json(&args);
    assert_same_snapshot(&before, &sandbox.world_snapshot());

    assert_eq!(report["dry_run"], true);
    let dead = set([
        sandbox.archive_of("gamma", "1.0"),
        sandbox.archive_of("delta", "4.0"),
    ]);
    assert_eq!(
        candidate_ids(&report),
        dead,
        "the plan had work to do: {report:#}"
    );
}
