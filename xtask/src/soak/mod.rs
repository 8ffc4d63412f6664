//! `cargo xtask soak`: the reliability figures, at scale, against real uv.
//!
//! The test suite proves each safety property a handful of times; this harness repeats
//! them until the numbers mean something, in four modes that share one invariant checker
//! (`testbed::ground_truth`, the tests' own): SIGKILLs at random instants of `--apply` ([`kills`]), real uv
//! operations from several workers racing `--apply` passes ([`installs`]), a
//! model-based property test on generated caches in uv's real layout ([`cases`]), and
//! root's `--apply` on a user's cache while that user swaps pointer directories, archives
//! and state files for symlinks to root's files ([`adversary`]: nothing outside the cache
//! may change). Every failure prints the seed and the command that replays it; the run
//! ends with a summary and exits 1 if anything failed.

mod adversary;
mod bed;
mod cases;
mod installs;
mod kills;
mod model;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

const EXAMPLES: &str = "\
Examples:
  cargo xtask soak --kills 50 --installs 1000 --prunes 100 --cases 1000   # the goal figures
  cargo xtask soak --kills 3 --installs 30 --prunes 3 --workers 2 --cases 30 --adversary 30   # CI
  cargo xtask soak --adversary 200              # root vs. a user swapping symlinks in, 200 rounds
  cargo xtask soak --adversary 100 --seed 42 --repeat-seed   # one adversary seed, 100 times
  cargo xtask soak --cases 1 --seed 1234567     # replay one property case a failure printed
  cargo xtask soak --kills 1 --seed 1234567     # replay one kill
Each mode's bed is left under target/soak/ (or --dir) when it fails, removed when it passes.";

#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// SIGKILL `--apply` at this many random instants on a cache of 300+ real archives
    #[arg(long, default_value_t = 0)]
    kills: usize,
    /// Real uv operations (installs, uninstalls, venvs made and deleted, `uv run --with`,
    /// `uvx`) run by the workers while `--apply` passes run
    #[arg(long, default_value_t = 0)]
    installs: usize,
    /// `--apply --grace 0s` passes spread over the `--installs` run
    #[arg(long, default_value_t = 10)]
    prunes: usize,
    /// Workers running uv operations at the same time
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Model-based property cases on generated caches
    #[arg(long, default_value_t = 0)]
    cases: usize,
    /// Rounds of root's `--apply` on a user's cache while the user swaps pointer
    /// directories, archives and state files for symlinks to root's files
    #[arg(long, default_value_t = 0)]
    adversary: usize,
    /// Base seed (default: from the clock); the first kill, case or adversary round uses
    /// it as is, so a printed seed replays with `--kills 1`, `--cases 1` or `--adversary 1`
    #[arg(long)]
    seed: Option<u64>,
    /// Run every adversary round with the base seed itself (a race hit once, tried again
    /// and again) instead of one seed per round
    #[arg(long)]
    repeat_seed: bool,
    /// Where the throw-away beds go (default target/soak); a tmpfs such as /dev/shm makes
    /// the restore before each kill much cheaper on a busy disk
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

/// One thing that went wrong, with what replays it.
pub struct Failure {
    pub replay: String,
    pub message: String,
}

/// What one mode did.
pub struct ModeReport {
    pub mode: &'static str,
    /// Counts worth publishing, in order (`kills`, `mid-deletion`, ...).
    pub counts: Vec<(&'static str, usize)>,
    pub failures: Vec<Failure>,
    pub duration: Duration,
}

pub fn run(args: &Args) -> Result<()> {
    if args.kills == 0 && args.installs == 0 && args.cases == 0 && args.adversary == 0 {
        bail!("nothing to do: give --kills, --installs, --cases or --adversary (see --help)");
    }
    if let Some(dir) = &args.dir {
        bed::set_beds_dir(dir.clone());
    }
    let seed = args.seed.unwrap_or_else(clock_seed);
    println!("soak: seed {seed}");
    let started = Instant::now();
    let tool = bed::build_tool()?;
    let uv = bed::UvBins::provision()?;
    let mut reports = Vec::new();
    if args.cases > 0 {
        reports.push(cases::run(&tool, &uv, args.cases, seed)?);
    }
    if args.kills > 0 {
        reports.push(kills::run(&tool, &uv, args.kills, seed)?);
    }
    if args.installs > 0 {
        let load = installs::Load {
            operations: args.installs,
            prunes: args.prunes,
            workers: args.workers.max(1),
        };
        reports.push(installs::run(&tool, &uv, &load, seed)?);
    }
    if args.adversary > 0 {
        reports.push(adversary::run(
            &tool,
            &uv,
            args.adversary,
            seed,
            args.repeat_seed,
        )?);
    }

    println!(
        "\nsoak summary (seed {seed}, {:.0?} in all):",
        started.elapsed()
    );
    let mut failed = 0;
    for report in &reports {
        let counts: Vec<String> = report
            .counts
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        println!(
            "  {:<9} {} ; {} failures ; {:.0?}",
            report.mode,
            counts.join(", "),
            report.failures.len(),
            report.duration
        );
        for failure in &report.failures {
            println!(
                "    FAILED: {}\n      replay: {}",
                failure.message, failure.replay
            );
        }
        failed += report.failures.len();
    }
    if failed > 0 {
        bail!("{failed} failure(s); each names the command that replays it");
    }
    println!("  no failures");
    Ok(())
}

/// The seed of the `i`-th kill or case: the base seed itself for the first, so that a
/// printed seed replays with a count of 1.
pub fn nth_seed(base: u64, i: usize) -> u64 {
    if i == 0 {
        return base;
    }
    // splitmix64 of (base, i): well spread, and never the base itself by construction.
    let mut z = base.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn clock_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_nanos() as u64) % 1_000_000_000
}
