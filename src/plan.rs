//! Stage 5: from evidence to a plan. An archive with any evidence is kept; the rest are
//! candidates, and we count what removing them frees.
//!
//! Bytes are counted as `du -B1` would see them disappear: allocated blocks, each inode
//! once, and only inodes whose every link lies inside the plan. Counting needs an `lstat`
//! of every file of every candidate, and that same walk is where the last safety net
//! lives: a candidate's file with more links than the plan holds is used by something we
//! did not find (a hardlink venv outside every root), so the archive is kept (`nlink`).
//!
//! Keeping one archive can change another's fate (a kept cached environment keeps the
//! wheels it links to; a kept archive's inodes no longer lie inside the plan), so the
//! plan is computed to a fixpoint. Live archives are never walked: the default dry run
//! stats only the files it would delete.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use walkdir::WalkDir;

use crate::archive_id::ArchiveId;
use crate::dist::PackageName;
use crate::fs_meta::{EntryStat, FileId, entry_stat};
use crate::inventory::{Archive, ArchiveKind, Inventory};
use crate::liveness::{Evidence, Findings, Matcher};
use crate::locate::CacheDir;
use crate::progress::Progress;

/// What the plan needs beyond the inventory and the venvs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Archives created less than this long ago are kept.
    pub grace: Duration,
    /// The clock, so that tests can set it.
    pub now: SystemTime,
    /// Parts of roots we could not read: a venv hiding there could use any archive.
    /// Each keeps every archive (`unreadable`); empty when the user allows it.
    pub blind_spots: Vec<(PathBuf, String)>,
}

/// The decision for one archive.
#[derive(Debug, Clone)]
pub enum Fate {
    /// Dead: removing it frees `bytes` (its share of the plan's total; inodes it shares
    /// with another candidate are counted for the first one by id).
    Remove { bytes: u64 },
    /// Live, with every reason.
    Keep(Vec<Evidence>),
}

#[derive(Debug, Clone)]
pub struct ArchivePlan {
    pub id: ArchiveId,
    pub path: PathBuf,
    pub name: Option<PackageName>,
    pub version: Option<String>,
    pub is_venv: bool,
    pub fate: Fate,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Every archive, by id.
    pub archives: Vec<ArchivePlan>,
    /// Sum of the candidates' bytes: what applying the plan frees.
    pub reclaimable_bytes: u64,
}

impl Plan {
    pub fn candidates(&self) -> impl Iterator<Item = (&ArchivePlan, u64)> {
        self.archives.iter().filter_map(|a| match a.fate {
            Fate::Remove { bytes } => Some((a, bytes)),
            Fate::Keep(_) => None,
        })
    }

    pub fn kept(&self) -> impl Iterator<Item = (&ArchivePlan, &[Evidence])> {
        self.archives.iter().filter_map(|a| match &a.fate {
            Fate::Keep(evidence) => Some((a, evidence.as_slice())),
            Fate::Remove { .. } => None,
        })
    }
}

/// Decides every archive's fate.
pub fn make(
    inventory: &Inventory,
    cache: &CacheDir,
    venvs: &[PathBuf],
    options: &Options,
    progress: &Progress,
) -> Plan {
    let mut matcher = Matcher::new(inventory, cache);
    let mut evidence = EvidenceMap::default();
    for archive in inventory.archives.values() {
        evidence.add_all(intrinsic(archive, options));
    }
    evidence.add_all(matcher.pointer_findings());
    let bar = progress.bar(venvs.len() as u64, "matching venvs");
    for venv in venvs {
        evidence.add_all(matcher.scan_venv(venv));
        bar.inc(1);
    }
    bar.finish_and_clear();

    let mut scanned_envs = HashSet::new();
    let mut walks: HashMap<ArchiveId, ArchiveWalk> = HashMap::new();
    loop {
        // A kept cached environment is a venv like any other.
        let new_envs: Vec<&Archive> = inventory
            .archives
            .values()
            .filter(|a| matches!(a.kind, ArchiveKind::Venv))
            .filter(|a| evidence.has(&a.id) && !scanned_envs.contains(&a.id))
            .collect();
        if !new_envs.is_empty() {
            for archive in new_envs {
                scanned_envs.insert(archive.id.clone());
                evidence.add_all(matcher.scan_venv(&archive.path));
            }
            continue;
        }
        let candidates: Vec<&Archive> = inventory
            .archives
            .values()
            .filter(|a| !evidence.has(&a.id))
            .collect();
        let unwalked: Vec<_> = candidates
            .iter()
            .filter(|a| !walks.contains_key(&a.id))
            .collect();
        let bar = progress.bar(unwalked.len() as u64, "measuring candidates");
        for archive in unwalked {
            walks.insert(archive.id.clone(), ArchiveWalk::of(&archive.path));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let findings = held_outside_plan(&candidates, &walks);
        if findings.is_empty() {
            return finish(inventory, evidence, &walks);
        }
        evidence.add_all(findings);
    }
}

/// Reasons an archive carries by itself, before any venv is looked at.
fn intrinsic(archive: &Archive, options: &Options) -> Findings {
    let mut findings = Findings::new();
    let id = || archive.id.clone();
    match &archive.kind {
        ArchiveKind::Unrecognized => findings.push((id(), Evidence::Unrecognized)),
        ArchiveKind::Unreadable(reason) => findings.push((
            id(),
            Evidence::Unreadable {
                path: archive.path.clone(),
                reason: reason.clone(),
            },
        )),
        ArchiveKind::Wheel { .. } | ArchiveKind::Venv => {}
    }
    for (path, reason) in &options.blind_spots {
        findings.push((
            id(),
            Evidence::Unreadable {
                path: path.clone(),
                reason: format!("part of a root could not be read: {reason}"),
            },
        ));
    }
    // No creation time, or one in the future: treat as brand new.
    let age = archive
        .created
        .and_then(|created| options.now.duration_since(created).ok())
        .unwrap_or(Duration::ZERO);
    if age < options.grace {
        findings.push((id(), Evidence::Grace { age }));
    }
    findings
}

/// Candidates some of whose files have links the plan does not hold.
fn held_outside_plan(candidates: &[&Archive], walks: &HashMap<ArchiveId, ArchiveWalk>) -> Findings {
    let mut links_in_plan: HashMap<FileId, u64> = HashMap::new();
    for archive in candidates {
        for (_, stat) in &walks[&archive.id].shared {
            if let Some(id) = stat.id {
                *links_in_plan.entry(id).or_default() += 1;
            }
        }
    }
    let mut findings = Findings::new();
    for archive in candidates {
        let walk = &walks[&archive.id];
        if let Some((path, reason)) = &walk.unreadable {
            findings.push((
                archive.id.clone(),
                Evidence::Unreadable {
                    path: path.clone(),
                    reason: reason.clone(),
                },
            ));
            continue;
        }
        let outside = walk.shared.iter().find(|(_, stat)| {
            stat.id
                .is_none_or(|id| links_in_plan.get(&id).copied().unwrap_or(0) < stat.nlink)
        });
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

fn finish(
    inventory: &Inventory,
    mut evidence: EvidenceMap,
    walks: &HashMap<ArchiveId, ArchiveWalk>,
) -> Plan {
    let mut counted: HashSet<FileId> = HashSet::new();
    let mut plan = Plan::default();
    for archive in inventory.archives.values() {
        let fate = match evidence.0.remove(&archive.id) {
            Some(reasons) => Fate::Keep(reasons),
            None => {
                let walk = &walks[&archive.id];
                let shared: u64 = walk
                    .shared
                    .iter()
                    .filter(|(_, stat)| stat.id.is_some_and(|id| counted.insert(id)))
                    .map(|(_, stat)| stat.allocated)
                    .sum();
                let bytes = walk.private_bytes + shared;
                plan.reclaimable_bytes += bytes;
                Fate::Remove { bytes }
            }
        };
        let dist = archive.dist();
        plan.archives.push(ArchivePlan {
            id: archive.id.clone(),
            path: archive.path.clone(),
            name: dist.map(|d| d.name.clone()),
            version: dist.map(|d| d.version.clone()),
            is_venv: matches!(archive.kind, ArchiveKind::Venv),
            fate,
        });
    }
    plan
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

/// One `lstat` walk of a candidate archive.
#[derive(Debug, Default)]
struct ArchiveWalk {
    /// Allocated bytes of directories and single-link files: freed with the archive.
    private_bytes: u64,
    /// Files with more than one link: freed only if every link is in the plan.
    shared: Vec<(PathBuf, EntryStat)>,
    /// The first part we could not read: the archive is then kept.
    unreadable: Option<(PathBuf, String)>,
}

impl ArchiveWalk {
    fn of(path: &Path) -> Self {
        let mut walk = Self::default();
        for entry in WalkDir::new(path).follow_links(false) {
            let stat = entry
                .map_err(|err| {
                    let at = err.path().unwrap_or(path).to_owned();
                    (at, err.to_string())
                })
                .and_then(|entry| {
                    let meta = entry
                        .metadata()
                        .map_err(|err| (entry.path().to_owned(), err.to_string()))?;
                    Ok((entry, entry_stat(&meta)))
                });
            match stat {
                Ok((_, stat)) if stat.is_dir || stat.nlink <= 1 => {
                    walk.private_bytes += stat.allocated;
                }
                Ok((entry, stat)) => walk.shared.push((entry.into_path(), stat)),
                Err(unreadable) => {
                    walk.unreadable.get_or_insert(unreadable);
                }
            }
        }
        walk
    }
}
