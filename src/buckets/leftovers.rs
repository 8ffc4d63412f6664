//! What dies outside `archive-v0`: leftovers of interrupted uv runs and `files-v0` objects
//! nothing links any more. Found by [`survey`] (read-only, the dry run shows them as what
//! `--apply` would free) and removed by [`remove`] under uv's exclusive lock, in the same
//! run and the same report as the dead archives.
//!
//! # What is freed, and why it is safe (uv 0.10.12 and 0.13.9, checked in uv's source)
//!
//! - **`.tmp*` at the cache root** ([`OtherKind::Temp`]): uv unzips a downloaded wheel into
//!   `tempfile::tempdir_in(<cache>)` (`.tmp` and six random characters) and renames it
//!   into `archive-v0` when done (`uv-distribution`, `distribution_database.rs`). One that
//!   is still there was left by a killed uv: no name of it is recorded anywhere, so uv
//!   never reads it again.
//! - **`builds-v*/<entry>`** ([`OtherKind::Build`]): `Cache::venv_dir` and
//!   `Cache::build_dir` are `tempdir_in(builds-v0)`: the throwaway venvs of PEP 517 builds
//!   and of `uv run --with`, deleted by uv when the build ends. Random names again: never
//!   reused.
//! - **Orphaned `files-v0` objects** ([`OtherKind::Object`]): an object of the
//!   content-addressed preview whose only link is its own name: no archive (and no venv)
//!   holds its content any more. uv creates an object and links it into the archive it is
//!   unpacking in one go, so an object alone was orphaned: by an archive removed earlier (a
//!   crash of ours before the object step, `uv cache clean`, an older uv's prune, or a
//!   hand `rm`), which is what uv's own prune removes. The objects this run orphans are
//!   handled by the plan (`crate::cache::objects`); these are the ones orphaned before it.
//!
//! Each must be older than the grace window (its `ctime`, which every change to it or to
//! its link count moves forward): with uv's exclusive lock held no uv that takes the lock
//! is running, and the window covers an older uv or a tool that does not.
//!
//! # Removal
//!
//! By descriptor from the validated cache root ([`CacheRoot`]): `builds-v*` and
//! `files-v0/<shard>` are opened with `O_NOFOLLOW` and must be on the cache root's mount;
//! directories go through [`crate::sys::rmtree`] (never following a symlink, never crossing a
//! mount); files are `unlinkat`ed after a fresh `fstatat` (a regular file, the same inode,
//! and for an object still one link). A kill at any instant is safe without a trash step:
//! a half-deleted temporary directory is still a temporary directory no one will read,
//! and an object is one `unlinkat`. What cannot be removed is left and warned about.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::AtFlags;
use rustix::io::Errno;

use crate::apply::guard::CacheRoot;
use crate::cache::layout::{BucketFamily, TRASH_PREFIX};
use crate::cache::objects::OBJECT_BUCKET;
use crate::sys::at;
use crate::sys::fs_meta::FileId;
use crate::warning::{Warning, WarningKind};

/// What uv's `tempfile::tempdir_in` names its directories: `.tmp` and random characters.
const TEMP_PREFIX: &str = ".tmp";

/// Which kind of leftover an `Other` (an entry a prune frees outside `archive-v0`) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OtherKind {
    /// A `.tmp*` entry at the cache root: an interrupted download or unzip.
    Temp,
    /// An entry of `builds-v*`: a build's or `uv run --with`'s throwaway venv.
    Build,
    /// A `files-v0` object no archive links any more.
    Object,
    /// A built sdist's entry in `sdists-v*` whose archives are dead and that no lock names
    /// (`crate::buckets::sdists`): renamed whole to a `.tmp*` name at the root, then deleted.
    Sdist,
    /// A package's cached index page in `simple-v*` that nothing here needs
    /// (`crate::buckets::index_pages`, only with `--unused-for`).
    Index,
    /// A PEP 723 script's cached environment in `environments-v*` not used for
    /// `--unused-for` (`crate::buckets::environments`): renamed whole to a `.tmp*` name at the
    /// root, then deleted, before any archive.
    Environment,
}

impl std::fmt::Display for OtherKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OtherKind::Temp => "temp",
            OtherKind::Build => "build",
            OtherKind::Object => "object",
            OtherKind::Sdist => "sdist",
            OtherKind::Index => "index",
            OtherKind::Environment => "environment",
        })
    }
}

/// One thing outside `archive-v0` that `--apply` frees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Other {
    /// The top-level directory it is in (`files-v0`, `builds-v0`), or `.` for the root.
    pub bucket: String,
    /// Its path relative to the cache root: one name at the root, two in a bucket, three
    /// for an object (`files-v0/<shard>/<name>`).
    pub rel: Vec<OsString>,
    pub kind: OtherKind,
    /// Allocated bytes that go with it (each inode once, only inodes all of whose links
    /// are inside it), as `du -B1` sees them disappear.
    pub bytes: u64,
    /// A directory (removed as a tree) or a file.
    pub is_dir: bool,
    /// The inode when surveyed: a file replaced since is left.
    pub file: FileId,
}

impl Other {
    /// Its path under `cache_root`.
    pub fn path(&self, cache_root: &Path) -> PathBuf {
        let mut path = cache_root.to_owned();
        path.extend(&self.rel);
        path
    }
}

/// Everything outside `archive-v0` that is dead and older than `grace` (see the module
/// docs), with warnings for what could not be read. Read-only.
pub fn survey(cache_root: &Path, grace: Duration, now: SystemTime) -> (Vec<Other>, Vec<Warning>) {
    let mut found = Vec::new();
    let mut warnings = Vec::new();
    let Ok(root_meta) = std::fs::symlink_metadata(cache_root) else {
        return (found, warnings);
    };
    let dev = root_meta.dev();
    let old = |meta: &std::fs::Metadata| {
        let ctime = SystemTime::UNIX_EPOCH
            + Duration::new(
                u64::try_from(meta.ctime()).unwrap_or(u64::MAX / 2),
                u32::try_from(meta.ctime_nsec()).unwrap_or(0),
            );
        now.duration_since(ctime).is_ok_and(|age| age >= grace)
    };
    let entries = match std::fs::read_dir(cache_root) {
        Ok(entries) => entries,
        Err(err) => {
            warnings.push(Warning::new(
                WarningKind::Unreadable,
                format!(
                    "cannot list {}: {err}; no leftovers are removed this run",
                    cache_root.display()
                ),
            ));
            return (found, warnings);
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.dev() != dev || meta.file_type().is_symlink() {
            continue;
        }
        let text = name.to_string_lossy();
        if text.starts_with(TEMP_PREFIX) && !text.starts_with(TRASH_PREFIX) {
            if (meta.is_dir() || meta.is_file()) && old(&meta) {
                found.push(other(".", vec![name], OtherKind::Temp, &meta, cache_root));
            }
            continue;
        }
        let Some(bucket) = name.to_str() else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        if BucketFamily::of(bucket) == Some(BucketFamily::Builds) {
            let dir = cache_root.join(bucket);
            for entry in list(&dir, &mut warnings) {
                let Ok(meta) = entry.metadata() else { continue };
                if meta.dev() == dev && (meta.is_dir() || meta.is_file()) && old(&meta) {
                    let rel = vec![name.clone(), entry.file_name()];
                    found.push(other(bucket, rel, OtherKind::Build, &meta, cache_root));
                }
            }
        } else if bucket == OBJECT_BUCKET {
            for shard in list(&cache_root.join(bucket), &mut warnings) {
                let Ok(shard_meta) = shard.metadata() else {
                    continue;
                };
                if !shard_meta.is_dir() || shard_meta.dev() != dev {
                    continue;
                }
                for object in list(&shard.path(), &mut warnings) {
                    let Ok(meta) = object.metadata() else {
                        continue;
                    };
                    if meta.is_file() && meta.nlink() == 1 && meta.dev() == dev && old(&meta) {
                        let rel = vec![name.clone(), shard.file_name(), object.file_name()];
                        found.push(other(bucket, rel, OtherKind::Object, &meta, cache_root));
                    }
                }
            }
        }
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    (found, warnings)
}

fn list(dir: &Path, warnings: &mut Vec<Warning>) -> Vec<std::fs::DirEntry> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().collect(),
        Err(err) => {
            warnings.push(Warning::new(
                WarningKind::Unreadable,
                format!(
                    "cannot list {}: {err}; what it holds is kept",
                    dir.display()
                ),
            ));
            Vec::new()
        }
    }
}

fn other(
    bucket: &str,
    rel: Vec<OsString>,
    kind: OtherKind,
    meta: &std::fs::Metadata,
    cache_root: &Path,
) -> Other {
    let mut path = cache_root.to_owned();
    path.extend(&rel);
    let bytes = if meta.is_dir() {
        tree_bytes(&path, meta.dev())
    } else if meta.nlink() == 1 {
        meta.blocks() * 512
    } else {
        0
    };
    Other {
        bucket: bucket.to_owned(),
        rel,
        kind,
        bytes,
        is_dir: meta.is_dir(),
        file: FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        },
    }
}

/// `du -sB1` of a tree that is deleted whole: each directory, and each inode whose every
/// link is inside the tree, counted once. Never follows a symlink or leaves `dev`.
pub(crate) fn tree_bytes(top: &Path, dev: u64) -> u64 {
    let mut total = 0;
    let mut links: std::collections::HashMap<(u64, u64), (u64, u64)> = Default::default();
    if let Ok(meta) = std::fs::symlink_metadata(top) {
        total += meta.blocks() * 512;
    }
    each_entry(top, dev, |meta| {
        if meta.is_dir() || meta.nlink() <= 1 {
            total += meta.blocks() * 512;
        } else {
            let seen = links
                .entry((meta.dev(), meta.ino()))
                .or_insert((0, meta.nlink()));
            seen.0 += 1;
            if seen.0 == seen.1 {
                total += meta.blocks() * 512;
            }
        }
    });
    total
}

/// Calls `visit` with the `lstat` of every entry below `top` (not `top` itself), never
/// following a symlink and never entering a directory on another device than `dev`. A
/// directory that cannot be listed is skipped: the callers only read, for byte counts
/// and link counts, and keep what they cannot read.
pub(crate) fn each_entry(top: &Path, dev: u64, mut visit: impl FnMut(&std::fs::Metadata)) {
    let mut stack = vec![top.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.dev() != dev {
                continue;
            }
            if meta.is_dir() {
                stack.push(entry.path());
            }
            visit(&meta);
        }
    }
}

/// What [`remove`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtherRemoval {
    /// Entries removed whole.
    pub entries: usize,
    /// Allocated bytes of the inodes whose last link went.
    pub bytes: u64,
    /// What was left in place, and why.
    pub warnings: Vec<Warning>,
    /// Where a removal was refused for lack of permission (each one a warning too).
    pub denied: Vec<crate::sys::denied::Denied>,
}

/// Removes `others` (a [`survey`] made under the lock) by descriptor from `root`.
/// `before_change` runs before every change (the crash tests' fault hook).
pub fn remove(
    root: &CacheRoot,
    others: &[Other],
    before_change: &(dyn Fn() + Sync),
) -> OtherRemoval {
    let mut removal = OtherRemoval::default();
    let fence = match at::dir_stat(root.fd()) {
        Ok(stat) => stat.mount,
        Err(err) => {
            removal.warnings.push(Warning::new(
                WarningKind::Unreadable,
                format!(
                    "cannot read {}: {err}; no leftover was removed",
                    root.path().display()
                ),
            ));
            return removal;
        }
    };
    for other in others {
        let path = other.path(root.path());
        let Some((leaf, dirs)) = other.rel.split_last() else {
            continue;
        };
        // Open each directory above the leaf from its parent, never following a symlink,
        // on the cache root's own mount.
        let mut held = None;
        let mut refused = None;
        let mut walked = root.path().to_owned();
        for name in dirs {
            walked.push(name);
            let parent: BorrowedFd<'_> = held
                .as_ref()
                .map_or(root.fd(), |fd: &std::os::fd::OwnedFd| fd.as_fd());
            let Ok(c_name) = CString::new(name.as_bytes()) else {
                refused = Some("a name with a NUL byte".to_owned());
                break;
            };
            match at::open_dir(parent, &c_name) {
                Ok(fd) => match at::dir_stat(fd.as_fd()) {
                    Ok(stat) if stat.mount.same(fence) => held = Some(fd),
                    Ok(_) => {
                        refused = Some(format!("{} is another mount", walked.display()));
                        break;
                    }
                    Err(err) => {
                        refused = Some(format!("cannot read {}: {err}", walked.display()));
                        break;
                    }
                },
                Err(Errno::NOENT) => {
                    refused = Some(String::new());
                    break;
                }
                Err(err) => {
                    if crate::sys::denied::is_denied(err) {
                        removal.denied.push(crate::sys::denied::Denied {
                            dir: walked.clone(),
                            err,
                        });
                    }
                    refused = Some(format!(
                        "cannot open {} as a directory without following a symlink: {err}",
                        walked.display()
                    ));
                    break;
                }
            }
        }
        if let Some(why) = refused {
            if !why.is_empty() {
                removal.warnings.push(Warning::new(
                    WarningKind::LeftInPlace,
                    format!("left {}: {why}", path.display()),
                ));
            }
            continue;
        }
        let parent = held.as_ref().map_or(root.fd(), |fd| fd.as_fd());
        let parent_path = path.parent().unwrap_or(root.path()).to_owned();
        let removed = if matches!(other.kind, OtherKind::Sdist | OtherKind::Environment) {
            remove_whole(
                root,
                parent,
                &parent_path,
                leaf,
                other,
                fence,
                before_change,
            )
        } else {
            remove_one(parent, &parent_path, leaf, other, fence, before_change)
        };
        match removed {
            Ok(Some(bytes)) => {
                removal.entries += 1;
                removal.bytes += bytes;
            }
            Ok(None) => {}
            Err(failed) => {
                removal.denied.extend(failed.denied);
                removal.warnings.push(Warning::new(
                    WarningKind::LeftInPlace,
                    format!("left {}: {}", path.display(), failed.why),
                ));
            }
        }
        // uv removes an object shard it empties; a non-empty one simply stays.
        if other.kind == OtherKind::Object
            && let (Some(shard), Some(store)) = (dirs.get(1), open_store(root))
            && let Ok(stat) =
                rustix::fs::statat(&store, shard.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
            && rustix::fs::unlinkat(&store, shard.as_os_str(), AtFlags::REMOVEDIR).is_ok()
        {
            removal.bytes += u64::try_from(stat.st_blocks).unwrap_or(0) * 512;
        }
    }
    removal
}

/// Why an entry was left: a sentence, and the refusal behind it when it was one.
struct Failed {
    why: String,
    denied: Option<crate::sys::denied::Denied>,
}

impl From<String> for Failed {
    fn from(why: String) -> Self {
        Self { why, denied: None }
    }
}

impl Failed {
    /// `why`, and a refusal in `dir` when `err` is one.
    fn by(why: String, dir: &Path, err: Errno) -> Self {
        let denied = crate::sys::denied::is_denied(err).then(|| crate::sys::denied::Denied {
            dir: dir.to_owned(),
            err,
        });
        Self { why, denied }
    }
}

fn open_store(root: &CacheRoot) -> Option<std::os::fd::OwnedFd> {
    at::open_dir(root.fd(), c"files-v0").ok()
}

/// Moves a surveyed directory (a built sdist's entry, a script environment) from its open parent to a fresh
/// `.tmp*` name at the cache root in one `renameat`, so uv sees it whole or not at all,
/// then deletes it there. Killed in between, the `.tmp*` directory is a leftover nothing
/// names, removed by a later run. `Ok(None)`: gone or changed since the survey (left).
fn remove_whole(
    root: &CacheRoot,
    parent: BorrowedFd<'_>,
    parent_path: &Path,
    leaf: &OsStr,
    other: &Other,
    fence: at::MountKey,
    before_change: &(dyn Fn() + Sync),
) -> Result<Option<u64>, Failed> {
    let Some(stat) = still_surveyed(parent, leaf, other)? else {
        return Ok(None);
    };
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::Directory {
        return Ok(None);
    }
    let mut attempt = 0u32;
    let aside = loop {
        let name = OsString::from(format!(
            "{TEMP_PREFIX}-uv-cache-prune-{}-{attempt}",
            std::process::id()
        ));
        before_change();
        match rustix::fs::renameat_with(
            parent,
            leaf,
            root.fd(),
            name.as_os_str(),
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => break name,
            Err(Errno::EXIST) if attempt < 100 => attempt += 1,
            Err(Errno::NOENT) => return Ok(None),
            Err(err) => {
                let why = format!(
                    "cannot move it whole to {}: {err}; it is kept as it was",
                    root.path().join(&name).display()
                );
                // The rename needs both directories: name the one that refuses.
                let dir = if writable(parent) {
                    root.path()
                } else {
                    parent_path
                };
                return Err(Failed::by(why, dir, err));
            }
        }
    };
    let outcome =
        crate::sys::rmtree::remove_tree(root.fd(), root.path(), &aside, fence, before_change);
    if !outcome.left.is_empty() || outcome.more_left > 0 {
        return Err(Failed {
            why: format!(
                "moved to {}, which nothing names, and not deleted whole: {}",
                root.path().join(&aside).display(),
                outcome.warnings().join("; ")
            ),
            denied: outcome.denied,
        });
    }
    Ok(Some(outcome.freed))
}

/// Whether this process may add and remove entries in the open directory `dir`.
fn writable(dir: BorrowedFd<'_>) -> bool {
    let access = rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK;
    rustix::fs::accessat(dir, c".", access, AtFlags::EACCESS).is_ok()
}

/// `leaf` in `parent` as it is now, if it is still the very entry the survey saw (same
/// device and inode, not followed); `None` when it is gone or was replaced.
fn still_surveyed(
    parent: BorrowedFd<'_>,
    leaf: &OsStr,
    other: &Other,
) -> Result<Option<rustix::fs::Stat>, String> {
    let stat = match rustix::fs::statat(parent, leaf, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(None),
        Err(err) => return Err(format!("cannot read it: {err}")),
    };
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    let same = stat.st_dev as u64 == other.file.dev && stat.st_ino as u64 == other.file.ino;
    Ok(same.then_some(stat))
}

/// Removes one surveyed entry from its open parent after checking it is still what was
/// surveyed. `Ok(None)`: gone already, or changed (then left, silently: doubt keeps).
fn remove_one(
    parent: BorrowedFd<'_>,
    parent_path: &Path,
    leaf: &OsStr,
    other: &Other,
    fence: at::MountKey,
    before_change: &(dyn Fn() + Sync),
) -> Result<Option<u64>, Failed> {
    let Some(stat) = still_surveyed(parent, leaf, other)? else {
        return Ok(None);
    };
    let kind = rustix::fs::FileType::from_raw_mode(stat.st_mode);
    if other.is_dir {
        if kind != rustix::fs::FileType::Directory {
            return Ok(None);
        }
        let outcome =
            crate::sys::rmtree::remove_tree(parent, parent_path, leaf, fence, before_change);
        if !outcome.left.is_empty() || outcome.more_left > 0 {
            return Err(Failed {
                why: outcome.warnings().join("; "),
                denied: outcome.denied,
            });
        }
        return Ok(outcome.removed.then_some(outcome.freed));
    }
    if kind != rustix::fs::FileType::RegularFile
        || (other.kind == OtherKind::Object && stat.st_nlink != 1)
    {
        return Ok(None);
    }
    before_change();
    match rustix::fs::unlinkat(parent, leaf, AtFlags::empty()) {
        Ok(()) => Ok(Some(if stat.st_nlink == 1 {
            u64::try_from(stat.st_blocks).unwrap_or(0) * 512
        } else {
            0
        })),
        Err(Errno::NOENT) => Ok(None),
        Err(err) => Err(Failed::by(
            format!("cannot remove it: {err}"),
            parent_path,
            err,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::guard::Guard;
    use crate::cache::layout::{CACHEDIR_SIGNATURE, CACHEDIR_TAG};
    use crate::cache::locate::{CacheLocation, CacheSource, Validated, validate};

    /// A minimal uv cache and its validated, open root.
    fn cache() -> (tempfile::TempDir, PathBuf, CacheRoot) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        std::fs::create_dir_all(root.join("archive-v0")).unwrap();
        std::fs::write(root.join(CACHEDIR_TAG), CACHEDIR_SIGNATURE).unwrap();
        let location = CacheLocation {
            path: root.clone(),
            source: CacheSource::Flag,
        };
        let Validated::Cache(cache) = validate(location).unwrap() else {
            panic!("not a cache")
        };
        let open = Guard::new(&cache).unwrap().open_cache_root().unwrap();
        (dir, root, open)
    }

    fn survey_all(root: &Path) -> Vec<Other> {
        survey(
            root,
            Duration::ZERO,
            SystemTime::now() + Duration::from_secs(1),
        )
        .0
    }

    #[test]
    fn finds_temp_dirs_builds_and_lone_objects_but_not_symlinks_linked_objects_or_young_ones() {
        let (dir, root, _open) = cache();
        std::fs::create_dir_all(root.join(".tmpAbc123/pkg")).unwrap();
        std::fs::write(root.join(".tmpAbc123/pkg/a.py"), vec![1; 10_000]).unwrap();
        std::fs::create_dir_all(root.join("builds-v0/.tmpXyz789")).unwrap();
        let shard = root.join("files-v0/3c");
        std::fs::create_dir_all(&shard).unwrap();
        let lone = shard.join(format!("3c{}", "1".repeat(62)));
        let linked = shard.join(format!("3c{}", "2".repeat(62)));
        std::fs::write(&lone, b"lone").unwrap();
        std::fs::write(&linked, b"linked").unwrap();
        std::fs::hard_link(&linked, root.join("archive-v0/held")).unwrap();
        // A symlink wearing the prefix, and a symlinked builds bucket: never entered.
        let victim = dir.path().join("victim");
        std::fs::create_dir_all(victim.join(".tmpVictim")).unwrap();
        std::os::unix::fs::symlink(&victim, root.join(".tmpLink00")).unwrap();
        std::os::unix::fs::symlink(&victim, root.join("builds-v1")).unwrap();

        let found = survey_all(&root);
        let paths: Vec<PathBuf> = found.iter().map(|o| o.path(&root)).collect();
        assert_eq!(
            paths,
            vec![
                root.join(".tmpAbc123"),
                root.join("builds-v0/.tmpXyz789"),
                lone.clone()
            ]
        );
        assert!(found[0].bytes >= 10_000, "{:?}", found[0]);
        // Within the grace window nothing is found.
        let young = survey(&root, Duration::from_secs(3600), SystemTime::now()).0;
        assert!(young.is_empty(), "{young:?}");
    }

    #[test]
    fn removes_what_was_surveyed_by_descriptor_and_nothing_swapped_in() {
        let (dir, root, open) = cache();
        std::fs::create_dir_all(root.join(".tmpAbc123/pkg")).unwrap();
        std::fs::write(root.join(".tmpAbc123/pkg/a.py"), b"x").unwrap();
        std::fs::create_dir_all(root.join("builds-v0/.tmpXyz789")).unwrap();
        let shard = root.join("files-v0/3c");
        std::fs::create_dir_all(&shard).unwrap();
        let lone = shard.join(format!("3c{}", "1".repeat(62)));
        std::fs::write(&lone, b"lone").unwrap();
        let found = survey_all(&root);
        assert_eq!(found.len(), 3);
        // Between the survey and the removal: builds-v0 becomes a symlink to a victim
        // holding the same name, and the object gains a link (an archive took it).
        let victim = dir.path().join("victim");
        std::fs::create_dir_all(victim.join(".tmpXyz789")).unwrap();
        std::fs::write(victim.join(".tmpXyz789/keep"), b"mine").unwrap();
        std::fs::rename(root.join("builds-v0"), dir.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(&victim, root.join("builds-v0")).unwrap();
        std::fs::hard_link(&lone, root.join("archive-v0/took")).unwrap();

        let removal = remove(&open, &found, &|| {});
        assert_eq!(removal.entries, 1, "{removal:?}");
        assert!(!root.join(".tmpAbc123").exists());
        assert_eq!(
            std::fs::read(victim.join(".tmpXyz789/keep")).unwrap(),
            b"mine"
        );
        assert_eq!(std::fs::read(&lone).unwrap(), b"lone");
        assert_eq!(removal.warnings.len(), 1, "{:?}", removal.warnings);
        assert!(
            removal.warnings[0].message.contains("builds-v0"),
            "{:?}",
            removal.warnings
        );
    }
}
