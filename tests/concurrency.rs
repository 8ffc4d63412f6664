//! `--apply` against a uv that is using the cache at the same time.
//!
//! Every uv command holds a shared `flock` on `<cache>/.lock` for its whole life (`uv run`
//! for the life of its child), and `--apply` takes it exclusive, so a deletion can never
//! interleave with an install. These scenarios check that from the outside: while a real
//! `uv run` holds the lock, `--apply` deletes nothing (at once with `--no-wait`, after
//! `--lock-timeout` otherwise) or waits and proceeds when uv is done; and a loop of applies
//! racing a loop of installs never breaks an install nor a venv.
//!
//! Nothing here asserts a tight timing: the lock holder is known to hold the lock (its
//! child has started, and a probe finds the lock taken) before anything is measured.

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;

/// True while some process holds `<cache>/.lock` (shared or exclusive). Probes the way
/// `flock -n -x` would; the probe's own lock, if it gets one, is released at once.
fn cache_lock_held(cache: &Path) -> bool {
    let path = cache.join(".lock");
    let file = File::options()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    match file.try_lock() {
        Ok(()) => false,
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(e)) => panic!("lock {}: {e}", path.display()),
    }
}

/// A `uv run` whose Python child sleeps, holding uv's shared cache lock until dropped.
struct LockHolder {
    child: Child,
}

impl LockHolder {
    /// Starts `uv run --no-project python -c ...` in its own process group and returns
    /// once its child runs and the cache lock is taken.
    fn start(sandbox: &Sandbox) -> LockHolder {
        let mut cmd = sandbox.uv_cmd(&uv());
        let stderr_path = sandbox.path("lock-holder.stderr");
        let stderr = File::create(&stderr_path).expect("create the holder's stderr file");
        cmd.args(["run", "--no-project", "python", "-c"])
            .arg("import time; print('ready', flush=True); time.sleep(600)")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read from uv run");
        let holder = LockHolder { child };
        assert_eq!(
            line.trim(),
            "ready",
            "{cmd:?} did not start its child; stderr: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cache_lock_held(&sandbox.cache()) {
            assert!(
                Instant::now() < deadline,
                "{cmd:?} never took the cache lock"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        holder
    }
}

impl Drop for LockHolder {
    /// Kills uv and its child (the whole process group) and reaps uv.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// A sandbox with a live symlink venv (alpha) and a dead archive (beta): the sandbox,
/// the venv, and the ids of alpha's and beta's archives.
fn live_and_dead() -> (Sandbox, PathBuf, String, String) {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    let keep = sandbox.venv("projects/keep/.venv", &uv(), LinkMode::Symlink, &["alpha"]);
    let gone = sandbox.venv("projects/gone/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&gone);
    let alpha = sandbox.archive_of("alpha", "1.0");
    let beta = sandbox.archive_of("beta", "1.0");
    (sandbox, keep, alpha, beta)
}

#[test]
fn while_uv_holds_the_lock_apply_deletes_nothing() {
    let (sandbox, keep, alpha, beta) = live_and_dead();
    let lock = path_str(&sandbox.cache().join(".lock"));
    let apply = apply_args(&[&sandbox.projects()]);
    let holder = LockHolder::start(&sandbox);
    let before = sandbox.world_snapshot();

    let mut no_wait = apply.clone();
    no_wait.push("--no-wait".into());
    let (report, stderr) = sandbox.prune_json_and_stderr(&no_wait);
    assert_eq!(report["status"], "busy", "{report:#}");
    assert!(stderr.contains(&lock), "names the lock: {stderr}");
    assert_same_snapshot(&before, &sandbox.world_snapshot());

    let mut timeout = apply.clone();
    timeout.extend(["--lock-timeout".into(), "2s".into(), "--json".into()]);
    let mut cmd = sandbox.prune_cmd(&timeout);
    let started = Instant::now();
    let output = cmd.output().expect("run uv-cache-prune");
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&cmd, &output));
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(20)).contains(&elapsed),
        "gave up after {elapsed:?}"
    );
    assert!(output.stdout.is_empty(), "{}", describe(&cmd, &output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert!(
        matches!(errors.as_slice(), [line] if line.contains(&lock)),
        "one error line naming {lock}: {stderr}"
    );
    assert_same_snapshot(&before, &sandbox.world_snapshot());
    drop(holder);

    // Once uv is done, the same apply goes through: there was something to delete.
    let report = sandbox.prune_json(&no_wait);
    assert_eq!(report["status"], "ok", "{report:#}");
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert_eq!(sandbox.all_archives(), set([&alpha]));
    sandbox.assert_imports(&keep, &["alpha"]);
}

#[test]
fn an_apply_waiting_for_the_lock_proceeds_when_uv_is_done() {
    let (sandbox, keep, alpha, beta) = live_and_dead();
    let holder = LockHolder::start(&sandbox);
    let before = sandbox.world_snapshot();

    let mut args = apply_args(&[&sandbox.projects()]);
    args.extend(["--lock-timeout".into(), "5m".into(), "--json".into()]);
    let mut cmd = sandbox.prune_cmd(&args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut waiting = cmd.spawn().expect("spawn uv-cache-prune");
    let mut first_line = String::new();
    let mut stderr = BufReader::new(waiting.stderr.take().expect("piped stderr"));
    stderr.read_line(&mut first_line).expect("read stderr");
    assert!(first_line.contains("waiting"), "{first_line}");
    assert_same_snapshot(&before, &sandbox.world_snapshot());

    drop(holder);
    let output = waiting.wait_with_output().expect("wait for uv-cache-prune");
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert_eq!(sandbox.all_archives(), set([&alpha]));
    sandbox.assert_imports(&keep, &["alpha"]);
}

/// The packages the racing installs draw from: each in the find-links dir and the index.
const PACKAGES: [&str; 6] = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
/// How many venvs the installer makes.
const INSTALLS: usize = 15;

/// The venv the installer makes in round `i`: where, how, and which packages.
fn round(i: usize) -> (String, LinkMode, Vec<&'static str>) {
    let mode = [LinkMode::Hardlink, LinkMode::Symlink, LinkMode::Copy][i % 3];
    let packages = vec![PACKAGES[i % 6], PACKAGES[(i + 1) % 6]];
    (format!("projects/v{i:02}/.venv"), mode, packages)
}

/// Round `i` deletes the venv of round `i - 2`, unless that one is a keeper.
fn deleted_in_round(i: usize) -> Option<usize> {
    i.checked_sub(2).filter(|old| !old.is_multiple_of(3))
}

/// Plays round `i` of the installer: a venv made and filled (from find-links in even
/// rounds, from the index in odd ones), an older one deleted. Panics if uv fails.
fn install_round(
    sandbox: &Sandbox,
    url: &str,
    i: usize,
    venvs: &mut Vec<(PathBuf, Vec<&'static str>)>,
) {
    let (rel, mode, packages) = round(i);
    let source = if i.is_multiple_of(2) {
        Source::FindLinks
    } else {
        Source::Index(url)
    };
    let venv = sandbox.venv_from(&rel, &uv(), mode, source, &packages);
    venvs.push((venv, packages));
    if let Some(old) = deleted_in_round(i) {
        delete(&venvs[old].0);
    }
}

#[test]
fn applies_racing_installs_never_break_an_install_or_a_venv() {
    let sandbox = Sandbox::new();
    for name in PACKAGES {
        let wheel = sandbox.wheel(name, "1.0");
        sandbox.publish(&wheel);
    }
    let server = IndexServer::start(&sandbox.index_dir());
    let url = server.url();
    let apply = apply_args(&[&sandbox.projects()]);
    let installing = AtomicBool::new(true);
    // The first wheel uv unpacks creates `archive-v0`; until then the cache is refused.
    let mut venvs = Vec::new();
    install_round(&sandbox, &url, 0, &mut venvs);

    let (venvs, applied) = std::thread::scope(|scope| {
        let applier = scope.spawn(|| {
            let mut removed = BTreeSet::new();
            let mut runs = 0;
            while installing.load(Ordering::SeqCst) {
                let report = sandbox.prune_json(&apply);
                removed.extend(candidate_ids(&report));
                runs += 1;
            }
            (runs, removed)
        });
        let installer = scope.spawn(|| {
            for i in 1..INSTALLS {
                install_round(&sandbox, &url, i, &mut venvs);
            }
            venvs
        });
        let venvs = installer.join();
        installing.store(false, Ordering::SeqCst);
        let applied = applier.join().expect("the apply loop");
        (venvs.expect("every install succeeded"), applied)
    });
    let (runs, removed) = applied;
    eprintln!("{runs} applies ran during the installs, removing {removed:?}");

    let final_apply = sandbox.prune_json(&apply);
    let known: BTreeSet<String> = sandbox
        .all_archives()
        .into_iter()
        .chain(removed)
        .chain(candidate_ids(&final_apply))
        .collect();
    let report = sandbox.plan(&[&sandbox.projects()]);
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    let problems = pointer_problems(&sandbox.cache(), &known);
    assert!(problems.is_empty(), "{problems:#?}");
    let survivors: Vec<_> = venvs.iter().filter(|(venv, _)| venv.exists()).collect();
    let deleted: BTreeSet<usize> = (0..INSTALLS).filter_map(deleted_in_round).collect();
    assert_eq!(survivors.len(), INSTALLS - deleted.len());
    let mut used = BTreeSet::new();
    for (venv, packages) in &survivors {
        sandbox.assert_imports(venv, packages);
        used.extend(packages.iter().copied());
    }
    let unused: Vec<_> = PACKAGES
        .iter()
        .filter(|name| !used.contains(*name))
        .collect();
    assert!(!unused.is_empty(), "the last rounds leave a package unused");
    for name in unused {
        assert!(
            sandbox.archives_of(name, "1.0").is_empty(),
            "{name} survived"
        );
    }
    // What was deleted, uv installs again from both sources.
    for (label, source) in [("local", Source::FindLinks), ("index", Source::Index(&url))] {
        let rel = format!("projects/again-{label}/.venv");
        let venv = sandbox.venv_from(&rel, &uv(), LinkMode::Hardlink, source, &PACKAGES);
        sandbox.assert_imports(&venv, &PACKAGES);
    }
}
