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

use crate::apply::guard::Guard;
use crate::cache::locate::CacheDir;

/// Held for as long as this value lives; dropping it closes the files, releasing the
/// marker first (fields drop in order), then uv's lock.
#[derive(Debug)]
pub struct CacheLock {
    _marker: Option<File>,
    _file: File,
    /// The cache root it locks, as named.
    root: PathBuf,
}

impl CacheLock {
    /// The root of the cache this lock is on, as named.
    pub fn cache_root(&self) -> &Path {
        &self.root
    }
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
    pub fn program(&self) -> crate::report::LockHolder {
        match self {
            Holder::Uv => crate::report::LockHolder::Uv,
            Holder::Pruner(_) => crate::report::LockHolder::UvCachePrune,
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
/// The lock file is opened relative to the cache root `guard` validated, never by path.
pub fn exclusive(
    cache: &CacheDir,
    guard: &Guard,
    wait: Wait,
    notice: fn(&str),
) -> Result<Acquired> {
    let path = cache.root().join(crate::cache::layout::LOCK_FILE);
    let file = open_lock_file(guard, &path)?;
    crate::apply::parent_uv::refuse_if_an_ancestor_holds(&file, &path)?;
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
                let marker = marker.as_ref().and_then(hold_marker);
                return Ok(Acquired::Held(CacheLock {
                    _marker: marker,
                    _file: file,
                    root: cache.root().to_owned(),
                }));
            }
            Err(TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock {}", path.display()));
            }
            Err(TryLockError::WouldBlock) => {}
        }
        let holder = holder(marker.as_ref());
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
            notice(&format!(
                "{}; waiting for the lock on {} (--lock-timeout)",
                crate::report::safe(&holder.describe()),
                crate::report::safe_path(&path)
            ));
            said = true;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// Opens (or creates) the lock file `.lock` relative to the validated cache root's
/// descriptor, never through a symlink and never anything but a regular file; `path` is
/// its name for messages.
///
/// A lock file we create must let the cache's owner lock it afterwards, or every uv
/// command of theirs fails with "Could not acquire lock ... Permission denied": it is made
/// mode 0666 whatever our umask (uv's own lock file is 0666), and when root creates it in
/// a cache root that belongs to someone else (a cache restored in CI, or one made by a uv
/// before 0.8.19, which had no lock file), it is given to the cache root's owner and group.
/// An existing lock file is never changed.
#[cfg(unix)]
fn open_lock_file(guard: &Guard, path: &Path) -> Result<File> {
    use rustix::fs::{FileType, Mode, OFlags};
    use rustix::io::Errno;
    let root = guard.open_cache_root()?;
    let flags =
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let name = crate::cache::layout::LOCK_FILE;
    let symlink = || {
        anyhow::anyhow!(
            "refusing the cache lock {}: it is a symlink, and locking through it would create or lock a file outside the cache (uv refuses it too); remove the symlink and run again",
            path.display()
        )
    };
    let cannot_open = |err: Errno| {
        anyhow::Error::new(err).context(format!(
            "cannot open the cache lock {}; check the cache directory's permissions",
            path.display()
        ))
    };
    // Open it if it exists; else create it, exclusively, so that we know the file is ours
    // to set up (a uv that creates it at the same instant wins, and we open its file).
    let (fd, created) = loop {
        match rustix::fs::openat(root.fd(), name, flags, Mode::empty()) {
            Ok(fd) => break (fd, false),
            Err(Errno::LOOP) => return Err(symlink()),
            Err(Errno::NOENT) => {}
            Err(err) => return Err(cannot_open(err)),
        }
        let create = flags | OFlags::CREATE | OFlags::EXCL;
        match rustix::fs::openat(root.fd(), name, create, Mode::from_raw_mode(0o666)) {
            Ok(fd) => break (fd, true),
            Err(Errno::EXIST) => continue,
            Err(err) => return Err(cannot_open(err)),
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
    if created {
        let (uid, gid) = root.owner();
        // Created by root (our file's owner is our filesystem uid) in someone else's
        // cache. A failure leaves a 0666 file, which its owner can still lock: not a
        // reason to stop.
        if stat.st_uid == 0 && uid != 0 {
            let owner = (
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            );
            let _ = rustix::fs::fchown(&fd, owner.0, owner.1);
        }
        // After the chown, which may clear mode bits; the umask took some at creation.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o666)).with_context(|| {
            format!(
                "cannot make the new cache lock {} writable by every uv user (mode 0666); remove it and run again",
                path.display()
            )
        })?;
    }
    Ok(File::from(fd))
}

#[cfg(not(unix))]
fn open_lock_file(_guard: &Guard, path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open the cache lock {}", path.display()))
}

/// A pruner marker: `<state dir>/locks/<device>-<inode of the cache>.lock`, one per
/// cache however it is spelled, opened relative to the checked `locks/` directory (never
/// through a symlink: see [`crate::state`]).
#[derive(Debug)]
struct Marker {
    state: crate::state::State,
    name: String,
}

impl Marker {
    fn path(&self) -> PathBuf {
        self.state.path().join("locks").join(&self.name)
    }
}

/// The marker of the cache at `cache_root`. `None` when there is no state directory:
/// the marker only improves a message, so it is never a reason to fail.
fn marker_path(cache_root: &Path) -> Option<Marker> {
    let meta = std::fs::metadata(cache_root).ok()?;
    let id = crate::sys::fs_meta::entry_stat(&meta).id?;
    Some(Marker {
        state: crate::state::State::open().ok()?,
        name: format!("{}-{}.lock", id.dev, id.ino),
    })
}

/// Opens the marker, creating it (and `locks/`) only when `create`. A refused state
/// directory or marker (a symlink, another user's) is no marker: nothing is created.
fn open_marker(marker: &Marker, create: bool) -> Option<File> {
    let dir = marker.state.locks_dir(create).ok()??;
    if create {
        return dir.lock_file(&marker.name).ok();
    }
    match dir.open_lock_file(&marker.name).ok()? {
        crate::state::Found::File(file) => Some(file),
        _ => None,
    }
}

/// Takes the marker while we hold uv's lock; `None` if that fails (no harm done).
fn hold_marker(marker: &Marker) -> Option<File> {
    let file = open_marker(marker, true)?;
    file.try_lock().ok()?;
    Some(file)
}

/// Who holds uv's lock: another uv-cache-prune if its marker is locked too.
fn holder(marker: Option<&Marker>) -> Holder {
    let Some(marker) = marker else {
        return Holder::Uv;
    };
    match open_marker(marker, false).map(|file| file.try_lock()) {
        Some(Err(TryLockError::WouldBlock)) => Holder::Pruner(marker.path()),
        _ => Holder::Uv,
    }
}
