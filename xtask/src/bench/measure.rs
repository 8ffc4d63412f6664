//! Runs the probes against a fixture and times them.
//!
//! Per size: a warm-up, timed rounds, `strace` counts, then the destructive runs, each
//! followed by the restore from the stash.
//!
//! Wall time is taken around the whole child. Peak memory comes from `/usr/bin/time -f %M`,
//! which forks from a tiny process: a child's `ru_maxrss` starts at its parent's RSS, so
//! `wait4` from this (larger) process would inflate every small number. Syscalls come from
//! extra, untimed runs under `strace`, when it works here.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use xshell::{Cmd, Shell, cmd};

use super::fixture::{Fixture, Size};
use super::probe::Probe;
use super::results::{BenchResult, Sample, Syscalls, Table, ToolReport};
use super::trace::{parse_strace_counts, parse_time, stat_path, strace_wrapper};

/// The tool, the helpers found on this system, and `target/bench`.
pub(super) struct Bench<'a> {
    sh: &'a Shell,
    dir: PathBuf,
    tool: PathBuf,
    /// `/usr/bin/time` with `-f` (GNU time): peak memory.
    time: bool,
    strace: bool,
    /// The pinned uv, for the floor; `None` when it could not be installed.
    pub(super) uv: Option<PathBuf>,
    /// The tool has `--threads` (so the one-thread row runs).
    tool_threads: bool,
    /// `--threads` for every other run of the tool; `None`: its default (all cores).
    threads: Option<usize>,
}

impl<'a> Bench<'a> {
    /// Builds the tool in release and looks for GNU time and a working strace.
    pub(super) fn new(sh: &'a Shell, threads: Option<usize>) -> Result<Self> {
        let target = crate::workspace_root().join("target");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        eprintln!("bench: building uv-cache-prune in release");
        cmd!(
            sh,
            "{cargo} build --quiet --profile profiling -p uv-cache-prune --target-dir {target}"
        )
        .quiet()
        .run()
        .context("building uv-cache-prune in release")?;
        let dir = target.join("bench");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let probe_file = dir.join("time-probe.txt");
        let time = cmd!(sh, "/usr/bin/time -f %M -o {probe_file} true")
            .quiet()
            .ignore_stderr()
            .run()
            .is_ok();
        let strace = cmd!(sh, "strace -f -qq -o /dev/null true")
            .quiet()
            .ignore_stderr()
            .run()
            .is_ok();
        for (found, what, shows) in [
            (time, "GNU /usr/bin/time", "peak RSS"),
            (strace, "a working strace", "syscalls"),
        ] {
            if !found {
                eprintln!("bench: no {what} here: {shows} will read n/a");
            }
        }
        let uv = match super::uv::pinned_uv(&target) {
            Ok(uv) => Some(uv),
            Err(err) => {
                eprintln!(
                    "bench: no uv {}: the floor will read n/a ({err:#})",
                    super::uv::UV_VERSION
                );
                None
            }
        };
        let tool = target.join("profiling/uv-cache-prune");
        let help = cmd!(sh, "{tool} --help").quiet().read().unwrap_or_default();
        let tool_threads = help.contains("--threads");
        if !tool_threads {
            eprintln!("bench: the tool has no --threads: the one-thread row is left out");
        }
        if threads.is_some() && !tool_threads {
            bail!("--threads needs a uv-cache-prune that has the knob; this one has not");
        }
        Ok(Bench {
            sh,
            tool,
            dir,
            time,
            strace,
            uv,
            tool_threads,
            threads,
        })
    }

    /// Where the run's results go: `target/bench/results.json`.
    pub(super) fn results_path(&self) -> PathBuf {
        self.dir.join("results.json")
    }

    /// The tool's HOME and XDG dirs: it writes its last-use record there.
    pub(super) fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    /// `target/bench`, where fixtures live.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The release build of the tool.
    pub(super) fn tool(&self) -> &Path {
        &self.tool
    }

    /// The whole table for the fixture `factor` times the size of `base`.
    pub(super) fn measure(&self, base: Size, factor: usize, runs: usize) -> Result<BenchResult> {
        let fixture = Fixture::plan(base.scaled(factor), &self.dir);
        fixture.ensure()?;
        self.measure_fixture(&fixture, factor, runs)
    }

    /// Deletes the fixture of `size`: the scaling sizes take tens of GB.
    pub(super) fn remove_fixture(&self, size: Size) -> Result<()> {
        let dir = Fixture::plan(size, &self.dir).dir;
        eprintln!(
            "bench: removing {} (regenerated when needed)",
            dir.display()
        );
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))
    }

    /// Whether this system can run `probe`.
    fn available(&self, probe: Probe) -> bool {
        match probe {
            Probe::DryRunOneThread => self.tool_threads,
            Probe::Floor => self.uv.is_some(),
            _ => true,
        }
    }

    /// The whole table for a ready fixture (synthetic or `--real`).
    pub(super) fn measure_fixture(
        &self,
        fixture: &Fixture,
        factor: usize,
        runs: usize,
    ) -> Result<BenchResult> {
        let size = fixture.size;
        let home = self.home();
        if home.exists() {
            fs::remove_dir_all(&home)
                .with_context(|| format!("emptying the tool's HOME {}", home.display()))?;
        }
        fs::create_dir_all(&home)
            .with_context(|| format!("creating the tool's HOME {}", home.display()))?;
        eprintln!(
            "bench: {} archives, {} files, {} venvs: {runs} runs of each command",
            size.archives, size.files, size.venvs
        );
        let mut table = Table::new();

        let read_only: Vec<Probe> = Probe::READ_ONLY
            .into_iter()
            .filter(|p| self.available(*p))
            .collect();
        let mut reports = Vec::new();
        for &probe in &read_only {
            let warm_up = self.run(probe, fixture)?;
            // df prints its own object, not the prune report.
            if probe.is_tool() && probe != Probe::Df {
                reports.push(ToolReport::parse(&warm_up.stdout)?);
            }
        }
        for _ in 0..runs {
            for &probe in &read_only {
                let sample = self.run(probe, fixture)?;
                table.row_mut(probe).samples.push(sample);
            }
        }
        for &probe in &read_only {
            table.row_mut(probe).syscalls = self.syscalls(probe, fixture)?;
        }
        let live_stated = self.live_entries_stated(fixture)?;

        eprintln!("bench: destructive runs (each followed by restoring the dead archives)");
        fixture.mark_changing()?;
        let mut removed_exactly_dead = true;
        for _ in 0..runs {
            for probe in [Probe::Apply, Probe::Rm] {
                let sample = self.run(probe, fixture)?;
                if probe == Probe::Apply {
                    reports.push(ToolReport::parse(&sample.stdout)?);
                    removed_exactly_dead &= fixture.archive_dirs()? == Fixture::ids(fixture.live());
                }
                table.row_mut(probe).samples.push(sample);
                self.restore(fixture)?;
            }
        }
        if self.strace {
            for probe in [Probe::Apply, Probe::Rm] {
                table.row_mut(probe).syscalls = self.syscalls(probe, fixture)?;
                self.restore(fixture)?;
            }
        }
        fixture.mark_complete()?;

        Ok(BenchResult {
            factor,
            size,
            fixture: fixture.summary(),
            reports,
            removed_exactly_dead,
            live_stated,
            probes: table,
        })
    }

    /// Puts back what a destructive run deleted, from the stash, and checks it is all back.
    fn restore(&self, fixture: &Fixture) -> Result<()> {
        let sh = self.sh;
        let (stash, cache) = (fixture.stash().join("."), fixture.cache());
        cmd!(sh, "cp -a {stash} {cache}")
            .quiet()
            .run()
            .context("restoring the dead archives from the stash")?;
        // So that writeback of the copy does not land inside the next timing.
        cmd!(sh, "sync")
            .quiet()
            .run()
            .context("flushing the restored archives")?;
        ensure!(
            fixture.archive_dirs()? == fixture.all_ids(),
            "restoring {} did not bring back exactly its archives; it will be regenerated",
            fixture.dir.display()
        );
        Ok(())
    }

    /// The command line of a probe, program first.
    fn argv(&self, probe: Probe, fixture: &Fixture) -> Vec<OsString> {
        let cache = fixture.cache();
        let archive_dir = cache.join("archive-v0");
        let dead_dirs = || fixture.dead().map(|a| archive_dir.join(&a.id).into());
        let mut argv: Vec<OsString> = match probe {
            Probe::DryRun | Probe::DryRunOneThread | Probe::Apply | Probe::Df => vec![
                self.tool.clone().into(),
                "--cache-dir".into(),
                cache.clone().into(),
                "--no-default-roots".into(),
                "--root".into(),
                fixture.projects().into(),
                "--grace".into(),
                "0s".into(),
                "--json".into(),
            ],
            Probe::Du => vec!["du".into(), "-s".into(), cache.clone().into()],
            Probe::Find => vec!["find".into(), archive_dir.clone().into()],
            // One child, so that the floor is timed like the rest: uv's prune, then du.
            Probe::Floor => vec![
                "sh".into(),
                "-c".into(),
                "\"$1\" --no-config --quiet cache prune --cache-dir \"$2\" && shift 2 && exec du -s \"$@\"".into(),
                "floor".into(),
                self.uv.clone().unwrap_or_default().into(),
                fixture.floor().into(),
            ],
            Probe::Rm => vec!["rm".into(), "-rf".into()],
        };
        if probe == Probe::Df {
            // The subcommand first: it takes the prune's flags after it.
            argv.insert(1, "df".into());
        }
        let threads = match probe {
            Probe::DryRunOneThread => Some(1),
            Probe::DryRun | Probe::Apply | Probe::Df => self.threads,
            _ => None,
        };
        if let Some(threads) = threads {
            argv.extend(["--threads".into(), threads.to_string().into()]);
        }
        match probe {
            Probe::Floor => argv.extend(dead_dirs()),
            Probe::Apply => argv.push("--apply".into()),
            Probe::Find => argv.extend(["-type", "f", "-links", "1"].map(OsString::from)),
            Probe::Rm => argv.extend(dead_dirs()),
            Probe::DryRun | Probe::DryRunOneThread | Probe::Du | Probe::Df => {}
        }
        argv
    }

    /// A probe's command under `wrapper` (time, strace), the tool in its own HOME.
    fn cmd(&self, probe: Probe, fixture: &Fixture, wrapper: &[OsString]) -> Cmd<'a> {
        let sh = self.sh;
        let argv = [wrapper.to_vec(), self.argv(probe, fixture)].concat();
        let (program, args) = argv.split_first().expect("a command line");
        let cmd = cmd!(sh, "{program} {args...}").quiet();
        if !probe.is_tool() {
            return cmd.ignore_stdout();
        }
        let home = self.home();
        let mut cmd = cmd
            .env("HOME", &home)
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CACHE_HOME", home.join("cache"));
        for var in [
            "UV_CACHE_DIR",
            "UV_CACHE_PRUNE_CONFIG",
            "UV_CACHE_PRUNE_STATE_DIR",
            "UV_CACHE_PRUNE_NOW",
            "UV_CACHE_PRUNE_FAULT_AFTER",
        ] {
            cmd = cmd.env_remove(var);
        }
        cmd
    }

    /// One timed run, under `/usr/bin/time` when it is there (about a millisecond more).
    fn run(&self, probe: Probe, fixture: &Fixture) -> Result<Sample> {
        let usage = self.dir.join("time.txt");
        let wrapper: Vec<OsString> = if self.time {
            let format = "%M %U %S";
            ["/usr/bin/time", "-f", format, "-o"]
                .map(OsString::from)
                .into_iter()
                .chain([usage.clone().into()])
                .collect()
        } else {
            Vec::new()
        };
        let cmd = self.cmd(probe, fixture, &wrapper);
        let started = Instant::now();
        let output = cmd
            .ignore_status()
            .output()
            .with_context(|| format!("running {probe}"))?;
        let wall = started.elapsed();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!("{probe} failed ({}): {}", output.status, stderr.trim());
        }
        if probe == Probe::Floor {
            let floor = fixture.floor().join("archive-v0");
            let left = fs::read_dir(&floor)
                .with_context(|| format!("listing {}", floor.display()))?
                .count();
            ensure!(
                left == fixture.all_ids().len(),
                "uv cache prune deleted archives from the floor copy {} ({left} left of {}): \
                 the floor would include deleting them; remove {} to regenerate it",
                floor.display(),
                fixture.all_ids().len(),
                fixture.dir.display()
            );
        }
        let (peak_rss_kib, cpu) = if self.time {
            let text = fs::read_to_string(&usage).context("reading /usr/bin/time's output")?;
            parse_time(&text)
                .with_context(|| format!("unexpected /usr/bin/time output {text:?}"))?
        } else {
            (None, None)
        };
        Ok(Sample {
            wall,
            peak_rss_kib,
            cpu,
            stdout: output.stdout,
        })
    }

    /// Counts from one untimed run under `strace -c -f`; `None` without strace.
    fn syscalls(&self, probe: Probe, fixture: &Fixture) -> Result<Option<Syscalls>> {
        if !self.strace {
            return Ok(None);
        }
        let out = self.dir.join("strace-counts.txt");
        let strace = strace_wrapper(&["-c"], &out);
        self.cmd(probe, fixture, &strace)
            .ignore_stdout()
            .run()
            .with_context(|| format!("running {probe} under strace"))?;
        let text = fs::read_to_string(&out).context("reading strace's summary")?;
        Ok(Some(parse_strace_counts(&text)))
    }

    /// Which entries of live archives the dry run stats, by path (`strace -y` names the
    /// directory behind each fd): the exact answer to "no full stat of live archives".
    fn live_entries_stated(&self, fixture: &Fixture) -> Result<Option<usize>> {
        if !self.strace {
            return Ok(None);
        }
        let out = self.dir.join("strace-stats.txt");
        let strace = strace_wrapper(&["-y", "-e", "trace=%stat,%lstat,%fstat"], &out);
        self.cmd(Probe::DryRun, fixture, &strace)
            .ignore_stdout()
            .run()
            .context("tracing the dry run's stat calls")?;
        let cache = fixture.cache();
        let archive_dir = fs::canonicalize(&cache)
            .with_context(|| format!("resolving {}", cache.display()))?
            .join("archive-v0");
        let live = Fixture::ids(fixture.live());
        let text = fs::read_to_string(&out).context("reading strace's trace")?;
        let stated: HashSet<PathBuf> = text
            .lines()
            .filter_map(stat_path)
            .filter(|path| {
                let mut inside = path
                    .strip_prefix(&archive_dir)
                    .into_iter()
                    .flat_map(Path::components);
                let id = inside
                    .next()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned());
                id.is_some_and(|id| live.contains(&id)) && inside.next().is_some()
            })
            .collect();
        Ok(Some(stated.len()))
    }
}
