//! `--apply` frees what dies outside `archive-v0`, in the same locked run: `.tmp*`
//! directories of interrupted uv downloads at the cache root, `builds-v0` entries, and
//! `files-v0` objects orphaned before the run. One cache shared by real uv 0.13.9 (with the
//! content-addressed preview) and uv 0.10.12; the dry run promises, `--apply` frees what
//! was promised (`du -sB1` before and after, within 2%), and nothing live is touched.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::uv_bin::uv_0_10;
use common::*;

const PREVIEW: (&str, &str) = ("UV_PREVIEW_FEATURES", "content-addressed-cache");

fn ok(cmd: &mut Command) {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(output.status.success(), "{}", describe(cmd, &output));
}

/// `uv venv` + `uv pip install` from the find-links dir, optionally with the preview on.
fn venv(sandbox: &Sandbox, bin: &Path, rel: &str, mode: LinkMode, packages: &[&str], cas: bool) {
    let venv = sandbox.path(rel);
    let with_preview = |cmd: &mut Command| {
        if cas {
            cmd.env(PREVIEW.0, PREVIEW.1);
        }
    };
    let mut create = sandbox.uv_cmd(bin);
    with_preview(&mut create);
    ok(create.arg("venv").arg(&venv));
    let mut install = sandbox.uv_cmd(bin);
    with_preview(&mut install);
    install
        .args(["pip", "install", "--python"])
        .arg(&venv)
        .args(["--link-mode", mode.as_arg(), "--no-index", "--find-links"])
        .arg(sandbox.wheels())
        .args(packages);
    ok(&mut install);
}

/// Every file of every archive of `names`, byte for byte.
fn snapshot(sandbox: &Sandbox, archives: &BTreeSet<String>) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack: Vec<PathBuf> = archives.iter().map(|id| sandbox.archive_dir(id)).collect();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                files.insert(entry.path(), std::fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

/// `files-v0/<shard>/<object>` paths with their link counts.
fn objects(cache: &Path) -> BTreeMap<PathBuf, u64> {
    let mut found = BTreeMap::new();
    let Ok(shards) = std::fs::read_dir(cache.join("files-v0")) else {
        return found;
    };
    for shard in shards.flatten() {
        for object in std::fs::read_dir(shard.path()).unwrap().flatten() {
            found.insert(object.path(), object.metadata().unwrap().nlink());
        }
    }
    found
}

/// A directory shaped like an interrupted uv unzip: `.tmp` + six characters, with a file
/// of `bytes` (random, so no filesystem dedups it).
fn leftover(dir: &Path, bytes: usize) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = fastrand::Rng::with_seed(bytes as u64);
    let data: Vec<u8> = (0..bytes).map(|_| rng.u8(..)).collect();
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("pkg").join("data.py"), data).unwrap();
    dir.to_owned()
}

#[test]
fn apply_frees_leftovers_and_orphaned_objects_as_promised_and_nothing_live() {
    let sandbox = Sandbox::new();
    let (new, old) = (uv(), uv_0_10());
    for (name, extra) in [("alpha", 300_000), ("beta", 200_000), ("gamma", 400_000)] {
        sandbox.publish(&sandbox.wheel_with(name, "1.0", extra));
    }
    // Live: alpha through uv 0.13.9's content-addressed archives, hardlinked into a venv;
    // beta through uv 0.10.12, in the same cache.
    venv(&sandbox, &new, "a", LinkMode::Hardlink, &["alpha"], true);
    venv(&sandbox, &old, "b", LinkMode::Copy, &["beta"], false);
    // gamma's archive goes by hand (as `uv cache clean` or an interrupted prune leaves
    // it): its objects are linked by nothing any more.
    venv(&sandbox, &new, "c", LinkMode::Copy, &["gamma"], true);
    let cache = sandbox.cache();
    let gamma = sandbox.archive_of("gamma", "1.0");
    let objects_before = objects(&cache);
    delete(&sandbox.path("c"));
    delete(&sandbox.archive_dir(&gamma));
    let orphans: BTreeSet<PathBuf> = objects(&cache)
        .into_iter()
        .filter(|(_, links)| *links == 1)
        .map(|(path, _)| path)
        .collect();
    assert!(
        orphans.len() >= 2,
        "gamma's files must have been objects: {objects_before:#?}"
    );
    // Interrupted download (cache root) and build (builds-v0) leftovers.
    let tmp = leftover(&cache.join(".tmpQ7xk2Z"), 700_000);
    let build = leftover(&cache.join("builds-v0").join(".tmpB8rT1c"), 500_000);

    let live: BTreeSet<String> = [
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    ]
    .into();
    let live_files = snapshot(&sandbox, &live);
    let live_objects: BTreeMap<PathBuf, u64> = objects(&cache)
        .into_iter()
        .filter(|(path, _)| !orphans.contains(path))
        .collect();
    let roots = [sandbox.dir()];

    // Within the default grace window (an hour) everything just made is kept.
    let young = sandbox.prune_json(&["--no-default-roots", "--root", &path_str(sandbox.dir())]);
    assert_eq!(other_paths(&young, None), BTreeSet::new(), "{young:#}");

    let plan = sandbox.prune_json(&plan_args(&roots));
    let promised: BTreeSet<PathBuf> = orphans
        .iter()
        .cloned()
        .chain([tmp.clone(), build.clone()])
        .collect();
    assert_eq!(other_paths(&plan, None), promised, "{plan:#}");
    let promised_bytes = others(&plan)["reclaimable_bytes"].as_u64().unwrap();
    let by_bucket: u64 = others(&plan)["by_bucket"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_bucket, promised_bytes);
    for bucket in [".", "builds-v0", "files-v0"] {
        assert!(
            others(&plan)["by_bucket"][bucket].as_u64().unwrap() > 0,
            "{bucket}: {plan:#}"
        );
    }
    // `df` shows the same promise, bucket by bucket, and in its total.
    let mut df_cmd = sandbox.bare_prune_cmd();
    df_cmd
        .arg("df")
        .arg("--cache-dir")
        .arg(sandbox.cache())
        .args(plan_args(&roots))
        .arg("--json");
    let out = df_cmd.output().unwrap();
    assert!(out.status.success(), "{}", describe(&df_cmd, &out));
    let df: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let df_frees = |name: &str| {
        df["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["name"] == name)
            .unwrap_or_else(|| panic!("no {name} row: {df:#}"))["frees"]
            .as_u64()
            .unwrap()
    };
    for (bucket, row) in [("builds-v0", "builds-v0"), (".", "(root files)")] {
        assert_eq!(
            df_frees(row),
            others(&plan)["by_bucket"][bucket].as_u64().unwrap(),
            "{row}: {df:#}"
        );
    }
    assert_eq!(
        df["total"]["frees"].as_u64().unwrap(),
        promised_bytes + plan["reclaimable_bytes"].as_u64().unwrap(),
        "{df:#}"
    );
    let leftover_du = du_bytes(&[&tmp, &build]);
    let promised_total = promised_bytes + plan["reclaimable_bytes"].as_u64().unwrap();

    let before = du_bytes(&[&cache]);
    let applied = sandbox.prune_json(&apply_args(&roots));
    let after = du_bytes(&[&cache]);
    let freed = before - after;
    assert_eq!(
        others(&applied)["removed"].as_u64(),
        Some(promised.len() as u64),
        "{applied:#}"
    );
    eprintln!(
        "promised {promised_total} B ({promised_bytes} B beyond archive-v0), du -sB1 freed {freed} B"
    );
    let tolerance = promised_total / 50;
    assert!(
        freed.abs_diff(promised_total) <= tolerance,
        "promised {promised_total} B, du says {freed} B freed"
    );
    let measured = others(&applied)["removed_bytes"].as_u64().unwrap();
    assert!(
        measured.abs_diff(promised_bytes) <= promised_bytes / 50,
        "promised {promised_bytes} B beyond archive-v0, measured {measured} B"
    );
    assert!(
        promised_bytes >= leftover_du,
        "{promised_bytes} < {leftover_du}"
    );

    // What was promised is gone; nothing else is.
    for path in &promised {
        assert!(
            std::fs::symlink_metadata(path).is_err(),
            "{} survived",
            path.display()
        );
    }
    assert!(cache.join("builds-v0").is_dir(), "the bucket itself stays");
    assert_eq!(snapshot(&sandbox, &live), live_files);
    let objects_after = objects(&cache);
    for (object, links) in &live_objects {
        assert_eq!(
            objects_after.get(object),
            Some(links),
            "{}",
            object.display()
        );
    }
    sandbox.assert_imports(&sandbox.path("a"), &["alpha"]);
    sandbox.assert_imports(&sandbox.path("b"), &["beta"]);
    // Both uv versions still use the cache offline for what survived.
    for (bin, rel, cas) in [(&new, "a2", true), (&old, "b2", false)] {
        let venv_path = sandbox.path(rel);
        let mut create = sandbox.uv_cmd(bin);
        ok(create.arg("venv").arg(&venv_path));
        let mut install = sandbox.uv_cmd(bin);
        if cas {
            install.env(PREVIEW.0, PREVIEW.1);
        }
        ok(install
            .args(["pip", "install", "--offline", "--python"])
            .arg(&venv_path)
            .args(["--no-index", "--find-links"])
            .arg(sandbox.wheels())
            .args(["alpha", "beta"]));
        sandbox.assert_imports(&venv_path, &["alpha", "beta"]);
    }
}
