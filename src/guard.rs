//! The safety rules of `docs/architecture.md`, enforced in one place before anything is deleted.
//!
//! A [`Guard`] is built from a validated cache and refuses caches that are `/`, the home
//! directory, not a uv cache once symlinks are resolved, or whose `archive-v0` is itself a
//! symlink. Every path handed to a delete goes through [`Guard::archive`] or
//! [`Guard::pointer`], which resolve the parent directory and refuse anything outside
//! `<cache>/archive-v0` or the pointer buckets. The leaf itself is never resolved: it is
//! removed as the link or file it is, never followed.
//!
//! Archives themselves are never handled by path: [`Guard::open_archive_dir`] opens
//! `archive-v0` once, without following a symlink, checks it is the very directory that
//! was validated (same device and inode), and every rename and deletion of an archive is
//! then made relative to that descriptor ([`ArchiveDir`]), so swapping `archive-v0` or an
//! archive for a symlink after the checks leads nowhere.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::archive_id::ArchiveId;
use crate::fs_meta::{FileId, entry_stat};
use crate::layout::{ARCHIVE_BUCKET, BucketFamily, TRASH_PREFIX};
use crate::locate::{CacheDir, CacheLocation, Validated, validate};

#[derive(Debug, Clone)]
pub struct Guard {
    archive_real: PathBuf,
    cache_real: PathBuf,
    /// `archive-v0` as validated: what [`Guard::open_archive_dir`] must open again.
    archive_identity: Option<FileId>,
}

impl Guard {
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
        Ok(Self {
            archive_identity: entry_stat(&meta).id,
            archive_real: archive,
            cache_real,
        })
    }

    /// `path` must be `<cache>/archive-v0/<id or trash name>`, a real directory.
    /// The cache root, resolved once when the guard was made.
    pub fn cache_root(&self) -> &Path {
        &self.cache_real
    }

    pub fn archive(&self, path: &Path) -> Result<()> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let plain = name.strip_prefix(TRASH_PREFIX).unwrap_or(name);
        let valid_name = ArchiveId::new(plain).is_some();
        if !valid_name || self.real_parent(path)? != self.archive_real {
            bail!(
                "refusing to delete {}: not an archive of {}",
                path.display(),
                self.archive_real.display()
            );
        }
        let meta = std::fs::symlink_metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_dir() {
            bail!("refusing to delete {}: not a directory", path.display());
        }
        Ok(())
    }

    /// `path` must be a file or symlink somewhere under a pointer bucket of the cache.
    pub fn pointer(&self, path: &Path) -> Result<()> {
        let parent = self.real_parent(path)?;
        let bucket = parent
            .strip_prefix(&self.cache_real)
            .ok()
            .and_then(|rel| rel.components().next())
            .and_then(|c| c.as_os_str().to_str())
            .and_then(BucketFamily::of);
        let meta = std::fs::symlink_metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if bucket.is_none() || meta.is_dir() {
            bail!(
                "refusing to delete {}: not a pointer file in a bucket of {}",
                path.display(),
                self.cache_real.display()
            );
        }
        Ok(())
    }

    fn real_parent(&self, path: &Path) -> Result<PathBuf> {
        let parent = path
            .parent()
            .with_context(|| format!("{} has no parent", path.display()))?;
        std::fs::canonicalize(parent)
            .with_context(|| format!("cannot resolve {}", parent.display()))
    }
}

#[cfg(unix)]
pub use archive_dir::ArchiveDir;

#[cfg(unix)]
mod archive_dir {
    use std::ffi::{CString, OsStr, OsString};
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::ffi::OsStringExt;
    use std::path::{Path, PathBuf};

    use anyhow::{Context, Result, bail};
    use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, RenameFlags};
    use rustix::io::Errno;

    use super::Guard;
    use crate::archive_id::ArchiveId;
    use crate::at::{self, MountKey};
    use crate::fs_meta::FileId;
    use crate::layout::TRASH_PREFIX;
    use crate::rmtree::{self, Outcome};

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
        /// Opens `archive-v0` without following a symlink and checks it is the directory
        /// [`Guard::new`] validated.
        pub fn open_archive_dir(&self) -> Result<ArchiveDir> {
            let path = self.archive_real.clone();
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(rustix::fs::CWD, &path, flags, Mode::empty())
                .with_context(|| {
                    format!(
                        "cannot open {} as a directory (not following a symlink); nothing more was deleted",
                        path.display()
                    )
                })?;
            let stat = at::dir_stat(fd.as_fd())
                .with_context(|| format!("cannot read {}", path.display()))?;
            let now = FileId {
                dev: stat.dev,
                ino: stat.ino,
            };
            if self.archive_identity != Some(now) {
                bail!(
                    "refusing to delete in {}: it was replaced since the cache was checked; nothing more was deleted, run again",
                    path.display()
                );
            }
            Ok(ArchiveDir {
                fd,
                path,
                mount: stat.mount,
            })
        }
    }

    impl ArchiveDir {
        pub fn path(&self) -> &Path {
            &self.path
        }

        /// Renames archive `id` to its trash name, relative to `archive-v0` and never
        /// over an existing entry; returns the trash name.
        pub fn rename_to_trash(&self, id: &ArchiveId) -> Result<OsString> {
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
            rustix::fs::renameat_with(
                &self.fd,
                id.as_str(),
                &self.fd,
                &*trash,
                RenameFlags::NOREPLACE,
            )
            .with_context(|| {
                format!(
                    "cannot move {} to {}",
                    from.display(),
                    self.path.join(&trash).display()
                )
            })?;
            Ok(trash)
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
