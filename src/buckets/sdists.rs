//! Built source distributions (`sdists-v*`) nothing needs any more: the source tree, the
//! built `.whl` and the metadata uv keeps for an sdist, a source tree or an editable it
//! built, once the archives unzipped from those wheels are dead and no surviving `uv.lock`
//! names the package. Found by [`survey`] (read-only: the dry run shows them as kind
//! `sdist` in `others`) and removed by `crate::buckets::leftovers::remove` under uv's exclusive
//! lock, after the archives.
//!
//! # What an entry is (uv 0.10.12 `sdists-v9`, 0.13.9 `sdists-v11`, read in uv's source)
//!
//! uv keeps one directory per built source, the one holding its revision pointer
//! (`revision.http` for a download, `revision.rev` for a local file or tree):
//! `index/<index-digest>/<name>/<version>/`, `url/<digest>/`, `path/<digest>/`,
//! `editable/<digest>/`. Beside the pointer, `<revision-id>/` holds `src/` (the unpacked
//! source, when uv unpacked one), the built `<wheel>.whl`, `metadata.msgpack` and the
//! `<wheel-stem>` symlink to the archive the wheel was unzipped into
//! (`uv-distribution/src/source/mod.rs`). Git checkouts (no revision pointer) are left.
//!
//! # When an entry goes
//!
//! Every one of these, else it is kept (doubt keeps):
//! - every archive its symlinks name is removed by this run's plan, or already absent,
//!   and every symlink names an archive (a symlink elsewhere is not ours to judge);
//! - its package is known (the index path, or a `.whl`'s name) and no surviving lock names
//!   it at that version ([`LockedNames`]): `uv sync --offline --frozen` of a lock needs the
//!   built wheel when its archive is gone, and re-unzips it from here;
//! - the package is not on the keep list, and nothing in the entry (the entry, its
//!   revision directories and what they hold, `src/` aside) changed within the grace
//!   window, nor within `--unused-for` when given;
//! - the run has no blind spot and no unseen user (their venvs may use any archive, so
//!   every archive is kept; so is every built sdist).
//!
//! # Removal: all or nothing for uv
//!
//! The entry directory is renamed whole, by descriptor, to a `.tmp*` name at the cache
//! root (one `renameat`: uv sees the entry complete or not at all, and with no entry it
//! builds or downloads again, as for a source it never saw), then deleted there by
//! descriptor. A run killed in between leaves a `.tmp*` directory that nothing names,
//! which a later run removes as a leftover (kind `temp`) once older than the grace window.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::buckets::leftovers::{Other, OtherKind};
use crate::cache::archive_id::ArchiveId;
use crate::cache::dist::PackageName;
use crate::cache::layout::{ARCHIVE_BUCKET, bucket_family_name};
use crate::discover::lockfile::{LockContent, LockFile};
use crate::plan::{Fate, Plan};
use crate::sys::fs_meta::FileId;
use crate::warning::{Warning, WarningKind};

/// The revision pointers: the directory holding one is an entry.
const REVISION_POINTERS: [&str; 2] = ["revision.http", "revision.rev"];

/// How deep entries lie below `sdists-v*` (`index/<digest>/<name>/<version>` is 4).
const ENTRY_DEPTH: usize = 5;

/// How deep a revision's built wheels lie below it (config-settings shards add one).
const REVISION_DEPTH: usize = 3;

/// The packages the surviving locks name, with their versions: a built sdist one of them
/// names is kept, so that `uv sync --offline --frozen` of that lock still finds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockedNames {
    /// Each name with the versions locked; `None` among them for a lock that names the
    /// package without a version (a dynamic one, or a lock that did not parse), which
    /// keeps every version.
    names: BTreeMap<PackageName, BTreeSet<Option<String>>>,
}

impl LockedNames {
    /// What `locks` name. A lock that did not parse names, at any version, every package
    /// its text mentions.
    pub fn of(locks: &[LockFile]) -> Self {
        let mut names: BTreeMap<PackageName, BTreeSet<Option<String>>> = BTreeMap::new();
        for lock in locks {
            match &lock.content {
                LockContent::Parsed(packages) => {
                    for package in packages {
                        names
                            .entry(package.name.clone())
                            .or_default()
                            .insert(package.version.as_deref().map(normal_version));
                    }
                }
                LockContent::Unparsed { names: found, .. } => {
                    for name in found {
                        names.entry(name.clone()).or_default().insert(None);
                    }
                }
            }
        }
        Self { names }
    }

    /// True if some lock names `name` at `version` (at any version when `version` is
    /// unknown).
    pub fn names(&self, name: &PackageName, version: Option<&str>) -> bool {
        let Some(versions) = self.names.get(name) else {
            return false;
        };
        match version {
            None => true,
            Some(version) => {
                versions.contains(&None) || versions.contains(&Some(normal_version(version)))
            }
        }
    }
}

/// A version compared loosely enough that two spellings of one version match (`1.0` and
/// `1.0.0`, `1.0RC1` and `1.0rc1`): lower case, trailing `.0` release parts dropped. Two
/// versions that differ otherwise count as different, which keeps nothing wrongly: the
/// lock's own version still matches its own spelling.
fn normal_version(version: &str) -> String {
    let lower = version.trim().to_ascii_lowercase();
    let lower = lower.strip_prefix('v').unwrap_or(&lower).to_owned();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (release, rest) = lower.split_at(split);
    let mut release = release.trim_end_matches('.').to_owned();
    while let Some(shorter) = release.strip_suffix(".0") {
        release = shorter.to_owned();
    }
    format!("{release}{rest}")
}

/// What the survey needs besides the cache.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The archives' fates: an entry's archives must all be removed (or absent).
    pub plan: &'a Plan,
    pub locked: &'a LockedNames,
    /// Packages never removed (`--keep`).
    pub keep: &'a [PackageName],
    /// Blind spots or unseen users: every archive is kept, so is every built sdist.
    pub doubt: bool,
    pub grace: Duration,
    pub unused_for: Option<Duration>,
    pub now: SystemTime,
}

/// Every `sdists-v*` entry that can go (see the module docs), with warnings for what
/// could not be read (kept). Read-only; never follows a symlink or leaves the root's
/// device.
pub fn survey(cache_root: &Path, cx: &Context<'_>) -> (Vec<Other>, Vec<Warning>) {
    let mut found = Vec::new();
    let mut warnings = Vec::new();
    if cx.doubt {
        return (found, warnings);
    }
    let Ok(root_meta) = std::fs::symlink_metadata(cache_root) else {
        return (found, warnings);
    };
    let dev = root_meta.dev();
    let fates: HashMap<&str, bool> = cx
        .plan
        .archives
        .iter()
        .map(|a| (a.id.as_str(), matches!(a.fate, Fate::Remove { .. })))
        .collect();
    let Ok(buckets) = std::fs::read_dir(cache_root) else {
        return (found, warnings);
    };
    for bucket in buckets.flatten() {
        let name = bucket.file_name();
        let Some(text) = name.to_str() else { continue };
        if bucket_family_name(text) != Some("sdists") {
            continue;
        }
        let Ok(meta) = bucket.metadata() else {
            continue;
        };
        if !meta.is_dir() || meta.dev() != dev {
            continue;
        }
        let mut entries = Vec::new();
        find_entries(&bucket.path(), dev, 0, &mut entries, &mut warnings);
        for entry in entries {
            let Ok(rel) = entry.strip_prefix(cache_root) else {
                continue;
            };
            let rel: Vec<OsString> = rel.iter().map(OsString::from).collect();
            let judged = judge(cache_root, &entry, &rel, dev, &fates, cx);
            if let Some(other) = judged {
                found.push(other);
            }
        }
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    (found, warnings)
}

/// The directories under `dir` holding a revision pointer, not below one, down to
/// [`ENTRY_DEPTH`]. Dot-directories (`.git`) and `src` trees are not entered.
fn find_entries(
    dir: &Path,
    dev: u64,
    depth: usize,
    out: &mut Vec<PathBuf>,
    warnings: &mut Vec<Warning>,
) {
    let entries: Vec<std::fs::DirEntry> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().collect(),
        Err(err) => {
            warnings.push(Warning::new(
                WarningKind::Unreadable,
                format!(
                    "cannot list {}: {err}; the built sdists under it are kept",
                    dir.display()
                ),
            ));
            return;
        }
    };
    if depth > 0
        && entries.iter().any(|e| {
            REVISION_POINTERS.iter().any(|p| e.file_name() == *p)
                && e.file_type().is_ok_and(|t| t.is_file())
        })
    {
        out.push(dir.to_owned());
        return;
    }
    if depth >= ENTRY_DEPTH {
        return;
    }
    for entry in entries {
        let name = entry.file_name();
        if name.as_encoded_bytes().starts_with(b".") || name == "src" {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() && meta.dev() == dev {
            find_entries(&entry.path(), dev, depth + 1, out, warnings);
        }
    }
}

/// What one entry holds, read without following a symlink.
#[derive(Default)]
struct Contents {
    /// Archive ids its symlinks name; `None` for a symlink naming no archive.
    archives: Vec<Option<ArchiveId>>,
    /// `(name, version)` of its built wheels.
    wheels: Vec<(PackageName, String)>,
    /// The newest change time of the entry and what it holds (`src/` aside).
    newest: Option<SystemTime>,
    /// Something could not be read, or lies on another device.
    unreadable: bool,
}

fn ctime(meta: &std::fs::Metadata) -> SystemTime {
    SystemTime::UNIX_EPOCH
        + Duration::new(
            u64::try_from(meta.ctime()).unwrap_or(0),
            u32::try_from(meta.ctime_nsec()).unwrap_or(0),
        )
}

fn read_contents(dir: &Path, dev: u64, depth: usize, into: &mut Contents) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        into.unreadable = true;
        return;
    };
    for entry in entries {
        let Ok(entry) = entry else {
            into.unreadable = true;
            continue;
        };
        let Ok(meta) = entry.metadata() else {
            into.unreadable = true;
            continue;
        };
        if meta.dev() != dev {
            into.unreadable = true;
            continue;
        }
        let name = entry.file_name();
        if meta.is_dir() && name == "src" {
            continue;
        }
        let changed = ctime(&meta);
        into.newest = into.newest.max(Some(changed));
        if meta.file_type().is_symlink() {
            match std::fs::read_link(entry.path()) {
                Ok(target) => into.archives.push(ArchiveId::from_path(&target)),
                Err(_) => into.unreadable = true,
            }
        } else if meta.is_dir() {
            if depth < REVISION_DEPTH {
                read_contents(&entry.path(), dev, depth + 1, into);
            } else {
                into.unreadable = true;
            }
        } else if let Some(wheel) = name.to_str().and_then(|n| n.strip_suffix(".whl")) {
            let mut parts = wheel.split('-');
            if let (Some(name), Some(version)) = (parts.next(), parts.next()) {
                into.wheels
                    .push((PackageName::new(name), version.to_owned()));
            }
        }
    }
}

/// The entry as an [`Other`] if it can go (see the module docs).
fn judge(
    cache_root: &Path,
    entry: &Path,
    rel: &[OsString],
    dev: u64,
    fates: &HashMap<&str, bool>,
    cx: &Context<'_>,
) -> Option<Other> {
    let meta = std::fs::symlink_metadata(entry).ok()?;
    if !meta.is_dir() || meta.dev() != dev {
        return None;
    }
    let mut contents = Contents {
        newest: Some(ctime(&meta)),
        ..Contents::default()
    };
    read_contents(entry, dev, 0, &mut contents);
    if contents.unreadable {
        return None;
    }
    // Every archive it names goes in this run or is gone already.
    for id in &contents.archives {
        let id = id.as_ref()?;
        match fates.get(id.as_str()) {
            Some(true) => {}
            Some(false) => return None,
            None => {
                match std::fs::symlink_metadata(cache_root.join(ARCHIVE_BUCKET).join(id.as_str())) {
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    _ => return None,
                }
            }
        }
    }
    // What it is: `index/<digest>/<name>/<version>`, and the built wheels' names.
    let mut packages: Vec<(PackageName, String)> = contents.wheels.clone();
    if let [_, kind, _, name, version] = rel
        && kind == "index"
        && let (Some(name), Some(version)) = (name.to_str(), version.to_str())
    {
        packages.push((PackageName::new(name), version.to_owned()));
    }
    if packages.is_empty() {
        return None;
    }
    for (name, version) in &packages {
        if cx.keep.contains(name) || cx.locked.names(name, Some(version)) {
            return None;
        }
    }
    let age = cx.now.duration_since(contents.newest?).ok()?;
    if age < cx.grace || cx.unused_for.is_some_and(|unused| age < unused) {
        return None;
    }
    let bucket = rel.first()?.to_str()?.to_owned();
    Some(Other {
        bucket,
        rel: rel.to_vec(),
        kind: OtherKind::Sdist,
        bytes: crate::buckets::leftovers::tree_bytes(entry, dev),
        is_dir: true,
        file: FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_across_spellings_only() {
        assert_eq!(normal_version("1.0.0"), "1");
        assert_eq!(normal_version("1.0"), "1");
        assert_eq!(normal_version("1.0RC1"), "1rc1");
        assert_eq!(normal_version("2.10"), "2.10");
        assert_ne!(normal_version("1.0.1"), normal_version("1.0"));
        assert_ne!(normal_version("10"), normal_version("1"));
    }

    #[test]
    fn a_lock_keeps_its_versions_and_an_unparsed_lock_every_version() {
        let parsed = crate::discover::lockfile::parse(
            b"version = 1\n[[package]]\nname = \"Foo_Bar\"\nversion = \"1.0.0\"\nsource = { registry = \"https://x\" }\n",
        );
        let locked = LockedNames::of(&[LockFile {
            path: PathBuf::from("/p/uv.lock"),
            content: parsed,
        }]);
        let foo = PackageName::new("foo-bar");
        assert!(locked.names(&foo, Some("1.0")));
        assert!(!locked.names(&foo, Some("1.1")));
        assert!(locked.names(&foo, None));
        assert!(!locked.names(&PackageName::new("other"), Some("1.0")));
        let unparsed = LockedNames::of(&[LockFile {
            path: PathBuf::from("/p/uv.lock"),
            content: LockContent::Unparsed {
                reason: "bad".into(),
                names: [foo.clone()].into(),
            },
        }]);
        assert!(unparsed.names(&foo, Some("9.9")));
    }
}
