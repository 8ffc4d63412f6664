//! Matching lock files against the cache: which archives a `uv sync` of those locks would
//! use, whether or not any venv exists today.
//!
//! Three ways a locked distribution names an archive, strongest first:
//!
//! 1. **Wheel digest.** uv writes the SHA-256 of a downloaded wheel file into the cache
//!    pointer (`.http`/`.rev`) of the archive it unpacked, and the lock records the same
//!    digest for that wheel (`hash = "sha256:…"`). Equal digests are the same file, so the
//!    archive is exactly the one a sync would link.
//! 2. **Source-archive digest.** A locked sdist's `hash` is the digest uv records for the
//!    source it downloaded (`sdists-v*/…/revision.http`: msgpack `[id, hashes, …]`). The
//!    wheels built from it are the pointers in the revision directories beside that record,
//!    and the archives they name are kept. All of them, not only the current revision's
//!    `<id>/`: when uv downloads the same file again (an index that does not let it cache
//!    the response) it starts a new, empty revision, and until it builds there a sync
//!    uses or rebuilds what it has; an index never serves two files of one name and
//!    version, so every revision there was built from the locked file.
//! 3. **Name and version.** Path, directory, editable and git sources are built on this
//!    machine: no digest in the lock describes the built wheel. Neither does a
//!    `--find-links` wheel (the lock records its path, no hash). For those every archive
//!    of the same name and version is kept: it may be more than a sync needs, never less.
//!
//! A lock that did not parse keeps every archive of every name its text mentions, and a
//! revision record that cannot be read keeps the built wheels next to it when some locked
//! sdist was not found: any doubt keeps.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use rmpv::Value;
use walkdir::WalkDir;

use crate::cache::archive_id::ArchiveId;
use crate::cache::dist::PackageName;
use crate::cache::inventory::{ArchiveKind, Inventory};
use crate::cache::layout::BucketFamily;
use crate::cache::pointer::{POINTER_MAX, Sha256, Target, sha256_digests};
use crate::discover::lockfile::{LockContent, LockFile};
use crate::sys::read::BlindSpot;
use crate::sys::read::read_regular;
use crate::warning::{Warning, WarningKind};

/// Why a lock keeps an archive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockMatch {
    /// The archive was unpacked from a wheel whose digest the lock records.
    WheelHash(Sha256),
    /// The archive was built from a source archive whose digest the lock records.
    SdistHash(Sha256),
    /// A package the lock builds locally, or locks without a digest, has this name and
    /// version.
    NameVersion,
    /// A source revision record next to the archive could not be read, and the lock
    /// names a source archive we did not find: it may be this one.
    RevisionUnreadable { revision: PathBuf },
    /// The lock did not parse; its text mentions the archive's package name.
    Unparsed,
}

impl fmt::Display for LockMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockMatch::WheelHash(digest) => write!(f, "locks its wheel, sha256:{digest}"),
            LockMatch::SdistHash(digest) => {
                write!(f, "locks the sdist it was built from, sha256:{digest}")
            }
            LockMatch::NameVersion => f.write_str("locks this name and version"),
            LockMatch::RevisionUnreadable { revision } => write!(
                f,
                "locks an sdist, and {} could not be read",
                revision.display()
            ),
            LockMatch::Unparsed => f.write_str("does not parse, and mentions this package"),
        }
    }
}

/// One lock keeping one archive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockKeep {
    /// The lock file.
    pub lock: PathBuf,
    pub by: LockMatch,
}

/// What a set of locks keeps.
#[derive(Debug, Default)]
pub struct LockEvidence {
    /// Per archive, each lock that keeps it (once per lock, strongest match).
    pub kept: BTreeMap<ArchiveId, Vec<LockKeep>>,
    /// Locks that did not parse and revision records that could not be read.
    pub warnings: Vec<Warning>,
}

impl LockEvidence {
    fn keep(&mut self, id: &ArchiveId, lock: &Path, by: LockMatch) {
        let keeps = self.kept.entry(id.clone()).or_default();
        match keeps.iter_mut().find(|k| k.lock == lock) {
            // Variants are declared strongest first.
            Some(existing) if by < existing.by => existing.by = by,
            Some(_) => {}
            None => keeps.push(LockKeep {
                lock: lock.to_owned(),
                by,
            }),
        }
    }
}

/// Which archives of `inventory` the `locks` keep. `cache_root` is where the source-dist
/// buckets are searched for the revisions locked sdists were built from.
pub fn match_locks(locks: &[LockFile], inventory: &Inventory, cache_root: &Path) -> LockEvidence {
    let mut evidence = LockEvidence::default();
    let mut wheel_digests: HashMap<Sha256, Vec<&Path>> = HashMap::new();
    let mut sdist_digests: HashMap<Sha256, Vec<&Path>> = HashMap::new();
    let mut by_name: HashMap<PackageName, Vec<ByName<'_>>> = HashMap::new();
    for lock in locks {
        let path = lock.path.as_path();
        match &lock.content {
            LockContent::Parsed(packages) => {
                for package in packages {
                    for digest in &package.wheels {
                        wheel_digests.entry(*digest).or_default().push(path);
                    }
                    if let Some(digest) = package.sdist {
                        sdist_digests.entry(digest).or_default().push(path);
                    }
                    let no_digest = package.wheels.is_empty() && package.sdist.is_none();
                    let virtual_root =
                        package.source == crate::discover::lockfile::SourceKind::Virtual;
                    if package.source.is_built_locally()
                        || package.unhashed
                        || (no_digest && !virtual_root)
                    {
                        by_name
                            .entry(package.name.clone())
                            .or_default()
                            .push(ByName {
                                version: package.version.as_deref(),
                                lock: path,
                                by: LockMatch::NameVersion,
                            });
                    }
                }
            }
            LockContent::Unparsed { reason, names } => {
                evidence.warnings.push(Warning::new(WarningKind::Lockfile, format!(
                    "cannot parse lock file {}: {reason}; every archive of the {} package names it mentions is kept",
                    path.display(),
                    names.len()
                )));
                for name in names {
                    by_name.entry(name.clone()).or_default().push(ByName {
                        version: None,
                        lock: path,
                        by: LockMatch::Unparsed,
                    });
                }
            }
        }
    }

    for pointer in &inventory.pointers {
        let Target::Archive(id) = &pointer.target else {
            continue;
        };
        for digest in &pointer.sha256 {
            for lock in wheel_digests.get(digest).into_iter().flatten() {
                evidence.keep(id, lock, LockMatch::WheelHash(*digest));
            }
        }
    }

    if !sdist_digests.is_empty() {
        let scan = scan_revisions(cache_root);
        let mut found = BTreeSet::new();
        for revision in &scan.revisions {
            for digest in &revision.sha256 {
                let Some(locks) = sdist_digests.get(digest) else {
                    continue;
                };
                found.insert(*digest);
                for (id, lock) in archives_under(inventory, &revision.dir)
                    .flat_map(|id| locks.iter().map(move |lock| (id, lock)))
                {
                    evidence.keep(id, lock, LockMatch::SdistHash(*digest));
                }
            }
        }
        // Locks with an sdist we did not find may have built it from an unreadable revision.
        let mut missing: Vec<&Path> = sdist_digests
            .iter()
            .filter(|(digest, _)| !found.contains(*digest))
            .flat_map(|(_, locks)| locks.iter().copied())
            .collect();
        missing.sort();
        missing.dedup();
        for BlindSpot {
            path: record,
            cause: reason,
        } in &scan.unreadable
        {
            let Some(dir) = record.parent() else { continue };
            evidence.warnings.push(Warning::new(WarningKind::Unreadable, format!(
                "cannot read source revision {}: {reason}; the wheels built next to it are kept",
                record.display()
            )));
            for id in archives_under(inventory, dir) {
                for lock in &missing {
                    let by = LockMatch::RevisionUnreadable {
                        revision: record.clone(),
                    };
                    evidence.keep(id, lock, by);
                }
            }
        }
    }

    if !by_name.is_empty() {
        for archive in inventory.archives.values() {
            let ArchiveKind::Wheel { dist, .. } = &archive.kind else {
                continue;
            };
            for rule in by_name.get(&dist.name).into_iter().flatten() {
                if rule.version.is_none_or(|v| same_version(v, &dist.version)) {
                    evidence.keep(&archive.id, rule.lock, rule.by.clone());
                }
            }
        }
    }
    evidence
}

/// A lock that keeps every archive of a name: of one version, or of any (`None`).
struct ByName<'a> {
    version: Option<&'a str>,
    lock: &'a Path,
    by: LockMatch,
}

/// The archives named by pointers inside `dir`.
fn archives_under<'a>(
    inventory: &'a Inventory,
    dir: &'a Path,
) -> impl Iterator<Item = &'a ArchiveId> {
    inventory
        .pointers
        .iter()
        .filter(move |p| p.path.starts_with(dir))
        .filter_map(|p| match &p.target {
            Target::Archive(id) => Some(id),
            _ => None,
        })
}

/// One downloaded source archive, and where uv built wheels from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The directory of its `revision.http`: its revision directories hold the wheels
    /// built from it (the current one is `<id>/`).
    pub dir: PathBuf,
    /// Digests of the source archive.
    pub sha256: Vec<Sha256>,
}

#[derive(Debug, Default)]
struct RevisionScan {
    revisions: Vec<Revision>,
    /// Revision records that could not be read or decoded, with why.
    unreadable: Vec<BlindSpot>,
}

/// The record uv keeps per downloaded source archive. Local sources (`revision.rev`)
/// carry no digest a lock records, so only `.http` ones matter here.
const REVISION_RECORD: &str = "revision.http";

/// Every `revision.http` in every source-dist bucket generation, skipping the unpacked
/// `src/` trees (which can hold anything, including a file of that name).
fn scan_revisions(cache_root: &Path) -> RevisionScan {
    let mut scan = RevisionScan::default();
    let Ok(entries) = std::fs::read_dir(cache_root) else {
        // The inventory has already read this directory; a failure now is a race that
        // only loses sdist evidence, which the warning below cannot place either.
        return scan;
    };
    let mut buckets: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            e.file_name().to_str().and_then(BucketFamily::of) == Some(BucketFamily::SourceDists)
                && e.file_type().is_ok_and(|t| t.is_dir())
        })
        .map(|e| e.path())
        .collect();
    buckets.sort();
    for bucket in buckets {
        let mut walk = WalkDir::new(&bucket).follow_links(false).into_iter();
        while let Some(entry) = walk.next() {
            // Unreadable subtrees are already doubt in the inventory (they keep everything).
            let Ok(entry) = entry else { continue };
            if entry.file_type().is_dir() {
                if entry.file_name() == "src" {
                    walk.skip_current_dir();
                }
                continue;
            }
            if entry.file_name() != REVISION_RECORD || !entry.file_type().is_file() {
                continue;
            }
            let path = entry.path();
            let decoded = read_regular(path, POINTER_MAX)
                .map_err(|e| e.to_string())
                .and_then(|bytes| decode_revision(&bytes));
            match (decoded, path.parent()) {
                (Ok((_, sha256)), Some(parent)) => scan.revisions.push(Revision {
                    dir: parent.to_owned(),
                    sha256,
                }),
                (Err(reason), _) => scan.unreadable.push(BlindSpot::new(path, reason)),
                (Ok(_), None) => {}
            }
        }
    }
    scan
}

/// How deep `rmpv` may recurse in a revision record (`[id, [{alg: hex}], size]`).
const MAX_DEPTH: usize = 64;

/// Decodes a `revision.http`: one msgpack value from offset 0 (an HTTP cache-policy
/// trailer follows), `[id, hashes, …]` (uv 0.8 to 0.10 write two fields, 0.13 three) or, from
/// uv 0.12, a map with `id` and `hashes`. The id names the revision's directory, so it must be one
/// plain path component: the archive-id alphabet, which revision ids share.
pub fn decode_revision(bytes: &[u8]) -> Result<(ArchiveId, Vec<Sha256>), String> {
    let value = rmpv::decode::read_value_with_max_depth(&mut &bytes[..], MAX_DEPTH)
        .map_err(|e| format!("not msgpack: {e}"))?;
    let (id, hashes) = match &value {
        Value::Array(items) if items.len() >= 2 => (&items[0], &items[1]),
        Value::Map(entries) => {
            let field = |name: &str| {
                entries
                    .iter()
                    .find(|(key, _)| key.as_str() == Some(name))
                    .map(|(_, value)| value)
            };
            match (field("id"), field("hashes")) {
                (Some(id), Some(hashes)) => (id, hashes),
                _ => return Err("revision map without `id` and `hashes`".into()),
            }
        }
        _ => return Err("not a revision record".into()),
    };
    let id = id.as_str().ok_or("revision id is not a string")?;
    let id = ArchiveId::new(id).ok_or_else(|| format!("invalid revision id {id:?}"))?;
    Ok((id, sha256_digests(hashes)))
}

/// PEP 440 equality as far as it matters here: case, `-`/`_` spelled as `.`, a leading
/// `v`, and trailing zero release segments (`1.0` is `1`) do not make two versions
/// differ. Anything that still differs is another version; a lenient answer only keeps more.
fn same_version(a: &str, b: &str) -> bool {
    a == b || normalize_version(a) == normalize_version(b)
}

fn normalize_version(version: &str) -> String {
    let lower = version.trim().to_lowercase().replace(['-', '_'], ".");
    let lower = lower.strip_prefix('v').unwrap_or(&lower);
    let release_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (release, rest) = lower.split_at(release_end);
    let mut segments: Vec<&str> = release.split('.').collect();
    // A trailing `.` belongs to what follows (`1.0.post1`); drop empties, then zeros.
    while segments.last() == Some(&"") {
        segments.pop();
    }
    while segments.len() > 1
        && segments
            .last()
            .is_some_and(|s| s.bytes().all(|b| b == b'0'))
    {
        segments.pop();
    }
    let segments: Vec<String> = segments
        .iter()
        .map(|s| s.trim_start_matches('0'))
        .map(|s| {
            if s.is_empty() {
                "0".to_owned()
            } else {
                s.to_owned()
            }
        })
        .collect();
    format!("{}{}", segments.join("."), rest.trim_start_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::dist::DistInfo;
    use crate::cache::inventory::{Archive, Pointer};
    use crate::cache::pointer::PointerKind;
    use crate::discover::lockfile::{LockContent, parse};
    use crate::sys::fs_meta::EntryStat;

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    fn sha(hex: &str) -> Sha256 {
        Sha256::from_hex(hex).expect("64 hex digits")
    }

    const ALPHA: &str = "64aad285ccc17456b86498e44c74301abc610e4c1c450fe881842065190fc143";
    const DELTA_SDIST: &str = "6b0767cb75f909c0ee449545870859fc58cb3e983d6ef9596281f295ca0d42f0";

    #[test]
    fn decodes_real_revision_records() {
        for (file, id) in [
            ("locks/revision-0.13.9.http", "W91XBa7vulWGAAFX"),
            ("locks/revision-0.10.12.http", "4-9wNMgjdFrQllRkp2tz4"),
            ("locks/revision-0.12.5.http", "ZfafkgH57Ffrugo9"),
        ] {
            let (got, digests) = decode_revision(&fixture(file)).expect(file);
            assert_eq!(got.as_str(), id, "{file}");
            assert_eq!(digests, vec![sha(DELTA_SDIST)], "{file}");
        }
        // A wheel pointer is not a revision whose id could climb out of its directory.
        assert!(decode_revision(b"\x92\xa2..\x90").is_err());
        assert!(decode_revision(b"\x92\xa3a/b\x90").is_err());
        assert!(decode_revision(b"").is_err());
    }

    #[test]
    fn versions_compare_like_pep_440_where_it_matters() {
        for (a, b) in [
            ("1.0", "1"),
            ("1.0.0", "1.0"),
            ("V2.1", "2.1"),
            ("1.0rc1", "1.0RC1"),
            ("1.0.post1", "1.0-post1"),
            ("1.0+local_a", "1.0+local.a"),
            ("01.2", "1.2"),
        ] {
            assert!(same_version(a, b), "{a} = {b}");
        }
        for (a, b) in [
            ("1.0", "1.1"),
            ("1.0", "1.0.1"),
            ("1.0", "1.0rc1"),
            ("10", "1"),
        ] {
            assert!(!same_version(a, b), "{a} != {b}");
        }
    }

    fn wheel_archive(root: &Path, id: &str, name: &str, version: &str) -> Archive {
        let path = root.join("archive-v0").join(id);
        Archive {
            id: ArchiveId::new(id).expect("id"),
            kind: ArchiveKind::Wheel {
                dist: DistInfo::from_dir(&path.join(format!("{name}-{version}.dist-info")))
                    .expect("dist-info"),
                metadata: EntryStat {
                    id: None,
                    nlink: 1,
                    allocated: 0,
                    is_dir: false,
                    len: None,
                },
            },
            path,
            created: None,
            linked: None,
            owner: None,
        }
    }

    fn pointer(path: PathBuf, kind: PointerKind, id: &str, sha256: Vec<Sha256>) -> Pointer {
        Pointer {
            path,
            kind,
            family: BucketFamily::Wheels,
            target: Target::Archive(ArchiveId::new(id).expect("id")),
            mentions: Some(Vec::new()),
            sha256,
        }
    }

    /// The archives and pointers uv 0.13.9 left for the fixture workspace, plus the same
    /// packages at versions the lock does not name. The digests are the ones uv wrote.
    fn inventory(root: &Path) -> Inventory {
        let mut inv = Inventory::default();
        for (id, name, version) in [
            ("QpRKOmnRjkvlkZze", "alpha", "1.0"),
            ("alpha2aaaaaaaaaa", "alpha", "2.0"),
            ("k3CHgPZ6YXK4OIjD", "delta", "1.0"),
            ("delta0old0000000", "delta", "1.0"),
            ("delta0rebuilt000", "delta", "1.0"),
            ("aNgjhJpnhtV2Fi5J", "dirpkg", "0.3"),
            ("dirpkg0old000000", "dirpkg", "0.2"),
            ("1RDINJ_Yp-XA2BMX", "gitpkg", "0.5"),
            ("94a_YszqSN826jXY", "member", "0.6"),
            // A local wheel file: its lock entry has a digest, its pointer may not.
            ("pathwhl0archive0", "pathwhl", "0.2"),
            ("unrelated0000000", "omega", "1.0"),
        ] {
            inv.archives.insert(
                ArchiveId::new(id).unwrap(),
                wheel_archive(root, id, name, version),
            );
        }
        let wheels = root.join("wheels-v8/index/e2d87b9a957f792a");
        inv.pointers.push(pointer(
            wheels.join("alpha/1.0-py3-none-any.http"),
            PointerKind::Http,
            "QpRKOmnRjkvlkZze",
            vec![sha(ALPHA)],
        ));
        inv.pointers.push(pointer(
            wheels.join("alpha/2.0-py3-none-any.http"),
            PointerKind::Http,
            "alpha2aaaaaaaaaa",
            vec![sha(
                "fbed90fac2e9fad707f7d97d6979b939f862715b26980a9153902b747cb2f451",
            )],
        ));
        let delta = root.join("sdists-v11/index/e2d87b9a957f792a/delta/1.0");
        inv.pointers.push(pointer(
            delta.join("W91XBa7vulWGAAFX/delta-1.0-py3-none-any"),
            PointerKind::Symlink,
            "k3CHgPZ6YXK4OIjD",
            Vec::new(),
        ));
        // Built from an earlier download of the same file (a revision uv has replaced).
        inv.pointers.push(pointer(
            delta.join("OldRevision00000/delta-1.0-py3-none-any"),
            PointerKind::Symlink,
            "delta0rebuilt000",
            Vec::new(),
        ));
        // A revision of another sdist of the same name and version (another index).
        inv.pointers.push(pointer(
            root.join("sdists-v11/index/0000000000000000/delta/1.0/OtherRevision000/delta-1.0-py3-none-any"),
            PointerKind::Symlink,
            "delta0old0000000",
            Vec::new(),
        ));
        inv
    }

    fn lock(name: &str) -> LockFile {
        LockFile {
            path: PathBuf::from("/projects/ws").join(name),
            content: parse(&fixture(&format!("locks/{name}"))),
        }
    }

    fn kept(evidence: &LockEvidence) -> BTreeMap<String, Vec<LockMatch>> {
        evidence
            .kept
            .iter()
            .map(|(id, keeps)| (id.to_string(), keeps.iter().map(|k| k.by.clone()).collect()))
            .collect()
    }

    #[test]
    fn real_lock_keeps_exactly_its_distributions() {
        let root = tempfile::tempdir().expect("temp cache");
        let delta = root
            .path()
            .join("sdists-v11/index/e2d87b9a957f792a/delta/1.0");
        std::fs::create_dir_all(&delta).unwrap();
        std::fs::write(
            delta.join("revision.http"),
            fixture("locks/revision-0.13.9.http"),
        )
        .unwrap();
        // An unpacked source tree may hold anything, even a revision record: never read.
        let src = delta.join("W91XBa7vulWGAAFX/src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("revision.http"), b"garbage").unwrap();

        let inv = inventory(root.path());
        for file in ["workspace-0.13.9.lock", "workspace-0.10.12.lock"] {
            let evidence = match_locks(&[lock(file)], &inv, root.path());
            let expected: BTreeMap<String, Vec<LockMatch>> = [
                ("QpRKOmnRjkvlkZze", LockMatch::WheelHash(sha(ALPHA))),
                ("k3CHgPZ6YXK4OIjD", LockMatch::SdistHash(sha(DELTA_SDIST))),
                ("delta0rebuilt000", LockMatch::SdistHash(sha(DELTA_SDIST))),
                ("aNgjhJpnhtV2Fi5J", LockMatch::NameVersion),
                ("1RDINJ_Yp-XA2BMX", LockMatch::NameVersion),
                ("94a_YszqSN826jXY", LockMatch::NameVersion),
                ("pathwhl0archive0", LockMatch::NameVersion),
            ]
            .into_iter()
            .map(|(id, by)| (id.to_owned(), vec![by]))
            .collect();
            assert_eq!(kept(&evidence), expected, "{file}");
            assert_eq!(evidence.warnings, Vec::new(), "{file}");
            let keeps = &evidence.kept[&ArchiveId::new("QpRKOmnRjkvlkZze").unwrap()];
            assert_eq!(keeps[0].lock, Path::new("/projects/ws").join(file));
        }
    }

    #[test]
    fn unreadable_revision_keeps_its_built_wheels_for_a_lock_missing_its_sdist() {
        let root = tempfile::tempdir().expect("temp cache");
        let delta = root
            .path()
            .join("sdists-v11/index/e2d87b9a957f792a/delta/1.0");
        std::fs::create_dir_all(&delta).unwrap();
        std::fs::write(delta.join("revision.http"), b"\xc1 not msgpack").unwrap();
        let evidence = match_locks(
            &[lock("workspace-0.13.9.lock")],
            &inventory(root.path()),
            root.path(),
        );
        let delta_keeps = &evidence.kept[&ArchiveId::new("k3CHgPZ6YXK4OIjD").unwrap()];
        assert!(
            matches!(&delta_keeps[0].by, LockMatch::RevisionUnreadable { revision } if revision == &delta.join("revision.http")),
            "{delta_keeps:?}"
        );
        assert_eq!(evidence.warnings.len(), 1, "{:?}", evidence.warnings);
        assert!(
            !evidence
                .kept
                .contains_key(&ArchiveId::new("delta0old0000000").unwrap())
        );
    }

    #[test]
    fn unparsed_lock_keeps_every_version_of_the_names_it_mentions() {
        let root = tempfile::tempdir().expect("temp cache");
        let mut bytes = fixture("locks/workspace-0.13.9.lock");
        bytes.extend_from_slice(b"\n[[package\n");
        let broken = LockFile {
            path: PathBuf::from("/projects/broken/uv.lock"),
            content: parse(&bytes),
        };
        assert!(matches!(broken.content, LockContent::Unparsed { .. }));
        let evidence = match_locks(&[broken], &inventory(root.path()), root.path());
        let ids: BTreeSet<String> = evidence.kept.keys().map(ToString::to_string).collect();
        let all_but_omega: BTreeSet<String> = inventory(root.path())
            .archives
            .keys()
            .map(ToString::to_string)
            .filter(|id| id != "unrelated0000000")
            .collect();
        assert_eq!(ids, all_but_omega);
        assert!(
            evidence
                .kept
                .values()
                .flatten()
                .all(|k| k.by == LockMatch::Unparsed)
        );
        assert_eq!(evidence.warnings.len(), 1);
        assert_eq!(evidence.warnings[0].kind, WarningKind::Lockfile);
        assert!(
            evidence.warnings[0]
                .message
                .contains("/projects/broken/uv.lock"),
            "{:?}",
            evidence.warnings
        );
    }

    #[test]
    fn find_links_lock_keeps_by_name_and_version() {
        let root = tempfile::tempdir().expect("temp cache");
        let evidence = match_locks(
            &[lock("find-links-0.13.9.lock")],
            &inventory(root.path()),
            root.path(),
        );
        assert_eq!(
            kept(&evidence),
            BTreeMap::from([("QpRKOmnRjkvlkZze".to_owned(), vec![LockMatch::NameVersion])])
        );
    }
}
