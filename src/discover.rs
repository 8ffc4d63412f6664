//! Stage 3: find the virtualenvs, and the bare site directories, that may use the cache.
//!
//! A root is a directory tree to search: the ones the user names, plus by default uv's
//! tool dir and the git worktree we run in. (The cache's own environments are not roots:
//! they are archives, handled by the liveness stage.) What we look for is every place uv
//! may have linked an archive's files into, because missing one deletes files a venv
//! imports at run time ([`Install`]):
//!
//! - a venv: a directory with a `pyvenv.cfg`. We never descend into one (a venv inside a
//!   venv is not a thing, and site-packages can be huge);
//! - a venv behind a symlink (`.venv -> /elsewhere/venv`): the one symlink the walk
//!   follows, recorded once by canonical path however many links lead to it. Other
//!   symlinks are not followed (loops, and trees outside the root);
//! - a bare site (`uv pip install --target DIR`): any directory holding a `*.dist-info`
//!   whose `INSTALLER` says `uv`.
//!
//! Trees are skipped by what they are, not what they are called: a directory holding a
//! valid `CACHEDIR.TAG` is a cache (cargo's `target`, pytest's, another uv cache's), and
//! a Python project named `target` is searched like any other. Only `.git` and
//! `node_modules` are skipped by name. Our own cache is skipped: its archives are not user
//! venvs.
//!
//! Filesystems mounted under a root are searched when local ([`crate::mounts`]); network
//! and FUSE mounts are listed as not searched instead of walked, since a stalled server
//! would hang the walk (and the git hook running it).
//!
//! Every part of a root we could not read, and every mount not searched, is recorded: a
//! venv might hide there, so it is doubt, and the report says where.
//!
//! The walk stays cheap: one `stat` per directory (for `pyvenv.cfg`) as before, plus one
//! per symlink, per directory named `target` and per `*.dist-info`.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use walkdir::{DirEntry, WalkDir};

use crate::layout::{CACHEDIR_SIGNATURE, CACHEDIR_TAG};
use crate::locate::CacheDir;
pub use crate::mounts::MountClass;
use crate::mounts::{Mount, MountTable};
use crate::progress::Progress;

/// Why a root is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootOrigin {
    /// `--root`.
    Flag,
    /// `roots` in the config file.
    Config,
    /// The root registry (`--register`, `roots add`, the git hooks).
    Registered,
    /// uv's tool directory (`uv tool install`).
    ToolDir,
    /// The git worktree of the current directory.
    Worktree,
    /// uv's temporary overlay venvs inside the cache (`builds-v*`).
    CacheBuilds,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootSpec {
    pub path: PathBuf,
    pub origin: RootOrigin,
}

/// A place uv installed distributions into, as discovery found it.
///
/// Typed so that the matcher knows where to look: a venv keeps its distributions in
/// `lib/python*/site-packages`, a bare site holds them itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Install {
    /// A directory with a `pyvenv.cfg`. Found through a symlink, it is named by its
    /// canonical path.
    Venv(PathBuf),
    /// A directory without `pyvenv.cfg` holding a `*.dist-info` that uv installed
    /// (`uv pip install --target DIR`, or `--prefix DIR`'s `site-packages`).
    Site(PathBuf),
}

impl Install {
    pub fn path(&self) -> &Path {
        match self {
            Install::Venv(path) | Install::Site(path) => path,
        }
    }
}

/// A filesystem mounted under a root that was deliberately not walked (network, FUSE, or
/// of a type we do not know): a venv might hide there, so it is doubt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSearched {
    /// The mount point, spelled under the root as the walk saw it.
    pub path: PathBuf,
    pub fstype: String,
    pub class: MountClass,
}

/// A root after the search.
#[derive(Debug, Clone)]
pub struct RootScan {
    pub path: PathBuf,
    pub origin: RootOrigin,
    /// Venvs and bare sites, each once.
    pub installs: Vec<Install>,
    /// Subtrees that could not be read, each with the cause.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Mounts under the root that were not walked.
    pub not_searched: Vec<NotSearched>,
    /// The root does not exist.
    pub missing: bool,
}

/// Directory names that never hold a venv worth finding and can be enormous. `target` is
/// not one: cargo marks its own with a `CACHEDIR.TAG`, and a Python project may be called
/// that.
const SKIPPED_DIRS: [&str; 2] = [".git", "node_modules"];

/// More than any real tag holds (cargo's is under 200 bytes); a bigger file is not one.
const CACHEDIR_TAG_MAX: u64 = 4096;

/// uv's `INSTALLER` is `uv` and a newline; anything longer is another installer's.
const INSTALLER_MAX: u64 = 64;

/// The default roots: uv's tool dir and the current git worktree, where they exist.
pub fn default_roots() -> Vec<RootSpec> {
    let mut roots = Vec::new();
    if let Some(path) = tool_dir() {
        roots.push(RootSpec {
            path,
            origin: RootOrigin::ToolDir,
        });
    }
    if let Some(path) = std::env::current_dir()
        .ok()
        .as_deref()
        .and_then(worktree_of)
    {
        roots.push(RootSpec {
            path,
            origin: RootOrigin::Worktree,
        });
    }
    roots.retain(|root| root.path.is_dir());
    roots
}

/// uv's tool dir: `$UV_TOOL_DIR`, else `<data dir>/uv/tools` where the data dir is
/// `$XDG_DATA_HOME` or `~/.local/share` (uv uses XDG paths on macOS too), `%APPDATA%` on
/// Windows.
pub fn tool_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("UV_TOOL_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let data = if cfg!(windows) {
        dirs::data_dir()?.join("uv").join("data")
    } else {
        crate::paths::BaseDir::Data.path()?.join("uv")
    };
    Some(data.join("tools"))
}

/// The top of the git worktree containing `dir` (a `.git` directory, or the `.git` file of
/// a linked worktree), found without running git.
fn worktree_of(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_owned)
}

/// Searches every root for venvs and bare sites.
pub fn discover(roots: &[RootSpec], cache: &CacheDir, progress: &Progress) -> Vec<RootScan> {
    let cache_real = Some(cache.real().to_owned());
    // Without a mount table (not Linux) each walk stays on its root's filesystem.
    let mounts = MountTable::current().ok();
    let spinner = progress.spinner("finding venvs");
    let scans = roots
        .iter()
        .map(|root| {
            let scan = Walker::new(root, cache_real.as_deref(), mounts.as_ref()).run();
            spinner.inc(scan.installs.len() as u64);
            scan
        })
        .collect();
    spinner.finish_and_clear();
    scans
}

/// The search of one root.
struct Walker<'a> {
    scan: RootScan,
    cache_real: Option<&'a Path>,
    /// Mounts below the root, keyed by the path the walk meets them at; `None` when the
    /// mount table is unknown.
    mounts: Option<HashMap<PathBuf, Mount>>,
    /// Canonical paths of the venvs found, so a venv reached directly and through
    /// symlinks is recorded once.
    seen: HashSet<PathBuf>,
    /// Sites found so far: their symlinks are uv's links into the cache, not venvs.
    sites: Vec<PathBuf>,
}

impl<'a> Walker<'a> {
    fn new(root: &RootSpec, cache_real: Option<&'a Path>, table: Option<&MountTable>) -> Self {
        let mounts = table.map(|table| {
            std::fs::canonicalize(&root.path)
                .map(|real| table.under(&real, &root.path))
                // The walk reports a root it cannot open.
                .unwrap_or_default()
        });
        Walker {
            scan: RootScan {
                path: root.path.clone(),
                origin: root.origin,
                installs: Vec::new(),
                unreadable: Vec::new(),
                not_searched: Vec::new(),
                missing: false,
            },
            cache_real,
            mounts,
            seen: HashSet::new(),
            sites: Vec::new(),
        }
    }

    fn run(mut self) -> RootScan {
        let mut walk = WalkDir::new(&self.scan.path)
            .follow_links(false)
            .same_file_system(self.mounts.is_none())
            .into_iter();
        while let Some(entry) = walk.next() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    self.walk_error(&err);
                    continue;
                }
            };
            match self.visit(&entry) {
                Step::Descend => {}
                Step::SkipDir => walk.skip_current_dir(),
            }
        }
        self.scan
    }

    fn walk_error(&mut self, err: &walkdir::Error) {
        let not_found = err
            .io_error()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        if err.depth() == 0 && not_found {
            self.scan.missing = true;
        } else {
            let path = err.path().unwrap_or(&self.scan.path).to_owned();
            let cause = err
                .io_error()
                .map_or_else(|| err.to_string(), ToString::to_string);
            self.scan.unreadable.push((path, cause));
        }
    }

    /// What one entry is, and whether to go on below it (for a file entry, `SkipDir`
    /// skips the rest of its directory).
    fn visit(&mut self, entry: &DirEntry) -> Step {
        let kind = entry.file_type();
        let path = entry.path();
        if kind.is_symlink() {
            if !self.in_site(path) {
                self.follow_to_venv(path);
            }
            return Step::Descend;
        }
        if !kind.is_dir() {
            // A tag met inside a directory marks the rest of it as a cache. Not in the
            // root itself: a root the user names is searched whatever it is.
            let tagged =
                entry.depth() > 1 && entry.file_name() == OsStr::new(CACHEDIR_TAG) && is_tag(path);
            return if tagged { Step::SkipDir } else { Step::Descend };
        }
        if entry.depth() > 0 {
            if let Some(mount) = self.mounts.as_ref().and_then(|m| m.get(path))
                && !mount.class.is_searched()
            {
                if mount.class != MountClass::Pseudo {
                    self.scan.not_searched.push(NotSearched {
                        path: path.to_owned(),
                        fstype: mount.fstype.clone(),
                        class: mount.class,
                    });
                }
                return Step::SkipDir;
            }
            let name = entry.file_name();
            if SKIPPED_DIRS.iter().any(|s| name == OsStr::new(s)) {
                return Step::SkipDir;
            }
            if name == OsStr::new("target") && is_tag(&path.join(CACHEDIR_TAG)) {
                return Step::SkipDir;
            }
            if name.as_encoded_bytes().ends_with(b".dist-info") {
                self.note_site(entry);
                // Metadata only: nothing to find below.
                return Step::SkipDir;
            }
        }
        if is_cache(path, self.cache_real) {
            return Step::SkipDir;
        }
        if is_venv(path) {
            let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
            if self.seen.insert(real) {
                self.scan.installs.push(Install::Venv(path.to_owned()));
            }
            return Step::SkipDir;
        }
        Step::Descend
    }

    /// A symlink to a venv (`.venv -> /elsewhere/venv`) is that venv, recorded once by its
    /// canonical path. No other symlink is followed: a walk through them could loop or
    /// leave the root.
    fn follow_to_venv(&mut self, link: &Path) {
        match std::fs::metadata(link) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return,
            // Dangling, or a loop: no venv there.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound || is_loop(&err) => return,
            Err(err) => {
                // It might lead to a venv we cannot see.
                let cause = format!("cannot follow the symlink: {err}");
                self.scan.unreadable.push((link.to_owned(), cause));
                return;
            }
        }
        if !is_venv(link) {
            return;
        }
        match std::fs::canonicalize(link) {
            Ok(real) => {
                if self.seen.insert(real.clone()) {
                    self.scan.installs.push(Install::Venv(real));
                }
            }
            Err(err) => {
                let cause = format!("cannot resolve the symlink to a venv: {err}");
                self.scan.unreadable.push((link.to_owned(), cause));
            }
        }
    }

    /// A `*.dist-info` uv installed makes its directory a site, unless it is one already.
    fn note_site(&mut self, dist_info: &DirEntry) {
        let Some(site) = dist_info.path().parent() else {
            return;
        };
        if self.sites.iter().any(|s| s == site) || is_venv(site) {
            return;
        }
        let installer =
            crate::read::read_regular(&dist_info.path().join("INSTALLER"), INSTALLER_MAX);
        if installer.is_ok_and(|bytes| bytes.trim_ascii() == b"uv") {
            self.sites.push(site.to_owned());
            self.scan.installs.push(Install::Site(site.to_owned()));
        }
    }

    fn in_site(&self, path: &Path) -> bool {
        self.sites.iter().any(|site| path.starts_with(site))
    }
}

/// What the walk does after an entry.
enum Step {
    Descend,
    SkipDir,
}

pub fn is_venv(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join("pyvenv.cfg")).is_ok_and(|m| m.is_file())
}

/// A valid cache directory tag: a small regular file starting with the signature.
fn is_tag(path: &Path) -> bool {
    crate::read::read_regular(path, CACHEDIR_TAG_MAX)
        .is_ok_and(|bytes| bytes.starts_with(CACHEDIR_SIGNATURE))
}

#[cfg(unix)]
fn is_loop(err: &std::io::Error) -> bool {
    err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

#[cfg(not(unix))]
fn is_loop(_: &std::io::Error) -> bool {
    false
}

/// Cheap first test on the name, so we canonicalize only directories that could be it.
fn is_cache(dir: &Path, cache_real: Option<&Path>) -> bool {
    let Some(cache_real) = cache_real else {
        return false;
    };
    dir.file_name() == cache_real.file_name()
        && std::fs::canonicalize(dir).is_ok_and(|real| real == cache_real)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk of `root` under the mount table `mountinfo` (lines in the kernel's format).
    fn walk(root: &Path, mountinfo: &str) -> RootScan {
        let spec = RootSpec {
            path: root.to_owned(),
            origin: RootOrigin::Flag,
        };
        Walker::new(&spec, None, Some(&MountTable::parse(mountinfo))).run()
    }

    #[test]
    fn network_and_fuse_mounts_under_a_root_are_listed_not_walked() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        for dir in [
            "nfs/a/.venv",
            "sshfs/b/.venv",
            "proc/c/.venv",
            "disk/d/.venv",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            std::fs::write(root.join(dir).join("pyvenv.cfg"), b"home = /usr\n").unwrap();
        }
        let line = |id: u32, point: &str, fstype: &str| {
            format!(
                "{id} 1 0:{id} / {} rw,relatime - {fstype} src rw\n",
                root.join(point).display()
            )
        };
        let mountinfo = [
            line(40, "nfs", "nfs4"),
            line(41, "sshfs", "fuse.sshfs"),
            line(42, "proc", "proc"),
            line(43, "disk", "ext4"),
        ]
        .concat();

        let scan = walk(&root, &mountinfo);
        let found: Vec<_> = scan.installs.iter().map(Install::path).collect();
        assert_eq!(found, [root.join("disk/d/.venv")]);
        let mut listed: Vec<_> = scan
            .not_searched
            .iter()
            .map(|m| (m.path.clone(), m.fstype.as_str(), m.class))
            .collect();
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            listed,
            [
                (root.join("nfs"), "nfs4", MountClass::Network),
                (root.join("sshfs"), "fuse.sshfs", MountClass::Fuse),
            ]
        );
        assert!(scan.unreadable.is_empty(), "{:?}", scan.unreadable);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_and_a_dangling_link_are_nothing_and_never_hang() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::os::unix::fs::symlink("b", root.join("a")).unwrap();
        std::os::unix::fs::symlink("a", root.join("b")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join(".venv")).unwrap();
        std::os::unix::fs::symlink(".", root.join("self")).unwrap();
        let scan = walk(root, "");
        assert!(scan.installs.is_empty(), "{:?}", scan.installs);
        assert!(scan.unreadable.is_empty(), "{:?}", scan.unreadable);
    }
}
