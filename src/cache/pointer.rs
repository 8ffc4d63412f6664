//! Decoding the files in uv's buckets that name an archive.
//!
//! uv points at `archive-v0/<id>` in four ways: a relative symlink, a
//! Windows-style link file holding the target path as text, a `.rev` file (local wheels:
//! msgpack `[timestamp, Archive]`) and a `.http` file (index and URL wheels: one msgpack
//! `Archive` followed by a cache-policy trailer whose layout changed between versions, so
//! we decode exactly one value from offset 0 and ignore the rest).
//!
//! `Archive` has had three encodings, all seen in real caches (captured bytes in
//! `tests/fixtures/pointers`), and two uv versions can share one cache, so every one must
//! decode:
//!
//! - uv 0.8 to 0.11: an array `[id, hashes, filename, version]`;
//! - uv 0.12.2 to 0.12.x: a map `{id, hashes, filename, version, size}`;
//! - uv 0.13: an array `[id, hashes, filename, version, size]`.
//!
//! So the record is found by its fields, not by its length: an array's first four
//! positions (fields are only ever appended) or a map's keys, with the id validated as an
//! [`ArchiveId`]. Anything else is [`Target::Unreadable`] with the reason: an unreadable
//! pointer never makes an archive look dead, it keeps whatever it might name.
//!
//! The record's hashes are kept as typed [`Sha256`] digests: they say which wheel file the
//! archive was unpacked from. Their shape changed too (`[["Sha256", hex]]` up to 0.12,
//! `[{"Sha256": hex}]` in 0.13); an entry of a shape we do not know is skipped, since the
//! digests are a description of the archive and play no part in whether it is live.
//!
//! Input is bounded before it gets here (pointers are read through `read_regular` with
//! [`POINTER_MAX`]); `rmpv` does not preallocate from declared lengths, and we cap its
//! recursion far below its own limit, so decoding costs memory linear in the input and
//! cannot overflow the stack.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use rmpv::Value;

use crate::cache::archive_id::ArchiveId;

/// Largest `.rev`/`.http` file we read. Real ones are a few hundred bytes (the archive
/// record plus, for `.http`, the response headers of one download); anything near this
/// size is not something uv wrote, and reading it whole would only cost memory.
pub const POINTER_MAX: u64 = 256 * 1024;

/// How a pointer refers to its archive; the file's own format, not its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// An archive, by id.
    Archive(ArchiveId),
    /// A well-formed entry that names no archive (a symlink elsewhere, say).
    Elsewhere,
    /// We could not tell what it names; the reason says why.
    Unreadable(String),
}

/// A SHA-256 digest of a wheel file, as a `.rev`/`.http` record stores it (lowercase hex
/// there; the bytes here, so that two spellings of one digest compare equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// Parses 64 hex digits, either case; `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Some(Self(bytes))
    }

    /// The 32 raw bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a `.rev`/`.http` record says: the archive, and the digests of the wheel it came
/// from (empty when uv computed none, as it does for installs without hash checking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRecord {
    /// The archive the record names.
    pub id: ArchiveId,
    /// The digests of the wheel file it was unpacked from (none when uv recorded none).
    pub sha256: Vec<Sha256>,
}

/// How deep `rmpv` may recurse (it counts a few steps per container level). A record is
/// four containers deep (`[timestamp, [id, [{alg: hex}], …]]`); rmpv's own limit of 1024
/// overflows a 2 MiB thread stack in a debug build, found by `tests/fuzz_pointer.rs`.
const MAX_DEPTH: usize = 64;

/// The only `Archive` layout version uv has written.
const ARCHIVE_FORMAT_VERSION: u64 = 0;

/// Decodes the contents of a `.rev` or `.http` file to what it names.
pub fn decode(kind: PointerKind, bytes: &[u8]) -> Target {
    match decode_record(kind, bytes) {
        Ok(record) => Target::Archive(record.id),
        Err(reason) => Target::Unreadable(reason),
    }
}

/// Decodes the contents of a `.rev` or `.http` file to its archive record, or says why
/// it is not one. Symlinks and link files are not msgpack: for those kinds this is an
/// error, never a panic.
pub fn decode_record(kind: PointerKind, bytes: &[u8]) -> Result<ArchiveRecord, String> {
    let value = rmpv::decode::read_value_with_max_depth(&mut &bytes[..], MAX_DEPTH)
        .map_err(|e| format!("not msgpack: {e}"))?;
    let archive = match kind {
        PointerKind::Rev => match &value {
            // `[timestamp, Archive]`: the timestamp's own shape does not matter.
            Value::Array(items) if items.len() == 2 => &items[1],
            _ => return Err("not a [timestamp, archive] pair".into()),
        },
        PointerKind::Http => &value,
        PointerKind::Symlink | PointerKind::LinkFile => {
            return Err("a symlink or link file is not a msgpack record".into());
        }
    };
    archive_record(archive)
}

/// The fields of an `Archive` that we read, wherever its encoding keeps them.
struct Fields<'a> {
    id: &'a Value,
    hashes: Option<&'a Value>,
    version: &'a Value,
}

/// Reads any `Archive` encoding uv has written: see the module comment.
fn archive_record(archive: &Value) -> Result<ArchiveRecord, String> {
    let fields = match archive {
        Value::Array(items) if items.len() >= 4 => Fields {
            id: &items[0],
            hashes: Some(&items[1]),
            version: &items[3],
        },
        Value::Array(items) => {
            return Err(format!(
                "an archive record of {} fields, fewer than the 4 every uv has written",
                items.len()
            ));
        }
        Value::Map(entries) => {
            let field = |name: &str| {
                entries
                    .iter()
                    .find(|(key, _)| key.as_str() == Some(name))
                    .map(|(_, value)| value)
            };
            match (field("id"), field("version")) {
                (Some(id), Some(version)) => Fields {
                    id,
                    hashes: field("hashes"),
                    version,
                },
                _ => return Err("archive map without `id` and `version`".into()),
            }
        }
        _ => return Err("not an archive record".into()),
    };
    match fields.version.as_u64() {
        Some(ARCHIVE_FORMAT_VERSION) => {}
        _ => {
            return Err(format!("unknown archive format version {}", fields.version));
        }
    }
    let id = fields.id.as_str().ok_or("archive id is not a string")?;
    let id = ArchiveId::new(id).ok_or_else(|| format!("invalid archive id {id:?}"))?;
    let sha256 = fields.hashes.map(sha256_digests).unwrap_or_default();
    Ok(ArchiveRecord { id, sha256 })
}

/// The SHA-256 entries of a `hashes` field, in every shape uv has used: a list of
/// `[algorithm, hex]` pairs, of `{algorithm: hex}` maps or of `{algorithm, digest}`
/// structs, or one map of algorithm to hex. Other algorithms and shapes are skipped.
pub(crate) fn sha256_digests(hashes: &Value) -> Vec<Sha256> {
    let mut digests = Vec::new();
    match hashes {
        Value::Array(entries) => {
            for entry in entries {
                match entry {
                    Value::Array(pair) if pair.len() == 2 && is_sha256(&pair[0]) => {
                        digests.extend(pair[1].as_str().and_then(Sha256::from_hex));
                    }
                    Value::Map(entries) => digests_of_map(entries, &mut digests),
                    _ => {}
                }
            }
        }
        Value::Map(entries) => digests_of_map(entries, &mut digests),
        _ => {}
    }
    digests
}

/// `{algorithm, digest}` (a named struct) or `{algorithm: hex, …}`.
fn digests_of_map(entries: &[(Value, Value)], digests: &mut Vec<Sha256>) {
    let field = |name: &str| entries.iter().find(|(k, _)| k.as_str() == Some(name));
    if let (Some((_, algorithm)), Some((_, digest))) = (field("algorithm"), field("digest")) {
        if is_sha256(algorithm) {
            digests.extend(digest.as_str().and_then(Sha256::from_hex));
        }
        return;
    }
    for (algorithm, digest) in entries {
        if is_sha256(algorithm) {
            digests.extend(digest.as_str().and_then(Sha256::from_hex));
        }
    }
}

fn is_sha256(name: &Value) -> bool {
    name.as_str()
        .is_some_and(|n| n.eq_ignore_ascii_case("sha256"))
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
///
/// Linear in `bytes` for each distinct id length (one rolling hash per length, checked
/// byte for byte on a hit), not in `bytes × known`: a corrupt pointer and a cache of many
/// thousand archives must not multiply.
pub fn ids_mentioned<'a>(
    bytes: &[u8],
    known: impl IntoIterator<Item = &'a ArchiveId>,
) -> Vec<ArchiveId> {
    let known: Vec<&ArchiveId> = known.into_iter().collect();
    let mut by_length: BTreeMap<usize, HashMap<u64, Vec<usize>>> = BTreeMap::new();
    for (index, id) in known.iter().enumerate() {
        let needle = id.as_str().as_bytes();
        by_length
            .entry(needle.len())
            .or_default()
            .entry(rolling_hash(needle))
            .or_default()
            .push(index);
    }
    let mut found = vec![false; known.len()];
    for (length, needles) in by_length {
        if length == 0 || length > bytes.len() {
            continue;
        }
        // A bit per hash bucket: most windows match no id, and this test is one load.
        let mut filter = [0u64; FILTER_WORDS];
        for hash in needles.keys() {
            let bit = (*hash as usize) % (FILTER_WORDS * 64);
            filter[bit / 64] |= 1 << (bit % 64);
        }
        // HASH_BASE^(length - 1), to take the oldest byte out of the window.
        let top = (1..length).fold(1u64, |acc, _| acc.wrapping_mul(HASH_BASE));
        let mut hash = rolling_hash(&bytes[..length]);
        for start in 0..=bytes.len() - length {
            if start > 0 {
                let (out, inn) = (bytes[start - 1], bytes[start + length - 1]);
                hash = hash
                    .wrapping_sub(u64::from(out).wrapping_mul(top))
                    .wrapping_mul(HASH_BASE)
                    .wrapping_add(u64::from(inn));
            }
            let bit = (hash as usize) % (FILTER_WORDS * 64);
            if filter[bit / 64] & (1 << (bit % 64)) == 0 {
                continue;
            }
            let Some(candidates) = needles.get(&hash) else {
                continue;
            };
            let window = &bytes[start..start + length];
            for &index in candidates {
                if !found[index] && known[index].as_str().as_bytes() == window {
                    found[index] = true;
                }
            }
        }
    }
    known
        .into_iter()
        .zip(found)
        .filter(|(_, found)| *found)
        .map(|(id, _)| id.clone())
        .collect()
}

/// Size of the per-length prefilter of [`ids_mentioned`], in 64-bit words (8 KiB).
const FILTER_WORDS: usize = 1024;

/// An odd multiplier for the polynomial rolling hash (wrapping, i.e. modulo 2^64).
const HASH_BASE: u64 = 0x100_0000_01b3;

fn rolling_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |hash, &b| {
        hash.wrapping_mul(HASH_BASE).wrapping_add(u64::from(b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real pointer files, captured from uv 0.8.24, 0.10.12, 0.12.5 and 0.13.9 (see the
    /// fixture README).
    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pointers")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn id(s: &str) -> Target {
        Target::Archive(ArchiveId::new(s).unwrap())
    }

    fn record(kind: PointerKind, name: &str) -> ArchiveRecord {
        decode_record(kind, &fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn sha(hex: &str) -> Sha256 {
        Sha256::from_hex(hex).unwrap()
    }

    /// The wheels the fixtures of 0.8.24 and 0.10.12 were installed from, with hash
    /// checking on, so that uv recorded their digests.
    const ALPHA_SHA256: &str = "941a5cbadd35cb06dfef1cf6635460a801393625ea7160c4035ff44b88df1bff";
    const GAMMA_SHA256: &str = "22b961fd4cbf8ae324076a4cf7da13d2bf3001af67175af39ac3191e0b84feb5";
    /// The gamma wheel of the 0.12.5 and 0.13.9 fixtures.
    const OLD_GAMMA_SHA256: &str =
        "2da16deaa2030ee46eb8590c83571bb5500314f15b44806652ce401fba6aba5e";

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
    fn decodes_the_four_field_array_of_uv_0_8_to_0_11() {
        for (version, rev, http) in [
            ("0.8.24", "v5oSyABWCEOM3s6-mMWKR", "2gHWOlmXp280FGwgegx8z"),
            ("0.10.12", "oGzNcomJAcgwUqXCbhofD", "2xBiB_P223nr3H26FNKpy"),
        ] {
            assert_eq!(
                record(PointerKind::Rev, &format!("uv-{version}.rev")),
                ArchiveRecord {
                    id: ArchiveId::new(rev).unwrap(),
                    sha256: vec![sha(ALPHA_SHA256)],
                },
                "{version}"
            );
            assert_eq!(
                record(PointerKind::Http, &format!("uv-{version}.http")),
                ArchiveRecord {
                    id: ArchiveId::new(http).unwrap(),
                    sha256: vec![sha(GAMMA_SHA256)],
                },
                "{version}"
            );
        }
    }

    #[test]
    fn reads_the_digests_in_each_hashes_shape() {
        // `[["Sha256", hex]]` (0.12.5) and `[{"Sha256": hex}]` (0.13.9).
        for name in ["uv-0.12.5.http", "uv-0.13.9.http"] {
            assert_eq!(
                record(PointerKind::Http, name).sha256,
                vec![sha(OLD_GAMMA_SHA256)],
                "{name}"
            );
        }
        // Installed without hash checking: uv recorded none.
        for name in ["uv-0.12.5.rev", "uv-0.13.9.rev"] {
            assert_eq!(record(PointerKind::Rev, name).sha256, vec![], "{name}");
        }
        // A map of algorithm to digest, and the named struct form, with other algorithms.
        let hex = Value::from(GAMMA_SHA256);
        let map = Value::Map(vec![
            (Value::from("md5"), Value::from("00")),
            (Value::from("sha256"), hex.clone()),
        ]);
        let named = Value::Array(vec![Value::Map(vec![
            (Value::from("algorithm"), Value::from("sha256")),
            (Value::from("digest"), hex),
        ])]);
        assert_eq!(sha256_digests(&map), vec![sha(GAMMA_SHA256)]);
        assert_eq!(sha256_digests(&named), vec![sha(GAMMA_SHA256)]);
        assert_eq!(sha(GAMMA_SHA256).to_string(), GAMMA_SHA256);
        assert_eq!(
            Sha256::from_hex(&GAMMA_SHA256.to_uppercase()),
            Some(sha(GAMMA_SHA256))
        );
        assert_eq!(Sha256::from_hex(&GAMMA_SHA256[1..]), None);
        assert_eq!(Sha256::from_hex(&GAMMA_SHA256.replace('a', "g")), None);
    }

    fn encode(value: &Value) -> Vec<u8> {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, value).unwrap();
        bytes
    }

    #[test]
    fn reads_records_that_grew_fields() {
        // A future uv appending fields to the array, or adding keys to the map.
        let mut grown = rmpv::decode::read_value(&mut &fixture("uv-0.13.9.http")[..]).unwrap();
        if let Value::Array(fields) = &mut grown {
            fields.push(Value::from("new"));
            fields.push(Value::Array(vec![]));
        }
        assert_eq!(
            decode(PointerKind::Http, &encode(&grown)),
            id("FclKTVq99P1u_ne1")
        );
        let mut grown = rmpv::decode::read_value(&mut &fixture("uv-0.12.5.http")[..]).unwrap();
        if let Value::Map(entries) = &mut grown {
            entries.insert(0, (Value::from("origin"), Value::from("x")));
        }
        assert_eq!(
            decode(PointerKind::Http, &encode(&grown)),
            id("Id6ElUyBxg90SHjY")
        );
        // Three fields is a shape no uv wrote.
        let short = Value::Array(vec![
            Value::from("abc"),
            Value::Array(vec![]),
            Value::from("f"),
        ]);
        assert!(matches!(
            decode(PointerKind::Http, &encode(&short)),
            Target::Unreadable(reason) if reason.contains("3 fields")
        ));
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
    fn a_symlink_kind_is_an_error_not_a_panic() {
        assert!(decode_record(PointerKind::Symlink, &fixture("uv-0.13.9.http")).is_err());
        assert!(decode_record(PointerKind::LinkFile, b"").is_err());
    }

    #[test]
    fn a_rev_is_not_read_as_http_and_vice_versa() {
        for version in ["0.8.24", "0.10.12", "0.12.5", "0.13.9"] {
            assert!(matches!(
                decode(PointerKind::Http, &fixture(&format!("uv-{version}.rev"))),
                Target::Unreadable(_)
            ));
            assert!(matches!(
                decode(PointerKind::Rev, &fixture(&format!("uv-{version}.http"))),
                Target::Unreadable(_)
            ));
        }
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
        // At the very start and the very end, and ids of several lengths at once.
        let known = [
            ArchiveId::new("v5oSyABWCEOM3s6-mMWKR").unwrap(),
            ArchiveId::new("ab").unwrap(),
            ArchiveId::new("FclKTVq99P1u_ne1").unwrap(),
            ArchiveId::new("zz").unwrap(),
        ];
        let bytes = b"ab\x00\x00FclKTVq99P1u_ne1\xc1v5oSyABWCEOM3s6-mMWKR";
        assert_eq!(ids_mentioned(bytes, &known), known[..3].to_vec());
        assert_eq!(ids_mentioned(b"a", &known), vec![]);
    }

    #[test]
    fn the_id_scan_is_linear_in_the_pointer_size() {
        // A pointer-sized corrupt file of id-like bytes against a big cache: with one
        // window compare per (byte, id) this is 10^10 steps; with the rolling hash, 10^6.
        let mut rng = fastrand::Rng::with_seed(7);
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
        let mut bytes: Vec<u8> = (0..POINTER_MAX as usize)
            .map(|_| alphabet[rng.usize(..alphabet.len())])
            .collect();
        let known: Vec<ArchiveId> = (0..40_000)
            .map(|_| {
                let id: String = (0..16).map(|_| alphabet[rng.usize(..64)] as char).collect();
                ArchiveId::new(&id).unwrap()
            })
            .collect();
        bytes[1000..1016].copy_from_slice(known[123].as_str().as_bytes());
        let start = std::time::Instant::now();
        let found = ids_mentioned(&bytes, &known);
        assert_eq!(found, vec![known[123].clone()]);
        assert!(start.elapsed().as_secs() < 10, "took {:?}", start.elapsed());
    }
}
