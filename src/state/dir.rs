//! The state directory as one open descriptor, and every file in it named relative to
//! that descriptor: see "Trust" in the module doc of [`crate::state`] for why.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Stat, Uid};
use rustix::io::Errno;

/// Modes we create with (the umask still applies): our state is the user's own, and a
/// group-writable umask (002) stays theirs to choose.
const DIR_MODE: u32 = 0o775;
const FILE_MODE: u32 = 0o644;

/// An open, checked state directory (or its `locks/` subdirectory).
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    fd: OwnedFd,
    /// Whom what we create must belong to: the directory's owner when we are root and it
    /// is another user's (root acting for them, `sudo -E`), else nobody (we own it).
    chown_to: Option<(Uid, Gid)>,
}

/// Why the directory or a file in it is not trusted: one sentence naming the path, the
/// cause and what to do.
#[derive(Debug, Clone)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// What opening a file in the directory found.
pub enum Found<T> {
    /// Not there.
    Missing,
    /// There, and trusted.
    File(T),
    /// There but not a regular file (a FIFO, a directory ...): in words.
    NotRegular(&'static str),
    /// There, but not ours to trust (a symlink, another user's, writable by all).
    Refused(Refusal),
}

/// What makes the owner of the state acceptable: ourselves, or anyone when we are root.
fn euid() -> Uid {
    rustix::process::geteuid()
}

fn kind_word(mode: u32) -> &'static str {
    match FileType::from_raw_mode(mode) {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "special file",
    }
}

/// What to tell a user whose state is refused.
const WHAT_TO_DO: &str = "or set UV_CACHE_PRUNE_STATE_DIR to a directory of your own";

impl StateDir {
    /// Opens `path` as the state directory, never through a symlink. `Ok(None)` when it
    /// does not exist yet.
    pub fn open(path: &Path) -> Result<Option<StateDir>, Refusal> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(rustix::fs::CWD, path, flags, Mode::empty()) {
            Ok(fd) => {
                // The parents are followed as the user spelled them, as when creating it,
                // and with the same limit: root uses no state another user's symlink
                // leads it to, unless that user owns the directory (else a user could
                // point `~/.local/state` at someone else's state and have root rewrite it).
                if euid().is_root()
                    && let Ok(stat) = rustix::fs::fstat(&fd)
                    && let Some(parent) = path.parent()
                    && let Some((link, owner)) = foreign_symlink(parent, stat.st_uid)
                {
                    return Err(Refusal(format!(
                        "refusing the state directory {}: {} is a symlink of user {owner} leading to a directory user {owner} does not own, and root uses no state where another user's symlink points; use it as its owner {WHAT_TO_DO}",
                        path.display(),
                        link.display()
                    )));
                }
                Self::checked(path.to_owned(), fd).map(Some)
            }
            Err(Errno::NOENT) => Ok(None),
            Err(Errno::LOOP | Errno::NOTDIR) => Err(Self::not_a_dir(path)),
            Err(err) => Err(Refusal(format!(
                "cannot open the state directory {}: {err}; make it readable by you {WHAT_TO_DO}",
                path.display()
            ))),
        }
    }

    /// Opens `path`, creating it and its missing parents first. What root creates in
    /// another user's tree is given to that user (the owner of the nearest existing
    /// parent), so that the user can still use it.
    pub fn create(path: &Path) -> Result<StateDir> {
        if let Some(dir) = Self::open(path)? {
            return Ok(dir);
        }
        let path = std::path::absolute(path).with_context(|| {
            format!(
                "cannot make the state directory {} absolute",
                path.display()
            )
        })?;
        let mut existing = path.as_path();
        let mut missing: Vec<&OsStr> = Vec::new();
        while std::fs::symlink_metadata(existing).is_err() {
            let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                bail!(
                    "cannot create the state directory {}: no part of it exists",
                    path.display()
                );
            };
            missing.push(name);
            existing = parent;
        }
        let cannot = |err: std::io::Error| {
            anyhow::Error::new(err).context(format!(
                "cannot create the state directory {}; create it yourself {WHAT_TO_DO}",
                path.display()
            ))
        };
        // The parents are followed as the user spelled them: only our own directory and
        // what is in it must be real. But root never creates where a user's symlink leads
        // it, unless that user owns the place: else `~/.local/state -> /etc` would have
        // root make its files in /etc.
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut fd = rustix::fs::openat(rustix::fs::CWD, existing, flags, Mode::empty())
            .map_err(|e| cannot(e.into()))?;
        let top = rustix::fs::fstat(&fd).map_err(|e| cannot(e.into()))?;
        if euid().is_root()
            && let Some((link, owner)) = foreign_symlink(existing, top.st_uid)
        {
            bail!(Refusal(format!(
                "refusing to create the state directory {}: {} is a symlink of user {owner} leading to a directory user {owner} does not own, and root creates nothing where another user's symlink points; create the state directory as its owner {WHAT_TO_DO}",
                path.display(),
                link.display()
            )));
        }
        let chown_to = for_owner(&top);
        for name in missing.into_iter().rev() {
            match rustix::fs::mkdirat(&fd, name, Mode::from_raw_mode(DIR_MODE)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(err) => return Err(cannot(err.into())),
            }
            let next = crate::sys::at::open_dir(fd.as_fd(), &cstr(name)?).map_err(|e| {
                if e == Errno::LOOP || e == Errno::NOTDIR {
                    anyhow::Error::new(Self::not_a_dir(&path))
                } else {
                    cannot(e.into())
                }
            })?;
            give(&next, chown_to).map_err(|e| cannot(e.into()))?;
            fd = next;
        }
        Ok(Self::checked(path, fd)?)
    }

    fn not_a_dir(path: &Path) -> Refusal {
        let what = match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let to = std::fs::read_link(path)
                    .map(|t| format!(" (to {})", t.display()))
                    .unwrap_or_default();
                format!("it is a symlink{to}, and our state is kept only in a real directory")
            }
            Ok(meta) => format!(
                "it is a {}, not a directory",
                crate::sys::read::kind_name(&meta.file_type())
            ),
            Err(_) => "a part of it is not a directory".to_owned(),
        };
        Refusal(format!(
            "refusing the state directory {}: {what}; replace it with a directory of yours {WHAT_TO_DO}",
            path.display()
        ))
    }

    /// Checks the open directory: ours (or, as root, anyone's: root may act for the
    /// owner) and not writable by every user.
    fn checked(path: PathBuf, fd: OwnedFd) -> Result<StateDir, Refusal> {
        let stat = rustix::fs::fstat(&fd).map_err(|err| {
            Refusal(format!(
                "cannot read the state directory {}: {err}",
                path.display()
            ))
        })?;
        let me = euid();
        if !me.is_root() && stat.st_uid != me.as_raw() {
            return Err(Refusal(format!(
                "refusing the state directory {}: it belongs to user {}, not to you (user {}), who could rewrite what it says; `chown` it to yourself {WHAT_TO_DO}",
                path.display(),
                stat.st_uid,
                me.as_raw()
            )));
        }
        if stat.st_mode & 0o002 != 0 {
            return Err(Refusal(format!(
                "refusing the state directory {}: every user can write in it (mode {:o}); run `chmod o-w {}`",
                path.display(),
                stat.st_mode & 0o7777,
                path.display()
            )));
        }
        let chown_to = for_owner(&stat);
        Ok(StateDir { path, fd, chown_to })
    }

    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks a file opened (or stat'ed) in this directory; as root in another user's
    /// directory, a root-owned file (what an older version left) is given back to them.
    fn check_file(&self, name: &str, stat: &Stat, fd: Option<&OwnedFd>) -> Option<Refusal> {
        let path = self.path.join(name);
        let me = euid();
        let owner_ok = stat.st_uid == me.as_raw()
            || (me.is_root()
                && self
                    .chown_to
                    .is_some_and(|(uid, _)| uid.as_raw() == stat.st_uid));
        if !owner_ok {
            return Some(Refusal(format!(
                "refusing {}: it belongs to user {}, not to {} (user {}), who could make it say anything; remove it (or `chown` it) and run again",
                path.display(),
                stat.st_uid,
                if self.chown_to.is_some() {
                    "the state directory's owner"
                } else {
                    "you"
                },
                self.chown_to.map_or(me.as_raw(), |(uid, _)| uid.as_raw())
            )));
        }
        if stat.st_mode & 0o002 != 0 {
            return Some(Refusal(format!(
                "refusing {}: every user can write it (mode {:o}); run `chmod o-w {}`",
                path.display(),
                stat.st_mode & 0o7777,
                path.display()
            )));
        }
        // Best effort: a file root left that the owner cannot use is given back, but only
        // a file whose one name is this one: a hard link to a file of root's elsewhere
        // (where hard links to others' files are allowed) must never change owner.
        let only_here =
            FileType::from_raw_mode(stat.st_mode) == FileType::Directory || stat.st_nlink == 1;
        if stat.st_uid == me.as_raw()
            && only_here
            && let Some(fd) = fd
        {
            let _ = give(fd, self.chown_to);
        }
        None
    }

    fn symlink_refusal(&self, name: &str) -> Refusal {
        Refusal(format!(
            "refusing {}: it is a symlink, and our state files are never followed out of the state directory; remove it and run again",
            self.path.join(name).display()
        ))
    }

    /// Reads `name`, at most `limit` bytes (`Err` with `crate::sys::read::ReadError::TooLarge`
    /// words past it): never through a symlink, never opening a device or blocking on a
    /// FIFO.
    pub fn read(&self, name: &str, limit: u64) -> Result<Found<Result<Vec<u8>, String>>> {
        let cannot = || format!("cannot read {}", self.path.join(name).display());
        let stat = match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return Ok(Found::Missing),
            Err(err) => return Err(std::io::Error::from(err)).with_context(cannot),
        };
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Symlink => return Ok(Found::Refused(self.symlink_refusal(name))),
            FileType::RegularFile => {}
            _ => {
                if let Some(refusal) = self.check_file(name, &stat, None) {
                    return Ok(Found::Refused(refusal));
                }
                return Ok(Found::NotRegular(kind_word(stat.st_mode)));
            }
        }
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(Found::Missing),
            Err(Errno::LOOP) => return Ok(Found::Refused(self.symlink_refusal(name))),
            Err(err) => return Err(std::io::Error::from(err)).with_context(cannot),
        };
        let stat = rustix::fs::fstat(&fd).with_context(cannot)?;
        if let Some(refusal) = self.check_file(name, &stat, Some(&fd)) {
            return Ok(Found::Refused(refusal));
        }
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Ok(Found::NotRegular(kind_word(stat.st_mode)));
        }
        let mut bytes = Vec::new();
        File::from(fd)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .with_context(cannot)?;
        if bytes.len() as u64 > limit {
            let words = crate::sys::read::ReadError::TooLarge { limit }.to_string();
            return Ok(Found::File(Err(words)));
        }
        Ok(Found::File(Ok(bytes)))
    }

    /// Replaces `name` with `bytes` atomically: written to a new temp file (`O_EXCL`,
    /// never through a symlink), given to the directory's owner when we are root, then
    /// renamed over `name` in this directory.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path.join(name);
        let (temp, fd) = self.create_temp(name)?;
        let written = (|| -> Result<()> {
            File::from(fd)
                .write_all(bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            rustix::fs::renameat(&self.fd, temp.as_str(), &self.fd, name)
                .with_context(|| format!("cannot replace {}", path.display()))?;
            Ok(())
        })();
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, temp.as_str(), AtFlags::empty());
        }
        written
    }

    /// A new file `.<name>.<pid>-<n>.tmp`, created `O_EXCL|O_NOFOLLOW`, already owned by
    /// whom it must belong to.
    fn create_temp(&self, name: &str) -> Result<(String, OwnedFd)> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp = format!(".{name}.{}-{n}.tmp", std::process::id());
            match rustix::fs::openat(
                &self.fd,
                temp.as_str(),
                flags,
                Mode::from_raw_mode(FILE_MODE),
            ) {
                Ok(fd) => {
                    if let Err(err) = give(&fd, self.chown_to) {
                        let _ = rustix::fs::unlinkat(&self.fd, temp.as_str(), AtFlags::empty());
                        return Err(std::io::Error::from(err)).with_context(|| {
                            format!(
                                "cannot give {} to the owner of {}",
                                self.path.join(&temp).display(),
                                self.path.display()
                            )
                        });
                    }
                    return Ok((temp, fd));
                }
                Err(Errno::EXIST) => continue,
                Err(err) => {
                    return Err(std::io::Error::from(err)).with_context(|| {
                        format!(
                            "cannot write in {}; make it writable by you {WHAT_TO_DO}",
                            self.path.display()
                        )
                    });
                }
            }
        }
        bail!(
            "cannot write in {}: too many temp files",
            self.path.display()
        )
    }

    /// Opens `name` for locking, creating it if missing. A new one is made under a temp
    /// name and linked into place (`linkat` never replaces: two runs creating it at once
    /// end up on one inode), so it is never, even for an instant, another owner's.
    pub fn lock_file(&self, name: &str) -> Result<File> {
        loop {
            match self.open_lock_file(name)? {
                Found::File(file) => return Ok(file),
                Found::Refused(refusal) => return Err(refusal.into()),
                Found::NotRegular(kind) => bail!(
                    "refusing {}: it is a {kind}, not a regular file; remove it and run again",
                    self.path.join(name).display()
                ),
                Found::Missing => {}
            }
            let (temp, fd) = self.create_temp(name)?;
            let linked =
                rustix::fs::linkat(&self.fd, temp.as_str(), &self.fd, name, AtFlags::empty());
            let _ = rustix::fs::unlinkat(&self.fd, temp.as_str(), AtFlags::empty());
            match linked {
                Ok(()) => return Ok(File::from(fd)),
                // Someone else made it first: use theirs.
                Err(Errno::EXIST) => continue,
                Err(err) => {
                    return Err(std::io::Error::from(err)).with_context(|| {
                        format!("cannot create {}", self.path.join(name).display())
                    });
                }
            }
        }
    }

    /// Opens an existing `name` for locking, never creating it.
    pub fn open_lock_file(&self, name: &str) -> Result<Found<File>> {
        let flags =
            OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let path = self.path.join(name);
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(Found::Missing),
            Err(Errno::LOOP) => return Ok(Found::Refused(self.symlink_refusal(name))),
            Err(Errno::ISDIR) => return Ok(Found::NotRegular("directory")),
            Err(err) => {
                return Err(std::io::Error::from(err))
                    .with_context(|| format!("cannot open {}", path.display()));
            }
        };
        let stat =
            rustix::fs::fstat(&fd).with_context(|| format!("cannot open {}", path.display()))?;
        if let Some(refusal) = self.check_file(name, &stat, Some(&fd)) {
            return Ok(Found::Refused(refusal));
        }
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Ok(Found::NotRegular(kind_word(stat.st_mode)));
        }
        Ok(Found::File(File::from(fd)))
    }

    /// The subdirectory `name`, made if missing (given to the owner as a file would be),
    /// opened never through a symlink and checked as the state directory is.
    pub fn subdir(&self, name: &str, create: bool) -> Result<Option<StateDir>> {
        let path = self.path.join(name);
        if create {
            match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(DIR_MODE)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(err) => {
                    return Err(std::io::Error::from(err))
                        .with_context(|| format!("cannot create {}", path.display()));
                }
            }
        }
        let fd = match crate::sys::at::open_dir(self.fd.as_fd(), &cstr(OsStr::new(name))?) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if !create => return Ok(None),
            Err(Errno::LOOP | Errno::NOTDIR) => return Err(Self::not_a_dir(&path).into()),
            Err(err) => {
                return Err(std::io::Error::from(err))
                    .with_context(|| format!("cannot open {}", path.display()));
            }
        };
        let stat =
            rustix::fs::fstat(&fd).with_context(|| format!("cannot open {}", path.display()))?;
        if let Some(refusal) = self.check_file(name, &stat, Some(&fd)) {
            return Err(refusal.into());
        }
        Ok(Some(StateDir {
            path,
            fd,
            chown_to: self.chown_to,
        }))
    }

    /// The names in the directory starting with `prefix`, sorted.
    pub fn names_like(&self, prefix: &str) -> Vec<String> {
        let Ok(dir) = rustix::fs::Dir::read_from(&self.fd) else {
            return Vec::new();
        };
        let mut found: Vec<String> = dir
            .flatten()
            .filter_map(|entry| entry.file_name().to_str().ok().map(str::to_owned))
            .filter(|name| name.starts_with(prefix))
            .collect();
        found.sort();
        found
    }

    /// When `name` was last written (its own mtime, a symlink not followed).
    pub fn modified(&self, name: &str) -> Option<std::time::SystemTime> {
        let stat = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        let secs = u64::try_from(stat.st_mtime).ok()?;
        std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))
    }

    /// Whether `name` exists (as anything).
    pub fn exists(&self, name: &str) -> bool {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
    }

    /// Renames `from` to `to` in this directory.
    pub fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
    }
}

/// Whom what we create in a directory with this `stat` must belong to.
fn for_owner(stat: &Stat) -> Option<(Uid, Gid)> {
    let me = euid();
    (me.is_root() && stat.st_uid != me.as_raw()).then(|| {
        (
            Uid::from_raw_unchecked(stat.st_uid),
            Gid::from_raw_unchecked(stat.st_gid),
        )
    })
}

/// The first symlink on the way to `existing` (each of its ancestors and itself) that
/// belongs to a user other than root and other than `owner`, the owner of where it leads,
/// with its owner. Root trusts its own symlinks (`/home -> /usr/home`), and a user's that
/// lead into that user's own directory.
fn foreign_symlink(existing: &Path, owner: u32) -> Option<(PathBuf, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut prefixes: Vec<&Path> = existing.ancestors().collect();
    prefixes.reverse();
    prefixes.into_iter().find_map(|prefix| {
        let meta = std::fs::symlink_metadata(prefix).ok()?;
        (meta.file_type().is_symlink() && meta.uid() != 0 && meta.uid() != owner)
            .then(|| (prefix.to_owned(), meta.uid()))
    })
}

/// Gives `fd` to `owner`, if there is one to give it to.
fn give(fd: &OwnedFd, owner: Option<(Uid, Gid)>) -> rustix::io::Result<()> {
    match owner {
        Some((uid, gid)) => rustix::fs::fchown(fd, Some(uid), Some(gid)),
        None => Ok(()),
    }
}

fn cstr(name: &OsStr) -> Result<std::ffi::CString> {
    debug_assert!(!name.is_empty() && Path::new(name).components().count() == 1);
    debug_assert!(matches!(
        Path::new(name).components().next(),
        Some(Component::Normal(_))
    ));
    std::ffi::CString::new(name.as_bytes())
        .with_context(|| format!("{} holds a NUL byte", Path::new(name).display()))
}
