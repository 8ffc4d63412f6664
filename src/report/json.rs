//! The JSON report: schema version 1 (`docs/json-schema.md`), every path written
//! lossily so that no file name can make it fail.

use super::Report;

/// The schema version written as `schema_version`; bumped only for a change that
/// breaks readers of the previous one.
pub const SCHEMA_VERSION: u32 = 1;

/// Paths are written as UTF-8 with invalid bytes replaced (U+FFFD): JSON has no way to
/// carry raw bytes, and a report must never fail because of one odd file name.
pub(crate) mod lossy {
    use std::path::{Path, PathBuf};

    use serde::Serializer;

    /// Warnings as two keys: `warnings`, the sentences (schema 1), and `warning_kinds`,
    /// the kind of each in the same order (an extension a script can match on).
    pub fn warnings<S: Serializer>(
        warnings: &[crate::warning::Warning],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        let messages: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
        let kinds: Vec<_> = warnings.iter().map(|w| w.kind).collect();
        map.serialize_entry("warnings", &messages)?;
        map.serialize_entry("warning_kinds", &kinds)?;
        map.end()
    }

    pub fn path<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&path.to_string_lossy())
    }

    pub fn option<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        match path {
            Some(path) => self::path(path, s),
            None => s.serialize_none(),
        }
    }

    pub fn vec<S: Serializer>(paths: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(paths.iter().map(|p| p.to_string_lossy()))
    }

    pub fn opt_vec<S: Serializer>(paths: &Option<Vec<PathBuf>>, s: S) -> Result<S::Ok, S::Error> {
        match paths {
            Some(paths) => vec(paths, s),
            None => s.serialize_none(),
        }
    }

    /// `--per-venv` shares, each venv path written like every other path.
    pub fn shares<S: Serializer>(
        shares: &Option<Vec<crate::plan::per_venv::VenvShare>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Share<'a> {
            #[serde(serialize_with = "path")]
            venv: &'a Path,
            archives: &'a [crate::cache::archive_id::ArchiveId],
            bytes: u64,
        }
        match shares {
            None => s.serialize_none(),
            Some(shares) => s.collect_seq(shares.iter().map(|share| Share {
                venv: &share.venv,
                archives: &share.archives,
                bytes: share.bytes,
            })),
        }
    }
}

impl Report {
    /// The report as JSON. Every path is written lossily, so this cannot fail on odd
    /// names; an error here is a bug, reported as one rather than a panic.
    pub fn to_json(&self) -> anyhow::Result<String> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| anyhow::anyhow!("cannot write the report as JSON: {e} (a bug)"))?;
        text.push('\n');
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use crate::evidence::EvidenceKind;
    use crate::plan::Selection;

    /// The human views spell enums by `Display`: it must say what the JSON says.
    #[test]
    fn display_spells_enums_as_the_json_does() {
        let kinds = [
            EvidenceKind::Symlink,
            EvidenceKind::Hardlink,
            EvidenceKind::Content,
            EvidenceKind::Nlink,
            EvidenceKind::Environment,
            EvidenceKind::PointerUnreadable,
            EvidenceKind::Unreadable,
            EvidenceKind::RootUnmounted,
            EvidenceKind::Unrecognized,
            EvidenceKind::SharedCache,
            EvidenceKind::PointerRefused,
            EvidenceKind::PermissionDenied,
            EvidenceKind::Grace,
            EvidenceKind::KeepList,
            EvidenceKind::RecentlyUsed,
            EvidenceKind::WithinSize,
        ];
        for kind in kinds {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        for selection in [Selection::Dead, Selection::UnusedFor, Selection::MaxSize] {
            let json = serde_json::to_string(&selection).unwrap();
            assert_eq!(json, format!("\"{selection}\""));
        }
    }
}
