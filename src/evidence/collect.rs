//! Stage 4 as one step: every piece of evidence the plan weighs, gathered before it plans,
//! so that planning is measuring and deciding only. The order is the order the plan adds
//! them in (and the report lists them in): what each archive carries by itself, then the
//! locks, the absent roots, the cache's own pointers, and the venvs, venv by venv.
//! A cached environment in `archive-v0` keeps what it links only while it is itself kept,
//! which only the plan knows; its links are found here, once, and the plan adds them when
//! it keeps the environment.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use crate::cache::archive_id::ArchiveId;
use crate::cache::inventory::{Archive, ArchiveKind, Inventory};
use crate::cache::locate::CacheDir;
use crate::evidence::{Evidence, Findings, Matcher};
use crate::report::progress::Progress;
use crate::sys::read::BlindSpot;
use crate::sys::threads::{self, Threads};

/// Where evidence comes from besides the inventory and the venvs.
#[derive(Debug)]
pub struct Sources<'a> {
    /// Parts of roots we could not read: a venv hiding there could use any archive.
    /// Each keeps every archive (`unreadable`); empty when the user allows it.
    pub blind_spots: Vec<BlindSpot>,
    /// The users of a shared cache this run cannot see (`crate::discover::users`), named:
    /// a symlink venv of theirs may use any archive, so each is kept (`shared-cache`).
    pub unseen_users: Option<String>,
    /// What `uv.lock` files keep (`lockfile` evidence).
    pub locks: Findings,
    /// What registered roots whose filesystem is not here used when last seen
    /// (`root-unmounted` evidence).
    pub unmounted: Findings,
    /// CI mode (`--only-locked`): the locks are the only sign of use. Venvs and cached
    /// environments are not consulted; doubt still keeps.
    pub only_locked: bool,
    /// Cached environments not used for `--unused-for` (`crate::buckets::environments`):
    /// their `environments-v*` links are no evidence.
    pub stale_envs: &'a HashSet<ArchiveId>,
    /// Threads for venv matching.
    pub threads: Threads,
}

/// Everything stage 4 found.
#[derive(Debug, Default)]
pub struct Collected {
    /// What each archive carries by itself: doubt about its own contents, and about the
    /// search (blind spots, unseen users), which keeps every archive.
    pub intrinsic: BTreeMap<ArchiveId, Vec<Evidence>>,
    /// The locks, the absent roots, the cache's own pointers and the venvs, in that order.
    pub found: Findings,
    /// What each cached environment in `archive-v0` links: evidence only once the plan
    /// keeps that environment. Empty in CI mode.
    pub environments: BTreeMap<ArchiveId, Findings>,
}

/// Gathers the evidence about every archive of `inventory` from `sources` and `venvs`.
pub fn collect(
    inventory: &Inventory,
    cache: &CacheDir,
    venvs: &[PathBuf],
    sources: Sources<'_>,
    progress: &Progress,
) -> Collected {
    let mut collected = Collected::default();
    for archive in inventory.archives.values() {
        collected
            .intrinsic
            .insert(archive.id.clone(), doubt(archive, &sources));
    }
    collected.found.extend(sources.locks);
    collected.found.extend(sources.unmounted);
    let mut matcher = Matcher::new(inventory, cache);
    let mut from_pointers = matcher.pointer_findings();
    if sources.only_locked {
        from_pointers.retain(|(_, e)| !matches!(e, Evidence::Environment { .. }));
    }
    // A stale cached environment's links keep nothing (`crate::buckets::environments`).
    from_pointers.retain(|(id, e)| {
        !(matches!(e, Evidence::Environment { .. }) && sources.stale_envs.contains(id))
    });
    collected.found.extend(from_pointers);
    // Venvs on every thread, each with its own matcher (its caches are per thread); the
    // findings are added in venv order, as if one thread had matched them all.
    let bar = progress.bar(venvs.len() as u64, "matching venvs");
    let found = threads::map_with(
        sources.threads,
        venvs,
        || Matcher::new(inventory, cache),
        |matcher, venv| {
            let findings = matcher.scan_venv(venv);
            bar.inc(1);
            findings
        },
    );
    collected.found.extend(found.into_iter().flatten());
    bar.finish_and_clear();
    if !sources.only_locked {
        let environments = inventory.archives.values();
        for archive in environments.filter(|a| matches!(a.kind, ArchiveKind::Venv)) {
            let links = matcher.scan_venv(&archive.path);
            collected.environments.insert(archive.id.clone(), links);
        }
    }
    collected
}

/// Doubt an archive carries by itself: contents this tool does not know or cannot read,
/// and what the run could not see, which could use any archive.
fn doubt(archive: &Archive, sources: &Sources) -> Vec<Evidence> {
    let mut found = Vec::new();
    match &archive.kind {
        ArchiveKind::Unrecognized => found.push(Evidence::Unrecognized),
        ArchiveKind::Unreadable(reason) => found.push(Evidence::Unreadable {
            path: archive.path.clone(),
            reason: reason.clone(),
        }),
        ArchiveKind::Wheel { .. } | ArchiveKind::Venv => {}
    }
    for BlindSpot {
        path,
        cause: reason,
    } in &sources.blind_spots
    {
        found.push(Evidence::Unreadable {
            path: path.clone(),
            reason: format!("part of a root could not be read: {reason}"),
        });
    }
    if let Some(unseen) = &sources.unseen_users {
        found.push(Evidence::SharedCache {
            unseen: unseen.clone(),
        });
    }
    found
}
