//! The safety rules of `docs/architecture.md`, enforced in one place before anything is deleted.
//!
//! A [`Guard`] is built from a validated cache and refuses caches that are `/`, the home
//! directory, not a uv cache once symlinks are resolved, or whose `archive-v0` is itself a
//! symlink. It remembers what it validated (the device and inode of the cache root and of
//! `archive-v0`), and nothing is ever created, renamed or deleted in the cache by path
//! after that: a path is resolved again at every use, and anyone who can write in the
//! cache (a shared cache, another user's uv) can swap one of its directories for a
//! symlink between our check and our act. A pointer named `authorized_keys` in a bucket
//! directory that becomes a symlink to `~victim/.ssh` would then have us delete the
//! victim's file.
//!
//! So [`Guard::open_cache_root`] opens the cache root once, without following a symlink,
//! and checks it is the very directory that was validated ([`CacheRoot`]); everything
//! else is reached from that descriptor:
//!
//! - archives: [`CacheRoot::open_archive_dir`] opens `archive-v0` relative to it (checked
//!   the same way), and every rename and deletion of an archive is made relative to that
//!   descriptor ([`ArchiveDir`]);
//! - pointers: [`CacheRoot::remove_pointer`] opens each directory of the pointer's path
//!   with `openat(O_DIRECTORY | O_NOFOLLOW)` from its parent's descriptor, on the cache
//!   root's own mount, `lstat`s the leaf (never a directory) and `unlinkat`s it relative
//!   to the last directory. A pointer whose path leads through a symlink or onto another
//!   mount is refused, never followed: the caller keeps its archive;
//! - the lock file (`lock`) and the `files-v0` objects (`objects`) are opened relative to
//!   the same descriptor.
//!
//! A directory swapped after it was opened is one we already hold: we unlink from the
//! cache's own directory, wherever it was moved, never from what replaced it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cache::layout::ARCHIVE_BUCKET;
use crate::cache::locate::{CacheDir, CacheLocation, Validated, validate};
use crate::sys::fs_meta::{FileId, entry_stat};

#[derive(Debug, Clone)]
pub struct Guard {
    /// The cache as named (what the inventory's paths start with).
    cache_named: PathBuf,
    cache_real: PathBuf,
    /// The cache root as validated: what [`Guard::open_cache_root`] must open again.
    cache_identity: Option<FileId>,
    /// `archive-v0` as validated: what [`CacheRoot::open_archive_dir`] must open again.
    archive_identity: Option<FileId>,
}

impl Guard {
    /// The cache root as named, before any symlink was resolved.
    pub fn cache_named(&self) -> &Path {
        &self.cache_named
    }

    pub fn new(cache: &CacheDir) -> Result<Self> {
        let root = cache.root();
        let cache_real = cache.real().to_owned();
        let forbidden = [Some(PathBuf::from("/")), dirs::home_dir()];
        for path in forbidden.iter().flatten() {
            let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            if cache_real == real || root == path {
                bail!(
                    "refusing to delete in {}: that is {}, not a cache",
                    root.display(),
                    if path == Path::new("/") {
                        "the filesystem root"
                    } else {
                        "the home directory"
                    }
                );
            }
        }
        if cache_real != root {
            // The cache is reached through a symlink: the directory it resolves to must be
            // a uv cache in its own right.
            let resolved = CacheLocation {
                path: cache_real.clone(),
                source: cache.source,
            };
            match validate(resolved) {
                Ok(Validated::Cache(_)) => {}
                Ok(Validated::Missing(_) | Validated::NoArchives(_)) => bail!(
                    "refusing {}: it resolves to {}, which does not exist or holds no archives",
                    root.display(),
                    cache_real.display()
                ),
                Err(err) => {
                    return Err(err).context(format!(
                        "refusing {}: it resolves through a symlink to {}",
                        root.display(),
                        cache_real.display()
                    ));
                }
            }
        }
        let archive = cache_real.join(ARCHIVE_BUCKET);
        let meta = std::fs::symlink_metadata(&archive)
            .with_context(|| format!("cannot read {}", archive.display()))?;
        if !meta.is_dir() {
            bail!(
                "refusing to delete in {}: {} is a symlink, not the cache's own directory",
                root.display(),
                archive.display()
            );
        }
        let cache_meta = std::fs::symlink_metadata(&cache_real)
            .with_context(|| format!("cannot read {}", cache_real.display()))?;
        Ok(Self {
            archive_identity: entry_stat(&meta).id,
            cache_identity: entry_stat(&cache_meta).id,
            cache_named: root.to_owned(),
            cache_real,
        })
    }
}

#[cfg(unix)]
pub use descriptors::{ArchiveDir, CacheRoot, Moved, PointerRemoval};

#[cfg(unix)]
mod descriptors {
    use std::ffi::{CString, OsStr, OsString};
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::{Component, Path, PathBuf};

    use anyhow::{Context, Result, bail};
    use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, RenameFlags};
    use rustix::io::Errno;

    use super::Guard;
    use crate::cache::archive_id::ArchiveId;
    use crate::cache::layout::{ARCHIVE_BUCKET, BucketFamily, TRASH_PREFIX};
    use crate::sys::at::{self, MountKey};
    use crate::sys::fs_meta::FileId;
    use crate::sys::rmtree::{self, Outcome};

    /// `f_type` of an overlayfs mount (`OVERLAYFS_SUPER_MAGIC`, linux/magic.h).
    const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

    /// The cache root, open: everything created, renamed or deleted in the cache is
    /// reached from this descriptor, one component at a time (see the module docs).
    #[derive(Debug)]
    pub struct CacheRoot {
        fd: OwnedFd,
        /// The cache as named: what the inventory's paths start with.
        named: PathBuf,
        /// The cache with symlinks resolved, for messages.
        path: PathBuf,
        mount: MountKey,
        uid: u32,
        gid: u32,
        overlay: bool,
        archive_identity: Option<FileId>,
    }

    /// What [`CacheRoot::remove_pointer`] did.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum PointerRemoval {
        /// Unlinked; `bytes` are its allocated blocks when that was its last link (what
        /// `du` sees go), else 0.
        Removed { bytes: u64 },
        /// It (or a directory on its path) was already gone.
        Gone,
        /// Not removed, and why (a sentence naming the path): its archive must be kept.
        Refused(String),
        /// Not removed: the filesystem refused for lack of permission in `denied.dir`
        /// ([`crate::sys::denied::is_denied`]). Its archive must be kept too.
        Denied(crate::sys::denied::Denied),
    }

    /// Where [`ArchiveDir::rename_to_trash`] left an archive.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Moved {
        /// Renamed to this trash name.
        Trash(OsString),
        /// The filesystem cannot rename it (`EXDEV`: a directory of an overlayfs lower
        /// layer, without `redirect_dir`): still under its own name, to be deleted there.
        InPlace(OsString),
        /// Not moved: the filesystem refused for lack of permission. The archive is as
        /// it was.
        Denied(Errno),
    }

    /// `archive-v0`, open: every archive is renamed and deleted relative to this.
    #[derive(Debug)]
    pub struct ArchiveDir {
        fd: OwnedFd,
        path: PathBuf,
        mount: MountKey,
    }

    /// A `.uv-cache-prune-trash-*` entry of `archive-v0`, as listed.
    #[derive(Debug, Clone)]
    pub struct TrashEntry {
        pub name: OsString,
        /// A directory (not a symlink) whose name carries a valid archive id.
        pub ours: bool,
        /// What it is, when it is not ours.
        pub what: &'static str,
    }

    impl Guard {
        /// Opens the cache root without following a symlink and checks it is the
        /// directory [`Guard::new`] validated (same device and inode): a root swapped
        /// since for a symlink or another directory is refused, and nothing is changed.
        pub fn open_cache_root(&self) -> Result<CacheRoot> {
            let path = self.cache_real.clone();
            let fd = open_checked(
                rustix::fs::CWD,
                &path,
                &path,
                self.cache_identity,
                "the cache",
            )?;
            let stat = at::dir_stat(fd.as_fd())
                .with_context(|| format!("cannot read {}", path.display()))?;
            let owner = rustix::fs::fstat(&fd)
                .with_context(|| format!("cannot read {}", path.display()))?;
            // Only a hint for the report: a failure means "not known to be an overlay".
            #[allow(clippy::unnecessary_cast)] // the field type differs between platforms
            let overlay =
                rustix::fs::fstatfs(&fd).is_ok_and(|fs| fs.f_type as i64 == OVERLAYFS_SUPER_MAGIC);
            Ok(CacheRoot {
                fd,
                named: self.cache_named.clone(),
                path,
                mount: stat.mount,
                uid: owner.st_uid,
                gid: owner.st_gid,
                overlay,
                archive_identity: self.archive_identity,
            })
        }

        /// Opens `archive-v0` (see [`CacheRoot::open_archive_dir`]).
        pub fn open_archive_dir(&self) -> Result<ArchiveDir> {
            self.open_cache_root()?.open_archive_dir()
        }
    }

    /// Opens `name` in `parent` as a directory, not following a symlink, and checks that
    /// it is the directory `identity` (device and inode) that was validated.
    fn open_checked(
        parent: BorrowedFd<'_>,
        name: &Path,
        path: &Path,
        identity: Option<FileId>,
        what: &str,
    ) -> Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(parent, name, flags, Mode::empty()).with_context(|| {
            format!(
                "cannot open {what} {} as a directory (not following a symlink); nothing more was deleted",
                path.display()
            )
        })?;
        let stat =
            at::dir_stat(fd.as_fd()).with_context(|| format!("cannot read {}", path.display()))?;
        let now = FileId {
            dev: stat.dev,
            ino: stat.ino,
        };
        if identity != Some(now) {
            bail!(
                "refusing to delete in {}: it was replaced since the cache was checked; nothing more was deleted, run again",
                path.display()
            );
        }
        Ok(fd)
    }

    impl CacheRoot {
        pub fn fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }

        /// The cache root with symlinks resolved.
        pub fn path(&self) -> &Path {
            &self.path
        }

        /// The owner and group of the cache root.
        pub fn owner(&self) -> (u32, u32) {
            (self.uid, self.gid)
        }

        /// True when the cache root is on overlayfs (a container image's layer, say).
        pub fn is_overlay(&self) -> bool {
            self.overlay
        }

        /// Opens `archive-v0` relative to the cache root, without following a symlink,
        /// and checks it is the directory [`Guard::new`] validated.
        pub fn open_archive_dir(&self) -> Result<ArchiveDir> {
            let path = self.path.join(ARCHIVE_BUCKET);
            let fd = open_checked(
                self.fd.as_fd(),
                Path::new(ARCHIVE_BUCKET),
                &path,
                self.archive_identity,
                "the archives",
            )?;
            let stat = at::dir_stat(fd.as_fd())
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(ArchiveDir {
                fd,
                path,
                mount: stat.mount,
            })
        }

        /// Removes the pointer at `path` (a file or symlink under a pointer bucket of
        /// this cache, as the inventory named it) by descriptor: each directory on the way
        /// is opened from its parent without following a symlink and must be on the cache
        /// root's mount, the leaf is `lstat`ed (never a directory), and `before_change`
        /// runs just before the `unlinkat`. Nothing here aborts: a pointer that cannot be
        /// removed safely is [`PointerRemoval::Refused`], and its archive must stay.
        pub fn remove_pointer(&self, path: &Path, before_change: &dyn Fn()) -> PointerRemoval {
            let refused = |why: String| PointerRemoval::Refused(why);
            let Some(rel) = path
                .strip_prefix(&self.named)
                .or_else(|_| path.strip_prefix(&self.path))
                .ok()
            else {
                return refused(format!(
                    "{} is not inside the cache {}",
                    path.display(),
                    self.path.display()
                ));
            };
            let mut names = Vec::new();
            for component in rel.components() {
                match component {
                    Component::Normal(name) => names.push(name),
                    _ => {
                        return refused(format!(
                            "{} is not a plain path inside the cache",
                            path.display()
                        ));
                    }
                }
            }
            let in_bucket = names
                .first()
                .and_then(|bucket| bucket.to_str())
                .and_then(BucketFamily::of)
                .is_some_and(|family| family != BucketFamily::Builds);
            let Some((leaf, dirs)) = names.split_last().filter(|_| in_bucket && names.len() >= 2)
            else {
                return refused(format!(
                    "{} is not a pointer file in a bucket of {}",
                    path.display(),
                    self.path.display()
                ));
            };
            let mut held: Option<OwnedFd> = None;
            let mut walked = self.path.clone();
            for name in dirs {
                walked.push(name);
                let Ok(c_name) = CString::new(name.as_bytes()) else {
                    return refused(format!("{} holds a NUL byte", walked.display()));
                };
                let parent = held.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd());
                let fd = match at::open_dir(parent, &c_name) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) => return PointerRemoval::Gone,
                    Err(Errno::LOOP | Errno::NOTDIR) => {
                        return refused(format!(
                            "{} is a symlink or not a directory, and a path through it may lead out of the cache",
                            walked.display()
                        ));
                    }
                    Err(err) if crate::sys::denied::is_denied(err) => {
                        return PointerRemoval::Denied(crate::sys::denied::Denied {
                            dir: walked,
                            err,
                        });
                    }
                    Err(err) => {
                        return refused(format!("cannot open {}: {err}", walked.display()));
                    }
                };
                match at::dir_stat(fd.as_fd()) {
                    Ok(stat) if stat.mount.same(self.mount) => {}
                    Ok(_) => {
                        return refused(format!(
                            "{} is another mount, and deletion never crosses a mount",
                            walked.display()
                        ));
                    }
                    Err(err) => {
                        return refused(format!("cannot read {}: {err}", walked.display()));
                    }
                }
                held = Some(fd);
            }
            let dir = held.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd());
            let Ok(c_leaf) = CString::new(leaf.as_bytes()) else {
                return refused(format!("{} holds a NUL byte", path.display()));
            };
            let bytes = match rustix::fs::statat(dir, &c_leaf, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                    return refused(format!(
                        "{} is a directory, not a pointer file",
                        path.display()
                    ));
                }
                Ok(stat) if stat.st_nlink <= 1 => u64::try_from(stat.st_blocks).unwrap_or(0) * 512,
                Ok(_) => 0,
                Err(Errno::NOENT) => return PointerRemoval::Gone,
                Err(err) => return refused(format!("cannot read {}: {err}", path.display())),
            };
            before_change();
            match rustix::fs::unlinkat(dir, &c_leaf, AtFlags::empty()) {
                Ok(()) => PointerRemoval::Removed { bytes },
                Err(Errno::NOENT) => PointerRemoval::Gone,
                Err(Errno::ISDIR) => refused(format!(
                    "{} became a directory since it was read",
                    path.display()
                )),
                Err(Errno::BUSY) => refused(format!(
                    "{} is a mount point, and deletion never crosses a mount",
                    path.display()
                )),
                Err(err) if crate::sys::denied::is_denied(err) => {
                    PointerRemoval::Denied(crate::sys::denied::Denied { dir: walked, err })
                }
                Err(err) => refused(format!("cannot remove {}: {err}", path.display())),
            }
        }
    }

    impl ArchiveDir {
        pub fn path(&self) -> &Path {
            &self.path
        }

        /// Renames archive `id` to its trash name, relative to `archive-v0` and never
        /// over an existing entry. A filesystem that cannot rename it (`EXDEV`, overlayfs)
        /// leaves it in place, to be deleted under its own name: call this only once its
        /// pointers are gone, so that no reader can reach a half-deleted archive.
        pub fn rename_to_trash(&self, id: &ArchiveId) -> Result<Moved> {
            let trash = OsString::from(format!("{TRASH_PREFIX}{id}"));
            let from = self.path.join(id.as_str());
            let stat = rustix::fs::statat(&self.fd, id.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                .with_context(|| format!("cannot read {}", from.display()))?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
                bail!(
                    "refusing to delete {}: not a directory (it changed since it was planned)",
                    from.display()
                );
            }
            match rustix::fs::renameat_with(
                &self.fd,
                id.as_str(),
                &self.fd,
                &*trash,
                RenameFlags::NOREPLACE,
            ) {
                Ok(()) => Ok(Moved::Trash(trash)),
                Err(Errno::XDEV) => Ok(Moved::InPlace(OsString::from(id.as_str()))),
                Err(err) if crate::sys::denied::is_denied(err) => Ok(Moved::Denied(err)),
                Err(err) => Err(err).with_context(|| {
                    format!(
                        "cannot move {} to {}",
                        from.display(),
                        self.path.join(&trash).display()
                    )
                }),
            }
        }

        /// Whether this process may create, rename and remove entries here (write and
        /// search permission, a writable mount), as the kernel would judge it for our
        /// effective ids: asked before any pointer goes, so that a read-only
        /// `archive-v0` costs no archive its pointers. The renames still handle a refusal
        /// (a sticky directory, an ACL the check cannot see).
        pub fn writable(&self) -> Result<(), Errno> {
            rustix::fs::accessat(
                &self.fd,
                c".",
                rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
                AtFlags::EACCESS,
            )
        }

        /// Deletes the trash entry `name` by descriptor, never leaving this mount.
        pub fn remove_trash(&self, name: &OsStr, before_change: &(dyn Fn() + Sync)) -> Outcome {
            rmtree::remove_tree(self.fd.as_fd(), &self.path, name, self.mount, before_change)
        }

        /// True if `archive-v0` has no entry `id` (not following a symlink).
        pub fn lacks(&self, id: &ArchiveId) -> Result<bool> {
            match rustix::fs::statat(&self.fd, id.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(_) => Ok(false),
                Err(Errno::NOENT) => Ok(true),
                Err(err) => Err(err).with_context(|| {
                    format!("cannot read {}", self.path.join(id.as_str()).display())
                }),
            }
        }

        /// The trash entries, each said to be ours (a directory with a valid id) or not.
        pub fn trash_entries(&self) -> Result<Vec<TrashEntry>> {
            let context = || format!("cannot list {}", self.path.display());
            let mut dir = Dir::read_from(&self.fd).with_context(context)?;
            let mut entries = Vec::new();
            while let Some(entry) = dir.read() {
                let entry = entry.with_context(context)?;
                let bytes = entry.file_name().to_bytes();
                let Some(rest) = bytes.strip_prefix(TRASH_PREFIX.as_bytes()) else {
                    continue;
                };
                let name = OsString::from_vec(bytes.to_vec());
                let valid = std::str::from_utf8(rest)
                    .ok()
                    .and_then(ArchiveId::new)
                    .is_some();
                let kind = match CString::new(bytes) {
                    Ok(c) => rustix::fs::statat(&self.fd, &c, AtFlags::SYMLINK_NOFOLLOW)
                        .map(|st| FileType::from_raw_mode(st.st_mode)),
                    Err(_) => Err(Errno::INVAL),
                };
                let (ours, what) = match kind {
                    Err(Errno::NOENT) => continue,
                    Ok(FileType::Directory) if valid => (true, "directory"),
                    Ok(FileType::Directory) => {
                        (false, "directory whose name holds no valid archive id")
                    }
                    Ok(FileType::Symlink) => (false, "symlink"),
                    Ok(_) => (false, "file, not a directory"),
                    Err(_) => (false, "entry that cannot be read"),
                };
                entries.push(TrashEntry { name, ours, what });
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(entries)
        }
    }
}
