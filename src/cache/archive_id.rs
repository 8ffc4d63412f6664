//! [`ArchiveId`]: the name of one unpacked wheel (or cached venv) under `archive-v0/`.
//!
//! uv treats ids as opaque (16-char nanoids today, 21 chars in older caches, 24-char
//! digests under the content-addressed preview), so we only check that a name *could* be
//! an id: never parse meaning out of it. The check matters for safety: an id is later
//! joined onto `archive-v0/` to delete a directory, so it must be a single plain path
//! component, and dot-names (our own trash, `.tmp` dirs) are never archives.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Component, Path};

/// The directory name of an archive inside `<cache>/archive-v0`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArchiveId(String);

impl ArchiveId {
    /// Accepts `[A-Za-z0-9_-]+`, the alphabet of every id scheme uv has used.
    pub fn new(name: &str) -> Option<Self> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        valid.then(|| Self(name.to_owned()))
    }

    /// The id of an `archive-v0` entry named `name`, if it is one uv could have made.
    pub fn from_os_str(name: &OsStr) -> Option<Self> {
        name.to_str().and_then(Self::new)
    }

    /// Finds the id in a path that goes through `archive-v0/<id>`, as pointer symlinks,
    /// symlink-mode venv files and `.pth` lines do. The last `archive-v0` wins, so a
    /// cache that itself lives under a directory called `archive-v0` still works.
    pub fn from_path(path: &Path) -> Option<Self> {
        let components: Vec<Component<'_>> = path.components().collect();
        let at = components
            .iter()
            .rposition(|c| c.as_os_str() == crate::cache::layout::ARCHIVE_BUCKET)?;
        match components.get(at + 1)? {
            Component::Normal(name) => Self::from_os_str(name),
            _ => None,
        }
    }

    /// The id as uv writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArchiveId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for ArchiveId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_id_scheme_uv_has_used() {
        for id in [
            "DLKZEOjmGzxfJFMK",
            "V1StGXR8_Z5jdHi6B-myT",
            "0a1b2c3d4e5f6g7h8i9j0k1l",
            // nanoid's alphabet includes `-`, so one id in 64 starts with it.
            "-UJdutoKYHZpNbU1",
        ] {
            assert_eq!(ArchiveId::new(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn rejects_names_that_are_not_plain_components() {
        for bad in ["", ".trash-x", "..", "a/b", "a b", "é"] {
            assert_eq!(ArchiveId::new(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn finds_the_id_after_the_last_archive_bucket() {
        let id = |p: &str| ArchiveId::from_path(Path::new(p)).map(|i| i.0);
        assert_eq!(id("../../../../archive-v0/abc123"), Some("abc123".into()));
        assert_eq!(
            id("/c/archive-v0/x/archive-v0/abc/pkg/__init__.py"),
            Some("abc".into())
        );
        assert_eq!(id("/c/wheels-v8/abc"), None);
        assert_eq!(id("/c/archive-v0/.."), None);
    }
}
