//! Measuring an archive: one `lstat` of everything in it, as `du` does, for the bytes a
//! removal frees and the link counts behind the plan's last safety net (`nlink`).
//!
//! This walk is most of a dry run's cost (it is the only stage that touches every file,
//! and only of the candidates), so on Unix it goes by descriptor: each directory is
//! opened from its parent's descriptor (`O_NOFOLLOW`, so a symlink swapped in is refused)
//! and each entry is `statx`ed relative to it, by its one name. A full path would make the
//! kernel look up every component again for every file (profiled: 40% of a dry run went
//! to that lookup on a 600,000-file cache). A directory is opened straight from its
//! listing, and the `statx` of the open directory gives its blocks and its mount: one on
//! another mount is never counted or walked, since deletion never crosses a mount, and
//! the archive is kept, saying why.
//!
//! The work is split by directory, not by archive, over `walk::run`'s work stack (see
//! [`ArchiveWalk::all`]).
//!
//! Any entry that cannot be read makes the walk `unreadable`, and the plan keeps the
//! archive: a part we did not see is a part we cannot promise to free. Memory: the
//! pending directories (each holds its parent's listing open until it is opened, so the
//! descriptors in use grow with depth and threads, not with width), plus a path and a
//! stat per multi-link file (those need a second look once every walk is in).

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use crate::sys::fs_meta::{EntryStat, FileId};
use crate::sys::read::BlindSpot;
use crate::sys::threads::Threads;

/// Directories nested deeper than this are not walked: the archive is kept (deletion
/// stops at the same depth).
#[cfg(unix)]
const MAX_DEPTH: usize = crate::sys::rmtree::MAX_DEPTH;

/// Why a directory inside an archive is left out of the walk, when it is on another mount.
const MOUNT_POINT: &str = "a mount point: another filesystem is mounted inside the archive, and deletion never crosses a mount";

/// One `lstat` walk of an archive.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArchiveWalk {
    /// Allocated bytes of directories and single-link files: freed with the archive.
    pub(crate) private_bytes: u64,
    /// Files with more than one link: freed only if every link is in the plan.
    pub(crate) shared: Vec<(PathBuf, EntryStat)>,
    /// Regular files, each name once (`find -type f`): what `df` counts of the archive
    /// when it takes this walk instead of making its own ([`Share`]).
    pub(crate) files: u64,
    /// The first part we could not read: the archive is then kept.
    pub(crate) unreadable: Option<BlindSpot>,
}

/// What a walk of [`walk_trees`] adds up, per tree: the archive walk of the plan, or the
/// `df` tally (`crate::pipeline::df`). Each thread keeps one per tree it touched; they are merged
/// at the end, so the result must not depend on the order of the calls.
pub(crate) trait Tally: Default + Send {
    /// A directory of the tree (its own blocks).
    fn add_dir(&mut self, stat: EntryStat);
    /// An entry that is not a directory.
    fn add_file(&mut self, path: impl FnOnce() -> PathBuf, stat: EntryStat);
    /// A part that could not be read.
    fn doubt(&mut self, path: PathBuf, reason: String);
    /// Adds another thread's part of the same tree.
    fn merge(&mut self, other: Self);
}

impl Tally for ArchiveWalk {
    fn add_dir(&mut self, stat: EntryStat) {
        self.private_bytes += stat.allocated;
    }

    fn add_file(&mut self, path: impl FnOnce() -> PathBuf, stat: EntryStat) {
        ArchiveWalk::add_file(self, path, stat);
    }

    fn doubt(&mut self, path: PathBuf, reason: String) {
        ArchiveWalk::doubt(self, path, reason);
    }

    fn merge(&mut self, part: Self) {
        self.private_bytes += part.private_bytes;
        self.files += part.files;
        self.shared.extend(part.shared);
        if let Some(BlindSpot {
            path,
            cause: reason,
        }) = part.unreadable
        {
            ArchiveWalk::doubt(self, path, reason);
        }
    }
}

/// Walks every directory tree in `paths` on `threads` threads with the archive walk's
/// rules (by descriptor, never following a symlink, never crossing a mount, at most
/// `MAX_DEPTH` deep), adding each tree up in a `T`; results in the order of `paths`.
/// A tree for which `skip(index)` says yes when its turn comes is not walked (`None`):
/// the caller has it from elsewhere ([`Share`]).
pub(crate) fn walk_trees<T: Tally>(
    paths: &[&Path],
    threads: Threads,
    skip: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Option<T>> {
    #[cfg(unix)]
    return by_descriptor::walk_all(paths, threads.get(), &|| {}, skip);
    #[cfg(not(unix))]
    return crate::sys::threads::map(threads, &(0..paths.len()).collect::<Vec<_>>(), |&index| {
        (!skip(index)).then(|| {
            let mut tally = T::default();
            by_path::walk(paths[index], &mut tally);
            tally
        })
    });
}

/// The walks that the plan and `df`'s walk of the whole cache hand each other, so that
/// `df` walks no archive twice: the plan claims the archives it is about to walk and
/// publishes its walks of them; `df`'s walk leaves an archive already claimed when its
/// turn comes to the plan, and takes the plan's walk of it at the end. An archive
/// claimed while `df`'s walk is already in it is walked by both (each keeps its own).
/// Both walks follow the same rules (this module's), so either serves.
///
/// Memory: the claimed paths, and a copy of each published walk until it is taken;
/// the plan walks only candidates, a tenth of a cache or so.
#[derive(Debug, Default)]
pub(crate) struct Share {
    state: std::sync::Mutex<ShareState>,
}

#[derive(Debug, Default)]
struct ShareState {
    claimed: HashSet<PathBuf>,
    walked: std::collections::HashMap<PathBuf, ArchiveWalk>,
}

impl Share {
    fn state(&self) -> std::sync::MutexGuard<'_, ShareState> {
        // The state is sets and maps only: a panic elsewhere leaves them usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The plan is about to walk the archives at `paths`.
    pub(crate) fn claim(&self, paths: &[&Path]) {
        self.state()
            .claimed
            .extend(paths.iter().map(|p| p.to_path_buf()));
    }

    /// Whether the plan has claimed the archive at `path`.
    pub(crate) fn claimed(&self, path: &Path) -> bool {
        self.state().claimed.contains(path)
    }

    /// The plan's walk of the archive at `path`.
    pub(crate) fn publish(&self, path: &Path, walk: &ArchiveWalk) {
        self.state().walked.insert(path.to_owned(), walk.clone());
    }

    /// The plan's walk of the archive at `path`, if it made one.
    pub(crate) fn take(&self, path: &Path) -> Option<ArchiveWalk> {
        self.state().walked.remove(path)
    }
}

impl ArchiveWalk {
    /// Walks the archive directory at `path`, on this thread.
    pub(crate) fn of(path: &Path) -> Self {
        Self::all(&[path], Threads::new(NonZeroUsize::MIN))
            .pop()
            .unwrap_or_default()
    }

    /// Walks every archive directory in `paths` on `threads` threads; the walks in the
    /// order of `paths`, the same whatever the number of threads.
    pub(crate) fn all(paths: &[&Path], threads: Threads) -> Vec<Self> {
        Self::all_ticking(paths, threads, &|| {})
    }

    /// [`ArchiveWalk::all`], calling `tick` once per directory walked, so that a progress
    /// bar moves while a large archive is measured (an archive can hold 10,000 dirs).
    pub(crate) fn all_ticking(
        paths: &[&Path],
        threads: Threads,
        tick: &(dyn Fn() + Sync),
    ) -> Vec<Self> {
        #[cfg(unix)]
        return by_descriptor::walk_all(paths, threads.get(), tick, &|_| false)
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        #[cfg(not(unix))]
        return crate::sys::threads::map(threads, paths, |path| {
            let mut walk = Self::default();
            by_path::walk(path, &mut walk);
            tick();
            walk
        });
    }

    /// Counts one entry that is not a directory.
    fn add_file(&mut self, path: impl FnOnce() -> PathBuf, stat: EntryStat) {
        self.files += u64::from(stat.len.is_some());
        if stat.nlink <= 1 {
            self.private_bytes += stat.allocated;
        } else {
            self.shared.push((path(), stat));
        }
    }

    /// Records a part that could not be read; of several, the one first by path is
    /// named (the walk's order depends on the threads, the report must not).
    fn doubt(&mut self, path: PathBuf, reason: String) {
        match &self.unreadable {
            Some(BlindSpot { path: named, .. }) if *named <= path => {}
            _ => self.unreadable = Some(BlindSpot::new(path, reason)),
        }
    }

    /// What removing this archive frees: like [`ArchiveWalk::bytes`], but a shared inode
    /// counts only if it is in `freed` (every link to it goes).
    pub(crate) fn freed_bytes(
        &self,
        counted: &mut HashSet<FileId>,
        freed: &HashSet<FileId>,
    ) -> u64 {
        let shared: u64 = self
            .shared
            .iter()
            .filter_map(|(_, stat)| stat.id.map(|id| (id, stat.allocated)))
            .filter(|(id, _)| freed.contains(id) && counted.insert(*id))
            .map(|(_, allocated)| allocated)
            .sum();
        self.private_bytes + shared
    }

    /// This archive's bytes, counting each shared inode only if `counted` has not seen it.
    pub(crate) fn bytes(&self, counted: &mut HashSet<FileId>) -> u64 {
        let shared: u64 = self
            .shared
            .iter()
            .filter(|(_, stat)| stat.id.is_some_and(|id| counted.insert(id)))
            .map(|(_, stat)| stat.allocated)
            .sum();
        self.private_bytes + shared
    }
}

#[cfg(unix)]
mod by_descriptor {
    use std::collections::HashMap;
    use std::ffi::{CStr, CString, OsStr};
    use std::ops::ControlFlow;
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use rustix::fs::{Mode, OFlags};

    use super::{MAX_DEPTH, MOUNT_POINT, Tally};
    use crate::sys::at::{MountKey, dir_stat, open_dir, stat_at};
    use crate::sys::fs_meta::EntryStat;
    use crate::sys::walk::{Kind, ListBuf, list_at};

    /// One directory to measure: an archive's own (opened by its path), or one found
    /// inside it (opened from its parent's descriptor, which the job keeps open).
    struct Job {
        archive: usize,
        /// The archive's mount, once its directory is open.
        fence: Option<MountKey>,
        from: From,
        path: PathBuf,
        depth: usize,
    }

    enum From {
        Path,
        /// The parent's descriptor, shared by its subdirectories' jobs.
        Parent(Arc<OwnedFd>, CString),
    }

    /// What each thread keeps: its part of every archive's walk, and its listing buffer.
    struct Worker<T> {
        /// Only the archives this thread touched: a vector of every archive per thread
        /// would grow with threads × archives.
        parts: HashMap<usize, T>,
        buf: ListBuf,
    }

    /// Walks every archive in `paths` on `threads` threads but those `skip` names when
    /// their turn comes (`None`); results in the order of `paths`.
    ///
    /// Jobs are directories, not archives: a real cache has a few archives of 20,000
    /// files beside hundreds of small ones (botocore, scipy), and with an archive per job
    /// the walk ends only when the thread holding the largest one does. Each thread keeps
    /// its own partial result per archive; they are summed at the end. The parts whose
    /// order could depend on the threads (which multi-link file, which unreadable place
    /// is named) are chosen by path, so the result is the same on any number of threads.
    pub(crate) fn walk_all<T: Tally>(
        paths: &[&Path],
        threads: usize,
        tick: &(dyn Fn() + Sync),
        skip: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<Option<T>> {
        // Seeds are taken from the end: reversed, the first archive is walked first.
        let seeds = (0..paths.len())
            .rev()
            .map(|archive| Job {
                archive,
                fence: None,
                from: From::Path,
                path: paths[archive].to_owned(),
                depth: 0,
            })
            .collect();
        let parts = crate::sys::walk::run(
            seeds,
            threads.min(paths.len()).max(1),
            || Worker {
                parts: HashMap::new(),
                buf: ListBuf::new(),
            },
            |worker: &mut Worker<T>, job: Job, out: &mut Vec<Job>| {
                // Only a tree's own directory is skipped: once in, a walk finishes it.
                if job.depth == 0 && skip(job.archive) {
                    return;
                }
                measure_dir(job, worker, out);
                tick();
            },
        );
        // Every tree walked has a part (its first directory makes one, even unopened).
        let mut walks: Vec<Option<T>> = std::iter::repeat_with(|| None).take(paths.len()).collect();
        for worker in parts {
            for (archive, part) in worker.parts {
                walks[archive].get_or_insert_with(T::default).merge(part);
            }
        }
        walks
    }

    /// Opens the job's directory, counts it and its files, and leaves a job for each
    /// directory in it.
    fn measure_dir<T: Tally>(job: Job, worker: &mut Worker<T>, out: &mut Vec<Job>) {
        let walk = worker.parts.entry(job.archive).or_default();
        let opened = match &job.from {
            From::Path => {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                rustix::fs::openat(rustix::fs::CWD, &job.path, flags, Mode::empty())
            }
            From::Parent(parent, name) => open_dir(parent.as_fd(), name.as_c_str()),
        };
        let fd = match opened {
            Ok(fd) => fd,
            Err(err) => return walk.doubt(job.path, format!("cannot open it: {err}")),
        };
        // The open directory's own stat: no second lookup of its name.
        let stat = match dir_stat(fd.as_fd()) {
            Ok(stat) => stat,
            Err(err) => return walk.doubt(job.path, format!("cannot stat it: {err}")),
        };
        let fence = job.fence.unwrap_or(stat.mount);
        if !stat.mount.same(fence) {
            // Deletion never crosses a mount, so --apply would leave this one: keep the
            // archive, saying why, and do not walk the mount.
            return walk.doubt(job.path, MOUNT_POINT.to_owned());
        }
        walk.add_dir(EntryStat {
            id: Some(crate::sys::fs_meta::FileId {
                dev: stat.dev,
                ino: stat.ino,
            }),
            nlink: 1,
            allocated: stat.allocated,
            is_dir: true,
            len: None,
        });
        let dir_path = |name: &CStr| job.path.join(OsStr::from_bytes(name.to_bytes()));
        let mut subdirs = Vec::new();
        let listed = list_at(fd.as_fd(), &mut worker.buf, |name, kind| {
            let is_dir = match kind {
                Kind::Dir => true,
                _ => match measure_entry(fd.as_fd(), name, &job.path, walk) {
                    Some(is_dir) => is_dir,
                    None => return ControlFlow::Continue(()),
                },
            };
            if !is_dir {
                return ControlFlow::Continue(());
            }
            if job.depth + 1 >= MAX_DEPTH {
                let reason = format!("nested deeper than {MAX_DEPTH} directories");
                walk.doubt(dir_path(name), reason);
            } else {
                subdirs.push(name.to_owned());
            }
            ControlFlow::Continue(())
        });
        if let Err(err) = listed {
            // What is left of the listing was never seen.
            walk.doubt(job.path.clone(), format!("cannot list it: {err}"));
        }
        // The listing is done; the directory stays open, shared, until its last
        // subdirectory is.
        let parent = Arc::new(fd);
        out.extend(subdirs.into_iter().map(|name| Job {
            archive: job.archive,
            fence: Some(fence),
            path: dir_path(&name),
            from: From::Parent(Arc::clone(&parent), name),
            depth: job.depth + 1,
        }));
    }

    /// Stats one entry the listing did not say is a directory and counts it if it is
    /// not one: `Some(true)` when it is a directory after all (to be walked).
    fn measure_entry<T: Tally>(
        dir: BorrowedFd<'_>,
        name: &CStr,
        dir_path: &Path,
        walk: &mut T,
    ) -> Option<bool> {
        let path = || dir_path.join(OsStr::from_bytes(name.to_bytes()));
        match stat_at(dir, name) {
            Ok(stat) if stat.is_dir => Some(true),
            Ok(stat) => {
                walk.add_file(path, stat);
                Some(false)
            }
            Err(err) => {
                walk.doubt(path(), err.to_string());
                None
            }
        }
    }
}

#[cfg(not(unix))]
mod by_path {
    use std::path::Path;

    use walkdir::WalkDir;

    use super::Tally;
    use crate::sys::fs_meta::entry_stat;

    /// Without descriptors, by path; there are no mount ids to compare either.
    pub(crate) fn walk<T: Tally>(path: &Path, walk: &mut T) {
        for entry in WalkDir::new(path).follow_links(false) {
            let stat = entry
                .map_err(|err| (err.path().unwrap_or(path).to_owned(), err.to_string()))
                .and_then(|entry| match entry.metadata() {
                    Ok(meta) => Ok((entry, entry_stat(&meta))),
                    Err(err) => Err((entry.path().to_owned(), err.to_string())),
                });
            match stat {
                Ok((_, stat)) if stat.is_dir => walk.add_dir(stat),
                Ok((entry, stat)) => walk.add_file(|| entry.into_path(), stat),
                Err((at, reason)) => walk.doubt(at, reason),
            }
        }
    }
}
