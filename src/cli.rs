//! The command line, shared by the binary, `cargo xtask cache-prune` and any other
//! repository's xtask (which can `#[command(flatten)]` [`Args`] and call [`run`]).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};

use crate::discover::{self, RootOrigin, RootSpec};
use crate::locate::{self, Validated};
use crate::plan;
use crate::progress::Progress;
use crate::report::Report;

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

    /// Delete the dead archives (the default is a dry run that changes nothing)
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
}

const EXAMPLES: &str = "\
Examples:
  uv-cache-prune                          # dry run: what is dead, and why the rest is live
  uv-cache-prune --root ~/src --json      # also search ~/src for venvs; machine-readable
  uv-cache-prune --grace 0s --no-default-roots --root ~/work

Exit status: 0 done (also: nothing to do), 1 runtime error, 2 bad usage.";

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
    if args.apply {
        bail!("--apply is not available yet: this build only reports (dry run)");
    }
    let location = locate::locate(args.cache_dir.as_deref())?;
    let cache = match locate::validate(location)? {
        Validated::Cache(cache) => cache,
        Validated::Missing(location) => {
            return Ok(Report::no_cache(
                location.path,
                location.source,
                !args.apply,
            ));
        }
    };
    let progress = Progress::auto();
    let inventory = crate::inventory::take(&cache, &progress)?;

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
    specs.dedup_by(|a, b| a.path == b.path);
    let roots = discover::discover(&specs, &cache, &progress);

    let mut warnings = inventory.warnings.clone();
    for root in &roots {
        if root.missing {
            warnings.push(format!("root {} does not exist", root.path.display()));
        }
        for (path, cause) in &root.unreadable {
            warnings.push(format!(
                "cannot read {} (under root {}): {cause}",
                path.display(),
                root.path.display()
            ));
        }
    }
    let mut venvs: Vec<PathBuf> = roots.iter().flat_map(|r| r.venvs.iter().cloned()).collect();
    venvs.sort();
    venvs.dedup();

    let options = plan::Options {
        grace: args.grace,
        now: SystemTime::now(),
    };
    let plan = plan::make(&inventory, &cache, &venvs, &options, &progress);
    Ok(Report::new(
        cache.root().to_owned(),
        cache.source,
        !args.apply,
        &plan,
        &roots,
        warnings,
    ))
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
