//! Stages 2 to 5: what the cache holds, who uses it, and the plan; the last-use record
//! read before planning and written after; the report built from all of it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Result;

use super::Settings;
use crate::cache::inventory::{self, Inventory};
use crate::cache::locate::CacheDir;
#[cfg(unix)]
use crate::discover::users;
use crate::discover::{self, RootOrigin, RootScan, RootSpec};
use crate::evidence::collect::{Sources, collect};
use crate::plan::{self, Plan};
use crate::report::progress::Progress;
use crate::report::{Environment, Report};
use crate::state;
use crate::sys::read::BlindSpot;
use crate::warning::{Warning, WarningKind};

/// What one survey found: the roots walked, the venvs, the plan and the warnings.
pub(super) struct Survey {
    roots: Vec<RootScan>,
    venvs: Vec<PathBuf>,
    pub(super) plan: Plan,
    /// The cache's own environments, for the report.
    environments: Vec<crate::buckets::environments::CachedEnvironment>,
    warnings: Vec<Warning>,
}

/// Takes the inventory, walks the roots, and plans; `share` is `df`'s walk beside it.
/// `forgotten`: what the driver said when it forgot vanished roots (an apply only). The
/// survey only reads state; the driver writes it ([`Survey::record`]).
pub(super) fn take(
    settings: &Settings,
    state: Option<&state::State>,
    cache: &CacheDir,
    forgotten: Vec<Warning>,
    progress: &Progress,
    share: Option<std::sync::Arc<crate::plan::measure::Share>>,
) -> Result<Survey> {
    let inventory = inventory::take(cache, progress, settings.threads)?;
    let mut warnings = inventory.warnings.clone();
    // Doubts that keep every archive, whatever --allow-unreadable-roots says.
    let mut blind_spots = Vec::new();
    // What registered roots on a filesystem that is not here used when last seen.
    let mut unmounted = Vec::new();
    // CI mode walks no root: only the locks it names say what is live.
    let only_locked = matches!(settings.locks, super::LockUse::Only(_));
    let specs = if only_locked {
        Vec::new()
    } else {
        crate::discover::roots::specs(
            settings,
            state,
            &inventory,
            cache.root(),
            crate::discover::roots::Absent {
                forgotten,
                warnings: &mut warnings,
                blind_spots: &mut blind_spots,
                unmounted: &mut unmounted,
            },
        )
    };
    // Who else writes the cache, and the roots that make them seen (`--all-users`).
    // CI mode consults no venv, so other users' venvs change nothing there.
    let (specs, unseen_users) = if only_locked {
        (specs, None)
    } else {
        other_users(settings, cache, &inventory, specs, &mut warnings)
    };
    let roots = discover::discover(&specs, cache, &settings.excludes, progress);

    // The dry run keeps for blind spots too, so that it shows what --apply would do.
    let keep_for_blind_spots = !settings.allow_unreadable_roots;
    for root in &roots {
        // The command line's roots are checked before the run (a missing one is an
        // error); a config file outlives directories, so its missing roots only warn.
        if root.missing && root.origin == RootOrigin::Config {
            warnings.push(Warning::new(WarningKind::MissingRoot, format!(
                "root {} (from the config file) does not exist: not searched; fix or remove it there",
                root.path.display()
            )));
        } else if root.missing && root.origin == RootOrigin::Flag {
            warnings.push(Warning::new(
                WarningKind::MissingRoot,
                format!("root {} does not exist", root.path.display()),
            ));
        }
        for BlindSpot { path, cause } in &root.unreadable {
            warnings.push(Warning::blind_spot(
                WarningKind::Unreadable,
                format!(
                    "cannot read {} (under root {}): {cause}",
                    path.display(),
                    root.path.display()
                ),
                keep_for_blind_spots,
            ));
            if keep_for_blind_spots {
                blind_spots.push(BlindSpot::new(path.clone(), cause.clone()));
            }
        }
        for mount in &root.not_searched {
            // Named as a root of its own, it was walked: no blind spot.
            if roots.iter().any(|r| r.path == mount.path && !r.missing) {
                continue;
            }
            let cause = format!(
                "not searched: a {} mount ({}), which could hang the walk; name it with \
                 --root to search it",
                mount.class.describe(),
                mount.fstype
            );
            let keep = keep_for_blind_spots && mount.blind_spot;
            warnings.push(Warning::blind_spot(
                WarningKind::NotSearched,
                format!(
                    "{} (under root {}) {cause}",
                    mount.path.display(),
                    root.path.display()
                ),
                keep,
            ));
            if keep {
                blind_spots.push(BlindSpot::new(mount.path.clone(), cause));
            }
        }
    }
    // Venvs and bare sites alike: the matcher looks for `site-packages` only in a venv.
    let mut venvs: Vec<PathBuf> = roots
        .iter()
        .flat_map(|r| r.installs.iter().map(|i| i.path().to_owned()))
        .collect();
    venvs.sort();
    venvs.dedup();

    let (locks, locked_names) = crate::evidence::lock_use::findings(
        &settings.locks,
        &roots,
        &inventory,
        cache,
        keep_for_blind_spots,
        &mut warnings,
        &mut blind_spots,
    )?;

    // What this run could not see (a blind spot, an unseen user of a shared cache) keeps
    // every archive, and with them the environments and sdists that name them.
    let doubt = !blind_spots.is_empty() || unseen_users.is_some();
    // Cached environments: which are stale under --unused-for (`crate::buckets::environments`);
    // fresh script environments are venvs like any other. CI mode consults none.
    let environments = if only_locked {
        crate::buckets::environments::Environments::default()
    } else {
        crate::buckets::environments::survey(
            cache.root(),
            &inventory,
            &crate::buckets::environments::Context {
                unused_for: settings.policy.unused_for,
                grace: settings.policy.grace,
                now: settings.now,
                doubt,
            },
        )
    };
    warnings.extend(environments.warnings.iter().cloned());
    venvs.extend(environments.fresh_scripts.iter().cloned());

    let last_seen = match state {
        Some(state) => last_seen_before(state, cache, settings.now, &mut warnings),
        None => state::LastSeen::default(),
    };
    let sources = Sources {
        blind_spots,
        unseen_users,
        locks,
        unmounted,
        only_locked,
        stale_envs: &environments.stale_archives,
        threads: settings.threads,
    };
    let collected = collect(&inventory, cache, &venvs, sources, progress);
    let options = plan::Options {
        policy: settings.policy.clone(),
        now: settings.now,
        last_seen,
        only_locked,
        threads: settings.threads,
        stale_envs: environments.stale_archives,
        going_links: environments.going_links,
        share,
    };
    let mut plan = plan::make(&inventory, cache, collected, &options, progress);
    let policy = |note: &String| Warning::new(WarningKind::Policy, note.clone());
    warnings.extend(plan.notes.iter().map(policy));
    // Beyond archive-v0: leftovers of interrupted uv runs and orphaned objects.
    let (others, other_warnings) =
        crate::buckets::leftovers::survey(cache.root(), settings.policy.grace, settings.now);
    plan.others = others;
    warnings.extend(other_warnings);
    // Built sdists whose archives all go and that no lock names.
    let sdist_context = crate::buckets::sdists::Context {
        plan: &plan,
        locked: &locked_names,
        keep: &settings.policy.keep,
        doubt,
        grace: settings.policy.grace,
        unused_for: settings.policy.unused_for,
        now: settings.now,
    };
    let (sdists, sdist_warnings) = crate::buckets::sdists::survey(cache.root(), &sdist_context);
    // Index pages of packages with no archive left and no lock (only with --unused-for).
    let (pages, page_warnings) = crate::buckets::index_pages::survey(cache.root(), &sdist_context);
    plan.others.extend(environments.stale_scripts);
    plan.others.extend(sdists);
    plan.others.extend(pages);
    warnings.extend(sdist_warnings);
    warnings.extend(page_warnings);
    Ok(Survey {
        roots,
        venvs,
        plan,
        environments: environments.found,
        warnings,
    })
}

/// Who uses the cache and who of them this run sees (`crate::discover::users`): the roots with
/// the other users' roots added (`--all-users`), and the unseen users in words, whose
/// doubt keeps every archive (with one warning saying how to prune instead).
#[cfg(unix)]
fn other_users(
    settings: &Settings,
    cache: &CacheDir,
    inventory: &Inventory,
    mut specs: Vec<RootSpec>,
    warnings: &mut Vec<Warning>,
) -> (Vec<RootSpec>, Option<String>) {
    let viewer = users::Viewer::current(settings.all_users);
    let visibility = users::visibility(cache, inventory, &viewer);
    specs.extend(visibility.roots.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    specs.retain(|spec| seen.insert(spec.path.clone()));
    let shared = |message| Warning::new(WarningKind::SharedCache, message);
    warnings.extend(visibility.warning(cache.root()).map(shared));
    (specs, visibility.summary())
}

/// Without owners (not Unix) no user is told apart: nothing is unseen.
#[cfg(not(unix))]
fn other_users(
    _: &Settings,
    _: &CacheDir,
    _: &Inventory,
    specs: Vec<RootSpec>,
    _: &mut Vec<String>,
) -> (Vec<RootSpec>, Option<String>) {
    (specs, None)
}

/// What earlier scans recorded; a damaged record is a warning, and makes every archive
/// count as used when it was last written (see [`crate::state`]).
fn last_seen_before(
    state: &state::State,
    cache: &CacheDir,
    now: SystemTime,
    warnings: &mut Vec<Warning>,
) -> state::LastSeen {
    let (seen, note) = state.last_seen(cache.root(), now);
    warnings.extend(note.map(|message| Warning::new(WarningKind::State, message)));
    seen
}

/// Records every archive in use as seen now. Failing to is a warning: it costs memory,
/// not safety.
fn record_live(
    state: &state::State,
    cache: &CacheDir,
    plan: &Plan,
    now: SystemTime,
    warnings: &mut Vec<Warning>,
) {
    // A cached environment's link or files say it exists, not that it was used: its use
    // is judged from its own times (`crate::buckets::environments`), and what it keeps lives as
    // long as it does, so neither is recorded.
    let by_environment = |e: &crate::evidence::Evidence| {
        let source = match e {
            crate::evidence::Evidence::Environment { by } => Some(by.as_path()),
            _ => e.venv(),
        };
        source.is_some_and(|p| p.starts_with(cache.root()))
    };
    let live = plan
        .kept()
        .filter(|(_, evidence)| {
            evidence
                .iter()
                .any(|e| e.kind().is_use() && !by_environment(e))
        })
        .map(|(archive, _)| &archive.id);
    let all = plan.archives.iter().map(|a| &a.id);
    if let Err(err) = state.record_last_seen(cache.root(), all, live, now) {
        warnings.push(Warning::new(
            WarningKind::State,
            format!("cannot record last use: {err:#}"),
        ));
    }
}

/// Records, for each registered root walked, where it lives and what its venvs and
/// locks use: what keeps those archives while its filesystem is away (see
/// `super::roots`). An observation like the last-use record, made by dry runs too;
/// failing to is a warning.
fn record_roots_seen(
    state: &state::State,
    cache: &CacheDir,
    roots: &[RootScan],
    plan: &Plan,
    warnings: &mut Vec<Warning>,
) {
    let registry = state.registry();
    if registry.doubt.is_some() {
        return;
    }
    let walked: Vec<&RootScan> = roots
        .iter()
        .filter(|r| r.origin == RootOrigin::Registered && !r.missing)
        .collect();
    if walked.is_empty() && !state.has_roots_seen() {
        return;
    }
    let mounts = crate::sys::mounts::MountTable::current().ok();
    let seen = walked
        .into_iter()
        .filter_map(|root| {
            let place = state::Place::of(&root.path, mounts.as_ref())?;
            let used: BTreeSet<String> = plan
                .kept()
                .filter(|(_, evidence)| {
                    evidence.iter().any(|e| {
                        e.kind().is_use()
                            && (e.venv().or(e.path())).is_some_and(|p| p.starts_with(&root.path))
                    })
                })
                .map(|(archive, _)| archive.id.as_str().to_owned())
                .collect();
            Some((root.path.clone(), place, used))
        })
        .collect();
    if let Err(err) = state.record_roots_seen(cache.root(), seen, &registry.roots) {
        warnings.push(Warning::new(
            WarningKind::State,
            format!("cannot record what the registered roots use: {err:#}"),
        ));
    }
}

impl Survey {
    /// Writes what this survey observed to our state: every archive in use as seen now,
    /// and what each registered root walked uses. Called by the driver once the plan is
    /// made (a dry run too: these are observations, not decisions); failing is a warning.
    pub(super) fn record(&mut self, state: &state::State, cache: &CacheDir, now: SystemTime) {
        let warnings = &mut self.warnings;
        record_live(state, cache, &self.plan, now, warnings);
        record_roots_seen(state, cache, &self.roots, &self.plan, warnings);
    }

    /// The report of this survey: the plan, the roots, the warnings, and what the
    /// settings asked for besides (`--explain`, `--per-venv`).
    pub(super) fn report(self, settings: &Settings, cache: &CacheDir, dry_run: bool) -> Report {
        let mut report = Report::new(
            cache.root().to_owned(),
            cache.source,
            dry_run,
            &self.plan,
            &self.roots,
            self.warnings,
        );
        // The hooks' one line names no bytes held back: they skip the extra walk.
        if settings.mode != super::Mode::Hook {
            report.measure_held_back(&self.plan, settings.threads);
        }
        if let super::LockUse::Only(locks) = &settings.locks {
            report.only_locked = Some(locks.clone());
        }
        report.environments = self.environments.iter().map(Environment::of).collect();
        if let Some(query) = &settings.explain {
            report.explain = Some(crate::report::explain(&self.plan, query));
        }
        if settings.per_venv {
            report.venvs = Some(crate::plan::per_venv::shares(&self.plan, &self.venvs));
        }
        let others = crate::report::Others::of(&self.plan.others, cache.root());
        // What the prune frees outside archive-v0, per bucket, for `df`.
        for (bucket, bytes) in &others.by_bucket {
            *report.freed_by_bucket.entry(bucket.clone()).or_default() += bytes;
        }
        report.others = Some(others);
        report
    }
}
