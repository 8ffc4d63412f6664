//! The pipeline driver: from typed [`Settings`] to a [`Report`], running the stages in
//! order (locate, inventory, discover, plan, and under the lock apply) and nothing else.
//!
//! The command line (`cli`) only turns flags and the config into [`Settings`];
//! `doctor` and embedding programs call [`run`] the same way. What the run may change is
//! one value, [`Mode`]: a dry run changes nothing in the cache; an apply (or the hooks'
//! apply, which never waits for uv and shows no progress) takes uv's lock first and plans
//! again under it, since nothing computed before the lock is trusted.
//!
//! Roots are assembled in [`roots`]; the survey (stages 2 to 5), last-use bookkeeping
//! and the report built from them in [`survey`].

pub(crate) mod df;
mod survey;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::apply::Pruner;
use crate::apply::cache_lock::{self, Acquired, Wait};
use crate::apply::guard::Guard;
use crate::cache::dist::PackageName;
use crate::cache::locate::{self, Validated};
use crate::cli::config::Config;
use crate::plan::Policy;
use crate::report::progress::Progress;
use crate::report::{LeftoverTrash, Report, Status};
use crate::state;
use crate::sys::threads::Threads;

/// The default grace window: an archive this young may be mid-install.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(3600);
/// What the hooks remove by default: dead and unused for a week, so that switching back
/// to last week's branch does not download everything again.
pub(crate) const DEFAULT_HOOK_UNUSED_FOR: Duration = Duration::from_secs(7 * 86_400);

/// What a run may do to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plan and report; change nothing in the cache.
    DryRun,
    /// Delete the plan's candidates under uv's lock, waiting for it as told.
    Apply {
        /// How long to wait for uv to release the cache.
        wait: Wait,
    },
    /// What the git hooks run: apply without waiting for the lock and without progress
    /// bars, with the hooks' conservative policy (see [`Settings::new`]).
    Hook,
}

impl Mode {
    /// Whether this run deletes.
    pub fn applies(self) -> bool {
        !matches!(self, Mode::DryRun)
    }

    /// How long to wait for the lock: the hooks never wait.
    fn wait(self) -> Wait {
        match self {
            Mode::Apply { wait } => wait,
            Mode::DryRun | Mode::Hook => Wait::No,
        }
    }
}

/// Which lock files count as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockUse {
    /// Every `uv.lock` beside a `pyproject.toml` under a root keeps what it names, beside
    /// what the venvs use.
    Found,
    /// `--ignore-locks`: lock files keep nothing.
    Ignored,
    /// CI mode (`--only-locked`): exactly what these locks name is live; no root is
    /// walked, and venvs, cached environments and link counts are not consulted.
    Only(Vec<PathBuf>),
}

/// Everything a run needs, flags and config already merged.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What the run may change.
    pub mode: Mode,
    /// The cache named by the user; `None` finds it as uv would.
    pub cache_dir: Option<PathBuf>,
    /// Roots named on the command line (`--root`).
    pub roots: Vec<PathBuf>,
    /// Search only [`Settings::roots`] (and the cache's own environments).
    pub no_default_roots: bool,
    /// Roots from the config file, searched unless `no_default_roots`.
    pub config_roots: Vec<PathBuf>,
    /// Trees no walk enters (the config's `exclude`).
    pub excludes: Vec<crate::discover::Exclude>,
    /// Directories to add to the registry before the run.
    pub register: Vec<PathBuf>,
    /// Which dead archives go.
    pub policy: Policy,
    /// A package or archive id to explain in the report.
    pub explain: Option<String>,
    /// Add each venv's own share to the report.
    pub per_venv: bool,
    /// Prune even when part of a root could not be read.
    pub allow_unreadable_roots: bool,
    /// Which `uv.lock` files say what is live.
    pub locks: LockUse,
    /// The clock, read once per run.
    pub now: SystemTime,
    /// Threads for the inventory, venv matching, the candidate walk and deletion.
    pub threads: Threads,
    /// `--all-users` (root only): search the home, tool dir and registered roots of
    /// every user of a shared cache, so that their venvs are seen (`crate::discover::users`).
    pub all_users: bool,
    /// Told a line to show while the run blocks (waiting for uv's lock); silent unless
    /// the caller says where it goes (the command line: stderr).
    pub notice: fn(&str),
}

impl Settings {
    /// The config's settings with the built-in defaults for what it leaves unset: a dry
    /// run's, or (for [`Mode::Hook`]) the hooks' policy, which removes only archives dead
    /// and unused for `hook-unused-for` (7 days by default) and never sets a size target.
    pub fn new(config: &Config, mode: Mode) -> Result<Self> {
        let (unused_for, max_size) = match mode {
            Mode::Hook => (
                Some(config.hook_unused_for.unwrap_or(DEFAULT_HOOK_UNUSED_FOR)),
                None,
            ),
            Mode::DryRun | Mode::Apply { .. } => {
                (config.unused_for, config.max_size.map(|size| size.0))
            }
        };
        Ok(Self {
            mode,
            cache_dir: None,
            roots: Vec::new(),
            no_default_roots: false,
            config_roots: config.roots.clone(),
            excludes: config.exclude.clone(),
            register: Vec::new(),
            policy: Policy {
                grace: config.grace.unwrap_or(DEFAULT_GRACE),
                keep: config
                    .keep
                    .iter()
                    .map(|name| PackageName::new(name))
                    .collect(),
                unused_for,
                max_size,
            },
            explain: None,
            per_venv: false,
            allow_unreadable_roots: false,
            locks: if config.ignore_locks {
                LockUse::Ignored
            } else {
                LockUse::Found
            },
            now: state::now()?,
            threads: Threads::all_cores(),
            all_users: false,
            notice: |_| {},
        })
    }
}

/// Runs the pipeline: the report of a dry run, or of what was deleted.
pub fn run(settings: &Settings) -> Result<Report> {
    run_sharing(settings, None)
}

/// [`run`], handing the dry run's archive walks to `df`'s walk of the whole cache
/// beside it (`crate::plan::measure::Share`); an apply shares nothing.
pub(crate) fn run_sharing(
    settings: &Settings,
    share: Option<std::sync::Arc<crate::plan::measure::Share>>,
) -> Result<Report> {
    let progress = match settings.mode {
        Mode::Hook => Progress::hidden(),
        Mode::DryRun | Mode::Apply { .. } => Progress::auto(),
    };
    let state = state::State::open();
    if !settings.register.is_empty() {
        let state = state.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        for root in &settings.register {
            state.register_root(root)?;
        }
    }
    let state = state.ok();
    let dry_run = !settings.mode.applies();
    let location = locate::locate(settings.cache_dir.as_deref())?;
    let nothing_to_do = |location: locate::CacheLocation, status| {
        Ok(Report::empty(
            location.path,
            location.source,
            dry_run,
            status,
        ))
    };
    let cache = match locate::validate(location)? {
        Validated::Cache(cache) => cache,
        Validated::Missing(location) => return nothing_to_do(location, Status::NoCache),
        Validated::NoArchives(location) => return nothing_to_do(location, Status::NoArchives),
    };
    if dry_run {
        let mut survey = survey::take(
            settings,
            state.as_ref(),
            &cache,
            Vec::new(),
            &progress,
            share,
        )?;
        if let Some(state) = &state {
            survey.record(state, &cache, settings.now);
        }
        return Ok(survey.report(settings, &cache, true));
    }

    // Refuse before locking: the lock file is created if missing, and we create nothing
    // in a directory we would refuse.
    let guard = Guard::new(&cache)?;
    let lock = match cache_lock::exclusive(&cache, &guard, settings.mode.wait(), settings.notice)? {
        Acquired::Held(lock) => lock,
        Acquired::Busy { path, holder } => {
            let mut report =
                Report::empty(cache.root().to_owned(), cache.source, false, Status::Busy);
            report.lock_holder = Some(holder.program());
            report.busy_notice = Some(format!(
                "{} (the lock on {}); nothing was deleted (--no-wait)",
                crate::report::safe(&holder.describe()),
                crate::report::safe_path(&path)
            ));
            return Ok(report);
        }
    };
    let pruner = Pruner::new(guard, lock)?;
    let leftover = pruner.remove_leftover_trash()?;
    // The plan is made only now, under the lock: nothing computed before it is trusted.
    // Every write of our state happens here, in the driver: forgetting vanished roots
    // (a decision, so an apply's alone) before the survey reads the registry, and the
    // survey's observations once its plan is made.
    let forgotten = match &state {
        Some(state) if crate::discover::roots::forgets(settings) => {
            crate::discover::roots::forget_vanished(state, cache.root())
        }
        _ => Vec::new(),
    };
    let mut survey = survey::take(settings, state.as_ref(), &cache, forgotten, &progress, None)?;
    if let Some(state) = &state {
        survey.record(state, &cache, settings.now);
    }
    let mut removal = pruner.apply(&survey.plan, &progress, settings.threads)?;
    removal += leftover;
    let kept = removal.kept.iter().map(|kept| &kept.id).collect();
    let still_shared = survey.plan.still_shared(&kept);
    let mut report = survey.report(settings, &cache, false);
    report.removed_bytes = Some(removal.bytes);
    report.removed_archives = Some(removal.archives);
    report.removed_pointers = Some(removal.pointers);
    report.leftover_trash =
        (removal.leftover.entries > 0 || removal.leftover.bytes > 0).then_some(LeftoverTrash {
            entries: removal.leftover.entries,
            bytes: removal.leftover.bytes,
        });
    if let Some(others) = &mut report.others {
        others.removed = Some(removal.other_entries);
        others.removed_bytes = Some(removal.other_bytes);
    }
    report.incomplete = crate::report::Incomplete::of(&removal, cache.root());
    report.warnings.extend(removal.warnings);
    report.keep_refused(&removal.kept, &still_shared);
    Ok(report)
}
