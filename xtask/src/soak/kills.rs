//! `--kills N`: SIGKILL `--apply` at N instants spread over a whole run, on a cache of
//! over 300 real archives, and check after each that uv can still trust the cache and
//! that a rerun finishes the job.
//!
//! The cache is built once with real uv and restored (`cp -a`, same path: venvs hold
//! absolute paths) before every kill. Archives come from two uv generations, from
//! find-links (`.rev`) and a loopback index (`.http`), from local source trees (`sdists-v*`
//! symlinks) and a `uv run --with` environment, into venvs of all four link modes; a
//! third of the venvs are then deleted, so a full `--apply` removes over a hundred
//! archives of tens of files each, which is what most instants land in.
//!
//! Half the kills are timed, half are triggered: the process is killed as soon as the
//! `k`-th archive is seen turned to trash. Removing pointers and renaming archives takes
//! a few milliseconds of a run that mostly unlinks files, so timed kills would almost
//! never land there, yet that order (every pointer gone before its archive goes) is what
//! keeps uv from trusting a pointer to a missing archive; triggered kills land in it.
//! Where strace can delay a syscall, the tool is frozen right after that rename returns,
//! so the SIGKILL lands exactly there; without strace the kill races the tool.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use super::bed::{Bed, UvBins, checked};
use super::{Failure, ModeReport, nth_seed};
use testbed::ground_truth::{
    TRASH_PREFIX, all_archives, archives_of, imports, pointer_problems, pointers, trash_entries,
    venv_problems,
};
use testbed::index::IndexServer;
use testbed::wheel::{publish, try_write_wheel, write_source_tree};

/// Venv groups and packages per group: 16 × 20 = 320 wheel archives.
const GROUPS: usize = 16;
const PER_GROUP: usize = 20;
/// Link modes, cycled over the groups.
const MODES: [&str; 4] = ["hardlink", "symlink", "copy", "clone"];

/// The built cache and what the invariant needs to know about it.
struct Scenario {
    bed: Bed,
    known: BTreeSet<String>,
    live: BTreeSet<String>,
    dead: BTreeSet<String>,
    /// Surviving venvs and the modules each imports.
    venvs: Vec<(PathBuf, Vec<String>)>,
    /// Triggered kills freeze the tool with strace right after the rename (else they
    /// race it).
    strace: bool,
}

pub fn run(tool: &Path, uv: &UvBins, kills: usize, seed: u64) -> Result<ModeReport> {
    let started = Instant::now();
    println!("\nkills: building a cache of real archives");
    let scenario = build(tool, uv)?;
    println!(
        "kills: built in {:.1?}: {} archives ({} to remove, {} live), {} live venvs",
        started.elapsed(),
        scenario.known.len(),
        scenario.dead.len(),
        scenario.live.len(),
        scenario.venvs.len()
    );
    if !scenario.strace {
        println!("kills: note: no working strace; kills triggered by a rename race the tool");
    }
    scenario.bed.restore()?;
    let clock = Instant::now();
    let output = checked(&mut scenario.bed.prune_cmd(&["--apply"]))?;
    let full = clock.elapsed();
    drop(output);
    let mut failures = Vec::new();
    if let Err(e) = scenario.check_finished() {
        failures.push(Failure {
            replay: format!("cargo xtask soak --kills 1 --seed {seed}"),
            message: format!("an uninterrupted --apply did not finish: {e}"),
        });
    }
    println!("kills: a full --apply takes {full:.2?}");

    let mut landed = [0usize; 3];
    let mut triggered = 0;
    for i in 0..kills {
        let kill_seed = stratified_seed(seed, i, kills);
        let trigger = Trigger::of(kill_seed, full, scenario.dead.len());
        triggered += usize::from(matches!(trigger, Trigger::Renamed(_)));
        let replay = format!("cargo xtask soak --kills 1 --seed {kill_seed}");
        match scenario.kill_once(trigger) {
            Ok(phase) => landed[phase as usize] += 1,
            Err(e) => {
                let message = format!("kill {}: {e:#}", trigger.describe(full));
                println!("kills: FAILED {message}\n  replay: {replay}");
                failures.push(Failure { replay, message });
            }
        }
        if (i + 1).is_multiple_of(10) {
            println!("kills: {} of {kills} done", i + 1);
        }
    }
    if failures.is_empty() {
        scenario.bed.remove();
    }
    Ok(ModeReport {
        mode: "kills",
        counts: vec![
            ("kills", kills),
            ("triggered by a rename", triggered),
            ("mid-deletion", landed[Phase::MidDeletion as usize]),
            ("before any deletion", landed[Phase::Before as usize]),
            ("after the end", landed[Phase::After as usize]),
        ],
        failures,
        duration: started.elapsed(),
    })
}

/// Where a kill landed, judged from what it left.
#[derive(Clone, Copy)]
enum Phase {
    Before = 0,
    MidDeletion = 1,
    After = 2,
}

/// When a kill comes.
#[derive(Clone, Copy)]
enum Trigger {
    /// This long after the start.
    After(Duration),
    /// As soon as this many archives are seen renamed to trash (1-based).
    Renamed(usize),
}

impl Trigger {
    /// The seed's trigger: its kind from [`triggered`], its instant (or archive) from
    /// [`fraction`], of a run that takes `full` and renames `dead` archives.
    fn of(seed: u64, full: Duration, dead: usize) -> Trigger {
        let at = fraction(seed);
        if triggered(seed) && dead > 0 {
            Trigger::Renamed(1 + ((at * dead as f64) as usize).min(dead - 1))
        } else {
            Trigger::After(full.mul_f64(at))
        }
    }

    fn describe(self, full: Duration) -> String {
        match self {
            Trigger::After(delay) => format!("after {delay:.2?} of {full:.2?}"),
            Trigger::Renamed(k) => format!("as archive {k} was seen turned to trash"),
        }
    }
}

/// The `i`-th of `n` kill seeds: the first seed after `nth_seed(base, i)` whose instant
/// falls in the `i`-th `n`-th of the run and whose kind alternates (timed, triggered), so
/// that the kills cover the whole run, and every rename position, while each still
/// replays from its seed alone.
fn stratified_seed(base: u64, i: usize, n: usize) -> u64 {
    let start = nth_seed(base, i);
    if n <= 1 {
        return start;
    }
    let (low, high) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
    (0..10_000u64)
        .map(|k| start.wrapping_add(k))
        .find(|&s| (low..high).contains(&fraction(s)) && triggered(s) == (i % 2 == 1))
        .unwrap_or(start)
}

/// The instant of a kill, as a fraction of a full run (or of the archives it renames).
fn fraction(seed: u64) -> f64 {
    fastrand::Rng::with_seed(seed).f64()
}

/// Whether the seed's kill is triggered by a rename rather than timed.
fn triggered(seed: u64) -> bool {
    let mut rng = fastrand::Rng::with_seed(seed);
    rng.f64();
    rng.bool()
}

impl Scenario {
    /// Restores the cache, kills `--apply` when `trigger` says, checks the cache, reruns.
    fn kill_once(&self, trigger: Trigger) -> Result<Phase> {
        let clock = Instant::now();
        self.bed.restore()?;
        let restored = clock.elapsed();
        let cmd = self.bed.prune_cmd(&["--apply"]);
        let mut cmd = match trigger {
            Trigger::Renamed(k) if self.strace => paused_after_rename(&cmd, k),
            _ => cmd,
        };
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().context("spawning --apply")?;
        match trigger {
            Trigger::After(delay) => {
                std::thread::sleep(delay);
                let _ = child.kill();
            }
            Trigger::Renamed(k) => {
                // Busy polling: without strace the renames follow each other within
                // microseconds; with it the tool waits, frozen, right after the k-th.
                let archive_dir = self.bed.cache().join("archive-v0");
                while trash_count(&archive_dir) < k {
                    if child.try_wait().context("polling --apply")?.is_some() {
                        break;
                    }
                }
                if self.strace {
                    kill_tracee(child.id());
                }
                let _ = child.kill();
            }
        }
        let status = child.wait().context("reaping --apply")?;
        ensure!(
            status.success() || status.signal() == Some(9),
            "--apply ended with {status}, not SIGKILL or success"
        );
        let cache = self.bed.cache();
        let archives = all_archives(&cache);
        let phase = if !trash_entries(&cache).is_empty()
            || (archives != self.known && archives != self.live)
        {
            Phase::MidDeletion
        } else if archives == self.known {
            Phase::Before
        } else {
            Phase::After
        };
        self.check_usable().context("right after the kill")?;
        let check_done = clock.elapsed();
        checked(&mut self.bed.prune_cmd(&["--apply"])).context("the finishing rerun")?;
        self.check_finished().context("after the finishing rerun")?;
        if std::env::var_os("SOAK_TIMINGS").is_some() {
            println!(
                "kills: restore {restored:.1?}, check {check_done:.1?}, all {:.1?}",
                clock.elapsed()
            );
        }
        Ok(phase)
    }

    /// Every pointer names a complete archive, every live archive is there, every live
    /// venv is sound and imports its packages.
    fn check_usable(&self) -> Result<()> {
        let cache = self.bed.cache();
        let problems = pointer_problems(&cache, &self.known);
        ensure!(problems.is_empty(), "pointers: {}", first(&problems));
        let archives = all_archives(&cache);
        let gone: Vec<_> = self.live.difference(&archives).collect();
        ensure!(gone.is_empty(), "live archives gone: {gone:?}");
        for (venv, modules) in &self.venvs {
            let problems = venv_problems(venv);
            ensure!(problems.is_empty(), "venv: {}", first(&problems));
            imports(venv, modules).map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }

    /// No trash, exactly the live archives, no pointer naming a removed one, and usable.
    fn check_finished(&self) -> Result<()> {
        let cache = self.bed.cache();
        let left = trash_entries(&cache);
        ensure!(left.is_empty(), "trash left: {left:?}");
        let archives = all_archives(&cache);
        ensure!(
            archives == self.live,
            "archives left that should be gone: {:?}; live ones gone: {:?}",
            archives.difference(&self.live).collect::<Vec<_>>(),
            self.live.difference(&archives).collect::<Vec<_>>()
        );
        let (found, _) = pointers(&cache, &self.known);
        let stale: Vec<_> = found.iter().filter(|p| self.dead.contains(&p.id)).collect();
        ensure!(
            stale.is_empty(),
            "pointers to removed archives left: {stale:?}"
        );
        self.check_usable()
    }
}

/// `cmd` under strace, frozen for a minute right after its `k`-th `renameat2` (the tool
/// turns archives to trash with `renameat2(RENAME_NOREPLACE)`, and makes no other).
fn paused_after_rename(cmd: &Command, k: usize) -> Command {
    let mut traced = Command::new("strace");
    traced
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=renameat2",
            "-e",
        ])
        .arg(format!("inject=renameat2:delay_exit=60s:when={k}"));
    testbed::sandbox::wrapping(traced, cmd)
}

/// SIGKILLs the process strace (`tracer`) runs: killing strace alone would let it go on.
fn kill_tracee(tracer: u32) {
    let children = format!("/proc/{tracer}/task/{tracer}/children");
    for pid in std::fs::read_to_string(children)
        .unwrap_or_default()
        .split_whitespace()
    {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
}

/// Whether `strace` with syscall delays runs here.
fn strace_works() -> bool {
    Command::new("strace")
        .args([
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "inject=getpid:delay_exit=1",
            "true",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// How many trash directories `archive_dir` holds (0 when it cannot be listed).
fn trash_count(archive_dir: &Path) -> usize {
    std::fs::read_dir(archive_dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .as_encoded_bytes()
                    .starts_with(TRASH_PREFIX.as_bytes())
            })
            .count()
    })
}

fn first(problems: &[String]) -> String {
    format!(
        "{} problem(s), first: {}",
        problems.len(),
        problems.first().map_or("", String::as_str)
    )
}

/// Builds the cache with real uv and saves it.
fn build(tool: &Path, uv: &UvBins) -> Result<Scenario> {
    let bed = Bed::new("kills", tool, uv)?;
    let index_dir = bed.path("index");
    for g in 0..GROUPS {
        for p in 0..PER_GROUP {
            let name = package(g, p);
            // Archives to delete: tens of files, some over a hundred, so that the deletion
            // phase is long enough to land in. Live ones small: every kill restores them.
            let modules = if g % 3 == 0 {
                20 + (p * 7) % 40 + if p % 9 == 0 { 100 } else { 0 }
            } else {
                2 + p % 5
            };
            let wheel = try_write_wheel(&bed.wheels(), &name, "1.0", 0, modules)?;
            publish(&index_dir, &wheel)?;
        }
    }
    let index = IndexServer::try_start(&index_dir).context("starting the loopback index")?;
    let mut venvs = Vec::new();
    let mut dead_packages = Vec::new();
    for g in 0..GROUPS {
        let bin = if (g / 4) % 2 == 0 {
            &uv.current
        } else {
            &uv.old
        };
        let venv = bed.projects().join(format!("g{g:02}/.venv"));
        checked(bed.uv_cmd(bin).arg("venv").arg(&venv))?;
        let mut install = bed.uv_cmd(bin);
        install
            .args(["pip", "install", "--python"])
            .arg(&venv)
            .args(["--link-mode", MODES[g % MODES.len()]]);
        if (g / 8) % 2 == 0 {
            install
                .arg("--no-index")
                .arg("--find-links")
                .arg(bed.wheels());
        } else {
            install.arg("--index-url").arg(index.url());
        }
        let names: Vec<String> = (0..PER_GROUP).map(|p| package(g, p)).collect();
        checked(install.args(&names))?;
        if g % 3 == 0 {
            std::fs::remove_dir_all(&venv)
                .with_context(|| format!("deleting {}", venv.display()))?;
            dead_packages.extend(names);
        } else {
            venvs.push((venv, names));
        }
    }
    // Source trees, built by uv into `sdists-v*`: one kept, one whose venv goes.
    for (name, keep) in [("srckeep", true), ("srcgone", false)] {
        let tree = write_source_tree(&bed.path("sources"), name)?;
        let venv = bed.projects().join(format!("{name}/.venv"));
        checked(bed.uv_cmd(&uv.current).arg("venv").arg(&venv))?;
        checked(
            bed.uv_cmd(&uv.current)
                .args(["pip", "install", "--python"])
                .arg(&venv)
                .arg(&tree),
        )?;
        if keep {
            venvs.push((venv, vec![name.to_owned()]));
        } else {
            std::fs::remove_dir_all(&venv)?;
            dead_packages.push(name.to_owned());
        }
    }
    // A cached environment (`environments-v2`), which the tool must keep.
    checked(
        bed.uv_cmd(&uv.current)
            .args(["run", "--no-project", "--no-index", "--find-links"])
            .arg(bed.wheels())
            .args(["--with", &package(1, 0), "python", "-c", "pass"]),
    )?;
    drop(index);

    let cache = bed.cache();
    let known = all_archives(&cache);
    let dead: BTreeSet<String> = dead_packages
        .iter()
        .flat_map(|name| archives_of(&cache, name, "1.0"))
        .collect();
    ensure!(
        dead.len() == dead_packages.len(),
        "expected one archive per abandoned package ({}), found {}",
        dead_packages.len(),
        dead.len()
    );
    ensure!(known.len() >= 300, "only {} archives built", known.len());
    let live = known.difference(&dead).cloned().collect();
    bed.save()?;
    Ok(Scenario {
        bed,
        known,
        live,
        dead,
        venvs,
        strace: strace_works(),
    })
}

fn package(group: usize, index: usize) -> String {
    format!("k{group:02}p{index:02}")
}
