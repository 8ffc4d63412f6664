//! The command line, shared by the binary, `cargo xtask cache-prune` and any other
//! repository's xtask (which can `#[command(flatten)]` [`Args`] and call [`run`]).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::apply::{self, Faults};
use crate::discover::{self, RootOrigin, RootScan, RootSpec};
use crate::guard::Guard;
use crate::inventory::{self, Inventory};
use crate::locate::{self, CacheDir, Validated};
use crate::lock::{self, Acquired, Wait};
use crate::plan::{self, Plan};
use crate::progress::Progress;
use crate::report::{Report, Status};

/// Find and remove unpacked wheels in uv's cache that no live virtualenv uses.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The uv cache [default: $UV_CACHE_DIR, else `uv cache dir`, else the platform default]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// A directory tree to search for venvs (repeatable)
    #[arg(long = "root", value_name = "DIR")]
    pub roots: Vec<PathBuf>,

    /// Search only the --root directories, not uv's tool dir and the current git worktree
    /// (the cache's own environments are always checked)
    #[arg(long)]
    pub no_default_roots: bool,

    /// Delete the dead archives and their pointers (the default is a dry run that changes
    /// nothing), holding uv's cache lock
    #[arg(long)]
    pub apply: bool,

    /// Print the report as JSON (schema_version 1) on stdout
    #[arg(long)]
    pub json: bool,

    /// Keep archives created less than this long ago, e.g. `0s`, `90m`, `30d`
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub grace: Duration,

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
}

const EXAMPLES: &str = "\
Examples:
  uv-cache-prune                          # dry run: what is dead, and why the rest is live
  uv-cache-prune --root ~/src --json      # also search ~/src for venvs; machine-readable
  uv-cache-prune --apply                  # delete, waiting up to 5m if uv is busy
  uv-cache-prune --apply --no-wait --grace 1d --root ~/work

Exit status: 0 done (also: nothing to do, or cache busy with --no-wait), 1 runtime error,
2 bad usage.";

/// Parses `0s`, `90m`, `30d`, `1h 30m` (humantime syntax).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 0s, 90m, 30d)"))
}

/// Runs the tool: the report goes to stdout, warnings and progress to stderr.
pub fn run(args: &Args) -> Result<()> {
    let report = build_report(args)?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let text = if args.json {
        report.to_json()
    } else {
        report.to_human()
    };
    write_stdout(&text)
}

/// Everything but the printing, for callers that want the value.
pub fn build_report(args: &Args) -> Result<Report> {
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
    if !args.apply {
        let survey = survey(args, &cache, &Progress::auto())?;
        return Ok(survey.report(&cache, true));
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
        Acquired::Busy(path) => {
            eprintln!(
                "uv is using the cache (it holds {}); nothing was deleted (--no-wait)",
                path.display()
            );
            let status = Status::Busy;
            return Ok(Report::empty(
                cache.root().to_owned(),
                cache.source,
                false,
                status,
            ));
        }
    };
    let progress = Progress::auto();
    let mut faults = Faults::from_env();
    let mut removal = apply::remove_leftover_trash(&cache, &guard, &mut faults)?;
    // The plan is made only now, under the lock: nothing computed before it is trusted.
    let survey = survey(args, &cache, &progress)?;
    removal += apply::apply(
        &survey.plan,
        &survey.inventory,
        &cache,
        &guard,
        &mut faults,
        &progress,
    )?;
    let mut report = survey.report(&cache, false);
    report.removed_bytes = Some(removal.bytes);
    report.removed_pointers = Some(removal.pointers);
    Ok(report)
}

/// Stages 2 to 5: what the cache holds, who uses it, and the plan.
struct Survey {
    inventory: Inventory,
    roots: Vec<RootScan>,
    plan: Plan,
    warnings: Vec<String>,
}

fn survey(args: &Args, cache: &CacheDir, progress: &Progress) -> Result<Survey> {
    // The dry run keeps for blind spots too, so that it shows what --apply would do.
    let keep_for_blind_spots = !args.allow_unreadable_roots;
    let inventory = inventory::take(cache, progress)?;
    let roots = discover::discover(&root_specs(args, &inventory), cache, progress);

    let mut warnings = inventory.warnings.clone();
    let mut blind_spots = Vec::new();
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
    }
    let mut venvs: Vec<PathBuf> = roots.iter().flat_map(|r| r.venvs.iter().cloned()).collect();
    venvs.sort();
    venvs.dedup();

    let options = plan::Options {
        grace: args.grace,
        now: SystemTime::now(),
        blind_spots,
    };
    let plan = plan::make(&inventory, cache, &venvs, &options, progress);
    Ok(Survey {
        inventory,
        roots,
        plan,
        warnings,
    })
}

impl Survey {
    fn report(self, cache: &CacheDir, dry_run: bool) -> Report {
        Report::new(
            cache.root().to_owned(),
            cache.source,
            dry_run,
            &self.plan,
            &self.roots,
            self.warnings,
        )
    }
}

/// `--root`s, then the defaults, then the cache's own overlay venvs (`builds-v*`).
fn root_specs(args: &Args, inventory: &Inventory) -> Vec<RootSpec> {
    let mut specs: Vec<RootSpec> = args
        .roots
        .iter()
        .map(|path| RootSpec {
            path: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
            origin: RootOrigin::Flag,
        })
        .collect();
    if !args.no_default_roots {
        specs.extend(discover::default_roots());
    }
    specs.extend(inventory.build_dirs.iter().map(|path| RootSpec {
        path: path.clone(),
        origin: RootOrigin::CacheBuilds,
    }));
    let mut seen = std::collections::HashSet::new();
    specs.retain(|spec| seen.insert(spec.path.clone()));
    specs
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
