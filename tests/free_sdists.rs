//! `--apply` frees built source distributions (`sdists-v*`) whose archives are all dead and
//! that no surviving `uv.lock` names: a registry sdist's source, built wheel and metadata,
//! and the editable build of a deleted project. One cache shared by uv 0.13.9
//! (`sdists-v11`) and uv 0.10.12 (`sdists-v9`). The dry run promises, `--apply` frees what
//! was promised (`du -sB1` before and after, within 2%), the entries of live archives and
//! of a locked package stay byte for byte, every surviving project syncs offline with the
//! uv that made it, and both uvs install a freed package again.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::locked;
use common::uv_bin::uv_0_10;
use common::*;

/// Bytes of each package's own module (random hex, so the built wheel is large too).
const OWN_BYTES: usize = 300_000;

/// A source tree `<sandbox>/sources/<name>` with a module of its own random bytes.
fn tree(sandbox: &Sandbox, name: &str) -> PathBuf {
    let dir = sandbox.path("sources").join(name);
    let data = format!(
        r#"("DATA = '" + __import__("random").Random(NAME).randbytes({OWN_BYTES}).hex() + "'\n").encode()"#
    );
    locked::write_source_tree_with_data(&dir, name, "1.0", &[], &data);
    dir
}

/// An sdist `<name>-1.0.tar.gz` of [`tree`] in the find-links directory.
fn publish_sdist(sandbox: &Sandbox, name: &str) {
    let tree = tree(sandbox, name);
    let links = sandbox.wheels();
    std::fs::create_dir_all(&links).unwrap();
    let mut tar = Command::new("tar");
    tar.arg("czf")
        .arg(links.join(format!("{name}-1.0.tar.gz")))
        .arg("-C")
        .arg(tree.parent().unwrap())
        .arg(name);
    let output = tar.output().unwrap();
    assert!(output.status.success(), "{}", describe(&tar, &output));
}

/// A project `<projects>/<name>` depending on `deps` (with `extra` appended to its
/// pyproject), locked and synced by `bin` from the find-links directory only.
fn project(sandbox: &Sandbox, bin: &Path, name: &str, deps: &[&str], extra: &str) -> PathBuf {
    let dir = sandbox.projects().join(name);
    let deps: Vec<String> = deps.iter().map(|d| d.to_string()).collect();
    locked::write_project(&dir, name, &deps, extra);
    let links = path_str(&sandbox.wheels());
    locked::uv_in(
        sandbox,
        bin,
        &dir,
        &["sync", "--no-index", "--find-links", &links],
    );
    dir
}

/// The `sdists-v*` entries (directories holding `revision.rev`/`revision.http`) whose
/// built wheel is `package`'s.
fn entries_of(cache: &Path, package: &str) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    for bucket in std::fs::read_dir(cache).unwrap().flatten() {
        if !bucket.file_name().to_string_lossy().starts_with("sdists-v") {
            continue;
        }
        let walk = walkdir::WalkDir::new(bucket.path())
            .into_iter()
            .filter_entry(|e| e.file_name() != "src");
        for entry in walk.flatten() {
            let name = entry.file_name().to_string_lossy();
            if name.starts_with(&format!("{package}-1.0-")) && name.ends_with(".whl") {
                let revision = entry.path().parent().unwrap();
                found.insert(revision.parent().unwrap().to_owned());
            }
        }
    }
    found
}

/// Every file and symlink under `dirs`, with a digest of its bytes (a symlink: of its
/// target), so that a difference prints short.
fn snapshot(dirs: &BTreeSet<PathBuf>) -> BTreeMap<PathBuf, (usize, u64)> {
    let digest = |bytes: Vec<u8>| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        (bytes.len(), hasher.finish())
    };
    let mut files = BTreeMap::new();
    for dir in dirs {
        for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
            let path = entry.path().to_owned();
            if entry.path_is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                files.insert(path, digest(target.into_os_string().into_encoded_bytes()));
            } else if entry.file_type().is_file() {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path, digest(bytes));
            }
        }
    }
    files
}

#[test]
fn apply_frees_built_sdists_of_dead_archives_that_no_lock_names() {
    let sandbox = Sandbox::new();
    let (new, old) = (uv(), uv_0_10());
    for name in ["skept", "sloose", "slocked", "sgone13", "sgone10"] {
        publish_sdist(&sandbox, name);
    }
    let editable = tree(&sandbox, "edgone13");
    let editable_source = format!(
        "\n[tool.uv.sources]\nedgone13 = {{ path = \"{}\", editable = true }}\n",
        editable.display()
    );
    // Survivors: skept built by both uvs (sdists-v11 and sdists-v9), used by live venvs.
    let keep13 = project(&sandbox, &new, "keep13", &["skept"], "");
    let keep10 = project(&sandbox, &old, "keep10", &["skept"], "");
    // A venv no lock describes (`uv pip install`): its live archive alone keeps sloose's
    // built sdist.
    let loose = sandbox.projects().join("loose");
    let mut create = sandbox.uv_cmd(&old);
    let output = create.arg("venv").arg(&loose).output().unwrap();
    assert!(output.status.success(), "{}", describe(&create, &output));
    let mut install = sandbox.uv_cmd(&old);
    install
        .args(["pip", "install", "--no-index", "--find-links"])
        .arg(sandbox.wheels())
        .arg("--python")
        .arg(&loose)
        .arg("sloose");
    let output = install.output().unwrap();
    assert!(output.status.success(), "{}", describe(&install, &output));
    // A lock that survives its venv and its archive: the built sdist is what
    // `uv sync --offline --frozen` unzips again, so the lock keeps it.
    let lockonly = project(&sandbox, &new, "lockonly", &["slocked"], "");
    // Deleted projects: a registry sdist each (one per uv), and an editable build.
    let gone13 = project(
        &sandbox,
        &new,
        "gone13",
        &["sgone13", "edgone13"],
        &editable_source,
    );
    let gone10 = project(&sandbox, &old, "gone10", &["sgone10"], "");
    let cache = sandbox.cache();

    let kept_entries: BTreeSet<PathBuf> = ["skept", "sloose", "slocked"]
        .iter()
        .flat_map(|p| entries_of(&cache, p))
        .collect();
    let gone_entries: BTreeSet<PathBuf> = ["sgone13", "edgone13", "sgone10"]
        .iter()
        .flat_map(|p| entries_of(&cache, p))
        .collect();
    let buckets: BTreeSet<String> = gone_entries
        .iter()
        .chain(&kept_entries)
        .map(|p| {
            let rel = p.strip_prefix(&cache).unwrap();
            rel.iter().next().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    assert_eq!(
        buckets,
        BTreeSet::from(["sdists-v11".to_owned(), "sdists-v9".to_owned()])
    );
    assert_eq!(
        kept_entries.len(),
        4,
        "skept twice, sloose and slocked once"
    );
    assert_eq!(gone_entries.len(), 3, "{gone_entries:#?}");
    assert!(
        gone_entries
            .iter()
            .any(|p| p.components().any(|c| c.as_os_str() == "editable")),
        "{gone_entries:#?}"
    );

    let slocked_archive = sandbox.archive_of("slocked", "1.0");
    delete(&lockonly.join(".venv"));
    delete(&sandbox.archive_dir(&slocked_archive));
    delete(&gone13);
    delete(&gone10);
    // What stays: the kept entries as they are, but for the symlink naming slocked's
    // archive, which is gone (a dangling pointer the run removes).
    let mut kept_before = snapshot(&kept_entries);
    kept_before.retain(|path, _| {
        std::fs::read_link(path).map_or(true, |t| !t.ends_with(&slocked_archive))
    });
    assert_eq!(
        snapshot(&kept_entries).len(),
        kept_before.len() + 1,
        "slocked's entry names its archive by one symlink"
    );

    let roots = [sandbox.projects()];
    let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    // Within the default grace window (an hour) nothing just built is freed.
    let young = sandbox.prune_json(&["--no-default-roots", "--root", &path_str(roots[0])]);
    assert_eq!(
        other_paths(&young, Some("sdist")),
        BTreeSet::new(),
        "{young:#}"
    );

    let plan = sandbox.prune_json(&plan_args(&roots));
    assert_eq!(other_paths(&plan, Some("sdist")), gone_entries, "{plan:#}");
    let promised_others = others(&plan)["reclaimable_bytes"].as_u64().unwrap();
    let promised = promised_others + plan["reclaimable_bytes"].as_u64().unwrap();
    let entries_du = du_bytes(&gone_entries.iter().collect::<Vec<_>>());
    assert!(
        promised_others >= entries_du * 98 / 100,
        "promised {promised_others} B beyond archive-v0, du of the entries {entries_du} B"
    );

    let before = du_bytes(&[&cache]);
    let applied = sandbox.prune_json(&apply_args(&roots));
    let freed = before - du_bytes(&[&cache]);
    eprintln!(
        "promised {promised} B ({promised_others} B beyond archive-v0; the sdist entries' du {entries_du} B), du -sB1 freed {freed} B"
    );
    assert!(
        freed.abs_diff(promised) <= promised / 50,
        "promised {promised} B, du says {freed} B freed: {applied:#}"
    );
    assert_eq!(
        others(&applied)["removed"].as_u64(),
        Some(others(&plan)["candidates"].as_array().unwrap().len() as u64),
        "{applied:#}"
    );
    for entry in &gone_entries {
        assert!(
            std::fs::symlink_metadata(entry).is_err(),
            "{} survived",
            entry.display()
        );
    }
    let leftovers: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new(), "nothing is left aside");
    assert_eq!(
        snapshot(&kept_entries),
        kept_before,
        "kept entries untouched"
    );

    // Every surviving project syncs offline from the cache with the uv that made it,
    // venv recreated: skept from its live archive, slocked unzipped again from its
    // built wheel.
    for (dir, bin, package) in [
        (&keep13, &new, "skept"),
        (&keep10, &old, "skept"),
        (&lockonly, &new, "slocked"),
    ] {
        if dir.join(".venv").exists() {
            delete(&dir.join(".venv"));
        }
        locked::sync_offline(&sandbox, bin, dir);
        sandbox.assert_imports(&dir.join(".venv"), &[package]);
    }
    sandbox.assert_imports(&loose, &["sloose"]);
    // Both uvs build a freed package again, offline from the local sdist: the cache holds
    // no broken entry.
    for (bin, rel, package) in [(&new, "again13", "sgone13"), (&old, "again10", "sgone10")] {
        let venv = sandbox.path(rel);
        let mut create = sandbox.uv_cmd(bin);
        let output = create.arg("venv").arg(&venv).output().unwrap();
        assert!(output.status.success(), "{}", describe(&create, &output));
        let mut install = sandbox.uv_cmd(bin);
        install
            .args(["pip", "install", "--offline", "--no-index", "--find-links"])
            .arg(sandbox.wheels())
            .arg("--python")
            .arg(&venv)
            .arg(package);
        let output = install.output().unwrap();
        assert!(output.status.success(), "{}", describe(&install, &output));
        sandbox.assert_imports(&venv, &[package]);
    }
}

/// Index pages (`simple-v*/…/<package>.rkyv` or `.msgpack`) of `package`.
fn pages_of(cache: &Path, package: &str) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    for bucket in std::fs::read_dir(cache).unwrap().flatten() {
        if !bucket.file_name().to_string_lossy().starts_with("simple-v") {
            continue;
        }
        for entry in walkdir::WalkDir::new(bucket.path()).into_iter().flatten() {
            let name = entry.file_name().to_string_lossy();
            if name == format!("{package}.rkyv") || name == format!("{package}.msgpack") {
                found.insert(entry.path().to_owned());
            }
        }
    }
    found
}

#[test]
fn apply_with_unused_for_frees_index_pages_of_packages_with_no_archive_and_no_lock() {
    let sandbox = Sandbox::new();
    let server = IndexServer::start(&sandbox.index_dir());
    let url = server.url();
    let (new, old) = (uv(), uv_0_10());
    for name in ["ikept", "igone13", "igone10", "ikept10", "iloose"] {
        // Large next to the pointer files whose blocks the archive promise leaves out
        // (three 4 KiB blocks here), so the 2% check of the whole run means something.
        let wheel = sandbox.wheel_with(name, "1.0", 1_000_000);
        sandbox.publish(&wheel);
        std::fs::remove_file(wheel).unwrap();
    }
    let sync = |bin: &Path, name: &str, dep: &str| {
        let dir = sandbox.projects().join(name);
        locked::write_project(&dir, name, &[dep.to_owned()], "");
        locked::sync(&sandbox, bin, &dir, &url);
        dir
    };
    let keep13 = sync(&new, "keep13", "ikept");
    let keep10 = sync(&old, "keep10", "ikept10");
    // A venv no lock describes: its live archive alone keeps iloose's page.
    let loose = sandbox.projects().join("loose");
    let mut create = sandbox.uv_cmd(&new);
    let output = create.arg("venv").arg(&loose).output().unwrap();
    assert!(output.status.success(), "{}", describe(&create, &output));
    let mut install = sandbox.uv_cmd(&new);
    install
        .args(["pip", "install", "--index-url", &url, "--python"])
        .arg(&loose)
        .arg("iloose");
    let output = install.output().unwrap();
    assert!(output.status.success(), "{}", describe(&install, &output));
    delete(&sync(&new, "gone13", "igone13"));
    delete(&sync(&old, "gone10", "igone10"));
    let cache = sandbox.cache();
    let gone: BTreeSet<PathBuf> = ["igone13", "igone10"]
        .iter()
        .flat_map(|p| pages_of(&cache, p))
        .collect();
    let kept: BTreeSet<PathBuf> = ["ikept", "ikept10", "iloose"]
        .iter()
        .flat_map(|p| pages_of(&cache, p))
        .collect();
    let generations: BTreeSet<String> = gone
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&cache).unwrap();
            rel.iter().next().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    assert_eq!(generations.len(), 2, "both uvs' simple-v*: {gone:#?}");
    assert_eq!(kept.len(), 3, "{kept:#?}");
    let kept_before = snapshot(&kept);

    let roots = [sandbox.projects()];
    let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let later = now + 3 * 86_400;
    let unused = |args: Vec<std::ffi::OsString>| {
        let mut args = args;
        args.extend(["--unused-for".into(), "1d".into()]);
        args
    };
    // Without --unused-for, or within it, no page is freed.
    assert_eq!(
        other_paths(
            &sandbox.prune_json_now(&plan_args(&roots), later),
            Some("index")
        ),
        BTreeSet::new()
    );
    assert_eq!(
        other_paths(
            &sandbox.prune_json_now(&unused(plan_args(&roots)), now),
            Some("index")
        ),
        BTreeSet::new()
    );
    let plan = sandbox.prune_json_now(&unused(plan_args(&roots)), later);
    assert_eq!(other_paths(&plan, Some("index")), gone, "{plan:#}");
    let promised_pages = others(&plan)["reclaimable_bytes"].as_u64().unwrap();
    assert_eq!(
        promised_pages,
        du_bytes(&gone.iter().collect::<Vec<_>>()),
        "the pages' promise is their du"
    );
    let promised = promised_pages + plan["reclaimable_bytes"].as_u64().unwrap();

    let before = du_bytes(&[&cache]);
    let applied = sandbox.prune_json_now(&unused(apply_args(&roots)), later);
    let freed = before - du_bytes(&[&cache]);
    eprintln!("promised {promised} B ({promised_pages} B of index pages), du -sB1 freed {freed} B");
    assert_eq!(
        others(&applied)["removed_bytes"].as_u64(),
        Some(promised_pages),
        "{applied:#}"
    );
    assert!(
        freed.abs_diff(promised) <= promised / 50,
        "promised {promised} B, du says {freed} B freed: {applied:#}"
    );
    for page in &gone {
        assert!(!page.exists(), "{} survived", page.display());
    }
    assert_eq!(snapshot(&kept), kept_before, "kept pages untouched");
    // Surviving projects sync offline, venvs recreated, with the uv that made them.
    for (dir, bin, package) in [(&keep13, &new, "ikept"), (&keep10, &old, "ikept10")] {
        delete(&dir.join(".venv"));
        locked::sync_offline(&sandbox, bin, dir);
        sandbox.assert_imports(&dir.join(".venv"), &[package]);
    }
    // A freed page is fetched again: both uvs install the package from the index.
    for (bin, rel, package) in [(&new, "again13", "igone13"), (&old, "again10", "igone10")] {
        let venv = sandbox.path(rel);
        let mut create = sandbox.uv_cmd(bin);
        let output = create.arg("venv").arg(&venv).output().unwrap();
        assert!(output.status.success(), "{}", describe(&create, &output));
        let mut install = sandbox.uv_cmd(bin);
        install
            .args(["pip", "install", "--index-url", &url, "--python"])
            .arg(&venv)
            .arg(package);
        let output = install.output().unwrap();
        assert!(output.status.success(), "{}", describe(&install, &output));
        sandbox.assert_imports(&venv, &[package]);
    }
}
