//! Measuring an archive: one `lstat` of everything in it, as `du` does, for the bytes a
//! removal frees and the link counts behind the plan's last safety net (`nlink`).
//!
//! This walk is most of a dry run's cost (it is the only stage that touches every file,
//! and only of the candidates), so on Unix it goes by descriptor: each directory is
//! opened from its parent's descriptor (`O_NOFOLLOW`, so a symlink swapped in is refused)
//! and each entry is `statx`ed relative to it, by its one name. A full path would make the
//! kernel look up every component again for every file (profiled: 40% of a dry run went
//! to that lookup on a 600,000-file cache). The same `statx` gives the mount of each
//! directory: one on another mount is never counted or walked, since deletion never
//! crosses a mount, and the archive is kept, saying why.
//!
//! Any entry that cannot be read makes the walk `unreadable`, and the plan keeps the
//! archive: a part we did not see is a part we cannot promise to free. Memory is one open
//! directory per level, plus a path and a stat per multi-link file (those need a second
//! look once every walk is in).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::fs_meta::{EntryStat, FileId};

/// Directories nested deeper than this are not walked: the archive is kept (deletion
/// stops at the same depth).
#[cfg(unix)]
const MAX_DEPTH: usize = crate::rmtree::MAX_DEPTH;

/// Why a directory inside an archive is left out of the walk, when it is on another mount.
const MOUNT_POINT: &str = "a mount point: another filesystem is mounted inside the archive, and deletion never crosses a mount";

/// One `lstat` walk of an archive.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArchiveWalk {
    /// Allocated bytes of directories and single-link files: freed with the archive.
    pub(crate) private_bytes: u64,
    /// Files with more than one link: freed only if every link is in the plan.
    pub(crate) shared: Vec<(PathBuf, EntryStat)>,
    /// The first part we could not read: the archive is then kept.
    pub(crate) unreadable: Option<(PathBuf, String)>,
}

impl ArchiveWalk {
    /// Walks the archive directory at `path`.
    pub(crate) fn of(path: &Path) -> Self {
        let mut walk = Self::default();
        #[cfg(unix)]
        by_descriptor::walk(path, &mut walk);
        #[cfg(not(unix))]
        by_path::walk(path, &mut walk);
        walk
    }

    /// Counts one entry that is not a directory.
    fn add_file(&mut self, path: impl FnOnce() -> PathBuf, stat: EntryStat) {
        if stat.nlink <= 1 {
            self.private_bytes += stat.allocated;
        } else {
            self.shared.push((path(), stat));
        }
    }

    /// Records the first part that could not be read.
    fn doubt(&mut self, path: PathBuf, reason: String) {
        self.unreadable.get_or_insert((path, reason));
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
    use std::ffi::OsStr;
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    use rustix::fs::{Dir, Mode, OFlags};

    use super::{ArchiveWalk, MAX_DEPTH, MOUNT_POINT};
    use crate::at::{dir_stat, open_dir, stat_at};

    /// One open directory of the walk, and its path for messages and shared files.
    struct Level {
        dir: Dir,
        path: PathBuf,
    }

    pub(super) fn walk(path: &Path, walk: &mut ArchiveWalk) {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let root = match rustix::fs::openat(rustix::fs::CWD, path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(err) => return walk.doubt(path.to_owned(), format!("cannot open it: {err}")),
        };
        let fence = match dir_stat(root.as_fd()) {
            Ok(stat) => {
                walk.private_bytes += stat.allocated;
                stat.mount
            }
            Err(err) => return walk.doubt(path.to_owned(), format!("cannot stat it: {err}")),
        };
        let dir = match Dir::new(root) {
            Ok(dir) => dir,
            Err(err) => return walk.doubt(path.to_owned(), format!("cannot list it: {err}")),
        };
        let mut stack = vec![Level {
            dir,
            path: path.to_owned(),
        }];
        while !stack.is_empty() {
            let depth = stack.len();
            let top = stack.last_mut().expect("the stack is not empty");
            let entry = match top.dir.read() {
                None => {
                    stack.pop();
                    continue;
                }
                Some(Err(err)) => {
                    // `Dir` stops after an error: what is left of it was never seen.
                    walk.doubt(top.path.clone(), format!("cannot list it: {err}"));
                    stack.pop();
                    continue;
                }
                Some(Ok(entry)) => entry,
            };
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let fd = top.dir.fd().expect("a Dir has a descriptor");
            let child = || top.path.join(OsStr::from_bytes(name.to_bytes()));
            let (stat, mount) = match stat_at(fd, name) {
                Ok(stat) => stat,
                Err(err) => {
                    walk.doubt(child(), err.to_string());
                    continue;
                }
            };
            if !stat.is_dir {
                walk.add_file(child, stat);
                continue;
            }
            if !mount.same(fence) {
                // Deletion never crosses a mount, so --apply would leave this one: keep
                // the archive, saying why, and do not walk the mount.
                walk.doubt(child(), MOUNT_POINT.to_owned());
                continue;
            }
            walk.private_bytes += stat.allocated;
            if depth >= MAX_DEPTH {
                let reason = format!("nested deeper than {MAX_DEPTH} directories");
                walk.doubt(child(), reason);
                continue;
            }
            let opened = open_dir(fd, name).map_err(|err| err.to_string());
            let level = opened.and_then(|fd| {
                let dir = Dir::new(fd).map_err(|err| err.to_string())?;
                Ok(Level { dir, path: child() })
            });
            match level {
                Ok(level) => stack.push(level),
                Err(reason) => walk.doubt(child(), format!("cannot open it: {reason}")),
            }
        }
    }
}

#[cfg(not(unix))]
mod by_path {
    use std::path::Path;

    use walkdir::WalkDir;

    use super::ArchiveWalk;
    use crate::fs_meta::entry_stat;

    /// Without descriptors, by path; there are no mount ids to compare either.
    pub(super) fn walk(path: &Path, walk: &mut ArchiveWalk) {
        for entry in WalkDir::new(path).follow_links(false) {
            let stat = entry
                .map_err(|err| (err.path().unwrap_or(path).to_owned(), err.to_string()))
                .and_then(|entry| match entry.metadata() {
                    Ok(meta) => Ok((entry, entry_stat(&meta))),
                    Err(err) => Err((entry.path().to_owned(), err.to_string())),
                });
            match stat {
                Ok((_, stat)) if stat.is_dir => walk.private_bytes += stat.allocated,
                Ok((entry, stat)) => walk.add_file(|| entry.into_path(), stat),
                Err((at, reason)) => walk.doubt(at, reason),
            }
        }
    }
}
