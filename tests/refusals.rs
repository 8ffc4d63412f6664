//! Where `--apply` must delete nothing, whatever else the flags say: a directory that is
//! not a uv cache (no signature, a tag and nothing uv writes, a symlink to something else, an
//! `archive-v0` that is a symlink), `/`, the home directory, and any cache while part of a
//! root is unreadable (a venv may hide there).
//!
//! Each refusal is exit 1 with one line naming the path, and the proof that nothing was
//! deleted is a full snapshot of the sandbox before and after, not the tool's own word.
//! Every scenario holds a dead archive that an accepted `--apply` would delete.

mod common;

use std::path::Path;

use common::*;

/// A real uv cache with one dead archive, alpha's, which the dry run lists as a candidate.
fn sandbox_with_a_dead_archive() -> (Sandbox, String) {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    let venv = sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    delete(&venv);
    let alpha = sandbox.archive_of("alpha", "1.0");
    let report = sandbox.plan(&[&sandbox.projects()]);
    assert_eq!(
        candidate_ids(&report),
        set([&alpha]),
        "an apply would delete it: {report:#}"
    );
    (sandbox, alpha)
}

/// Runs `--apply --json --cache-dir <cache_dir>` (plus `env` overrides) and asserts a
/// refusal: exit 1, nothing on stdout, one line on stderr naming `named`, and not one entry
/// anywhere in the sandbox added, removed or changed.
fn assert_apply_refused(sandbox: &Sandbox, cache_dir: &Path, env: &[(&str, &Path)], named: &Path) {
    let before = snapshot(sandbox.dir());
    let mut cmd = sandbox.prune_cmd_at(cache_dir, &apply_args(&[&sandbox.projects()]));
    cmd.arg("--json");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let output = cmd.output().expect("run uv-cache-prune");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&cmd, &output));
    assert!(output.stdout.is_empty(), "{}", describe(&cmd, &output));
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&path_str(named)),
        "does not name {}: {stderr}",
        named.display()
    );
    assert_same_snapshot(&before, &snapshot(sandbox.dir()));
}

#[test]
fn a_cache_without_the_uv_signature_is_refused() {
    let (sandbox, _) = sandbox_with_a_dead_archive();
    let cache = sandbox.cache();
    let tag = cache.join("CACHEDIR.TAG");
    std::fs::write(&tag, "Signature: 00000000000000000000000000000000\n").expect("write tag");
    assert_apply_refused(&sandbox, &cache, &[], &cache);
    std::fs::remove_file(&tag).expect("remove tag");
    assert_apply_refused(&sandbox, &cache, &[], &cache);
}

#[test]
fn a_cache_without_archive_v0_deletes_nothing_and_creates_nothing() {
    let (sandbox, _) = sandbox_with_a_dead_archive();
    let cache = sandbox.cache();
    std::fs::rename(cache.join("archive-v0"), sandbox.path("moved-archive-v0"))
        .expect("move archive-v0 away");
    // uv's own marks (`.lock`, its buckets) are still there: uv's cache with no archives.
    let before = snapshot(sandbox.dir());
    let report = sandbox.prune_json(&apply_args(&[&sandbox.projects()]));
    assert_eq!(report["status"], "no-archives", "{report:#}");
    assert_eq!(snapshot(sandbox.dir()), before);
}

/// A tag alone (cargo's `target` carries the same one) is not uv's cache: refused.
#[test]
fn a_tagged_directory_without_anything_uv_writes_is_refused() {
    let (sandbox, _) = sandbox_with_a_dead_archive();
    let foreign = sandbox.path("foreign");
    std::fs::create_dir(&foreign).expect("create");
    std::fs::copy(
        sandbox.cache().join("CACHEDIR.TAG"),
        foreign.join("CACHEDIR.TAG"),
    )
    .expect("copy the tag");
    assert_apply_refused(&sandbox, &foreign, &[], &foreign);
}

#[test]
fn a_cache_whose_archive_v0_is_a_symlink_is_refused() {
    let (sandbox, _) = sandbox_with_a_dead_archive();
    let cache = sandbox.cache();
    let elsewhere = sandbox.path("elsewhere-archive-v0");
    std::fs::rename(cache.join("archive-v0"), &elsewhere).expect("move archive-v0 away");
    std::os::unix::fs::symlink(&elsewhere, cache.join("archive-v0")).expect("symlink");
    assert_apply_refused(&sandbox, &cache, &[], &cache);
}

#[test]
fn a_cache_path_symlinked_to_a_directory_that_is_not_a_uv_cache_is_refused() {
    let (sandbox, alpha) = sandbox_with_a_dead_archive();
    // Everything of a cache but the signature, reached through a symlink.
    let elsewhere = sandbox.path("elsewhere");
    let archive = elsewhere.join("archive-v0").join(&alpha);
    std::fs::create_dir_all(&archive).expect("create dirs");
    std::fs::write(archive.join("precious.txt"), "keep me").expect("write");
    let link = sandbox.path("cache-link");
    std::os::unix::fs::symlink(&elsewhere, &link).expect("symlink");
    assert_apply_refused(&sandbox, &link, &[], &link);
}

#[test]
fn a_cache_path_symlinked_to_a_uv_cache_is_accepted() {
    // The control for the refusal above: the symlink itself is not what is refused.
    let (sandbox, alpha) = sandbox_with_a_dead_archive();
    let link = sandbox.path("cache-link");
    std::os::unix::fs::symlink(sandbox.cache(), &link).expect("symlink");
    let report = sandbox.prune_json_at(&link, &apply_args(&[&sandbox.projects()]));
    assert_eq!(candidate_ids(&report), set([&alpha]), "{report:#}");
    assert!(sandbox.all_archives().is_empty());
}

#[test]
fn the_filesystem_root_is_refused() {
    let sandbox = Sandbox::new();
    let root = Path::new("/");
    // The lock file is the one thing an accepted --apply would create there first.
    let created = ["/.lock", "/archive-v0"];
    let existed: Vec<bool> = created.iter().map(|p| Path::new(p).exists()).collect();
    assert_apply_refused(&sandbox, root, &[], root);
    let exists: Vec<bool> = created.iter().map(|p| Path::new(p).exists()).collect();
    assert_eq!(existed, exists, "{created:?} appeared or vanished");
}

#[test]
fn the_home_directory_is_refused_even_when_it_is_a_uv_cache() {
    let (sandbox, _) = sandbox_with_a_dead_archive();
    let cache = sandbox.cache();
    assert_apply_refused(&sandbox, &cache, &[("HOME", &cache)], &cache);
    // The same directory reached through a symlinked HOME.
    let home_link = sandbox.path("home-link");
    std::os::unix::fs::symlink(&cache, &home_link).expect("symlink");
    assert_apply_refused(&sandbox, &cache, &[("HOME", &home_link)], &cache);
}

#[test]
fn a_cache_dir_that_does_not_exist_is_nothing_to_do_even_with_apply() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path("no-such-cache");
    let before = snapshot(sandbox.dir());
    let apply = apply_args(&[&sandbox.projects()]);
    // From UV_CACHE_DIR, as uv would have it; `--cache-dir` at a missing directory is a
    // typo, refused as bad usage (tests/typos.rs).
    let run = |json: bool| {
        let mut cmd = sandbox.bare_prune_cmd();
        cmd.env("UV_CACHE_DIR", &missing).args(&apply);
        if json {
            cmd.arg("--json");
        }
        let output = cmd.output().expect("run uv-cache-prune");
        assert_eq!(output.status.code(), Some(0), "{}", describe(&cmd, &output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let stdout = run(false);
    assert!(stdout.contains("No cache there yet"), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&run(true)).expect("JSON report");
    assert_eq!(report["status"], "no-cache", "{report:#}");
    assert_same_snapshot(&before, &snapshot(sandbox.dir()));
}

#[test]
fn an_unreadable_part_of_a_root_keeps_every_archive_unless_allowed() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    // Copy mode: no link count betrays the hidden venv, only reading it would.
    sandbox.venv("projects/locked/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    let gone = sandbox.venv("projects/gone/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&gone);
    let (alpha, beta) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    );
    let locked = sandbox.path("projects/locked");
    let apply = apply_args(&[&sandbox.projects()]);
    let before = snapshot(&sandbox.cache());

    set_mode(&locked, 0o000);
    let kept = sandbox.prune_json_with_permissions_enforced(&apply);
    let allowed = kept.as_ref().map(|_| {
        let mut args = apply.clone();
        args.push("--allow-unreadable-roots".into());
        let after_kept = snapshot(&sandbox.cache());
        let report = sandbox.prune_json_with_permissions_enforced(&args);
        (after_kept, report)
    });
    set_mode(&locked, 0o755);
    let (Some(kept), Some((after_kept, Some(allowed)))) = (kept, allowed) else {
        eprintln!("note: skipped, this machine cannot make a directory unreadable");
        return;
    };

    assert!(candidate_ids(&kept).is_empty(), "{kept:#}");
    assert_eq!(live_ids(&kept), set([&alpha, &beta]), "{kept:#}");
    for id in [&alpha, &beta] {
        assert!(evidence_kinds(&kept, id).contains("unreadable"), "{kept:#}");
    }
    assert_same_snapshot(&before, &after_kept);

    // Told to, it prunes what it can see: beta, and alpha whose venv it cannot.
    assert_eq!(candidate_ids(&allowed), set([&alpha, &beta]), "{allowed:#}");
    assert!(sandbox.all_archives().is_empty());
}

/// `uv venv` alone makes a cache (tag, `.lock`, a bucket) but no `archive-v0`: that is a
/// uv cache with nothing to prune, exit 0, not "not a uv cache"; `--apply` creates nothing.
#[test]
fn a_uv_cache_without_archives_yet_is_nothing_to_prune() {
    let sandbox = Sandbox::new();
    sandbox.uv_ok(
        &uv(),
        &["venv", &path_str(&sandbox.projects().join(".venv"))],
    );
    assert!(sandbox.cache().join("CACHEDIR.TAG").is_file());
    assert!(!sandbox.cache().join("archive-v0").exists());
    let before = snapshot(sandbox.dir());
    let report = sandbox.prune_json(&apply_args(&[&sandbox.projects()]));
    assert_eq!(report["status"], "no-archives", "{report:#}");
    assert_eq!(snapshot(sandbox.dir()), before);
}
