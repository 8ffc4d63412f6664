//! uv's cache lock: an exclusive `flock` on `<cache>/.lock`.
//!
//! Every uv command (0.8.19 and later) holds a *shared* flock on that file for its whole
//! life, and `uv cache clean`/`prune` take it *exclusive*; we do exactly what they do, with
//! `std::fs::File::try_lock`, which is the same `flock(2)` (POSIX `fcntl` locks would not
//! conflict with uv's on Linux). The file is opened or created, never replaced or removed:
//! replacing it would split uv's processes across two inodes and void the lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::locate::CacheDir;

/// Held for as long as this value lives; dropping it closes the file, releasing the lock.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
    pub path: PathBuf,
}

/// How long to wait when uv is using the cache.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// Give up at once.
    No,
    /// Poll until the lock is free or the time is up.
    UpTo(Duration),
}

#[derive(Debug)]
pub enum Acquired {
    Held(CacheLock),
    /// uv held the lock and we were told not to wait.
    Busy(PathBuf),
}

/// Takes the exclusive cache lock. With [`Wait::UpTo`], says once on stderr that it is
/// waiting, and fails with a one-line error naming the lock file when the time is up.
pub fn exclusive(cache: &CacheDir, wait: Wait) -> Result<Acquired> {
    let path = cache.root().join(".lock");
    let file = open(&path)?;
    let deadline = match wait {
        Wait::No => None,
        Wait::UpTo(timeout) => Some(Instant::now() + timeout),
    };
    let mut said = false;
    let mut pause = Duration::from_millis(20);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Acquired::Held(CacheLock { _file: file, path })),
            Err(TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock {}", path.display()));
            }
            Err(TryLockError::WouldBlock) => {}
        }
        let Some(deadline) = deadline else {
            return Ok(Acquired::Busy(path));
        };
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "uv is still using the cache: timed out waiting for the lock on {}; nothing was deleted",
                path.display()
            );
        }
        if !said {
            eprintln!(
                "uv is using the cache; waiting for the lock on {} (--lock-timeout)",
                path.display()
            );
            said = true;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

fn open(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // As uv creates it: any user sharing the cache can lock it.
        options.mode(0o666);
    }
    options
        .open(path)
        .with_context(|| format!("cannot open the cache lock {}", path.display()))
}
