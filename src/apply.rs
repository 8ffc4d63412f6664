//! Stage 6: delete the plan's dead archives, crash-safe, under the cache lock.
//!
//! For each archive, in this order:
//! 1. remove every pointer that names it (`.rev`/`.http` records and symlinks in every
//!    bucket generation, environment links). uv trusts a `.rev` without checking its
//!    archive, so a pointer must never outlive its archive;
//! 2. rename `archive-v0/<id>` to a dot-named trash dir beside it (atomic: same
//!    directory), so no pointer can ever see a half-deleted archive;
//! 3. delete the trash, never following a symlink, making read-only directories writable
//!    first, and counting the bytes of each inode whose last link goes.
//!
//! Steps 1 and 2 are a few syscalls per archive and run in order; step 3 is the bulk of
//! the work (one unlink per file) and runs on every core, largest archive first, once
//! every archive is already trash.
//!
//! A kill at any instant leaves either a complete archive (with some or all pointers) or
//! trash that no pointer names; [`remove_leftover_trash`] finishes the job next time.
//! Pointers whose archive is already gone (dangling) are removed as well.
//!
//! The environment variable `UV_CACHE_PRUNE_FAULT_AFTER=N` (for crash tests only) aborts
//! the process after N filesystem changes, as a `kill -9` would.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use anyhow::{Context, Result};
use walkdir::WalkDir;

use crate::archive_id::ArchiveId;
use crate::fs_meta::entry_stat;
use crate::guard::{Guard, TRASH_PREFIX};
use crate::inventory::Inventory;
use crate::locate::CacheDir;
use crate::plan::Plan;
use crate::pointer::Target;
use crate::progress::Progress;

/// What a deletion did, measured as it happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removal {
    pub archives: usize,
    pub pointers: usize,
    /// Allocated bytes of the inodes whose last link was removed.
    pub bytes: u64,
}

impl std::ops::AddAssign for Removal {
    fn add_assign(&mut self, other: Self) {
        self.archives += other.archives;
        self.pointers += other.pointers;
        self.bytes += other.bytes;
    }
}

/// Counts filesystem changes and aborts after the configured number (crash tests).
/// Shared by the deleting threads, hence atomic.
#[derive(Debug)]
pub struct Faults {
    remaining: Option<AtomicU64>,
}

impl Faults {
    pub const ENV: &'static str = "UV_CACHE_PRUNE_FAULT_AFTER";

    pub fn from_env() -> Self {
        let remaining = std::env::var(Self::ENV).ok().and_then(|v| v.parse().ok());
        Self {
            remaining: remaining.map(AtomicU64::new),
        }
    }

    /// No fault injection: what a program embedding [`apply`] passes.
    pub fn none() -> Self {
        Self { remaining: None }
    }

    fn step(&self) {
        if let Some(remaining) = &self.remaining {
            let left =
                remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if left.is_err() {
                std::process::abort();
            }
        }
    }
}

/// Removes trash left by an interrupted run. Call with the lock held.
pub fn remove_leftover_trash(cache: &CacheDir, guard: &Guard, faults: &Faults) -> Result<Removal> {
    let dir = cache.archive_dir();
    let mut removal = Removal::default();
    let entries =
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if entry
            .file_name()
            .as_encoded_bytes()
            .starts_with(TRASH_PREFIX.as_bytes())
        {
            let path = entry.path();
            guard.archive(&path)?;
            removal.bytes += delete_tree(&path, faults)?;
        }
    }
    Ok(removal)
}

/// Deletes every candidate of `plan` with its pointers, then every dangling pointer.
/// Call with the lock held, on a plan made under that lock.
pub fn apply(
    plan: &Plan,
    inventory: &Inventory,
    cache: &CacheDir,
    guard: &Guard,
    faults: &Faults,
    progress: &Progress,
) -> Result<Removal> {
    let mut removal = Removal::default();
    let mut pointers: HashMap<&ArchiveId, Vec<&Path>> = HashMap::new();
    for pointer in &inventory.pointers {
        if let Target::Archive(id) = &pointer.target {
            pointers.entry(id).or_default().push(&pointer.path);
        }
    }
    // Steps 1 and 2: after this loop no pointer names any of these archives, and each is
    // a trash directory.
    let mut trash = Vec::new();
    for (archive, bytes) in plan.candidates() {
        for path in pointers.get(&archive.id).into_iter().flatten() {
            removal.pointers += remove_pointer(path, guard, faults)?;
        }
        guard.archive(&archive.path)?;
        let to = cache
            .archive_dir()
            .join(format!("{TRASH_PREFIX}{}", archive.id));
        faults.step();
        std::fs::rename(&archive.path, &to).with_context(|| {
            format!("cannot move {} to {}", archive.path.display(), to.display())
        })?;
        removal.archives += 1;
        trash.push((to, bytes));
    }
    removal.bytes += delete_in_parallel(trash, faults, progress)?;
    let archive_dir = cache.archive_dir();
    for pointer in &inventory.pointers {
        if let Target::Archive(id) = &pointer.target
            && !inventory.archives.contains_key(id)
            && is_missing(&archive_dir.join(id.as_str()))?
        {
            removal.pointers += remove_pointer(&pointer.path, guard, faults)?;
        }
    }
    removal.bytes += crate::objects::remove_orphans(cache.root(), &plan.objects)?.bytes;
    Ok(removal)
}

/// Step 3: deletes trash directories on every core, largest first (the long tail of a
/// torch-sized archive starts early); returns the bytes freed. The first error stops
/// the other workers after their current directory and is returned.
fn delete_in_parallel(
    mut trash: Vec<(PathBuf, u64)>,
    faults: &Faults,
    progress: &Progress,
) -> Result<u64> {
    trash.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    let bar = progress.bytes(trash.iter().map(|(_, bytes)| bytes).sum(), "removing");
    let (next, freed, failed) = (
        AtomicUsize::new(0),
        AtomicU64::new(0),
        AtomicBool::new(false),
    );
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let result = std::thread::scope(|scope| {
        let worker = || -> Result<()> {
            while !failed.load(Ordering::Relaxed) {
                let Some((path, bytes)) = trash.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                match delete_tree(path, faults) {
                    Ok(n) => freed.fetch_add(n, Ordering::Relaxed),
                    Err(err) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(err);
                    }
                };
                bar.inc(*bytes);
            }
            Ok(())
        };
        let handles: Vec<_> = (0..workers.min(trash.len()))
            .map(|_| scope.spawn(worker))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a deleting thread panicked"))
            .collect::<Result<Vec<()>>>()
    });
    bar.finish_and_clear();
    result?;
    Ok(freed.into_inner())
}

fn is_missing(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(false),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Removes one pointer (the link itself, never its target); 0 if it was already gone.
fn remove_pointer(path: &Path, guard: &Guard, faults: &Faults) -> Result<usize> {
    match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
        _ => guard.pointer(path)?,
    }
    faults.step();
    match std::fs::remove_file(path) {
        Ok(()) => Ok(1),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(err) => Err(err).with_context(|| format!("cannot remove pointer {}", path.display())),
    }
}

/// Deletes a directory tree without following symlinks; returns the allocated bytes of
/// the inodes whose last link it removed.
fn delete_tree(root: &Path, faults: &Faults) -> Result<u64> {
    let mut freed = 0;
    let mut dirs: Vec<(PathBuf, u64)> = Vec::new();
    for entry in WalkDir::new(root).follow_links(false) {
        let entry = match entry {
            Ok(entry) => entry,
            // walkdir opens a directory before yielding it, so one we may not list shows
            // up as an error: make it ours, then delete it on its own.
            Err(err)
                if err
                    .path()
                    .is_some_and(|p| make_writable(p).unwrap_or(false)) =>
            {
                let path = err.path().expect("checked").to_owned();
                freed += delete_tree(&path, faults)?;
                continue;
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot delete {}", root.display()));
            }
        };
        let path = entry.path();
        let meta = entry
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?;
        let stat = entry_stat(&meta);
        if meta.is_dir() {
            make_writable(path)?;
            dirs.push((path.to_owned(), stat.allocated));
            continue;
        }
        faults.step();
        std::fs::remove_file(path).with_context(|| format!("cannot delete {}", path.display()))?;
        if stat.nlink <= 1 {
            freed += stat.allocated;
        }
    }
    for (dir, allocated) in dirs.into_iter().rev() {
        faults.step();
        match std::fs::remove_dir(&dir) {
            Ok(()) => freed += allocated,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot delete {}", dir.display()));
            }
        }
    }
    Ok(freed)
}

/// Gives the owner write and search permission on a directory (so its entries can be
/// unlinked); true if it changed anything.
fn make_writable(dir: &Path) -> Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?;
        let mode = meta.permissions().mode();
        if meta.is_dir() && mode & 0o700 != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o700))
                .with_context(|| format!("cannot make {} writable", dir.display()))?;
            return Ok(true);
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(false)
}
