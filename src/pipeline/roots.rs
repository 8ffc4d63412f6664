//! Which directory trees are searched for venvs, in order: `--root`s; then, unless
//! `--no-default-roots`, the config's roots, the registry (where vanished roots are
//! dropped), uv's tool dir and the git worktree; then the cache's own overlay venvs
//! (`builds-v*`), always.

use std::path::{Path, PathBuf};

use super::Settings;
use crate::discover::{self, RootOrigin, RootSpec};
use crate::inventory::Inventory;
use crate::state;

/// Every root to walk, each once. A damaged registry adds a blind spot.
pub(super) fn specs(
    settings: &Settings,
    state_dir: Option<&Path>,
    inventory: &Inventory,
    warnings: &mut Vec<String>,
    blind_spots: &mut Vec<(PathBuf, String)>,
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
        if let Some(dir) = state_dir {
            specs.extend(
                registered(dir, warnings, blind_spots)
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

/// The registry's roots, after dropping the ones that vanished. A root that exists but
/// cannot be read stays: the walk reports it, and it keeps what it might hold. A damaged
/// registry is a blind spot: the roots it named are unknown.
fn registered(
    dir: &Path,
    warnings: &mut Vec<String>,
    blind_spots: &mut Vec<(PathBuf, String)>,
) -> Vec<PathBuf> {
    let vanished = |root: &Path| matches!(std::fs::symlink_metadata(root), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    match state::unregister_roots(dir, vanished) {
        Ok(dropped) => {
            for root in dropped {
                warnings.push(format!(
                    "registered root {} vanished: forgotten",
                    root.display()
                ));
            }
        }
        Err(err) => warnings.push(format!("cannot update the root registry: {err:#}")),
    }
    let registry = state::registry(dir);
    if let Some(doubt) = registry.doubt {
        warnings.push(format!("{}; every archive is kept", doubt.reason));
        blind_spots.push((doubt.path, doubt.reason));
    }
    registry.roots
}
