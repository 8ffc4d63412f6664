//! Stage 3: find the virtualenvs that may use the cache.
//!
//! A root is a directory tree to search: the ones the user names, plus by default uv's
//! tool dir and the git worktree we run in. (The cache's own environments are not roots:
//! they are archives, handled by the liveness stage.) A venv is a directory with a
//! `pyvenv.cfg`; we never descend into one (a venv inside a venv is not a thing, and
//! site-packages can be huge), never follow symlinks (loops, and trees outside the root),
//! stay on one filesystem, and skip trees that never hold venvs (`.git`, `node_modules`,
//! `target`). The cache itself is skipped too: its archives are not user venvs.
//!
//! Every part of a root we could not read is recorded: a venv might hide there, so it is
//! doubt, and the report says where.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::locate::CacheDir;
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

/// A root after the search.
#[derive(Debug, Clone)]
pub struct RootScan {
    pub path: PathBuf,
    pub origin: RootOrigin,
    pub venvs: Vec<PathBuf>,
    /// Subtrees that could not be read, each with the cause.
    pub unreadable: Vec<(PathBuf, String)>,
    /// The root does not exist.
    pub missing: bool,
}

/// Directory names that never hold a venv worth finding and can be enormous.
const SKIPPED_DIRS: [&str; 3] = [".git", "node_modules", "target"];

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
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| dirs::home_dir().map(|h| h.join(".local").join("share")))?
            .join("uv")
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

/// Searches every root for venvs.
pub fn discover(roots: &[RootSpec], cache: &CacheDir, progress: &Progress) -> Vec<RootScan> {
    let cache_real = std::fs::canonicalize(cache.root()).ok();
    let spinner = progress.spinner("finding venvs");
    let scans = roots
        .iter()
        .map(|root| {
            let scan = scan_root(root, cache_real.as_deref());
            spinner.inc(scan.venvs.len() as u64);
            scan
        })
        .collect();
    spinner.finish_and_clear();
    scans
}

fn scan_root(root: &RootSpec, cache_real: Option<&Path>) -> RootScan {
    let mut scan = RootScan {
        path: root.path.clone(),
        origin: root.origin,
        venvs: Vec::new(),
        unreadable: Vec::new(),
        missing: false,
    };
    let mut walk = WalkDir::new(&root.path)
        .follow_links(false)
        .same_file_system(true)
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let not_found = err
                    .io_error()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound);
                if err.depth() == 0 && not_found {
                    scan.missing = true;
                } else {
                    let path = err.path().unwrap_or(&root.path).to_owned();
                    let cause = err
                        .io_error()
                        .map_or_else(|| err.to_string(), ToString::to_string);
                    scan.unreadable.push((path, cause));
                }
                continue;
            }
        };
        if !entry.file_type().is_dir() {
            continue;
        }
        let name = entry.file_name();
        if entry.depth() > 0 && SKIPPED_DIRS.iter().any(|s| name == OsStr::new(s)) {
            walk.skip_current_dir();
            continue;
        }
        if is_cache(entry.path(), cache_real) {
            walk.skip_current_dir();
            continue;
        }
        if is_venv(entry.path()) {
            scan.venvs.push(entry.into_path());
            walk.skip_current_dir();
        }
    }
    scan
}

pub fn is_venv(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join("pyvenv.cfg")).is_ok_and(|m| m.is_file())
}

/// Cheap first test on the name, so we canonicalize only directories that could be it.
fn is_cache(dir: &Path, cache_real: Option<&Path>) -> bool {
    let Some(cache_real) = cache_real else {
        return false;
    };
    dir.file_name() == cache_real.file_name()
        && std::fs::canonicalize(dir).is_ok_and(|real| real == cache_real)
}
