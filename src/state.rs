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
//! and renamed into place: a reader sees the old or the new file, never half of one.
//!
//! # Damage is doubt
//!
//! Every file is read with `read::read_regular`, so a FIFO or device put in its
//! place is refused at once, and a file past its size cap is refused too. A file we
//! cannot make sense of is never overwritten: an update first renames it aside, to
//! `<name>.corrupt-<seconds>`, where the user can look at it. What it said is then unknown,
//! and unknown is read the safe way:
//! - the registry: some root is unknown, and a venv under it may use any archive, so
//!   while a damaged registry (or one moved aside) exists, every archive is kept. The
//!   warning says how to end it: register the roots again, then delete the moved file.
//! - last use: a damaged record cannot say when anything was last seen, but it cannot have
//!   recorded anything after it was last written. So its mtime (kept by the rename, and
//!   never later than now) is taken as every archive's last use: nothing looks older than
//!   it may be, and the doubt fades as that time recedes, with no action needed. A record
//!   we cannot read at all (permissions) counts as written now.
//!
//! Recorded times after now (a clock moved back, or a number past what a clock can hold)
//! are read as now: a last use cannot be in the future, and "now" is the newest it can be.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::archive_id::ArchiveId;
use crate::read::{ReadError, read_regular};

/// `UV_CACHE_PRUNE_NOW` (seconds since the epoch) sets the clock: for tests only, as
/// Cargo's GC tests do, so that "unused for 30 days" can be tested without waiting.
pub const CLOCK_ENV: &str = "UV_CACHE_PRUNE_NOW";

/// The first second of the year 10000: the clock must stay below it, because every time we
/// print is RFC 3339, which has four-digit years.
const CLOCK_END: u64 = 253_402_300_800;

/// The time the tool acts at.
pub fn now() -> Result<SystemTime> {
    match std::env::var(CLOCK_ENV) {
        Ok(text) => {
            let secs: u64 = text.trim().parse().with_context(|| {
                format!("{CLOCK_ENV}={text:?} is not a whole number of seconds since 1970 (it sets the clock for tests: unset it)")
            })?;
            if secs >= CLOCK_END {
                bail!(
                    "{CLOCK_ENV}={secs} is after the year 9999 (it sets the clock for tests: unset it)"
                );
            }
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

/// `time` in RFC 3339 (UTC, seconds), or in seconds since 1970 where RFC 3339 cannot
/// write it (before 1970, or after 9999: a broken clock or a file's odd mtime must not
/// break a report).
pub fn rfc3339(time: SystemTime) -> String {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) if since.as_secs() < CLOCK_END => {
            humantime::format_rfc3339_seconds(time).to_string()
        }
        Ok(since) => format!("{} seconds after 1970", since.as_secs()),
        Err(before) => format!("{} seconds before 1970", before.duration().as_secs()),
    }
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
pub struct LastSeen {
    times: BTreeMap<String, SystemTime>,
    /// The latest an unreadable record may have seen any archive: it counts for all.
    floor: Option<SystemTime>,
}

impl LastSeen {
    /// When an earlier scan last saw this archive live.
    pub fn get(&self, id: &ArchiveId) -> Option<SystemTime> {
        self.times.get(id.as_str()).copied().max(self.floor)
    }
}

const LAST_USE: &str = "last-use.json";
const REGISTRY: &str = "roots.json";
/// Size caps: a last-use entry is about 40 bytes, so 64 MiB is over a million archives;
/// a registry of 4 MiB is tens of thousands of roots.
const LAST_USE_LIMIT: u64 = 64 << 20;
const REGISTRY_LIMIT: u64 = 4 << 20;
/// What a moved-aside file's name adds, before the seconds.
const ASIDE: &str = ".corrupt-";

/// What earlier scans recorded for `cache`, and a note for the report when the record was
/// damaged or unreadable (see the module doc: that makes everything count as seen when the
/// record was last written).
pub fn last_seen(dir: &Path, cache: &Path, now: SystemTime) -> (LastSeen, Option<String>) {
    let path = dir.join(LAST_USE);
    let (mut seen, note) = match load::<LastUseFile>(&path, LAST_USE_LIMIT) {
        Ok(Loaded::Missing) => (LastSeen::default(), None),
        Ok(Loaded::Good(file)) => (of_cache(file, cache, now), None),
        Ok(Loaded::Bad(why)) => {
            let floor = written_at(&path).unwrap_or(now).min(now);
            let note = format!(
                "the last-use record {} {why}: every archive counts as used at {} (when it was last written); it will be moved aside",
                path.display(),
                rfc3339(floor)
            );
            (LastSeen::default().with_floor(floor), Some(note))
        }
        Err(err) => {
            let note = format!("{err:#}: every archive counts as used just now");
            (LastSeen::default().with_floor(now), Some(note))
        }
    };
    for aside in asides(dir, LAST_USE) {
        let floor = written_at(&aside).unwrap_or(now).min(now);
        seen = seen.with_floor(floor);
    }
    (seen, note)
}

impl LastSeen {
    fn with_floor(mut self, floor: SystemTime) -> Self {
        self.floor = self.floor.max(Some(floor));
        self
    }
}

/// The times recorded for `cache`, none after `now`.
fn of_cache(mut file: LastUseFile, cache: &Path, now: SystemTime) -> LastSeen {
    let times = file
        .caches
        .remove(cache.to_string_lossy().as_ref())
        .unwrap_or_default()
        .into_iter()
        .map(|(id, secs)| {
            let time = UNIX_EPOCH
                .checked_add(Duration::from_secs(secs))
                .map_or(now, |t| t.min(now));
            (id, time)
        })
        .collect();
    LastSeen { times, floor: None }
}

/// Parses the bytes of a `last-use.json` for `cache`. Public for the fuzz tests.
pub fn parse_last_seen(bytes: &[u8], cache: &Path, now: SystemTime) -> Result<LastSeen> {
    Ok(of_cache(serde_json::from_slice(bytes)?, cache, now))
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
    update::<LastUseFile>(dir, LAST_USE, LAST_USE_LIMIT, |file| {
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

/// The root registry as read: its roots, and whether some root may be missing from them.
#[derive(Debug, Default)]
pub struct Registry {
    /// The registered roots, in registration order.
    pub roots: Vec<PathBuf>,
    /// Why the roots may be incomplete (a damaged registry, or one moved aside), with what
    /// to do about it. While there is one, no archive can be proved dead.
    pub doubt: Option<Doubt>,
}

/// A reason to keep every archive: the file it is about, and what is wrong, in words.
#[derive(Debug, Clone)]
pub struct Doubt {
    /// The file in doubt.
    pub path: PathBuf,
    /// What is wrong with it, and what it costs.
    pub reason: String,
}

/// Reads the registry in `dir`. Never fails: what cannot be read is a [`Doubt`].
pub fn registry(dir: &Path) -> Registry {
    let path = dir.join(REGISTRY);
    let mut registry = Registry::default();
    match load::<RegistryFile>(&path, REGISTRY_LIMIT) {
        Ok(Loaded::Missing) => {}
        Ok(Loaded::Good(file)) => registry.roots = file.roots,
        Ok(Loaded::Bad(why)) => {
            registry.doubt = Some(Doubt {
                reason: format!(
                    "the root registry {} {why}, so the roots it listed are unknown; it will be moved aside on the next update",
                    path.display()
                ),
                path,
            });
            return registry;
        }
        Err(err) => {
            registry.doubt = Some(Doubt {
                reason: format!("{err:#}, so the registered roots are unknown; make it readable"),
                path,
            });
            return registry;
        }
    }
    if let Some(aside) = asides(dir, REGISTRY).into_iter().next() {
        registry.doubt = Some(Doubt {
            reason: format!(
                "an earlier root registry was damaged and is kept at {}: the roots it listed are unknown. Register them again (`uv-cache-prune roots add DIR`), then delete that file",
                aside.display()
            ),
            path: aside,
        });
    }
    registry
}

/// Parses the bytes of a `roots.json`. Public for the fuzz tests.
pub fn parse_registry(bytes: &[u8]) -> Result<Vec<PathBuf>> {
    Ok(serde_json::from_slice::<RegistryFile>(bytes)?.roots)
}

/// Adds `root` (made absolute) to the registry; true if it was new.
pub fn register_root(dir: &Path, root: &Path) -> Result<bool> {
    let root = std::path::absolute(root)
        .with_context(|| format!("cannot make {} absolute", root.display()))?;
    if !root.is_dir() {
        bail!("cannot register {}: not a directory", root.display());
    }
    let mut added = false;
    update::<RegistryFile>(dir, REGISTRY, REGISTRY_LIMIT, |file| {
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
    update::<RegistryFile>(dir, REGISTRY, REGISTRY_LIMIT, |file| {
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

/// A state file as read.
enum Loaded<T> {
    Missing,
    Good(T),
    /// Not ours to make sense of: corrupt, too large, or not a regular file. The words say
    /// which ("is corrupt: ...").
    Bad(String),
}

/// Reads a JSON state file. An error is a file that is there but cannot be read
/// (permissions, I/O): unlike a [`Loaded::Bad`] one, it must not be moved aside.
fn load<T: DeserializeOwned>(path: &Path, limit: u64) -> Result<Loaded<T>> {
    let bytes = match read_regular(path, limit) {
        Ok(bytes) => bytes,
        Err(err) if err.is_not_found() => return Ok(Loaded::Missing),
        Err(err @ (ReadError::NotRegular(_) | ReadError::TooLarge { .. })) => {
            return Ok(Loaded::Bad(format!("is {err}")));
        }
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(match serde_json::from_slice(&bytes) {
        Ok(value) => Loaded::Good(value),
        Err(err) => Loaded::Bad(format!("is corrupt ({err})")),
    })
}

/// When `path` was last written, if that can be told.
fn written_at(path: &Path) -> Option<SystemTime> {
    std::fs::symlink_metadata(path).ok()?.modified().ok()
}

/// The files `name` was moved aside to, oldest name first.
fn asides(dir: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!("{name}{ASIDE}");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Renames `path` to a free `<path>.corrupt-<seconds>[-n]` beside it, under the state lock.
fn move_aside(path: &Path) -> Result<PathBuf> {
    let stamp = secs(SystemTime::now());
    for n in 0..100u32 {
        let mut name = path.as_os_str().to_owned();
        name.push(format!("{ASIDE}{stamp}"));
        if n > 0 {
            name.push(format!("-{n}"));
        }
        let aside = PathBuf::from(name);
        if std::fs::symlink_metadata(&aside).is_err() {
            std::fs::rename(path, &aside).with_context(|| {
                format!(
                    "cannot move the damaged {} aside to {}",
                    path.display(),
                    aside.display()
                )
            })?;
            return Ok(aside);
        }
    }
    bail!(
        "cannot move the damaged {} aside: too many earlier copies beside it; delete them",
        path.display()
    )
}

/// Read-modify-write of `dir/name` under the state lock, replaced atomically. A damaged
/// file is first moved aside (never overwritten: see the module doc); a file that cannot be
/// read is an error, and nothing is written.
fn update<T: Serialize + DeserializeOwned + Default>(
    dir: &Path,
    name: &str,
    limit: u64,
    change: impl FnOnce(&mut T),
) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    let _lock = lock(dir)?;
    let path = dir.join(name);
    let mut value = match load::<T>(&path, limit)? {
        Loaded::Missing => T::default(),
        Loaded::Good(value) => value,
        Loaded::Bad(_) => {
            move_aside(&path)?;
            T::default()
        }
    };
    change(&mut value);
    // Serialized first: the temp file is unbuffered, and one write is one syscall.
    let mut bytes = serde_json::to_vec_pretty(&value)
        .with_context(|| format!("cannot write {}", path.display()))?;
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

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    const NOW: u64 = 1_000_000;

    #[test]
    fn last_seen_keeps_the_latest_time_and_forgets_vanished_archives() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Path::new("/c");
        let (a, b) = (id("aaaa"), id("bbbb"));
        record_last_seen(
            dir.path(),
            cache,
            [&a, &b].into_iter(),
            [&a, &b].into_iter(),
            t(100),
        )
        .unwrap();
        let (before, note) = last_seen(dir.path(), cache, t(NOW));
        assert!(note.is_none());
        assert_eq!(before.get(&a), Some(t(100)));
        assert_eq!(before.get(&b), Some(t(100)));
        record_last_seen(dir.path(), cache, [&a].into_iter(), [&a].into_iter(), t(50)).unwrap();
        let (after, _) = last_seen(dir.path(), cache, t(NOW));
        // An older clock never moves a time back; b vanished from the cache.
        assert_eq!(after.get(&a), Some(t(100)));
        assert_eq!(after.get(&b), None);
    }

    #[test]
    fn a_corrupt_record_is_moved_aside_and_its_mtime_is_every_archive_s_last_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LAST_USE);
        std::fs::write(&path, b"{not json").unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(t(500))
            .unwrap();
        let (a, b) = (id("aaaa"), id("bbbb"));
        let (seen, note) = last_seen(dir.path(), Path::new("/c"), t(NOW));
        assert_eq!(seen.get(&b), Some(t(500)));
        assert!(note.unwrap().contains("is corrupt"));

        record_last_seen(
            dir.path(),
            Path::new("/c"),
            [&a].into_iter(),
            [&a].into_iter(),
            t(7),
        )
        .unwrap();
        let [aside] = asides(dir.path(), LAST_USE).try_into().unwrap();
        assert_eq!(std::fs::read(aside).unwrap(), b"{not json");
        let (seen, note) = last_seen(dir.path(), Path::new("/c"), t(NOW));
        assert!(note.is_none());
        // The floor outlives the move; a later record still wins.
        assert_eq!(seen.get(&a), Some(t(500)));
        assert_eq!(seen.get(&b), Some(t(500)));
    }

    #[test]
    fn recorded_times_after_now_read_as_now() {
        let cache = Path::new("/c");
        let bytes = br#"{"version":1,"caches":{"/c":{"aaaa":18446744073709551615,"bbbb":2000000,"cccc":5}}}"#;
        let seen = parse_last_seen(bytes, cache, t(NOW)).unwrap();
        assert_eq!(seen.get(&id("aaaa")), Some(t(NOW)));
        assert_eq!(seen.get(&id("bbbb")), Some(t(NOW)));
        assert_eq!(seen.get(&id("cccc")), Some(t(5)));
    }

    #[test]
    fn a_corrupt_registry_is_a_doubt_until_its_moved_copy_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(REGISTRY), b"[1,").unwrap();
        assert!(registry(dir.path()).doubt.is_some());
        assert!(register_root(dir.path(), root.path()).unwrap());
        let read = registry(dir.path());
        assert_eq!(read.roots, [root.path()]);
        let doubt = read.doubt.expect("the moved registry is still a doubt");
        assert_eq!(std::fs::read(&doubt.path).unwrap(), b"[1,");
        std::fs::remove_file(&doubt.path).unwrap();
        assert!(registry(dir.path()).doubt.is_none());
    }

    #[test]
    fn registry_adds_once_and_drops_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        assert!(register_root(dir.path(), root.path()).unwrap());
        assert!(!register_root(dir.path(), root.path()).unwrap());
        assert_eq!(registry(dir.path()).roots, [root.path()]);
        let dropped = unregister_roots(dir.path(), |p| p == root.path()).unwrap();
        assert_eq!(dropped, [root.path()]);
        assert!(registry(dir.path()).roots.is_empty());
        assert!(register_root(dir.path(), &root.path().join("missing")).is_err());
    }
}
