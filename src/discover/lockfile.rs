//! Reading `uv.lock`: which distributions a project will install on its next `uv sync`.
//!
//! A project whose `.venv` was deleted (`git clean -xdf`, a fresh worktree, `rm -rf .venv`
//! to switch Python) has no venv to prove its archives live, but its lock still names every
//! wheel the next sync needs. This module turns a lock file into typed values; matching them
//! against the cache is [`crate::evidence::lock_match`]'s job.
//!
//! What we read of each `[[package]]` (uv has written the same keys from lock `version = 1`
//! revision 1 to at least revision 5, uv 0.10 to 0.13):
//!
//! - `name`, and `version` (absent for a workspace member with a dynamic version);
//! - `source`, an inline table with one key naming its kind: `registry`, `url`, `path`,
//!   `directory`, `editable`, `git` or `virtual`;
//! - `wheels = [{ url | path | filename, hash = "sha256:…" }]`: the digest of each wheel
//!   file, which is also what uv records in the cache pointer of the archive it unpacked
//!   that wheel into;
//! - `sdist = { url | path, hash = "sha256:…" }`: the digest of the source archive, which
//!   is what uv records for the revision it built wheels from.
//!
//! Everything else (dependencies, markers, metadata) plays no part in which archives a
//! sync can use, and unknown keys are ignored so that a newer uv's lock still reads.
//!
//! A lock that does not parse is not ignored: [`LockContent::Unparsed`] keeps the package
//! names its text mentions, so the caller can keep every archive of those names (doubt
//! keeps). Reads go through [`read_regular`] with [`LOCK_MAX`].

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::cache::dist::PackageName;
use crate::cache::pointer::Sha256;
use crate::sys::read::{ReadError, read_regular};

/// Largest lock file we read. The lock of a large workspace (thousands of packages, each
/// with dozens of platform wheels) is a few megabytes; anything past this is not a lock.
pub const LOCK_MAX: u64 = 64 << 20;

/// The file name uv gives a project's lock.
pub const LOCK_FILE_NAME: &str = "uv.lock";

/// Where a locked package comes from: the `source` table's one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// An index or a `--find-links` directory: wheels and sdists with recorded digests
    /// (when the index published them).
    Registry,
    /// A direct URL to a wheel or source archive.
    Url,
    /// A local wheel or source archive file.
    Path,
    /// A local source tree, built (not editable).
    Directory,
    /// A local source tree installed editable (workspace members are too).
    Editable,
    /// A git repository at a pinned commit.
    Git,
    /// The project itself when it is not a package: nothing is built or installed.
    Virtual,
    /// A source key this reader does not know (a newer uv): treated like a local source,
    /// kept by name and version.
    Unknown,
}

impl SourceKind {
    fn of(key: &str) -> Self {
        match key {
            "registry" => Self::Registry,
            "url" => Self::Url,
            "path" => Self::Path,
            "directory" => Self::Directory,
            "editable" => Self::Editable,
            "git" => Self::Git,
            "virtual" => Self::Virtual,
            _ => Self::Unknown,
        }
    }

    /// True for sources uv builds from a tree or file on this machine or a git checkout:
    /// their built wheels carry no digest a lock records, so only name and version can
    /// tell which archives they are.
    pub fn is_built_locally(self) -> bool {
        matches!(
            self,
            Self::Path | Self::Directory | Self::Editable | Self::Git | Self::Unknown
        )
    }
}

/// One `[[package]]` of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    pub name: PackageName,
    /// `None` for a package whose version is dynamic (uv omits it for workspace members
    /// whose version comes from the build).
    pub version: Option<String>,
    pub source: SourceKind,
    /// SHA-256 digests of its wheel files, one per wheel entry that records one.
    pub wheels: Vec<Sha256>,
    /// SHA-256 digest of its source archive, when the lock records one.
    pub sdist: Option<Sha256>,
    /// A wheel or sdist entry without a SHA-256 digest (a `--find-links` directory, an
    /// index that publishes no hashes, another algorithm): that distribution can only be
    /// recognized by name and version.
    pub unhashed: bool,
}

/// What a lock file turned out to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockContent {
    /// It parsed: every package it locks.
    Parsed(Vec<LockedPackage>),
    /// It is text but not a lock we understand; `names` are the package names its text
    /// mentions (`name = "…"`), whose archives doubt keeps.
    Unparsed {
        reason: String,
        names: BTreeSet<PackageName>,
    },
}

/// One lock file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockFile {
    pub path: PathBuf,
    pub content: LockContent,
}

/// Why a lock file could not be read at all (as opposed to read and not understood).
#[derive(Debug)]
pub struct LockReadError {
    pub path: PathBuf,
    pub cause: ReadError,
}

impl fmt::Display for LockReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read lock file {}: {}",
            self.path.display(),
            self.cause
        )
    }
}

impl std::error::Error for LockReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// Reads and parses the lock file at `path`.
pub fn load(path: &Path) -> Result<LockFile, LockReadError> {
    let bytes = read_regular(path, LOCK_MAX).map_err(|cause| LockReadError {
        path: path.to_owned(),
        cause,
    })?;
    Ok(LockFile {
        path: path.to_owned(),
        content: parse(&bytes),
    })
}

/// Reads the locks `--only-locked` names. CI mode keeps exactly what they name, so a lock
/// that cannot be read or parsed is an error, never a guess: nothing is deleted.
pub fn load_named(paths: &[PathBuf]) -> anyhow::Result<Vec<LockFile>> {
    paths
        .iter()
        .map(|path| {
            let lock = load(path)
                .map_err(|e| anyhow::anyhow!("--only-locked: {e}; nothing was deleted"))?;
            if let LockContent::Unparsed { reason, .. } = &lock.content {
                anyhow::bail!(
                    "--only-locked: cannot parse lock file {}: {reason}; nothing was deleted \
                     (run `uv lock` to rewrite it)",
                    path.display()
                );
            }
            Ok(lock)
        })
        .collect()
}

/// Parses the bytes of a lock file. Never fails: what does not parse is
/// [`LockContent::Unparsed`], with the names its text mentions.
pub fn parse(bytes: &[u8]) -> LockContent {
    let text = String::from_utf8_lossy(bytes);
    match parse_table(&text) {
        Ok(packages) => LockContent::Parsed(packages),
        Err(reason) => LockContent::Unparsed {
            reason,
            names: names_mentioned(&text),
        },
    }
}

fn parse_table(text: &str) -> Result<Vec<LockedPackage>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        // toml's message spans several lines with a source excerpt; the first is the cause.
        let message = e
            .message()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_owned();
        match e.span() {
            Some(span) => format!("{message} (at byte {})", span.start),
            None => message,
        }
    })?;
    match table.get("version") {
        Some(toml::Value::Integer(1)) => {}
        Some(other) => return Err(format!("lock format version {other:?}, not 1")),
        None => return Err("no lock format `version`".into()),
    }
    let Some(packages) = table.get("package") else {
        // A project with no dependencies at all still has itself; an empty list is odd
        // but harmless.
        return Ok(Vec::new());
    };
    let packages = packages
        .as_array()
        .ok_or("`package` is not an array of tables")?;
    packages
        .iter()
        .enumerate()
        .map(|(index, package)| {
            package
                .as_table()
                .ok_or_else(|| format!("package {} is not a table", index + 1))
                .and_then(locked_package)
                .map_err(|e| format!("package {}: {e}", index + 1))
        })
        .collect()
}

fn locked_package(package: &toml::Table) -> Result<LockedPackage, String> {
    let name = package
        .get("name")
        .and_then(toml::Value::as_str)
        .ok_or("no `name`")?;
    let version = match package.get("version") {
        None => None,
        Some(toml::Value::String(version)) => Some(version.clone()),
        Some(_) => return Err(format!("{name}: `version` is not a string")),
    };
    let source = match package.get("source") {
        Some(toml::Value::Table(source)) => {
            let mut keys = source.keys();
            match (keys.next(), keys.next()) {
                (Some(key), None) => SourceKind::of(key),
                _ => return Err(format!("{name}: `source` does not have exactly one key")),
            }
        }
        // uv writes a source for every package; a lock without one is not uv's.
        _ => return Err(format!("{name}: no `source` table")),
    };
    let mut locked = LockedPackage {
        name: PackageName::new(name),
        version,
        source,
        wheels: Vec::new(),
        sdist: None,
        unhashed: false,
    };
    if let Some(wheels) = package.get("wheels") {
        let wheels = wheels
            .as_array()
            .ok_or_else(|| format!("{name}: `wheels` is not an array"))?;
        for wheel in wheels {
            match wheel.as_table().map(sha256_of) {
                Some(Some(digest)) => locked.wheels.push(digest),
                _ => locked.unhashed = true,
            }
        }
    }
    if let Some(sdist) = package.get("sdist") {
        match sdist.as_table().map(sha256_of) {
            Some(Some(digest)) => locked.sdist = Some(digest),
            _ => locked.unhashed = true,
        }
    }
    Ok(locked)
}

/// The SHA-256 of a `wheels`/`sdist` entry: `hash = "sha256:<hex>"`. Other algorithms
/// (an index may publish only sha384 or sha512) give `None`.
fn sha256_of(entry: &toml::Table) -> Option<Sha256> {
    let hash = entry.get("hash")?.as_str()?;
    let (algorithm, hex) = hash.split_once(':')?;
    algorithm
        .eq_ignore_ascii_case("sha256")
        .then(|| Sha256::from_hex(hex))
        .flatten()
}

/// Every `name = "<value>"` in `text`, normalized: the package names of a lock we could
/// not parse. Over-collecting (a dependency's name, an extra's) only keeps more.
fn names_mentioned(text: &str) -> BTreeSet<PackageName> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("name") {
        let after = &rest[at + "name".len()..];
        rest = after;
        // A key on its own: not the tail of another word (`filename = …`).
        let before = text.len() - after.len() - "name".len();
        let prev = text[..before].chars().next_back();
        if prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-') {
            continue;
        }
        let Some(value) = after.trim_start_matches([' ', '\t']).strip_prefix('=') else {
            continue;
        };
        let Some(value) = value.trim_start_matches([' ', '\t']).strip_prefix('"') else {
            continue;
        };
        let Some(end) = value.find(['"', '\n']) else {
            continue;
        };
        let name = &value[..end];
        if !name.is_empty() && name.len() <= 256 {
            names.insert(PackageName::new(name));
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/locks")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    fn packages(name: &str) -> Vec<LockedPackage> {
        match parse(&fixture(name)) {
            LockContent::Parsed(packages) => packages,
            other => panic!("{name} did not parse: {other:?}"),
        }
    }

    fn sha(hex: &str) -> Sha256 {
        Sha256::from_hex(hex).expect("64 hex digits")
    }

    fn package<'a>(packages: &'a [LockedPackage], name: &str) -> &'a LockedPackage {
        packages
            .iter()
            .find(|p| p.name.as_str() == name)
            .unwrap_or_else(|| panic!("no {name} in {packages:?}"))
    }

    /// The same workspace locked by uv 0.13.9 (revision 5) and 0.10.12 (revision 3):
    /// every source kind uv writes, read to the same values.
    #[test]
    fn reads_every_source_kind_of_real_locks() {
        for file in ["workspace-0.13.9.lock", "workspace-0.10.12.lock"] {
            let packages = packages(file);
            let summary: Vec<(&str, Option<&str>, SourceKind)> = packages
                .iter()
                .map(|p| (p.name.as_str(), p.version.as_deref(), p.source))
                .collect();
            assert_eq!(
                summary,
                vec![
                    ("alpha", Some("1.0"), SourceKind::Registry),
                    ("delta", Some("1.0"), SourceKind::Registry),
                    ("dirpkg", Some("0.3"), SourceKind::Directory),
                    ("editpkg", Some("0.4"), SourceKind::Editable),
                    ("gamma", Some("1.0"), SourceKind::Registry),
                    ("gitpkg", Some("0.5"), SourceKind::Git),
                    ("member", Some("0.6"), SourceKind::Editable),
                    ("pathwhl", Some("0.2"), SourceKind::Path),
                    ("urlwhl", Some("0.1"), SourceKind::Url),
                    ("ws", Some("0.1.0"), SourceKind::Virtual),
                ],
                "{file}"
            );
            // The digests `sha256sum` gives for the files the loopback index served.
            let alpha = package(&packages, "alpha");
            assert_eq!(
                alpha.wheels,
                vec![sha(
                    "64aad285ccc17456b86498e44c74301abc610e4c1c450fe881842065190fc143"
                )]
            );
            assert_eq!((alpha.sdist, alpha.unhashed), (None, false), "{file}");
            let delta = package(&packages, "delta");
            assert_eq!(delta.wheels, vec![], "{file}");
            assert_eq!(
                delta.sdist,
                Some(sha(
                    "6b0767cb75f909c0ee449545870859fc58cb3e983d6ef9596281f295ca0d42f0"
                )),
                "{file}"
            );
            assert_eq!(
                package(&packages, "urlwhl").wheels,
                vec![sha(
                    "1868c374ad9142b262765a1b20203c2064bd080b67a3d61af46077465350a3b8"
                )]
            );
            assert_eq!(
                package(&packages, "pathwhl").wheels,
                vec![sha(
                    "ff9b791dc377346c37198b6f1906e24b0541696558a5e472b0d20099f6be24cd"
                )]
            );
            for local in ["dirpkg", "editpkg", "gitpkg", "member", "ws"] {
                let p = package(&packages, local);
                assert_eq!((&p.wheels, p.sdist), (&vec![], None), "{file} {local}");
            }
        }
    }

    /// `--find-links` locks record wheel paths without digests: recognizable only by name
    /// and version.
    #[test]
    fn find_links_wheels_are_unhashed() {
        let packages = packages("find-links-0.13.9.lock");
        let alpha = package(&packages, "alpha");
        assert_eq!(alpha.source, SourceKind::Registry);
        assert!(alpha.unhashed);
        assert_eq!(alpha.wheels, vec![]);
    }

    #[test]
    fn damaged_lock_keeps_the_names_it_mentions() {
        let mut bytes = fixture("workspace-0.13.9.lock");
        // Cut in the middle of a table: no longer TOML.
        bytes.truncate(bytes.len() / 2);
        bytes.extend_from_slice(b"\n[[package]\nname = \"Zeta_Pkg\"\n");
        let LockContent::Unparsed { reason, names } = parse(&bytes) else {
            panic!("a truncated lock parsed");
        };
        assert!(!reason.is_empty());
        for name in ["alpha", "delta", "dirpkg", "editpkg", "zeta-pkg"] {
            assert!(names.contains(&PackageName::new(name)), "{name}: {names:?}");
        }
        // `filename = "…"` is not a package name.
        assert!(
            !names
                .iter()
                .any(|n| n.as_str().ends_with(".whl") || n.as_str().contains("py3")),
            "{names:?}"
        );
    }

    #[test]
    fn not_a_lock_is_unparsed_not_empty() {
        for (bytes, why) in [
            (
                &b"version = 2\n[[package]]\nname = \"a\"\n"[..],
                "format version",
            ),
            (b"[[package]]\nname = \"a\"\n", "no version"),
            (b"version = 1\npackage = 3\n", "package not an array"),
            (
                b"version = 1\n[[package]]\nname = \"a\"\nversion = \"1\"\n",
                "no source",
            ),
            (b"\xff\xfe\x00garbage", "not text"),
        ] {
            assert!(
                matches!(parse(bytes), LockContent::Unparsed { .. }),
                "{why}: {:?}",
                parse(bytes)
            );
        }
    }

    #[test]
    fn other_algorithms_and_odd_hashes_are_unhashed() {
        let lock = br#"version = 1
[[package]]
name = "a"
version = "1"
source = { registry = "https://example.invalid/simple" }
sdist = { url = "https://example.invalid/a-1.tar.gz", hash = "sha512:abcd" }
wheels = [
    { url = "https://example.invalid/a-1-py3-none-any.whl", hash = "sha256:64AAD285CCC17456B86498E44C74301ABC610E4C1C450FE881842065190FC143" },
    { url = "https://example.invalid/a-1-py2-none-any.whl", hash = "sha256:short" },
]
"#;
        let LockContent::Parsed(packages) = parse(lock) else {
            panic!("did not parse");
        };
        let a = &packages[0];
        assert_eq!(
            a.wheels,
            vec![sha(
                "64aad285ccc17456b86498e44c74301abc610e4c1c450fe881842065190fc143"
            )]
        );
        assert_eq!(a.sdist, None);
        assert!(a.unhashed);
    }

    /// Mutants of real locks (flipped, cut, repeated and spliced bytes) never panic, and
    /// whatever parses still names only packages whose names appear in the bytes.
    #[test]
    fn mutated_locks_never_panic() {
        let seed = fastrand::u64(..);
        eprintln!("mutated_locks_never_panic: seed {seed}");
        let mut rng = fastrand::Rng::with_seed(seed);
        let originals = [
            fixture("workspace-0.13.9.lock"),
            fixture("workspace-0.10.12.lock"),
            fixture("find-links-0.13.9.lock"),
        ];
        for _ in 0..2_000 {
            let mut bytes = originals[rng.usize(..originals.len())].clone();
            for _ in 0..rng.usize(1..8) {
                let len = bytes.len();
                let at = rng.usize(..len.max(1));
                match rng.u8(..4) {
                    0 if len > 0 => bytes[at.min(len - 1)] = rng.u8(..),
                    1 => bytes.truncate(at),
                    2 => {
                        let at = at.min(bytes.len());
                        let piece: Vec<u8> = bytes[at..].iter().take(64).copied().collect();
                        bytes.splice(at..at, piece);
                    }
                    _ => bytes.insert(at.min(bytes.len()), b"[{\"=\n"[rng.usize(..5)]),
                }
            }
            if let LockContent::Parsed(packages) = parse(&bytes) {
                let text = String::from_utf8_lossy(&bytes).to_lowercase();
                for package in packages {
                    let name = package.name.as_str();
                    assert!(
                        name.split('-').all(|part| text.contains(part)),
                        "seed {seed}: {name} is not in the bytes"
                    );
                }
            }
        }
    }

    #[test]
    fn load_refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = load(dir.path()).expect_err("a directory is no lock");
        assert!(matches!(error.cause, ReadError::NotRegular(_)), "{error}");
        assert!(
            error.to_string().contains("cannot read lock file"),
            "{error}"
        );
        let missing = load(&dir.path().join(LOCK_FILE_NAME)).expect_err("missing");
        assert!(missing.cause.is_not_found(), "{missing}");
    }
}
