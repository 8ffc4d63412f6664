//! Deleting a directory tree by descriptor, so that nothing outside it can be reached.
//!
//! A path is resolved again at every use, and anyone who can write inside the cache (a
//! shared cache, another user's uv) can exchange a directory we are emptying for a symlink
//! to some other tree between two uses (`renameat2(RENAME_EXCHANGE)`): a path-based
//! `rm -r` then deletes that other tree's files. So here no path is ever resolved:
//!
//! - every directory is opened with `openat(parent_fd, name, O_DIRECTORY | O_NOFOLLOW)`
//!   from the descriptor of its parent, so a symlink swapped in is refused (`ELOOP`), and
//!   a directory swapped out after it was opened is emptied of *our* entries only;
//! - every entry is removed with `unlinkat(dir_fd, name)`, which never follows anything;
//! - a directory on another mount (a bind mount, another filesystem) is never entered, as
//!   `rm --one-file-system` would not: the mount and what it holds are left, and said.
//!
//! Whatever cannot be deleted is left in place and reported ([`Outcome::left`]), and the
//! walk goes on with the rest: deleting is best effort, and every doubt keeps the file.
//! Memory grows with the depth of the tree (one open directory per level), never with the
//! number of files; a tree deeper than [`MAX_DEPTH`] is left below that depth.

use std::ffi::{CStr, CString, OsStr};
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::sys::at::{MountKey, dir_stat, open_dir};

/// Directories nested deeper than this are left (each level holds a descriptor open).
pub const MAX_DEPTH: usize = 256;

/// At most this many places are described per tree; the rest are only counted.
const MAX_LEFT: usize = 8;

/// Why something was left in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Another filesystem (or a bind mount) is mounted there.
    MountPoint,
    /// It was a directory when listed and is not one (or is a symlink) when opened.
    Changed,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A system call failed.
    Failed(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::MountPoint => write!(
                f,
                "another filesystem is mounted there; left it and everything in it (deletion never crosses a mount)"
            ),
            Reason::Changed => write!(
                f,
                "it stopped being a directory while being deleted (a symlink swapped in?); left it"
            ),
            Reason::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} directories; left it"),
            Reason::Failed(cause) => write!(f, "{cause}; left it"),
        }
    }
}

/// One place left in place, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub path: PathBuf,
    pub reason: Reason,
}

impl fmt::Display for Left {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// What deleting a tree did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Allocated bytes of the inodes whose last link was removed.
    pub freed: u64,
    /// The first places left, at most a few.
    pub left: Vec<Left>,
    /// How many more places were left beyond [`Outcome::left`].
    pub more_left: usize,
    /// True once the tree's own directory is gone.
    pub removed: bool,
    /// The first place deletion was refused for lack of permission (another user's
    /// directory, a read-only filesystem): what the report tells the person to fix.
    pub denied: Option<crate::sys::denied::Denied>,
}

impl Outcome {
    /// Remembers the first directory where `err` refused a change, if it is a refusal.
    fn refused_in(&mut self, dir: &Path, err: Errno) {
        if self.denied.is_none() && crate::sys::denied::is_denied(err) {
            self.denied = Some(crate::sys::denied::Denied {
                dir: dir.to_owned(),
                err,
            });
        }
    }

    fn leave(&mut self, path: PathBuf, reason: Reason) {
        if self.left.len() < MAX_LEFT {
            self.left.push(Left { path, reason });
        } else {
            self.more_left += 1;
        }
    }

    /// One line per place left, for the report's warnings.
    pub fn warnings(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .left
            .iter()
            .map(|l| format!("not deleted: {l}"))
            .collect();
        if self.more_left > 0 {
            lines.push(format!(
                "not deleted: {} more places in the same trees",
                self.more_left
            ));
        }
        lines
    }
}

/// One open directory of the walk.
struct Frame {
    dir: Dir,
    /// Its name in its parent, to remove it once empty.
    name: CString,
    path: PathBuf,
    allocated: u64,
    /// Entries that could not be removed here: one line for all of them.
    failures: usize,
    first_failure: Option<String>,
}

/// Deletes the directory `name` in `parent` (whose path, for messages, is `parent_path`)
/// and everything in it that is on the mount `fence`. `before_change` runs before every
/// `unlinkat` (the crash tests' fault hook).
pub fn remove_tree(
    parent: BorrowedFd<'_>,
    parent_path: &Path,
    name: &OsStr,
    fence: MountKey,
    before_change: &(dyn Fn() + Sync),
) -> Outcome {
    let mut outcome = Outcome::default();
    let path = parent_path.join(name);
    let Ok(name) = CString::new(name.as_bytes()) else {
        outcome.leave(path, Reason::Failed("a name with a NUL byte".to_owned()));
        return outcome;
    };
    let Some(root) = enter(parent, name, path, fence, &mut outcome) else {
        return outcome;
    };
    let mut stack = vec![root];
    while !stack.is_empty() {
        let depth = stack.len();
        let top = stack.last_mut().expect("the stack is not empty");
        let entry = match top.dir.read() {
            None => {
                let done = stack.pop().expect("the stack has a top");
                let parent_fd = match stack.last() {
                    Some(frame) => frame.dir.fd().expect("a Dir has a descriptor"),
                    None => parent,
                };
                let removed = finish(parent_fd, done, before_change, &mut outcome);
                if stack.is_empty() {
                    outcome.removed = removed;
                }
                continue;
            }
            Some(Err(err)) => {
                // `Dir` stops after an error: the directory ends here, whatever is left.
                note(top, format!("cannot list {}: {err}", top.path.display()));
                continue;
            }
            Some(Ok(entry)) => entry,
        };
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let name = name.to_owned();
        let fd = top.dir.fd().expect("a Dir has a descriptor");
        let is_dir = match entry.file_type() {
            FileType::Directory => Ok(true),
            FileType::Unknown => rustix::fs::statat(fd, &name, AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
            _ => Ok(false),
        };
        match is_dir {
            Ok(true) if depth >= MAX_DEPTH => {
                let path = top.path.join(OsStr::from_bytes(name.as_bytes()));
                outcome.leave(path, Reason::TooDeep);
            }
            Ok(true) => {
                let path = top.path.join(OsStr::from_bytes(name.as_bytes()));
                if let Some(frame) = enter(fd, name, path, fence, &mut outcome) {
                    stack.push(frame);
                }
            }
            Ok(false) => remove_file(top, &name, before_change, &mut outcome),
            Err(err) if err == Errno::NOENT => {}
            Err(err) => {
                let path = top.path.join(OsStr::from_bytes(name.as_bytes()));
                note(top, format!("cannot read {}: {err}", path.display()));
            }
        }
    }
    outcome
}

/// Opens a directory to empty it: refuses symlinks and other mounts, and makes it
/// writable by its owner (wheels can hold read-only directories).
fn enter(
    parent: BorrowedFd<'_>,
    name: CString,
    path: PathBuf,
    fence: MountKey,
    outcome: &mut Outcome,
) -> Option<Frame> {
    let fd = match open_dir(parent, &name) {
        Ok(fd) => fd,
        Err(Errno::LOOP | Errno::NOTDIR) => {
            outcome.leave(path, Reason::Changed);
            return None;
        }
        Err(Errno::NOENT) => return None,
        Err(Errno::ACCESS) => match open_unreadable(parent, &name, fence) {
            Ok(fd) => fd,
            Err(reason) => {
                // Not ours to make readable: that is the refusal.
                if matches!(reason, Reason::Failed(_)) {
                    outcome.refused_in(&path, Errno::ACCESS);
                }
                outcome.leave(path, reason);
                return None;
            }
        },
        Err(err) => {
            outcome.leave(path, Reason::Failed(format!("cannot open it: {err}")));
            return None;
        }
    };
    let stat = match dir_stat(fd.as_fd()) {
        Ok(stat) => stat,
        Err(err) => {
            outcome.leave(path, Reason::Failed(format!("cannot stat it: {err}")));
            return None;
        }
    };
    if !stat.mount.same(fence) {
        outcome.leave(path, Reason::MountPoint);
        return None;
    }
    if stat.mode & 0o700 != 0o700 {
        let mode = Mode::from_raw_mode((stat.mode & 0o7777) | 0o700);
        if let Err(err) = rustix::fs::fchmod(&fd, mode) {
            outcome.refused_in(&path, err);
            let cause = format!("cannot make it writable: {err}");
            outcome.leave(path, Reason::Failed(cause));
            return None;
        }
    }
    let dir = match Dir::new(fd) {
        Ok(dir) => dir,
        Err(err) => {
            outcome.leave(path, Reason::Failed(format!("cannot list it: {err}")));
            return None;
        }
    };
    Some(Frame {
        dir,
        name,
        path,
        allocated: stat.allocated,
        failures: 0,
        first_failure: None,
    })
}

/// A directory we may not read (mode 000): open it as a path only (no permission
/// needed), check it like any other, give its owner `rwx` through `/proc/self/fd` (the
/// object the descriptor holds, never a name), then open it for reading from itself.
#[cfg(target_os = "linux")]
fn open_unreadable(
    parent: BorrowedFd<'_>,
    name: &CStr,
    fence: MountKey,
) -> Result<OwnedFd, Reason> {
    let failed = |what: &str, err: rustix::io::Errno| Reason::Failed(format!("{what}: {err}"));
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let handle = rustix::fs::openat(parent, name, flags, Mode::empty()).map_err(|err| {
        if err == Errno::LOOP || err == Errno::NOTDIR {
            Reason::Changed
        } else {
            failed("cannot open it", err)
        }
    })?;
    let stat =
        dir_stat(handle.as_fd()).map_err(|err| Reason::Failed(format!("cannot stat it: {err}")))?;
    if !stat.mount.same(fence) {
        return Err(Reason::MountPoint);
    }
    let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&handle));
    let mode = Mode::from_raw_mode((stat.mode & 0o7777) | 0o700);
    rustix::fs::chmod(proc_path.as_str(), mode)
        .map_err(|err| failed("cannot make it readable", err))?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::openat(&handle, c".", flags, Mode::empty())
        .map_err(|err| failed("cannot open it", err))
}

#[cfg(not(target_os = "linux"))]
fn open_unreadable(
    _parent: BorrowedFd<'_>,
    _name: &CStr,
    _fence: MountKey,
) -> Result<OwnedFd, Reason> {
    Err(Reason::Failed(
        "cannot open it: permission denied".to_owned(),
    ))
}

/// Removes one non-directory entry, counting its blocks if this was its last link.
fn remove_file(
    frame: &mut Frame,
    name: &CStr,
    before_change: &(dyn Fn() + Sync),
    outcome: &mut Outcome,
) {
    let fd = frame.dir.fd().expect("a Dir has a descriptor");
    let stat = match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return,
        Err(err) => {
            let path = frame.path.join(OsStr::from_bytes(name.to_bytes()));
            note(frame, format!("cannot read {}: {err}", path.display()));
            return;
        }
    };
    before_change();
    match rustix::fs::unlinkat(fd, name, AtFlags::empty()) {
        #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
        Ok(()) if (stat.st_nlink as u64) <= 1 => outcome.freed += stat.st_blocks as u64 * 512,
        Ok(()) | Err(Errno::NOENT) => {}
        // Swapped for a directory since the stat: that is a change we do not follow.
        Err(Errno::ISDIR) => {
            let path = frame.path.join(OsStr::from_bytes(name.to_bytes()));
            outcome.leave(path, Reason::Changed);
        }
        Err(err) => {
            outcome.refused_in(&frame.path, err);
            let path = frame.path.join(OsStr::from_bytes(name.to_bytes()));
            note(frame, format!("cannot delete {}: {err}", path.display()));
        }
    }
}

/// Removes an emptied directory from its parent; true if it is gone. A directory that
/// still holds something left is not an error of its own: that was already said.
fn finish(
    parent: BorrowedFd<'_>,
    frame: Frame,
    before_change: &(dyn Fn() + Sync),
    outcome: &mut Outcome,
) -> bool {
    if let Some(first) = frame.first_failure {
        let cause = match frame.failures {
            1 => first,
            n => format!("{first} (and {} more entries there)", n - 1),
        };
        outcome.leave(frame.path.clone(), Reason::Failed(cause));
    }
    let Frame {
        dir,
        name,
        path,
        allocated,
        ..
    } = frame;
    drop(dir);
    before_change();
    match rustix::fs::unlinkat(parent, &name, AtFlags::REMOVEDIR) {
        Ok(()) => {
            outcome.freed += allocated;
            true
        }
        Err(Errno::NOENT) => true,
        Err(Errno::NOTEMPTY | Errno::EXIST)
            if !outcome.left.is_empty() || outcome.more_left > 0 =>
        {
            false
        }
        Err(err) => {
            outcome.refused_in(path.parent().unwrap_or(&path), err);
            outcome.leave(path, Reason::Failed(format!("cannot remove it: {err}")));
            false
        }
    }
}

/// Records a failure inside a directory; said once per directory.
fn note(frame: &mut Frame, message: String) {
    frame.failures += 1;
    frame.first_failure.get_or_insert(message);
}
