//! Lock files as evidence: which `uv.lock` files count (found under the roots, or named
//! by `--only-locked`), read, and matched against the inventory by `lock_evidence`.
//!
//! A found lock that cannot be read is a blind spot like an unreadable part of a root: it
//! may name anything, so it keeps every archive unless `--allow-unreadable-roots`. A lock
//! named by `--only-locked` that cannot be read or parsed is an error: CI mode keeps
//! exactly what the locks name, and an unknown lock names nothing we could keep exactly.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Result;

use crate::buckets::sdists::LockedNames;
use crate::cache::inventory::Inventory;
use crate::cache::locate::CacheDir;
use crate::discover::RootScan;
use crate::discover::lockfile::{self, LockFile};
use crate::evidence::lock_match;
use crate::evidence::{Evidence, Findings};
use crate::pipeline::LockUse;
use crate::sys::read::BlindSpot;
use crate::warning::{Warning, WarningKind};

/// The `lockfile` evidence of the locks `use_` selects, and the packages they name (what
/// keeps a built sdist, `crate::buckets::sdists`), plus warnings and blind spots.
pub(crate) fn findings(
    use_: &LockUse,
    roots: &[RootScan],
    inventory: &Inventory,
    cache: &CacheDir,
    keep_for_blind_spots: bool,
    warnings: &mut Vec<Warning>,
    blind_spots: &mut Vec<BlindSpot>,
) -> Result<(Findings, LockedNames)> {
    let locks = match use_ {
        LockUse::Ignored => return Ok((Findings::new(), LockedNames::default())),
        LockUse::Only(paths) => lockfile::load_named(paths)?,
        LockUse::Found => found(roots, keep_for_blind_spots, warnings, blind_spots),
    };
    let evidence = lock_match::match_locks(&locks, inventory, cache.root());
    warnings.extend(evidence.warnings);
    let named = LockedNames::of(&locks);
    let findings = evidence
        .kept
        .into_iter()
        .flat_map(|(id, keeps)| {
            keeps.into_iter().map(move |keep| {
                let evidence = Evidence::Lockfile {
                    lock: keep.lock,
                    by: keep.by,
                };
                (id.clone(), evidence)
            })
        })
        .collect();
    Ok((findings, named))
}

/// Reads every lock the walk found, each once (roots can overlap).
fn found(
    roots: &[RootScan],
    keep_for_blind_spots: bool,
    warnings: &mut Vec<Warning>,
    blind_spots: &mut Vec<BlindSpot>,
) -> Vec<LockFile> {
    let paths: BTreeSet<&PathBuf> = roots.iter().flat_map(|r| &r.locks).collect();
    let mut locks = Vec::new();
    for path in paths {
        match lockfile::load(path) {
            Ok(lock) => locks.push(lock),
            // Removed since the walk saw it: its project is gone with it.
            Err(error) if error.cause.is_not_found() => {}
            Err(error) => {
                warnings.push(Warning::blind_spot(
                    WarningKind::Unreadable,
                    error.to_string(),
                    keep_for_blind_spots,
                ));
                if keep_for_blind_spots {
                    blind_spots.push(BlindSpot::new(path.clone(), error.cause.to_string()));
                }
            }
        }
    }
    locks
}
