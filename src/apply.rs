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
//! A kill at any instant leaves either a complete archive (with some or all pointers) or
//! trash that no pointer names; [`remove_leftover_trash`] finishes the job next time.
//! Pointers whose archive is already gone (dangling) are removed as well.
//!
//! The environment variable `UV_CACHE_PRUNE_FAULT_AFTER=N` (for crash tests only) aborts
//! the process after N filesystem changes, as a `kill -9` would.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use walkdir::WalkDir;

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
#[derive(Debug)]
pub struct Faults {
    remaining: Option<u64>,
}

impl Faults {
    pub const ENV: &'static str = "UV_CACHE_PRUNE_FAULT_AFTER";

    pub fn from_env() -> Self {
        let remaining = std::env::var(Self::ENV).ok().and_then(|v| v.parse().ok());
        Self { remaining }
    }

    pub fn none() -> Self {
        Self { remaining: None }
    }

    fn step(&mut self) {
        if let Some(remaining) = &mut self.remaining {
            if *remaining == 0 {
                std::process::abort();
            }
            *remaining -= 1;
        }
    }
}

/// Removes trash left by an interrupted run. Call with the lock held.
pub fn remove_leftover_trash(
    cache: &CacheDir,
    guard: &Guard,
    faults: &mut Faults,
) -> Result<Removal> {
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
    faults: &mut Faults,
    progress: &Progress,
) -> Result<Removal> {
    let mut removal = Removal::default();
    let bar = progress.bytes(plan.reclaimable_bytes, "removing");
    for (archive, bytes) in plan.candidates() {
        for pointer in inventory
            .pointers
            .iter()
            .filter(|p| p.target == Target::Archive(archive.id.clone()))
        {
            removal.pointers += remove_pointer(&pointer.path, guard, faults)?;
        }
        guard.archive(&archive.path)?;
        let trash = cache
            .archive_dir()
            .join(format!("{TRASH_PREFIX}{}", archive.id));
        faults.step();
        std::fs::rename(&archive.path, &trash).with_context(|| {
            format!(
                "cannot move {} to {}",
                archive.path.display(),
                trash.display()
            )
        })?;
        removal.bytes += delete_tree(&trash, faults)?;
        removal.archives += 1;
        bar.inc(bytes);
    }
    bar.finish_and_clear();
    let archive_dir = cache.archive_dir();
    for pointer in &inventory.pointers {
        if let Target::Archive(id) = &pointer.target
            && !inventory.archives.contains_key(id)
            && is_missing(&archive_dir.join(id.as_str()))?
        {
            removal.pointers += remove_pointer(&pointer.path, guard, faults)?;
        }
    }
    Ok(removal)
}

fn is_missing(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(false),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Removes one pointer (the link itself, never its target); 0 if it was already gone.
fn remove_pointer(path: &Path, guard: &Guard, faults: &mut Faults) -> Result<usize> {
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
fn delete_tree(root: &Path, faults: &mut Faults) -> Result<u64> {
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
