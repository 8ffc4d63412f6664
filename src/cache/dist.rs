//! Names and versions of installed distributions, read from `*.dist-info`.
//!
//! Both sides of the match (archives and venvs) go through here so they agree on what
//! "the same distribution" means: a PEP 503-normalized name plus the version string as
//! written in the directory name (uv writes the same string on both sides).

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// Largest `METADATA` we read. Real ones are kilobytes, a few reach a megabyte with a long
/// description; beyond this a file is not worth holding in memory to compare, and is
/// treated as unreadable (which keeps what it might prove).
pub const METADATA_MAX: u64 = 16 << 20;

/// Largest `WHEEL` we read: a handful of `Key: value` lines.
pub const WHEEL_MAX: u64 = 64 << 10;

/// A PEP 503-normalized project name (`Foo_Bar.baz` → `foo-bar-baz`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageName(String);

impl PackageName {
    pub fn new(name: &str) -> Self {
        let mut out = String::with_capacity(name.len());
        let mut separator = false;
        for c in name.chars() {
            if matches!(c, '-' | '_' | '.') {
                separator = true;
                continue;
            }
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.extend(c.to_lowercase());
        }
        Self(out)
    }

    /// The normalized name (used by the unit tests).
    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One `<name>-<version>.dist-info` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistInfo {
    /// The directory itself.
    pub dir: PathBuf,
    pub name: PackageName,
    pub version: String,
}

impl DistInfo {
    /// Parses the directory name; `None` for anything that is not `<name>-<version>.dist-info`.
    pub fn from_dir(dir: &Path) -> Option<Self> {
        let stem = dir
            .file_name()
            .and_then(OsStr::to_str)?
            .strip_suffix(".dist-info")?;
        // Names cannot contain `-` once escaped (wheel spec), so the last dash splits.
        let (name, version) = stem.rsplit_once('-')?;
        if name.is_empty() || version.is_empty() {
            return None;
        }
        Some(Self {
            dir: dir.to_owned(),
            name: PackageName::new(name),
            version: version.to_owned(),
        })
    }

    pub fn metadata(&self) -> PathBuf {
        self.dir.join("METADATA")
    }

    pub fn wheel(&self) -> PathBuf {
        self.dir.join("WHEEL")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_pep_503() {
        for (raw, normal) in [
            ("Foo_Bar.baz", "foo-bar-baz"),
            ("typing_extensions", "typing-extensions"),
            ("a--__b", "a-b"),
            ("Django", "django"),
        ] {
            assert_eq!(PackageName::new(raw).as_str(), normal);
        }
    }

    #[test]
    fn parses_dist_info_names() {
        let d = DistInfo::from_dir(Path::new("/x/typing_extensions-4.12.2.dist-info")).unwrap();
        assert_eq!(d.name.as_str(), "typing-extensions");
        assert_eq!(d.version, "4.12.2");
        assert_eq!(DistInfo::from_dir(Path::new("/x/foo.dist-info")), None);
        assert_eq!(DistInfo::from_dir(Path::new("/x/foo-1.0.egg-info")), None);
    }
}
