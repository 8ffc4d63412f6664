//! The command line, shared by the binary, `cargo xtask cache-prune` and any other
//! repository's xtask (which can `#[command(flatten)]` [`Args`] and call [`run`]).
//!
//! Settings come from flags, then the config file ([`crate::config`]), then built-in
//! defaults; roots from `--root`, then (unless `--no-default-roots`) the config, the
//! registry ([`crate::state`]), uv's tool dir, the home directory and the current git
//! worktree.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::apply::{self, Faults};
use crate::config::{self, Config, Size};
use crate::discover::{self, RootOrigin, RootScan, RootSpec};
use crate::dist::PackageName;
use crate::guard::Guard;
use crate::inventory::{self, Inventory};
use crate::locate::{self, CacheDir, Validated};
use crate::lock::{self, Acquired, Wait};
use crate::plan::{self, Plan, Policy};
use crate::progress::Progress;
use crate::report::{LeftoverTrash, Report, Status};
use crate::state;

/// Find and remove unpacked wheels in uv's cache that no live virtualenv uses.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub prune: PruneArgs,
}

/// The prune itself (the default command).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PruneArgs {
    /// The uv cache [default: $UV_CACHE_DIR, else `uv cache dir`, else the platform default]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// A directory tree to search for venvs (repeatable)
    #[arg(long = "root", value_name = "DIR")]
    pub roots: Vec<PathBuf>,

    /// Search only the --root directories: not the config's roots, the registry, uv's tool
    /// dir, the home directory or the current git worktree (the cache's own environments
    /// are always checked)
    #[arg(long)]
    pub no_default_roots: bool,

    /// Remember DIR as a root for every later run, then run (repeatable)
    #[arg(long, value_name = "DIR")]
    pub register: Vec<PathBuf>,

    /// Delete the dead archives and their pointers (the default is a dry run that changes
    /// nothing in the cache), holding uv's cache lock
    #[arg(long)]
    pub apply: bool,

    /// Print the report as JSON (schema_version 1) on stdout
    #[arg(long)]
    pub json: bool,

    /// Keep archives created less than this long ago, e.g. `0s`, `90m`, `30d` [default: 1h]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub grace: Option<Duration>,

    /// Never remove this package, live or not (repeatable; adds to the config's `keep`)
    #[arg(long, value_name = "PACKAGE")]
    pub keep: Vec<String>,

    /// Remove only dead archives not used for this long, e.g. `30d`
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub unused_for: Option<Duration>,

    /// Remove dead archives, least recently used first, until the cache's archives fit,
    /// e.g. `20GiB`, `500MB`, `976896`
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<Size>,

    /// Explain every archive of a package (or one archive id): its evidence and policy
    #[arg(long, value_name = "PACKAGE_OR_ID", conflicts_with = "apply")]
    pub explain: Option<String>,

    /// Also list, for each venv, the bytes that it alone keeps alive
    #[arg(long)]
    pub per_venv: bool,

    /// With --apply: how long to wait for uv to release the cache
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub lock_timeout: Duration,

    /// With --apply: if uv is using the cache, say so and stop at once (exit 0)
    #[arg(long)]
    pub no_wait: bool,

    /// Prune even when part of a root could not be read (a venv hidden there may lose
    /// its packages); by default such a blind spot keeps every archive
    #[arg(long)]
    pub allow_unreadable_roots: bool,

    /// What the git hooks run: --apply --no-wait, removing only archives dead and unused
    /// for the config's `hook-unused-for` (default 7d; no --max-size), then one summary line
    #[arg(long, conflicts_with_all = ["apply", "explain", "json"])]
    pub hook: bool,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// The registry of project roots searched on every run
    #[command(subcommand)]
    Roots(RootsCommand),
    /// Install the post-checkout and post-merge hooks that prune in the background
    InstallHooks(InstallHooksArgs),
    /// Where the cache is, what is configured, whether hooks run, and what a prune would free
    Doctor,
}

#[derive(Debug, Clone, clap::Args)]
pub struct InstallHooksArgs {
    /// The repository (repeatable) [default: the current one]
    #[arg(long = "repo", value_name = "DIR")]
    pub repos: Vec<PathBuf>,
    /// Remove the hooks and restore the ones they replaced
    #[arg(long)]
    pub uninstall: bool,
}

impl InstallHooksArgs {
    /// Installs (or uninstalls) in every repository; a line per hook.
    pub fn run(&self) -> Result<String> {
        let here = [PathBuf::from(".")];
        let repos = if self.repos.is_empty() {
            &here[..]
        } else {
            &self.repos
        };
        let mut out = String::new();
        for repo in repos {
            let lines = if self.uninstall {
                crate::hooks::uninstall(repo)?
            } else {
                crate::hooks::install(repo)?
            };
            for line in lines {
                out += &line;
                out.push('\n');
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum RootsCommand {
    /// List the registered roots (and whether each still exists)
    List,
    /// Register directories as roots
    Add {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// Forget registered roots
    Remove {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// Forget every registered root that no longer exists
    Prune,
}

const EXAMPLES: &str = "\
Examples:
  uv-cache-prune                          # dry run: what is dead, and why the rest is live
  uv-cache-prune --root ~/src --json      # also search ~/src for venvs; machine-readable
  uv-cache-prune --apply                  # delete, waiting up to 5m if uv is busy
  uv-cache-prune --apply --unused-for 30d --max-size 20GiB --keep numpy
  uv-cache-prune --explain torch          # why is each torch archive kept (or not)?
  uv-cache-prune roots add ~/work/project # remember a project for every later run

Settings also come from <config dir>/uv-cache-prune/config.toml (or $UV_CACHE_PRUNE_CONFIG):
  roots, exclude, keep, grace, unused-for, max-size. Flags win.

Exit status: 0 done (also: nothing to do, or cache busy with --no-wait), 1 runtime error,
2 bad usage.";

/// The longest duration taken: a thousand years is "never" for a cache, and a bound keeps
/// every clock sum (`now + timeout`, `now - age`) far from overflowing.
const MAX_DURATION: Duration = Duration::from_secs(1000 * 365 * 86_400);

/// Parses `0s`, `90m`, `30d`, `1h 30m` (humantime syntax), up to a thousand years.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?}: {e} (examples: 0s, 90m, 30d)"))?;
    if duration > MAX_DURATION {
        return Err(format!(
            "{text:?} is longer than a thousand years, the longest duration taken; to set no limit, leave the option out"
        ));
    }
    Ok(duration)
}

/// The default grace window: an archive this young may be mid-install.
const DEFAULT_GRACE: Duration = Duration::from_secs(3600);
/// What the hooks remove by default: dead and unused for a week, so that switching back
/// to last week's branch does not download everything again.
const DEFAULT_HOOK_UNUSED_FOR: Duration = Duration::from_secs(7 * 86_400);

/// Runs the tool: the report goes to stdout, warnings and progress to stderr.
pub fn run(args: &Args) -> Result<()> {
    match &args.command {
        Some(Command::Roots(command)) => return write_stdout(&roots_command(command)?),
        Some(Command::InstallHooks(install)) => return write_stdout(&install.run()?),
        Some(Command::Doctor) => return write_stdout(&crate::doctor::report()?),
        None => {}
    }
    let prune = &args.prune;
    let report = build_report(prune)?;
    for warning in &report.warnings {
        eprintln!("warning: {}", crate::report::one_line(warning));
    }
    let text = match (&prune.explain, prune.json, prune.hook) {
        (_, _, true) => report.to_summary_line(state::now()?),
        (_, true, _) => report.to_json()?,
        (Some(_), false, _) => report.to_explanation(),
        (None, false, _) => report.to_human(),
    };
    write_stdout(&text)
}

fn roots_command(command: &RootsCommand) -> Result<String> {
    let dir = state::state_dir()?;
    let mut out = String::new();
    match command {
        RootsCommand::List => {
            for root in state::registry(&dir).roots {
                let gone = if root.is_dir() { "" } else { "  (vanished)" };
                out += &format!("{}{gone}\n", crate::report::shown(&root));
            }
        }
        RootsCommand::Add { dirs } => {
            for root in dirs {
                let added = state::register_root(&dir, root)?;
                let verb = if added {
                    "registered"
                } else {
                    "already registered"
                };
                out += &format!("{verb}: {}\n", root.display());
            }
        }
        RootsCommand::Remove { dirs } => {
            let dirs: Vec<PathBuf> = dirs
                .iter()
                .filter_map(|d| std::path::absolute(d).ok())
                .collect();
            for root in state::unregister_roots(&dir, |r| dirs.iter().any(|d| d == r))? {
                out += &format!("forgot: {}\n", root.display());
            }
        }
        RootsCommand::Prune => {
            for root in state::unregister_roots(&dir, |r| !r.exists())? {
                out += &format!("forgot vanished root: {}\n", root.display());
            }
        }
    }
    if let Some(doubt) = state::registry(&dir).doubt {
        eprintln!("warning: {}", crate::report::one_line(&doubt.reason));
    }
    Ok(out)
}

/// Everything but the printing, for callers that want the value.
pub fn build_report(args: &PruneArgs) -> Result<Report> {
    if args.hook {
        let hook = PruneArgs {
            apply: true,
            no_wait: true,
            ..args.clone()
        };
        return build_report_with(&hook, Progress::hidden());
    }
    build_report_with(args, Progress::auto())
}

fn build_report_with(args: &PruneArgs, progress: Progress) -> Result<Report> {
    let config = config::load()?;
    let state_dir = state::state_dir();
    if !args.register.is_empty() {
        let dir = state_dir.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        for root in &args.register {
            state::register_root(dir, root)?;
        }
    }
    let location = locate::locate(args.cache_dir.as_deref())?;
    let cache = match locate::validate(location)? {
        Validated::Cache(cache) => cache,
        Validated::Missing(location) => {
            return Ok(Report::empty(
                location.path,
                location.source,
                !args.apply,
                Status::NoCache,
            ));
        }
    };
    let settings = Settings::new(args, &config, state_dir.ok())?;
    if !args.apply {
        let survey = survey(&settings, &cache, &progress)?;
        return Ok(survey.report(&settings, &cache, true));
    }

    // Refuse before locking: the lock file is created if missing, and we create nothing
    // in a directory we would refuse.
    let guard = Guard::new(&cache)?;
    let wait = if args.no_wait {
        Wait::No
    } else {
        Wait::UpTo(args.lock_timeout)
    };
    let _lock = match lock::exclusive(&cache, wait)? {
        Acquired::Held(lock) => lock,
        Acquired::Busy { path, holder } => {
            eprintln!(
                "{} (the lock on {}); nothing was deleted (--no-wait)",
                holder.describe(),
                path.display()
            );
            let mut report =
                Report::empty(cache.root().to_owned(), cache.source, false, Status::Busy);
            report.lock_holder = Some(holder.program());
            return Ok(report);
        }
    };
    let faults = Faults::from_env();
    let leftover = apply::remove_leftover_trash(&guard, &faults)?;
    // The plan is made only now, under the lock: nothing computed before it is trusted.
    let survey = survey(&settings, &cache, &progress)?;
    let mut removal = apply::apply(&survey.plan, &survey.inventory, &guard, &faults, &progress)?;
    removal += leftover;
    let mut report = survey.report(&settings, &cache, false);
    report.removed_bytes = Some(removal.bytes);
    report.removed_pointers = Some(removal.pointers);
    report.leftover_trash =
        (removal.leftover.entries > 0 || removal.leftover.bytes > 0).then_some(LeftoverTrash {
            entries: removal.leftover.entries,
            bytes: removal.leftover.bytes,
        });
    report.warnings.extend(removal.warnings);
    Ok(report)
}

/// Flags merged with the config.
struct Settings<'a> {
    args: &'a PruneArgs,
    config_roots: Vec<PathBuf>,
    excludes: Vec<discover::Exclude>,
    policy: Policy,
    now: SystemTime,
    state_dir: Option<PathBuf>,
}

impl<'a> Settings<'a> {
    fn new(args: &'a PruneArgs, config: &Config, state_dir: Option<PathBuf>) -> Result<Self> {
        let keep = args
            .keep
            .iter()
            .chain(&config.keep)
            .map(|name| PackageName::new(name))
            .collect();
        Ok(Self {
            args,
            config_roots: config.roots.clone(),
            excludes: config.exclude.clone(),
            policy: if args.hook {
                // The hooks' conservative policy: never a size target.
                Policy {
                    grace: args.grace.or(config.grace).unwrap_or(DEFAULT_GRACE),
                    keep,
                    unused_for: Some(
                        args.unused_for
                            .or(config.hook_unused_for)
                            .unwrap_or(DEFAULT_HOOK_UNUSED_FOR),
                    ),
                    max_size: None,
                }
            } else {
                Policy {
                    grace: args.grace.or(config.grace).unwrap_or(DEFAULT_GRACE),
                    keep,
                    unused_for: args.unused_for.or(config.unused_for),
                    max_size: args.max_size.or(config.max_size).map(|s| s.0),
                }
            },
            now: state::now()?,
            state_dir,
        })
    }
}

/// Stages 2 to 5: what the cache holds, who uses it, and the plan.
struct Survey {
    inventory: Inventory,
    roots: Vec<RootScan>,
    venvs: Vec<PathBuf>,
    plan: Plan,
    warnings: Vec<String>,
}

fn survey(settings: &Settings<'_>, cache: &CacheDir, progress: &Progress) -> Result<Survey> {
    let args = settings.args;
    let inventory = inventory::take(cache, progress)?;
    let mut warnings = inventory.warnings.clone();
    // Doubts that keep every archive, whatever --allow-unreadable-roots says.
    let mut blind_spots = Vec::new();
    let specs = root_specs(settings, &inventory, &mut warnings, &mut blind_spots);
    let roots = discover::discover(&specs, cache, &settings.excludes, progress);

    // The dry run keeps for blind spots too, so that it shows what --apply would do.
    let keep_for_blind_spots = !args.allow_unreadable_roots;
    for root in &roots {
        if root.missing && root.origin == RootOrigin::Flag {
            warnings.push(format!("root {} does not exist", root.path.display()));
        }
        for (path, cause) in &root.unreadable {
            warnings.push(format!(
                "cannot read {} (under root {}): {cause}{}",
                path.display(),
                root.path.display(),
                if keep_for_blind_spots {
                    "; every archive is kept (--allow-unreadable-roots to prune anyway)"
                } else {
                    ""
                }
            ));
            if keep_for_blind_spots {
                blind_spots.push((path.clone(), cause.clone()));
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
            warnings.push(format!(
                "{} (under root {}) {cause}{}",
                mount.path.display(),
                root.path.display(),
                if keep {
                    "; every archive is kept (--allow-unreadable-roots to prune anyway)"
                } else {
                    ""
                }
            ));
            if keep {
                blind_spots.push((mount.path.clone(), cause));
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

    let last_seen = match &settings.state_dir {
        Some(dir) => last_seen_before(dir, cache, settings.now, &mut warnings),
        None => state::LastSeen::default(),
    };
    let options = plan::Options {
        policy: settings.policy.clone(),
        now: settings.now,
        last_seen,
        blind_spots,
    };
    let plan = plan::make(&inventory, cache, &venvs, &options, progress);
    warnings.extend(plan.notes.iter().cloned());
    if let Some(dir) = &settings.state_dir {
        record_live(dir, cache, &inventory, &plan, settings.now, &mut warnings);
    }
    Ok(Survey {
        inventory,
        roots,
        venvs,
        plan,
        warnings,
    })
}

/// What earlier scans recorded; a damaged record is a warning, and makes every archive
/// count as used when it was last written (see [`crate::state`]).
fn last_seen_before(
    dir: &std::path::Path,
    cache: &CacheDir,
    now: SystemTime,
    warnings: &mut Vec<String>,
) -> state::LastSeen {
    let (seen, note) = state::last_seen(dir, cache.root(), now);
    warnings.extend(note);
    seen
}

/// Records every archive in use as seen now. Failing to is a warning: it costs memory,
/// not safety.
fn record_live(
    dir: &std::path::Path,
    cache: &CacheDir,
    inventory: &Inventory,
    plan: &Plan,
    now: SystemTime,
    warnings: &mut Vec<String>,
) {
    let live = plan
        .kept()
        .filter(|(_, evidence)| evidence.iter().any(|e| e.kind().is_use()))
        .map(|(archive, _)| &archive.id);
    if let Err(err) =
        state::record_last_seen(dir, cache.root(), inventory.archives.keys(), live, now)
    {
        warnings.push(format!("cannot record last use: {err:#}"));
    }
}

impl Survey {
    fn report(self, settings: &Settings<'_>, cache: &CacheDir, dry_run: bool) -> Report {
        let args = settings.args;
        let mut report = Report::new(
            cache.root().to_owned(),
            cache.source,
            dry_run,
            &self.plan,
            &self.roots,
            self.warnings,
        );
        if let Some(query) = &args.explain {
            report.explain = Some(crate::report::explain(&self.plan, query));
        }
        if args.per_venv {
            report.venvs = Some(crate::per_venv::shares(&self.plan, &self.venvs));
        }
        report
    }
}

/// `--root`s; then, unless `--no-default-roots`, the config's roots, the registry (where
/// vanished roots are dropped), uv's tool dir and the git worktree; then the cache's own
/// overlay venvs (`builds-v*`).
fn root_specs(
    settings: &Settings<'_>,
    inventory: &Inventory,
    warnings: &mut Vec<String>,
    blind_spots: &mut Vec<(PathBuf, String)>,
) -> Vec<RootSpec> {
    let args = settings.args;
    let spec = |path: &PathBuf, origin| RootSpec {
        path: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
        origin,
    };
    let mut specs: Vec<RootSpec> = args
        .roots
        .iter()
        .map(|p| spec(p, RootOrigin::Flag))
        .collect();
    if !args.no_default_roots {
        specs.extend(
            settings
                .config_roots
                .iter()
                .map(|p| spec(p, RootOrigin::Config)),
        );
        if let Some(dir) = &settings.state_dir {
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
    dir: &std::path::Path,
    warnings: &mut Vec<String>,
    blind_spots: &mut Vec<(PathBuf, String)>,
) -> Vec<PathBuf> {
    let vanished = |root: &std::path::Path| matches!(std::fs::symlink_metadata(root), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
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

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
