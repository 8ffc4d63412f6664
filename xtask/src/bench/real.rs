//! The `--real` fixture: a uv cache the pinned uv filled from the real index.
//!
//! Large, many-file wheels (ansible, botocore, scipy, pandas, numpy and what they pull
//! in), current versions in a live venv and two older sets in venvs that are then deleted,
//! so that the older versions' archives are dead, as on a developer's machine after a few
//! upgrades. Versions are pinned so that the table is reproducible; they are all built for
//! CPython 3.11, which uv finds on the machine (it downloads no Python).
//!
//! Which archives are dead is decided without the tool: every venv is installed by
//! hardlink (uv's default on Linux), so an archive that a live venv uses has files with a
//! link count of 2 or more, and a dead one has none. The stash holds the dead archives and
//! every pointer file that names one (by symlink target or by the id in its bytes), at the
//! same paths, so the synthetic fixture's restore works unchanged; the floor copy is a
//! `cp -a` of the cache (uv wrote only current-bucket pointers, so its prune deletes
//! nothing there).

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use xshell::{Shell, cmd};

use super::fixture::{Fixture, FoundArchive};

/// The live venv: what a project uses today.
const LIVE: &[&str] = &[
    "ansible==11.13.0",
    "botocore==1.44.5",
    "scipy==1.16.3",
    "pandas==2.3.3",
    "numpy==2.3.5",
];
/// Older sets, installed and then deleted: their archives are dead unless shared.
const DEAD: &[&[&str]] = &[
    &[
        "ansible==10.7.0",
        "botocore==1.43.100",
        "scipy==1.14.1",
        "pandas==2.2.3",
        "numpy==2.1.3",
    ],
    &[
        "botocore==1.43.95",
        "scipy==1.11.4",
        "pandas==2.1.4",
        "numpy==1.26.4",
    ],
];

/// `target/bench/real`, built once with `uv` and reused.
pub(super) fn real_fixture(sh: &Shell, uv: &Path, bench_dir: &Path) -> Result<Fixture> {
    let dir = bench_dir.join("real");
    if !dir.join("fixture.json").is_file() {
        build(sh, uv, &dir)?;
    }
    let fixture = scan(&dir)?;
    fixture.mark_complete()?;
    Ok(fixture)
}

fn build(sh: &Shell, uv: &Path, dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)
            .with_context(|| format!("removing the partial real fixture {}", dir.display()))?;
    }
    eprintln!(
        "bench: building {} with uv from the index (once; reused later)",
        dir.display()
    );
    let started = Instant::now();
    let (cache, projects) = (dir.join("cache"), dir.join("projects"));
    let sh = sh.clone();
    sh.set_var("UV_CACHE_DIR", &cache);
    sh.set_var("UV_NO_CONFIG", "1");
    sh.set_var("UV_LINK_MODE", "hardlink");
    sh.set_var("UV_PYTHON_DOWNLOADS", "never");
    let install = |name: &str, reqs: &[&str]| -> Result<PathBuf> {
        let venv = projects.join(name).join(".venv");
        cmd!(sh, "{uv} venv --quiet --python 3.11 {venv}")
            .quiet()
            .run()
            .with_context(|| format!("creating {} with uv", venv.display()))?;
        cmd!(sh, "{uv} pip install --quiet --python {venv} {reqs...}")
            .quiet()
            .run()
            .with_context(|| format!("installing {} with uv", reqs.join(" ")))?;
        Ok(venv)
    };
    install("live", LIVE)?;
    for (k, reqs) in DEAD.iter().enumerate() {
        let project = install(&format!("old-{k}"), reqs)?;
        let project = project.parent().context("a venv in a project")?;
        fs::remove_dir_all(project)
            .with_context(|| format!("deleting the old project {}", project.display()))?;
    }

    let fixture = scan(dir)?;
    let dead: HashSet<String> = Fixture::ids(fixture.dead());
    ensure!(
        !dead.is_empty() && fixture.live().count() > 0,
        "the real fixture has {} dead and {} live archives; it needs both",
        dead.len(),
        fixture.live().count()
    );
    let mut stashed: Vec<PathBuf> = dead
        .iter()
        .map(|id| Path::new("archive-v0").join(id))
        .collect();
    stashed.extend(pointers_naming(&cache, &dead)?);
    let stash = fixture.stash();
    fs::create_dir_all(&stash).with_context(|| format!("creating {}", stash.display()))?;
    {
        let _in_cache = sh.push_dir(&cache);
        cmd!(sh, "cp -a --parents {stashed...} {stash}")
            .quiet()
            .run()
            .context("stashing the dead archives and their pointers")?;
    }
    let floor = fixture.floor();
    cmd!(sh, "cp -a {cache} {floor}")
        .quiet()
        .run()
        .context("copying the cache for the floor")?;
    eprintln!(
        "bench: real fixture ready in {:.0?}: {} archives, {} dead",
        started.elapsed(),
        fixture.all_ids().len(),
        dead.len()
    );
    Ok(())
}

/// The archives as they are on disk, live when a file has another link.
fn scan(dir: &Path) -> Result<Fixture> {
    let archive_dir = dir.join("cache/archive-v0");
    let mut archives = Vec::new();
    for entry in
        fs::read_dir(&archive_dir).with_context(|| format!("listing {}", archive_dir.display()))?
    {
        let entry = entry?;
        let id = entry.file_name().to_string_lossy().into_owned();
        if id.starts_with('.') {
            continue;
        }
        let (mut files, mut live) = (0, false);
        let mut stack = vec![entry.path()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
                let entry = entry?;
                let meta = entry.metadata()?;
                if meta.is_dir() {
                    stack.push(entry.path());
                } else {
                    files += 1;
                    live |= meta.is_file() && meta.nlink() > 1;
                }
            }
        }
        archives.push(FoundArchive { id, files, live });
    }
    archives.sort_by(|a, b| a.id.cmp(&b.id));
    let venvs = fs::read_dir(dir.join("projects"))
        .with_context(|| format!("listing {}", dir.join("projects").display()))?
        .count();
    Ok(Fixture::found(dir.to_owned(), archives, venvs))
}

/// Every file outside `archive-v0` that names one of `ids`, relative to the cache, with
/// the files sharing its name up to the extension (`<key>`, `<key>.http`, `<key>.lock`).
fn pointers_naming(cache: &Path, ids: &HashSet<String>) -> Result<Vec<PathBuf>> {
    let mut named = HashSet::new();
    let mut stack: Vec<PathBuf> = fs::read_dir(cache)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "archive-v0")
        .map(|e| e.path())
        .collect();
    let mut keys = HashSet::new();
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            for entry in
                fs::read_dir(&path).with_context(|| format!("listing {}", path.display()))?
            {
                stack.push(entry?.path());
            }
            continue;
        }
        let names_dead = if meta.file_type().is_symlink() {
            let target = fs::read_link(&path)?;
            target
                .file_name()
                .is_some_and(|name| ids.contains(&*name.to_string_lossy()))
        } else if meta.is_file() && meta.len() < 1 << 20 {
            let bytes = fs::read(&path)?;
            ids.iter()
                .any(|id| bytes.windows(id.len()).any(|w| w == id.as_bytes()))
        } else {
            false
        };
        if names_dead {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let key = name.split('.').next().unwrap_or_default().to_owned();
            keys.insert((path.parent().map(Path::to_owned), key));
        }
    }
    for (parent, key) in keys {
        let Some(parent) = parent else { continue };
        for entry in fs::read_dir(&parent)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name == key.as_str() || name.starts_with(&format!("{key}.")) {
                named.insert(path.strip_prefix(cache)?.to_owned());
            }
        }
    }
    let mut named: Vec<PathBuf> = named.into_iter().collect();
    named.sort();
    Ok(named)
}
