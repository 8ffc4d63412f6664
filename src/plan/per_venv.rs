//! "How much does this one venv hold?": for each venv, the archives that only it keeps
//! alive, and the bytes that deleting the venv would make reclaimable.
//!
//! The figure is meant to equal what a re-run reports after the venv is deleted, so it
//! follows the plan's own rules: an archive counts only if every piece of its evidence
//! comes from this venv (another venv, a policy or a doubt would still keep it), and only
//! if, once the venv's own hardlinks are gone, none of its files has a link outside the
//! plan (else the `nlink` net would still keep it). Bytes are `du -B1` bytes, each inode
//! once. This walks the venv and the archives it alone holds, so it runs only on request.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::cache::archive_id::ArchiveId;
use crate::evidence::Evidence;
use crate::plan::measure::ArchiveWalk;
use crate::plan::{Fate, Plan, held_elsewhere, pointer_bytes};
use crate::sys::fs_meta::{FileId, entry_stat};

/// What one venv alone keeps alive.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VenvShare {
    /// The venv.
    pub venv: PathBuf,
    /// The archives nothing else keeps.
    pub archives: Vec<ArchiveId>,
    /// What deleting the venv would let a prune free, in `du -B1` bytes.
    pub bytes: u64,
}

/// One [`VenvShare`] per venv, largest first.
pub fn shares(plan: &Plan, venvs: &[PathBuf]) -> Vec<VenvShare> {
    let mut in_plan: HashMap<FileId, u64> = HashMap::new();
    for (archive, _) in plan.candidates() {
        count_links(&plan.walks[&archive.id], &mut in_plan);
    }
    let mut shares: Vec<VenvShare> = venvs
        .iter()
        .map(|venv| share_of(plan, venv, &in_plan))
        .collect();
    shares.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.venv.cmp(&b.venv)));
    shares
}

fn count_links(walk: &ArchiveWalk, counts: &mut HashMap<FileId, u64>) {
    for id in walk.shared.iter().filter_map(|(_, stat)| stat.id) {
        *counts.entry(id).or_default() += 1;
    }
}

fn share_of(plan: &Plan, venv: &Path, in_plan: &HashMap<FileId, u64>) -> VenvShare {
    let alone: Vec<_> = plan
        .archives
        .iter()
        .filter(|a| match &a.fate {
            Fate::Keep(evidence) => evidence.iter().all(|e| from_venv(e, venv)),
            Fate::Remove { .. } => false,
        })
        .collect();
    let walks: Vec<(ArchiveId, ArchiveWalk, &[PathBuf])> = alone
        .iter()
        .map(|a| {
            let walk = plan.walks.get(&a.id).cloned();
            (
                a.id.clone(),
                walk.unwrap_or_else(|| ArchiveWalk::of(&a.path)),
                a.pointers.as_slice(),
            )
        })
        .collect();
    // Links that disappear with the venv, or lie in the plan: the current candidates and
    // everything this venv alone holds.
    let mut accounted = in_plan.clone();
    for (_, walk, _) in &walks {
        count_links(walk, &mut accounted);
    }
    if walks.iter().any(|(_, w, _)| !w.shared.is_empty()) {
        for (id, links) in hardlinks_in(venv) {
            *accounted.entry(id).or_default() += links;
        }
    }
    let mut counted = HashSet::new();
    let mut share = VenvShare {
        venv: venv.to_owned(),
        archives: Vec::new(),
        bytes: 0,
    };
    for (id, walk, pointers) in walks {
        let freed = walk.unreadable.is_none()
            && walk.shared.iter().all(|(_, stat)| {
                stat.id.is_some_and(|i| {
                    !held_elsewhere(stat.nlink, accounted.get(&i).copied().unwrap_or(0))
                })
            });
        if freed {
            // As the plan counts a candidate: its files and its pointers.
            share.bytes += walk.bytes(&mut counted) + pointer_bytes(pointers, &mut counted);
            share.archives.push(id);
        }
    }
    share
}

/// Evidence that disappears when `venv` does.
fn from_venv(evidence: &Evidence, venv: &Path) -> bool {
    match evidence {
        Evidence::Symlink { venv: v }
        | Evidence::Hardlink { venv: v }
        | Evidence::Content { venv: v } => v == venv,
        Evidence::Environment { by } => by.starts_with(venv),
        _ => false,
    }
}

/// Multi-link files of a venv, by inode, with how many of their links it holds.
fn hardlinks_in(venv: &Path) -> HashMap<FileId, u64> {
    let mut links = HashMap::new();
    for entry in WalkDir::new(venv).follow_links(false).into_iter().flatten() {
        if entry.file_type().is_file()
            && let Ok(meta) = entry.metadata()
        {
            let stat = entry_stat(&meta);
            if let (Some(id), true) = (stat.id, stat.nlink > 1) {
                *links.entry(id).or_default() += 1;
            }
        }
    }
    links
}
