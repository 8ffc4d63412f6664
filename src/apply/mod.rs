//! Stage 6: delete the plan's dead archives, crash-safe, under the cache lock.
//!
//! Nothing here is done by path. The cache root is opened once and checked to be the
//! directory that was validated ([`crate::apply::guard::CacheRoot`]); pointers, `archive-v0`,
//! `files-v0` are all reached from its descriptor. A path is resolved again at every use,
//! and a co-writer of a shared cache can swap a bucket directory for a symlink between our
//! check and our unlink: unlinking `<cache>/wheels-v8/pypi/zz/authorized_keys` by path
//! would then delete `~victim/.ssh/authorized_keys`.
//!
//! For each archive, in this order:
//! 1. remove every pointer that names it (`.rev`/`.http` records and symlinks in every
//!    bucket generation, environment links). uv trusts a `.rev` without checking its
//!    archive, so a pointer must never outlive its archive. Each is removed by
//!    descriptor: every directory on its path opened with `O_NOFOLLOW` from its parent,
//!    on the cache's own mount, the leaf `unlinkat`ed from the last one. A pointer whose
//!    path leads through a symlink or onto another mount is refused, and its archive is
//!    kept (a warning, not an abort: the other archives go on);
//! 2. rename `archive-v0/<id>` to a dot-named trash dir beside it (atomic: same
//!    directory), so no pointer can ever see a half-deleted archive; the rename is made
//!    relative to the descriptor of the validated `archive-v0` ([`ArchiveDir`]). Where
//!    the filesystem cannot rename it (`EXDEV`: a directory of an overlayfs lower layer),
//!    it is deleted in place instead: its pointers are gone, so no reader finds it;
//! 3. delete the trash by descriptor ([`crate::sys::rmtree`]): never following a symlink,
//!    never entering another mount, making read-only directories writable first, and
//!    counting the bytes of each inode whose last link goes. What cannot be deleted is
//!    left and warned about ([`Removal::warnings`]): it is trash no pointer names.
//!
//! Steps 1 and 2 are a few syscalls per archive and run in order; step 3 is the bulk of
//! the work (one unlink per file) and runs on every core, largest archive first, once
//! every archive is already trash.
//!
//! A kill at any instant leaves either a complete archive (with some or all pointers) or
//! trash that no pointer names; [`remove_leftover_trash`] finishes the job next time. An
//! archive deleted in place and interrupted is left half-deleted under its own name, but
//! with no pointer naming it: uv never reads it, and the next run sees a dead archive.
//! Pointers whose archive is already gone (dangling) are removed as well.
//!
//! On overlayfs the report says up front that deleting what a lower layer holds only
//! hides it (a whiteout in the upper layer) and frees nothing in the image.
//!
//! Where the filesystem refuses a change for lack of permission (another user's
//! directory, `chmod -w`, a read-only mount: [`crate::sys::denied`]), nothing aborts and
//! nothing is left half-done: an archive one of whose pointers may not be removed is kept
//! whole, with the pointers it still has; when `archive-v0` itself may not be changed
//! (asked before the first pointer goes, [`ArchiveDir::writable`]) no pointer is removed
//! and every candidate is kept; a rename refused all the same stops the removals there.
//! A cached environment kept for any reason keeps every wheel candidate after it, since
//! it may link into them. Every refusal that kept an archive is in [`Removal::denied`],
//! so that the report says what was done, what was kept, and what to do, and the run
//! exits non-zero. A refusal where uv no longer looks (trash, `.tmp*` leftovers, orphaned
//! objects, an sdist or script environment left whole) costs bytes, not correctness, and
//! would recur on every run until fixed: a warning that says what to do.
//!
//! The environment variable `UV_CACHE_PRUNE_FAULT_AFTER=N` (for crash tests only) aborts
//! the process after N filesystem changes, as a `kill -9` would.

pub(crate) mod advice;
pub(crate) mod cache_lock;
pub(crate) mod guard;
pub(crate) mod parent_uv;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::Result;

use crate::apply::cache_lock::CacheLock;
use crate::apply::guard::{ArchiveDir, CacheRoot, Guard, Moved, PointerRemoval};
use crate::cache::archive_id::ArchiveId;
use crate::evidence::EvidenceKind;
use crate::plan::Plan;
use crate::report::progress::Progress;
use crate::sys::denied::Denied;
use crate::sys::threads::Threads;
use crate::warning::{Warning, WarningKind};

/// What a deletion did, measured as it happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    pub archives: usize,
    pub pointers: usize,
    /// Allocated bytes of the inodes whose last link was removed.
    pub bytes: u64,
    /// Trash an interrupted run left, removed before planning: not part of the plan.
    pub leftover: Leftover,
    /// What was left in place, and why (trash we did not make, mounts, permissions).
    pub warnings: Vec<Warning>,
    /// Candidates kept whole because a pointer naming them could not be removed safely:
    /// the report moves them from the removed to the kept.
    pub kept: Vec<Kept>,
    /// Entries outside `archive-v0` removed (`crate::buckets::leftovers`), and the bytes that
    /// freed (not in [`Removal::bytes`], which is the archives').
    pub other_entries: usize,
    pub other_bytes: u64,
    /// The changes the filesystem refused for lack of permission that kept an archive
    /// ([`Removal::kept`]): the run did not do all it planned.
    pub denied: Vec<Denied>,
}

/// A candidate `--apply` kept whole: a pointer naming it leads through a symlink or onto
/// another mount (removing it could delete something else), or may not be removed, or
/// `archive-v0` may not be changed, or a cached environment that may link into it was
/// kept. An archive never goes while a pointer still names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub id: ArchiveId,
    /// What stopped it: the pointer, `archive-v0`, the archive itself (its pointers
    /// gone, the rename refused) or the kept environment.
    pub path: PathBuf,
    /// `pointer-refused` (a safety refusal) or `permission-denied`.
    pub kind: EvidenceKind,
    /// Why, in words.
    pub why: String,
}

impl Kept {
    fn of(id: &ArchiveId, held: &Held) -> Self {
        Self {
            id: id.clone(),
            path: held.path.clone(),
            kind: held.kind,
            why: held.why.clone(),
        }
    }
}

/// Why a candidate is held back by `apply`: [`Kept`] without the archive.
#[derive(Debug, Clone)]
struct Held {
    path: PathBuf,
    kind: EvidenceKind,
    why: String,
}

/// Trash of an earlier, interrupted run that this run finished deleting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leftover {
    /// Trash directories removed whole.
    pub entries: usize,
    /// Allocated bytes freed by removing them (and by the parts of the rest that went).
    pub bytes: u64,
}

impl std::ops::AddAssign for Removal {
    fn add_assign(&mut self, other: Self) {
        self.archives += other.archives;
        self.pointers += other.pointers;
        self.bytes += other.bytes;
        self.leftover.entries += other.leftover.entries;
        self.leftover.bytes += other.leftover.bytes;
        self.warnings.extend(other.warnings);
        self.kept.extend(other.kept);
        self.other_entries += other.other_entries;
        self.other_bytes += other.other_bytes;
        self.denied.extend(other.denied);
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

/// The one way to delete from the cache: made from uv's exclusive lock, which it holds
/// until it is dropped, and the [`Guard`] of the cache that lock is on. Deleting is only
/// ever a method of this type, so no code path can delete without the lock (cargo's `Gc`
/// holds its lock the same way); its plan must be made after it was built, under the lock.
#[derive(Debug)]
pub struct Pruner {
    guard: Guard,
    faults: Faults,
    /// Held, not read: releasing it is dropping the pruner.
    _lock: CacheLock,
}

impl Pruner {
    /// Deletion under `lock`, within `guard`'s rules. `lock` must be the lock of the cache
    /// `guard` checked: both name its root.
    pub fn new(guard: Guard, lock: CacheLock) -> Result<Self> {
        anyhow::ensure!(
            lock.cache_root() == guard.cache_named(),
            "internal error: the lock on {} does not guard {}",
            lock.cache_root().display(),
            guard.cache_named().display()
        );
        Ok(Self {
            guard,
            faults: Faults::from_env(),
            _lock: lock,
        })
    }

    /// Removes trash left by an interrupted run (see [`remove_leftover_trash`]).
    pub fn remove_leftover_trash(&self) -> Result<Removal> {
        remove_leftover_trash(&self.guard, &self.faults)
    }

    /// Deletes `plan`'s candidates, their pointers and the dangling pointers (see
    /// [`apply`]). `plan` must have been made under this pruner's lock.
    pub fn apply(&self, plan: &Plan, progress: &Progress, threads: Threads) -> Result<Removal> {
        apply(plan, &self.guard, &self.faults, progress, threads)
    }
}

/// Removes trash left by an interrupted run. Only a [`Pruner`] calls it.
///
/// Only directories named `<TRASH_PREFIX><valid id>` are ours; anything else wearing the
/// prefix (a symlink, a file, a bad id) was not made by us and is left, with a warning.
/// Whatever cannot be deleted is left and warned about too: one stuck entry must not stop
/// this and every later run from removing new dead archives.
fn remove_leftover_trash(guard: &Guard, faults: &Faults) -> Result<Removal> {
    let dir = guard.open_archive_dir()?;
    let mut removal = Removal::default();
    let mut denied = Vec::new();
    for entry in dir.trash_entries()? {
        let path = dir.path().join(&entry.name);
        if !entry.ours {
            removal.warnings.push(Warning::new(WarningKind::Unexpected, format!(
                "left {}: a {} named like our trash, which uv-cache-prune did not make; remove it by hand if it is yours",
                path.display(),
                entry.what
            )));
            continue;
        }
        let outcome = dir.remove_trash(&entry.name, &|| faults.step());
        removal.leftover.bytes += outcome.freed;
        removal.leftover.entries += usize::from(outcome.removed);
        removal.warnings.extend(left_in_place(outcome.warnings()));
        denied.extend(outcome.denied);
    }
    warn_denied(&mut removal, &denied, "trash left", dir.path());
    Ok(removal)
}

/// Warnings saying what to do about refusals that kept no archive (see the module docs).
fn warn_denied(removal: &mut Removal, denied: &[Denied], what: &str, near: &std::path::Path) {
    // The cache root is what `near` is in (`archive-v0`, or the root itself).
    let cache_root = if near.ends_with(crate::cache::layout::ARCHIVE_BUCKET) {
        near.parent().unwrap_or(near)
    } else {
        near
    };
    for advice in crate::apply::advice::advice(denied, cache_root) {
        removal.warnings.push(Warning::new(
            WarningKind::LeftInPlace,
            format!("{what} for lack of permission: {advice}"),
        ));
    }
}

/// Deletes every candidate of `plan` with its pointers, then every dangling pointer.
/// Only a [`Pruner`] calls it, on a plan made under its lock.
///
/// An archive one of whose pointers cannot be removed safely (its path leads through a
/// symlink or onto another mount, say) or may not be removed (permission) is kept whole:
/// the run goes on with the others. A pointer must never outlive its archive, so the
/// archive is only renamed once every pointer naming it is gone. Refusals for lack of
/// permission end up in [`Removal::denied`] or in warnings, never in an early error.
fn apply(
    plan: &Plan,
    guard: &Guard,
    faults: &Faults,
    progress: &Progress,
    threads: Threads,
) -> Result<Removal> {
    let root = guard.open_cache_root()?;
    let dir = root.open_archive_dir()?;
    let step = || faults.step();
    let mut removal = Removal::default();
    if root.is_overlay() && plan.candidates().next().is_some() {
        removal.warnings.push(Warning::new(WarningKind::Filesystem, format!(
            "{} is on overlayfs (a container image's layer?): deleting what a lower layer holds only hides it in the upper layer and frees nothing in the image; prune before the layer is committed to reclaim its space",
            root.path().display()
        )));
    }
    // Steps 1 and 2: after this loop no pointer names any of these archives, and each is
    // a trash directory (or, where the filesystem cannot rename it, an archive no pointer
    // names any more, deleted under its own name).
    // Stale script environments first (`crate::buckets::environments`): a kill after an archive
    // they link into went must not leave uv an environment it would reuse broken.
    let (environments, others): (Vec<_>, Vec<_>) = plan
        .others
        .iter()
        .cloned()
        .partition(|o| o.kind == crate::buckets::leftovers::OtherKind::Environment);
    let gone_environments = crate::buckets::leftovers::remove(&root, &environments, &step);
    if gone_environments.entries < environments.len() {
        removal
            .denied
            .extend(gone_environments.denied.iter().cloned());
        // One left in place may link into any candidate: doubt keeps them all.
        removal.other_entries = gone_environments.entries;
        removal.other_bytes = gone_environments.bytes;
        removal.warnings.extend(gone_environments.warnings);
        removal.warnings.push(Warning::new(WarningKind::LeftInPlace, format!(
            "a cached script environment in {} was not removed (changed since the survey, or see above): no archive was removed this run, since it may link into them; run again",
            root.path().display()
        )));
        let held = Held {
            path: root.path().to_owned(),
            kind: if removal.denied.is_empty() {
                EvidenceKind::PointerRefused
            } else {
                EvidenceKind::PermissionDenied
            },
            why: "a cached script environment that may link into it was not removed".to_owned(),
        };
        for (archive, _) in plan.candidates() {
            removal.kept.push(Kept::of(&archive.id, &held));
        }
        return Ok(removal);
    }
    let doomed = remove_candidates(plan, &root, &dir, faults, &mut removal)?;
    let (freed, warnings) =
        delete_in_parallel(&dir, doomed, faults, progress, threads, &mut removal);
    removal.bytes += freed;
    removal.warnings.extend(left_in_place(warnings));
    for dangling in &plan.dangling {
        // Checked again under the lock: an archive that appeared since keeps its pointer.
        if dir.lacks(&dangling.id)? {
            let pointer = std::slice::from_ref(&dangling.path);
            if let Some(held) = remove_pointers(&root, pointer, &step, &mut removal) {
                removal.warnings.push(Warning::new(
                    WarningKind::LeftInPlace,
                    format!("left a dangling pointer: {}; remove it by hand", held.why),
                ));
            }
        }
    }
    remove_objects(&root, plan, &mut removal)?;
    // Last, what dies outside archive-v0: nothing names these, so no pointer goes first.
    let others = crate::buckets::leftovers::remove(&root, &others, &step);
    removal.other_entries = others.entries + gone_environments.entries;
    removal.other_bytes = others.bytes + gone_environments.bytes;
    removal.warnings.extend(gone_environments.warnings);
    removal.warnings.extend(others.warnings);
    let refused = [gone_environments.denied, others.denied].concat();
    warn_denied(
        &mut removal,
        &refused,
        "left beyond archive-v0",
        root.path(),
    );
    Ok(removal)
}

/// Steps 1 and 2 for every candidate, cached environments first: removes its pointers,
/// then renames it to trash; returns the trash names with their planned bytes. What
/// cannot go is kept whole ([`Removal::kept`]): see the module docs for when the rest is
/// kept with it.
fn remove_candidates(
    plan: &Plan,
    root: &CacheRoot,
    dir: &ArchiveDir,
    faults: &Faults,
    removal: &mut Removal,
) -> Result<Vec<(OsString, u64)>> {
    let step = || faults.step();
    let mut doomed = Vec::new();
    // Cached environments before the wheels they link to, for the same reason.
    let mut candidates: Vec<_> = plan.candidates().collect();
    candidates.sort_by_key(|(archive, _)| !archive.is_venv);
    // Once set, every remaining candidate is kept for this reason.
    let mut stop: Option<Held> = dir.writable().err().map(|err| {
        removal.denied.push(Denied {
            dir: dir.path().to_owned(),
            err,
        });
        Held {
            path: dir.path().to_owned(),
            kind: EvidenceKind::PermissionDenied,
            why: format!(
                "{} may not be changed ({err}); none of its pointers was removed",
                dir.path().display()
            ),
        }
    });
    let mut kept_environment: Option<Held> = None;
    for (archive, bytes) in candidates {
        if !archive.is_venv && stop.is_none() {
            stop = kept_environment.take();
        }
        if let Some(held) = &stop {
            removal.kept.push(Kept::of(&archive.id, held));
            continue;
        }
        if let Some(held) = remove_pointers(root, &archive.pointers, &step, removal) {
            if held.kind == EvidenceKind::PointerRefused {
                removal.warnings.push(Warning::new(WarningKind::LeftInPlace, format!(
                    "kept {}: a pointer naming it cannot be removed safely ({}); nothing of the archive was deleted; check that path and run again",
                    archive.path.display(),
                    held.why
                )));
            }
            if archive.is_venv && kept_environment.is_none() {
                kept_environment = Some(Held {
                    path: archive.path.clone(),
                    kind: held.kind,
                    why: format!(
                        "the cached environment {}, kept, may link into it",
                        archive.path.display()
                    ),
                });
            }
            removal.kept.push(Kept::of(&archive.id, &held));
            continue;
        }
        faults.step();
        let name = match dir.rename_to_trash(&archive.id)? {
            Moved::Trash(name) | Moved::InPlace(name) => name,
            Moved::Denied(err) => {
                removal.denied.push(Denied {
                    dir: dir.path().to_owned(),
                    err,
                });
                removal.kept.push(Kept {
                    id: archive.id.clone(),
                    path: archive.path.clone(),
                    kind: EvidenceKind::PermissionDenied,
                    why: format!(
                        "its pointers were removed, but it could not be moved ({err}); nothing names it, so uv will not use it, and a later run removes it"
                    ),
                });
                stop = Some(Held {
                    path: dir.path().to_owned(),
                    kind: EvidenceKind::PermissionDenied,
                    why: format!(
                        "{} refused a rename ({err}); none of its pointers was removed",
                        dir.path().display()
                    ),
                });
                continue;
            }
        };
        removal.archives += 1;
        doomed.push((name, bytes));
    }
    Ok(doomed)
}

/// The `files-v0` objects the removed archives orphaned (content-addressed cache). A
/// refusal there is a warning (the next run sees them as orphans), not the end of the
/// report.
fn remove_objects(root: &CacheRoot, plan: &Plan, removal: &mut Removal) -> Result<()> {
    match crate::cache::objects::remove_orphans(root.fd(), root.path(), &plan.objects) {
        Ok(objects) => removal.bytes += objects.bytes,
        Err(err) => {
            let refused = err
                .root_cause()
                .downcast_ref::<rustix::io::Errno>()
                .copied()
                .filter(|errno| crate::sys::denied::is_denied(*errno));
            let Some(errno) = refused else {
                return Err(err);
            };
            removal
                .warnings
                .push(Warning::new(WarningKind::LeftInPlace, format!("{err:#}")));
            let denied = [Denied {
                dir: root.path().join(crate::cache::objects::OBJECT_BUCKET),
                err: errno,
            }];
            warn_denied(removal, &denied, "orphaned objects left", root.path());
        }
    }
    Ok(())
}

/// Removes `pointers` by descriptor ([`CacheRoot::remove_pointer`]), counting them in
/// `removal`; stops at the first that cannot be removed (refused for safety, or for lack
/// of permission, then also in [`Removal::denied`]) and says which and why.
fn remove_pointers(
    root: &CacheRoot,
    pointers: &[PathBuf],
    step: &dyn Fn(),
    removal: &mut Removal,
) -> Option<Held> {
    for path in pointers {
        match root.remove_pointer(path, step) {
            PointerRemoval::Removed { bytes } => {
                removal.pointers += 1;
                removal.bytes += bytes;
            }
            PointerRemoval::Gone => {}
            PointerRemoval::Refused(why) => {
                return Some(Held {
                    path: path.clone(),
                    kind: EvidenceKind::PointerRefused,
                    why,
                });
            }
            PointerRemoval::Denied(denied) => {
                let why = format!(
                    "cannot remove {}: {} in {}",
                    path.display(),
                    denied.err,
                    denied.dir.display()
                );
                removal.denied.push(denied);
                return Some(Held {
                    path: path.clone(),
                    kind: EvidenceKind::PermissionDenied,
                    why,
                });
            }
        }
    }
    None
}

/// Step 3: deletes trash directories on `threads` threads, largest first (the long tail of a
/// torch-sized archive starts early); returns the bytes freed and what was left in place.
fn delete_in_parallel(
    dir: &ArchiveDir,
    mut trash: Vec<(OsString, u64)>,
    faults: &Faults,
    progress: &Progress,
    threads: Threads,
    removal: &mut Removal,
) -> (u64, Vec<String>) {
    trash.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    let bar = progress.bytes(trash.iter().map(|(_, bytes)| bytes).sum(), "removing");
    let (next, freed) = (AtomicUsize::new(0), AtomicU64::new(0));
    let warnings = Mutex::new(Vec::new());
    let denied = Mutex::new(Vec::new());
    let step = || faults.step();
    let workers = threads.get();
    std::thread::scope(|scope| {
        let worker = || {
            while let Some((name, bytes)) = trash.get(next.fetch_add(1, Ordering::Relaxed)) {
                let outcome = dir.remove_trash(name, &step);
                freed.fetch_add(outcome.freed, Ordering::Relaxed);
                if let Some(refused) = outcome.denied.clone() {
                    denied
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push(refused);
                }
                let lines = outcome.warnings();
                if !lines.is_empty() {
                    warnings
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .extend(lines);
                }
                bar.inc(*bytes);
            }
        };
        for _ in 0..workers.min(trash.len()) {
            scope.spawn(worker);
        }
    });
    bar.finish_and_clear();
    let warnings = warnings
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut denied = denied
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Threads finish in any order: the report names places in path order.
    denied.sort_by(|a, b| a.dir.cmp(&b.dir));
    warn_denied(removal, &denied, "trash left", dir.path());
    (freed.into_inner(), warnings)
}

/// What `rmtree` could not delete, as warnings.
fn left_in_place(messages: Vec<String>) -> impl Iterator<Item = Warning> {
    let warning = |message| Warning::new(WarningKind::LeftInPlace, message);
    messages.into_iter().map(warning)
}
