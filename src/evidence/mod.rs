//! Stage 4: which archives are live, and the evidence for each.
//!
//! # Why evidence, and which
//!
//! uv links every file of an archive into a venv's site-packages in one of four ways, and
//! each leaves a different trace (see `docs/uv-cache.md`):
//!
//! - **symlink**: the venv's file is a symlink to `<cache>/archive-v0/<id>/…`. Deleting
//!   the archive breaks the venv at import time, so this evidence must never be missed.
//! - **hardlink**: the venv's file is the archive's file, same `(st_dev, st_ino)`.
//! - **clone / copy**: a separate inode with the same bytes. Link counts prove nothing
//!   here (a clone has `st_nlink == 1`), so the only evidence is content: same
//!   distribution name and version, and byte-identical `METADATA` and `WHEEL` files.
//!
//! We test one file per installed distribution, `*.dist-info/METADATA`: uv links it like
//! every other file (only `RECORD`, `INSTALLER`, `REQUESTED`, `direct_url.json` and
//! `uv_*.json` are written fresh), so it carries the link mode's trace, and it is small.
//! Strongest evidence first: a symlink into our cache, then a shared inode, then content.
//!
//! Cached environments (`uvx`, `uv run --with`) are archives that are whole venvs. Such an
//! archive is live while an `environments-v*` link names it, and a live one is scanned
//! like any venv, so it keeps the wheel archives it links to. `.pth` files naming an
//! archive (uv's `--with` overlays) count as environment evidence too.
//!
//! Pointers we cannot decode are doubt: the archive named by the undecodable pointer's
//! sibling symlink, and every archive whose id appears in its bytes, is kept; a pointer
//! whose bytes we cannot read at all could name anything, and keeps everything.
//!
//! The last safety net, `st_nlink > 1` on a candidate's files (a hardlink venv outside
//! every root), is checked by the plan while it counts bytes, since that walk stats every
//! file of a candidate anyway.

pub(crate) mod collect;
pub(crate) mod lock_match;
pub(crate) mod lock_use;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cache::archive_id::ArchiveId;
use crate::cache::dist::{DistInfo, METADATA_MAX, PackageName, WHEEL_MAX};
use crate::cache::inventory::{ArchiveKind, Inventory};
use crate::cache::layout::{ARCHIVE_BUCKET, BucketFamily};
use crate::cache::locate::CacheDir;
use crate::cache::pointer::{PointerKind, Target};
use crate::evidence::lock_match::LockMatch;
use crate::sys::fs_meta::{FileId, entry_stat};
use crate::sys::read::BlindSpot;
use crate::sys::read::{kind_name, read_regular};

/// Why an archive is kept. Each variant is one reason, with what proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// A file of `venv` is a symlink into the archive.
    Symlink { venv: PathBuf },
    /// A file of `venv` is the archive's file (same inode).
    Hardlink { venv: PathBuf },
    /// `venv` holds a byte-identical copy or clone of the distribution.
    Content { venv: PathBuf },
    /// A file of the archive has more links than the plan can account for: something
    /// outside every root (a venv we did not find) uses it.
    Nlink { file: PathBuf, links: u64 },
    /// A cached environment link or a `.pth` file names the archive.
    Environment { by: PathBuf },
    /// A `uv.lock` names the distribution: the next `uv sync` of its project needs it,
    /// whether or not a venv exists today (see `lock_evidence`).
    Lockfile { lock: PathBuf, by: LockMatch },
    /// A pointer that may name the archive could not be read.
    PointerUnreadable { pointer: PathBuf, reason: String },
    /// Something needed to decide could not be read (inside the archive or a venv).
    Unreadable { path: PathBuf, reason: String },
    /// A registered root is missing because its filesystem is (an unplugged disk, an
    /// automount not up, another mount namespace), and its venvs or locks used the
    /// archive when a run last saw it: kept until it is back or `roots remove`d.
    RootUnmounted {
        root: PathBuf,
        mount: Option<PathBuf>,
    },
    /// The archive is neither a wheel nor a venv; we do not know who uses it.
    Unrecognized,
    /// Other users write the cache and this run cannot see their venvs (`crate::discover::users`):
    /// a symlink venv of theirs may use the archive. `unseen` names them.
    SharedCache { unseen: String },
    /// Created less than the grace window ago: uv may be installing from it right now.
    Grace { age: Duration },
    /// Policy: `--keep` (or the config's `keep`) names its package.
    KeepList { package: PackageName },
    /// Policy: dead, but last used less than `--unused-for` ago.
    RecentlyUsed { ago: Duration },
    /// Policy: dead, but the cache fits `--max-size` without removing it.
    WithinSize,
}

/// The evidence kinds, as the JSON report spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EvidenceKind {
    /// A venv links a file of it by symlink (`--link-mode symlink`).
    Symlink,
    /// A venv holds a hardlink to a file of it (`--link-mode hardlink`).
    Hardlink,
    /// A venv holds a copy or clone of it (same `RECORD` and `METADATA`).
    Content,
    /// A file of it has more links than the venvs found explain: a venv outside every root.
    Nlink,
    /// A cached environment (`environments-v*`) links it.
    Environment,
    /// A `uv.lock` locks it.
    Lockfile,
    /// Doubt: a pointer that may name it could not be read.
    PointerUnreadable,
    /// Doubt: a part of it, or of a root, could not be read.
    Unreadable,
    /// Doubt: a registered root on a filesystem not mounted now used it.
    RootUnmounted,
    /// Doubt: its contents are not a wheel this tool knows.
    Unrecognized,
    /// Doubt: another user of a shared cache was not searched.
    SharedCache,
    /// Doubt: `--apply` could not remove a pointer naming it safely.
    PointerRefused,
    /// Doubt: `--apply` may not remove it, or a pointer naming it (permission).
    PermissionDenied,
    /// Policy: it was created or linked within the grace window (`--grace`).
    Grace,
    #[serde(rename = "keep")]
    /// Policy: `--keep` (or the config's `keep`) names its package.
    KeepList,
    /// Policy: last used less than `--unused-for` ago.
    RecentlyUsed,
    /// Policy: the cache fits `--max-size` without removing it.
    WithinSize,
}

/// Spelled as in the JSON report (kebab-case), so that the human views and `--explain`
/// use the same words.
impl std::fmt::Display for EvidenceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EvidenceKind::Symlink => "symlink",
            EvidenceKind::Hardlink => "hardlink",
            EvidenceKind::Content => "content",
            EvidenceKind::Nlink => "nlink",
            EvidenceKind::Environment => "environment",
            EvidenceKind::Lockfile => "lockfile",
            EvidenceKind::PointerUnreadable => "pointer-unreadable",
            EvidenceKind::Unreadable => "unreadable",
            EvidenceKind::RootUnmounted => "root-unmounted",
            EvidenceKind::Unrecognized => "unrecognized",
            EvidenceKind::SharedCache => "shared-cache",
            EvidenceKind::PointerRefused => "pointer-refused",
            EvidenceKind::PermissionDenied => "permission-denied",
            EvidenceKind::Grace => "grace",
            EvidenceKind::KeepList => "keep",
            EvidenceKind::RecentlyUsed => "recently-used",
            EvidenceKind::WithinSize => "within-size",
        })
    }
}

impl EvidenceKind {
    /// True for evidence that something uses the archive now, as opposed to doubt or a
    /// policy: what the last-use record counts as "seen live".
    pub fn is_use(self) -> bool {
        matches!(
            self,
            Self::Symlink
                | Self::Hardlink
                | Self::Content
                | Self::Nlink
                | Self::Environment
                | Self::Lockfile
        )
    }
}

impl Evidence {
    pub fn kind(&self) -> EvidenceKind {
        match self {
            Evidence::Symlink { .. } => EvidenceKind::Symlink,
            Evidence::Hardlink { .. } => EvidenceKind::Hardlink,
            Evidence::Content { .. } => EvidenceKind::Content,
            Evidence::Nlink { .. } => EvidenceKind::Nlink,
            Evidence::Environment { .. } => EvidenceKind::Environment,
            Evidence::Lockfile { .. } => EvidenceKind::Lockfile,
            Evidence::PointerUnreadable { .. } => EvidenceKind::PointerUnreadable,
            Evidence::Unreadable { .. } => EvidenceKind::Unreadable,
            Evidence::RootUnmounted { .. } => EvidenceKind::RootUnmounted,
            Evidence::Unrecognized => EvidenceKind::Unrecognized,
            Evidence::SharedCache { .. } => EvidenceKind::SharedCache,
            Evidence::Grace { .. } => EvidenceKind::Grace,
            Evidence::KeepList { .. } => EvidenceKind::KeepList,
            Evidence::RecentlyUsed { .. } => EvidenceKind::RecentlyUsed,
            Evidence::WithinSize => EvidenceKind::WithinSize,
        }
    }

    /// The venv this evidence comes from, if it comes from one.
    pub fn venv(&self) -> Option<&Path> {
        match self {
            Evidence::Symlink { venv }
            | Evidence::Hardlink { venv }
            | Evidence::Content { venv } => Some(venv),
            _ => None,
        }
    }

    /// The file that proves it, where that is not the venv itself.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Evidence::Nlink { file, .. } => Some(file),
            Evidence::Environment { by } => Some(by),
            Evidence::Lockfile { lock, .. } => Some(lock),
            Evidence::PointerUnreadable { pointer, .. } => Some(pointer),
            Evidence::Unreadable { path, .. } => Some(path),
            Evidence::RootUnmounted { root, .. } => Some(root),
            _ => None,
        }
    }

    /// A human sentence for the part not covered by kind, venv and path.
    pub fn detail(&self) -> Option<String> {
        match self {
            Evidence::Nlink { links, .. } => Some(format!("{links} links")),
            Evidence::Lockfile { by, .. } => Some(by.to_string()),
            Evidence::PointerUnreadable { reason, .. } | Evidence::Unreadable { reason, .. } => {
                Some(reason.clone())
            }
            Evidence::SharedCache { unseen } => Some(format!(
                "the cache is shared with users whose venvs this run cannot see: {unseen}"
            )),
            Evidence::Grace { age } => Some(format!("created {} ago", rounded(*age))),
            Evidence::KeepList { package } => Some(format!("{package} is on the keep list")),
            Evidence::RecentlyUsed { ago } => Some(format!("last used {} ago", rounded(*ago))),
            Evidence::WithinSize => Some("the cache fits the size target without it".into()),
            Evidence::RootUnmounted { mount, .. } => Some(match mount {
                Some(mount) => format!(
                    "this registered root used it when last seen, and its filesystem ({}) is not mounted",
                    mount.display()
                ),
                None => {
                    "this registered root used it when last seen, and its filesystem is not here"
                        .into()
                }
            }),
            _ => None,
        }
    }
}

/// A duration to the second, for humans.
fn rounded(duration: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(duration.as_secs()))
}

/// Evidence found by one scan, archive by archive.
pub type Findings = Vec<(ArchiveId, Evidence)>;

/// Matches installed distributions against the inventory.
pub struct Matcher<'a> {
    inventory: &'a Inventory,
    cache_root: PathBuf,
    cache_real: PathBuf,
    /// `METADATA` inode of every wheel archive.
    by_inode: HashMap<FileId, ArchiveId>,
    /// Wheel archives by distribution, for content matching.
    by_dist: HashMap<(PackageName, String), Vec<ArchiveId>>,
    /// `(METADATA, WHEEL)` bytes of archives already read for a content match, or what
    /// stopped the read.
    contents: HashMap<ArchiveId, Result<DistFiles, BlindSpot>>,
    /// Whether a directory holding an `archive-v0` is our cache, by path as seen in links.
    our_prefixes: HashMap<PathBuf, bool>,
}

impl<'a> Matcher<'a> {
    pub fn new(inventory: &'a Inventory, cache: &CacheDir) -> Self {
        let mut by_inode = HashMap::new();
        let mut by_dist: HashMap<_, Vec<_>> = HashMap::new();
        for archive in inventory.archives.values() {
            if let ArchiveKind::Wheel { dist, metadata, .. } = &archive.kind {
                if let Some(id) = metadata.id {
                    by_inode.insert(id, archive.id.clone());
                }
                by_dist
                    .entry((dist.name.clone(), dist.version.clone()))
                    .or_default()
                    .push(archive.id.clone());
            }
        }
        Self {
            inventory,
            cache_root: cache.root().to_owned(),
            cache_real: cache.real().to_owned(),
            by_inode,
            by_dist,
            contents: HashMap::new(),
            our_prefixes: HashMap::new(),
        }
    }

    /// Evidence from the cache's own pointers: environment links, and doubt from pointers
    /// that could not be read.
    pub fn pointer_findings(&self) -> Findings {
        let archives = &self.inventory.archives;
        let symlinks: HashMap<&Path, &ArchiveId> = self
            .inventory
            .pointers
            .iter()
            .filter(|p| p.kind == PointerKind::Symlink)
            .filter_map(|p| match &p.target {
                Target::Archive(id) => Some((p.path.as_path(), id)),
                _ => None,
            })
            .collect();
        let mut findings = Findings::new();
        for pointer in &self.inventory.pointers {
            match &pointer.target {
                Target::Archive(id)
                    if pointer.family == BucketFamily::Environments
                        && archives.contains_key(id) =>
                {
                    findings.push((
                        id.clone(),
                        Evidence::Environment {
                            by: pointer.path.clone(),
                        },
                    ));
                }
                Target::Unreadable(reason) => {
                    let sibling = symlinks.get(pointer.path.with_extension("").as_path());
                    let mut named: Vec<&ArchiveId> = pointer.mentions.iter().flatten().collect();
                    named.extend(sibling);
                    // Bytes we never saw could name any archive.
                    if pointer.mentions.is_none() && sibling.is_none() {
                        named = archives.keys().collect();
                    }
                    for id in named {
                        findings.push((
                            id.clone(),
                            Evidence::PointerUnreadable {
                                pointer: pointer.path.clone(),
                                reason: reason.clone(),
                            },
                        ));
                    }
                }
                _ => {}
            }
        }
        findings
    }

    /// Every piece of evidence that `install` holds an archive. `install` is what
    /// discovery found: a venv (with `pyvenv.cfg`), whose distributions live in its
    /// `site-packages`, or a bare site (`uv pip install --target`), which holds them itself.
    pub fn scan_venv(&mut self, install: &Path) -> Findings {
        let mut findings = Findings::new();
        let sites = if crate::discover::is_venv(install) {
            site_packages_dirs(install)
        } else {
            vec![Ok(install.to_owned())]
        };
        for site in sites {
            let site_packages = match site {
                Ok(dir) => dir,
                Err(Unsearchable { path, reason }) => {
                    self.doubt_everything(&path, &reason, &mut findings);
                    continue;
                }
            };
            let entries = match std::fs::read_dir(&site_packages) {
                Ok(entries) => entries,
                Err(err) => {
                    self.doubt_everything(&site_packages, &err.to_string(), &mut findings);
                    continue;
                }
            };
            for entry in entries {
                let path = match entry {
                    Ok(entry) => entry.path(),
                    Err(err) => {
                        let reason = format!("listing stopped: {err}");
                        self.doubt_everything(&site_packages, &reason, &mut findings);
                        break;
                    }
                };
                if let Some(dist) = DistInfo::from_dir(&path) {
                    self.match_dist(install, &dist, &mut findings);
                } else if path.extension() == Some(OsStr::new("pth")) {
                    self.match_pth(&path, &mut findings);
                }
            }
        }
        findings
    }

    /// A site-packages we cannot list might use any wheel archive.
    fn doubt_everything(&self, path: &Path, reason: &str, findings: &mut Findings) {
        for archive in self.inventory.archives.values() {
            if archive.dist().is_some() {
                findings.push((
                    archive.id.clone(),
                    Evidence::Unreadable {
                        path: path.to_owned(),
                        reason: reason.to_owned(),
                    },
                ));
            }
        }
    }

    fn match_dist(&mut self, venv: &Path, dist: &DistInfo, findings: &mut Findings) {
        let metadata = dist.metadata();
        let venv = venv.to_owned();
        match std::fs::symlink_metadata(&metadata) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(&metadata)
                    && let Some(id) = self.our_archive(&target)
                {
                    findings.push((id, Evidence::Symlink { venv }));
                    return;
                }
            }
            Ok(meta) => {
                let stat = entry_stat(&meta);
                if let Some(id) = stat.id.and_then(|i| self.by_inode.get(&i)) {
                    findings.push((id.clone(), Evidence::Hardlink { venv }));
                    return;
                }
                return self.match_content(venv, dist, stat.len, findings);
            }
            Err(_) => {}
        }
        self.match_content(venv, dist, None, findings);
    }

    /// Clone and copy modes: byte-identical `METADATA` and `WHEEL`.
    ///
    /// Sizes are compared first, from `stat`: files of different sizes are not copies of
    /// each other, so a venv's giant (or sparse) `METADATA` is never read, and an
    /// archive's bytes are read only when they could match.
    /// `installed_len` is the size of the venv's `METADATA` when the caller's `lstat`
    /// already saw a regular file there.
    fn match_content(
        &mut self,
        venv: PathBuf,
        dist: &DistInfo,
        installed_len: Option<u64>,
        findings: &mut Findings,
    ) {
        let inventory = self.inventory;
        let Some(candidates) = self.by_dist.get(&(dist.name.clone(), dist.version.clone())) else {
            return;
        };
        let doubt = |path: &Path, reason: &str| Evidence::Unreadable {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let installed_len = match installed_len.map_or_else(|| regular_len(&dist.metadata()), Ok) {
            Ok(len) => len,
            Err(BlindSpot {
                path,
                cause: reason,
            }) => {
                // Same name and version, content unknown: that is doubt.
                for id in candidates {
                    findings.push((id.clone(), doubt(&path, &reason)));
                }
                return;
            }
        };
        let mut installed = None;
        for id in candidates {
            let Some(ArchiveKind::Wheel {
                dist: archive_dist,
                metadata,
            }) = inventory.archives.get(id).map(|a| &a.kind)
            else {
                continue;
            };
            // The inventory's `lstat` gave the size of a regular `METADATA`.
            let archive_len = metadata
                .len
                .map_or_else(|| regular_len(&archive_dist.metadata()), Ok);
            match archive_len {
                Ok(len) if len != installed_len => continue,
                Ok(_) => {}
                Err(BlindSpot {
                    path,
                    cause: reason,
                }) => {
                    findings.push((id.clone(), doubt(&path, &reason)));
                    continue;
                }
            }
            let installed = installed.get_or_insert_with(|| read_pair(dist));
            let installed = match installed {
                Ok(pair) => &*pair,
                Err(BlindSpot {
                    path,
                    cause: reason,
                }) => {
                    findings.push((id.clone(), doubt(path, reason)));
                    continue;
                }
            };
            let archive_pair = self
                .contents
                .entry(id.clone())
                .or_insert_with(|| read_pair(archive_dist));
            match archive_pair {
                Ok(pair) if pair == installed => {
                    findings.push((id.clone(), Evidence::Content { venv: venv.clone() }));
                }
                Ok(_) => {}
                Err(BlindSpot {
                    path,
                    cause: reason,
                }) => findings.push((id.clone(), doubt(path, reason))),
            }
        }
    }

    /// `.pth` lines naming an archive of ours (`uv run --with` overlays).
    ///
    /// A `.pth` we cannot read (a FIFO, a link to a device, a giant) might name any cached
    /// environment, the only archives uv names in `.pth` files: each is kept as doubt.
    fn match_pth(&mut self, pth: &Path, findings: &mut Findings) {
        /// Real `.pth` files are a few lines; an overlay's is one path.
        const PTH_MAX: u64 = 1 << 20;
        let text = match read_regular(pth, PTH_MAX) {
            Ok(bytes) => bytes,
            Err(err) => {
                for archive in self.inventory.archives.values() {
                    if matches!(archive.kind, ArchiveKind::Venv) {
                        findings.push((
                            archive.id.clone(),
                            Evidence::Unreadable {
                                path: pth.to_owned(),
                                reason: err.to_string(),
                            },
                        ));
                    }
                }
                return;
            }
        };
        let text = String::from_utf8_lossy(&text);
        for line in text.lines().filter(|l| l.contains(ARCHIVE_BUCKET)) {
            if let Some(id) = self.our_archive(Path::new(line.trim())) {
                findings.push((id, Evidence::Environment { by: pth.to_owned() }));
            }
        }
    }

    /// The id of an existing archive of *this* cache that `target` points into.
    fn our_archive(&mut self, target: &Path) -> Option<ArchiveId> {
        let id = ArchiveId::from_path(target)?;
        if !self.inventory.archives.contains_key(&id) {
            return None;
        }
        let prefix = target
            .ancestors()
            .find(|a| a.file_name() == Some(OsStr::new(ARCHIVE_BUCKET)))?
            .parent()?
            .to_owned();
        if prefix == self.cache_root {
            return Some(id);
        }
        let ours = *self
            .our_prefixes
            .entry(prefix)
            .or_insert_with_key(|prefix| {
                std::fs::canonicalize(prefix).is_ok_and(|real| real == self.cache_real)
            });
        ours.then_some(id)
    }
}

/// The bytes of a distribution's `METADATA` and `WHEEL`: its content identity.
type DistFiles = (Vec<u8>, Vec<u8>);

/// Both files, each read through the bounded reader: a FIFO, a device or a giant here is
/// an error naming the file, never a hang or a huge allocation.
fn read_pair(dist: &DistInfo) -> Result<DistFiles, BlindSpot> {
    let read = |path: PathBuf, limit| {
        read_regular(&path, limit).map_err(|e| BlindSpot::new(path, e.to_string()))
    };
    Ok((
        read(dist.metadata(), METADATA_MAX)?,
        read(dist.wheel(), WHEEL_MAX)?,
    ))
}

/// The size of the regular file at `path` (following symlinks), or why it has none.
fn regular_len(path: &Path) -> Result<u64, BlindSpot> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(meta.len()),
        Ok(meta) => Err(BlindSpot::new(
            path.to_owned(),
            format!("not a regular file but a {}", kind_name(&meta.file_type())),
        )),
        Err(err) => Err(BlindSpot::new(path, err.to_string())),
    }
}

/// A directory of a venv that might hold a `site-packages` but cannot be searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsearchable {
    pub path: PathBuf,
    pub reason: String,
}

/// `lib/python*/site-packages` (and `lib64` when it is a real directory), or
/// `Lib/site-packages` on Windows. A `lib` or `lib/pythonX.Y` we cannot search is an
/// [`Unsearchable`]: a `site-packages` may be in there, so it is doubt, never "empty".
pub fn site_packages_dirs(venv: &Path) -> Vec<Result<PathBuf, Unsearchable>> {
    let unsearchable = |path: PathBuf, what: &str, err: std::io::Error| Unsearchable {
        path,
        reason: format!("cannot {what}: {err}"),
    };
    let mut dirs = Vec::new();
    for lib in ["lib", "lib64"] {
        let lib = venv.join(lib);
        if !std::fs::symlink_metadata(&lib).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let entries = match std::fs::read_dir(&lib) {
            Ok(entries) => entries,
            Err(err) => {
                dirs.push(Err(unsearchable(lib, "list it", err)));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    dirs.push(Err(unsearchable(lib.clone(), "list it", err)));
                    break;
                }
            };
            if !entry.file_name().as_encoded_bytes().starts_with(b"py") {
                continue;
            }
            let site = entry.path().join("site-packages");
            match std::fs::metadata(&site) {
                Ok(meta) if meta.is_dir() => dirs.push(Ok(site)),
                Ok(_) => {}
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) => {}
                Err(err) => {
                    let what = "search it for site-packages";
                    dirs.push(Err(unsearchable(entry.path(), what, err)));
                }
            }
        }
    }
    let windows = venv.join("Lib").join("site-packages");
    if windows.is_dir() {
        dirs.push(Ok(windows));
    }
    dirs
}
