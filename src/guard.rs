//! The safety rules of `DESIGN.md`, enforced in one place before anything is deleted.
//!
//! A [`Guard`] is built from a validated cache and refuses caches that are `/`, the home
//! directory, not a uv cache once symlinks are resolved, or whose `archive-v0` is itself a
//! symlink. Every path handed to a delete goes through [`Guard::archive`] or
//! [`Guard::pointer`], which resolve the parent directory and refuse anything outside
//! `<cache>/archive-v0` or the pointer buckets. The leaf itself is never resolved: it is
//! removed as the link or file it is, never followed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::archive_id::ArchiveId;
use crate::inventory::BucketFamily;
use crate::locate::{ARCHIVE_BUCKET, CacheDir, CacheLocation, Validated, validate};

/// Prefix of an archive being deleted: a dot-name inside `archive-v0`, so the rename is
/// atomic (same filesystem), the inventory skips it, and uv's own prune would remove it.
pub const TRASH_PREFIX: &str = ".uv-cache-prune-trash-";

#[derive(Debug, Clone)]
pub struct Guard {
    archive_real: PathBuf,
    cache_real: PathBuf,
}

impl Guard {
    pub fn new(cache: &CacheDir) -> Result<Self> {
        let root = cache.root();
        let cache_real = std::fs::canonicalize(root)
            .with_context(|| format!("cannot resolve the cache path {}", root.display()))?;
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
                Ok(Validated::Missing(_)) => bail!(
                    "refusing {}: it resolves to {}, which does not exist",
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
            archive_real: archive,
            cache_real,
        })
    }

    /// `path` must be `<cache>/archive-v0/<id or trash name>`, a real directory.
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
