//! Facts about the filesystem computed without asking the tool under test.
//!
//! A test that compares the pruner's answer with the pruner's own inventory proves nothing,
//! so archive ids come from looking for dist-info directories, byte counts from `du`, and
//! "nothing changed" from a full snapshot of metadata and content.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

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

/// `(id, path)` of every archive; none before uv has unpacked anything.
fn archive_dirs(cache: &Path) -> impl Iterator<Item = (String, PathBuf)> {
    let dir = cache.join("archive-v0");
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => Some(entries),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("read {}: {e}", dir.display()),
    };
    entries
        .into_iter()
        .flatten()
        .map(|entry| entry.expect("archive-v0 entry"))
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            )
        })
        .filter(|(id, _)| !id.starts_with('.'))
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

/// The archive id a cache symlink (`... -> ../../archive-v0/<id>`) names, read directly.
pub fn archive_named_by(symlink: &Path) -> String {
    let target =
        fs::read_link(symlink).unwrap_or_else(|e| panic!("readlink {}: {e}", symlink.display()));
    let parent = target.parent().and_then(Path::file_name);
    assert_eq!(
        parent.and_then(|p| p.to_str()),
        Some("archive-v0"),
        "{} -> {}",
        symlink.display(),
        target.display()
    );
    target
        .file_name()
        .expect("archive id")
        .to_string_lossy()
        .into_owned()
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
