//! Cached environments (`environments-v*`): which are stale under `--unused-for`, so that
//! the plan stops counting them as use and `--apply` removes them, with the archives only
//! they kept, in the same locked run.
//!
//! # What uv keeps there (uv's source, and uv 0.10.12 and 0.13.9 run on one cache)
//!
//! - **`uvx` / `uv tool run` and `uv run --with`**: `environments-v2/<hash>/<hash>` is a
//!   symlink to `archive-v0/<id>`, an archive that is a whole venv (its `.lock` beside it
//!   in 0.13.9). uv's cached environment is `cache.entry(CacheBucket::Environments,
//!   interpreter_hash, resolution_hash)`: it `resolve_link`s it and reuses the venv as it
//!   is (`PythonEnvironment::from_root`); when the link is missing it builds the venv in
//!   `builds-v0`, moves it into `archive-v0` and links it.
//! - **PEP 723 scripts** (`uv run script.py`): `cache.shard(CacheBucket::Environments,
//!   "<file stem>-<digest>")` (or the digest alone, for a remote script or stdin), e.g.
//!   `environments-v2/script-2fdc994f9902434e`, is the venv itself, a plain directory with
//!   `pyvenv.cfg`. uv recreates it when it is missing or does not satisfy the script.
//!   Only names of that shape are removed ([`is_script_name`]): a newer uv's preview keeps
//!   centralized project environments there too, `<name>-<impl><X.Y>-<digest>`, which a
//!   project's `.venv` links to; those (and any other venv there) are scanned as venvs
//!   and kept.
//!
//! Both are rebuilt on demand, so one nothing has used for `--unused-for` may go. Without
//! that flag (or its config key) every environment stays.
//!
//! # What an environment says it is for ([`CachedEnvironment`])
//!
//! uv records little (read in uv's source, `ScriptInterpreter::root`, `ScriptEnvironment::
//! get_or_init`, `CachedEnvironment::from_resolution`, and seen on disk with 0.8.24 and
//! 0.13.9):
//!
//! - a script's environment is named `<file stem>-<digest of the script's absolute path>`
//!   and its `pyvenv.cfg` has `prompt = <the script's file name>` (`humanize.py`); the
//!   directory the script is in is recorded nowhere (the digest cannot be reversed), and a
//!   remote or stdin script has no name at all;
//! - a `uvx` / `uv tool run` or `uv run --with` environment is keyed by a digest of the
//!   interpreter and of the resolution, with no prompt: nothing says which command made
//!   it, nor tells the two apart. What is known is what it holds, its `*.dist-info`.
//!
//! So an environment is shown by its script's file name where uv wrote one, else by the
//! packages installed in it. The prompt is read with `O_NOATIME` (reading it must not look
//! like a use, see below); where the kernel refuses that (a file of another user), it is
//! not read.
//!
//! # Last use
//!
//! Reusing an environment changes nothing on disk but access times (checked with strace
//! and `stat` on both uvs): `uvx` reads the venv's `pyvenv.cfg` and its `bin/` script,
//! `uv run --with` reads every file of `bin/` (for its overlay), a script run reads
//! `pyvenv.cfg`. So the last use is the latest of: the environment's own `mtime` (uv
//! wrote it, and its link, when it built it), the link's `mtime`, and the `atime` and
//! `mtime` of `pyvenv.cfg` and of the regular files directly in `bin/`. This tool never
//! reads those files (it `lstat`s `pyvenv.cfg` and reads `METADATA` files only), so it
//! does not refresh them itself. Under `relatime` (Linux's default) the kernel updates an
//! `atime` at most once a day, so last use is known to a day; on a `noatime` mount it is
//! not known at all, and every environment is kept (a warning says so).
//!
//! `ctime` is not counted: uv never changes an environment's metadata on reuse, and what
//! does (`chmod -R`, a restore) is no use. The last-use record (`crate::state`) is no help
//! either: it says an environment's link existed at a run, which is not use.
//!
//! # How the plan uses it
//!
//! A stale archive environment loses its `environment` evidence before the plan decides
//! ([`Environments::stale_archives`]): it becomes a candidate like any dead archive
//! (every other evidence and policy still applies), is not scanned, and so keeps no wheel;
//! apply removes its links (pointers first), then the archive, venvs before wheels. A
//! fresh script environment is a venv like any other ([`Environments::fresh_scripts`]);
//! a stale one is an [`Other`] of kind `environment`, removed whole (renamed to a `.tmp*`
//! name at the cache root, then deleted by descriptor) before any archive, and the links
//! it holds to archive files are counted as going ([`Environments::going_links`]), so that
//! the archives only it kept become candidates and their bytes are promised.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::buckets::leftovers::{Other, OtherKind};
use crate::cache::archive_id::ArchiveId;
use crate::cache::inventory::{ArchiveKind, Inventory};
use crate::cache::layout::BucketFamily;
use crate::cache::pointer::Target;
use crate::sys::fs_meta::FileId;
use crate::sys::read::read_regular_untouched;
use crate::warning::{Warning, WarningKind};

/// Files of `bin/` looked at per environment: a venv has a dozen; more is not uv's.
const BIN_MAX: usize = 256;
/// Entries of a `site-packages` looked at to name what an environment holds.
const SITE_MAX: usize = 4096;
/// A `pyvenv.cfg` is a few lines; more is not uv's.
const PYVENV_CFG_MAX: u64 = 64 << 10;
/// A venv's marker, read by uv on every reuse.
const PYVENV_CFG: &str = "pyvenv.cfg";

/// What the survey found: see the module docs.
#[derive(Debug, Default)]
pub struct Environments {
    /// Archive environments not used for `--unused-for`: their links no longer keep them.
    pub stale_archives: HashSet<ArchiveId>,
    /// Venvs in `environments-v*` that stay (in use, not a script's, or no
    /// `--unused-for`): the plan scans them like any venv.
    pub fresh_scripts: Vec<PathBuf>,
    /// Script environments not used for `--unused-for`: removed whole.
    pub stale_scripts: Vec<Other>,
    /// Links the stale script environments hold to each shared inode: they go too.
    pub going_links: HashMap<FileId, u64>,
    /// Every cached environment found, stale or not, by path: what the report counts
    /// and names.
    pub found: Vec<CachedEnvironment>,
    pub warnings: Vec<Warning>,
}

/// One cached environment, with what uv records of what it is for (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedEnvironment {
    /// The venv: `environments-v*/<name>` for a script's or a project's, the venv
    /// archive (`archive-v0/<id>`) for a `uvx` / `uv run --with` one.
    pub path: PathBuf,
    /// For a `uvx` / `uv run --with` environment, the `environments-v*` link naming it
    /// (the first, by path, when several do).
    pub link: Option<PathBuf>,
    pub kind: EnvironmentKind,
    /// A script's file name, from its `pyvenv.cfg` (`prompt`), when uv wrote one.
    pub script: Option<String>,
    /// `name version` of each distribution installed, by name.
    pub packages: Vec<String>,
    /// Not used for `--unused-for`: this run removes it.
    pub stale: bool,
}

/// What made a cached environment, as far as its name tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EnvironmentKind {
    /// `uv run script.py` of a PEP 723 script.
    Script,
    /// `uvx` / `uv tool run` or `uv run --with` (uv records nothing that tells them apart).
    ToolOrWith,
    /// Any other venv in `environments-v*` (a newer uv's centralized project environment).
    Project,
}

/// How the human report says it.
impl std::fmt::Display for EnvironmentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EnvironmentKind::Script => "script",
            EnvironmentKind::ToolOrWith => "uvx / uv run --with",
            EnvironmentKind::Project => "project",
        })
    }
}

/// What decides staleness.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub unused_for: Option<Duration>,
    pub grace: Duration,
    pub now: SystemTime,
    /// Some doubt (an unreadable root, unseen users) keeps every archive: then no
    /// environment is removed either.
    pub doubt: bool,
}

/// Finds the cached environments and judges each. Read-only.
pub fn survey(cache_root: &Path, inventory: &Inventory, context: &Context) -> Environments {
    let mut found = Environments::default();
    let Ok(root_meta) = std::fs::symlink_metadata(cache_root) else {
        return found;
    };
    let dev = root_meta.dev();
    let judge = context.unused_for.filter(|_| !context.doubt);
    let judge = match judge {
        Some(unused_for) if atime_is_kept(cache_root) => Some(unused_for),
        Some(_) => {
            found.warnings.push(Warning::new(WarningKind::Filesystem, format!(
                "{} is on a noatime mount: when a cached environment was last used is not known, so every one is kept",
                cache_root.display()
            )));
            None
        }
        None => None,
    };
    let stale = |last: SystemTime, unused_for: Duration| {
        let ago = context.now.duration_since(last).unwrap_or(Duration::ZERO);
        ago >= unused_for && ago >= context.grace
    };

    // Archive environments: the links of `environments-v*` naming venv archives.
    let mut links: HashMap<&ArchiveId, Vec<&Path>> = HashMap::new();
    for pointer in &inventory.pointers {
        if pointer.family != BucketFamily::Environments {
            continue;
        }
        if let Target::Archive(id) = &pointer.target
            && inventory
                .archives
                .get(id)
                .is_some_and(|a| matches!(a.kind, ArchiveKind::Venv))
        {
            links.entry(id).or_default().push(&pointer.path);
        }
    }
    if let Some(unused_for) = judge {
        for (id, links) in &links {
            let archive = &inventory.archives[*id];
            let mut last = last_use(&archive.path);
            for link in links {
                // A link on another mount cannot be removed (apply never leaves the
                // cache's mount), so its environment stays, and so do its links.
                let Some(meta) = std::fs::symlink_metadata(link)
                    .ok()
                    .filter(|meta| meta.dev() == dev)
                else {
                    last = None;
                    break;
                };
                last = last.map(|t| t.max(mtime(&meta)));
            }
            // Anything unreadable is doubt: the environment stays.
            if last.is_some_and(|last| stale(last, unused_for)) {
                found.stale_archives.insert((*id).clone());
            }
        }
    }
    for (id, links) in &links {
        let path = &inventory.archives[*id].path;
        found.found.push(CachedEnvironment {
            path: path.clone(),
            link: links.iter().min().map(|l| l.to_path_buf()),
            kind: EnvironmentKind::ToolOrWith,
            script: None,
            packages: packages_of(path),
            stale: found.stale_archives.contains(*id),
        });
    }

    // Script environments: venvs directly in `environments-v*`.
    let Ok(buckets) = std::fs::read_dir(cache_root) else {
        return found;
    };
    for bucket in buckets.flatten() {
        let name = bucket.file_name();
        let is_env_bucket = name
            .to_str()
            .is_some_and(|n| BucketFamily::of(n) == Some(BucketFamily::Environments));
        let Ok(meta) = bucket.metadata() else {
            continue;
        };
        if !is_env_bucket || !meta.is_dir() {
            continue;
        }
        // A bucket on another mount is read all the same: the inventory does not walk its
        // venvs as pointers, so only this scan sees their links into `archive-v0`. Apply
        // never removes anything on another mount, so none of them is stale.
        let bucket_here = meta.dev() == dev;
        let entries = match std::fs::read_dir(bucket.path()) {
            Ok(entries) => entries,
            Err(err) => {
                found.warnings.push(Warning::new(
                    WarningKind::Unreadable,
                    format!(
                        "cannot list {}: {err}; its script environments are kept",
                        bucket.path().display()
                    ),
                ));
                continue;
            }
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let path = entry.path();
            let is_venv =
                std::fs::symlink_metadata(path.join(PYVENV_CFG)).is_ok_and(|m| m.is_file());
            if !meta.is_dir() || !is_venv {
                continue;
            }
            let is_script = entry.file_name().to_str().is_some_and(is_script_name);
            let removable = bucket_here && meta.dev() == dev;
            let is_stale = is_script
                && removable
                && judge.is_some_and(|unused_for| {
                    last_use(&path).is_some_and(|last| stale(last, unused_for))
                });
            found.found.push(CachedEnvironment {
                path: path.clone(),
                link: None,
                kind: if is_script {
                    EnvironmentKind::Script
                } else {
                    EnvironmentKind::Project
                },
                script: if is_script { script_of(&path) } else { None },
                packages: packages_of(&path),
                stale: is_stale,
            });
            if !is_stale {
                found.fresh_scripts.push(path);
                continue;
            }
            count_links(&path, dev, &mut found.going_links);
            let bucket_name = name.to_string_lossy().into_owned();
            found.stale_scripts.push(Other {
                bucket: bucket_name,
                rel: vec![name.clone(), entry.file_name()],
                kind: OtherKind::Environment,
                bytes: crate::buckets::leftovers::tree_bytes(&path, dev),
                is_dir: true,
                file: FileId {
                    dev: meta.dev(),
                    ino: meta.ino(),
                },
            });
        }
    }
    found.fresh_scripts.sort();
    found.stale_scripts.sort_by(|a, b| a.rel.cmp(&b.rel));
    found.found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// The script a script environment belongs to, as uv records it: the `prompt` of its
/// `pyvenv.cfg`, the script's file name. Read without touching its access time, which
/// is how the environment's last use is known ([`last_use`]): where the kernel will not
/// allow that (`O_NOATIME` on another user's file), `None`.
fn script_of(dir: &Path) -> Option<String> {
    let bytes = read_regular_untouched(&dir.join(PYVENV_CFG), PYVENV_CFG_MAX).ok()?;
    String::from_utf8_lossy(&bytes).lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        let value = value.trim();
        (key.trim() == "prompt" && !value.is_empty()).then(|| value.to_owned())
    })
}

/// `name version` of each `*.dist-info` in the venv at `dir`, by name: what a `uvx` or
/// `uv run --with` environment is known by. Listing a directory reads no file, so no
/// access time that counts as use moves.
fn packages_of(dir: &Path) -> Vec<String> {
    let mut packages: Vec<String> = crate::evidence::site_packages_dirs(dir)
        .into_iter()
        .flatten()
        .filter_map(|site| std::fs::read_dir(site).ok())
        .flat_map(|entries| entries.flatten().take(SITE_MAX))
        .filter_map(|entry| crate::cache::dist::DistInfo::from_dir(&entry.path()))
        .map(|dist| format!("{} {}", dist.name, dist.version))
        .collect();
    packages.sort();
    packages.dedup();
    packages
}

/// The latest sign of use of the venv at `dir` (see the module docs); `None` when its
/// own directory cannot be read (then it counts as in use).
fn last_use(dir: &Path) -> Option<SystemTime> {
    let meta = std::fs::symlink_metadata(dir).ok()?;
    let mut last = mtime(&meta);
    let mut seen = |path: &Path| {
        if let Ok(meta) = std::fs::symlink_metadata(path)
            && meta.is_file()
        {
            last = last.max(mtime(&meta)).max(atime(&meta));
        }
    };
    seen(&dir.join(PYVENV_CFG));
    if let Ok(entries) = std::fs::read_dir(dir.join("bin")) {
        for entry in entries.flatten().take(BIN_MAX) {
            seen(&entry.path());
        }
    }
    Some(last)
}

fn mtime(meta: &std::fs::Metadata) -> SystemTime {
    time(meta.mtime(), meta.mtime_nsec())
}

fn atime(meta: &std::fs::Metadata) -> SystemTime {
    time(meta.atime(), meta.atime_nsec())
}

fn time(secs: i64, nsec: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH
        + Duration::new(
            u64::try_from(secs).unwrap_or(0),
            u32::try_from(nsec).unwrap_or(0),
        )
}

/// False on a `noatime` mount, where reading a file leaves no trace.
fn atime_is_kept(path: &Path) -> bool {
    rustix::fs::statvfs(path)
        .is_ok_and(|s| !s.f_flag.contains(rustix::fs::StatVfsMountFlags::NOATIME))
}

/// Adds the links `dir` holds to each multiply linked file (never following a symlink,
/// never leaving `dev`).
fn count_links(dir: &Path, dev: u64, links: &mut HashMap<FileId, u64>) {
    crate::buckets::leftovers::each_entry(dir, dev, |meta| {
        if meta.is_file() && meta.nlink() > 1 {
            let id = FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            };
            *links.entry(id).or_default() += 1;
        }
    });
}

/// Whether `name` is how uv names a script's environment: `<file stem>-<digest>` or
/// `<digest>`, the digest 16 lowercase hex digits, and not a centralized project
/// environment's `<name>-<implementation><X.Y>-<digest>` (`cpython3.12`, `pypy3.10`).
fn is_script_name(name: &str) -> bool {
    let (stem, digest) = name.rsplit_once('-').unwrap_or(("", name));
    let is_digest = digest.len() == 16
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let last = stem.rsplit('-').next().unwrap_or("");
    let version = last.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let looks_like_python = version.len() < last.len()
        && version.split_once('.').is_some_and(|(major, minor)| {
            !major.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().take_while(u8::is_ascii_digit).count() > 0
        });
    is_digest && !looks_like_python
}

#[cfg(test)]
mod tests {
    use super::is_script_name;

    #[test]
    fn script_names_are_told_from_project_environments() {
        for name in [
            "script-2fdc994f9902434e",
            "run_linked-a13f9534a41ccc46",
            "a13f9534a41ccc46",
            "my-tool-0123456789abcdef",
        ] {
            assert!(is_script_name(name), "{name}");
        }
        for name in [
            "app-cpython3.12-0123456789abcdef",
            "cpython3.12-0123456789abcdef",
            "pypy3.10-0123456789abcdef",
            "script-2FDC994F9902434E",
            "script-2fdc994f990243",
            "8b0cbae4892decd7x",
            "",
        ] {
            assert!(!is_script_name(name), "{name}");
        }
    }
}
