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

/// Prefix of the trash dirs `--apply` renames archives to inside `archive-v0` (part of the
/// contract: leftover trash from a killed run must be gone after the next `--apply`).
pub const TRASH_PREFIX: &str = ".uv-cache-prune-trash-";

/// Names of the trash dirs in `<cache>/archive-v0`.
pub fn trash_entries(cache: &Path) -> BTreeSet<String> {
    let dir = cache.join("archive-v0");
    or_panic(fs::read_dir(&dir), &dir)
        .map(|entry| entry.expect("archive-v0 entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.starts_with(TRASH_PREFIX))
        .collect()
}

/// A file in the cache that names an archive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pointer {
    pub path: PathBuf,
    /// The archive id it names.
    pub id: String,
}

/// The bucket families whose entries name archives, in every generation.
const POINTER_BUCKETS: &[&str] = &[
    "wheels-v",
    "sdists-v",
    "built-wheels-v",
    "source-dists-v",
    "environments-v",
];

/// Every pointer in the cache's pointer buckets (`wheels-v*`, `sdists-v*`, `environments-v*`
/// and older generations; unpacked sources under `sdists-v*/**/src` skipped, as uv does):
/// each symlink, read with [`archive_named_by`], and each `.rev` and `.http` file, named by
/// which of the `known` ids its bytes contain. Matching raw bytes needs no msgpack decoder
/// (so it cannot share a decoder's bug) and still works when a crash left the file without
/// its symlink sibling. Panics on a pointer file that names no known id or several.
pub fn cache_pointers(cache: &Path, known: &BTreeSet<String>) -> Vec<Pointer> {
    let mut pointers = Vec::new();
    for bucket in or_panic(fs::read_dir(cache), cache) {
        let bucket = bucket.expect("cache entry").path();
        let name = bucket.file_name().expect("entry name").to_string_lossy();
        if !POINTER_BUCKETS.iter().any(|p| name.starts_with(p)) || !bucket.is_dir() {
            continue;
        }
        let sources = name.starts_with("sdists-v") || name.starts_with("source-dists-v");
        let walk = walkdir::WalkDir::new(&bucket)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| !(sources && e.file_type().is_dir() && e.file_name() == "src"));
        for entry in walk {
            let entry = entry.unwrap_or_else(|e| panic!("walk {}: {e}", bucket.display()));
            let path = entry.path();
            let id = if entry.path_is_symlink() {
                archive_named_by(path)
            } else if entry.file_type().is_file()
                && path.extension().is_some_and(|x| x == "rev" || x == "http")
                // `revision.rev`/`.http` name a source revision's directory, not an archive.
                && !entry.file_name().to_string_lossy().starts_with("revision.")
            {
                named_in_bytes(path, known)
            } else {
                continue;
            };
            pointers.push(Pointer {
                path: path.to_owned(),
                id,
            });
        }
    }
    pointers.sort();
    pointers
}

/// The one id of `known` that occurs in the bytes of `file`.
fn named_in_bytes(file: &Path, known: &BTreeSet<String>) -> String {
    let bytes = or_panic(fs::read(file), file);
    let named: Vec<&String> = known
        .iter()
        .filter(|id| bytes.windows(id.len()).any(|w| w == id.as_bytes()))
        .collect();
    match named.as_slice() {
        [id] => (*id).clone(),
        _ => panic!(
            "{} names {} of the known archives {known:?}: {named:?}",
            file.display(),
            named.len()
        ),
    }
}

/// What is wrong with the files `record` (a dist-info `RECORD`) lists, relative to `base`:
/// each missing file, and each whose sha256 differs from the recorded one. Symlinks are
/// followed, so a symlink-mode venv is checked through to the archive it uses.
pub fn record_problems(base: &Path, record: &Path) -> Vec<String> {
    let text = match fs::read_to_string(record) {
        Ok(text) => text,
        Err(e) => return vec![format!("cannot read {}: {e}", record.display())],
    };
    let mut problems = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut fields = line.rsplitn(3, ',');
        let (_size, hash, name) = (fields.next(), fields.next(), fields.next());
        let name =
            name.unwrap_or_else(|| panic!("bad RECORD line in {}: {line}", record.display()));
        let path = base.join(name);
        match (
            fs::read(&path),
            hash.and_then(|h| h.strip_prefix("sha256=")),
        ) {
            (Err(e), _) => problems.push(format!("{}: {e}", path.display())),
            (Ok(content), Some(expected)) => {
                use base64::Engine as _;
                let actual = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(content));
                if actual != expected {
                    problems.push(format!(
                        "{}: sha256 {actual}, RECORD says {expected}",
                        path.display()
                    ));
                }
            }
            (Ok(_), None) => {}
        }
    }
    problems
}

/// The `RECORD` files of every `*.dist-info` directly in `dir`.
pub fn dist_info_records(dir: &Path) -> Vec<PathBuf> {
    let mut records: Vec<PathBuf> = or_panic(fs::read_dir(dir), dir)
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|x| x == "dist-info"))
        .map(|path| path.join("RECORD"))
        .collect();
    records.sort();
    records
}

/// What keeps `<cache>/archive-v0/<id>` from being a complete unpacked wheel: it is
/// missing, has no dist-info, or a file its `RECORD` lists is missing or altered.
pub fn archive_problems(cache: &Path, id: &str) -> Vec<String> {
    let dir = cache.join("archive-v0").join(id);
    if !dir.is_dir() {
        return vec![format!("{} does not exist", dir.display())];
    }
    // A cached environment is complete when the wheels installed in it are.
    let base = if dir.join("pyvenv.cfg").is_file() {
        super::site_packages(&dir)
    } else {
        dir.clone()
    };
    let records = dist_info_records(&base);
    if records.is_empty() {
        return vec![format!("{} has no dist-info", base.display())];
    }
    records
        .iter()
        .flat_map(|record| record_problems(&base, record))
        .collect()
}

/// What is wrong with the pointers of `cache` (see [`cache_pointers`]): each one that
/// names an archive that is missing or incomplete. uv trusts a pointer without checking
/// its archive, so after any crash this must be empty.
pub fn pointer_problems(cache: &Path, known: &BTreeSet<String>) -> Vec<String> {
    cache_pointers(cache, known)
        .iter()
        .flat_map(|pointer| {
            archive_problems(cache, &pointer.id)
                .into_iter()
                .map(move |p| format!("{} -> {}: {p}", pointer.path.display(), pointer.id))
        })
        .collect()
}
