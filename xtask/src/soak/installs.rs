//! `--installs N --prunes M --workers K`: K workers run N real uv operations on one
//! cache while M `--apply --grace 0s` passes run, spread over the whole run.
//!
//! Operations: venv creations and deletions, installs (every link mode, both uv
//! generations, find-links, a loopback index and a local source tree), uninstalls,
//! `uv run --with` and `uvx`. A third of the venvs are made outside the root the tool
//! searches, in hardlink mode, with packages of their own: only link counts protect
//! those archives. Each worker owns its venvs, so what each venv holds is known
//! exactly. Any uv operation that fails is a failure (a prune must never take what uv is
//! about to use: uv's shared lock against the tool's exclusive one). Afterwards every
//! surviving venv must be sound and import what it holds, every pointer must name a
//! complete archive, and, with the index stopped, `uv pip install --offline` of every
//! package a survivor holds must work from the cache alone.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::bed::{Bed, UvBins, checked};
use super::{Failure, ModeReport, nth_seed};
use testbed::ground_truth::{
    all_archives, imports, pointer_problems, site_packages, venv_problems,
};
use testbed::index::IndexServer;
use testbed::wheel::{publish, try_write_wheel, write_source_tree};

/// The sizes of one run.
pub struct Load {
    pub operations: usize,
    pub prunes: usize,
    pub workers: usize,
}

/// Packages every worker draws from, each in two versions.
const PACKAGES: usize = 12;
/// Packages only the venvs outside the root install (`o00`..): nothing but their link
/// counts keeps those archives, so the link-count net is what every prune tests there.
const OUTSIDE_PACKAGES: usize = 3;
const VERSIONS: [&str; 2] = ["1.0", "2.0"];
const MODES: [&str; 4] = ["hardlink", "symlink", "copy", "clone"];
/// The local source tree's package (built into `sdists-v*`).
const SOURCE_PACKAGE: &str = "ssrc";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Source {
    FindLinks,
    Index,
}

/// A venv a worker made, and what it holds.
struct Venv {
    path: PathBuf,
    old_uv: bool,
    /// Outside the root the tool searches: only its link counts protect it, so it
    /// installs in hardlink mode, packages no venv inside installs ([`OUTSIDE_PACKAGES`]).
    outside: bool,
    /// Package → how it was installed.
    packages: BTreeMap<String, Installed>,
}

/// How a venv got a package: by the install that put it there (a later install of the
/// same version is left alone by uv, and changes none of this).
struct Installed {
    version: String,
    source: Source,
}

/// What the workers and the prune loop share.
struct Shared<'a> {
    bed: &'a Bed,
    index_url: String,
    tree: PathBuf,
    load: &'a Load,
    seed: u64,
    started: AtomicUsize,
    done: AtomicUsize,
    counts: Mutex<BTreeMap<&'static str, usize>>,
    failures: Mutex<Vec<Failure>>,
    /// Every archive id ever seen, to match pointer files by their bytes.
    known: Mutex<BTreeSet<String>>,
}

pub fn run(tool: &Path, uv: &UvBins, load: &Load, seed: u64) -> Result<ModeReport> {
    let started = Instant::now();
    let bed = Bed::new("installs", tool, uv)?;
    let index_dir = bed.path("index");
    for p in 0..PACKAGES + OUTSIDE_PACKAGES {
        for version in VERSIONS {
            let name = package(p);
            let wheel = try_write_wheel(&bed.wheels(), &name, version, 0, 5 + p)?;
            publish(&index_dir, &wheel)?;
        }
    }
    let tree = write_source_tree(&bed.path("sources"), SOURCE_PACKAGE)?;
    let index = IndexServer::try_start(&index_dir).context("starting the loopback index")?;
    let shared = Shared {
        bed: &bed,
        index_url: index.url(),
        tree,
        load,
        seed,
        started: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        counts: Mutex::default(),
        failures: Mutex::default(),
        known: Mutex::default(),
    };
    println!(
        "\ninstalls: {} uv operations by {} workers against {} --apply passes",
        load.operations, load.workers, load.prunes
    );
    let venvs: Vec<Venv> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..load.workers)
            .map(|k| {
                let shared = &shared;
                scope.spawn(move || shared.worker(k))
            })
            .collect();
        let pruner = scope.spawn(|| shared.prune_loop());
        let venvs = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect();
        let _ = pruner.join();
        venvs
    });
    drop(index);
    shared.final_checks(&venvs);

    let failures = shared.failures.into_inner().unwrap_or_default();
    let mut counts: Vec<(&'static str, usize)> = vec![
        ("uv operations", shared.done.load(Ordering::SeqCst)),
        ("surviving venvs", venvs.len()),
        (
            "of them outside the root",
            venvs.iter().filter(|v| v.outside).count(),
        ),
    ];
    counts.extend(shared.counts.into_inner().unwrap_or_default());
    if failures.is_empty() {
        bed.remove();
    }
    Ok(ModeReport {
        mode: "installs",
        counts,
        failures,
        duration: started.elapsed(),
    })
}

impl Venv {
    /// Records a successful install of `name==version`, unless the venv already held
    /// that version: uv then leaves it as it was.
    fn record(&mut self, name: &str, version: &str, source: Source) {
        if self
            .packages
            .get(name)
            .is_some_and(|installed| installed.version == version)
        {
            return;
        }
        let installed = Installed {
            version: version.to_owned(),
            source,
        };
        self.packages.insert(name.to_owned(), installed);
    }
}

impl Shared<'_> {
    fn replay(&self) -> String {
        format!(
            "cargo xtask soak --installs {} --prunes {} --workers {} --seed {}",
            self.load.operations, self.load.prunes, self.load.workers, self.seed
        )
    }

    fn fail(&self, message: String) {
        println!("installs: FAILED {message}");
        let failure = Failure {
            replay: self.replay(),
            message,
        };
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(failure);
        }
    }

    fn count(&self, what: &'static str) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(what).or_default() += 1;
        }
    }

    fn remember_archives(&self) {
        let ids = all_archives(&self.bed.cache());
        if let Ok(mut known) = self.known.lock() {
            known.extend(ids);
        }
    }

    /// Runs operations until the shared budget is spent; returns the venvs it leaves.
    fn worker(&self, k: usize) -> Vec<Venv> {
        let mut rng = fastrand::Rng::with_seed(nth_seed(self.seed, k + 1));
        let mut venvs: Vec<Venv> = Vec::new();
        let mut made = 0;
        while self.started.fetch_add(1, Ordering::SeqCst) < self.load.operations {
            let (what, result) = self.operation(k, &mut rng, &mut venvs, &mut made);
            self.count(what);
            if let Err(e) = result {
                self.fail(format!("worker {k}, {what}: {e:#}"));
            }
            self.remember_archives();
            let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
            if done.is_multiple_of(100) {
                println!("installs: {done} of {} operations", self.load.operations);
            }
        }
        venvs
    }

    fn operation(
        &self,
        k: usize,
        rng: &mut fastrand::Rng,
        venvs: &mut Vec<Venv>,
        made: &mut usize,
    ) -> (&'static str, Result<()>) {
        let bed = self.bed;
        let roll = rng.u8(..100);
        if venvs.is_empty() || (roll < 12 && venvs.len() < 6) {
            let old_uv = rng.u8(..3) == 0;
            let outside = rng.u8(..3) == 0;
            let base = if outside {
                bed.path("outside")
            } else {
                bed.projects()
            };
            let path = base.join(format!("w{k}/v{made}/.venv"));
            *made += 1;
            let result = checked(self.uv(old_uv).arg("venv").arg(&path)).map(drop);
            if result.is_ok() {
                venvs.push(Venv {
                    path,
                    old_uv,
                    outside,
                    packages: BTreeMap::new(),
                });
            }
            return ("venv creations", result);
        }
        let v = rng.usize(..venvs.len());
        match roll {
            12..=19 => {
                let venv = venvs.swap_remove(v);
                let result = std::fs::remove_dir_all(&venv.path)
                    .with_context(|| format!("deleting {}", venv.path.display()));
                ("venv deletions", result)
            }
            20..=29 if !venvs[v].packages.is_empty() => {
                let venv = &mut venvs[v];
                let names: Vec<String> = venv.packages.keys().cloned().collect();
                let name = names[rng.usize(..names.len())].clone();
                let result = checked(
                    self.uv(venv.old_uv)
                        .args(["pip", "uninstall", "--python"])
                        .arg(&venv.path)
                        .arg(&name),
                )
                .map(drop);
                venv.packages.remove(&name);
                ("uninstalls", result)
            }
            30..=37 => {
                let (name, version, source) = self.pick(rng);
                let mut cmd = self.uv(rng.bool());
                cmd.args(["run", "--no-project", "--with"])
                    .arg(format!("{name}=={version}"));
                self.source_args(&mut cmd, source);
                cmd.args(["python", "-c", &format!("import {name}")]);
                ("uv run --with", checked(&mut cmd).map(drop))
            }
            38..=44 => {
                let (name, version, source) = self.pick(rng);
                let mut cmd = self.uv(false);
                cmd.args(["tool", "run", "--from"])
                    .arg(format!("{name}=={version}"));
                self.source_args(&mut cmd, source);
                cmd.arg(format!("{name}-cli"));
                ("uvx", checked(&mut cmd).map(drop))
            }
            45..=49 => {
                let venv = &mut venvs[v];
                let mode = link_mode(rng, venv.outside);
                let result = checked(
                    self.uv(venv.old_uv)
                        .args(["pip", "install", "--python"])
                        .arg(&venv.path)
                        .args(["--link-mode", mode])
                        .arg(&self.tree),
                )
                .map(drop);
                if result.is_ok() {
                    venv.record(SOURCE_PACKAGE, "1.0", Source::FindLinks);
                }
                ("source tree installs", result)
            }
            _ => {
                let venv = &mut venvs[v];
                let source = if rng.bool() {
                    Source::Index
                } else {
                    Source::FindLinks
                };
                let mut wanted = Vec::new();
                for _ in 0..rng.usize(1..=3) {
                    let (name, version, _) = self.pick_for(rng, venv.outside);
                    if !wanted.iter().any(|(n, _): &(String, &str)| *n == name) {
                        wanted.push((name, version));
                    }
                }
                let mode = link_mode(rng, venv.outside);
                let mut cmd = self.uv(venv.old_uv);
                cmd.args(["pip", "install", "--python"])
                    .arg(&venv.path)
                    .args(["--link-mode", mode]);
                self.source_args(&mut cmd, source);
                cmd.args(wanted.iter().map(|(n, v)| format!("{n}=={v}")));
                let result = checked(&mut cmd).map(drop);
                if result.is_ok() {
                    for (name, version) in wanted {
                        venv.record(&name, version, source);
                    }
                }
                ("installs", result)
            }
        }
    }

    fn pick(&self, rng: &mut fastrand::Rng) -> (String, &'static str, Source) {
        self.pick_for(rng, false)
    }

    /// A package for a venv inside the root (or anywhere else but a venv), or outside it.
    fn pick_for(&self, rng: &mut fastrand::Rng, outside: bool) -> (String, &'static str, Source) {
        let name = if outside {
            package(PACKAGES + rng.usize(..OUTSIDE_PACKAGES))
        } else {
            package(rng.usize(..PACKAGES))
        };
        let version = VERSIONS[rng.usize(..VERSIONS.len())];
        let source = if rng.bool() {
            Source::Index
        } else {
            Source::FindLinks
        };
        (name, version, source)
    }

    fn uv(&self, old: bool) -> Command {
        let bin = if old {
            &self.bed.uv.old
        } else {
            &self.bed.uv.current
        };
        self.bed.uv_cmd(bin)
    }

    fn source_args(&self, cmd: &mut Command, source: Source) {
        match source {
            Source::FindLinks => {
                cmd.arg("--no-index")
                    .arg("--find-links")
                    .arg(self.bed.wheels());
            }
            Source::Index => {
                cmd.arg("--index-url").arg(&self.index_url);
            }
        }
    }

    /// `--prunes` passes, the `i`-th once `(i+1)/(M+1)` of the operations are done: never
    /// before the first, which may still be making the cache (a cache without its
    /// `CACHEDIR.TAG` is refused, rightly).
    fn prune_loop(&self) {
        let load = self.load;
        for i in 0..load.prunes {
            let due = ((i + 1) * load.operations / (load.prunes + 1)).max(1);
            while self.done.load(Ordering::SeqCst) < due {
                std::thread::sleep(Duration::from_millis(20));
            }
            self.remember_archives();
            let mut cmd = self.bed.prune_cmd(&["--apply", "--json"]);
            match checked(&mut cmd) {
                Ok(output) => {
                    self.count("prunes");
                    let removed = serde_json::from_slice::<serde_json::Value>(&output.stdout)
                        .ok()
                        .and_then(|v| v["candidates"].as_array().map(Vec::len))
                        .unwrap_or(0);
                    for _ in 0..removed {
                        self.count("archives removed");
                    }
                }
                Err(e) => self.fail(format!("--apply pass {i}: {e:#}")),
            }
        }
    }

    /// The end state: pointers, venvs, imports, and offline reinstalls.
    fn final_checks(&self, venvs: &[Venv]) {
        self.remember_archives();
        let cache = self.bed.cache();
        let known = self.known.lock().map(|k| k.clone()).unwrap_or_default();
        // One failure for the pointers and one per venv, each with its first problem: a
        // removed archive otherwise shows as one line per file of every venv using it.
        let problems = pointer_problems(&cache, &known);
        if !problems.is_empty() {
            self.fail(format!("at the end, pointers: {}", first(&problems)));
        }
        for (i, venv) in venvs.iter().enumerate() {
            let problems = venv_problems(&venv.path);
            if !problems.is_empty() {
                self.fail(format!(
                    "at the end, venv {}: {}",
                    venv.path.display(),
                    first(&problems)
                ));
            }
            if venv.outside {
                for unlinked in unlinked_metadata(venv) {
                    self.fail(format!(
                        "at the end: {} has one link left: the archive it was hardlinked from is gone though this venv outside the root links it (the link-count net)",
                        unlinked.display()
                    ));
                }
            }
            let modules: Vec<String> = venv.packages.keys().cloned().collect();
            if let Err(e) = imports(&venv.path, &modules) {
                self.fail(format!("at the end: {e}"));
            }
            if let Err(e) = self.offline_reinstall(i, venv) {
                self.fail(format!("at the end, offline: {e:#}"));
            }
        }
    }

    /// A fresh venv, with the same uv, gets every package `venv` holds with `--offline`
    /// (outside the root too: its installs are all hardlinks, which the tool must see).
    fn offline_reinstall(&self, i: usize, venv: &Venv) -> Result<()> {
        let mut by_source: BTreeMap<Source, Vec<String>> = BTreeMap::new();
        for (name, installed) in &venv.packages {
            let spec = if name == SOURCE_PACKAGE {
                self.tree.display().to_string()
            } else {
                format!("{name}=={}", installed.version)
            };
            by_source.entry(installed.source).or_default().push(spec);
        }
        let fresh = self.bed.path(format!("offline/{i}"));
        checked(self.uv(venv.old_uv).arg("venv").arg(&fresh))?;
        for (source, specs) in by_source {
            let mut cmd = self.uv(venv.old_uv);
            cmd.args(["pip", "install", "--offline", "--python"])
                .arg(&fresh);
            self.source_args(&mut cmd, source);
            checked(cmd.args(&specs))
                .with_context(|| format!("reinstalling what {} holds", venv.path.display()))?;
        }
        Ok(())
    }
}

/// The `METADATA` of each package `venv` holds that no archive shares any more (one link):
/// for a venv outside the root, installed by hardlink, its archive must have stayed.
fn unlinked_metadata(venv: &Venv) -> Vec<PathBuf> {
    let Some(site) = site_packages(&venv.path) else {
        return Vec::new();
    };
    venv.packages
        .iter()
        .map(|(name, installed)| {
            site.join(format!("{name}-{}.dist-info/METADATA", installed.version))
        })
        .filter(|metadata| std::fs::metadata(metadata).is_ok_and(|m| m.nlink() == 1))
        .collect()
}

/// `N problem(s), first: ...`.
fn first(problems: &[String]) -> String {
    format!(
        "{} problem(s), first: {}",
        problems.len(),
        problems.first().map_or("", String::as_str)
    )
}

/// A link mode for an install: any inside the root; outside it hardlink, the one mode
/// whose archive must stay there (a copy or clone needs it no more, a symlink cannot be
/// seen from the cache: a documented limit).
fn link_mode(rng: &mut fastrand::Rng, outside: bool) -> &'static str {
    if outside {
        "hardlink"
    } else {
        MODES[rng.usize(..MODES.len())]
    }
}

/// The `p`-th package: `s00`.. shared by everything, then `o00`.. for outside venvs.
fn package(p: usize) -> String {
    if p < PACKAGES {
        format!("s{p:02}")
    } else {
        format!("o{:02}", p - PACKAGES)
    }
}
