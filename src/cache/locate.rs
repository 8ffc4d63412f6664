//! Stage 1: find uv's cache and prove it is one before anything else looks inside.
//!
//! The order mirrors uv's own: `--cache-dir`, then `UV_CACHE_DIR`, then whatever
//! `uv cache dir` says (it also knows `tool.uv.cache-dir` in config files, which we do not
//! parse), then the platform default. Validation is deliberately strict (uv's
//! `CACHEDIR.TAG` signature *and* an `archive-v0` directory): this is the directory we may
//! later delete in, and pointing the tool at `$HOME` by mistake must be harmless.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cache::layout::{
    ARCHIVE_BUCKET, CACHEDIR_SIGNATURE, CACHEDIR_TAG, CACHEDIR_TAG_MAX, LOCK_FILE,
    bucket_family_name,
};
use crate::sys::paths::BaseDir;
use crate::sys::read::{kind_name, read_regular};

/// The bucket of unpacked wheels and cached venvs.
/// Where the cache location came from, for the report and for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CacheSource {
    /// `--cache-dir`.
    Flag,
    /// `$UV_CACHE_DIR`.
    Env,
    /// What `uv cache dir` printed.
    UvCacheDir,
    /// The platform's default, as uv computes it.
    Default,
}

impl fmt::Display for CacheSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CacheSource::Flag => "--cache-dir",
            CacheSource::Env => "UV_CACHE_DIR",
            CacheSource::UvCacheDir => "`uv cache dir`",
            CacheSource::Default => "the platform default",
        })
    }
}

/// A cache location that has not been checked yet.
#[derive(Debug, Clone)]
pub struct CacheLocation {
    pub path: PathBuf,
    pub source: CacheSource,
}

/// A directory proven to be a uv cache: every later stage takes this, not a bare path.
#[derive(Debug, Clone)]
pub struct CacheDir {
    root: PathBuf,
    /// `root` with every symlink resolved, once, when the cache was validated.
    real: PathBuf,
    pub source: CacheSource,
}

impl CacheDir {
    /// The cache as the user (or uv) named it: what symlink-mode venvs point into.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cache with every symlink resolved: what a canonicalized path is compared with.
    pub fn real(&self) -> &Path {
        &self.real
    }

    pub fn archive_dir(&self) -> PathBuf {
        self.root.join(ARCHIVE_BUCKET)
    }
}

/// Picks the cache location without touching the disk (apart from asking uv).
pub fn locate(flag: Option<&Path>) -> Result<CacheLocation> {
    if let Some(path) = flag {
        return Ok(CacheLocation {
            path: absolute(path)?,
            source: CacheSource::Flag,
        });
    }
    if let Some(path) = std::env::var_os("UV_CACHE_DIR").filter(|v| !v.is_empty()) {
        return Ok(CacheLocation {
            path: absolute(Path::new(&path))?,
            source: CacheSource::Env,
        });
    }
    if let Some(path) = ask_uv() {
        return Ok(CacheLocation {
            path,
            source: CacheSource::UvCacheDir,
        });
    }
    let path = default_cache_dir().context("cannot find a home directory for uv's cache")?;
    Ok(CacheLocation {
        path,
        source: CacheSource::Default,
    })
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))
}

/// `uv cache dir`, when a uv is on PATH and answers sensibly; silence otherwise, since the
/// platform default is the right answer for a machine without uv. The answer is taken
/// byte for byte, less the final newline: a cache path may end in a space.
fn ask_uv() -> Option<PathBuf> {
    let output = Command::new(uv_on_path()?)
        .args(["cache", "dir"])
        .env("UV_NO_PROGRESS", "1")
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let mut bytes = output.stdout;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    #[cfg(unix)]
    let path =
        PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(bytes));
    #[cfg(not(unix))]
    let path = PathBuf::from(String::from_utf8(bytes).ok()?);
    path.is_absolute().then_some(path)
}

/// The `uv` that `PATH` finds, if this process may run it. Root runs it only if it and its
/// directory belong to root and no one else may write them: under `sudo -E` the `PATH` is
/// the user's, and a `uv` the user planted would run as root.
pub fn uv_on_path() -> Option<PathBuf> {
    let name = if cfg!(windows) { "uv.exe" } else { "uv" };
    let found = std::env::split_paths(&std::env::var_os("PATH")?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if rustix::process::geteuid().is_root() {
            let trusted = |path: &Path| {
                std::fs::metadata(path).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0)
            };
            if !trusted(&found) || !found.parent().is_some_and(trusted) {
                return None;
            }
        }
    }
    Some(found)
}

/// uv's default: `$XDG_CACHE_HOME/uv` or `~/.cache/uv` on Unix (macOS included, uv uses
/// XDG paths there too), `%LOCALAPPDATA%\uv\cache` on Windows.
fn default_cache_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        return dirs::cache_dir().map(|d| d.join("uv").join("cache"));
    }
    BaseDir::Cache.path().map(|d| d.join("uv"))
}

/// Whether a tagged directory without `archive-v0` is uv's all the same: uv writes its
/// `.lock` at the root, and versioned buckets (`sdists-v11`, `interpreter-v4`, …), as soon
/// as it first runs. Cargo's `target` carries the same tag and has neither.
fn made_by_uv(path: &Path) -> bool {
    if std::fs::symlink_metadata(path.join(LOCK_FILE)).is_ok_and(|m| m.is_file()) {
        return true;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    entries.take(1024).flatten().any(|entry| {
        let name = entry.file_name();
        name.to_str().and_then(bucket_family_name).is_some()
    })
}

/// The outcome of looking at a location.
#[derive(Debug)]
pub enum Validated {
    Cache(CacheDir),
    /// Nothing there: a machine that never ran uv. Not an error; nothing to prune.
    Missing(CacheLocation),
    /// uv's cache, but uv has not unpacked a wheel into it yet (it makes `archive-v0`
    /// lazily: `uv venv` alone leaves a cache without one). Nothing to prune, and nothing
    /// is created there.
    NoArchives(CacheLocation),
}

/// Checks that `location` is a uv cache. A directory that exists but is not one is an
/// error naming the path and what is missing.
pub fn validate(location: CacheLocation) -> Result<Validated> {
    let path = &location.path;
    match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Validated::Missing(location));
        }
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        Ok(meta) if !meta.is_dir() && !meta.file_type().is_symlink() => {
            bail!("{} is not a directory, so not a uv cache", path.display())
        }
        Ok(_) => {}
    }
    let tag = path.join(CACHEDIR_TAG);
    match read_regular(&tag, CACHEDIR_TAG_MAX) {
        Ok(bytes) if bytes.starts_with(CACHEDIR_SIGNATURE) => {}
        Ok(_) => bail!(
            "{} is not a uv cache: {} lacks the cache directory signature",
            path.display(),
            tag.display()
        ),
        Err(err) if err.is_not_found() => bail!(
            "{} is not a uv cache: it has no {}",
            path.display(),
            tag.display()
        ),
        // It may well be a cache: say what stopped us, not that it is none.
        Err(err) => bail!(
            "cannot tell whether {} is a uv cache: {} could not be read: {err}; \
             make it a readable regular file (uv writes it) or point --cache-dir elsewhere",
            path.display(),
            tag.display()
        ),
    }
    let archive = path.join(ARCHIVE_BUCKET);
    match std::fs::symlink_metadata(&archive) {
        Ok(meta) if meta.is_dir() => {}
        Ok(meta) if meta.file_type().is_symlink() => {
            let target = std::fs::read_link(&archive).map_or_else(
                |e| format!("an unreadable target ({e})"),
                |t| t.display().to_string(),
            );
            bail!(
                "{} is a symlink (to {target}); we refuse to follow it, since deleting \
                 through a link could reach another tree; run with --cache-dir on the \
                 real cache instead, or replace the link with the directory",
                archive.display()
            )
        }
        Ok(meta) => bail!(
            "{} is not a uv cache: {} is a {}, not a directory",
            path.display(),
            archive.display(),
            kind_name(&meta.file_type())
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && made_by_uv(path) => {
            return Ok(Validated::NoArchives(location));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} is not a uv cache: it has a {CACHEDIR_TAG} but no {ARCHIVE_BUCKET}/ directory \
             and nothing else uv writes (cargo's target directories carry the same tag); \
             point --cache-dir at uv's cache (`uv cache dir` prints it)",
            path.display()
        ),
        Err(err) => bail!(
            "cannot tell whether {} is a uv cache: cannot read {}: {err}",
            path.display(),
            archive.display()
        ),
    }
    let real = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve the cache path {}", path.display()))?;
    Ok(Validated::Cache(CacheDir {
        root: location.path,
        real,
        source: location.source,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(path: &Path) -> CacheLocation {
        CacheLocation {
            path: path.to_owned(),
            source: CacheSource::Flag,
        }
    }

    #[test]
    fn a_missing_directory_is_not_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        assert!(matches!(
            validate(location(&missing)).unwrap(),
            Validated::Missing(_)
        ));
    }

    #[test]
    fn a_directory_without_the_tag_is_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join(ARCHIVE_BUCKET)).unwrap();
        let err = validate(location(tmp.path())).unwrap_err().to_string();
        assert!(err.contains(&tmp.path().display().to_string()), "{err}");
        assert!(err.contains("CACHEDIR.TAG"), "{err}");
    }

    #[test]
    fn a_uv_cache_without_archives_yet_is_not_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(CACHEDIR_TAG), CACHEDIR_SIGNATURE).unwrap();
        std::fs::create_dir(tmp.path().join("sdists-v11")).unwrap();
        assert!(matches!(
            validate(location(tmp.path())).unwrap(),
            Validated::NoArchives(_)
        ));
        assert!(!tmp.path().join(ARCHIVE_BUCKET).exists());
    }

    #[test]
    fn a_foreign_cachedir_tag_without_archive_bucket_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(CACHEDIR_TAG), CACHEDIR_SIGNATURE).unwrap();
        let err = validate(location(tmp.path())).unwrap_err().to_string();
        assert!(err.contains("archive-v0"), "{err}");
    }
}
