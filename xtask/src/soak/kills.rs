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

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use super::bed::{Bed, UvBins, checked};
use super::index::Index;
use super::invariant::{archive_ids, imports, pointer_problems, pointers, trash, venv_problems};
use super::wheel::{publish, write_source_tree, write_wheel};
use super::{Failure, ModeReport, nth_seed};

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
    for i in 0..kills {
        let kill_seed = stratified_seed(seed, i, kills);
        let delay = full.mul_f64(fraction(kill_seed));
        let replay = format!("cargo xtask soak --kills 1 --seed {kill_seed}");
        match scenario.kill_once(delay) {
            Ok(phase) => landed[phase as usize] += 1,
            Err(e) => {
                let message = format!("kill after {delay:.2?} of {full:.2?}: {e:#}");
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

/// The `i`-th of `n` kill seeds: the first seed after `nth_seed(base, i)` whose instant
/// falls in the `i`-th `n`-th of the run, so that the kills cover the whole run while each
/// still replays from its seed alone.
fn stratified_seed(base: u64, i: usize, n: usize) -> u64 {
    let start = nth_seed(base, i);
    if n <= 1 {
        return start;
    }
    let (low, high) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
    (0..10_000u64)
        .map(|k| start.wrapping_add(k))
        .find(|&s| (low..high).contains(&fraction(s)))
        .unwrap_or(start)
}

/// The instant of a kill, as a fraction of a full run.
fn fraction(seed: u64) -> f64 {
    fastrand::Rng::with_seed(seed).f64()
}

impl Scenario {
    /// Restores the cache, kills `--apply` after `delay`, checks the cache, reruns.
    fn kill_once(&self, delay: Duration) -> Result<Phase> {
        let clock = Instant::now();
        self.bed.restore()?;
        let restored = clock.elapsed();
        let mut cmd = self.bed.prune_cmd(&["--apply"]);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().context("spawning --apply")?;
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().context("reaping --apply")?;
        ensure!(
            status.success() || status.signal() == Some(9),
            "--apply ended with {status}, not SIGKILL or success"
        );
        let cache = self.bed.cache();
        let archives = archive_ids(&cache);
        let phase =
            if !trash(&cache).is_empty() || (archives != self.known && archives != self.live) {
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
        let archives = archive_ids(&cache);
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
        let left = trash(&cache);
        ensure!(left.is_empty(), "trash left: {left:?}");
        let archives = archive_ids(&cache);
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
            let wheel = write_wheel(&bed.wheels(), &name, "1.0", modules)?;
            publish(&index_dir, &name, &wheel)?;
        }
    }
    let index = Index::start(&index_dir)?;
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
    let known = archive_ids(&cache);
    let dead: BTreeSet<String> = known
        .iter()
        .filter(|id| {
            dead_packages.iter().any(|name| {
                cache
                    .join("archive-v0")
                    .join(id)
                    .join(format!("{name}-1.0.dist-info"))
                    .is_dir()
            })
        })
        .cloned()
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
    })
}

fn package(group: usize, index: usize) -> String {
    format!("k{group:02}p{index:02}")
}
