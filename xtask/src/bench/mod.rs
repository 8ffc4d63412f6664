//! `cargo xtask bench`: the tool against `du -s`, a link-count scan and `rm -rf`, on a synthetic uv cache.
//!
//! # What is compared, and why these baselines
//!
//! - `du -s <cache>`: the cheapest thing that looks at every file. A dry run that costs
//!   more than half of it is too slow for a git hook.
//! - `find <cache>/archive-v0 -type f -links 1`: the link-count scan of uv issue 16008 (and
//!   of conda and pnpm). It stats every file of every archive (and is wrong for symlink and
//!   copy venvs); it shows what "stat everything" costs.
//! - `--apply` against `rm -rf` of exactly the dead archives: the floor for deleting them.
//! - The floor of the dry run's job: `uv cache prune` on a floor copy of the same cache
//!   (it lists every bucket and archive, and there deletes nothing) plus `du -s` of just
//!   the dead archives, whose bytes the tool must count (`probe::Probe::Floor`).
//! - With `--threads`-capable tools, the dry run on one thread: what the parallel stages buy.
//!
//! Once per bench, not per size: the installed hook shim's foreground time (`hook`), and
//! the venv search of a synthetic home against `find -name pyvenv.cfg` (`home`). With
//! `--real`, the same table on a cache the pinned uv fills from the index (`real`).
//!
//! Each read-only command runs once untimed (warm page cache), then `--runs` times in
//! rounds (one run of each in turn, so that drift hits all alike); the median is reported.
//!
//! # The fixture
//!
//! Generated once per size under `target/bench/fixture-…/` and reused (see `fixture`).
//! File counts follow a capped Pareto law solved to hit `--files` exactly: at the default
//! size the median archive has about 40 files and a handful have 20,000 or more, like the
//! largest wheels on PyPI.
//!
//! # Destructive runs without a full copy each
//!
//! Every `--apply` and `rm -rf` run must start from the same state. A fresh `cp -a` of the
//! whole tree per run is the obvious way, but it creates a million inodes at the default
//! size, and `cp -a` spent 0.14 to 0.45 ms of kernel time per inode on the VM this was
//! written on: minutes per copy, a dozen copies per size. Both commands only ever delete
//! the dead archives and their pointers, so the fixture keeps a pristine copy of exactly
//! those (`stash/`) and `cp -a`s it back after each run: the deleted part is a fresh copy,
//! nothing else was touched. The marker is removed while the fixture is being changed, and
//! every restore is checked (all archives back, and the tool's own report of the next run
//! agrees), so an interrupted bench regenerates the fixture rather than measure a broken one.
//!
//! # The modules
//!
//! `fixture` plans and writes the cache (with `parallel`), `real` builds the `--real` one
//! with the pinned `uv`, `measure` runs the `probe`s (reading `time` and `strace` through
//! `trace`), `hook` and `home` measure their rows, `results` holds what they measured,
//! `checks` judges it against the targets and `markdown` prints it.

mod checks;
mod fixture;
mod home;
mod hook;
mod markdown;
mod measure;
mod parallel;
mod probe;
mod real;
mod results;
mod trace;
mod uv;

use std::fs;

use anyhow::{Context, Result, bail, ensure};
use xshell::Shell;

use self::checks::scaling_check;
use self::fixture::Size;
use self::home::Home;
use self::hook::{HOOK_CHECKOUTS, measure_hook};
use self::markdown::scaling_markdown;
use self::measure::Bench;
use self::real::real_fixture;
use self::results::{BenchResult, Check, Extras, ResultsFile};

/// The sizes of `--scaling`, as multiples of the first.
const SCALING_FACTORS: [usize; 3] = [1, 2, 4];
/// `--scaling`'s first size unless flags say otherwise: at 4× a million files, which is
/// what the scaling table must reach, in about 30 GB of fixtures, deleted after use.
const SCALING_BASE: (usize, usize, usize) = (1250, 250_000, 16);

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Archives in the synthetic cache [default: 3000; --scaling: 1250; --quick: 200]
    #[arg(long, value_name = "N")]
    archives: Option<usize>,
    /// Files in all archives together, long-tailed [default: 600000; --scaling: 250000;
    /// --quick: 20000]
    #[arg(long, value_name = "N")]
    files: Option<usize>,
    /// Project venvs, in hardlink, symlink and copy mode in turn [default: 40; --scaling: 16;
    /// --quick: 8]
    #[arg(long, value_name = "N")]
    venvs: Option<usize>,
    /// Share of archives that no venv uses
    #[arg(long, value_name = "PERCENT", default_value_t = 10)]
    dead_percent: usize,
    /// Timed runs of each command; the median is reported [default: 5; --quick: 3]
    #[arg(long, value_name = "N")]
    runs: Option<usize>,
    /// A small fixture for CI: 200 archives, 20,000 files, 8 venvs, 3 runs, a small home
    #[arg(long)]
    quick: bool,
    /// Projects in the synthetic home of the home-walk row, about 7,000 entries each
    /// [default: 45; --quick: 4]
    #[arg(long, value_name = "N")]
    home_projects: Option<usize>,
    /// Also run at 2× and 4× the size, and report the time per archive; the larger
    /// fixtures are deleted after use (they take tens of GB)
    #[arg(long)]
    scaling: bool,
    /// Also measure a cache the pinned uv fills from the real index (needs the network
    /// once): ansible, botocore, scipy, pandas, numpy, with older versions dead
    #[arg(long)]
    real: bool,
    /// Exit 1 when a target is missed
    #[arg(long)]
    check: bool,
    /// Threads for the tool's runs (its --threads) [default: the tool's, all cores]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// What the flags ask for, with the `--quick` presets applied and every value checked.
#[derive(Debug, Clone, Copy)]
struct Options {
    /// The first (or only) size.
    size: Size,
    /// Timed runs of each command, at least 1.
    runs: usize,
    /// The sizes to measure, as multiples of `size`; more than one means `--scaling`.
    factors: &'static [usize],
    /// Fail the task when a target is missed.
    check: bool,
    /// Also measure the `--real` fixture.
    real: bool,
    /// The tool's `--threads`, if given.
    threads: Option<usize>,
    /// Projects in the home-walk row's synthetic home.
    home_projects: usize,
}

impl Args {
    fn options(&self) -> Result<Options> {
        let (archives, files, venvs) = if self.scaling && !self.quick {
            SCALING_BASE
        } else {
            (3000, 600_000, 40)
        };
        let size = Size {
            archives: self.archives.unwrap_or(self.preset(200, archives)),
            files: self.files.unwrap_or(self.preset(20_000, files)),
            venvs: self.venvs.unwrap_or(self.preset(8, venvs)),
            dead_percent: self.dead_percent,
        };
        size.validate()?;
        let runs = self.runs.unwrap_or(self.preset(3, 5));
        ensure!(runs > 0, "--runs must be at least 1");
        ensure!(self.threads != Some(0), "--threads must be at least 1");
        Ok(Options {
            size,
            runs,
            factors: if self.scaling {
                &SCALING_FACTORS[..]
            } else {
                &SCALING_FACTORS[..1]
            },
            check: self.check,
            real: self.real,
            threads: self.threads,
            home_projects: self.home_projects.unwrap_or(self.preset(4, 45)),
        })
    }

    /// The `--quick` value or the full one.
    fn preset(&self, quick: usize, default: usize) -> usize {
        if self.quick { quick } else { default }
    }
}

impl Options {
    fn scaling(&self) -> bool {
        self.factors.len() > 1
    }
}

pub fn run(args: &Args) -> Result<()> {
    ensure!(cfg!(unix), "the benchmark needs Unix (du, find, cp, rm)");
    let options = args.options()?;

    let sh = Shell::new().context("starting a shell for the bench's commands")?;
    let bench = Bench::new(&sh, options.threads)?;
    let mut results = Vec::new();
    for &factor in options.factors {
        let result = bench.measure(options.size, factor, options.runs)?;
        println!("{}", result.markdown());
        results.push(result);
        if factor > 1 {
            bench.remove_fixture(options.size.scaled(factor))?;
        }
    }
    let mut checks: Vec<Check> = results.iter().flat_map(BenchResult::checks).collect();
    if options.scaling() {
        println!("{}", scaling_markdown(&results));
        checks.extend(scaling_check(&results));
    }
    if options.real {
        let uv = bench
            .uv
            .as_deref()
            .context("--real needs the pinned uv, which could not be installed")?;
        let fixture = real_fixture(&sh, uv, bench.dir())?;
        let result = bench.measure_fixture(&fixture, 1, options.runs)?;
        println!("\n#### The --real fixture{}", result.markdown());
        checks.extend(result.checks().into_iter().map(|mut check| {
            check.name = format!("[real] {}", check.name);
            check
        }));
        results.push(result);
    }

    eprintln!("bench: the hook row ({HOOK_CHECKOUTS} checkouts while the cache is locked)");
    let hook = measure_hook(&sh, bench.tool(), &bench.dir().join("hook"))?;
    let home = Home::new(bench.dir(), options.home_projects);
    eprintln!("bench: the home-walk row");
    let home_walk = home.measure(&sh, bench.tool(), &bench.home(), options.runs)?;
    let extras = Extras { hook, home_walk };
    println!("{}", extras.markdown());
    checks.extend(extras.checks());
    println!();
    for check in &checks {
        println!("{check}");
    }

    let report = ResultsFile::new(&results, &checks, options.runs).with_extras(&extras);
    let path = bench.results_path();
    let json = serde_json::to_string_pretty(&report).context("serializing the results")?;
    fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    println!("\nresults: {}", path.display());

    let failed = checks.iter().filter(|c| c.failed()).count();
    if options.check && failed > 0 {
        bail!("{failed} target(s) missed");
    }
    Ok(())
}
