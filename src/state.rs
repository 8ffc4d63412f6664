//! Our own memory, kept outside the uv cache: when each archive was last seen live, and
//! the registry of project roots.
//!
//! # Where, and why not in the cache
//!
//! uv's `cache prune` deletes every top-level entry of the cache it does not know, so our
//! files live in `$UV_CACHE_PRUNE_STATE_DIR`, else `$XDG_STATE_HOME/uv-cache-prune`, else
//! `~/.local/state/uv-cache-prune` on every Unix (macOS included, as uv uses XDG paths
//! there: the git hook shims compute the same path in plain shell), and the local data
//! dir on Windows.
//!
//! # Last use
//!
//! uv records no access times, and atime is useless (relatime, noatime). An archive's
//! last use is the latest of three facts:
//! - its creation (directory mtime): it was used to install something then;
//! - the ctime of its `METADATA`: a hardlink venv linking or unlinking the file changes
//!   the link count, and so the ctime;
//! - the last time one of our scans saw it live, recorded here. This is what covers clone,
//!   copy and symlink venvs, which leave no trace on the archive.
//!
//! An archive that no scan of ours has ever seen (installed and abandoned between two
//! runs, or a cache from before this tool) falls back on the first two; that is the same
//! answer Cargo's cache tracker gives for entries it has not tracked yet: the oldest
//! plausible one, never a made-up recent one.
//!
//! # Writing
//!
//! Every scan updates the file (hooks and manual runs may overlap), so each update is a
//! read-modify-write under an exclusive `flock` on `state.lock`, written to a temp file
//! and renamed into place: a reader sees the old or the new file, never half of one. A
//! corrupt file is reported and replaced; it only ever costs memory, never safety.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::archive_id::ArchiveId;

/// `UV_CACHE_PRUNE_NOW` (seconds since the epoch) sets the clock: for tests only, as
/// Cargo's GC tests do, so that "unused for 30 days" can be tested without waiting.
pub const CLOCK_ENV: &str = "UV_CACHE_PRUNE_NOW";

/// The time the tool acts at.
pub fn now() -> Result<SystemTime> {
    match std::env::var(CLOCK_ENV) {
        Ok(secs) => {
            let secs: u64 = secs
                .trim()
                .parse()
                .with_context(|| format!("{CLOCK_ENV}={secs:?} is not a number of seconds"))?;
            Ok(UNIX_EPOCH + Duration::from_secs(secs))
        }
        Err(_) => Ok(SystemTime::now()),
    }
}

/// The directory of our state files.
pub fn state_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("UV_CACHE_PRUNE_STATE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = if cfg!(windows) {
        xdg.or_else(dirs::data_local_dir)
    } else {
        xdg.or_else(|| dirs::home_dir().map(|h| h.join(".local").join("state")))
    };
    let base = base.context("cannot find a state directory (set UV_CACHE_PRUNE_STATE_DIR)")?;
    Ok(base.join("uv-cache-prune"))
}

/// Seconds since the epoch, as stored.
fn secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `last-use.json`: per cache (by its path), per archive, when a scan last saw it live.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LastUseFile {
    version: u32,
    caches: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Last-seen-live times of one cache's archives.
#[derive(Debug, Default, Clone)]
pub struct LastSeen(BTreeMap<String, u64>);

impl LastSeen {
    pub fn get(&self, id: &ArchiveId) -> Option<SystemTime> {
        self.0
            .get(id.as_str())
            .map(|s| UNIX_EPOCH + Duration::from_secs(*s))
    }
}

const LAST_USE: &str = "last-use.json";

/// What earlier scans recorded for `cache`.
pub fn last_seen(dir: &Path, cache: &Path) -> Result<LastSeen> {
    let mut file = load::<LastUseFile>(&dir.join(LAST_USE))?;
    let seen = file.caches.remove(cache.to_string_lossy().as_ref());
    Ok(LastSeen(seen.unwrap_or_default()))
}

/// Records `live` as seen at `now` for `cache`, and forgets archives no longer in
/// `existing`.
pub fn record_last_seen<'a>(
    dir: &Path,
    cache: &Path,
    existing: impl Iterator<Item = &'a ArchiveId>,
    live: impl Iterator<Item = &'a ArchiveId>,
    now: SystemTime,
) -> Result<()> {
    let key = cache.to_string_lossy().into_owned();
    let existing: std::collections::HashSet<&str> = existing.map(ArchiveId::as_str).collect();
    let live: Vec<&ArchiveId> = live.collect();
    update::<LastUseFile>(dir, LAST_USE, |file| {
        file.version = 1;
        let seen = file.caches.entry(key).or_default();
        seen.retain(|id, _| existing.contains(id.as_str()));
        for id in &live {
            let entry = seen.entry(id.as_str().to_owned()).or_default();
            *entry = (*entry).max(secs(now));
        }
    })
}

/// `roots.json`: project roots registered by `--register` and the git hooks.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RegistryFile {
    version: u32,
    roots: Vec<PathBuf>,
}

/// The registered roots, in registration order.
pub fn registered_roots(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(load::<RegistryFile>(&dir.join("roots.json"))?.roots)
}

/// Adds `root` (made absolute) to the registry; true if it was new.
pub fn register_root(dir: &Path, root: &Path) -> Result<bool> {
    let root = std::path::absolute(root)
        .with_context(|| format!("cannot make {} absolute", root.display()))?;
    if !root.is_dir() {
        bail!("cannot register {}: not a directory", root.display());
    }
    let mut added = false;
    update::<RegistryFile>(dir, "roots.json", |file| {
        file.version = 1;
        if !file.roots.contains(&root) {
            file.roots.push(root.clone());
            added = true;
        }
    })?;
    Ok(added)
}

/// Removes the roots `drop` selects; returns them.
pub fn unregister_roots(dir: &Path, drop: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut dropped = Vec::new();
    update::<RegistryFile>(dir, "roots.json", |file| {
        file.version = 1;
        file.roots.retain(|root| {
            let gone = drop(root);
            if gone {
                dropped.push(root.clone());
            }
            !gone
        });
    })?;
    Ok(dropped)
}

/// Reads a JSON state file; a missing one is empty, a corrupt one is an error naming it.
fn load<T: DeserializeOwned + Default>(path: &Path) -> Result<T> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is corrupt (delete it to start afresh)", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Read-modify-write of `dir/name` under the state lock, replaced atomically. A corrupt
/// file is replaced (what it held was only memory), with a warning on stderr.
fn update<T: Serialize + DeserializeOwned + Default>(
    dir: &Path,
    name: &str,
    change: impl FnOnce(&mut T),
) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    let _lock = lock(dir)?;
    let path = dir.join(name);
    let mut value = load::<T>(&path).unwrap_or_else(|err| {
        eprintln!("warning: {err:#}; starting afresh");
        T::default()
    });
    change(&mut value);
    // Serialized first: the temp file is unbuffered, and one write is one syscall.
    let mut bytes = serde_json::to_vec_pretty(&value).context("cannot serialize state")?;
    bytes.push(b'\n');
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    temp.write_all(&bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    temp.persist(&path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

fn lock(dir: &Path) -> Result<File> {
    let path = dir.join("state.lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ArchiveId {
        ArchiveId::new(s).unwrap()
    }

    #[test]
    fn last_seen_keeps_the_latest_time_and_forgets_vanished_archives() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Path::new("/c");
        let (a, b) = (id("aaaa"), id("bbbb"));
        let t = |s| UNIX_EPOCH + Duration::from_secs(s);
        record_last_seen(
            dir.path(),
            cache,
            [&a, &b].into_iter(),
            [&a, &b].into_iter(),
            t(100),
        )
        .unwrap();
        let before = last_seen(dir.path(), cache).unwrap();
        assert_eq!(before.get(&a), Some(t(100)));
        assert_eq!(before.get(&b), Some(t(100)));
        record_last_seen(dir.path(), cache, [&a].into_iter(), [&a].into_iter(), t(50)).unwrap();
        let after = last_seen(dir.path(), cache).unwrap();
        // An older clock never moves a time back; b vanished from the cache.
        assert_eq!(after.get(&a), Some(t(100)));
        assert_eq!(after.get(&b), None);
    }

    #[test]
    fn a_corrupt_state_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("last-use.json"), b"{not json").unwrap();
        let a = id("aaaa");
        let t = UNIX_EPOCH + Duration::from_secs(7);
        record_last_seen(
            dir.path(),
            Path::new("/c"),
            [&a].into_iter(),
            [&a].into_iter(),
            t,
        )
        .unwrap();
        assert_eq!(
            last_seen(dir.path(), Path::new("/c")).unwrap().get(&a),
            Some(t)
        );
    }

    #[test]
    fn registry_adds_once_and_drops_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        assert!(register_root(dir.path(), root.path()).unwrap());
        assert!(!register_root(dir.path(), root.path()).unwrap());
        assert_eq!(registered_roots(dir.path()).unwrap(), [root.path()]);
        let dropped = unregister_roots(dir.path(), |p| p == root.path()).unwrap();
        assert_eq!(dropped, [root.path()]);
        assert!(registered_roots(dir.path()).unwrap().is_empty());
        assert!(register_root(dir.path(), &root.path().join("missing")).is_err());
    }
}
