//! A crash or kill at any instant of `--apply` must leave a cache uv can use: no pointer
//! naming a missing or partial archive (uv trusts pointers), no live venv broken; and the
//! next `--apply` must finish the job (leftover trash removed, dead archives and their
//! pointers gone).
//!
//! Two ways to stop it. `UV_CACHE_PRUNE_FAULT_AFTER=N` makes the binary `abort()` after N
//! filesystem changes, which reaches any step deterministically: every N at the start and
//! around each boundary between archives (where one archive's deletion ends and the next
//! one's pointers go), a few at random, and crashes during the cleanup of a previous
//! crash's trash. A real `kill -9` at random instants (seeded) checks the same thing
//! without the binary's cooperation.
//!
//! The cache is built once with real uv and restored (`cp -a`, at the same path, since
//! venvs hold absolute paths) before every run. Dead archives hold over a hundred files in
//! several directories, so most instants fall in the middle of a deletion, and come from
//! find-links and an index, through both uv releases, so every kind of pointer is there.

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Output, Stdio};
use std::time::Instant;

use common::*;

/// SIGABRT, what `abort()` ends the process with.
const SIGABRT: i32 = 6;
/// SIGKILL, what `kill -9` ends it with.
const SIGKILL: i32 = 9;
/// The environment variable that makes the binary abort (see `src/apply.rs`).
const FAULT_AFTER: &str = "UV_CACHE_PRUNE_FAULT_AFTER";
/// Extra modules per dead package: over a hundred files and a few directories per archive
/// for the fault sweep (every restore recreates them, so this sets its cost), and more for
/// the kill test, which needs a deletion phase long enough to land in.
const SWEEP_MODULES: usize = 100;
const KILL_MODULES: usize = 300;

/// A cache built once, and what the invariant needs to know about it.
struct Scenario {
    sandbox: Sandbox,
    saved: SavedState,
    /// Every archive id in the cache as built, for naming pointer files.
    known: BTreeSet<String>,
    /// The archives the live venvs use.
    live: BTreeSet<String>,
    /// The archives `--apply` deletes.
    dead: BTreeSet<String>,
    /// Live venvs with the package each imports.
    venvs: Vec<(PathBuf, &'static str)>,
    /// Filesystem changes a full apply makes, per dead archive: its pointers, the rename,
    /// and every file and directory of the archive (the fault counter's units).
    steps: Vec<usize>,
}

/// Dead packages and how each was installed, so that dead archives carry every kind of
/// pointer: `.rev` and `.http`, in the buckets of both uv releases.
const DEAD: [(&str, bool, bool); 4] = [
    ("delta", false, false),
    ("epsilon", true, false),
    ("zeta", false, true),
    ("eta", true, true),
];

impl Scenario {
    /// Live venvs of each link mode, and the four [`DEAD`] packages, each with `modules`
    /// extra modules, installed then abandoned.
    fn build(modules: usize) -> Scenario {
        let sandbox = Sandbox::new();
        for (name, ..) in DEAD {
            let wheel = sandbox.wheel_with_modules(name, "1.0", modules);
            sandbox.publish(&wheel);
        }
        let server = IndexServer::start(&sandbox.index_dir());
        for (name, from_index, old_uv) in DEAD {
            let bin = if old_uv { uv_old() } else { uv() };
            let source = if from_index {
                Source::Index(&server.url())
            } else {
                Source::FindLinks
            };
            let rel = format!("projects/gone-{name}/.venv");
            let venv = sandbox.venv_from(&rel, &bin, LinkMode::Hardlink, source, &[name]);
            delete(&venv);
        }
        let venvs: Vec<(PathBuf, &'static str)> = [
            ("alpha", LinkMode::Hardlink, uv()),
            ("beta", LinkMode::Symlink, uv_old()),
            ("gamma", LinkMode::Copy, uv()),
        ]
        .into_iter()
        .map(|(name, mode, bin)| {
            sandbox.wheel(name, "1.0");
            let rel = format!("projects/keep-{}/.venv", mode.as_arg());
            (sandbox.venv(&rel, &bin, mode, &[name]), name)
        })
        .collect();

        let known = sandbox.all_archives();
        let live: BTreeSet<String> = venvs
            .iter()
            .map(|(_, name)| sandbox.archive_of(name, "1.0"))
            .collect();
        let dead: BTreeSet<String> = known.difference(&live).cloned().collect();
        assert_eq!(dead.len(), DEAD.len(), "one archive per dead package");
        let pointers = cache_pointers(&sandbox.cache(), &known);
        let steps = dead
            .iter()
            .map(|id| {
                let named = pointers.iter().filter(|p| &p.id == id).count();
                let entries = walkdir::WalkDir::new(sandbox.archive_dir(id)).into_iter();
                named + 1 + entries.count()
            })
            .collect();
        let saved = sandbox.save();
        Scenario {
            sandbox,
            saved,
            known,
            live,
            dead,
            venvs,
            steps,
        }
    }

    /// `--apply`, optionally aborting after `fault_after` changes, on the current state.
    fn apply(&self, fault_after: Option<usize>) -> Output {
        let args = apply_args(&[&self.sandbox.projects()]);
        let mut cmd = self
            .sandbox
            .without_core_dumps(&self.sandbox.prune_cmd(&args));
        if let Some(n) = fault_after {
            cmd.env(FAULT_AFTER, n.to_string());
        }
        cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
    }

    /// Every change a full apply makes.
    fn total_steps(&self) -> usize {
        self.steps.iter().sum()
    }

    /// After any interruption: every pointer names a complete archive, the live archives
    /// are all there, and every live venv imports its package with all its files.
    fn assert_usable(&self, context: &str) {
        let problems = pointer_problems(&self.sandbox.cache(), &self.known);
        assert!(problems.is_empty(), "{context}: {problems:#?}");
        let archives = self.sandbox.all_archives();
        assert!(
            archives.is_superset(&self.live),
            "{context}: live archives gone: {:?}",
            self.live.difference(&archives)
        );
        for (venv, name) in &self.venvs {
            self.sandbox.assert_imports(venv, &[name]);
        }
    }

    /// Runs `--apply` to the end and checks it finished the job: no trash, only the live
    /// archives, every pointer naming one of them (complete), none naming a dead one.
    fn assert_rerun_finishes(&self, context: &str) {
        let output = self.apply(None);
        assert!(
            output.status.success(),
            "{context}: rerun failed: {output:?}"
        );
        let trash = trash_entries(&self.sandbox.cache());
        assert!(trash.is_empty(), "{context}: trash left: {trash:?}");
        assert_eq!(self.sandbox.all_archives(), self.live, "{context}");
        let left: Vec<_> = cache_pointers(&self.sandbox.cache(), &self.known)
            .into_iter()
            .filter(|p| self.dead.contains(&p.id))
            .collect();
        assert!(left.is_empty(), "{context}: pointers left: {left:#?}");
        let problems = pointer_problems(&self.sandbox.cache(), &self.known);
        assert!(
            problems.is_empty(),
            "{context}, after the rerun: {problems:#?}"
        );
    }
}

/// True when `status` is death by `signal`.
fn killed_by(status: ExitStatus, signal: i32) -> bool {
    status.signal() == Some(signal)
}

/// The numbers of changes at which one dead archive's deletion ends and the next begins,
/// whatever order the archives are deleted in: every sum of a subset of `steps`.
fn boundaries(steps: &[usize]) -> BTreeSet<usize> {
    (0..1usize << steps.len())
        .map(|subset| {
            steps
                .iter()
                .enumerate()
                .filter(|(i, _)| subset & (1 << i) != 0)
                .map(|(_, s)| s)
                .sum()
        })
        .collect()
}

#[test]
fn an_abort_after_any_number_of_changes_leaves_a_usable_cache() {
    let scenario = Scenario::build(SWEEP_MODULES);
    let total = scenario.total_steps();
    let mut rng = seeded_rng("an_abort_after_any_number_of_changes_leaves_a_usable_cache");
    // The first archive's pointers, its rename and first files; then around each boundary
    // the last rmdir of one archive, the next one's pointers, rename and first file.
    let mut points: BTreeSet<usize> = (0..=6).collect();
    for boundary in boundaries(&scenario.steps) {
        points.extend((boundary.saturating_sub(1)..=boundary + 3).filter(|&n| n < total));
    }
    points.extend((0..4).map(|_| rng.usize(..total)));
    eprintln!(
        "{total} changes in all ({:?} per archive); aborting after {points:?}",
        scenario.steps
    );

    for &n in &points {
        let context = format!("abort after {n} of {total} changes");
        scenario.sandbox.restore(&scenario.saved);
        let output = scenario.apply(Some(n));
        assert!(killed_by(output.status, SIGABRT), "{context}: {output:?}");
        scenario.assert_usable(&context);
        scenario.assert_rerun_finishes(&context);
    }

    // The sweep covered the whole apply: with as many changes allowed as it makes, it ends.
    scenario.sandbox.restore(&scenario.saved);
    let output = scenario.apply(Some(total));
    assert!(
        output.status.success(),
        "{total} changes allowed: {output:?}"
    );
    assert_eq!(scenario.sandbox.all_archives(), scenario.live);
}

#[test]
fn an_abort_while_removing_a_previous_crash_s_trash_leaves_a_usable_cache() {
    let scenario = Scenario::build(SWEEP_MODULES);
    let first = scenario.steps[0];
    // In the middle of the first archive's files, then of the second's.
    for crash in [first / 2, first + scenario.steps[1] / 2] {
        for again in [1, 40] {
            let context = format!("abort after {crash} changes, then after {again}");
            scenario.sandbox.restore(&scenario.saved);
            let output = scenario.apply(Some(crash));
            assert!(killed_by(output.status, SIGABRT), "{context}: {output:?}");
            assert!(
                !trash_entries(&scenario.sandbox.cache()).is_empty(),
                "{context}: the first crash left no trash to clean up"
            );
            let output = scenario.apply(Some(again));
            assert!(killed_by(output.status, SIGABRT), "{context}: {output:?}");
            scenario.assert_usable(&context);
            scenario.assert_rerun_finishes(&context);
        }
    }
}

#[test]
fn a_kill_9_at_a_random_instant_leaves_a_usable_cache() {
    let scenario = Scenario::build(KILL_MODULES);
    let mut rng = seeded_rng("a_kill_9_at_a_random_instant_leaves_a_usable_cache");
    scenario.sandbox.restore(&scenario.saved);
    let started = Instant::now();
    let output = scenario.apply(None);
    let full = started.elapsed();
    assert!(output.status.success(), "{output:?}");

    let mut interrupted = 0;
    for iteration in 0..6 {
        scenario.sandbox.restore(&scenario.saved);
        let delay = full.mul_f64(rng.f64());
        let context = format!("kill -9 after {delay:?} (a full apply took {full:?})");
        let args = apply_args(&[&scenario.sandbox.projects()]);
        let mut cmd = scenario.sandbox.prune_cmd(&args);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        std::thread::sleep(delay);
        child.kill().expect("kill -9");
        let status = child.wait().expect("reap");
        assert!(
            status.success() || killed_by(status, SIGKILL),
            "{context}: {status}"
        );
        let archives = scenario.sandbox.all_archives();
        let partial = !trash_entries(&scenario.sandbox.cache()).is_empty()
            || (archives != scenario.known && archives != scenario.live);
        interrupted += usize::from(partial);
        eprintln!("iteration {iteration}: {context}: {status}");
        scenario.assert_usable(&context);
        scenario.assert_rerun_finishes(&context);
    }
    eprintln!("{interrupted} of 6 kills landed in the middle of the deletions");
}
