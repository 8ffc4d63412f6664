//! Every name this tool knows in uv's cache, in one place, as uv's own `CacheBucket` does:
//! anyone asking "what is `files-v0`?" or "where does the trash go?" finds it here.
//!
//! uv versions its buckets (`wheels-v5`, `wheels-v6`, `sdists-v11`, …) and several uv
//! versions can share one cache, so pointer buckets are recognised by family, every
//! generation at once ([`BucketFamily::of`]); the two buckets whose contents we delete
//! have fixed names ([`Bucket`]). What each holds is documented in `docs/uv-cache.md`.

/// A bucket whose contents `--apply` deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// `archive-v0/<id>`: one unpacked wheel, or a whole cached virtualenv, per directory.
    /// The only place archives are deleted from.
    Archives,
    /// `files-v0/<2 hex>/<64 hex>`: the content-addressed preview's objects, one per
    /// distinct file content, hardlinked into every archive holding that content.
    Objects,
}

impl Bucket {
    /// The directory name under the cache root.
    pub const fn name(self) -> &'static str {
        match self {
            Bucket::Archives => "archive-v0",
            Bucket::Objects => "files-v0",
        }
    }
}

/// `archive-v0`, as a constant for patterns and paths.
pub const ARCHIVE_BUCKET: &str = Bucket::Archives.name();

/// `<cache>/.lock`: every uv command holds it shared, `uv cache clean`/`prune` (and we)
/// exclusive. Never created through a symlink, never deleted or replaced.
pub const LOCK_FILE: &str = ".lock";

/// `<cache>/CACHEDIR.TAG`, which uv writes at the cache root (and cargo in `target/`).
pub const CACHEDIR_TAG: &str = "CACHEDIR.TAG";

/// What a `CACHEDIR.TAG` starts with (the cachedir.org signature).
pub const CACHEDIR_SIGNATURE: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55";

/// Largest `CACHEDIR.TAG` read, at the cache root and in the trees discovery skips: a tag
/// is the signature and a comment line, a few hundred bytes (uv's and cargo's are under
/// 200), and a file past this bound is not read, so it is not a tag.
pub const CACHEDIR_TAG_MAX: u64 = 64 * 1024;

/// Prefix of an archive being deleted: a dot-name inside `archive-v0`, so the rename is
/// atomic (same filesystem), the inventory skips it, and uv's own prune would remove it.
pub const TRASH_PREFIX: &str = ".uv-cache-prune-trash-";

/// The families of buckets whose entries point into `archive-v0`. Each holds several
/// generations (`wheels-v5`, `wheels-v6`, `wheels-v8`, …) when uv versions share a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BucketFamily {
    /// `wheels-v*`: per-wheel symlinks plus `.http`/`.rev` records.
    Wheels,
    /// `sdists-v*` and the older `built-wheels-v*`, `source-dists-v*`: built wheels. Their
    /// `src/` trees are unpacked sources with symlinks of their own and are skipped.
    SourceDists,
    /// `environments-v*`: links to archives that are whole venvs; such a link is what keeps
    /// a cached environment alive.
    Environments,
    /// `builds-v*`: temporary overlay venvs whose `.pth` files name environment archives.
    Builds,
}

/// Splits a versioned bucket name, `<family>-v<N>` with `N` all digits, into its family.
pub fn bucket_family_name(dir_name: &str) -> Option<&str> {
    let (family, version) = dir_name.rsplit_once("-v")?;
    (!version.is_empty() && version.bytes().all(|b| b.is_ascii_digit())).then_some(family)
}

impl BucketFamily {
    /// Recognizes `<family>-v<N>`.
    pub fn of(dir_name: &str) -> Option<Self> {
        match bucket_family_name(dir_name)? {
            "wheels" => Some(Self::Wheels),
            "sdists" | "built-wheels" | "source-dists" => Some(Self::SourceDists),
            "environments" => Some(Self::Environments),
            "builds" => Some(Self::Builds),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_every_bucket_generation() {
        for (name, family) in [
            ("wheels-v5", Some(BucketFamily::Wheels)),
            ("wheels-v8", Some(BucketFamily::Wheels)),
            ("sdists-v11", Some(BucketFamily::SourceDists)),
            ("built-wheels-v3", Some(BucketFamily::SourceDists)),
            ("source-dists-v0", Some(BucketFamily::SourceDists)),
            ("environments-v2", Some(BucketFamily::Environments)),
            ("builds-v0", Some(BucketFamily::Builds)),
            ("simple-v28", None),
            ("archive-v0", None),
            ("wheels-vx", None),
            ("wheels", None),
        ] {
            assert_eq!(BucketFamily::of(name), family, "{name}");
        }
    }
}
