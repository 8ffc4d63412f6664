//! `uv-cache-prune df`: a cache shared by uv 0.10.12 and uv 0.13.9, each with its own
//! bucket generations, measured against `du -sB1` and `find -type f` of every bucket,
//! the shared bytes against the live hardlink venv, the package rows against the dry
//! run, and the entries only `uv cache prune` would remove named.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::uv_bin::uv_0_10;
use common::*;
use serde_json::Value;

/// `find <dir> -type f | wc -l`.
fn find_files(dir: &Path) -> u64 {
    let output = Command::new("find")
        .arg(dir)
        .args(["-type", "f"])
        .output()
        .expect("run find");
    assert!(output.status.success());
    output.stdout.iter().filter(|b| **b == b'\n').count() as u64
}

/// The allocated bytes of the inodes of `archive` that something outside the cache
/// also links (without the preview, every link beyond the first is a venv's), each once.
fn linked_out_bytes(archive: &Path) -> u64 {
    let mut seen = BTreeSet::new();
    walkdir::WalkDir::new(archive)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().expect("lstat"))
        .filter(|m| m.nlink() > 1 && seen.insert((m.dev(), m.ino())))
        .map(|m| m.blocks() * 512)
        .sum()
}

fn within_2_percent(what: &str, got: u64, expected: u64) {
    assert!(
        got.abs_diff(expected) as f64 <= 0.02 * expected as f64,
        "{what}: df says {got} B, du says {expected} B"
    );
}

/// `uv-cache-prune df --cache-dir <cache> <args>`.
fn df_cmd(sandbox: &Sandbox, args: &[std::ffi::OsString]) -> Command {
    let mut cmd = sandbox.bare_prune_cmd();
    cmd.arg("df")
        .arg("--cache-dir")
        .arg(sandbox.cache())
        .args(args);
    cmd
}

fn df_json(sandbox: &Sandbox, roots: &[&Path]) -> Value {
    let mut args = plan_args(roots);
    args.push("--json".into());
    let mut cmd = df_cmd(sandbox, &args);
    let output = cmd.output().expect("run df");
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    serde_json::from_slice(&output.stdout).expect("df --json is JSON")
}

#[test]
fn df_matches_du_per_bucket_and_the_dry_run_per_package() {
    let sandbox = Sandbox::new();
    sandbox.wheel_with("alpha", "1.0", 64 * 1024);
    sandbox.wheel_with("beta", "1.0", 32 * 1024);
    sandbox.wheel_with("gamma", "1.0", 96 * 1024);
    sandbox.wheel_with("delta", "1.0", 16 * 1024);
    // uv 0.10.12 (wheels-v6): alpha live through a hardlink venv, delta dead.
    let live_hard = sandbox.venv(
        "projects/old/.venv",
        &uv_0_10(),
        LinkMode::Hardlink,
        &["alpha"],
    );
    let gone_old = sandbox.venv(
        "projects/gone-old/.venv",
        &uv_0_10(),
        LinkMode::Copy,
        &["delta"],
    );
    // uv 0.13.9 (wheels-v8): beta live by copy, gamma dead.
    sandbox.venv("projects/new/.venv", &uv(), LinkMode::Copy, &["beta"]);
    let gone_new = sandbox.venv("projects/gone-new/.venv", &uv(), LinkMode::Copy, &["gamma"]);
    delete(gone_old.parent().unwrap());
    delete(gone_new.parent().unwrap());
    // Something no uv wrote: uv cache prune deletes it, we leave it.
    let mystery = sandbox.cache().join("mystery-dir");
    std::fs::create_dir(&mystery).unwrap();
    std::fs::write(mystery.join("blob"), vec![7u8; 10_000]).unwrap();
    let cache = sandbox.cache();
    assert!(cache.join("wheels-v6").is_dir() && cache.join("wheels-v8").is_dir());

    let projects = sandbox.projects();
    let plan = sandbox.plan(&[&projects]);
    let df = df_json(&sandbox, &[&projects]);
    assert_eq!(df["kind"], "df", "{df:#}");

    // Every top-level directory has a row, as du and find count it.
    let rows: BTreeMap<String, &Value> = df["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_owned(), r))
        .collect();
    let dirs: BTreeSet<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let named: BTreeSet<String> = rows
        .keys()
        .filter(|n| *n != "(root files)")
        .cloned()
        .collect();
    assert_eq!(named, dirs, "{df:#}");
    for name in &dirs {
        let row = rows[name];
        let dir = cache.join(name);
        within_2_percent(name, row["bytes"].as_u64().unwrap(), du_bytes(&[&dir]));
        assert_eq!(row["files"], find_files(&dir), "{name}: {df:#}");
    }
    within_2_percent(
        "total",
        df["total"]["bytes"].as_u64().unwrap(),
        du_bytes(&[&cache]),
    );
    assert_eq!(df["total"]["files"], find_files(&cache), "{df:#}");

    // Shared with venvs: exactly alpha's files the live hardlink venv links.
    let alpha = sandbox.archive_of("alpha", "1.0");
    let shared = linked_out_bytes(&sandbox.archive_dir(&alpha));
    assert!(
        shared > 64 * 1024,
        "the hardlink venv links alpha's data: {shared}"
    );
    assert!(site_packages(&live_hard).join("alpha").is_dir());
    let archives = rows["archive-v0"];
    assert_eq!(archives["shared_bytes"], shared, "{df:#}");
    assert_eq!(
        archives["unique_bytes"].as_u64().unwrap(),
        archives["bytes"].as_u64().unwrap() - shared
    );
    assert_eq!(df["total"]["shared_bytes"], shared, "{df:#}");
    // What a prune frees there is the dry run's promise.
    assert_eq!(archives["frees"], plan["reclaimable_bytes"], "{df:#}");
    assert_eq!(df["total"]["frees"], plan["reclaimable_bytes"]);

    // The package rows: the dead ones are the dry run's candidates, with its bytes.
    let packages = df["packages"].as_array().expect("packages");
    let row_of = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no row for {name}: {df:#}"))
    };
    let dead: BTreeMap<String, u64> = packages
        .iter()
        .filter(|p| p["state"] == "dead")
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["frees"].as_u64().unwrap(),
            )
        })
        .collect();
    let candidates: BTreeMap<String, u64> = plan["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(dead, candidates, "{df:#}");
    assert_eq!(set(dead.keys()), set(["delta", "gamma"]));
    for (name, id) in [
        ("alpha", &alpha),
        ("beta", &sandbox.archive_of("beta", "1.0")),
    ] {
        let row = row_of(name);
        assert_eq!(row["state"], "live");
        assert_eq!(row["bytes"], du_bytes(&[sandbox.archive_dir(id)]), "{name}");
    }
    assert_eq!(row_of("alpha")["shared_bytes"], shared);
    assert_eq!(row_of("beta")["shared_bytes"], 0);
    let sizes: Vec<u64> = packages
        .iter()
        .map(|p| p["bytes"].as_u64().unwrap())
        .collect();
    assert!(
        sizes.windows(2).all(|w| w[0] >= w[1]),
        "largest first: {sizes:?}"
    );

    // What only uv cache prune removes: 0.10.12's wheels-v6 (0.13.9 writes wheels-v8),
    // and the unknown directory.
    let only: BTreeMap<String, String> = df["uv_prune_only"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        only.get("wheels-v6").map(String::as_str),
        Some("old-generation"),
        "{df:#}"
    );
    assert_eq!(
        only.get("mystery-dir").map(String::as_str),
        Some("unknown"),
        "{df:#}"
    );
    assert!(
        !only.contains_key("wheels-v8") && !only.contains_key("archive-v0"),
        "{df:#}"
    );

    // df changed nothing.
    assert_eq!(
        sandbox.all_archives().len(),
        4,
        "df never deletes: {:?}",
        sandbox.all_archives()
    );
}

#[test]
fn df_human_names_each_bucket_and_what_uv_prune_would_remove() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.venv("projects/a/.venv", &uv_0_10(), LinkMode::Copy, &["alpha"]);
    sandbox.venv("projects/b/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    // A bucket name holding an escape sequence is printed escaped.
    std::fs::create_dir(sandbox.cache().join("evil\x1b[2Jname")).unwrap();
    let projects = sandbox.projects();
    let mut cmd = df_cmd(&sandbox, &plan_args(&[&projects]));
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    let text = String::from_utf8(output.stdout).unwrap();
    for name in [
        "archive-v0",
        "wheels-v6",
        "wheels-v8",
        "(root files)",
        "total",
        "alpha 1.0",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert!(
        text.contains("`uv cache prune` would also remove"),
        "{text}"
    );
    assert!(text.contains("wheels-v6 ("), "{text}");
    assert!(!text.contains('\x1b'), "escaped: {text}");
    assert!(text.contains("evil\\x1b[2Jname"), "{text}");
    // Not a terminal: no bars.
    assert!(!text.contains('█'), "{text}");

    // df never deletes: --apply with it is bad usage.
    let mut args = plan_args(&[&projects]);
    args.push("--apply".into());
    let output = df_cmd(&sandbox, &args).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("df never deletes"));
}

/// Under uv's content-addressed preview every archive file is a hardlink to a `files-v0`
/// object, and two versions holding the same bytes share one: an inode named from two
/// buckets and from two package rows. `du -sB1` of each bucket counts it in each, `du`
/// of the whole cache once, and `du` of each archive alone in that archive: so must `df`.
/// Its links beyond the cache's (a live hardlink venv) make it shared.
#[test]
fn df_counts_an_inode_named_from_several_buckets_and_archives_once_in_each() {
    const PREVIEW: (&str, &str) = ("UV_PREVIEW_FEATURES", "content-addressed-cache");
    let sandbox = Sandbox::new();
    let wheels = sandbox.wheels();
    for version in ["1.0", "1.1"] {
        sandbox.publish(&common::shared_wheel::write_wheel_sharing(
            &wheels,
            "alpha",
            version,
            256 * 1024,
            64 * 1024,
        ));
    }
    let server = IndexServer::start(&sandbox.index_dir());
    let install = |rel: &str, mode: LinkMode, package: &str| {
        let venv = sandbox.path(rel);
        let mut create = sandbox.uv_cmd(&uv());
        create.env(PREVIEW.0, PREVIEW.1).arg("venv").arg(&venv);
        let mut install = sandbox.uv_cmd(&uv());
        install
            .env(PREVIEW.0, PREVIEW.1)
            .args(["pip", "install", "--python"])
            .arg(&venv)
            .args(["--link-mode", mode.as_arg(), "--index-url", &server.url()])
            .arg(package);
        for cmd in [&mut create, &mut install] {
            let output = cmd.output().expect("run uv");
            assert!(output.status.success(), "{}", describe(cmd, &output));
        }
        venv
    };
    install("projects/live/.venv", LinkMode::Hardlink, "alpha==1.1");
    let gone = install("projects/gone/.venv", LinkMode::Copy, "alpha==1.0");
    delete(gone.parent().unwrap());
    let cache = sandbox.cache();
    let (old, new) = (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("alpha", "1.1"),
    );
    let shared_py = |id: &str| {
        let meta = std::fs::metadata(sandbox.archive_dir(id).join("alpha/shared.py")).unwrap();
        (meta.dev(), meta.ino())
    };
    assert_eq!(
        shared_py(&old),
        shared_py(&new),
        "the versions share shared.py"
    );

    let projects = sandbox.projects();
    let df = df_json(&sandbox, &[&projects]);
    let row = |name: &str| {
        df["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name} row: {df:#}"))
    };
    for bucket in ["archive-v0", "files-v0"] {
        let bytes = row(bucket)["bytes"].as_u64().unwrap();
        within_2_percent(bucket, bytes, du_bytes(&[cache.join(bucket)]));
    }
    within_2_percent(
        "total",
        df["total"]["bytes"].as_u64().unwrap(),
        du_bytes(&[&cache]),
    );
    assert_eq!(df["total"]["files"], find_files(&cache), "{df:#}");

    // Shared: the inodes with more links than the cache holds, each once; all of them
    // are named from archive-v0 and files-v0 both.
    let mut links: BTreeMap<(u64, u64), (u64, u64, u64)> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&cache) {
        let entry = entry.expect("walk");
        let meta = entry.metadata().expect("lstat");
        if entry.file_type().is_file() && meta.nlink() > 1 {
            let seen = links.entry((meta.dev(), meta.ino())).or_insert((
                0,
                meta.nlink(),
                meta.blocks() * 512,
            ));
            seen.0 += 1;
        }
    }
    let shared: u64 = links
        .values()
        .filter(|(seen, nlink, _)| seen < nlink)
        .map(|(_, _, bytes)| bytes)
        .sum();
    assert!(
        shared >= 256 * 1024,
        "the live venv links shared.py: {shared}"
    );
    assert_eq!(df["total"]["shared_bytes"], shared, "{df:#}");
    assert_eq!(row("archive-v0")["shared_bytes"], shared, "{df:#}");
    assert_eq!(row("files-v0")["shared_bytes"], shared, "{df:#}");

    // Each version's row counts shared.py, as du of its archive alone does.
    for (version, id, state) in [("1.0", &old, "dead"), ("1.1", &new, "live")] {
        let package = df["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "alpha" && p["version"] == version)
            .unwrap_or_else(|| panic!("no alpha {version} row: {df:#}"));
        assert_eq!(package["state"], state, "{df:#}");
        within_2_percent(
            &format!("alpha {version}"),
            package["bytes"].as_u64().unwrap(),
            du_bytes(&[sandbox.archive_dir(id)]),
        );
    }
}
