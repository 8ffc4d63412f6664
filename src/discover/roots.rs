//! Which directory trees are searched for venvs, in order: `--root`s; then, unless
//! `--no-default-roots`, the config's roots, the registry, uv's tool dir, the home
//! directory and the git worktree ([`discover::default_roots`]); then the cache's own
//! overlay venvs (`builds-v*`), always.
//!
//! # Registered roots that are not there
//!
//! A registered root can be missing because it was deleted, or because the disk it lives
//! on is unplugged, an automount is not up, or we run in another mount namespace. The
//! two look alike at the path, and mistaking the second for the first deletes what a venv
//! on that disk links to. So the state records where each registered root lived and what
//! it used (`roots-seen.json`, see [`crate::state`]), and a missing root is:
//! - on a filesystem that is not mounted (or is not the one it was seen on): doubt. It
//!   stays registered, and what it used when last seen is kept (`root-unmounted`);
//! - gone from a filesystem that is here: deleted. Only `--apply` (and `roots prune`)
//!   forget it, since forgetting is a decision; a dry run only says so;
//! - never seen by a run (registered by an older version): kept registered, with a word.

use std::path::{Path, PathBuf};

use crate::cache::inventory::Inventory;
use crate::discover::{self, RootOrigin, RootSpec};
use crate::evidence::{Evidence, Findings};
use crate::pipeline::Settings;
use crate::state::{Absence, State};
use crate::sys::mounts::MountTable;
use crate::sys::read::BlindSpot;
use crate::warning::{Warning, WarningKind};

/// What a registered root that is not here leaves behind: evidence for the archives it
/// used, and words.
pub(crate) struct Absent<'a> {
    /// What the driver's forgetting of vanished roots said (an apply only, see
    /// [`forget_vanished`]): reported where the registry is read.
    pub(crate) forgotten: Vec<Warning>,
    pub(crate) warnings: &'a mut Vec<Warning>,
    pub(crate) blind_spots: &'a mut Vec<BlindSpot>,
    pub(crate) unmounted: &'a mut Findings,
}

/// Every root to walk, each once. A damaged registry adds a blind spot. With `forget`
/// (an apply), registered roots deleted from a filesystem that is here are forgotten.
pub(crate) fn specs(
    settings: &Settings,
    state: Option<&State>,
    inventory: &Inventory,
    cache_root: &Path,
    absent: Absent<'_>,
) -> Vec<RootSpec> {
    let spec = |path: &PathBuf, origin| RootSpec {
        path: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
        origin,
    };
    let mut specs: Vec<RootSpec> = settings
        .roots
        .iter()
        .map(|p| spec(p, RootOrigin::Flag))
        .collect();
    if !settings.no_default_roots {
        specs.extend(
            settings
                .config_roots
                .iter()
                .map(|p| spec(p, RootOrigin::Config)),
        );
        if let Some(state) = state {
            specs.extend(
                registered(state, inventory, cache_root, absent)
                    .iter()
                    .map(|p| spec(p, RootOrigin::Registered)),
            );
        }
        specs.extend(discover::default_roots());
    }
    specs.extend(
        inventory
            .build_dirs
            .iter()
            .map(|p| spec(p, RootOrigin::CacheBuilds)),
    );
    let mut seen = std::collections::HashSet::new();
    specs.retain(|spec| seen.insert(spec.path.clone()));
    specs
}

/// The registered roots that are here to walk. A root that exists but cannot be read is
/// here: the walk reports it, and it keeps what it might hold. A damaged registry is a
/// blind spot: the roots it named are unknown. Missing roots: see the module doc.
fn registered(
    state: &State,
    inventory: &Inventory,
    cache_root: &Path,
    absent: Absent<'_>,
) -> Vec<PathBuf> {
    let Absent {
        forgotten,
        warnings,
        blind_spots,
        unmounted,
    } = absent;
    let mounts = MountTable::current().ok();
    let seen = state.roots_seen();
    let absence = |root: &Path| seen.absence(root, cache_root, mounts.as_ref());
    warnings.extend(forgotten);
    let registry = state.registry();
    if let Some(doubt) = registry.doubt {
        warnings.push(Warning::new(
            WarningKind::State,
            format!("{}; every archive is kept", doubt.reason),
        ));
        blind_spots.push(BlindSpot::new(doubt.path, doubt.reason));
    }
    let mut here = Vec::new();
    let mut any_absent = false;
    for root in registry.roots {
        let Some(how) = absence(&root) else {
            here.push(root);
            continue;
        };
        any_absent = true;
        match how {
            Absence::Deleted => warnings.push(Warning::new(WarningKind::MissingRoot, format!(
                "registered root {} vanished: `--apply` or `uv-cache-prune roots prune` will forget it",
                root.display()
            ))),
            Absence::Unknown => warnings.push(Warning::new(WarningKind::MissingRoot, format!(
                "registered root {} is missing, and no run has seen which filesystem it lived on, so it stays registered; if it is gone for good, run `uv-cache-prune roots remove {}`",
                root.display(),
                root.display()
            ))),
            Absence::Unmounted { mount, archives } => {
                // A path that is there (on another filesystem) is searched as well: the
                // venvs on it now keep what they use, and the record keeps the rest.
                if std::fs::symlink_metadata(&root).is_ok() {
                    here.push(root.clone());
                }
                let kept: Vec<_> = inventory
                    .archives
                    .keys()
                    .filter(|id| archives.contains(id.as_str()))
                    .collect();
                let on = mount
                    .as_ref()
                    .map_or(String::new(), |m| format!(" ({})", m.display()));
                warnings.push(Warning::new(WarningKind::MissingRoot, format!(
                    "registered root {} is missing: its filesystem{on} is not mounted (or another one is in its place); the {} archive(s) it used when last seen are kept until it is back, or until `uv-cache-prune roots remove {}` forgets it",
                    root.display(),
                    kept.len(),
                    root.display()
                )));
                for id in kept {
                    let evidence = Evidence::RootUnmounted {
                        root: root.clone(),
                        mount: mount.clone(),
                    };
                    unmounted.push((id.clone(), evidence));
                }
            }
        }
    }
    // Without the record, a missing root's filesystem and archives are unknown.
    if any_absent && let Some(doubt) = seen.doubt {
        warnings.push(Warning::new(
            WarningKind::State,
            format!(
                "{}; a registered root is missing, so every archive is kept",
                doubt.reason
            ),
        ));
        blind_spots.push(BlindSpot::new(doubt.path, doubt.reason));
    }
    here
}

/// Whether a run forgets registered roots deleted from a filesystem that is here: an
/// apply that reads the registry (not `--no-default-roots`, not CI mode).
pub(crate) fn forgets(settings: &Settings) -> bool {
    settings.mode.applies()
        && !settings.no_default_roots
        && !matches!(settings.locks, crate::pipeline::LockUse::Only(_))
}

/// Forgets the registered roots deleted from a filesystem that is here (see the module
/// doc): a write of the registry, made by the driver alone, under uv's lock and before
/// the survey reads the registry. Returns what to report.
pub(crate) fn forget_vanished(state: &State, cache_root: &Path) -> Vec<Warning> {
    let mounts = MountTable::current().ok();
    let seen = state.roots_seen();
    let absence = |root: &Path| seen.absence(root, cache_root, mounts.as_ref());
    // Also where a damaged registry is moved aside (see `crate::state`).
    match state.unregister_roots(|root| absence(root) == Some(Absence::Deleted)) {
        Ok(dropped) => dropped
            .into_iter()
            .map(|root| {
                Warning::new(
                    WarningKind::MissingRoot,
                    format!(
                        "registered root {} vanished from its filesystem: forgotten",
                        root.display()
                    ),
                )
            })
            .collect(),
        Err(err) => vec![Warning::new(
            WarningKind::State,
            format!("cannot update the root registry: {err:#}"),
        )],
    }
}
