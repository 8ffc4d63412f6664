//! Stage 2: what the cache holds. Every archive with what it is (a wheel with its
//! dist-info, a cached venv, or something we do not recognize), and every pointer in every
//! bucket generation with what it names.
//!
//! Cost matters here (it runs from git hooks): per archive we read one directory and
//! `lstat` one file (`METADATA`, whose inode is the hardlink evidence), and read no file;
//! archive contents are only walked later, and only for candidates. The archives are
//! classified, and the pointers read, on every thread (`crate::sys::threads`): each is
//! independent, and the results are folded in listing order, so the inventory is the same
//! on any number of threads.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use walkdir::WalkDir;

use crate::cache::archive_id::ArchiveId;
use crate::cache::dist::DistInfo;
use crate::cache::layout::{Bucket, BucketFamily};
use crate::cache::locate::CacheDir;
use crate::cache::pointer::{self, POINTER_MAX, PointerKind, Sha256, Target};
use crate::report::progress::Progress;
use crate::sys::fs_meta::{EntryStat, entry_stat};
use crate::sys::read::BlindSpot;
use crate::sys::read::{ReadError, read_regular};
use crate::sys::threads::{self, Threads};
use crate::warning::{Warning, WarningKind};

/// What an archive directory turned out to hold.
#[derive(Debug, Clone)]
pub enum ArchiveKind {
    /// An unpacked wheel. `metadata` is the `lstat` of its `METADATA`.
    Wheel { dist: DistInfo, metadata: EntryStat },
    /// A whole virtualenv (`uvx`, `uv run --with`), named by `environments-v*` links.
    Venv,
    /// Neither: kept, because we do not know who uses it.
    Unrecognized,
    /// We could not look inside: kept.
    Unreadable(String),
}

#[derive(Debug, Clone)]
pub struct Archive {
    pub id: ArchiveId,
    pub path: PathBuf,
    pub kind: ArchiveKind,
    /// The directory's mtime: uv renames a finished archive into place, so this is about
    /// when it was created.
    pub created: Option<SystemTime>,
    /// The ctime of a wheel's `METADATA`: it changes whenever a hardlink venv links or
    /// unlinks the file, so it is a last-use time uv leaves behind for free.
    pub linked: Option<SystemTime>,
    /// Who unpacked it (the directory's owner, from the same `lstat`): on a cache several
    /// users write, a user whose venvs this run cannot see (`crate::discover::users`). `None`
    /// where there are no owners (not Unix).
    pub owner: Option<u32>,
}

impl Archive {
    pub fn dist(&self) -> Option<&DistInfo> {
        match &self.kind {
            ArchiveKind::Wheel { dist, .. } => Some(dist),
            _ => None,
        }
    }
}

/// One file or link in a bucket that names (or might name) an archive.
#[derive(Debug, Clone)]
pub struct Pointer {
    pub path: PathBuf,
    pub kind: PointerKind,
    pub family: BucketFamily,
    pub target: Target,
    /// The known ids that appear in the pointer's bytes, searched only when it did not
    /// decode; `None` when its bytes could not be read at all (it might name anything).
    pub mentions: Option<Vec<ArchiveId>>,
    /// The SHA-256 digests of the wheel file a `.rev`/`.http` record was unpacked from
    /// (empty for other kinds, and when uv recorded none): what `lock_evidence` matches a
    /// `uv.lock`'s wheel hashes against.
    pub sha256: Vec<Sha256>,
}

#[derive(Debug, Default)]
pub struct Inventory {
    pub archives: BTreeMap<ArchiveId, Archive>,
    pub pointers: Vec<Pointer>,
    /// Bucket directories (`builds-v0`, …) holding venvs that may refer to archives.
    pub build_dirs: Vec<PathBuf>,
    /// Things in the cache we could not read or did not expect; each names a path.
    pub warnings: Vec<Warning>,
}

/// Scans `archive-v0` and every pointer bucket, on `threads` threads.
pub fn take(cache: &CacheDir, progress: &Progress, threads: Threads) -> Result<Inventory> {
    let mut inventory = Inventory::default();
    // The buckets are listed on a thread of their own while the archives are classified
    // (a listing is one `getdents` after another, and leaves the other cores idle); their
    // pointers are then read on every thread, once the archives are known (an undecoded
    // pointer is searched for their ids). Only the archives' progress is drawn meanwhile.
    let (archives, buckets) = std::thread::scope(|scope| {
        let listing = scope.spawn(|| list_buckets(cache));
        let archives = scan_archives(cache, &mut inventory, progress, threads);
        let buckets = listing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (archives, buckets)
    });
    archives?;
    let (buckets, build_dirs) = buckets?;
    inventory.build_dirs = build_dirs;
    let spinner = progress.spinner("reading pointers");
    for bucket in buckets {
        spinner.inc(bucket.walked.len() as u64);
        let mut undecoded = Undecoded::default();
        let (family, dir) = (bucket.family, bucket.dir);
        read_walked(
            bucket.walked,
            family,
            &mut inventory,
            &mut undecoded,
            threads,
        );
        inventory.warnings.extend(
            undecoded
                .warning(&dir)
                .map(|m| Warning::new(WarningKind::Unexpected, m)),
        );
    }
    spinner.finish_and_clear();
    Ok(inventory)
}

/// What one entry of `archive-v0` turned out to be.
enum Listed {
    /// A dot entry: trash or a temp dir, never an archive.
    Skipped,
    Archive(Archive),
    /// Something to warn about and leave alone.
    Warning(Warning),
}

fn scan_archives(
    cache: &CacheDir,
    inv: &mut Inventory,
    progress: &Progress,
    threads: Threads,
) -> Result<()> {
    let dir = cache.archive_dir();
    let entries = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list archives in {}", dir.display()))?;
    let names: Vec<_> = entries
        .collect::<io::Result<Vec<_>>>()
        .with_context(|| format!("cannot list archives in {}", dir.display()))?;
    let bar = progress.bar(names.len() as u64, "reading archives");
    let listed = threads::map(threads, &names, |entry| {
        bar.inc(1);
        list_archive(entry)
    });
    for listed in listed {
        match listed {
            Listed::Skipped => {}
            Listed::Archive(archive) => {
                inv.archives.insert(archive.id.clone(), archive);
            }
            Listed::Warning(warning) => inv.warnings.push(warning),
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// One entry of `archive-v0`, classified.
fn list_archive(entry: &std::fs::DirEntry) -> Listed {
    let name = entry.file_name();
    // Dot entries are our own trash or uv's temp dirs: never archives.
    if name.as_encoded_bytes().starts_with(b".") {
        return Listed::Skipped;
    }
    let path = entry.path();
    let Some(id) = ArchiveId::from_os_str(&name) else {
        return Listed::Warning(Warning::new(
            WarningKind::Unexpected,
            format!("{}: not an archive id, left alone", path.display()),
        ));
    };
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => {
            let (kind, linked) = classify_archive(&path);
            Listed::Archive(Archive {
                id,
                path,
                kind,
                created: meta.modified().ok(),
                linked,
                owner: owner(&meta),
            })
        }
        Ok(_) => Listed::Warning(Warning::new(
            WarningKind::Unexpected,
            format!("{}: not a directory, left alone", path.display()),
        )),
        Err(err) => Listed::Warning(Warning::new(
            WarningKind::Unreadable,
            format!("{}: {err}", path.display()),
        )),
    }
}

/// The owner of an entry, where files have one.
fn owner(meta: &std::fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(meta.uid())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// What the archive is, and the ctime of its `METADATA` if it is a wheel.
fn classify_archive(path: &Path) -> (ArchiveKind, Option<SystemTime>) {
    let entries = match std::fs::read_dir(path).and_then(|it| it.collect::<io::Result<Vec<_>>>()) {
        Ok(entries) => entries,
        Err(err) => {
            return (
                ArchiveKind::Unreadable(format!("{}: {err}", path.display())),
                None,
            );
        }
    };
    if entries.iter().any(|e| e.file_name() == "pyvenv.cfg") {
        return (ArchiveKind::Venv, None);
    }
    let mut dists = entries
        .iter()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| DistInfo::from_dir(&e.path()));
    let (Some(dist), None) = (dists.next(), dists.next()) else {
        // No dist-info, or several: not a wheel as uv unpacks them.
        return (ArchiveKind::Unrecognized, None);
    };
    let (metadata, linked) = match std::fs::symlink_metadata(dist.metadata()) {
        Ok(meta) => (entry_stat(&meta), changed(&meta)),
        Err(err) => {
            let reason = format!("{}: {err}", dist.metadata().display());
            return (ArchiveKind::Unreadable(reason), None);
        }
    };
    let kind = ArchiveKind::Wheel { dist, metadata };
    (kind, linked)
}

#[cfg(unix)]
fn changed(meta: &std::fs::Metadata) -> Option<SystemTime> {
    use std::os::unix::fs::MetadataExt;
    let secs = u64::try_from(meta.ctime()).ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(not(unix))]
fn changed(_: &std::fs::Metadata) -> Option<SystemTime> {
    None
}

/// One step of a bucket's walk, kept in walk order so that the pointers can be read on
/// every thread and still be folded in that order. (A listing holds every file of the
/// bucket at once: no more than the pointers the inventory keeps anyway.)
enum Walked {
    /// A subtree that could not be read.
    Unreadable(BlindSpot),
    /// A file or symlink: maybe a pointer.
    Entry(PathBuf, std::fs::FileType),
}

/// One pointer bucket, listed: every file and symlink in it (and every subtree that
/// could not be read), in walk order.
struct ListedBucket {
    dir: PathBuf,
    family: BucketFamily,
    walked: Vec<Walked>,
}

/// Every bucket directory, listed (not read): the pointer buckets, and the `builds-v*`
/// directories, which hold venvs rather than pointers.
fn list_buckets(cache: &CacheDir) -> Result<(Vec<ListedBucket>, Vec<PathBuf>)> {
    let root = cache.root();
    let entries =
        std::fs::read_dir(root).with_context(|| format!("cannot list {}", root.display()))?;
    let mut buckets = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some(family) = name.to_str().and_then(BucketFamily::of)
            && entry.file_type().is_ok_and(|t| t.is_dir())
        {
            buckets.push((entry.path(), family));
        }
    }
    buckets.sort();
    let (mut listed, mut build_dirs) = (Vec::new(), Vec::new());
    for (dir, family) in buckets {
        if family == BucketFamily::Builds {
            build_dirs.push(dir);
            continue;
        }
        let mut walked = Vec::new();
        let mut walk = WalkDir::new(&dir).follow_links(false).into_iter();
        while let Some(entry) = walk.next() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let path = err.path().unwrap_or(&dir).to_owned();
                    walked.push(Walked::Unreadable(BlindSpot::new(path, err.to_string())));
                    continue;
                }
            };
            let file_type = entry.file_type();
            if file_type.is_dir() {
                if family == BucketFamily::SourceDists && entry.file_name() == "src"
                    || family == BucketFamily::Environments && is_cached_venv(&entry)
                {
                    walk.skip_current_dir();
                }
                continue;
            }
            walked.push(Walked::Entry(entry.into_path(), file_type));
        }
        listed.push(ListedBucket {
            dir,
            family,
            walked,
        });
    }
    Ok((listed, build_dirs))
}

/// A venv directly in `environments-v*` (a PEP 723 script's, a project's): not a place of
/// pointers but a venv, which `crate::environments` judges and the matcher scans like
/// any other. Walking it as pointers would read each of its small files as a possible
/// link file, moving the access times that tell when it was last used, and would count
/// each symlink of a symlink-mode environment as a pointer of its own.
fn is_cached_venv(entry: &walkdir::DirEntry) -> bool {
    entry.depth() == 1
        && std::fs::symlink_metadata(entry.path().join("pyvenv.cfg")).is_ok_and(|m| m.is_file())
}

/// Reads the pointers among `walked` on every thread, and folds them into `inv` in walk
/// order.
fn read_walked(
    walked: Vec<Walked>,
    family: BucketFamily,
    inv: &mut Inventory,
    undecoded: &mut Undecoded,
    threads: Threads,
) {
    let archives = &inv.archives;
    let read = threads::map(threads, &walked, |walked| match walked {
        Walked::Entry(path, file_type) => Some(read_pointer(path, *file_type, family, archives)),
        Walked::Unreadable(..) => None,
    });
    for (walked, read) in walked.into_iter().zip(read) {
        match (walked, read) {
            (Walked::Unreadable(BlindSpot { path, cause: err }), _) => {
                // A subtree we cannot read may hold pointers: record it as one
                // unreadable pointer, so that doubt keeps archives.
                inv.warnings.push(Warning::new(
                    WarningKind::Unreadable,
                    format!(
                        "cannot read {}: {err}; every archive is kept",
                        path.display()
                    ),
                ));
                inv.pointers.push(Pointer {
                    path,
                    kind: PointerKind::Symlink,
                    family,
                    target: Target::Unreadable(err),
                    mentions: None,
                    sha256: Vec::new(),
                });
            }
            (Walked::Entry(..), Some(Ok(Some(pointer)))) => {
                if let Target::Unreadable(reason) = &pointer.target {
                    undecoded.add(&pointer.path, reason);
                }
                inv.pointers.push(pointer);
            }
            (Walked::Entry(..), Some(Err(warning))) => {
                inv.warnings
                    .push(Warning::new(WarningKind::Unreadable, warning));
            }
            (Walked::Entry(..), Some(Ok(None)) | None) => {}
        }
    }
}

/// The pointers of one bucket that did not decode: one warning per bucket, with a count
/// and the first few examples, since a cache written by a uv whose format we do not know
/// has thousands of them and a warning each would bury everything else.
#[derive(Default)]
struct Undecoded {
    count: usize,
    examples: Vec<BlindSpot>,
}

impl Undecoded {
    /// How many pointers a bucket's warning names.
    const EXAMPLES: usize = 3;

    fn add(&mut self, path: &Path, reason: &str) {
        self.count += 1;
        if self.examples.len() < Self::EXAMPLES {
            self.examples.push(BlindSpot::new(path, reason));
        }
    }

    fn warning(&self, bucket: &Path) -> Option<String> {
        let examples: Vec<String> = self
            .examples
            .iter()
            .map(
                |BlindSpot {
                     path,
                     cause: reason,
                 }| format!("{}: {reason}", path.display()),
            )
            .collect();
        Some(match self.count {
            0 => return None,
            1 => format!(
                "cannot decode pointer {}; what it may name is kept",
                examples.join("")
            ),
            n => format!(
                "cannot decode {n} pointers in {} ({}{}); what they may name is kept",
                bucket.display(),
                examples.join("; "),
                if n > examples.len() { "; …" } else { "" }
            ),
        })
    }
}

/// Largest file we read as a possible Windows-style link file.
const LINK_FILE_MAX: u64 = 4096;

fn read_pointer(
    path: &Path,
    file_type: std::fs::FileType,
    family: BucketFamily,
    archives: &BTreeMap<ArchiveId, Archive>,
) -> Result<Option<Pointer>, String> {
    let pointer = |kind, target, mentions| {
        Ok(Some(Pointer {
            path: path.to_owned(),
            kind,
            family,
            target,
            mentions,
            sha256: Vec::new(),
        }))
    };
    if file_type.is_symlink() {
        return match std::fs::read_link(path) {
            Ok(target) => pointer(
                PointerKind::Symlink,
                pointer::decode_path(&target),
                Some(Vec::new()),
            ),
            Err(err) => pointer(
                PointerKind::Symlink,
                Target::Unreadable(err.to_string()),
                None,
            ),
        };
    }
    let name = path.file_name().unwrap_or(OsStr::new(""));
    let name = name.to_string_lossy();
    let kind = match Path::new(name.as_ref()).extension().and_then(OsStr::to_str) {
        // `revision.*` in source-dist buckets names a revision directory, not an archive.
        _ if name.starts_with("revision.") => return Ok(None),
        Some("rev") => PointerKind::Rev,
        Some("http") => PointerKind::Http,
        Some("msgpack" | "lock" | "whl" | "zip" | "gz" | "json") => return Ok(None),
        _ => PointerKind::LinkFile,
    };
    if kind == PointerKind::LinkFile {
        return read_link_file(path, family);
    }
    let bytes = match read_regular(path, POINTER_MAX) {
        Ok(bytes) => bytes,
        // A FIFO, a device, a giant: whatever it is, we never saw what it names.
        Err(err) => return pointer(kind, Target::Unreadable(err.to_string()), None),
    };
    match pointer::decode_record(kind, &bytes) {
        Ok(record) => Ok(Some(Pointer {
            path: path.to_owned(),
            kind,
            family,
            target: Target::Archive(record.id),
            mentions: Some(Vec::new()),
            sha256: record.sha256,
        })),
        Err(reason) => {
            let mentions = pointer::ids_mentioned(&bytes, archives.keys());
            pointer(kind, Target::Unreadable(reason), Some(mentions))
        }
    }
}

/// A file of no known pointer format is a Windows-style link file when it is small UTF-8
/// text naming `archive-v0`; anything else in a bucket (uv's other records) is not ours.
fn read_link_file(path: &Path, family: BucketFamily) -> Result<Option<Pointer>, String> {
    let bytes = match read_regular(path, LINK_FILE_MAX) {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge { .. }) => return Ok(None),
        // Not a format we know, so it cannot be a `.rev`/`.http` record; worth a note only.
        Err(err) => return Err(format!("{}: {err}", path.display())),
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(None);
    };
    if !text.contains(Bucket::Archives.name()) {
        return Ok(None);
    }
    Ok(Some(Pointer {
        path: path.to_owned(),
        kind: PointerKind::LinkFile,
        family,
        target: pointer::decode_path(Path::new(text.trim())),
        mentions: Some(Vec::new()),
        sha256: Vec::new(),
    }))
}
