//! Decoding the files in uv's buckets that name an archive.
//!
//! uv points at `archive-v0/<id>` in four ways (see `UV_CACHE.md`): a relative symlink, a
//! Windows-style link file holding the target path as text, a `.rev` file (local wheels:
//! msgpack `[timestamp, Archive]`) and a `.http` file (index and URL wheels: one msgpack
//! `Archive` followed by a cache-policy trailer whose layout changed between versions, so
//! we decode exactly one value from offset 0 and ignore the rest).
//!
//! `Archive` is an array `[id, hashes, filename, version, size]` in uv 0.13 (and before
//! 0.12) and a map `{id, hashes, filename, version, size}` in 0.12.2–0.12.x; both must
//! decode because two uv versions can share one cache. Anything else is reported as
//! [`Target::Unreadable`] with the reason: an unreadable pointer never makes an archive
//! look dead, it keeps whatever it might name.

use std::path::Path;

use rmpv::Value;

use crate::archive_id::ArchiveId;

/// How a pointer refers to its archive; the file's own format, not its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointerKind {
    /// `<key> -> ../../../../archive-v0/<id>` (wheels, sdists, environments).
    Symlink,
    /// A small text file holding the archive path, where symlinks are unavailable.
    LinkFile,
    /// `<key>.rev`: msgpack `[timestamp, Archive]`.
    Rev,
    /// `<key>.http`: msgpack `Archive` plus an opaque trailer.
    Http,
}

/// What a pointer names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Archive(ArchiveId),
    /// A well-formed entry that names no archive (a symlink elsewhere, say).
    Elsewhere,
    /// We could not tell what it names; the reason says why.
    Unreadable(String),
}

/// The only `Archive` layout version uv has written.
const ARCHIVE_FORMAT_VERSION: u64 = 0;

/// Decodes the contents of a `.rev` or `.http` file.
pub fn decode(kind: PointerKind, bytes: &[u8]) -> Target {
    let value = match rmpv::decode::read_value(&mut &bytes[..]) {
        Ok(value) => value,
        Err(err) => return Target::Unreadable(format!("not msgpack: {err}")),
    };
    let archive = match kind {
        PointerKind::Rev => match &value {
            Value::Array(items) if items.len() == 2 => &items[1],
            _ => return Target::Unreadable("not a [timestamp, archive] pair".into()),
        },
        PointerKind::Http => &value,
        PointerKind::Symlink | PointerKind::LinkFile => {
            unreachable!("symlinks and link files are not msgpack")
        }
    };
    match archive_id(archive) {
        Ok(id) => Target::Archive(id),
        Err(reason) => Target::Unreadable(reason),
    }
}

/// Reads the id out of either `Archive` encoding.
fn archive_id(archive: &Value) -> Result<ArchiveId, String> {
    let (id, version) = match archive {
        Value::Array(fields) if fields.len() == 5 => (&fields[0], &fields[3]),
        Value::Map(entries) => {
            let field = |name: &str| {
                entries
                    .iter()
                    .find(|(key, _)| key.as_str() == Some(name))
                    .map(|(_, value)| value)
            };
            match (field("id"), field("version")) {
                (Some(id), Some(version)) => (id, version),
                _ => return Err("archive map without `id` and `version`".into()),
            }
        }
        _ => return Err("not an archive record".into()),
    };
    match version.as_u64() {
        Some(ARCHIVE_FORMAT_VERSION) => {}
        other => return Err(format!("unknown archive format version {other:?}")),
    }
    let id = id.as_str().ok_or("archive id is not a string")?;
    ArchiveId::new(id).ok_or_else(|| format!("invalid archive id {id:?}"))
}

/// What a symlink target or the text of a link file names.
pub fn decode_path(target: &Path) -> Target {
    match ArchiveId::from_path(target) {
        Some(id) => Target::Archive(id),
        None => Target::Elsewhere,
    }
}

/// Ids of `known` archives whose names appear in the raw bytes of a pointer we could not
/// decode: the conservative reading of a corrupt pointer is "it might name any of these".
pub fn ids_mentioned<'a>(
    bytes: &[u8],
    known: impl IntoIterator<Item = &'a ArchiveId>,
) -> Vec<ArchiveId> {
    known
        .into_iter()
        .filter(|id| {
            let needle = id.as_str().as_bytes();
            bytes.windows(needle.len()).any(|window| window == needle)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real pointer files, captured from uv 0.12.5 and 0.13.9 (see the fixture README).
    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pointers")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn id(s: &str) -> Target {
        Target::Archive(ArchiveId::new(s).unwrap())
    }

    #[test]
    fn decodes_uv_0_13_9_array_form() {
        assert_eq!(
            decode(PointerKind::Rev, &fixture("uv-0.13.9.rev")),
            id("DLKZEOjmGzxfJFMK")
        );
        assert_eq!(
            decode(PointerKind::Http, &fixture("uv-0.13.9.http")),
            id("FclKTVq99P1u_ne1")
        );
    }

    #[test]
    fn decodes_uv_0_12_5_map_form() {
        assert_eq!(
            decode(PointerKind::Rev, &fixture("uv-0.12.5.rev")),
            id("fAZ8aKGNCUuCLldn")
        );
        assert_eq!(
            decode(PointerKind::Http, &fixture("uv-0.12.5.http")),
            id("Id6ElUyBxg90SHjY")
        );
    }

    #[test]
    fn corrupt_bytes_are_unreadable_not_a_panic() {
        let real = fixture("uv-0.13.9.http");
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xc1],
            b"garbage".to_vec(),
            vec![0x95, 0xb0],
            real[..real.len() / 3].to_vec(),
        ];
        // Every truncation of a real pointer, and every single-byte corruption of its head.
        cases.extend((0..20).map(|n| real[..n].to_vec()));
        cases.extend((0..20).map(|i| {
            let mut bytes = real.clone();
            bytes[i] ^= 0xff;
            bytes
        }));
        for bytes in cases {
            for kind in [PointerKind::Rev, PointerKind::Http] {
                match decode(kind, &bytes) {
                    Target::Unreadable(_) => {}
                    Target::Archive(id) => assert!(
                        // A flipped byte inside the id itself can still decode to a valid
                        // but different id; anything else must be refused.
                        id.as_str().len() == 16,
                        "{bytes:?} decoded to {id}"
                    ),
                    Target::Elsewhere => panic!("{bytes:?} decoded to Elsewhere"),
                }
            }
        }
    }

    #[test]
    fn a_rev_is_not_read_as_http_and_vice_versa() {
        assert!(matches!(
            decode(PointerKind::Http, &fixture("uv-0.13.9.rev")),
            Target::Unreadable(_)
        ));
        assert!(matches!(
            decode(PointerKind::Rev, &fixture("uv-0.13.9.http")),
            Target::Unreadable(_)
        ));
    }

    #[test]
    fn an_unknown_archive_version_is_unreadable() {
        // [id, hashes, filename, version=1, size]
        let mut bytes = vec![0x95, 0xa3];
        bytes.extend(b"abc");
        bytes.extend([0x90, 0xa1, b'f', 0x01, 0xc0]);
        assert!(matches!(
            decode(PointerKind::Http, &bytes),
            Target::Unreadable(reason) if reason.contains("version")
        ));
    }

    #[test]
    fn finds_known_ids_in_corrupt_bytes() {
        let mut bytes = fixture("uv-0.13.9.http");
        bytes[0] = 0xc1;
        let known = [
            ArchiveId::new("FclKTVq99P1u_ne1").unwrap(),
            ArchiveId::new("DLKZEOjmGzxfJFMK").unwrap(),
        ];
        assert_eq!(ids_mentioned(&bytes, &known), vec![known[0].clone()]);
    }
}
