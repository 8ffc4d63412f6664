//! Stage 5: from evidence and policy to a plan. An archive with any evidence is kept; the
//! rest are dead, and policies choose which dead ones to remove; we count what that frees.
//!
//! # Bytes and the last safety net
//!
//! Bytes are counted as `du -B1` would see them disappear: allocated blocks, each inode
//! once, and only inodes whose every link goes: the plan's, plus the `files-v0` object of
//! a content-addressed cache, which is removed once the archives are gone. A file
//! deduplicated with a live archive frees nothing and counts nothing. Apply also removes
//! what names the candidates (pointer files, a block each for a `.http` record or a long
//! symlink), the dangling pointers and the `files-v0` shard directories it empties: those
//! are promised too, so that the promise is what `du -sB1` of the cache sees go (with
//! small archives they were a third of it). Counting needs an
//! `lstat` of every file of every candidate, and that same walk is where the last safety
//! net lives: a candidate's file with more links than the plan holds is used by something
//! we did not find (a hardlink venv outside every root), so the archive is kept (`nlink`).
//! Under the content-addressed cache the cache's own links (its object, other archives)
//! are not use; which extra links are, is explained in the `objects` module.
//!
//! # Policies
//!
//! Liveness always wins: a policy only ever chooses among dead archives. The keep list,
//! the grace window and `--unused-for` are facts about one archive, known before anything
//! is measured. `--max-size` is not: it removes dead archives least recently used first
//! until `du -sB1 archive-v0` fits, which needs every archive's bytes (the one case where
//! live archives are walked, and only when asked for).
//!
//! # Fixpoint
//!
//! Keeping one archive can change another's fate: a kept cached environment is a venv and
//! keeps the wheels it links to; a kept archive's inodes no longer lie inside the plan; a
//! size target that keeps some dead archives changes the link counts of the rest. So the
//! plan is computed to a fixpoint: the kept set only grows, so it ends. Live archives are
//! never walked in a plain dry run: it stats only the files it would delete.

pub(crate) mod measure;
pub(crate) mod per_venv;
pub(crate) mod policy;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::cache::archive_id::ArchiveId;
use crate::cache::dist::PackageName;
use crate::cache::inventory::{Archive, ArchiveKind, Inventory};
use crate::cache::locate::CacheDir;
use crate::cache::objects::{Object, ObjectIndex};
use crate::cache::pointer::Target;
use crate::evidence::collect::Collected;
use crate::evidence::{Evidence, Findings};
use crate::plan::measure::ArchiveWalk;
use crate::report::progress::Progress;
use crate::state::LastSeen;
use crate::sys::fs_meta::{FileId, entry_stat};
use crate::sys::read::BlindSpot;
use crate::sys::threads::Threads;

/// The policies a user can set; all choose among dead archives only.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Archives created less than this long ago are kept.
    pub grace: Duration,
    /// Packages never removed.
    pub keep: Vec<PackageName>,
    /// Remove only dead archives not used for this long.
    pub unused_for: Option<Duration>,
    /// Remove dead archives, least recently used first, until `archive-v0` fits.
    pub max_size: Option<u64>,
}

/// What the plan needs beyond the inventory and the evidence.
#[derive(Debug, Clone)]
pub struct Options {
    pub policy: Policy,
    /// The clock, so that tests can set it.
    pub now: SystemTime,
    /// When our earlier scans last saw each archive live.
    pub last_seen: LastSeen,
    /// CI mode (`--only-locked`): the locks are the only sign of use; link counts are
    /// not consulted (doubt and the policies still keep).
    pub only_locked: bool,
    /// Threads for the candidate walk.
    pub threads: Threads,
    /// Cached environments not used for `--unused-for` (`crate::buckets::environments`): their
    /// `environments-v*` links are no evidence.
    pub stale_envs: HashSet<ArchiveId>,
    /// Links that stale script environments, removed in the same run, hold to archive
    /// files: accounted for like the plan's own.
    pub going_links: HashMap<FileId, u64>,
    /// `df`'s walk of the whole cache, running beside this plan: the archives the plan
    /// walks are claimed from it and their walks handed to it (`crate::df`).
    pub(crate) share: Option<std::sync::Arc<measure::Share>>,
}

/// Why a dead archive is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Selection {
    /// No policy limits removal: every dead archive goes.
    Dead,
    /// Dead and not used for `--unused-for`.
    UnusedFor,
    /// Dead, and removed (least recently used first) to meet `--max-size`.
    MaxSize,
}

/// Spelled as in the JSON report (kebab-case).
impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Selection::Dead => "dead",
            Selection::UnusedFor => "unused-for",
            Selection::MaxSize => "max-size",
        })
    }
}

/// The decision for one archive.
#[derive(Debug, Clone)]
pub enum Fate {
    /// Removing it frees `bytes` (its share of the plan's total; inodes it shares with
    /// another candidate are counted for the first one by id).
    Remove { bytes: u64, selection: Selection },
    /// Kept, with every reason.
    Keep(Vec<Evidence>),
}

#[derive(Debug, Clone)]
pub struct ArchivePlan {
    pub id: ArchiveId,
    pub path: PathBuf,
    pub name: Option<PackageName>,
    pub version: Option<String>,
    pub is_venv: bool,
    /// The latest sign of use we know of (see [`crate::state`]).
    pub last_use: Option<SystemTime>,
    pub fate: Fate,
    /// Every pointer naming this archive (`.rev`/`.http` records, bucket symlinks,
    /// environment links), in inventory order: what apply removes before the archive, so
    /// that no pointer ever outlives it.
    pub pointers: Vec<PathBuf>,
}

/// A pointer naming an archive the inventory did not find: removed by apply once it has
/// checked, under the lock, that the archive is still absent.
#[derive(Debug, Clone)]
pub struct Dangling {
    pub path: PathBuf,
    pub id: ArchiveId,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Every archive, by id.
    pub archives: Vec<ArchivePlan>,
    /// Sum of the candidates' bytes: what applying the plan frees.
    pub reclaimable_bytes: u64,
    /// Pointers whose archive is gone, in inventory order.
    pub dangling: Vec<Dangling>,
    /// Policy outcomes worth telling the user (a size target that cannot be met).
    pub notes: Vec<String>,
    /// The walks made while planning (candidates, or all archives for a size target),
    /// reused by the per-venv view.
    pub(crate) walks: HashMap<ArchiveId, ArchiveWalk>,
    /// The `files-v0` objects of the candidates' files: removed after the archives, each
    /// only if nothing else links it by then.
    pub(crate) objects: Vec<Object>,
    /// Beyond `archive-v0`: leftovers and orphaned objects (`crate::buckets::leftovers`), removed
    /// after the archives.
    pub others: Vec<crate::buckets::leftovers::Other>,
    /// The shared inodes every link of which goes with the candidates: each is counted
    /// in the bytes of the first candidate by id that links it.
    pub(crate) freed: HashSet<FileId>,
}

impl Plan {
    pub fn candidates(&self) -> impl Iterator<Item = (&ArchivePlan, u64)> {
        self.archives.iter().filter_map(|a| match a.fate {
            Fate::Remove { bytes, .. } => Some((a, bytes)),
            Fate::Keep(_) => None,
        })
    }

    pub fn kept(&self) -> impl Iterator<Item = (&ArchivePlan, &[Evidence])> {
        self.archives.iter().filter_map(|a| match &a.fate {
            Fate::Keep(evidence) => Some((a, evidence.as_slice())),
            Fate::Remove { .. } => None,
        })
    }

    /// When apply keeps some candidates whole after all (`kept`: a pointer it may not
    /// remove), the inodes they share with the others stay too; each was counted in the
    /// bytes of the first candidate by id that links it, as [`make`] counted them. Per
    /// other candidate, the bytes it was credited with that now stay: what its promise
    /// must lose.
    pub(crate) fn still_shared(&self, kept: &HashSet<&ArchiveId>) -> HashMap<ArchiveId, u64> {
        let held: HashSet<FileId> = kept
            .iter()
            .filter_map(|id| self.walks.get(*id))
            .flat_map(|walk| &walk.shared)
            .filter_map(|(_, stat)| stat.id)
            .collect();
        let mut counted = HashSet::new();
        let mut stays: HashMap<ArchiveId, u64> = HashMap::new();
        for (archive, _) in self.candidates() {
            let Some(walk) = self.walks.get(&archive.id) else {
                continue;
            };
            for (_, stat) in &walk.shared {
                let credited = stat
                    .id
                    .filter(|id| self.freed.contains(id) && counted.insert(*id));
                if credited.is_some_and(|id| held.contains(&id)) && !kept.contains(&archive.id) {
                    *stays.entry(archive.id.clone()).or_default() += stat.allocated;
                }
            }
        }
        stays
    }
}

/// Decides every archive's fate.
pub fn make(
    inventory: &Inventory,
    cache: &CacheDir,
    collected: Collected,
    options: &Options,
    progress: &Progress,
) -> Plan {
    let Collected {
        mut intrinsic,
        found,
        environments,
    } = collected;
    let mut planner = Planner {
        inventory,
        options,
        progress,
        environments,
        evidence: EvidenceMap::default(),
        scanned_envs: HashSet::new(),
        walks: HashMap::new(),
        cache_root: cache.root().to_owned(),
        objects: ObjectIndex::default(),
        metadata_links: metadata_links(inventory),
    };
    for archive in inventory.archives.values() {
        let id = &archive.id;
        let doubt = intrinsic.remove(id).unwrap_or_default();
        let facts = policy::Facts {
            package: archive.dist().map(|d| &d.name),
            created: archive.created,
            last_use: last_use(archive, &options.last_seen),
        };
        let held = policy::holds(facts, &options.policy, options.now);
        let reasons = doubt.into_iter().chain(held);
        planner
            .evidence
            .add_all(reasons.map(|e| (id.clone(), e)).collect());
    }
    planner.evidence.add_all(found);

    let mut notes = Vec::new();
    let cache_bytes = options
        .policy
        .max_size
        .map(|_| planner.archive_dir_bytes(&cache.archive_dir()));
    loop {
        planner.settle();
        let (Some(max_size), Some(cache_bytes)) = (options.policy.max_size, cache_bytes) else {
            break;
        };
        let (spared, note) = planner.fit(max_size, cache_bytes);
        if spared.is_empty() {
            notes.extend(note);
            break;
        }
        planner.evidence.add_all(spared);
    }
    let mut plan = planner.finish();
    plan.notes = notes;
    plan
}

/// The latest sign of use: creation, a hardlink's ctime, or our own record.
fn last_use(archive: &Archive, last_seen: &LastSeen) -> Option<SystemTime> {
    [archive.created, archive.linked, last_seen.get(&archive.id)]
        .into_iter()
        .flatten()
        .max()
}

struct Planner<'a> {
    inventory: &'a Inventory,
    options: &'a Options,
    progress: &'a Progress,
    /// What each cached environment links (`crate::evidence::collect`), added once the
    /// environment is kept.
    environments: BTreeMap<ArchiveId, Findings>,
    evidence: EvidenceMap,
    scanned_envs: HashSet<ArchiveId>,
    walks: HashMap<ArchiveId, ArchiveWalk>,
    cache_root: PathBuf,
    /// The objects of the walked candidates' shared files.
    objects: ObjectIndex,
    /// How many archives have each `METADATA` inode (see the `objects` module).
    metadata_links: HashMap<FileId, u64>,
}

impl<'a> Planner<'a> {
    fn candidates(&self) -> Vec<&'a Archive> {
        let evidence = &self.evidence;
        let inventory: &'a Inventory = self.inventory;
        let archives = inventory.archives.values();
        archives.filter(|a| !evidence.has(&a.id)).collect()
    }

    /// Scans kept environments and applies the `nlink` net until nothing changes.
    fn settle(&mut self) {
        loop {
            // A kept cached environment is a venv like any other.
            let inventory: &'a Inventory = self.inventory;
            let new_envs: Vec<&Archive> = inventory
                .archives
                .values()
                .filter(|a| matches!(a.kind, ArchiveKind::Venv))
                .filter(|a| self.evidence.has(&a.id) && !self.scanned_envs.contains(&a.id))
                .filter(|_| !self.options.only_locked)
                .collect();
            if !new_envs.is_empty() {
                for archive in new_envs {
                    self.scanned_envs.insert(archive.id.clone());
                    let findings = self.environments.remove(&archive.id);
                    self.evidence.add_all(findings.unwrap_or_default());
                }
                continue;
            }
            let candidates = self.candidates();
            self.walk(&candidates);
            self.index_objects(&candidates);
            let links = CacheLinks {
                walks: &self.walks,
                objects: &self.objects,
                metadata_links: &self.metadata_links,
                going: &self.options.going_links,
                stale_envs: &self.options.stale_envs,
            };
            let findings = if self.options.only_locked {
                Findings::new()
            } else {
                links.held_outside_plan(&candidates)
            };
            if findings.is_empty() {
                return;
            }
            self.evidence.add_all(findings);
        }
    }

    /// Walks the archives not walked yet, on every thread (a directory per work item).
    fn walk(&mut self, archives: &[&Archive]) {
        let unwalked: Vec<&Archive> = archives
            .iter()
            .filter(|a| !self.walks.contains_key(&a.id))
            .copied()
            .collect();
        let bar = self.progress.spinner("measuring archives");
        let paths: Vec<&Path> = unwalked.iter().map(|a| a.path.as_path()).collect();
        let share = self.options.share.as_deref();
        if let Some(share) = share {
            share.claim(&paths);
        }
        // The spinner counts directories measured: it moves within a large archive too.
        let walks = ArchiveWalk::all_ticking(&paths, self.options.threads, &|| bar.inc(1));
        for (archive, walk) in unwalked.into_iter().zip(walks) {
            if let Some(share) = share {
                share.publish(&archive.path, &walk);
            }
            self.walks.insert(archive.id.clone(), walk);
        }
        bar.finish_and_clear();
    }

    /// Finds the objects of the candidates' shared files, unless an earlier index covers
    /// them all (candidates only shrink, so one index usually serves every round).
    fn index_objects(&mut self, candidates: &[&Archive]) {
        let shared = || {
            candidates
                .iter()
                .flat_map(|a| &self.walks[&a.id].shared)
                .filter_map(|(_, stat)| stat.id.as_ref())
        };
        if !self.objects.covers(shared()) {
            let wanted = shared().copied().collect();
            self.objects = ObjectIndex::of(&self.cache_root, &wanted);
        }
    }

    /// `du -sB1 archive-v0`: every archive's inodes, each once, and the directory itself.
    fn archive_dir_bytes(&mut self, archive_dir: &Path) -> u64 {
        let inventory: &'a Inventory = self.inventory;
        let all: Vec<&Archive> = inventory.archives.values().collect();
        self.walk(&all);
        let own = std::fs::symlink_metadata(archive_dir)
            .map(|m| entry_stat(&m).allocated)
            .unwrap_or(0);
        let mut seen = HashSet::new();
        let shared: u64 = self
            .walks
            .values()
            .flat_map(|w| &w.shared)
            .filter(|(_, stat)| stat.id.is_some_and(|id| seen.insert(id)))
            .map(|(_, stat)| stat.allocated)
            .sum();
        own + shared + self.walks.values().map(|w| w.private_bytes).sum::<u64>()
    }

    /// Chooses the least recently used candidates that bring `cache_bytes` within
    /// `max_size`; the others are spared (`within-size`). Also a note when even removing
    /// every candidate is not enough.
    fn fit(&self, max_size: u64, cache_bytes: u64) -> (Findings, Option<String>) {
        let last_seen = &self.options.last_seen;
        let mut candidates = self.candidates();
        candidates.sort_by_key(|a| (last_use(a, last_seen), a.id.clone()));
        let mut counted = HashSet::new();
        let order = candidates.iter().map(|a| &a.id);
        let bytes = |id: &ArchiveId| self.walks[id].bytes(&mut counted);
        let (spared, remaining) = policy::fit(max_size, cache_bytes, order, bytes);
        let spared = spared.into_iter().map(|id| (id, Evidence::WithinSize));
        let note = (remaining > max_size).then(|| {
            format!(
                "the cache stays above --max-size {} after removing every dead archive: {} remain, held by live archives",
                crate::units::human_bytes(max_size),
                crate::units::human_bytes(remaining)
            )
        });
        (spared.collect(), note)
    }

    fn finish(self) -> Plan {
        let mut evidence = self.evidence;
        let policy = &self.options.policy;
        let selection = match (policy.unused_for, policy.max_size) {
            (_, Some(_)) => Selection::MaxSize,
            (Some(_), None) => Selection::UnusedFor,
            (None, None) => Selection::Dead,
        };
        let candidates: Vec<&Archive> = self
            .inventory
            .archives
            .values()
            .filter(|a| !evidence.has(&a.id))
            .collect();
        let links = CacheLinks {
            walks: &self.walks,
            objects: &self.objects,
            metadata_links: &self.metadata_links,
            going: &self.options.going_links,
            stale_envs: &self.options.stale_envs,
        };
        let (freed, objects) = links.freed(&candidates);
        let mut counted: HashSet<FileId> = HashSet::new();
        let mut pointers: HashMap<&ArchiveId, Vec<PathBuf>> = HashMap::new();
        let mut dangling = Vec::new();
        for pointer in &self.inventory.pointers {
            if let Target::Archive(id) = &pointer.target {
                if self.inventory.archives.contains_key(id) {
                    pointers.entry(id).or_default().push(pointer.path.clone());
                } else {
                    dangling.push(Dangling {
                        path: pointer.path.clone(),
                        id: id.clone(),
                    });
                }
            }
        }
        let mut plan = Plan {
            objects,
            dangling,
            ..Plan::default()
        };
        for archive in self.inventory.archives.values() {
            let fate = match evidence.0.remove(&archive.id) {
                Some(reasons) => Fate::Keep(reasons),
                None => {
                    let bytes = self.walks[&archive.id].freed_bytes(&mut counted, &freed)
                        + pointer_bytes(
                            pointers.get(&archive.id).map_or(&[], Vec::as_slice),
                            &mut counted,
                        );
                    plan.reclaimable_bytes += bytes;
                    Fate::Remove { bytes, selection }
                }
            };
            let dist = archive.dist();
            plan.archives.push(ArchivePlan {
                id: archive.id.clone(),
                path: archive.path.clone(),
                name: dist.map(|d| d.name.clone()),
                version: dist.map(|d| d.version.clone()),
                is_venv: matches!(archive.kind, ArchiveKind::Venv),
                last_use: last_use(archive, &self.options.last_seen),
                fate,
                pointers: pointers.remove(&archive.id).unwrap_or_default(),
            });
        }
        // Apply also removes the dangling pointers, and the shard directories of
        // `files-v0` that the orphans' removal empties.
        let dangling: Vec<PathBuf> = plan.dangling.iter().map(|d| d.path.clone()).collect();
        plan.reclaimable_bytes += pointer_bytes(&dangling, &mut counted);
        plan.reclaimable_bytes += self.objects.emptied_shard_bytes(&freed);
        plan.walks = self.walks;
        plan.freed = freed;
        plan
    }
}

/// What removing a candidate's pointers frees: each pointer file's or symlink's allocated
/// blocks (a `.http` record takes a block; so does a symlink whose target is too long to
/// live in its inode), each inode once, and only when that is its last link. An `lstat`
/// per pointer, of candidates only; one that cannot be read promises nothing.
pub(crate) fn pointer_bytes(pointers: &[PathBuf], counted: &mut HashSet<FileId>) -> u64 {
    pointers
        .iter()
        .filter_map(|path| std::fs::symlink_metadata(path).ok())
        .map(|meta| entry_stat(&meta))
        .filter(|stat| !stat.is_dir && stat.nlink <= 1)
        .filter(|stat| stat.id.is_none_or(|id| counted.insert(id)))
        .map(|stat| stat.allocated)
        .sum()
}

/// How many wheel archives have each `METADATA` inode: the links the cache itself holds
/// on a content-addressed `METADATA`, besides its object.
fn metadata_links(inventory: &Inventory) -> HashMap<FileId, u64> {
    let mut links: HashMap<FileId, u64> = HashMap::new();
    for archive in inventory.archives.values() {
        if let Some(id) = metadata_id(archive) {
            *links.entry(id).or_default() += 1;
        }
    }
    links
}

fn metadata_id(archive: &Archive) -> Option<FileId> {
    match &archive.kind {
        ArchiveKind::Wheel { metadata, .. } => metadata.id,
        _ => None,
    }
}

/// Who links the candidates' files: the plan, the object store, other archives.
struct CacheLinks<'p> {
    walks: &'p HashMap<ArchiveId, ArchiveWalk>,
    objects: &'p ObjectIndex,
    metadata_links: &'p HashMap<FileId, u64>,
    /// Links held by stale script environments removed in the same run.
    going: &'p HashMap<FileId, u64>,
    /// Stale cached environments: uv builds one by hardlinking the files of wheel
    /// archives, so its extra links are those archives' (and theirs), never a sign
    /// that something else uses the environment.
    stale_envs: &'p HashSet<ArchiveId>,
}

impl CacheLinks<'_> {
    /// Links to each shared inode from the candidates' walks (and from the stale script
    /// environments that go with them), and its `st_nlink`.
    fn in_plan(&self, candidates: &[&Archive]) -> HashMap<FileId, (u64, u64)> {
        let mut links: HashMap<FileId, (u64, u64)> = HashMap::new();
        for archive in candidates {
            for (_, stat) in &self.walks[&archive.id].shared {
                if let Some(id) = stat.id {
                    let (count, nlink) = links.entry(id).or_default();
                    if *count == 0 {
                        *count = self.going.get(&id).copied().unwrap_or(0);
                    }
                    *count += 1;
                    *nlink = stat.nlink;
                }
            }
        }
        links
    }

    /// Candidates some of whose files have links neither the plan nor the cache itself
    /// holds (the rule is explained in the `objects` module).
    fn held_outside_plan(&self, candidates: &[&Archive]) -> Findings {
        let links_in_plan = self.in_plan(candidates);
        let mut metadata_in_plan: HashMap<FileId, u64> = HashMap::new();
        for id in candidates.iter().filter_map(|a| metadata_id(a)) {
            *metadata_in_plan.entry(id).or_default() += 1;
        }
        let mut findings = Findings::new();
        for archive in candidates {
            let walk = &self.walks[&archive.id];
            if let Some(BlindSpot {
                path,
                cause: reason,
            }) = &walk.unreadable
            {
                findings.push((
                    archive.id.clone(),
                    Evidence::Unreadable {
                        path: path.clone(),
                        reason: reason.clone(),
                    },
                ));
                continue;
            }
            if self.stale_envs.contains(&archive.id) {
                continue;
            }
            let metadata = metadata_id(archive);
            // Of several, the first by path: the walk's order depends on the threads.
            let outside = walk.shared.iter().filter(|(_, stat)| {
                let Some(id) = stat.id else {
                    return true;
                };
                let in_plan = links_in_plan.get(&id).map_or(0, |(count, _)| *count);
                if self.objects.get(&id).is_none() {
                    return held_elsewhere(stat.nlink, in_plan);
                }
                if Some(id) != metadata {
                    // Extra links may be live archives sharing the content: not use.
                    return false;
                }
                let archives = self.metadata_links.get(&id).copied().unwrap_or(0);
                let live_archives = archives.saturating_sub(metadata_in_plan[&id]);
                held_elsewhere(stat.nlink, 1 + in_plan + live_archives)
            });
            let outside = outside.min_by(|a, b| a.0.cmp(&b.0));
            if let Some((file, stat)) = outside {
                findings.push((
                    archive.id.clone(),
                    Evidence::Nlink {
                        file: file.clone(),
                        links: stat.nlink,
                    },
                ));
            }
        }
        findings
    }

    /// The shared inodes every link of which goes with the candidates (their objects
    /// included), and the objects to remove after them.
    fn freed(&self, candidates: &[&Archive]) -> (HashSet<FileId>, Vec<Object>) {
        let links_in_plan = self.in_plan(candidates);
        let mut freed = HashSet::new();
        let mut objects = Vec::new();
        for (id, (in_plan, nlink)) in links_in_plan {
            let object = self.objects.get(&id);
            if !held_elsewhere(nlink, in_plan + u64::from(object.is_some())) {
                freed.insert(id);
            }
            objects.extend(object.cloned());
        }
        objects.sort_by_key(|o| o.file());
        (freed, objects)
    }
}

/// The last safety net's rule, in one place: a file with more links (`st_nlink`) than
/// the ones accounted for (the plan's, and those the cache itself holds) is linked by
/// something we did not find, so its archive is in use. Used by the plan and by the
/// per-venv view, which must agree with it.
pub(crate) fn held_elsewhere(nlink: u64, accounted: u64) -> bool {
    nlink > accounted
}

/// Evidence per archive, without duplicates, in the order found.
#[derive(Debug, Default)]
struct EvidenceMap(BTreeMap<ArchiveId, Vec<Evidence>>);

impl EvidenceMap {
    fn add_all(&mut self, findings: Findings) {
        for (id, evidence) in findings {
            let list = self.0.entry(id).or_default();
            if !list.contains(&evidence) {
                list.push(evidence);
            }
        }
    }

    fn has(&self, id: &ArchiveId) -> bool {
        self.0.contains_key(id)
    }
}
