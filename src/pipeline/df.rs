//! `uv-cache-prune df`: what fills the cache, bucket by bucket and package by package, and
//! what a prune would free there now.
//!
//! # What is counted, and how
//!
//! One walk of the whole cache with the archive walk's rules (`crate::plan::measure`: by
//! descriptor, an `lstat` per entry, never following a symlink, never crossing a mount),
//! over the same parallel work stack. Each top-level directory is a tree, and so is each
//! archive of `archive-v0` (for the package table); the root's own files and the root
//! itself are the "loose" row. The walk runs beside the dry run, not after it (see
//! [`run`]). Per row:
//!
//! - `bytes`: allocated bytes as `du -sB1 <bucket>` counts them: directories and files,
//!   each inode once *within the bucket*. Under the content-addressed preview the same
//!   inodes live in `archive-v0` and `files-v0`, so each of those rows counts them, as two
//!   `du` runs would; the total counts every inode once, as `du -sB1 <cache>` does.
//! - `files`: regular-file entries, as `find <bucket> -type f | wc -l` counts them (two
//!   names of one inode are two files).
//! - `shared_bytes`: inodes with links outside the cache (`st_nlink` above the links the
//!   walk saw anywhere in the cache): a hardlink venv's files. Deleting the cache's copy
//!   frees nothing of them. `unique_bytes` is the rest.
//! - `frees`: what a prune would free there now, read from the dry run's report
//!   ([`Report::freed_by_bucket`]), so the picture and the prune cannot disagree.
//!
//! Memory: a few counters per tree, plus one entry per name of a multi-link inode (its
//! id, link count and size, no path), and at the end one table of those inodes for the
//! whole cache. Single-link files, most of a cache without the preview, cost nothing
//! after their `lstat`.
//!
//! # What `uv cache prune` would remove that this tool leaves
//!
//! uv's own prune deletes every top-level entry its version does not know: the older
//! generations of a bucket (`wheels-v6` beside `wheels-v8`), unknown entries, and all of
//! `environments-v*`. This tool leaves them: an older uv on the same machine still reads
//! its own generation, and an unknown entry may be a newer uv's. `df` names them, with
//! their bytes, so that the user can decide.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use crate::cache::layout::{ARCHIVE_BUCKET, CACHEDIR_TAG, LOCK_FILE, bucket_family_name};
use crate::pipeline::{self, Settings};
use crate::plan::measure::{ArchiveWalk, Share, Tally, walk_trees};
use crate::report::{Report, human_bytes, safe, safe_path};
use crate::sys::fs_meta::{EntryStat, FileId, entry_stat};
use crate::sys::read::BlindSpot;
use crate::sys::threads::Threads;
use crate::warning::{Warning, WarningKind};

/// The name of the row of the root's own entries.
pub const LOOSE: &str = "(root files)";
/// How many package rows the human view shows (JSON has them all).
const TOP_PACKAGES: usize = 10;
/// Width of the proportional bar, in cells.
const BAR: usize = 20;

/// `df`'s JSON object (`docs/json-schema.md`, "df").
#[derive(Debug, Serialize)]
pub struct Df {
    /// `"df"`, so that a reader tells this object from the prune report.
    pub kind: &'static str,
    /// [`crate::report::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The cache looked at.
    pub cache_dir: PathBuf,
    /// Every top-level bucket, largest first, then the root's loose entries.
    pub buckets: Vec<BucketRow>,
    /// The whole cache: `du -sB1 <cache>`.
    pub total: BucketRow,
    /// Packages of `archive-v0`, live and dead, largest first.
    pub packages: Vec<PackageRow>,
    /// What `uv cache prune` would remove that this tool leaves, and why.
    pub uv_prune_only: Vec<UvPruneOnly>,
    /// Parts that could not be read (their bytes are missing from the rows); in the JSON
    /// `warnings` and `warning_kinds`, as in the prune report.
    #[serde(flatten, serialize_with = "crate::report::json_warnings")]
    pub warnings: Vec<Warning>,
}

/// One top-level entry of the cache (or the total).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BucketRow {
    /// The entry's name, [`LOOSE`] for the root's own files, or `total`.
    pub name: String,
    /// Allocated bytes, each inode once within the row (`du -sB1`).
    pub bytes: u64,
    /// Regular-file entries (`find -type f`).
    pub files: u64,
    /// Of `bytes`, inodes also linked from outside the cache (hardlink venvs).
    pub shared_bytes: u64,
    /// `bytes - shared_bytes`: what deleting the row's entries could free at most.
    pub unique_bytes: u64,
    /// What a prune would free in this row now (the dry run's plan).
    pub frees: u64,
}

/// Archives of one package version in one state.
#[derive(Debug, Clone, Serialize)]
pub struct PackageRow {
    /// The package, or `None` for a cached environment or an unrecognized archive.
    pub name: Option<String>,
    /// Its version, when it is a wheel.
    pub version: Option<String>,
    /// `live` (kept) or `dead` (a candidate of the dry run).
    pub state: &'static str,
    /// How many archives.
    pub archives: usize,
    /// Allocated bytes, each inode once among them.
    pub bytes: u64,
    /// Of `bytes`, inodes also linked from outside the cache.
    pub shared_bytes: u64,
    /// What the dry run frees by removing them (0 when live).
    pub frees: u64,
}

/// An entry `uv cache prune` would delete and this tool keeps.
#[derive(Debug, Clone, Serialize)]
pub struct UvPruneOnly {
    /// The top-level entry.
    pub name: String,
    /// Its bytes (as its bucket row).
    pub bytes: u64,
    /// `old-generation`, `unknown` or `environments`.
    pub reason: &'static str,
    /// Why this tool leaves it, in a sentence.
    pub why: String,
}

/// The hash of the table of multi-link inodes. A hardlink venv makes nearly every file of
/// the archives it uses a multi-link one, and each is looked up once per link: with the
/// standard SipHash that hashing was 5% of a `df` (profiled on the bench's fixture).
/// Inode numbers are handed out by the filesystem, not chosen by whoever writes the
/// cache, so a multiply-rotate hash is enough; a filesystem that did collide them would
/// only make `df` slower.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One name of a multi-link inode, as the walk saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    id: FileId,
    nlink: u64,
    allocated: u64,
}

/// What the walk adds up for one tree.
#[derive(Debug, Default)]
pub(crate) struct DfTally {
    /// Directories and single-link entries.
    single: u64,
    files: u64,
    /// Every name of a multi-link inode, in no order. They are only counted (each inode
    /// once per row) when every tree is in ([`Inodes`]): a list is all the walk needs to
    /// keep, where a table per tree cost a hash per name on the walk and another per
    /// name and row after it, 10% of a `df` (measured on the bench's fixture).
    links: Vec<Link>,
    doubt: Option<BlindSpot>,
}

/// The dry run's walk of an archive, counted as this walk counts (both follow
/// `crate::plan::measure`'s rules; only the multi-link files' paths are dropped).
impl From<ArchiveWalk> for DfTally {
    fn from(walk: ArchiveWalk) -> Self {
        let mut tally = DfTally {
            single: walk.private_bytes,
            files: walk.files,
            links: Vec::with_capacity(walk.shared.len()),
            doubt: walk.unreadable,
        };
        for (_, stat) in walk.shared {
            match stat.id {
                Some(id) if stat.nlink > 1 => tally.links.push(Link {
                    id,
                    nlink: stat.nlink,
                    allocated: stat.allocated,
                }),
                _ => tally.single += stat.allocated,
            }
        }
        tally
    }
}

impl Tally for DfTally {
    fn add_dir(&mut self, stat: EntryStat) {
        self.single += stat.allocated;
    }

    fn add_file(&mut self, _path: impl FnOnce() -> PathBuf, stat: EntryStat) {
        self.files += u64::from(stat.len.is_some());
        match stat.id {
            Some(id) if stat.nlink > 1 => self.links.push(Link {
                id,
                nlink: stat.nlink,
                allocated: stat.allocated,
            }),
            _ => self.single += stat.allocated,
        }
    }

    fn doubt(&mut self, path: PathBuf, reason: String) {
        match &self.doubt {
            Some(BlindSpot { path: named, .. }) if *named <= path => {}
            _ => self.doubt = Some(BlindSpot::new(path, reason)),
        }
    }

    fn merge(&mut self, other: Self) {
        self.single += other.single;
        self.files += other.files;
        self.links.extend(other.links);
        if let Some(BlindSpot {
            path,
            cause: reason,
        }) = other.doubt
        {
            Tally::doubt(self, path, reason);
        }
    }
}

/// A multi-link inode of the cache: its `st_nlink` and blocks, how many of its names
/// the walk saw in the whole cache, and the one tree that holds them all ([`SPREAD`] if
/// several do).
#[derive(Debug, Clone, Copy)]
struct Inode {
    nlink: u64,
    allocated: u64,
    seen: u64,
    tree: u32,
}

/// [`Inode::tree`] of an inode with names in several trees.
const SPREAD: u32 = u32::MAX;

impl Inode {
    /// Linked from outside the cache too (a hardlink venv): deleting the cache's names
    /// frees nothing of it.
    fn shared(&self) -> bool {
        self.seen < self.nlink
    }
}

/// Bytes and shared bytes of multi-link inodes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct MultiBytes {
    bytes: u64,
    shared: u64,
}

impl MultiBytes {
    fn add(&mut self, inode: &Inode) {
        self.bytes += inode.allocated;
        if inode.shared() {
            self.shared += inode.allocated;
        }
    }
}

/// One shard of the table of multi-link inodes.
type Table = HashMap<FileId, Inode, BuildHasherDefault<IdHasher>>;

/// Every multi-link inode of the cache once, and what each tree holds of them.
///
/// Nearly every such inode has all its names in the cache in one tree (an archive whose
/// files a hardlink venv links): its bytes go to that tree, and through it to its bucket
/// and package rows, with no table per row. Only inodes named from several trees (the
/// content-addressed preview's `files-v0` objects, a cached environment's links to wheel
/// archives) are counted row by row, each once per row.
///
/// The table is made after the walk, before the view can be shown: a hash per name,
/// most of them missing the CPU's caches (20 ms on the bench's fixture of 170,000
/// hardlinked files). So it is split by inode number into a shard per thread, each made
/// on its own thread from every tree's names.
struct Inodes {
    shards: Vec<Table>,
    /// Per tree: the inodes all of whose names are in it.
    own: Vec<MultiBytes>,
    /// (tree, inode) for the inodes named from several trees, each pair once.
    spread: Vec<(usize, FileId)>,
}

/// The shard of an inode, among `shards`.
fn shard_of(id: &FileId, shards: usize) -> usize {
    // Not the table's hash: a shard would then fill only the buckets of its own hashes.
    ((id.ino ^ id.dev) % shards as u64) as usize
}

/// One shard of [`Inodes`]: its table, and the trees' parts of it.
struct Shard {
    table: Table,
    own: Vec<MultiBytes>,
    spread: Vec<(usize, FileId)>,
}

impl Shard {
    /// The inodes of `trees` (known by index) in shard `shard` of `shards`.
    fn of(trees: &[&DfTally], shard: usize, shards: usize) -> Self {
        let mine = |link: &&Link| shards == 1 || shard_of(&link.id, shards) == shard;
        let names: usize = trees.iter().map(|t| t.links.len()).sum();
        let mut table = Table::with_capacity_and_hasher(names / shards, Default::default());
        for (index, tally) in trees.iter().enumerate() {
            let tree = u32::try_from(index).unwrap_or(SPREAD - 1);
            for link in tally.links.iter().filter(mine) {
                let inode = table.entry(link.id).or_insert(Inode {
                    nlink: link.nlink,
                    allocated: link.allocated,
                    seen: 0,
                    tree,
                });
                inode.seen += 1;
                if inode.tree != tree {
                    inode.tree = SPREAD;
                }
            }
        }
        let mut own = vec![MultiBytes::default(); trees.len()];
        let mut any_spread = false;
        for inode in table.values() {
            match own.get_mut(inode.tree as usize) {
                Some(bytes) if inode.tree != SPREAD => bytes.add(inode),
                _ => any_spread = true,
            }
        }
        let mut spread = Vec::new();
        if any_spread {
            for (index, tally) in trees.iter().enumerate() {
                let spread_here = tally
                    .links
                    .iter()
                    .filter(mine)
                    .filter(|link| table.get(&link.id).is_some_and(|i| i.tree == SPREAD));
                spread.extend(spread_here.map(|link| (index, link.id)));
            }
        }
        Shard { table, own, spread }
    }
}

impl Inodes {
    /// The inodes of `trees`, each tree known by its index, on `threads` threads.
    fn of(trees: &[&DfTally], threads: Threads) -> Self {
        // A thread is worth starting for tens of thousands of names, not for a few.
        let names: usize = trees.iter().map(|t| t.links.len()).sum();
        Self::in_shards(trees, threads.get().min(names / 20_000).max(1), threads)
    }

    /// [`Inodes::of`] in `shards` shards.
    fn in_shards(trees: &[&DfTally], shards: usize, threads: Threads) -> Self {
        let parts: Vec<usize> = (0..shards).collect();
        let parts =
            crate::sys::threads::map(threads, &parts, |&shard| Shard::of(trees, shard, shards));
        let mut inodes = Inodes {
            shards: Vec::with_capacity(shards),
            own: vec![MultiBytes::default(); trees.len()],
            spread: Vec::new(),
        };
        for part in parts {
            for (sum, bytes) in inodes.own.iter_mut().zip(&part.own) {
                sum.bytes += bytes.bytes;
                sum.shared += bytes.shared;
            }
            inodes.spread.extend(part.spread);
            inodes.shards.push(part.table);
        }
        inodes.spread.sort_unstable();
        inodes.spread.dedup();
        inodes
    }

    fn get(&self, id: &FileId) -> Option<&Inode> {
        self.shards.get(shard_of(id, self.shards.len()))?.get(id)
    }

    /// Per row, the multi-link inodes of the trees `row_of` puts in it (`None`: in no
    /// row), each inode once within a row.
    fn rows(&self, rows: usize, row_of: impl Fn(usize) -> Option<usize>) -> Vec<MultiBytes> {
        let mut out = vec![MultiBytes::default(); rows];
        for (tree, bytes) in self.own.iter().enumerate() {
            if let Some(row) = row_of(tree).and_then(|r| out.get_mut(r)) {
                row.bytes += bytes.bytes;
                row.shared += bytes.shared;
            }
        }
        let mut pairs: Vec<(usize, FileId)> = self
            .spread
            .iter()
            .filter_map(|(tree, id)| row_of(*tree).map(|row| (row, *id)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        for (row, id) in pairs {
            if let (Some(out), Some(inode)) = (out.get_mut(row), self.get(&id)) {
                out.add(inode);
            }
        }
        out
    }

    /// Every inode once: the whole cache.
    fn total(&self) -> MultiBytes {
        let mut total = MultiBytes::default();
        for inode in self.shards.iter().flat_map(|shard| shard.values()) {
            total.add(inode);
        }
        total
    }
}

/// Which row a walked tree adds to.
enum Tree {
    Bucket(String),
    Archive(String),
}

/// Runs the dry run and the walk, and builds the view.
///
/// The two do not need each other until the view is built, so the walk of the whole
/// cache runs beside the dry run rather than after it: most of a dry run runs on one
/// thread (listing, reading pointers and `METADATA`, matching venvs), and the walk is
/// nothing but `lstat`s, on every thread. Run one after the other, `df` cost the dry run
/// plus a `du -s` of the cache; side by side, on free cores, about the larger of the
/// two (the `lstat`s themselves cost what `du`'s do: the kernel's lookup of each name).
/// The archives the dry run measures (its candidates) are walked once, by the dry run:
/// the walk leaves those it claimed and takes its walks of them ([`Share`]). `df`
/// deletes nothing.
pub fn run(settings: &Settings) -> Result<Df> {
    // Where the dry run will look, walked beside it only once it is known to be a uv
    // cache: `df --cache-dir ~` must say "not a uv cache" without a walk of the home
    // first. An error here is the dry run's error too, and it reports it; a cache without
    // `archive-v0` yet is walked after the dry run, as before.
    let root = crate::cache::locate::locate(settings.cache_dir.as_deref())
        .ok()
        .and_then(|location| match crate::cache::locate::validate(location) {
            Ok(crate::cache::locate::Validated::Cache(cache)) => Some(cache.root().to_owned()),
            _ => None,
        });
    let share = Arc::new(Share::default());
    let (report, walked) = std::thread::scope(|scope| {
        let walk = root
            .as_deref()
            .map(|root| scope.spawn(|| walk_cache(root, settings.threads, Some(&share))));
        let report = pipeline::run_sharing(settings, Some(Arc::clone(&share)));
        // A walk that panicked (a bug) is walked again below, after the dry run.
        let walked = walk.and_then(|walk| walk.join().ok());
        (report, walked)
    });
    let report = report?;
    let walked = match walked {
        Some(mut walked) if walked.root == report.cache_dir => {
            walked.take_deferred(&share, settings.threads);
            walked
        }
        _ => walk_cache(&report.cache_dir, settings.threads, None),
    };
    Ok(build(&report, walked, settings.threads))
}

/// What the walk of the whole cache found, before the dry run's report is added.
struct Walked {
    root: PathBuf,
    /// The root's own entries and the root itself.
    loose: DfTally,
    /// The root's entries that are not directories and not uv's own files.
    loose_names: Vec<String>,
    /// Each top-level directory but `archive-v0`, by name.
    buckets: BTreeMap<String, DfTally>,
    /// `archive-v0` itself and its loose entries, when it is a directory.
    archive_dir: Option<DfTally>,
    /// Each archive of `archive-v0`, by id.
    archives: Vec<(String, DfTally)>,
    /// The archives left to the dry run's walk (index in `archives`, path): empty
    /// tallies until [`Walked::take_deferred`].
    deferred: Vec<(usize, PathBuf)>,
    /// Parts that could not be read.
    warnings: Vec<Warning>,
}

impl Walked {
    /// Fills in the archives left to the dry run with its walks of them, and walks those
    /// it did not walk after all (it stopped early, or a thread of it panicked).
    fn take_deferred(&mut self, share: &Share, threads: Threads) {
        let mut missing = Vec::new();
        for (index, path) in std::mem::take(&mut self.deferred) {
            match share.take(&path) {
                Some(walk) => self.set_archive(index, DfTally::from(walk)),
                None => missing.push((index, path)),
            }
        }
        let paths: Vec<&Path> = missing.iter().map(|(_, p)| p.as_path()).collect();
        let tallies = walk_trees::<DfTally>(&paths, threads, &|_| false);
        for ((index, _), tally) in missing.iter().zip(tallies) {
            self.set_archive(*index, tally.unwrap_or_default());
        }
    }

    fn set_archive(&mut self, index: usize, tally: DfTally) {
        if let Some((_, at)) = self.archives.get_mut(index) {
            *at = tally;
        }
    }

    /// A warning for each tree that could not be counted whole, in the trees' order
    /// (whichever walk counted them).
    fn not_counted_whole(&self) -> Vec<Warning> {
        let archive_dir = self.root.join(ARCHIVE_BUCKET);
        let buckets = self.buckets.iter().map(|(n, t)| (self.root.join(n), t));
        let archives = self
            .archives
            .iter()
            .map(|(id, t)| (archive_dir.join(id), t));
        buckets
            .chain(archives)
            .filter_map(|(path, tally)| {
                let BlindSpot { path: at, cause } = tally.doubt.as_ref()?;
                Some(Warning::new(
                    WarningKind::Unreadable,
                    format!(
                        "{} was not counted whole: {} ({cause})",
                        path.display(),
                        at.display()
                    ),
                ))
            })
            .collect()
    }
}

/// Walks the whole cache at `root` once: every top-level tree and every archive on its
/// own, on `threads` threads. An archive `share` says the dry run claimed when its turn
/// comes is left to it ([`Walked::deferred`]).
fn walk_cache(root: &Path, threads: Threads, share: Option<&Share>) -> Walked {
    let mut walked = Walked {
        root: root.to_owned(),
        loose: DfTally::default(),
        loose_names: Vec::new(),
        buckets: BTreeMap::new(),
        archive_dir: None,
        archives: Vec::new(),
        deferred: Vec::new(),
        warnings: Vec::new(),
    };
    let lstat_into = |tally: &mut DfTally, path: &Path, warnings: &mut Vec<Warning>| {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => tally.add_dir(entry_stat(&meta)),
            Ok(meta) => tally.add_file(|| path.to_owned(), entry_stat(&meta)),
            Err(err) => warnings.push(Warning::new(
                WarningKind::Unreadable,
                format!("cannot read {}: {err}", path.display()),
            )),
        }
    };
    let root_is_dir = std::fs::symlink_metadata(root).is_ok_and(|m| m.is_dir());
    if !root_is_dir {
        return walked;
    }
    let warnings = &mut walked.warnings;
    lstat_into(&mut walked.loose, root, warnings);
    let mut trees: Vec<(Tree, PathBuf)> = Vec::new();
    let mut entries = list(root, warnings);
    entries.sort();
    for (name, is_dir) in entries {
        let path = root.join(&name);
        if !is_dir {
            lstat_into(&mut walked.loose, &path, warnings);
            if ![LOCK_FILE, CACHEDIR_TAG, ".gitignore"].contains(&name.as_str()) {
                walked.loose_names.push(name);
            }
        } else if name == ARCHIVE_BUCKET {
            let archive_dir = walked.archive_dir.insert(DfTally::default());
            lstat_into(archive_dir, &path, warnings);
            for (id, is_dir) in list(&path, warnings) {
                if is_dir {
                    trees.push((Tree::Archive(id.clone()), path.join(id)));
                } else {
                    lstat_into(archive_dir, &path.join(id), warnings);
                }
            }
        } else {
            trees.push((Tree::Bucket(name.clone()), path));
        }
    }
    // The buckets first, the archives after: the later an archive's turn, the likelier
    // the dry run has claimed it by then.
    trees.sort_by_key(|(tree, _)| matches!(tree, Tree::Archive(_)));
    let paths: Vec<&Path> = trees.iter().map(|(_, p)| p.as_path()).collect();
    let skip = |index: usize| {
        share.is_some_and(|share| {
            matches!(trees[index].0, Tree::Archive(_)) && share.claimed(&trees[index].1)
        })
    };
    let tallies: Vec<Option<DfTally>> = walk_trees(&paths, threads, &skip);
    for ((tree, path), tally) in trees.into_iter().zip(tallies) {
        let deferred = tally.is_none();
        let tally = tally.unwrap_or_default();
        match tree {
            Tree::Bucket(name) => {
                walked.buckets.insert(name, tally);
            }
            Tree::Archive(id) => {
                if deferred {
                    walked.deferred.push((walked.archives.len(), path));
                }
                walked.archives.push((id, tally));
            }
        }
    }
    walked
}

/// The view: the walk's rows, with what the dry run's `report` frees in each.
fn build(report: &Report, mut walked: Walked, threads: Threads) -> Df {
    let not_counted_whole = walked.not_counted_whole();
    walked.warnings.extend(not_counted_whole);
    let Walked {
        root,
        loose,
        loose_names,
        buckets,
        archive_dir,
        archives,
        deferred: _,
        warnings,
    } = walked;
    // Every tree once, known by its index: the root's loose entries, the other buckets,
    // archive-v0's own entries, then its archives; and the bucket row each adds to.
    let mut names: Vec<&str> = vec![LOOSE];
    let mut trees: Vec<&DfTally> = vec![&loose];
    let mut row_of_tree: Vec<Option<usize>> = vec![Some(0)];
    for (name, tally) in &buckets {
        row_of_tree.push(Some(names.len()));
        names.push(name);
        trees.push(tally);
    }
    let archive_row = archive_dir.as_ref().map(|own| {
        trees.push(own);
        row_of_tree.push(Some(names.len()));
        names.push(ARCHIVE_BUCKET);
        names.len() - 1
    });
    let first_archive = trees.len();
    trees.extend(archives.iter().map(|(_, tally)| tally));
    row_of_tree.extend(std::iter::repeat_n(archive_row, archives.len()));
    let inodes = Inodes::of(&trees, threads);
    let sums = sums(&trees, &inodes, names.len(), |tree| row_of_tree[tree]);
    let row = |name: &str, sum: &Sum| BucketRow {
        name: name.to_owned(),
        bytes: sum.bytes(),
        files: sum.files,
        shared_bytes: sum.multi.shared,
        unique_bytes: sum.bytes() - sum.multi.shared.min(sum.bytes()),
        frees: report
            .freed_by_bucket
            .get(if name == LOOSE { "." } else { name })
            .copied()
            .unwrap_or(0),
    };
    let mut rows: Vec<BucketRow> = names
        .iter()
        .zip(&sums)
        .skip(1)
        .map(|(name, sum)| row(name, sum))
        .collect();
    rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
    rows.push(row(LOOSE, &sums[0]));
    let whole = Sum {
        single: trees.iter().map(|t| t.single).sum(),
        files: trees.iter().map(|t| t.files).sum(),
        multi: inodes.total(),
    };
    let mut total = row("total", &whole);
    total.frees =
        report.reclaimable_bytes + report.others.as_ref().map_or(0, |o| o.reclaimable_bytes);
    let packages = packages(report, &archives, &trees, first_archive, &inodes);
    let mut warnings = warnings;
    warnings.extend(report.warnings.iter().cloned());
    Df {
        kind: "df",
        schema_version: crate::report::SCHEMA_VERSION,
        cache_dir: root,
        uv_prune_only: uv_prune_only(&rows, &loose_names),
        buckets: rows,
        total,
        packages,
        warnings,
    }
}

/// What a row adds up: its trees' directories, single-link entries and files, and its
/// multi-link inodes, each once.
#[derive(Debug, Default, Clone, Copy)]
struct Sum {
    single: u64,
    files: u64,
    multi: MultiBytes,
}

impl Sum {
    fn bytes(&self) -> u64 {
        self.single + self.multi.bytes
    }
}

/// Per row, the sum of the trees `row_of` puts in it.
fn sums(
    trees: &[&DfTally],
    inodes: &Inodes,
    rows: usize,
    row_of: impl Fn(usize) -> Option<usize>,
) -> Vec<Sum> {
    let mut out: Vec<Sum> = inodes
        .rows(rows, &row_of)
        .into_iter()
        .map(|multi| Sum {
            multi,
            ..Sum::default()
        })
        .collect();
    for (tree, tally) in trees.iter().enumerate() {
        if let Some(sum) = row_of(tree).and_then(|row| out.get_mut(row)) {
            sum.single += tally.single;
            sum.files += tally.files;
        }
    }
    out
}

/// The entries of `dir`, each with whether it is a directory (not following symlinks).
fn list(dir: &Path, warnings: &mut Vec<Warning>) -> Vec<(String, bool)> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| {
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                (e.file_name().to_string_lossy().into_owned(), is_dir)
            })
            .collect(),
        Err(err) => {
            warnings.push(Warning::new(
                WarningKind::Unreadable,
                format!("cannot list {}: {err}", dir.display()),
            ));
            Vec::new()
        }
    }
}

/// What `uv cache prune` deletes that this tool leaves: older generations of a bucket
/// family present in a newer one, names that are no bucket, and cached environments.
fn uv_prune_only(rows: &[BucketRow], loose: &[String]) -> Vec<UvPruneOnly> {
    let generation = |name: &str| -> Option<(String, u64)> {
        let family = bucket_family_name(name)?;
        let n = name[family.len() + 2..].parse().ok()?;
        Some((family.to_owned(), n))
    };
    let mut newest: HashMap<String, u64> = HashMap::new();
    for (family, n) in rows.iter().filter_map(|r| generation(&r.name)) {
        let at = newest.entry(family).or_insert(n);
        *at = (*at).max(n);
    }
    let mut out = Vec::new();
    for row in rows.iter().filter(|r| r.name != LOOSE) {
        let entry = |reason, why: String| UvPruneOnly {
            name: row.name.clone(),
            bytes: row.bytes,
            reason,
            why,
        };
        match generation(&row.name) {
            Some((family, n)) if newest[&family] > n => out.push(entry(
                "old-generation",
                format!(
                    "an older generation of {family}-v*: uv cache prune of a newer uv deletes it, but the older uv that wrote it may still be on this machine and reads it"
                ),
            )),
            Some((family, _)) if family == "environments" => out.push(entry(
                "environments",
                "cached environments (uvx, uv run --with, scripts): uv cache prune deletes them all, and uv builds them again on the next run; this tool removes only those unused for --unused-for".to_owned(),
            )),
            Some(_) => {}
            None => out.push(entry(
                "unknown",
                "not a bucket of any uv this tool knows: uv cache prune deletes every entry its version does not know, but a newer uv may own it".to_owned(),
            )),
        }
    }
    for name in loose {
        out.push(UvPruneOnly {
            name: name.clone(),
            bytes: 0,
            reason: "unknown",
            why: "a file at the cache root that uv does not write: uv cache prune deletes it"
                .to_owned(),
        });
    }
    out
}

/// What the dry run said of one archive: name, version, `live`/`dead`, bytes it frees.
type Fate<'r> = (Option<&'r String>, Option<&'r String>, &'static str, u64);

/// The package rows: the archives grouped by package, version and fate. `trees` are
/// those [`Inodes`] was made of; the archives' are the last ones, from `first_archive`.
fn packages(
    report: &Report,
    archives: &[(String, DfTally)],
    trees: &[&DfTally],
    first_archive: usize,
    inodes: &Inodes,
) -> Vec<PackageRow> {
    let mut fate: HashMap<&str, Fate<'_>> = HashMap::new();
    for c in &report.candidates {
        fate.insert(
            c.id.as_str(),
            (c.name.as_ref(), c.version.as_ref(), "dead", c.bytes),
        );
    }
    for l in &report.live {
        fate.insert(
            l.id.as_str(),
            (l.name.as_ref(), l.version.as_ref(), "live", 0),
        );
    }
    type Key = (Option<String>, Option<String>, &'static str);
    // Each group's index, and per group how many archives and what they free.
    let mut index: BTreeMap<Key, usize> = BTreeMap::new();
    let mut groups: Vec<(usize, u64)> = Vec::new();
    let mut group_of: Vec<usize> = Vec::with_capacity(archives.len());
    for (id, _) in archives {
        // An archive the dry run did not name (made since) counts as live: doubt keeps.
        let (name, version, state, frees) = fate
            .get(id.as_str())
            .copied()
            .unwrap_or((None, None, "live", 0));
        let group = *index
            .entry((name.cloned(), version.cloned(), state))
            .or_insert_with(|| {
                groups.push((0, 0));
                groups.len() - 1
            });
        groups[group].0 += 1;
        groups[group].1 += frees;
        group_of.push(group);
    }
    let sums = sums(trees, inodes, groups.len(), |tree| {
        tree.checked_sub(first_archive)
            .and_then(|archive| group_of.get(archive).copied())
    });
    let mut rows: Vec<PackageRow> = index
        .into_iter()
        .map(|((name, version, state), group)| PackageRow {
            name,
            version,
            state,
            archives: groups[group].0,
            bytes: sums[group].bytes(),
            shared_bytes: sums[group].multi.shared,
            frees: groups[group].1,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| (&a.name, &a.version).cmp(&(&b.name, &b.version)))
    });
    rows
}

impl Df {
    /// The JSON object, pretty-printed.
    pub fn to_json(&self) -> Result<String> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| anyhow::anyhow!("cannot write df as JSON: {e} (a bug)"))?;
        text.push('\n');
        Ok(text)
    }

    /// The two tables, with a bar per row when `bars` (a terminal).
    pub fn to_human(&self, bars: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "uv cache {}: {} on disk in {} files; a prune frees {} now; {} shared with venvs",
            safe_path(&self.cache_dir),
            human_bytes(self.total.bytes),
            self.total.files,
            human_bytes(self.total.frees),
            human_bytes(self.total.shared_bytes),
        );
        let bar = |bytes: u64, max: u64| {
            if !bars || max == 0 {
                return String::new();
            }
            let cells = (bytes as f64 / max as f64 * BAR as f64).round() as usize;
            format!("  {}", "█".repeat(cells.min(BAR)))
        };
        let max = self.buckets.iter().map(|r| r.bytes).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "\n{:<24} {:>11} {:>9} {:>11} {:>11}",
            "bucket", "size", "files", "frees", "shared"
        );
        for row in self.buckets.iter().chain([&self.total]) {
            let _ = writeln!(
                out,
                "{:<24} {:>11} {:>9} {:>11} {:>11}{}",
                safe(&row.name),
                human_bytes(row.bytes),
                row.files,
                human_bytes(row.frees),
                human_bytes(row.shared_bytes),
                if row.name == "total" {
                    String::new()
                } else {
                    bar(row.bytes, max)
                },
            );
        }
        if !self.packages.is_empty() {
            let max = self.packages.iter().map(|r| r.bytes).max().unwrap_or(0);
            let _ = writeln!(
                out,
                "\n{:<32} {:>5} {:>11} {:>11} {:>11}",
                "largest packages", "state", "size", "frees", "shared"
            );
            for row in self.packages.iter().take(TOP_PACKAGES) {
                let label = match (&row.name, &row.version) {
                    (Some(n), Some(v)) => format!("{n} {v}"),
                    (Some(n), None) => n.clone(),
                    _ => "(environment or unrecognized)".to_owned(),
                };
                let label = if row.archives > 1 {
                    format!("{label} ({} archives)", row.archives)
                } else {
                    label
                };
                let _ = writeln!(
                    out,
                    "{:<32} {:>5} {:>11} {:>11} {:>11}{}",
                    safe(&label),
                    row.state,
                    human_bytes(row.bytes),
                    human_bytes(row.frees),
                    human_bytes(row.shared_bytes),
                    bar(row.bytes, max),
                );
            }
        }
        if !self.uv_prune_only.is_empty() {
            let _ = writeln!(
                out,
                "\n`uv cache prune` would also remove (this tool leaves them):"
            );
            for entry in &self.uv_prune_only {
                let _ = writeln!(
                    out,
                    "  {} ({}): {}",
                    safe(&entry.name),
                    human_bytes(entry.bytes),
                    entry.why
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::hash::Hash;

    use super::*;

    fn file(ino: u64, nlink: u64, allocated: u64) -> EntryStat {
        EntryStat {
            id: Some(FileId { dev: 1, ino }),
            nlink,
            allocated,
            is_dir: false,
            len: Some(allocated),
        }
    }

    fn tally(files: &[EntryStat]) -> DfTally {
        let mut tally = DfTally::default();
        for stat in files {
            tally.add_file(PathBuf::new, *stat);
        }
        tally
    }

    /// Each thread's part of a tree is merged into the others': every name kept, the
    /// single-link bytes and files added.
    #[test]
    fn merge_keeps_every_name_of_a_tree() {
        let mut merged = tally(&[file(1, 3, 4096), file(2, 3, 4096), file(10, 1, 8192)]);
        merged.merge(tally(&[file(2, 3, 4096), file(11, 1, 8192)]));
        assert_eq!(merged.files, 5);
        assert_eq!(merged.single, 2 * 8192);
        assert_eq!(merged.links.len(), 3);
        let inodes = Inodes::of(&[&merged], Threads::all_cores());
        // Inode 2, named twice in the tree, is counted once; all have a link outside.
        let own = MultiBytes {
            bytes: 2 * 4096,
            shared: 2 * 4096,
        };
        assert_eq!(inodes.own, [own]);
        assert_eq!(inodes.total(), own);
        assert!(inodes.spread.is_empty());
    }

    /// An inode named from several trees counts once in each row that holds it, once in
    /// a row holding two of those trees, and once in the total; it is shared only when
    /// the cache does not hold all its links.
    #[test]
    fn an_inode_in_several_trees_counts_once_per_row() {
        // Inode 1: in trees 0 and 1, 2 links, both seen. Inode 2: trees 1 and 2, 3
        // links, 2 seen. Inode 3: tree 2 only, 2 links, 1 seen.
        let trees = [
            tally(&[file(1, 2, 100)]),
            tally(&[file(1, 2, 100), file(2, 3, 10)]),
            tally(&[file(2, 3, 10), file(3, 2, 1)]),
        ];
        let trees: Vec<&DfTally> = trees.iter().collect();
        // Each inode in a shard of its own, or all in one: the same counts.
        for shards in [1, 3] {
            let inodes = Inodes::in_shards(&trees, shards, Threads::all_cores());
            assert_eq!(inodes.shards.len(), shards);
            check_rows(&inodes);
        }
    }

    fn check_rows(inodes: &Inodes) {
        let bytes = |bytes, shared| MultiBytes { bytes, shared };
        assert_eq!(inodes.total(), bytes(111, 11));
        // A row per tree.
        assert_eq!(
            inodes.rows(3, Some),
            [bytes(100, 0), bytes(110, 10), bytes(11, 11)]
        );
        // Trees 0 and 1 in one row, tree 2 in none.
        let rows = inodes.rows(1, |tree| (tree < 2).then_some(0));
        assert_eq!(rows, [bytes(110, 10)]);
        // Trees 1 and 2 in one row.
        let rows = inodes.rows(2, |tree| Some(usize::from(tree > 0)));
        assert_eq!(rows, [bytes(100, 0), bytes(111, 11)]);
    }

    /// A small cache: three archives (one with a subdirectory, one with a file linked
    /// from outside the cache and from another archive) and a pointer bucket.
    #[cfg(unix)]
    fn small_cache(root: &Path) {
        let archives = root.join(ARCHIVE_BUCKET);
        for (id, files) in [("a", 3), ("b", 1), ("c", 2)] {
            let dir = archives.join(id).join("pkg");
            std::fs::create_dir_all(&dir).unwrap();
            for n in 0..files {
                std::fs::write(dir.join(format!("m{n}.py")), vec![b'x'; 5000 * (n + 1)]).unwrap();
            }
        }
        let shared = archives.join("a/pkg/m0.py");
        std::fs::hard_link(&shared, archives.join("c/pkg/linked.py")).unwrap();
        std::fs::hard_link(&shared, root.join("outside.py")).unwrap();
        std::fs::create_dir_all(root.join("wheels-v5")).unwrap();
        std::fs::write(root.join("wheels-v5/a.http"), b"pointer").unwrap();
    }

    /// What a walk counted, comparable: per tree its bytes, files, names and doubt.
    fn counted(walked: &Walked) -> Vec<(String, u64, u64, Vec<Link>, bool)> {
        let buckets = walked.buckets.iter();
        let trees = buckets.chain(walked.archives.iter().map(|(id, t)| (id, t)));
        trees
            .map(|(name, tally)| {
                let mut links = tally.links.clone();
                links.sort_by_key(|l| l.id);
                let doubt = tally.doubt.is_some();
                (name.clone(), tally.single, tally.files, links, doubt)
            })
            .collect()
    }

    /// An archive the dry run claimed is left to it, and counted from its walk, or
    /// walked after all when it made none: either way as if `df` had walked it.
    #[cfg(unix)]
    #[test]
    fn archives_left_to_the_dry_run_count_as_if_walked() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cache");
        small_cache(&root);
        let threads = Threads::all_cores();
        let alone = walk_cache(&root, threads, None);
        assert!(alone.deferred.is_empty());
        assert_eq!(alone.archives.len(), 3);
        assert!(alone.archives.iter().all(|(_, t)| t.files > 0));

        let share = Share::default();
        let archive = |id: &str| root.join(ARCHIVE_BUCKET).join(id);
        let (a, c) = (archive("a"), archive("c"));
        // The dry run claims a and c, and walks only a (it stopped before c).
        share.claim(&[&a, &c]);
        share.publish(&a, &ArchiveWalk::of(&a));
        let mut shared = walk_cache(&root, threads, Some(&share));
        let mut deferred: Vec<&Path> = shared.deferred.iter().map(|(_, p)| p.as_path()).collect();
        deferred.sort();
        assert_eq!(deferred, [&a, &c]);
        shared.take_deferred(&share, threads);
        assert!(shared.deferred.is_empty());
        assert_eq!(counted(&shared), counted(&alone));
        assert!(share.take(&a).is_none(), "taken once");
    }

    /// The hash spreads inode numbers that differ in one bit (neighbours on disk).
    #[test]
    fn id_hasher_tells_neighbouring_inodes_apart() {
        let hash = |ino| {
            let mut hasher = IdHasher::default();
            FileId { dev: 2049, ino }.hash(&mut hasher);
            hasher.finish()
        };
        let hashes: std::collections::HashSet<u64> = (0..10_000).map(hash).collect();
        assert_eq!(hashes.len(), 10_000);
    }
}
