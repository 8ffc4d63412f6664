//! Stage 3: find the virtualenvs, and the bare site directories, that may use the cache.
//!
//! A root is a directory tree to search: the ones the user names, plus by default uv's
//! tool dir, the git worktree we run in and the home directory. (The cache's own
//! environments are not roots: they are archives, handled by the liveness stage.) What we
//! look for is every place uv may have linked an archive's files into, because missing
//! one deletes files a venv imports at run time ([`Install`]):
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
//! `node_modules` are skipped by name, plus the names and paths the config's `exclude`
//! lists ([`Exclude`]). Our own cache is skipped: its archives are not user venvs.
//!
//! The home directory is searched because that is where a new user's projects are, and a
//! symlink-mode venv nobody registered would otherwise lose its files on the first
//! `--apply`. It is big, so its walk also skips what never holds a project venv and can
//! hold millions of files: `~/.cache`, `~/.cargo`, `~/.rustup`, `~/.npm`,
//! `~/Library/Caches` and the Trash folders (and `$XDG_CACHE_HOME`, `$CARGO_HOME`,
//! `$RUSTUP_HOME` where they point). A root inside another root is walked once, as
//! itself: the home walk leaves the worktree, the tool dir and registered roots to their
//! own walks.
//!
//! Filesystems mounted under a root are searched when local ([`crate::sys::mounts`]); network
//! and FUSE mounts are listed as not searched instead of walked, since a stalled server
//! would hang the walk (and the git hook running it). Under a root the user chose, such a
//! mount is a blind spot that keeps every archive. Under the home directory, a root
//! nobody chose, it is listed but keeps nothing ([`NotSearched::blind_spot`]): a user
//! with an `sshfs` mount in `~` would otherwise never prune, and a venv there was never
//! searched before the home directory became a root. A venv on such a mount can only
//! use the (local) cache through symlinks; naming the mount with `--root` searches it.
//!
//! Every part of a root we could not read is recorded: a venv might hide there, so it is
//! doubt, and the report says where. A directory that vanished between its parent's
//! listing and its own is not: whatever it held is gone from the tree, and a venv moved
//! mid-walk from an unwalked place to a walked one is missed by any walk, with or without
//! an error.
//!
//! The walk costs what `find -name` costs and runs on several threads ([`crate::sys::walk`]):
//! per directory one `open` and its listing, whose entry types say which names are
//! directories, symlinks and files, so `pyvenv.cfg` is seen without a `stat`. A `stat` or
//! a read is spent only on a symlink, a `CACHEDIR.TAG`, a `*.dist-info`'s `INSTALLER` and
//! each venv found.

pub(crate) mod lockfile;
pub(crate) mod roots;
#[cfg(unix)]
pub(crate) mod users;

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::ops::ControlFlow;
use std::path::{Component, Path, PathBuf};

use crate::cache::layout::{CACHEDIR_SIGNATURE, CACHEDIR_TAG, CACHEDIR_TAG_MAX};
use crate::cache::locate::CacheDir;
use crate::report::progress::Progress;
pub use crate::sys::mounts::MountClass;
use crate::sys::mounts::{Mount, MountTable};
use crate::sys::read::BlindSpot;
use crate::sys::walk::{self, Kind, ListBuf};

/// Why a root is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
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
    /// The home directory: where projects nobody registered live.
    Home,
    /// uv's temporary overlay venvs inside the cache (`builds-v*`).
    CacheBuilds,
    /// `--all-users`: the home directory of another user of a shared cache
    /// (`crate::discover::users`), walked like [`RootOrigin::Home`].
    UserHome,
    /// `--all-users`: another user's uv tool dir (`~/.local/share/uv/tools`).
    UserToolDir,
    /// `--all-users`: a root another user registered.
    UserRegistered,
}

impl RootOrigin {
    /// A home directory: its caches are skipped, and a network mount in it is listed
    /// without keeping every archive (see the module doc).
    fn is_home(self) -> bool {
        matches!(self, RootOrigin::Home | RootOrigin::UserHome)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootSpec {
    pub path: PathBuf,
    pub origin: RootOrigin,
}

/// A tree the config's `exclude` keeps out of every walk (`exclude = [".tox", "~/data"]`).
/// A root itself is always searched, even inside an excluded tree: naming it says so.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Exclude {
    /// Every directory of this name, under any root (`.tox`).
    Name(OsString),
    /// This directory, however a root spells it (`~/data`, `/srv/mirror`).
    Path(PathBuf),
}

impl TryFrom<String> for Exclude {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let path = Path::new(&text);
        let mut components = path.components();
        let first = components.next();
        match first {
            Some(Component::Normal(first)) if first == "~" => {
                let home = dirs::home_dir()
                    .ok_or_else(|| format!("exclude {text:?}: the home directory is unknown"))?;
                Ok(Exclude::Path(home.join(components.as_path())))
            }
            Some(Component::RootDir | Component::Prefix(_)) => Ok(Exclude::Path(path.to_owned())),
            Some(Component::Normal(name)) if components.next().is_none() => {
                Ok(Exclude::Name(name.to_owned()))
            }
            _ => Err(format!(
                "exclude {text:?}: write a directory name (\".tox\"), an absolute path or a path under ~ (\"~/data\")"
            )),
        }
    }
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
/// of a type we do not know).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSearched {
    /// The mount point, spelled under the root as the walk saw it.
    pub path: PathBuf,
    pub fstype: String,
    pub class: MountClass,
    /// Whether a venv there is doubt that keeps every archive: under a root the user
    /// chose, yes; under the home directory, no (see the module doc).
    pub blind_spot: bool,
}

/// A root after the search.
#[derive(Debug, Clone)]
pub struct RootScan {
    pub path: PathBuf,
    pub origin: RootOrigin,
    /// Venvs and bare sites, each once.
    pub installs: Vec<Install>,
    /// Subtrees that could not be read, each with the cause.
    pub unreadable: Vec<BlindSpot>,
    /// Mounts under the root that were not walked.
    pub not_searched: Vec<NotSearched>,
    /// `uv.lock` files beside a `pyproject.toml`: projects and workspaces whose next sync
    /// needs what they name, venv or not.
    pub locks: Vec<PathBuf>,
    /// The root does not exist.
    pub missing: bool,
    /// Directories listed: what the walk cost.
    pub dirs_searched: u64,
}

/// Directory names that never hold a venv worth finding and can be enormous. `target` is
/// not one: cargo marks its own with a `CACHEDIR.TAG`, and a Python project may be called
/// that.
const SKIPPED_DIRS: [&str; 2] = [".git", "node_modules"];

/// Trees of the home directory that hold caches, toolchains and deleted files, never a
/// project venv, and often millions of files.
const HOME_SKIPPED: [&str; 7] = [
    ".cache",
    ".cargo",
    ".rustup",
    ".npm",
    "Library/Caches",
    ".local/share/Trash",
    ".Trash",
];

/// Where the variables of the same name move [`HOME_SKIPPED`] trees.
const HOME_SKIPPED_VARS: [&str; 3] = ["XDG_CACHE_HOME", "CARGO_HOME", "RUSTUP_HOME"];

/// uv's `INSTALLER` is `uv` and a newline; anything longer is another installer's.
const INSTALLER_MAX: u64 = 64;

/// The default roots: uv's tool dir, the current git worktree and the home directory,
/// where they exist. The home directory comes before the worktree so that, when they are
/// the same (a dotfiles repository at `~`), the home walk's skips apply.
pub fn default_roots() -> Vec<RootSpec> {
    let mut roots = Vec::new();
    if let Some(path) = tool_dir() {
        roots.push(RootSpec {
            path,
            origin: RootOrigin::ToolDir,
        });
    }
    if let Some(path) = home_root() {
        roots.push(RootSpec {
            path,
            origin: RootOrigin::Home,
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

/// The home directory as a root, unless it is unknown, relative, or `/` (a service
/// account's home: searching it would walk the whole machine).
fn home_root() -> Option<PathBuf> {
    let home = dirs::home_dir().filter(|h| h.is_absolute())?;
    (home.parent().is_some()).then_some(home)
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
        crate::sys::paths::BaseDir::Data.path()?.join("uv")
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

/// Searches every root for venvs and bare sites. `excludes` are the config's.
pub fn discover(
    roots: &[RootSpec],
    cache: &CacheDir,
    excludes: &[Exclude],
    progress: &Progress,
) -> Vec<RootScan> {
    // Without a mount table (not Linux) each walk stays on its root's filesystem.
    let mounts = MountTable::current().ok();
    // Every root that exists, by canonical path: a root inside another is walked as itself.
    let reals: Vec<Option<PathBuf>> = roots
        .iter()
        .map(|r| std::fs::canonicalize(&r.path).ok())
        .collect();
    let spinner = progress.spinner("finding venvs");
    let scans = roots
        .iter()
        .zip(&reals)
        .map(|(root, real)| {
            let others = reals.iter().flatten().filter(|r| Some(*r) != real.as_ref());
            let search = Search::new(
                root,
                real.as_deref(),
                Some(cache.real()),
                mounts.as_ref(),
                excludes,
                others,
            );
            let scan = search.run(walk::threads());
            spinner.inc(scan.installs.len() as u64);
            scan
        })
        .collect();
    spinner.finish_and_clear();
    scans
}

/// What one root's walk skips and where it stops; shared by the walk's threads.
struct Search<'a> {
    root: &'a RootSpec,
    cache_real: Option<&'a Path>,
    /// Mounts below the root, keyed by the path the walk meets them at; `None` when the
    /// mount table is unknown (then the walk stays on the root's device).
    mounts: Option<HashMap<PathBuf, Mount>>,
    /// The root's device, for that fallback.
    #[cfg(unix)]
    root_dev: Option<u64>,
    /// Directories not walked, as the walk spells them: the home directory's caches, the
    /// config's excluded paths, other roots.
    skip_paths: HashSet<PathBuf>,
    /// Directory names not walked anywhere.
    skip_names: Vec<OsString>,
    /// Below this depth no mount or skipped path can be met, so none is looked up.
    lookup_depth: usize,
}

/// One thread's findings, merged at the end.
struct Found {
    buf: ListBuf,
    dirs: u64,
    /// Venvs as (spelling, canonical path).
    venvs: Vec<(PathBuf, PathBuf)>,
    sites: Vec<PathBuf>,
    unreadable: Vec<BlindSpot>,
    not_searched: Vec<NotSearched>,
    locks: Vec<PathBuf>,
    missing: bool,
}

/// A directory waiting to be listed.
struct Dir {
    path: PathBuf,
    depth: usize,
    /// Inside a bare site: its symlinks are uv's links into the cache, not venvs.
    in_site: bool,
}

impl<'a> Search<'a> {
    fn new<'o>(
        root: &'a RootSpec,
        real: Option<&Path>,
        cache_real: Option<&'a Path>,
        table: Option<&MountTable>,
        excludes: &[Exclude],
        other_roots: impl Iterator<Item = &'o PathBuf>,
    ) -> Self {
        let walked = &root.path;
        let mounts = table.map(|table| {
            real.map(|real| table.under(real, walked))
                // The walk reports a root it cannot open.
                .unwrap_or_default()
        });
        let mut skip_paths = HashSet::new();
        let mut skip_names: Vec<OsString> = SKIPPED_DIRS.iter().map(OsString::from).collect();
        let mut elsewhere: Vec<PathBuf> = other_roots.cloned().collect();
        if root.origin.is_home() {
            skip_paths.extend(HOME_SKIPPED.iter().map(|rel| walked.join(rel)));
        }
        // The variables are this run's: they move only its own home's caches.
        if root.origin == RootOrigin::Home {
            elsewhere.extend(
                HOME_SKIPPED_VARS
                    .iter()
                    .filter_map(|var| std::env::var_os(var).map(PathBuf::from)),
            );
        }
        for exclude in excludes {
            match exclude {
                Exclude::Name(name) => skip_names.push(name.clone()),
                Exclude::Path(path) => elsewhere.push(path.clone()),
            }
        }
        skip_paths.extend(
            elsewhere
                .iter()
                .filter_map(|path| under_root(path, real, walked)),
        );
        let depth_of = |path: &PathBuf| {
            path.strip_prefix(walked)
                .map_or(0, |rel| rel.components().count())
        };
        let lookup_depth = skip_paths
            .iter()
            .chain(mounts.iter().flat_map(HashMap::keys))
            .map(depth_of)
            .max()
            .unwrap_or(0);
        #[cfg(unix)]
        let root_dev = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(walked).ok().map(|m| m.dev())
        };
        Search {
            root,
            cache_real,
            mounts,
            #[cfg(unix)]
            root_dev,
            skip_paths,
            skip_names,
            lookup_depth,
        }
    }

    fn run(&self, threads: usize) -> RootScan {
        let seed = Dir {
            path: self.root.path.clone(),
            depth: 0,
            in_site: false,
        };
        let found = walk::run(vec![seed], threads, Found::new, |found, dir, out| {
            self.visit(found, dir, out);
        });
        let mut scan = RootScan {
            path: self.root.path.clone(),
            origin: self.root.origin,
            installs: Vec::new(),
            unreadable: Vec::new(),
            not_searched: Vec::new(),
            locks: Vec::new(),
            missing: false,
            dirs_searched: 0,
        };
        let mut venvs = Vec::new();
        for part in found {
            scan.dirs_searched += part.dirs;
            scan.missing |= part.missing;
            scan.unreadable.extend(part.unreadable);
            scan.not_searched.extend(part.not_searched);
            scan.locks.extend(part.locks);
            scan.installs
                .extend(part.sites.into_iter().map(Install::Site));
            venvs.extend(part.venvs);
        }
        // One entry per venv however many ways lead to it, the same whatever the threads did.
        venvs.sort();
        let mut seen = HashSet::new();
        scan.installs.extend(
            venvs
                .into_iter()
                .filter(|(_, real)| seen.insert(real.clone()))
                .map(|(path, _)| Install::Venv(path)),
        );
        scan.installs.sort();
        scan.unreadable.sort();
        scan.locks.sort();
        scan.not_searched.sort_by(|a, b| a.path.cmp(&b.path));
        scan
    }

    /// Lists one directory: a venv is recorded and not entered, a cache is left, anything
    /// else has its symlinks followed to venvs and its subdirectories queued.
    fn visit(&self, found: &mut Found, dir: Dir, out: &mut Vec<Dir>) {
        if is_cache(&dir.path, self.cache_real) {
            return;
        }
        let mut venv = false;
        let mut tagged = false;
        let mut subdirs = Vec::new();
        let mut symlinks = Vec::new();
        let mut dist_infos = Vec::new();
        let (mut lock, mut pyproject) = (false, false);
        // The root itself may be spelled through a symlink (`/home -> /usr/home`).
        let listed = walk::list(&dir.path, dir.depth == 0, &mut found.buf, |name, kind| {
            // A project's lock (a symlink too: read later, never walked through).
            if matches!(kind, Kind::File | Kind::Symlink) {
                lock |= name == crate::discover::lockfile::LOCK_FILE_NAME;
                pyproject |= name == "pyproject.toml";
            }
            match kind {
                Kind::File if name == "pyvenv.cfg" => {
                    venv = true;
                    return ControlFlow::Break(());
                }
                // A tag marks the directory as a cache; not the root: a root the user names
                // is searched whatever it is. The listing goes on, since uv tags every venv
                // it creates, and a venv is a venv.
                Kind::File
                    if name == CACHEDIR_TAG && dir.depth > 0 && is_tag(&dir.path.join(name)) =>
                {
                    tagged = true;
                }
                Kind::Dir if name.as_encoded_bytes().ends_with(b".dist-info") => {
                    dist_infos.push(name.to_owned());
                }
                Kind::Dir if !self.skip_names.iter().any(|s| s == name) => {
                    subdirs.push(dir.path.join(name));
                }
                Kind::Symlink => symlinks.push(dir.path.join(name)),
                _ => {}
            }
            ControlFlow::Continue(())
        });
        match listed {
            Ok(()) => found.dirs += 1,
            Err(err) => {
                let gone = matches!(
                    err.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                );
                if gone && dir.depth == 0 {
                    found.missing = true;
                } else if err.kind() != std::io::ErrorKind::NotFound {
                    found
                        .unreadable
                        .push(BlindSpot::new(dir.path.clone(), err.to_string()));
                }
                // What was listed before a failure is still searched.
            }
        }
        if venv {
            let real = std::fs::canonicalize(&dir.path).unwrap_or_else(|_| dir.path.clone());
            found.venvs.push((dir.path, real));
            return;
        }
        if tagged {
            return;
        }
        if lock && pyproject {
            found
                .locks
                .push(dir.path.join(crate::discover::lockfile::LOCK_FILE_NAME));
        }
        let site = !dir.in_site && dist_infos.iter().any(|d| installed_by_uv(&dir.path, d));
        if site {
            found.sites.push(dir.path.clone());
        }
        let in_site = dir.in_site || site;
        if !in_site {
            for link in symlinks {
                follow_to_venv(found, link);
            }
        }
        let depth = dir.depth + 1;
        for path in subdirs {
            if depth <= self.lookup_depth && self.skipped(found, &path) {
                continue;
            }
            #[cfg(unix)]
            if self.mounts.is_none() && !self.same_device(&path) {
                continue;
            }
            out.push(Dir {
                path,
                depth,
                in_site,
            });
        }
    }

    /// A subdirectory that is a mount not to walk (recorded) or a skipped path.
    fn skipped(&self, found: &mut Found, path: &Path) -> bool {
        if let Some(mount) = self.mounts.as_ref().and_then(|m| m.get(path))
            && !mount.class.is_searched()
        {
            if mount.class != MountClass::Pseudo {
                found.not_searched.push(NotSearched {
                    path: path.to_owned(),
                    fstype: mount.fstype.clone(),
                    class: mount.class,
                    blind_spot: !self.root.origin.is_home(),
                });
            }
            return true;
        }
        self.skip_paths.contains(path)
    }

    /// Without a mount table, a walk stays on its root's filesystem (one `stat` per
    /// directory, only on systems without `/proc/self/mountinfo`).
    #[cfg(unix)]
    fn same_device(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.root_dev, std::fs::symlink_metadata(path)) {
            (Some(root), Ok(meta)) => meta.dev() == root,
            _ => true,
        }
    }
}

impl Found {
    fn new() -> Self {
        Found {
            buf: ListBuf::new(),
            dirs: 0,
            venvs: Vec::new(),
            sites: Vec::new(),
            unreadable: Vec::new(),
            not_searched: Vec::new(),
            locks: Vec::new(),
            missing: false,
        }
    }
}

/// `path` (a canonical or user-written path) spelled under the walk's root, when it lies
/// strictly below the root.
fn under_root(path: &Path, root_real: Option<&Path>, walked: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(path).ok()?;
    let rel = real.strip_prefix(root_real?).ok()?;
    (!rel.as_os_str().is_empty()).then(|| walked.join(rel))
}

/// A symlink to a venv (`.venv -> /elsewhere/venv`) is that venv, recorded by its
/// canonical path. No other symlink is followed: a walk through them could loop or leave
/// the root.
fn follow_to_venv(found: &mut Found, link: PathBuf) {
    match std::fs::metadata(&link) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return,
        // Dangling, or a loop: no venv there.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound || is_loop(&err) => return,
        Err(err) => {
            // It might lead to a venv we cannot see.
            let cause = format!("cannot follow the symlink: {err}");
            found.unreadable.push(BlindSpot::new(link, cause));
            return;
        }
    }
    if !is_venv(&link) {
        return;
    }
    match std::fs::canonicalize(&link) {
        Ok(real) => found.venvs.push((real.clone(), real)),
        Err(err) => {
            let cause = format!("cannot resolve the symlink to a venv: {err}");
            found.unreadable.push(BlindSpot::new(link, cause));
        }
    }
}

/// Whether `<dir>/<dist_info>/INSTALLER` says uv.
fn installed_by_uv(dir: &Path, dist_info: &OsStr) -> bool {
    let installer = dir.join(dist_info).join("INSTALLER");
    crate::sys::read::read_regular(&installer, INSTALLER_MAX)
        .is_ok_and(|bytes| bytes.trim_ascii() == b"uv")
}

pub fn is_venv(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join("pyvenv.cfg")).is_ok_and(|m| m.is_file())
}

/// A valid cache directory tag: a small regular file starting with the signature.
fn is_tag(path: &Path) -> bool {
    crate::sys::read::read_regular(path, CACHEDIR_TAG_MAX)
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
        walk_as(root, RootOrigin::Flag, mountinfo, &[])
    }

    /// The walk of `root` as a root of `origin`, with the config's `excludes`.
    fn walk_as(root: &Path, origin: RootOrigin, mountinfo: &str, excludes: &[Exclude]) -> RootScan {
        let spec = RootSpec {
            path: root.to_owned(),
            origin,
        };
        let real = std::fs::canonicalize(root).ok();
        let table = MountTable::parse(mountinfo);
        let search = Search::new(
            &spec,
            real.as_deref(),
            None,
            Some(&table),
            excludes,
            [].iter(),
        );
        search.run(3)
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

    /// Plants a `pyvenv.cfg` (and nothing else) at each `root/<dir>`.
    fn plant_venvs(root: &Path, dirs: &[&str]) {
        for dir in dirs {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            std::fs::write(root.join(dir).join("pyvenv.cfg"), b"home = /usr\n").unwrap();
        }
    }

    #[test]
    fn the_directories_searched_are_counted_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        // Listed: the root, a, a/b, a/b/c, d, d/.venv (a venv: listed, not entered), e.
        // Not listed: d/.venv/lib, .git, node_modules/x, e/.git/objects.
        plant_venvs(&root, &["d/.venv"]);
        for dir in [
            "a/b/c",
            "d/.venv/lib",
            ".git/objects",
            "node_modules/x",
            "e/.git/objects",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        let scan = walk(&root, "");
        assert_eq!(scan.installs, [Install::Venv(root.join("d/.venv"))]);
        assert_eq!(scan.dirs_searched, 7);
        assert!(!scan.missing);
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
