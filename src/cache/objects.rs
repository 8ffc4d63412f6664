//! The `files-v0` object store of uv's content-addressed cache, and the links it holds.
//!
//! # What uv does
//!
//! With `UV_PREVIEW_FEATURES=content-addressed-cache` (uv 0.12.8 and later), every file of
//! an unpacked wheel except `RECORD` is a hardlink to an object
//! `files-v0/<2 hex>/<64 hex>`: one object per distinct content, shared by every archive
//! holding that content (two versions of a package share most of their files). So every
//! archive file has `st_nlink >= 2` with no venv in sight, and the plain `nlink` safety
//! net (any link the plan cannot account for is a venv outside the roots) would keep every
//! dead archive of such a cache. uv's own cleanup removes objects whose link count fell to
//! 1 (only the object is left), under the exclusive cache lock; there is no manifest.
//!
//! # Which links are the cache's own
//!
//! For an inode among a dead archive's files, the links are: its object (1), the dead
//! archives of the plan (counted by the plan's walk), live archives sharing the content,
//! and venvs that hardlinked it. Live archives are not walked (that would cost a stat of
//! every file in the cache), so for most files the last two cannot be told apart, and
//! need not be: a file shared with a live archive stays on disk anyway, and removing the
//! dead archive's link to it breaks nobody.
//!
//! What must not be missed is a hardlink venv outside every root that uses the *dead*
//! archive. Such a venv links the distribution's `METADATA` too (uv links every file but
//! the few it writes fresh), and the inventory already `lstat`s every wheel archive's
//! `METADATA`. So for `METADATA` the cache's own links are counted exactly: its object plus
//! every archive whose `METADATA` is that inode (the same distribution built for several
//! platforms shares it). A link beyond those is a venv, and keeps the archive (`nlink`).
//! Other files' extra links are not evidence. A file without an object (a cache written
//! without the preview, or an object we failed to find) gets the old rule: every link must
//! be in the plan.
//!
//! # Finding an inode's object
//!
//! Object names are a digest uv computes itself: not the sha256 of the content (so not
//! the hash in `RECORD` either), so they cannot be derived without uv's algorithm, and
//! hashing every dead file would read every dead byte. Instead [`ObjectIndex::of`] lists
//! `files-v0` once, two levels of directory reads, and uses the inode number each
//! directory entry carries (`d_ino`, no `stat`) to pick the few objects whose inodes the
//! plan asked about; only those are `lstat`ed to confirm `(st_dev, st_ino)`. The cost is
//! one `readdir` pass over the object names, paid only when `files-v0` exists and the plan
//! has shared files. A filesystem whose `d_ino` differs from `st_ino` (some overlay
//! setups) finds nothing, which falls back to the old rule: doubt keeps.
//!
//! # Removing orphans
//!
//! After the archives are gone, [`remove_orphans`] removes the objects of their inodes that
//! only the object still links: uv's own rule, under the same exclusive lock. Each one is
//! re-checked at the moment of deletion through directory descriptors (`files-v0` and
//! its bucket opened with `O_NOFOLLOW` from the descriptor of the validated cache root,
//! never by path; the object `fstatat`ed without following): a regular file, the same
//! inode as indexed, `st_nlink == 1`. Anything else, including an object another archive
//! or a venv still links, is left alone. A bucket directory left
//! empty is removed too, as uv does. A crash before this step leaves orphan objects,
//! which uv tolerates and its `uv cache prune` removes.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Result;

use crate::cache::layout::Bucket;
use crate::sys::fs_meta::FileId;

/// The object store's directory under the cache root.
pub const OBJECT_BUCKET: &str = Bucket::Objects.name();

/// One object, `files-v0/<shard>/<name>`, and the inode it was when indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Two lowercase hex digits.
    shard: String,
    /// Sixty-four lowercase hex digits.
    name: String,
    file: FileId,
}

impl Object {
    /// `<cache>/files-v0/<shard>/<name>`.
    #[cfg(test)]
    pub fn path(&self, cache_root: &Path) -> std::path::PathBuf {
        cache_root
            .join(OBJECT_BUCKET)
            .join(&self.shard)
            .join(&self.name)
    }

    pub fn file(&self) -> FileId {
        self.file
    }
}

/// The objects of the inodes a plan asked about.
#[derive(Debug, Clone, Default)]
pub struct ObjectIndex {
    by_file: HashMap<FileId, Object>,
    /// Every inode asked about, found or not: a later question about another inode needs
    /// a new index.
    asked: HashSet<FileId>,
    /// For each shard holding an indexed object: how many entries it holds and its own
    /// allocated bytes, so that the plan can promise the shard directories `remove_orphans`
    /// empties (at most 256 entries).
    shards: HashMap<String, ShardSize>,
}

/// One `files-v0/<shard>` directory, as listed by [`ObjectIndex::of`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardSize {
    /// Entries in it (objects, or anything else uv left there).
    pub entries: u64,
    /// The directory's own allocated bytes, freed when its last entry goes.
    pub allocated: u64,
}

impl ObjectIndex {
    /// Finds the objects of `wanted` in `<cache_root>/files-v0` (see the module essay).
    /// A store that is missing, is a symlink or cannot be read yields no objects.
    pub fn of(cache_root: &Path, wanted: &HashSet<FileId>) -> Self {
        let mut index = Self {
            by_file: HashMap::new(),
            asked: wanted.clone(),
            shards: HashMap::new(),
        };
        if !wanted.is_empty() {
            index.scan(&cache_root.join(OBJECT_BUCKET), wanted);
        }
        index
    }

    /// True when every inode of `files` was asked about.
    pub fn covers<'a>(&self, mut files: impl Iterator<Item = &'a FileId>) -> bool {
        files.all(|file| self.asked.contains(file))
    }

    pub fn get(&self, file: &FileId) -> Option<&Object> {
        self.by_file.get(file)
    }

    /// The allocated bytes of the shard directories that removing `freed` objects (those
    /// whose inode loses its last archive link) leaves empty: `remove_orphans` removes
    /// those, as uv does, so the plan promises them too.
    pub fn emptied_shard_bytes(&self, freed: &HashSet<FileId>) -> u64 {
        let mut removed: HashMap<&str, u64> = HashMap::new();
        for object in self.by_file.values().filter(|o| freed.contains(&o.file)) {
            *removed.entry(object.shard.as_str()).or_default() += 1;
        }
        removed
            .into_iter()
            .filter_map(|(shard, count)| self.shards.get(shard).filter(|s| s.entries == count))
            .map(|shard| shard.allocated)
            .sum()
    }

    fn scan(&mut self, store: &Path, wanted: &HashSet<FileId>) {
        if !std::fs::symlink_metadata(store).is_ok_and(|m| m.is_dir()) {
            return;
        }
        let Ok(shards) = std::fs::read_dir(store) else {
            return;
        };
        for shard in shards.flatten() {
            let shard_name = shard.file_name();
            let Some(shard_name) = shard_name.to_str().filter(|n| is_hex(n, 2)) else {
                continue;
            };
            // `DirEntry::metadata` does not follow symlinks: a symlinked shard is skipped.
            let Some((dev, allocated)) =
                shard.metadata().ok().filter(|m| m.is_dir()).and_then(|m| {
                    Some((device(&m)?, crate::sys::fs_meta::entry_stat(&m).allocated))
                })
            else {
                continue;
            };
            let Ok(objects) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            let mut size = ShardSize {
                entries: 0,
                allocated,
            };
            let mut holds_wanted = false;
            for object in objects {
                size.entries += 1;
                let Ok(object) = object else {
                    continue;
                };
                let file = FileId {
                    dev,
                    ino: entry_ino(&object),
                };
                if !wanted.contains(&file) {
                    continue;
                }
                let name = object.file_name();
                let Some(name) = name.to_str().filter(|n| is_hex(n, 64)) else {
                    continue;
                };
                let confirmed = object
                    .metadata()
                    .ok()
                    .filter(|m| m.is_file())
                    .is_some_and(|m| crate::sys::fs_meta::entry_stat(&m).id == Some(file));
                if confirmed {
                    holds_wanted = true;
                    self.by_file.insert(
                        file,
                        Object {
                            shard: shard_name.to_owned(),
                            name: name.to_owned(),
                            file,
                        },
                    );
                }
            }
            if holds_wanted {
                self.shards.insert(shard_name.to_owned(), size);
            }
        }
    }
}

/// What [`remove_orphans`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectRemoval {
    pub objects: usize,
    /// Allocated bytes of the removed objects and emptied shard directories.
    pub bytes: u64,
}

fn is_hex(name: &str, len: usize) -> bool {
    name.len() == len
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(unix)]
fn device(meta: &std::fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(meta.dev())
}

#[cfg(not(unix))]
fn device(_: &std::fs::Metadata) -> Option<u64> {
    None
}

#[cfg(unix)]
fn entry_ino(entry: &std::fs::DirEntry) -> u64 {
    use std::os::unix::fs::DirEntryExt;
    entry.ino()
}

#[cfg(not(unix))]
fn entry_ino(_: &std::fs::DirEntry) -> u64 {
    0
}

/// Removes each of `objects` that only its object path still links (see the module
/// essay). Call with the exclusive lock held, after the archives naming them are gone.
/// `root` is the validated cache root's descriptor (`guard::CacheRoot`), whose path is
/// `cache_root` (for messages only): `files-v0` is opened relative to it, never by path,
/// so a cache root swapped for a symlink since it was checked leads nowhere.
#[cfg(unix)]
pub fn remove_orphans(
    root: std::os::fd::BorrowedFd<'_>,
    cache_root: &Path,
    objects: &[Object],
) -> Result<ObjectRemoval> {
    use std::collections::BTreeMap;

    use anyhow::Context;
    use rustix::fs::{AtFlags, Mode, OFlags};
    use rustix::io::Errno;

    let mut removal = ObjectRemoval::default();
    if objects.is_empty() {
        return Ok(removal);
    }
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let store_path = cache_root.join(OBJECT_BUCKET);
    let store = match rustix::fs::openat(root, OBJECT_BUCKET, dir_flags, Mode::empty()) {
        Ok(fd) => fd,
        // Gone, or replaced by a symlink or a file: nothing of ours to remove there.
        Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => return Ok(removal),
        Err(err) => {
            return Err(err).with_context(|| {
                format!(
                    "cannot open {}; uv cache prune removes leftover objects",
                    store_path.display()
                )
            });
        }
    };
    let store_dev = rustix::fs::fstat(&store)
        .with_context(|| format!("cannot read {}", store_path.display()))?
        .st_dev;
    let mut by_shard: BTreeMap<&str, Vec<&Object>> = BTreeMap::new();
    for object in objects {
        // The store is where the archives' inodes live, or these are not its objects.
        if object.file.dev == store_dev {
            by_shard.entry(&object.shard).or_default().push(object);
        }
    }
    for (shard_name, shard_objects) in by_shard {
        let shard_path = store_path.join(shard_name);
        let shard = match rustix::fs::openat(&store, shard_name, dir_flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => continue,
            Err(err) => {
                return Err(err).with_context(|| format!("cannot open {}", shard_path.display()));
            }
        };
        let shard_stat = rustix::fs::fstat(&shard)
            .with_context(|| format!("cannot read {}", shard_path.display()))?;
        if shard_stat.st_dev != store_dev {
            continue;
        }
        for object in shard_objects {
            let path = shard_path.join(&object.name);
            let stat =
                match rustix::fs::statat(&shard, object.name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) => stat,
                    Err(Errno::NOENT) => continue,
                    Err(err) => {
                        return Err(err).with_context(|| format!("cannot read {}", path.display()));
                    }
                };
            let is_file = rustix::fs::FileType::from_raw_mode(stat.st_mode).is_file();
            let same = stat.st_dev == object.file.dev && stat.st_ino == object.file.ino;
            if !(is_file && same && stat.st_nlink == 1) {
                continue;
            }
            match rustix::fs::unlinkat(&shard, object.name.as_str(), AtFlags::empty()) {
                Ok(()) => {
                    removal.objects += 1;
                    removal.bytes += u64::try_from(stat.st_blocks).unwrap_or(0) * 512;
                }
                Err(Errno::NOENT) => {}
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!("cannot remove the orphaned object {}", path.display())
                    });
                }
            }
        }
        drop(shard);
        // uv removes a shard directory it empties; a non-empty one simply stays.
        if rustix::fs::unlinkat(&store, shard_name, AtFlags::REMOVEDIR).is_ok() {
            removal.bytes += u64::try_from(shard_stat.st_blocks).unwrap_or(0) * 512;
        }
    }
    Ok(removal)
}

/// Without inode numbers no object is ever indexed, so there is nothing to remove.
#[cfg(not(unix))]
pub fn remove_orphans(
    _root: std::os::fd::BorrowedFd<'_>,
    _cache_root: &Path,
    _objects: &[Object],
) -> Result<ObjectRemoval> {
    Ok(ObjectRemoval::default())
}

#[cfg(all(test, unix))]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// [`remove_orphans`] with `dir` opened as the cache root.
    fn orphans(dir: &Path, objects: &[Object]) -> Result<ObjectRemoval> {
        let flags = rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
        let root = rustix::fs::open(dir, flags, rustix::fs::Mode::empty()).unwrap();
        remove_orphans(std::os::fd::AsFd::as_fd(&root), dir, objects)
    }

    fn file_id(path: &Path) -> FileId {
        let meta = std::fs::symlink_metadata(path).unwrap();
        crate::sys::fs_meta::entry_stat(&meta).id.unwrap()
    }

    /// A store laid out as uv 0.13.9 writes it: one shard, one object hardlinked into an
    /// archive, plus a name that is not an object.
    fn store() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join(OBJECT_BUCKET).join("3c");
        std::fs::create_dir_all(&shard).unwrap();
        let object = shard.join(format!("3c{}", "6b".repeat(31)));
        std::fs::write(&object, b"Wheel-Version: 1.0\n").unwrap();
        std::fs::write(shard.join("not-an-object"), b"x").unwrap();
        let archive = dir.path().join("archive-v0").join("a".repeat(24));
        std::fs::create_dir_all(&archive).unwrap();
        let linked = archive.join("WHEEL");
        std::fs::hard_link(&object, &linked).unwrap();
        (dir, object, linked)
    }

    #[test]
    fn finds_the_object_of_an_inode_and_only_the_ones_asked_for() {
        let (dir, object, linked) = store();
        let wanted = HashSet::from([file_id(&linked)]);
        let index = ObjectIndex::of(dir.path(), &wanted);
        let found = index.get(&file_id(&linked)).expect("indexed");
        assert_eq!(found.path(dir.path()), object);
        let none = ObjectIndex::of(dir.path(), &HashSet::new());
        assert!(none.get(&file_id(&linked)).is_none());
    }

    #[test]
    fn removes_an_object_only_once_nothing_else_links_it() {
        let (dir, object, linked) = store();
        let wanted = HashSet::from([file_id(&linked)]);
        let index = ObjectIndex::of(dir.path(), &wanted);
        let found = index.get(&file_id(&linked)).unwrap().clone();
        // Still linked from the archive: kept.
        let removal = orphans(dir.path(), std::slice::from_ref(&found)).unwrap();
        assert_eq!(removal.objects, 0);
        assert!(object.exists());
        std::fs::remove_file(&linked).unwrap();
        let removal = orphans(dir.path(), &[found]).unwrap();
        assert_eq!(removal.objects, 1);
        assert!(!object.exists());
        // The shard still holds another entry, so it stays.
        assert!(object.parent().unwrap().is_dir());
    }

    #[test]
    fn a_symlinked_store_is_neither_indexed_nor_touched() {
        let (dir, object, linked) = store();
        let real = dir.path().join("elsewhere");
        std::fs::rename(dir.path().join(OBJECT_BUCKET), &real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join(OBJECT_BUCKET)).unwrap();
        let wanted = HashSet::from([file_id(&linked)]);
        assert!(
            ObjectIndex::of(dir.path(), &wanted)
                .get(&file_id(&linked))
                .is_none()
        );
        let moved = real.join("3c").join(object.file_name().unwrap());
        std::fs::remove_file(&linked).unwrap();
        let forged = Object {
            shard: "3c".into(),
            name: object.file_name().unwrap().to_str().unwrap().into(),
            file: file_id(&moved),
        };
        assert_eq!(orphans(dir.path(), &[forged]).unwrap().objects, 0);
        assert!(moved.exists());
    }
}
