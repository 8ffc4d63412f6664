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
//! # Roots that come and go
//!
//! `roots-seen.json` records, for each registered root, the filesystem it lived on (mount
//! point and device) and the archives its venvs and locks used, per cache, at the last
//! run that saw it. It is an observation like last use: dry runs record it too. When a
//! registered root is missing, it tells a deleted project (its filesystem is here: only
//! `--apply` or `roots prune` forget it) from one on a disk that is not mounted (doubt:
//! what it used is kept, as `root-unmounted` evidence, until it is back or removed).
//! See `pipeline::roots`.
//!
//! # Trust
//!
//! Root runs the tool too (cron, CI, `sudo -E` with a user's `HOME`), so the state
//! directory may be one another user can write. Had we followed paths in it, a
//! `state.lock` symlinked to `/etc/nologin` would have had root create that file, a
//! `locks` symlink would have had root create files elsewhere, and a state directory
//! symlinked to someone else's would have had its `roots.json` replaced. So:
//! - the directory is opened once, `O_NOFOLLOW|O_DIRECTORY` ([`StateDir`]), and every
//!   file is named relative to that descriptor, never through a symlink;
//! - its parents are followed as the user spelled them (a `~/.local` on another disk is
//!   fine), but root neither creates nor uses a state directory that a symlink of
//!   another user leads to, unless that user owns where it leads: else pointing
//!   `~/.local/state` at `/etc`, or at someone else's state, would have root write there;
//! - it, and every file in it, must belong to the effective user (root may act for the
//!   directory's owner) and must not be writable by every user (group-writable is fine:
//!   umask 002 systems). Anything else is refused with one line naming the path, the
//!   cause and what to do, and is left untouched;
//! - a refused state fails closed: the registered roots are unknown, which keeps every
//!   archive (as a damaged registry does); last use counts as now; `roots` commands
//!   exit 1;
//! - nothing we create changes who can use the state: files are created `O_EXCL` under
//!   a temp name, given (`fchown`) to the directory's owner when root made them, and
//!   renamed (or, for lock files, linked) into place. A root-owned file an older version
//!   left there is given back the same way when root next opens it.
//!
//! # Writing
//!
//! Every scan updates the file (hooks and manual runs may overlap), so each update is a
//! read-modify-write under an exclusive `flock` on `state.lock`, written to a temp file
//! and renamed into place: a reader sees the old or the new file, never half of one.
//!
//! # Damage is doubt
//!
//! Every file is stat'ed before it is opened (and again once open), so a FIFO or device
//! put in its place is never read, and a file past its size cap is refused too. A file we
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

mod dir;

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::cache::archive_id::ArchiveId;
use crate::sys::mounts::MountTable;
pub use dir::{Found, Refusal, StateDir};

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
    let base = crate::sys::paths::BaseDir::State
        .path()
        .context("cannot find a state directory (set UV_CACHE_PRUNE_STATE_DIR)")?;
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

/// Our state: where it is, and the directory opened once and checked (see the module
/// doc). Every read and write of a state file goes through here.
#[derive(Debug)]
pub struct State {
    path: PathBuf,
    /// The directory as found when the run began: `None` if it did not exist yet.
    opened: Result<Option<StateDir>, Refusal>,
    /// The directory once a write created it.
    created: OnceCell<StateDir>,
}

impl State {
    /// The state directory of this user ([`state_dir`]), opened and checked. An error
    /// only when there is no place for it at all; a refused directory is a [`State`]
    /// whose reads are doubt and whose writes fail (see [`State::refusal`]).
    pub fn open() -> Result<State> {
        Ok(State::at(state_dir()?))
    }

    /// The state kept in `path`.
    pub fn at(path: PathBuf) -> State {
        State {
            opened: StateDir::open(&path),
            path,
            created: OnceCell::new(),
        }
    }

    /// Where the state is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the state directory is not trusted, if it is not.
    pub fn refusal(&self) -> Option<&Refusal> {
        self.opened.as_ref().err()
    }

    /// The directory, if it exists and is trusted.
    fn existing(&self) -> Option<&StateDir> {
        match &self.opened {
            Ok(Some(dir)) => Some(dir),
            _ => self.created.get(),
        }
    }

    /// The directory to write in, created if missing; an error naming the cause if it is
    /// refused (nothing is then written anywhere).
    fn writable(&self) -> Result<&StateDir> {
        match &self.opened {
            Ok(Some(dir)) => Ok(dir),
            Err(refusal) => Err(refusal.clone().into()),
            Ok(None) => {
                if self.created.get().is_none() {
                    let dir = StateDir::create(&self.path)?;
                    let _ = self.created.set(dir);
                }
                self.created
                    .get()
                    .context("the state directory vanished while we made it")
            }
        }
    }

    /// Whether a run has recorded what registered roots use.
    pub fn has_roots_seen(&self) -> bool {
        self.existing().is_some_and(|dir| dir.exists(ROOTS_SEEN))
    }

    /// `locks/`, for the pruner markers (`crate::apply::cache_lock`): made when `create`, else `None`
    /// when it is not there.
    pub fn locks_dir(&self, create: bool) -> Result<Option<StateDir>> {
        let dir = match create {
            true => self.writable()?,
            false => match (&self.opened, self.existing()) {
                (Err(refusal), _) => return Err(refusal.clone().into()),
                (_, Some(dir)) => dir,
                (_, None) => return Ok(None),
            },
        };
        dir.subdir("locks", create)
    }
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

    fn with_floor(mut self, floor: SystemTime) -> Self {
        self.floor = self.floor.max(Some(floor));
        self
    }
}

const LAST_USE: &str = "last-use.json";
const REGISTRY: &str = "roots.json";
const ROOTS_SEEN: &str = "roots-seen.json";
const LOCK: &str = "state.lock";
/// Size caps: a last-use entry is about 40 bytes, so 64 MiB is over a million archives;
/// a registry of 4 MiB is tens of thousands of roots, and what they used is a last-use
/// record's worth.
const LAST_USE_LIMIT: u64 = 64 << 20;
const REGISTRY_LIMIT: u64 = 4 << 20;
const ROOTS_SEEN_LIMIT: u64 = 64 << 20;
/// What a moved-aside file's name adds, before the seconds.
const ASIDE: &str = ".corrupt-";

impl State {
    /// What earlier scans recorded for `cache`, and a note for the report when the record
    /// was damaged, refused or unreadable (see the module doc: that makes everything
    /// count as seen when the record was last written, or now).
    pub fn last_seen(&self, cache: &Path, now: SystemTime) -> (LastSeen, Option<String>) {
        let dir = match (&self.opened, self.existing()) {
            (Err(refusal), _) => {
                let note = format!("{refusal}; until then every archive counts as used just now");
                return (LastSeen::default().with_floor(now), Some(note));
            }
            (_, Some(dir)) => dir,
            (_, None) => return (LastSeen::default(), None),
        };
        let path = dir.path().join(LAST_USE);
        let (mut seen, note) = match load::<LastUseFile>(dir, LAST_USE, LAST_USE_LIMIT) {
            Ok(Loaded::Missing) => (LastSeen::default(), None),
            Ok(Loaded::Good(file)) => (of_cache(file, cache, now), None),
            Ok(Loaded::Bad(why)) => {
                let floor = dir.modified(LAST_USE).unwrap_or(now).min(now);
                let note = format!(
                    "the last-use record {} {why}: every archive counts as used at {} (when it was last written); it will be moved aside",
                    path.display(),
                    rfc3339(floor)
                );
                (LastSeen::default().with_floor(floor), Some(note))
            }
            Ok(Loaded::Refused(refusal)) => {
                let note = format!("{refusal}; until then every archive counts as used just now");
                (LastSeen::default().with_floor(now), Some(note))
            }
            Err(err) => {
                let note = format!("{err:#}: every archive counts as used just now");
                (LastSeen::default().with_floor(now), Some(note))
            }
        };
        for aside in dir.names_like(&format!("{LAST_USE}{ASIDE}")) {
            let floor = dir.modified(&aside).unwrap_or(now).min(now);
            seen = seen.with_floor(floor);
        }
        (seen, note)
    }

    /// Records `live` as seen at `now` for `cache`, and forgets archives no longer in
    /// `existing`.
    pub fn record_last_seen<'a>(
        &self,
        cache: &Path,
        existing: impl Iterator<Item = &'a ArchiveId>,
        live: impl Iterator<Item = &'a ArchiveId>,
        now: SystemTime,
    ) -> Result<()> {
        let key = cache.to_string_lossy().into_owned();
        let existing: std::collections::HashSet<&str> = existing.map(ArchiveId::as_str).collect();
        let live: Vec<&ArchiveId> = live.collect();
        self.update::<LastUseFile>(LAST_USE, LAST_USE_LIMIT, |file| {
            file.version = 1;
            let seen = file.caches.entry(key).or_default();
            seen.retain(|id, _| existing.contains(id.as_str()));
            for id in &live {
                let entry = seen.entry(id.as_str().to_owned()).or_default();
                *entry = (*entry).max(secs(now));
            }
        })
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

/// Parses the bytes of a `last-use.json` for `cache`; the fuzz test's entry.
#[cfg(test)]
pub fn parse_last_seen(bytes: &[u8], cache: &Path, now: SystemTime) -> Result<LastSeen> {
    Ok(of_cache(serde_json::from_slice(bytes)?, cache, now))
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
    /// Why the roots may be incomplete (a damaged or refused registry, or one moved
    /// aside), with what to do about it. While there is one, no archive can be proved
    /// dead.
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

impl State {
    /// Reads the registry. Never fails: what cannot be read or trusted is a [`Doubt`].
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::default();
        let dir = match (&self.opened, self.existing()) {
            (Err(refusal), _) => {
                registry.doubt = Some(Doubt {
                    path: self.path.clone(),
                    reason: format!("{refusal}; until then the registered roots are unknown"),
                });
                return registry;
            }
            (_, Some(dir)) => dir,
            (_, None) => return registry,
        };
        let path = dir.path().join(REGISTRY);
        match load::<RegistryFile>(dir, REGISTRY, REGISTRY_LIMIT) {
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
            Ok(Loaded::Refused(refusal)) => {
                registry.doubt = Some(Doubt {
                    reason: format!("{refusal}; until then the registered roots are unknown"),
                    path,
                });
                return registry;
            }
            Err(err) => {
                registry.doubt = Some(Doubt {
                    reason: format!(
                        "{err:#}, so the registered roots are unknown; make it readable"
                    ),
                    path,
                });
                return registry;
            }
        }
        if let Some(aside) = dir.names_like(&format!("{REGISTRY}{ASIDE}")).first() {
            let aside = dir.path().join(aside);
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

    /// Adds `root` to the registry by its canonical path (absolute, `..` and symlinks
    /// resolved, as `git rev-parse --show-toplevel` gives it to the hooks), so that
    /// `roots add data/../api/` and `roots add api` register one root, once. Returns the
    /// root as the registry holds it, and whether it is new. An entry an older version
    /// stored as typed counts as this root when it leads to the same directory.
    /// Where it lives (its filesystem) is recorded at once, so that a disk unplugged
    /// before any run has seen the root is still told apart from a deleted project.
    pub fn register_root(&self, root: &Path) -> Result<Registration> {
        let root = canonical_dir(root)?;
        let mut registration = Registration {
            root: root.clone(),
            added: false,
        };
        self.update::<RegistryFile>(REGISTRY, REGISTRY_LIMIT, |file| {
            file.version = 1;
            match file.roots.iter().find(|r| same_root(r, &root)) {
                Some(known) => registration.root.clone_from(known),
                None => {
                    file.roots.push(root.clone());
                    registration.added = true;
                }
            }
        })?;
        let root = registration.root.clone();
        if let Some(place) = Place::of(&root, MountTable::current().ok().as_ref()) {
            // Memory, not safety: a root never placed is never forgotten automatically.
            let _ = self.update::<RootsSeenFile>(ROOTS_SEEN, ROOTS_SEEN_LIMIT, |file| {
                file.version = 1;
                if !file.roots.iter().any(|r| r.root == root) {
                    file.roots.push(RootSeen {
                        root: root.clone(),
                        place,
                        caches: BTreeMap::new(),
                    });
                }
            });
        }
        Ok(registration)
    }

    /// Removes the roots `drop` selects; returns them. What they were seen using is
    /// forgotten with them.
    pub fn unregister_roots(&self, drop: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
        let mut dropped = Vec::new();
        self.update::<RegistryFile>(REGISTRY, REGISTRY_LIMIT, |file| {
            file.version = 1;
            file.roots.retain(|root| {
                let gone = drop(root);
                if gone {
                    dropped.push(root.clone());
                }
                !gone
            });
        })?;
        if !dropped.is_empty() && self.existing().is_some_and(|d| d.exists(ROOTS_SEEN)) {
            let _ = self.update::<RootsSeenFile>(ROOTS_SEEN, ROOTS_SEEN_LIMIT, |file| {
                file.roots.retain(|seen| !dropped.contains(&seen.root));
            });
        }
        Ok(dropped)
    }
}

/// What [`State::register_root`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The root as the registry holds it: the canonical path, or the entry already there
    /// for the same directory.
    pub root: PathBuf,
    /// False when it was registered already.
    pub added: bool,
}

/// The canonical path of the directory `root`: an error naming it when it is not one.
fn canonical_dir(root: &Path) -> Result<PathBuf> {
    let real = std::fs::canonicalize(root)
        .with_context(|| format!("cannot register {}", root.display()))?;
    if !real.is_dir() {
        bail!("cannot register {}: not a directory", root.display());
    }
    Ok(real)
}

/// Whether the registered `entry` is the directory `canonical`: the same path, or an
/// entry an older version stored as typed (with `.` or `..` in it) that resolves to it.
/// Only such entries are resolved: the hooks register on every checkout, and a stat of
/// each root would let one on a stalled network mount hang git. An entry that differs
/// only by a symlink stays a second entry, which costs a walk, never a venv.
fn same_root(entry: &Path, canonical: &Path) -> bool {
    use std::path::Component::{CurDir, ParentDir};
    let as_typed = || entry.components().any(|c| matches!(c, CurDir | ParentDir));
    entry == canonical
        || (as_typed() && std::fs::canonicalize(entry).is_ok_and(|real| real == canonical))
}

/// Parses the bytes of a `roots.json`. Public for the fuzz tests.
pub fn parse_registry(bytes: &[u8]) -> Result<Vec<PathBuf>> {
    Ok(serde_json::from_slice::<RegistryFile>(bytes)?.roots)
}

/// `roots-seen.json`: for each registered root, where it lived and what its venvs and
/// locks used, per cache, at the last run that saw it (see "Roots that come and go").
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RootsSeenFile {
    version: u32,
    roots: Vec<RootSeen>,
}

/// One root as last seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootSeen {
    /// The registered root, as registered.
    pub root: PathBuf,
    /// Where it lived when last seen.
    pub place: Place,
    /// Per cache (by its path), the archive ids it used.
    #[serde(default)]
    pub caches: BTreeMap<String, BTreeSet<String>>,
}

/// The filesystem a root lives on: its mount point, device and filesystem id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// The mount point (from `/proc/self/mountinfo`), if it could be told.
    pub mount: Option<PathBuf>,
    /// `st_dev` of the root.
    pub dev: u64,
    /// `statfs`'s `f_fsid`: derived from the filesystem's UUID on ext4, xfs and btrfs, so
    /// it stays the same when a disk comes back under another device number; 0 where the
    /// filesystem gives none. Absent in records from before it was kept.
    #[serde(default)]
    pub fsid: u64,
}

impl Place {
    /// Where the existing `path` lives now.
    pub fn of(path: &Path, mounts: Option<&MountTable>) -> Option<Place> {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(path).ok()?.dev();
        let mount = mounts.and_then(|table| {
            let real = std::fs::canonicalize(path).ok()?;
            Some(table.containing(&real)?.point.clone())
        });
        let fsid = rustix::fs::statvfs(path).map_or(0, |fs| fs.f_fsid);
        Some(Place { mount, dev, fsid })
    }

    /// True if `now` is the filesystem this place was recorded on: the same mount point
    /// (where both are known) and the same filesystem, by its id where both have one, else
    /// by device. Another disk mounted at the same point (an automount's placeholder, a
    /// different stick) is not the same.
    pub fn same_filesystem(&self, now: &Place) -> bool {
        if let (Some(was), Some(is)) = (&self.mount, &now.mount)
            && was != is
        {
            return false;
        }
        if self.fsid != 0 && now.fsid != 0 {
            self.fsid == now.fsid
        } else {
            self.dev == now.dev
        }
    }
}

/// What earlier runs saw of the registered roots.
#[derive(Debug, Default)]
pub struct RootsSeen {
    roots: Vec<RootSeen>,
    /// Why the record could not be read: then a missing root's filesystem and archives
    /// are unknown.
    pub doubt: Option<Doubt>,
}

/// Why a registered root is not where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Absence {
    /// Its path is gone from a filesystem that is here: it was deleted. `--apply` and
    /// `roots prune` forget it; a dry run only says so.
    Deleted,
    /// Its filesystem is not here (unplugged, not mounted, an automount not up, another
    /// mount namespace): what it used is kept until it is back or `roots remove`d.
    Unmounted {
        /// Where it was mounted, if known.
        mount: Option<PathBuf>,
        /// The archives it used in this cache, when last seen.
        archives: BTreeSet<String>,
    },
    /// No run has seen where it lived (registered by an older version): it is never
    /// forgotten automatically, since a deleted project and an unplugged disk look alike.
    Unknown,
}

impl RootsSeen {
    /// How `root` is absent, or `None` if it is here, on the filesystem it was seen on.
    pub fn absence(
        &self,
        root: &Path,
        cache: &Path,
        mounts: Option<&MountTable>,
    ) -> Option<Absence> {
        let seen = self.roots.iter().find(|seen| seen.root == root);
        let exists = std::fs::symlink_metadata(root).is_ok();
        let Some(seen) = seen else {
            return (!exists).then_some(Absence::Unknown);
        };
        let unmounted = || Absence::Unmounted {
            mount: seen.place.mount.clone(),
            archives: seen
                .caches
                .get(cache.to_string_lossy().as_ref())
                .cloned()
                .unwrap_or_default(),
        };
        // Its filesystem is not mounted at all, or another one is mounted where it was:
        // whatever is at the path now is not it.
        if let (Some(mount), Some(table)) = (&seen.place.mount, mounts)
            && (!table.is_mounted(mount)
                || Place::of(mount, mounts).is_some_and(|now| !seen.place.same_filesystem(&now)))
        {
            return Some(unmounted());
        }
        if exists {
            // Here, but on another filesystem than when it was seen (a different disk whose
            // tree happens to have the same path): what it used then stays kept.
            return match Place::of(root, mounts) {
                Some(now) if !seen.place.same_filesystem(&now) => Some(unmounted()),
                _ => None,
            };
        }
        // Gone: from the filesystem it lived on, or is the nearest thing still there on
        // another one (a mount point's empty directory)?
        let nearest = root
            .ancestors()
            .skip(1)
            .find(|a| std::fs::symlink_metadata(a).is_ok())?;
        let there = Place::of(nearest, mounts)?;
        Some(if seen.place.same_filesystem(&there) {
            Absence::Deleted
        } else {
            unmounted()
        })
    }
}

impl State {
    /// What earlier runs saw of the registered roots; a record that cannot be read is a
    /// doubt (a missing root's archives are then unknown).
    pub fn roots_seen(&self) -> RootsSeen {
        let Some(dir) = self.existing() else {
            return RootsSeen::default();
        };
        let path = dir.path().join(ROOTS_SEEN);
        let why = match load::<RootsSeenFile>(dir, ROOTS_SEEN, ROOTS_SEEN_LIMIT) {
            Ok(Loaded::Missing) => return RootsSeen::default(),
            Ok(Loaded::Good(file)) => {
                return RootsSeen {
                    roots: file.roots,
                    doubt: None,
                };
            }
            Ok(Loaded::Bad(why)) => format!(
                "the record of what registered roots used {} {why}; it will be moved aside",
                path.display()
            ),
            Ok(Loaded::Refused(refusal)) => refusal.to_string(),
            Err(err) => format!("{err:#}"),
        };
        RootsSeen {
            roots: Vec::new(),
            doubt: Some(Doubt { path, reason: why }),
        }
    }

    /// Records, for each root in `seen` (registered roots walked this run), where it lives
    /// and what it used in `cache`; forgets roots no longer `registered`.
    pub fn record_roots_seen(
        &self,
        cache: &Path,
        seen: Vec<(PathBuf, Place, BTreeSet<String>)>,
        registered: &[PathBuf],
    ) -> Result<()> {
        let key = cache.to_string_lossy().into_owned();
        self.update::<RootsSeenFile>(ROOTS_SEEN, ROOTS_SEEN_LIMIT, |file| {
            file.version = 1;
            file.roots.retain(|r| registered.contains(&r.root));
            for (root, place, archives) in seen {
                let at = match file.roots.iter().position(|r| r.root == root) {
                    Some(at) => at,
                    None => {
                        file.roots.push(RootSeen {
                            root,
                            place: place.clone(),
                            caches: BTreeMap::new(),
                        });
                        file.roots.len() - 1
                    }
                };
                let entry = &mut file.roots[at];
                if entry.place.same_filesystem(&place) {
                    entry.place = place;
                    entry.caches.insert(key.clone(), archives);
                } else {
                    // Walked on another filesystem than the one recorded (another disk at
                    // the same path, or the same disk under a new device number where the
                    // filesystem has no id): what the recorded one used stays recorded, so
                    // that it is still kept when that disk is away again.
                    entry
                        .caches
                        .entry(key.clone())
                        .or_default()
                        .extend(archives);
                }
            }
        })
    }
}

/// A state file as read.
enum Loaded<T> {
    Missing,
    Good(T),
    /// Not ours to make sense of: corrupt, too large, or not a regular file. The words say
    /// which ("is corrupt: ..."). Moved aside by the next update.
    Bad(String),
    /// Not to be trusted (a symlink, another user's, writable by all): never read,
    /// never moved, never replaced.
    Refused(Refusal),
}

/// Reads a JSON state file. An error is a file that is there but cannot be read
/// (permissions, I/O): unlike a [`Loaded::Bad`] one, it must not be moved aside.
fn load<T: DeserializeOwned>(dir: &StateDir, name: &str, limit: u64) -> Result<Loaded<T>> {
    let bytes = match dir.read(name, limit)? {
        Found::Missing => return Ok(Loaded::Missing),
        Found::Refused(refusal) => return Ok(Loaded::Refused(refusal)),
        Found::NotRegular(kind) => {
            return Ok(Loaded::Bad(format!("is not a regular file but a {kind}")));
        }
        Found::File(Err(too_large)) => return Ok(Loaded::Bad(format!("is {too_large}"))),
        Found::File(Ok(bytes)) => bytes,
    };
    Ok(match serde_json::from_slice(&bytes) {
        Ok(value) => Loaded::Good(value),
        Err(err) => Loaded::Bad(format!("is corrupt ({err})")),
    })
}

/// Renames `name` to a free `<name>.corrupt-<seconds>[-n]` beside it, under the state
/// lock.
fn move_aside(dir: &StateDir, name: &str) -> Result<PathBuf> {
    let stamp = secs(SystemTime::now());
    for n in 0..100u32 {
        let mut aside = format!("{name}{ASIDE}{stamp}");
        if n > 0 {
            aside += &format!("-{n}");
        }
        if !dir.exists(&aside) {
            dir.rename(name, &aside).with_context(|| {
                format!(
                    "cannot move the damaged {} aside to {}",
                    dir.path().join(name).display(),
                    dir.path().join(&aside).display()
                )
            })?;
            return Ok(dir.path().join(aside));
        }
    }
    bail!(
        "cannot move the damaged {} aside: too many earlier copies beside it; delete them",
        dir.path().join(name).display()
    )
}

impl State {
    /// Read-modify-write of `name` under the state lock, replaced atomically. A damaged
    /// file is first moved aside (never overwritten: see the module doc); a file that
    /// cannot be read or is refused is an error, and nothing is written.
    fn update<T: Serialize + DeserializeOwned + Default>(
        &self,
        name: &str,
        limit: u64,
        change: impl FnOnce(&mut T),
    ) -> Result<()> {
        let dir = self.writable()?;
        let lock = dir.lock_file(LOCK)?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", dir.path().join(LOCK).display()))?;
        let mut value = match load::<T>(dir, name, limit)? {
            Loaded::Missing => T::default(),
            Loaded::Good(value) => value,
            Loaded::Bad(_) => {
                move_aside(dir, name)?;
                T::default()
            }
            Loaded::Refused(refusal) => return Err(refusal.into()),
        };
        change(&mut value);
        let mut bytes = serde_json::to_vec_pretty(&value)
            .with_context(|| format!("cannot write {}", dir.path().join(name).display()))?;
        bytes.push(b'\n');
        dir.write(name, &bytes)
    }
}

#[cfg(test)]
mod fuzz;

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
        State::at(dir.path().to_owned())
            .record_last_seen(cache, [&a, &b].into_iter(), [&a, &b].into_iter(), t(100))
            .unwrap();
        let (before, note) = State::at(dir.path().to_owned()).last_seen(cache, t(NOW));
        assert!(note.is_none());
        assert_eq!(before.get(&a), Some(t(100)));
        assert_eq!(before.get(&b), Some(t(100)));
        State::at(dir.path().to_owned())
            .record_last_seen(cache, [&a].into_iter(), [&a].into_iter(), t(50))
            .unwrap();
        let (after, _) = State::at(dir.path().to_owned()).last_seen(cache, t(NOW));
        // An older clock never moves a time back; b vanished from the cache.
        assert_eq!(after.get(&a), Some(t(100)));
        assert_eq!(after.get(&b), None);
    }

    #[test]
    fn a_corrupt_record_is_moved_aside_and_its_mtime_is_every_archive_s_last_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LAST_USE);
        std::fs::write(&path, b"{not json").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(t(500))
            .unwrap();
        let (a, b) = (id("aaaa"), id("bbbb"));
        let (seen, note) = State::at(dir.path().to_owned()).last_seen(Path::new("/c"), t(NOW));
        assert_eq!(seen.get(&b), Some(t(500)));
        assert!(note.unwrap().contains("is corrupt"));

        State::at(dir.path().to_owned())
            .record_last_seen(Path::new("/c"), [&a].into_iter(), [&a].into_iter(), t(7))
            .unwrap();
        let state = State::at(dir.path().to_owned());
        let [aside] = state
            .existing()
            .unwrap()
            .names_like("last-use.json.corrupt")
            .try_into()
            .unwrap();
        let aside = dir.path().join(aside);
        assert_eq!(std::fs::read(aside).unwrap(), b"{not json");
        let (seen, note) = State::at(dir.path().to_owned()).last_seen(Path::new("/c"), t(NOW));
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
        assert!(State::at(dir.path().to_owned()).registry().doubt.is_some());
        let root = std::fs::canonicalize(root.path()).unwrap();
        assert!(
            State::at(dir.path().to_owned())
                .register_root(&root)
                .unwrap()
                .added
        );
        let read = State::at(dir.path().to_owned()).registry();
        assert_eq!(read.roots, [root.as_path()]);
        let doubt = read.doubt.expect("the moved registry is still a doubt");
        assert_eq!(std::fs::read(&doubt.path).unwrap(), b"[1,");
        std::fs::remove_file(&doubt.path).unwrap();
        assert!(State::at(dir.path().to_owned()).registry().doubt.is_none());
    }

    #[test]
    fn registry_adds_once_by_canonical_path_and_drops_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let base = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(base.path()).unwrap();
        let (api, data) = (base.join("api"), base.join("data"));
        std::fs::create_dir_all(&api).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        let state = || State::at(dir.path().to_owned());
        let first = state().register_root(&data.join("../api/")).unwrap();
        assert_eq!(
            first,
            Registration {
                root: api.clone(),
                added: true
            }
        );
        let again = state().register_root(&api).unwrap();
        assert_eq!(
            again,
            Registration {
                root: api.clone(),
                added: false
            }
        );
        assert_eq!(state().registry().roots, [api.as_path()]);
        let dropped = state().unregister_roots(|p| p == api).unwrap();
        assert_eq!(dropped, [api.as_path()]);
        assert!(state().registry().roots.is_empty());
        assert!(state().register_root(&api.join("missing")).is_err());
    }
}
