//! Facts about the filesystem computed without asking the tool under test.
//!
//! A test that compares the pruner's answer with the pruner's own inventory proves nothing,
//! so archive ids come from looking for dist-info directories, byte counts from `du`, and
//! "nothing changed" from a full snapshot of metadata and content.
//!
//! uv trusts a pointer without looking at its archive, so after any run, killed or not,
//! every pointer must name an archive that is complete (each file its `RECORD` lists is
//! there with the recorded sha256). A venv is sound when every file its `RECORD`s list is
//! there with the recorded hash (through symlinks, so a symlink-mode venv is checked down
//! to the archive it uses) and none of its symlinks dangles. Nothing here decodes msgpack:
//! a pointer file is matched to an archive by the id bytes it contains, so the check
//! cannot share a decoder's bug with the tool.
//!
//! The checks that the soak runs thousands of times return their problems rather than
//! panic (an unreadable entry is skipped, as a half-deleted tree has them); the tests'
//! helpers that panic say so.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::wheel::record_hash;

/// Ids of the archives in `<cache>/archive-v0` holding `<name>-<version>.dist-info`.
pub fn archives_of(cache: &Path, name: &str, version: &str) -> BTreeSet<String> {
    let dist_info = format!("{name}-{version}.dist-info");
    archive_dirs(cache)
        .filter(|(_, dir)| dir.join(&dist_info).is_dir())
        .map(|(id, _)| id)
        .collect()
}

/// Ids of every archive in `<cache>/archive-v0` (dot entries are trash, not archives).
pub fn all_archives(cache: &Path) -> BTreeSet<String> {
    archive_dirs(cache).map(|(id, _)| id).collect()
}

/// Ids of the archives that are whole virtualenvs (they hold a `pyvenv.cfg`).
pub fn venv_archives(cache: &Path) -> BTreeSet<String> {
    archive_dirs(cache)
        .filter(|(_, dir)| dir.join("pyvenv.cfg").is_file())
        .map(|(id, _)| id)
        .collect()
}

/// `(id, path)` of every archive (a directory, not behind a symlink, whose name does not
/// start with a dot); none before uv has unpacked anything.
fn archive_dirs(cache: &Path) -> impl Iterator<Item = (String, PathBuf)> {
    entries(&cache.join("archive-v0"))
        .into_iter()
        .filter(|(name, path)| !name.starts_with('.') && is_dir(path))
}

/// Files under `dir` whose name ends with `.<ext>` (pointer files such as `.http`, `.rev`).
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == ext))
        .map(walkdir::DirEntry::into_path)
        .collect()
}

/// The archive id a cache symlink (`... -> ../../archive-v0/<id>`) names, read directly;
/// panics when it is not such a symlink.
pub fn archive_named_by(symlink: &Path) -> String {
    named_by_symlink(symlink).unwrap_or_else(|| {
        panic!(
            "{} is not a symlink to archive-v0/<id>: {:?}",
            symlink.display(),
            fs::read_link(symlink)
        )
    })
}

/// `du -sB1 -c PATHS`: allocated bytes, every inode once, the figure a plan that deletes
/// exactly these paths (and nothing else links into them) must report.
pub fn du_bytes<P: AsRef<Path>>(paths: &[P]) -> u64 {
    let mut du = Command::new("du");
    du.arg("-sB1").arg("-c");
    for path in paths {
        du.arg(path.as_ref());
    }
    let output = du.output().unwrap_or_else(|e| panic!("run {du:?}: {e}"));
    assert!(
        output.status.success(),
        "{du:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let total = stdout
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().next());
    total
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total in {du:?} output: {stdout}"))
}

/// Everything observable about one filesystem entry, short of its access time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    pub len: u64,
    pub mode: u32,
    pub ino: u64,
    pub nlink: u64,
    pub mtime_ns: i128,
    /// Target of a symlink, as stored.
    pub link_target: Option<PathBuf>,
    /// sha256 of a regular file's content.
    pub content_sha256: Option<[u8; 32]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// Every entry under `dir` (itself included), keyed by path, never following symlinks.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .map(|entry| {
            let entry = entry.unwrap_or_else(|e| panic!("walk {}: {e}", dir.display()));
            let path = entry.path().to_path_buf();
            let meta = entry
                .metadata()
                .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
            let file_type = meta.file_type();
            let kind = if file_type.is_symlink() {
                EntryKind::Symlink
            } else if file_type.is_dir() {
                EntryKind::Dir
            } else if file_type.is_file() {
                EntryKind::File
            } else {
                EntryKind::Other
            };
            let link_target =
                (kind == EntryKind::Symlink).then(|| or_panic(fs::read_link(&path), &path));
            let content_sha256 = (kind == EntryKind::File)
                .then(|| Sha256::digest(or_panic(fs::read(&path), &path)).into());
            let snapshot = Entry {
                kind,
                len: meta.len(),
                mode: meta.mode(),
                ino: meta.ino(),
                nlink: meta.nlink(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
                link_target,
                content_sha256,
            };
            (path, snapshot)
        })
        .collect()
}

fn or_panic<T>(result: std::io::Result<T>, path: &Path) -> T {
    result.unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Panics with the first few differences between two snapshots, if any.
pub fn assert_same_snapshot(before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>) {
    let mut differences = Vec::new();
    for (path, entry) in before {
        match after.get(path) {
            None => differences.push(format!("removed: {}", path.display())),
            Some(now) if now != entry => differences.push(format!(
                "changed: {}\n  before {entry:?}\n  after  {now:?}",
                path.display()
            )),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        differences.push(format!("added: {}", path.display()));
    }
    assert!(
        differences.is_empty(),
        "{} differences, first ones:\n{}",
        differences.len(),
        differences
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Prefix of the trash dirs `--apply` renames archives to inside `archive-v0` (part of the
/// contract: leftover trash from a killed run must be gone after the next `--apply`).
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

/// Names of the trash dirs `--apply` left in `<cache>/archive-v0`.
pub fn trash_entries(cache: &Path) -> BTreeSet<String> {
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

/// Every pointer in the cache's pointer buckets (`wheels-v*`, `sdists-v*`,
/// `environments-v*` and older generations; unpacked sources under `sdists-v*/**/src`
/// skipped, as uv does), with the problems of those that name no archive one can tell:
/// each symlink into `archive-v0`, and each `.rev` and `.http` file of a wheel bucket,
/// named by which of the `known` ids its bytes contain. Matching raw bytes needs no msgpack
/// decoder (so it cannot share a decoder's bug) and still works when a crash left the file
/// without its symlink sibling.
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

/// Every pointer in the cache (see [`pointers`]); panics on a pointer file that names no
/// known id or several.
pub fn cache_pointers(cache: &Path, known: &BTreeSet<String>) -> Vec<Pointer> {
    let (found, problems) = pointers(cache, known);
    assert!(problems.is_empty(), "unreadable pointers: {problems:#?}");
    found
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
    let records = dist_info_records(&base);
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
pub fn dist_info_records(dir: &Path) -> Vec<PathBuf> {
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
    let mut problems: Vec<String> = dist_info_records(&site)
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
