//! Index metadata (`simple-v*`) of packages nothing here needs any more: a package's
//! cached index page, once the cache holds no archive of that package after this run, no
//! surviving lock names it, and it has not been fetched for `--unused-for`. Only with
//! `--unused-for` (the flag or its config key): index pages are small, uv refetches them
//! when needed, and only a user who says what "unused" means has asked for them to go.
//! Found by [`survey`] (read-only: the dry run shows them as kind `index` in `others`)
//! and removed by `crate::buckets::leftovers::remove` under uv's exclusive lock (one `unlinkat`
//! each, after a fresh check that it is the same regular file).
//!
//! # Layout (uv-cache `CacheBucket::Simple`, and uv's own `uv cache clean <package>`)
//!
//! `simple-v*/pypi/<name>.rkyv` for PyPI and `simple-v*/index/<digest(url)>/<name>.rkyv`
//! for other indexes: one file per package and index, written whole (a temporary file
//! renamed over it) on every fetch or revalidation, so its change time is when uv last
//! fetched it. Older generations used `.msgpack`; both are recognised.
//!
//! `flat-index-v*` is left: one file per `--find-links` location lists every package of
//! it, so removing it frees nothing per package, and what it lists is not known without
//! decoding it.
//!
//! Without a page uv fetches it again; offline, uv fails for that package only, as for
//! a package never resolved ("not found in the cache"): only packages with no archive
//! and no lock go, so no surviving project needs it.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::buckets::leftovers::{Other, OtherKind};
use crate::cache::dist::PackageName;
use crate::cache::layout::bucket_family_name;
use crate::plan::Fate;
use crate::sys::fs_meta::FileId;
use crate::warning::{Warning, WarningKind};

/// What the survey needs besides the cache: the same as the built sdists' survey (the
/// archives this run keeps each keep their package's index pages; with `unused_for`
/// `None`, index metadata is never removed).
pub use crate::buckets::sdists::Context;

/// Every index page that can go (see the module docs). Read-only; never follows a
/// symlink or leaves the root's device.
pub fn survey(cache_root: &Path, cx: &Context<'_>) -> (Vec<Other>, Vec<Warning>) {
    let mut found = Vec::new();
    let mut warnings = Vec::new();
    let Some(unused_for) = cx.unused_for else {
        return (found, warnings);
    };
    if cx.doubt {
        return (found, warnings);
    }
    // A kept archive whose package is unknown could be any package's: keep every page.
    let mut live: HashSet<&PackageName> = HashSet::new();
    for archive in &cx.plan.archives {
        if let Fate::Keep(_) = archive.fate {
            match &archive.name {
                Some(name) => {
                    live.insert(name);
                }
                None if archive.is_venv => {}
                None => return (found, warnings),
            }
        }
    }
    let Ok(root_meta) = std::fs::symlink_metadata(cache_root) else {
        return (found, warnings);
    };
    let dev = root_meta.dev();
    let Ok(buckets) = std::fs::read_dir(cache_root) else {
        return (found, warnings);
    };
    let min_age = unused_for.max(cx.grace);
    for bucket in buckets.flatten() {
        let bucket_name = bucket.file_name();
        let Some(text) = bucket_name.to_str() else {
            continue;
        };
        if bucket_family_name(text) != Some("simple") {
            continue;
        }
        if !bucket
            .metadata()
            .is_ok_and(|m| m.is_dir() && m.dev() == dev)
        {
            continue;
        }
        // `pypi/` holds pages; `index/<digest>/` holds pages.
        let mut dirs: Vec<Vec<OsString>> = vec![vec![bucket_name.clone(), "pypi".into()]];
        let index = bucket.path().join("index");
        if let Ok(entries) = std::fs::read_dir(&index) {
            for entry in entries.flatten() {
                if entry.metadata().is_ok_and(|m| m.is_dir() && m.dev() == dev) {
                    dirs.push(vec![bucket_name.clone(), "index".into(), entry.file_name()]);
                }
            }
        }
        for rel_dir in dirs {
            let mut dir = cache_root.to_owned();
            dir.extend(&rel_dir);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => {
                    warnings.push(Warning::new(
                        WarningKind::Unreadable,
                        format!(
                            "cannot list {}: {err}; the index pages in it are kept",
                            dir.display()
                        ),
                    ));
                    continue;
                }
            };
            for entry in entries.flatten() {
                let file_name = entry.file_name();
                let Some(stem) = file_name.to_str().and_then(|n| {
                    n.strip_suffix(".rkyv")
                        .or_else(|| n.strip_suffix(".msgpack"))
                }) else {
                    continue;
                };
                let Ok(meta) = entry.metadata() else { continue };
                if !meta.is_file() || meta.dev() != dev {
                    continue;
                }
                let name = PackageName::new(stem);
                if live.contains(&name) || cx.keep.contains(&name) || cx.locked.names(&name, None) {
                    continue;
                }
                let changed = SystemTime::UNIX_EPOCH
                    + Duration::new(
                        u64::try_from(meta.ctime().max(meta.mtime())).unwrap_or(u64::MAX / 2),
                        0,
                    );
                if cx
                    .now
                    .duration_since(changed)
                    .map_or(true, |age| age < min_age)
                {
                    continue;
                }
                let mut rel = rel_dir.clone();
                rel.push(file_name);
                found.push(Other {
                    bucket: text.to_owned(),
                    rel,
                    kind: OtherKind::Index,
                    bytes: if meta.nlink() == 1 {
                        meta.blocks() * 512
                    } else {
                        0
                    },
                    is_dir: false,
                    file: FileId {
                        dev: meta.dev(),
                        ino: meta.ino(),
                    },
                });
            }
        }
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    (found, warnings)
}
