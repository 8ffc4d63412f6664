//! What every mode checks, computed from the filesystem without asking the tool.
//!
//! uv trusts a pointer without looking at its archive, so after any run, killed or not,
//! every pointer must name an archive that is complete (each file its `RECORD` lists is
//! there with the recorded sha256). A venv is sound when every file its `RECORD`s list is
//! there with the recorded hash (through symlinks, so a symlink-mode venv is checked down
//! to the archive it uses) and none of its symlinks dangles. Nothing here decodes msgpack:
//! a pointer file is matched to an archive by the id bytes it contains, so the check
//! cannot share a decoder's bug with the tool.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::wheel::record_hash;

/// Prefix of the directories `--apply` renames archives to before deleting them (part of
/// the tool's contract: a later `--apply` removes them).
pub const TRASH_PREFIX: &str = ".uv-cache-prune-trash-";

/// Bucket families whose entries name archives, in every generation.
const POINTER_BUCKETS: &[&str] = &[
    "wheels-v",
    "sdists-v",
    "built-wheels-v",
    "source-dists-v",
    "environments-v",
];

/// A file in the cache that names an archive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pointer {
    pub path: PathBuf,
    pub id: String,
}

/// Ids of the archives in `archive-v0` (dot entries are trash, not archives).
pub fn archive_ids(cache: &Path) -> BTreeSet<String> {
    entries(&cache.join("archive-v0"))
        .into_iter()
        .filter(|(name, path)| !name.starts_with('.') && is_dir(path))
        .map(|(name, _)| name)
        .collect()
}

/// Names of leftover trash directories in `archive-v0`.
pub fn trash(cache: &Path) -> BTreeSet<String> {
    entries(&cache.join("archive-v0"))
        .into_iter()
        .filter(|(name, _)| name.starts_with(TRASH_PREFIX))
        .map(|(name, _)| name)
        .collect()
}

fn entries(dir: &Path) -> Vec<(String, PathBuf)> {
    fs::read_dir(dir)
        .map(|read| {
            read.filter_map(Result::ok)
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .collect()
        })
        .unwrap_or_default()
}

fn is_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Calls `visit` on every entry under `dir` (not `dir` itself), never following symlinks.
pub fn walk(dir: &Path, visit: &mut dyn FnMut(&Path, &fs::Metadata)) {
    for (_, path) in entries(dir) {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        visit(&path, &meta);
        if meta.is_dir() {
            walk(&path, visit);
        }
    }
}

/// Every pointer in the cache, with the problems of those that name no archive one can
/// tell. A pointer file is matched to the one id of `known` its bytes contain.
pub fn pointers(cache: &Path, known: &BTreeSet<String>) -> (Vec<Pointer>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for (name, bucket) in entries(cache) {
        if !POINTER_BUCKETS.iter().any(|p| name.starts_with(p)) || !is_dir(&bucket) {
            continue;
        }
        let sources = name.starts_with("sdists-v") || name.starts_with("source-dists-v");
        walk_pointers(&bucket, sources, known, &mut found, &mut problems);
    }
    found.sort();
    (found, problems)
}

fn walk_pointers(
    dir: &Path,
    sources: bool,
    known: &BTreeSet<String>,
    found: &mut Vec<Pointer>,
    problems: &mut Vec<String>,
) {
    for (name, path) in entries(dir) {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            // Unpacked source trees are the user's sources, not pointers (uv skips them).
            if !(sources && name == "src") {
                walk_pointers(&path, sources, known, found, problems);
            }
            continue;
        }
        let id = if meta.is_symlink() {
            match named_by_symlink(&path) {
                Some(id) => id,
                None => continue,
            }
        } else if !sources && meta.is_file() && (name.ends_with(".rev") || name.ends_with(".http"))
        {
            // Under `sdists-v*` these are revisions and HTTP caches of the source, not
            // pointers: the built wheel's pointer there is the symlink.
            match named_in_bytes(&path, known) {
                Ok(id) => id,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            }
        } else {
            continue;
        };
        found.push(Pointer { path, id });
    }
}

/// The archive a symlink `.../archive-v0/<id>` names; `None` for a symlink elsewhere.
fn named_by_symlink(link: &Path) -> Option<String> {
    let target = fs::read_link(link).ok()?;
    let parent = target.parent()?.file_name()?;
    (parent == "archive-v0")
        .then(|| target.file_name().map(|f| f.to_string_lossy().into_owned()))?
}

fn named_in_bytes(file: &Path, known: &BTreeSet<String>) -> Result<String, String> {
    let bytes = fs::read(file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let named: Vec<&String> = known
        .iter()
        .filter(|id| bytes.windows(id.len()).any(|w| w == id.as_bytes()))
        .collect();
    match named.as_slice() {
        [id] => Ok((*id).clone()),
        _ => Err(format!(
            "{} names {} of the {} archives ever seen: {named:?}",
            file.display(),
            named.len(),
            known.len()
        )),
    }
}

/// What keeps `archive-v0/<id>` from being complete: missing, no dist-info, or a file
/// its `RECORD` lists missing or altered. A cached environment (a venv) is complete when
/// its installed distributions are.
pub fn archive_problems(cache: &Path, id: &str) -> Vec<String> {
    let dir = cache.join("archive-v0").join(id);
    if !is_dir(&dir) {
        return vec![format!("{} does not exist", dir.display())];
    }
    let base = if dir.join("pyvenv.cfg").is_file() {
        match site_packages(&dir) {
            Some(base) => base,
            None => return vec![format!("{} has no site-packages", dir.display())],
        }
    } else {
        dir.clone()
    };
    let records = records(&base);
    if records.is_empty() && !dir.join("pyvenv.cfg").is_file() {
        return vec![format!("{} has no dist-info", base.display())];
    }
    records
        .iter()
        .flat_map(|record| record_problems(&base, record))
        .collect()
}

/// Every pointer that names a missing or incomplete archive, or names none one can tell.
pub fn pointer_problems(cache: &Path, known: &BTreeSet<String>) -> Vec<String> {
    let (found, mut problems) = pointers(cache, known);
    for pointer in &found {
        for problem in archive_problems(cache, &pointer.id) {
            problems.push(format!(
                "pointer {} -> {}: {problem}",
                pointer.path.display(),
                pointer.id
            ));
        }
    }
    problems
}

/// `<venv>/lib/python*/site-packages`.
pub fn site_packages(venv: &Path) -> Option<PathBuf> {
    entries(&venv.join("lib"))
        .into_iter()
        .find(|(name, _)| name.starts_with("python"))
        .map(|(_, path)| path.join("site-packages"))
        .filter(|path| path.is_dir())
}

/// The `RECORD` of every `*.dist-info` directly in `dir`.
fn records(dir: &Path) -> Vec<PathBuf> {
    let mut records: Vec<PathBuf> = entries(dir)
        .into_iter()
        .filter(|(name, _)| name.ends_with(".dist-info"))
        .map(|(_, path)| path.join("RECORD"))
        .collect();
    records.sort();
    records
}

/// Each file `record` lists (relative to `base`) that is missing or whose sha256 differs.
pub fn record_problems(base: &Path, record: &Path) -> Vec<String> {
    let text = match fs::read_to_string(record) {
        Ok(text) => text,
        Err(e) => return vec![format!("cannot read {}: {e}", record.display())],
    };
    let mut problems = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut fields = line.rsplitn(3, ',');
        let (_size, hash, name) = (fields.next(), fields.next(), fields.next());
        let Some(name) = name else {
            problems.push(format!("{}: bad line {line:?}", record.display()));
            continue;
        };
        let path = base.join(name);
        match fs::read(&path) {
            Err(e) => problems.push(format!("{}: {e}", path.display())),
            Ok(content) => {
                if let Some(expected) = hash.filter(|h| !h.is_empty()) {
                    let actual = record_hash(&content);
                    if actual != expected {
                        problems.push(format!(
                            "{}: {actual}, RECORD says {expected}",
                            path.display()
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// What is wrong with a venv: files its `RECORD`s list missing or altered, symlinks
/// that dangle.
pub fn venv_problems(venv: &Path) -> Vec<String> {
    let Some(site) = site_packages(venv) else {
        return vec![format!("{}: no site-packages", venv.display())];
    };
    let mut problems: Vec<String> = records(&site)
        .iter()
        .flat_map(|record| record_problems(&site, record))
        .collect();
    walk(venv, &mut |path, meta| {
        if meta.is_symlink() && fs::metadata(path).is_err() {
            problems.push(format!("{}: dangling symlink", path.display()));
        }
    });
    problems
}

/// Runs the venv's Python on `import <names>`; the error says what failed.
pub fn imports(venv: &Path, names: &[String]) -> Result<(), String> {
    if names.is_empty() {
        return Ok(());
    }
    let python = venv.join("bin/python");
    let output = Command::new(&python)
        .arg("-c")
        .arg(format!("import {}", names.join(", ")))
        .env_remove("PYTHONPATH")
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} cannot import {names:?}: {}",
            venv.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
