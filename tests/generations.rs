//! One cache shared by four uv releases (0.8.24, 0.10.12, 0.12.24, 0.13.9), each with its
//! own bucket generations (`wheels-v*`, `sdists-v*`, `environments-v*`) and pointer shapes
//! (4-element, map and 5-element `Archive`). Each release makes projects whose locked
//! dependencies come from find-links (`.rev`), an index (`.http`) and a local source tree
//! (a built wheel under `sdists-v*`), plus a `uv run --with` environment. Some projects
//! are deleted: their archives, and only theirs, must go with every pointer naming them,
//! and every surviving project must still sync offline with the uv that made it.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::locked;
use common::shared_wheel::write_wheel_sharing;
use common::uv_bin::{uv_0_8, uv_0_10, uv_0_12};
use common::*;

/// Bytes of each package's own module: large next to pointer files and directories, so a
/// 2% tolerance on freed bytes still means something.
const OWN_BYTES: usize = 1024 * 1024;

fn ok(cmd: &mut Command) {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(output.status.success(), "{}", describe(cmd, &output));
}

/// A source tree `<sandbox>/sources/<name>` with an in-tree PEP 517 backend (no build
/// requirements, so uv builds it offline), producing a wheel of about [`OWN_BYTES`] of its
/// own (every line names the package, so no two packages share the module's content).
fn source_tree(sandbox: &Sandbox, name: &str) -> PathBuf {
    let dir = sandbox.path("sources").join(name);
    let data = format!(
        r#""".join(f"LINE_{{i:08}} = '{{NAME}}'\n" for i in range({lines})).encode()"#,
        lines = OWN_BYTES / 32,
    );
    locked::write_source_tree_with_data(&dir, name, "1.0", &[], &data);
    dir
}

/// A project `<projects>/<name>` depending on `deps`, locked and synced by `bin`.
fn project(sandbox: &Sandbox, bin: &Path, name: &str, deps: &[String], url: &str) -> PathBuf {
    let dir = sandbox.projects().join(name);
    locked::write_project(&dir, name, deps, "");
    let wheels = sandbox.wheels();
    let wheels = wheels.to_str().expect("a UTF-8 sandbox path");
    locked::uv_in(
        sandbox,
        bin,
        &dir,
        &["sync", "--index-url", url, "--find-links", wheels],
    );
    dir
}

/// What one release left: its projects, and the packages of the ones to delete.
struct Generation {
    label: &'static str,
    bin: PathBuf,
    kept: PathBuf,
    gone: PathBuf,
    gone_packages: Vec<String>,
}

fn generation(sandbox: &Sandbox, label: &'static str, bin: PathBuf, url: &str) -> Generation {
    let pkg = |role: &str| format!("{role}{label}");
    let wheels = sandbox.wheels();
    for role in ["flgone", "flkept"] {
        write_wheel_sharing(&wheels, &pkg(role), "1.0", 0, OWN_BYTES);
    }
    for role in ["ixgone", "ixkept", "withenv"] {
        let wheel = write_wheel_sharing(&wheels, &pkg(role), "1.0", 0, OWN_BYTES);
        sandbox.publish(&wheel);
        std::fs::remove_file(wheel).expect("index-only wheel");
    }
    let local_dep = |role: &str| {
        let tree = source_tree(sandbox, &pkg(role));
        format!("{} @ file://{}", pkg(role), tree.display())
    };
    let gone = project(
        sandbox,
        &bin,
        &format!("{label}-gone"),
        &[pkg("flgone"), pkg("ixgone"), local_dep("srcgone")],
        url,
    );
    let kept = project(
        sandbox,
        &bin,
        &format!("{label}-kept"),
        &[pkg("flkept"), pkg("ixkept"), local_dep("srckept")],
        url,
    );
    // A cached environment (`environments-v*`) over the kept project.
    ok(sandbox
        .uv_cmd(&bin)
        .current_dir(&kept)
        .args([
            "run",
            "--frozen",
            "--index-url",
            url,
            "--with",
            &pkg("withenv"),
            "python",
            "-c",
        ])
        .arg(format!("import {}", pkg("withenv"))));
    Generation {
        label,
        bin,
        kept,
        gone,
        gone_packages: vec![pkg("flgone"), pkg("ixgone"), pkg("srcgone")],
    }
}

/// Symlinks, `.rev` and `.http` files in every pointer bucket generation that name one of
/// `ids` (files by the id's bytes, so no msgpack decoder is trusted); unpacked sources
/// under `sdists-v*` skipped, as uv does.
fn pointers_naming(cache: &Path, ids: &BTreeSet<String>) -> Vec<PathBuf> {
    let families = [
        "wheels-v",
        "sdists-v",
        "built-wheels-v",
        "source-dists-v",
        "environments-v",
    ];
    let mut found = Vec::new();
    for bucket in std::fs::read_dir(cache).expect("list cache") {
        let bucket = bucket.expect("cache entry").path();
        let name = bucket.file_name().unwrap().to_string_lossy().into_owned();
        if !families.iter().any(|f| name.starts_with(f)) {
            continue;
        }
        let walk = walkdir::WalkDir::new(&bucket)
            .into_iter()
            .filter_entry(|e| !(e.file_type().is_dir() && e.file_name() == "src"));
        for entry in walk {
            let entry = entry.expect("walk a bucket");
            let path = entry.path();
            let names = if entry.path_is_symlink() {
                let target = std::fs::read_link(path).expect("read symlink");
                ids.iter().any(|id| target.iter().any(|c| c == id.as_str()))
            } else if path.extension().is_some_and(|x| x == "rev" || x == "http") {
                let bytes = std::fs::read(path).expect("read pointer");
                ids.iter()
                    .any(|id| bytes.windows(id.len()).any(|w| w == id.as_bytes()))
            } else {
                false
            };
            if names {
                found.push(path.to_owned());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn four_uv_releases_share_a_cache_and_the_deleted_projects_archives_go() {
    let sandbox = Sandbox::new();
    let server = IndexServer::start(&sandbox.index_dir());
    let url = server.url();
    let generations = [
        generation(&sandbox, "v08", uv_0_8(), &url),
        generation(&sandbox, "v010", uv_0_10(), &url),
        generation(&sandbox, "v012", uv_0_12(), &url),
        generation(&sandbox, "v013", uv(), &url),
    ];
    let cache = sandbox.cache();
    let buckets: BTreeSet<String> = std::fs::read_dir(&cache)
        .expect("list cache")
        .map(|e| {
            e.expect("cache entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| {
            ["wheels-v", "sdists-v", "environments-v"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    assert!(
        buckets.len() >= 5,
        "several bucket generations: {buckets:?}"
    );

    let mut dead = BTreeSet::new();
    for generation in &generations {
        for package in &generation.gone_packages {
            dead.insert(sandbox.archive_of(package, "1.0"));
        }
        delete(&generation.gone);
    }
    let all = sandbox.all_archives();
    let live: BTreeSet<String> = all.difference(&dead).cloned().collect();
    let named = |ids: &BTreeSet<String>| pointers_naming(&cache, ids);
    let dead_pointers = named(&dead);
    for ext in ["rev", "http"] {
        assert!(
            dead_pointers
                .iter()
                .any(|p| p.extension().is_some_and(|x| x == ext)),
            "dead archives have .{ext} pointers: {dead_pointers:#?}"
        );
    }
    assert!(
        dead_pointers.iter().any(|p| p
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with("sdists-v"))),
        "a dead archive is a built wheel: {dead_pointers:#?}"
    );

    let report = sandbox.plan(&[&sandbox.projects()]);
    assert_eq!(candidate_ids(&report), dead, "{report:#}");
    assert_eq!(live_ids(&report), live, "{report:#}");
    // The whole promise: the dead archives, and what dies with them outside archive-v0
    // (the deleted projects' built sdists).
    let promised =
        reclaimable_bytes(&report) + report["others"]["reclaimable_bytes"].as_u64().unwrap_or(0);

    let before = du_bytes(&[&cache]);
    sandbox.prune_json(&apply_args(&[&sandbox.projects()]));
    let freed = before - du_bytes(&[&cache]);
    assert!(
        promised.abs_diff(freed) as f64 <= 0.02 * promised as f64,
        "promised {promised} bytes, du saw {freed} freed"
    );
    assert_eq!(
        sandbox.all_archives(),
        live,
        "exactly the dead archives went"
    );
    assert_eq!(
        named(&dead),
        Vec::<PathBuf>::new(),
        "no pointer names a removed archive"
    );

    drop(server);
    for generation in &generations {
        delete(&generation.kept.join(".venv"));
        let mut sync = sandbox.uv_cmd(&generation.bin);
        sync.current_dir(&generation.kept)
            .args(["sync", "--offline", "--frozen"]);
        let output = sync.output().expect("run uv sync");
        assert!(
            output.status.success(),
            "{} cannot sync offline: {}",
            generation.label,
            describe(&sync, &output)
        );
    }
}
