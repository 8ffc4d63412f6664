//! The two primitives of a fast directory walk: listing one directory cheaply, and
//! spreading the directories of a tree over a few threads.
//!
//! Why not `walkdir` (one thread) or a parallel walker crate: a home directory holds
//! hundreds of thousands of entries, and the walk that searches it runs in git hooks. What
//! makes it fast is doing per directory only what `find -name` does (one `open`, a few
//! `getdents`, no `stat` per entry: the entry type comes with the name), reusing one
//! buffer per thread instead of an allocation per entry, and keeping two or more
//! directories in flight, so that a cold disk has several reads queued and a warm one
//! keeps every core busy. That is a work stack and a condition variable over std's scoped
//! threads; a crate would bring more than it saves. What a directory *means* (a venv, a
//! cache, a tree to skip) is the caller's business ([`crate::discover`]).

use std::ffi::OsStr;
use std::io;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Condvar, Mutex, PoisonError};

/// What an entry is, as the directory listing says (no `stat` unless the filesystem does
/// not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    Symlink,
    File,
    /// A FIFO, socket or device: never a venv, never followed.
    Other,
}

/// A reusable buffer for [`list`]: one per thread.
pub(crate) struct ListBuf {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    bytes: Vec<std::mem::MaybeUninit<u8>>,
}

impl ListBuf {
    pub(crate) fn new() -> Self {
        ListBuf {
            // Large enough for a few hundred entries per getdents call, as glibc's readdir.
            #[cfg(any(target_os = "linux", target_os = "android"))]
            bytes: vec![std::mem::MaybeUninit::uninit(); 32 * 1024],
        }
    }
}

/// Calls `each` with every entry of the directory `dir` (not `.` and `..`) until it
/// breaks. When `follow` is false and `dir` is a symlink, this fails instead of listing
/// what it points to. Opening never blocks (a FIFO is refused as not a directory).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn list(
    dir: &Path,
    follow: bool,
    buf: &mut ListBuf,
    mut each: impl FnMut(&OsStr, Kind) -> ControlFlow<()>,
) -> io::Result<()> {
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;

    use rustix::fs::{CWD, Mode, OFlags};

    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::openat(CWD, dir, flags, Mode::empty())?;
    list_at(fd.as_fd(), buf, |name, kind| {
        each(OsStr::from_bytes(name.to_bytes()), kind)
    })
}

/// [`list`] of a directory already open: names as the kernel gives them, for the
/// `*at` calls that follow.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn list_at(
    fd: std::os::fd::BorrowedFd<'_>,
    buf: &mut ListBuf,
    mut each: impl FnMut(&std::ffi::CStr, Kind) -> ControlFlow<()>,
) -> io::Result<()> {
    let mut entries = rustix::fs::RawDir::new(fd, &mut buf.bytes);
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let Some(kind) = entry_kind(fd, name, entry.file_type())? else {
            continue;
        };
        if each(name, kind).is_break() {
            break;
        }
    }
    Ok(())
}

/// [`list_at`] where the kernel has no `getdents64` interface for it: through `Dir`,
/// which reads a duplicate of the descriptor.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
pub(crate) fn list_at(
    fd: std::os::fd::BorrowedFd<'_>,
    _buf: &mut ListBuf,
    mut each: impl FnMut(&std::ffi::CStr, Kind) -> ControlFlow<()>,
) -> io::Result<()> {
    let mut dir = rustix::fs::Dir::read_from(fd)?;
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let Some(kind) = entry_kind(fd, name, entry.file_type())? else {
            continue;
        };
        if each(name, kind).is_break() {
            break;
        }
    }
    Ok(())
}

/// What an entry of `dir` is, from its listing, or from a `stat` where the filesystem
/// does not say (some XFS, some network filesystems); `None` when it is gone since the
/// listing (nothing to look at).
#[cfg(unix)]
fn entry_kind(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &std::ffi::CStr,
    listed: rustix::fs::FileType,
) -> io::Result<Option<Kind>> {
    use rustix::fs::{AtFlags, FileType};
    if listed != FileType::Unknown {
        return Ok(Some(kind_of(listed)));
    }
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(kind_of(FileType::from_raw_mode(stat.st_mode)))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

#[cfg(unix)]
fn kind_of(kind: rustix::fs::FileType) -> Kind {
    use rustix::fs::FileType;
    match kind {
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        FileType::RegularFile => Kind::File,
        _ => Kind::Other,
    }
}

/// Elsewhere, std's listing (which also takes the type from the listing where it can).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn list(
    dir: &Path,
    follow: bool,
    _buf: &mut ListBuf,
    mut each: impl FnMut(&OsStr, Kind) -> ControlFlow<()>,
) -> io::Result<()> {
    if !follow && std::fs::symlink_metadata(dir)?.file_type().is_symlink() {
        return Err(io::Error::other("it became a symlink during the walk"));
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = match entry.file_type() {
            Ok(t) if t.is_symlink() => Kind::Symlink,
            Ok(t) if t.is_dir() => Kind::Dir,
            Ok(t) if t.is_file() => Kind::File,
            Ok(_) => Kind::Other,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        if each(&entry.file_name(), kind).is_break() {
            break;
        }
    }
    Ok(())
}

/// How many directories to keep in flight: the cores, at least two (a cold disk answers
/// two queued reads faster than one at a time) and at most eight (past that, threads wait
/// on the disk or on each other).
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// Runs `work` on the `seeds` and on every item it produces, on `threads` threads, until
/// none is left; returns each thread's state (made by `init`). `work` pushes the items it
/// produces onto the given `Vec`. Items are taken last in, first out, so the pending set
/// stays as small as a depth-first walk's (seeds are taken from the end, too).
pub(crate) fn run<T, S, I, W>(seeds: Vec<T>, threads: usize, init: I, work: W) -> Vec<S>
where
    T: Send,
    S: Send,
    I: Fn() -> S + Sync,
    W: Fn(&mut S, T, &mut Vec<T>) + Sync,
{
    let queue = Queue {
        state: Mutex::new(Pending {
            items: seeds,
            busy: 0,
            stopped: false,
        }),
        changed: Condvar::new(),
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut state = init();
                    queue.drain(|item, out| work(&mut state, item, out));
                    state
                })
            })
            .collect();
        // A worker that panicked (a bug) has stopped the others; its state is lost.
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    })
}

/// The shared work stack.
struct Queue<T> {
    state: Mutex<Pending<T>>,
    changed: Condvar,
}

struct Pending<T> {
    items: Vec<T>,
    /// Workers holding an item: while any does, more items may come.
    busy: usize,
    /// A worker panicked: everyone stops rather than wait for items that never come.
    stopped: bool,
}

impl<T> Queue<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes items until the stack is empty and no worker can add to it.
    fn drain(&self, mut work: impl FnMut(T, &mut Vec<T>)) {
        let mut produced = Vec::new();
        let mut next = None;
        loop {
            let item = match next.take() {
                Some(item) => item,
                None => match self.take() {
                    Some(item) => item,
                    None => return,
                },
            };
            let done = Done(self);
            work(item, &mut produced);
            // Keep one for ourselves (no lock, and the cache is warm for it); share the rest.
            next = produced.pop();
            let mut pending = self.lock();
            let shared = !produced.is_empty();
            pending.items.append(&mut produced);
            if next.is_none() {
                pending.busy -= 1;
            }
            std::mem::forget(done);
            let finished = pending.busy == 0 && pending.items.is_empty();
            drop(pending);
            if finished || shared {
                self.changed.notify_all();
            }
        }
    }

    /// The next item, waiting while other workers may still produce one.
    fn take(&self) -> Option<T> {
        let mut pending = self.lock();
        loop {
            if pending.stopped {
                return None;
            }
            if let Some(item) = pending.items.pop() {
                pending.busy += 1;
                return Some(item);
            }
            if pending.busy == 0 {
                return None;
            }
            pending = self
                .changed
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Dropped only when `work` unwinds: stops the other workers, which would otherwise wait
/// for the items this one was going to produce.
struct Done<'a, T>(&'a Queue<T>);

impl<T> Drop for Done<'_, T> {
    fn drop(&mut self) {
        let mut pending = self.0.lock();
        pending.stopped = true;
        drop(pending);
        self.0.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_worked_once_on_any_number_of_threads() {
        for threads in [1, 2, 8] {
            // A tree of 3^7 leaves: every node pushes three children until depth 7.
            let states = run(
                vec![0u32],
                threads,
                Vec::new,
                |seen: &mut Vec<u32>, depth, out| {
                    seen.push(depth);
                    if depth < 7 {
                        out.extend([depth + 1; 3]);
                    }
                },
            );
            let mut all: Vec<u32> = states.into_iter().flatten().collect();
            all.sort_unstable();
            let expected: Vec<u32> = (0..=7u32)
                .flat_map(|d| std::iter::repeat_n(d, 3usize.pow(d)))
                .collect();
            assert_eq!(all, expected, "{threads} threads");
        }
    }

    #[test]
    fn a_panicking_worker_stops_the_walk_instead_of_hanging_it() {
        let states = run(
            vec![0u32],
            4,
            || 0u32,
            |count, depth, out| {
                *count += 1;
                assert!(depth != 5, "a bug in the visitor");
                out.extend([depth + 1; 2]);
            },
        );
        // The walk ended (no hang); the panicked worker's state is gone.
        assert!(states.len() < 4);
    }

    #[cfg(unix)]
    #[test]
    fn listing_gives_types_without_following_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir(dir.join("d")).unwrap();
        std::fs::write(dir.join("f"), b"").unwrap();
        std::os::unix::fs::symlink("d", dir.join("l")).unwrap();
        let mut seen = Vec::new();
        list(dir, false, &mut ListBuf::new(), |name, kind| {
            seen.push((name.to_owned(), kind));
            ControlFlow::Continue(())
        })
        .unwrap();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            seen,
            [
                ("d".into(), Kind::Dir),
                ("f".into(), Kind::File),
                ("l".into(), Kind::Symlink)
            ]
        );
        let through_link = list(&dir.join("l"), false, &mut ListBuf::new(), |_, _| {
            ControlFlow::Continue(())
        });
        assert!(through_link.is_err());
    }
}
