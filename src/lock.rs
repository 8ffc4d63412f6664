//! uv's cache lock: an exclusive `flock` on `<cache>/.lock`.
//!
//! Every uv command (0.8.19 and later) holds a *shared* flock on that file for its whole
//! life, and `uv cache clean`/`prune` take it *exclusive*; we do exactly what they do, with
//! `std::fs::File::try_lock`, which is the same `flock(2)` (POSIX `fcntl` locks would not
//! conflict with uv's on Linux). The file is opened or created, never replaced or removed:
//! replacing it would split uv's processes across two inodes and void the lock.
//!
//! It is opened without following a symlink: a `.lock` that is a symlink (dangling or
//! not) would have us create or lock a file outside the cache, and uv itself refuses a
//! dangling one. So we refuse it, naming it.
//!
//! While we hold uv's lock we also hold a lock of our own, the *pruner marker*, so that a
//! second uv-cache-prune that finds the cache busy can say who holds it. The marker lives
//! in our state directory, never in the cache: `uv cache prune` deletes every top-level
//! entry of the cache it does not know.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::locate::CacheDir;

/// Held for as long as this value lives; dropping it closes the files, releasing the
/// marker first (fields drop in order), then uv's lock.
#[derive(Debug)]
pub struct CacheLock {
    _marker: Option<File>,
    _file: File,
}

/// How long to wait when uv is using the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Give up at once.
    No,
    /// Poll until the lock is free or the time is up.
    UpTo(Duration),
}

/// Who holds the cache lock we could not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A uv command (or anything else that is not one of us).
    Uv,
    /// Another uv-cache-prune, which holds the marker at this path as well.
    Pruner(PathBuf),
}

impl Holder {
    /// The program, for the report: `uv` or `uv-cache-prune`.
    pub fn program(&self) -> &'static str {
        match self {
            Holder::Uv => "uv",
            Holder::Pruner(_) => "uv-cache-prune",
        }
    }

    /// Who it is, for a sentence.
    pub fn describe(&self) -> String {
        match self {
            Holder::Uv => "uv is using the cache".to_owned(),
            Holder::Pruner(marker) => format!(
                "another uv-cache-prune is pruning the cache (it holds {})",
                marker.display()
            ),
        }
    }
}

#[derive(Debug)]
pub enum Acquired {
    Held(CacheLock),
    /// The lock was held and we were told not to wait.
    Busy {
        path: PathBuf,
        holder: Holder,
    },
}

/// Takes the exclusive cache lock. With [`Wait::UpTo`], says once on stderr that it is
/// waiting, and fails with a one-line error naming the lock file when the time is up.
pub fn exclusive(cache: &CacheDir, wait: Wait) -> Result<Acquired> {
    let path = cache.root().join(crate::layout::LOCK_FILE);
    let file = open_lock_file(&path)?;
    crate::parent_uv::refuse_if_an_ancestor_holds(&file, &path)?;
    let marker = marker_path(cache.root());
    let deadline = match wait {
        Wait::No => None,
        Wait::UpTo(timeout) => Some(Instant::now() + timeout),
    };
    let mut said = false;
    let mut pause = Duration::from_millis(20);
    loop {
        match file.try_lock() {
            Ok(()) => {
                let marker = marker.as_deref().and_then(hold_marker);
                return Ok(Acquired::Held(CacheLock {
                    _marker: marker,
                    _file: file,
                }));
            }
            Err(TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock {}", path.display()));
            }
            Err(TryLockError::WouldBlock) => {}
        }
        let holder = holder(marker.as_deref());
        let Some(deadline) = deadline else {
            return Ok(Acquired::Busy { path, holder });
        };
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "{}: timed out waiting for the lock on {}; nothing was deleted",
                holder.describe().replacen(" is ", " is still ", 1),
                path.display()
            );
        }
        if !said {
            eprintln!(
                "{}; waiting for the lock on {} (--lock-timeout)",
                holder.describe(),
                path.display()
            );
            said = true;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// Opens (or creates, as uv does: mode 0666) the lock file, never through a symlink and
/// never anything but a regular file.
#[cfg(unix)]
fn open_lock_file(path: &Path) -> Result<File> {
    use rustix::fs::{FileType, Mode, OFlags};
    use rustix::io::Errno;
    let flags = OFlags::RDWR
        | OFlags::CREATE
        | OFlags::NOFOLLOW
        | OFlags::NONBLOCK
        | OFlags::NOCTTY
        | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(rustix::fs::CWD, path, flags, Mode::from_raw_mode(0o666)) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => bail!(
            "refusing the cache lock {}: it is a symlink, and locking through it would create or lock a file outside the cache (uv refuses it too); remove the symlink and run again",
            path.display()
        ),
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot open the cache lock {}", path.display()));
        }
    };
    let stat = rustix::fs::fstat(&fd)
        .with_context(|| format!("cannot read the cache lock {}", path.display()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        bail!(
            "refusing the cache lock {}: it is not a regular file; remove it and run again",
            path.display()
        );
    }
    Ok(File::from(fd))
}

#[cfg(not(unix))]
fn open_lock_file(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open the cache lock {}", path.display()))
}

/// `<state dir>/locks/<device>-<inode of the cache>.lock`: one marker per cache, however
/// it is spelled. `None` when there is no state directory: the marker only improves a
/// message, so it is never a reason to fail.
fn marker_path(cache_root: &Path) -> Option<PathBuf> {
    let meta = std::fs::metadata(cache_root).ok()?;
    let id = crate::fs_meta::entry_stat(&meta).id?;
    let dir = crate::state::state_dir().ok()?.join("locks");
    Some(dir.join(format!("{}-{}.lock", id.dev, id.ino)))
}

fn open_marker(path: &Path) -> Option<File> {
    std::fs::create_dir_all(path.parent()?).ok()?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    options.open(path).ok()
}

/// Takes the marker while we hold uv's lock; `None` if that fails (no harm done).
fn hold_marker(path: &Path) -> Option<File> {
    let file = open_marker(path)?;
    file.try_lock().ok()?;
    Some(file)
}

/// Who holds uv's lock: another uv-cache-prune if its marker is locked too.
fn holder(marker: Option<&Path>) -> Holder {
    let Some(path) = marker else {
        return Holder::Uv;
    };
    match open_marker(path).map(|file| file.try_lock()) {
        Some(Err(TryLockError::WouldBlock)) => Holder::Pruner(path.to_owned()),
        _ => Holder::Uv,
    }
}
