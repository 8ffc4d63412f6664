//! `--adversary N`: the trust boundary as a property. Root runs `--apply --grace 0s` on
//! a cache that belongs to an unprivileged user while that user, as a co-writer who does
//! not take uv's lock, tries to make it delete or write root's files.
//!
//! The cache is built once with real uv (live venvs in symlink and hardlink mode, dead
//! archives behind `.rev`, `.http` and `sdists-v*` symlink pointers, both uv
//! generations), handed to a user made with `useradd` (when the harness runs as root;
//! otherwise a note says the cache stays the harness's own), and restored by copy before
//! every round. Outside the cache a victim tree stands for root's files: stand-ins for `/`
//! (`root/.ssh/authorized_keys`, `root/.bashrc`, `etc/cron.d/…`, `home/alice/…`, files
//! named like pointers, `*.rev`, `*.http`) and a state directory with `roots.json`,
//! `last-use.json`, `state.lock`. It is snapshotted byte for byte (content, mode, owner,
//! existence) before each round.
//!
//! Each round, before the run, the co-writer:
//! - plants, in fresh package directories of the pointer buckets real uv wrote
//!   (`wheels-v*/pypi/…`, `wheels-v*/index/<hash>/…`, `sdists-v*/…`), pointers that name
//!   dead archives (symlinks, link files, copies of real `.rev`/`.http` records) and
//!   carry the names of the victim files (`root/.ssh/authorized_keys`, …) at the same
//!   places below them, so that the tool really removes them;
//! - on some rounds plants symlinks in the state directory the tool is given (the
//!   user's, as `sudo -E` or a cron job with the user's environment would give it):
//!   `state.lock`, `locks`, `roots.json`, `last-use.json`, or the state directory itself,
//!   pointing into the victim tree. The other rounds give root its own state directory.
//!
//! While the run lasts (on most rounds only from the first deletion on, seen by inotify),
//! a thread swaps each planted directory for a symlink to its victim tree and back
//! (`renameat2(RENAME_EXCHANGE)`, as fast as it can), and now and then a dead
//! archive, or a directory inside one, for a symlink to a victim directory. A tool that
//! checks a path and then unlinks it by path again deletes the victim file whenever a swap
//! lands between the two.
//!
//! After each round: the victim tree is exactly as before (else `<path>: file gone`,
//! `changed` or `created`), the tool exited 0 or refused cleanly (exit 1 with one `error:`
//! line, no panic), the live venvs are sound and import, and no pointer uv wrote names a
//! missing or incomplete archive ([`super::invariant`]; the planted ones are the
//! adversary's and are left out). A failure prints its seed and the command replaying it;
//! `--repeat-seed` runs every round with the same seed, to hit one race many times.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use rustix::fs::{Mode, OFlags, RenameFlags};

use super::bed::{Bed, UvBins, checked};
use super::{Failure, ModeReport, nth_seed};
use testbed::ground_truth::{
    all_archives, archive_problems, archives_of, imports, pointers, site_packages, venv_problems,
    walk,
};
use testbed::index::IndexServer;
use testbed::wheel::{publish, try_write_wheel, write_source_tree};

/// Packages the live venvs hold, and packages whose venvs are deleted (dead archives).
const LIVE: [&str; 4] = ["al00", "al01", "al02", "al03"];
const DEAD: [&str; 6] = ["ad00", "ad01", "ad02", "ad03", "ad04", "ad05"];
/// A local source tree whose venv is deleted: a dead archive behind an `sdists-v*` symlink.
const DEAD_SOURCE: &str = "adsrc";

/// Root's files in each victim tree (a stand-in for `/`), relative to it: the planted
/// pointer of the same name sits at the same place under the planted directory, which is
/// swapped for a symlink to that tree. Those ending in `.rev`/`.http` hold copies of uv's
/// records, the others are symlinks or link files naming the archive. Every one is at
/// least two directories below the swapped one: each component is one more lookup
/// between the tool's check of a path and its unlink, which is the window raced.
const ROOT_FILES: [(&str, u32); 15] = [
    ("root/.ssh/authorized_keys", 0o600),
    ("root/.bashrc", 0o644),
    ("root/.profile", 0o644),
    ("etc/cron.d/backup", 0o644),
    ("etc/ssh/sshd_config", 0o644),
    ("etc/sudoers.d/alice", 0o440),
    ("home/alice/.ssh/id_ed25519", 0o600),
    ("home/alice/.ssh/known_hosts", 0o644),
    ("home/alice/.config/git/config", 0o644),
    ("home/alice/.cache/uv/index.http", 0o640),
    ("home/alice/.local/share/keyrings/login.rev", 0o600),
    (
        "home/alice/.var/app/org.mozilla.firefox/.mozilla/firefox/p.default/key4.db",
        0o600,
    ),
    ("var/lib/app/state.rev", 0o600),
    ("srv/www/index.http", 0o644),
    ("usr/local/bin/backup", 0o755),
];

/// What the co-writer plants in the state directory before a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StateAttack {
    /// Root's own state directory (`UV_CACHE_PRUNE_STATE_DIR`): nothing planted.
    Own,
    /// The user's state directory is a symlink to a victim directory.
    DirLink,
    /// `state.lock` -> a victim path that does not exist yet.
    LockLink,
    /// `locks` -> a victim directory.
    LocksLink,
    /// `roots.json` and `last-use.json` -> victim files.
    FileLinks,
    /// All of the three above.
    All,
}

/// Drawn from by each round's seed: root's own state on two in seven.
const STATE_ATTACKS: [StateAttack; 7] = [
    StateAttack::Own,
    StateAttack::Own,
    StateAttack::DirLink,
    StateAttack::LockLink,
    StateAttack::LocksLink,
    StateAttack::FileLinks,
    StateAttack::All,
];

/// The user owning the cache, removed (after the bed is given back to root) when dropped.
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

impl User {
    /// `useradd` a user of its own; `None`, with a note, unless the harness is root.
    fn create() -> Result<Option<User>> {
        if !rustix::process::geteuid().is_root() {
            println!(
                "adversary: note: not root, so the cache stays the harness's own and the tool runs as its owner (no useradd)"
            );
            return Ok(None);
        }
        let name = format!("ucpadv{}", std::process::id());
        checked(Command::new("useradd").args([
            "--no-create-home",
            "--user-group",
            "--shell",
            "/bin/sh",
            &name,
        ]))
        .context("useradd (the user owning the adversary's cache)")?;
        let id = |flag: &str| -> Result<u32> {
            let out = checked(Command::new("id").arg(flag).arg(&name))?;
            let text = String::from_utf8_lossy(&out.stdout);
            text.trim()
                .parse()
                .with_context(|| format!("id {flag} {name} said {text:?}"))
        };
        let user = User {
            uid: id("-u")?,
            gid: id("-g")?,
            name,
        };
        Ok(Some(user))
    }

    fn give(&self, path: &Path) -> Result<()> {
        checked(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{}:{}", self.uid, self.gid))
                .arg(path),
        )
        .map(drop)
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// The built cache and what a round needs to know about it.
struct Scenario {
    bed: Bed,
    user: Option<User>,
    known: BTreeSet<String>,
    dead: Vec<String>,
    /// Live venvs and the modules each imports.
    venvs: Vec<(PathBuf, Vec<String>)>,
    /// Bucket directories (relative to the cache) holding uv's package directories for
    /// dead archives: the planted directories go beside those.
    buckets: Vec<PathBuf>,
    /// For each dead archive, the directories (relative to the cache) of uv's own
    /// pointers to it: watched for the start of its deletion.
    pointer_dirs: BTreeMap<String, Vec<PathBuf>>,
    /// Bytes of a real `.rev` and `.http` pointer, each naming a dead archive.
    rev: Option<Vec<u8>>,
    http: Option<Vec<u8>>,
}

/// What a round counted.
#[derive(Default)]
struct Counts {
    refusals: usize,
    planted: usize,
    exchanges: usize,
    state_links: usize,
    pointer_rounds: usize,
    state_rounds: usize,
    /// Rounds in which `--apply` removed at least one dead archive: only those raced the
    /// co-writer at all.
    deleting_rounds: usize,
}

pub fn run(
    tool: &Path,
    uv: &UvBins,
    rounds: usize,
    seed: u64,
    repeat_seed: bool,
) -> Result<ModeReport> {
    let started = Instant::now();
    println!("\nadversary: building a cache with real uv");
    let scenario = build(tool, uv)?;
    println!(
        "adversary: built in {:.1?}: {} archives ({} dead), {} live venvs, {} pointer buckets to plant in{}",
        started.elapsed(),
        scenario.known.len(),
        scenario.dead.len(),
        scenario.venvs.len(),
        scenario.buckets.len(),
        match &scenario.user {
            Some(user) => format!(", owned by {}", user.name),
            None => String::new(),
        }
    );
    let mut counts = Counts::default();
    let mut failures = Vec::new();
    let mut failed_rounds = BTreeSet::new();
    for i in 0..rounds {
        let round_seed = if repeat_seed { seed } else { nth_seed(seed, i) };
        let replay = format!("cargo xtask soak --adversary 1 --seed {round_seed}");
        let problems = match scenario.round(round_seed, &mut counts) {
            Ok(problems) => problems,
            Err(e) => vec![format!("the round could not run: {e:#}")],
        };
        if !problems.is_empty() {
            failed_rounds.insert(i);
            let message = format!(
                "round {i} (seed {round_seed}): {}{}",
                problems[0],
                match problems.len() {
                    1 => String::new(),
                    n => format!(" (and {} more: {})", n - 1, problems[1..].join("; ")),
                }
            );
            println!("adversary: FAILED {message}\n  replay: {replay}");
            failures.push(Failure { replay, message });
        }
        if (i + 1).is_multiple_of(10) {
            println!(
                "adversary: {} of {rounds} rounds, {} failed",
                i + 1,
                failed_rounds.len()
            );
        }
    }
    // A run whose tool never deleted anything tested nothing (a tool that keeps every
    // archive of this cache, say because it no longer counts its owner as seen): that is a
    // failure of the harness, not a pass.
    if rounds > 0 && counts.deleting_rounds == 0 {
        failures.push(Failure {
            replay: format!("cargo xtask soak --adversary {rounds} --seed {seed}"),
            message: format!(
                "in none of {rounds} rounds did --apply remove a dead archive, so no deletion was raced; check that the tool prunes this cache at all"
            ),
        });
        println!("adversary: FAILED no round deleted anything");
    }
    let Scenario { bed, user, .. } = scenario;
    if user.is_some() {
        // Back to root before the user goes: no file of the bed keeps a dangling owner.
        let _ = checked(Command::new("chown").arg("-R").arg("0:0").arg(bed.path("")));
    }
    drop(user);
    if failures.is_empty() {
        bed.remove();
    }
    Ok(ModeReport {
        mode: "adversary",
        counts: vec![
            ("rounds", rounds),
            ("clean refusals", counts.refusals),
            ("pointers planted", counts.planted),
            ("directory exchanges", counts.exchanges),
            ("state links planted", counts.state_links),
            ("rounds a pointer swap hit", counts.pointer_rounds),
            ("rounds a state link hit", counts.state_rounds),
            ("rounds that deleted", counts.deleting_rounds),
        ],
        failures,
        duration: started.elapsed(),
    })
}

/// One directory the co-writer swaps with a symlink: `name` in `parent`, exchanged with
/// `link` in `link_parent` (a symlink to a victim directory until swapped).
struct Swap {
    parent: OwnedFd,
    name: OsString,
    link_parent: OwnedFd,
    link: OsString,
    /// The real directory is at `link`, the symlink at `name`.
    swapped: bool,
    /// An exchange failed (the entry went, with its archive): not swapped again.
    stopped: bool,
    /// Swapped only now and then (archives), not on every pass.
    rare: bool,
}

/// How the co-writer paces its swaps: from the start of the run, or (`wait`) only once
/// the deletion has begun (a swap during the scan makes pointers unreadable, and doubt
/// keeps every archive: nothing would be deleted to race); a swap is held `hold` spins
/// before it is undone, then `gap` spins pass before the next directory's.
#[derive(Clone, Copy, Debug)]
struct Pace {
    wait: bool,
    hold: u32,
    gap: u32,
}

impl Scenario {
    /// Restores the cache, plants, runs `--apply` against the co-writer, checks; returns
    /// what went wrong.
    fn round(&self, seed: u64, counts: &mut Counts) -> Result<Vec<String>> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let attack = STATE_ATTACKS[rng.usize(..STATE_ATTACKS.len())];
        let pace = Pace {
            wait: rng.usize(..4) != 0,
            // Short holds win: the tool refuses when its check sees the symlink, and deletes
            // through it when only the unlink does, so the symlink should be in place for
            // less than the window between the two (a 200-spin hold hit 1 round in 30 on
            // one seed, no hold 7 in 30).
            hold: [0, 0, 0, 20][rng.usize(..4)],
            gap: [0, 0, 50, 500][rng.usize(..4)],
        };
        let bed = &self.bed;
        bed.restore()?;
        let cache = bed.cache();
        let victim = bed.path("victim");
        let swaps_dir = bed.path("swaps");
        for dir in [
            &victim,
            &swaps_dir,
            &bed.path("xdg/state"),
            &bed.path("root-state"),
        ] {
            if fs::symlink_metadata(dir).is_ok() {
                fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
            }
        }
        fs::create_dir_all(&swaps_dir)?;

        // Planted package directories, one per bucket, each with its victim home. Every
        // planted pointer names the same dead archive: the tool removes them all in one
        // burst, which is when the co-writer swaps.
        let target_id = &self.dead[rng.usize(..self.dead.len())];
        let mut planted_dirs = Vec::new();
        for (k, bucket) in self.buckets.iter().enumerate() {
            let root = victim.join(format!("root-{k}"));
            for (rel, mode) in ROOT_FILES {
                write_mode(
                    &root.join(rel),
                    format!("root's /{rel} in tree {k}\n").as_bytes(),
                    mode,
                )?;
            }
            let dir = cache.join(bucket).join(format!("adv{k:02}"));
            let target = cache.join("archive-v0").join(target_id);
            for (rel, _) in ROOT_FILES {
                let path = dir.join(rel);
                fs::create_dir_all(path.parent().unwrap_or(&dir))?;
                let record = match rel {
                    r if r.ends_with(".rev") => self.rev.as_ref(),
                    r if r.ends_with(".http") => self.http.as_ref(),
                    _ => None,
                };
                if let Some(bytes) = record {
                    fs::write(&path, bytes)?;
                } else if rel.ends_with("profile")
                    || rel.starts_with("etc/")
                    || rel.ends_with("known_hosts")
                {
                    // A Windows-style link file: text naming the archive.
                    fs::write(&path, target.to_string_lossy().as_bytes())?;
                } else {
                    symlink(&target, &path)?;
                }
                counts.planted += 1;
            }
            if let Some(user) = &self.user {
                user.give(&dir)?;
            }
            // The symlink waits outside the cache (on its filesystem, so that the exchange
            // is one rename): a symlink resting in a bucket is doubt that keeps every
            // archive, and no round would then delete while the co-writer swaps.
            let link = swaps_dir.join(format!("adv{k:02}"));
            symlink(&root, &link)?;
            planted_dirs.push((dir, link));
        }
        // Victims of the archive swaps: a directory standing for a dead archive, one for a
        // package directory inside one.
        let lib = victim.join("lib");
        write_mode(&lib.join("site.py"), b"root's library\n", 0o644)?;
        write_mode(&lib.join("__init__.py"), b"", 0o644)?;
        let (archive_link, inside_link) = (swaps_dir.join("archive"), swaps_dir.join("inside"));
        symlink(&lib, &archive_link)?;
        symlink(&lib, &inside_link)?;

        let state_env = self.plant_state(attack, &victim, counts)?;
        let before = snapshot(&victim);

        let mut swaps = Vec::new();
        for (dir, link) in &planted_dirs {
            swaps.push(Swap::new(dir, link, false)?);
        }
        let dead = &self.dead[rng.usize(..self.dead.len())];
        let archive = cache.join("archive-v0").join(dead);
        swaps.push(Swap::new(&archive, &archive_link, true)?);
        if let Some(inside) = first_subdir(&archive) {
            swaps.push(Swap::new(&inside, &inside_link, true)?);
        }
        let trigger = if pace.wait {
            let mut watched: Vec<PathBuf> = vec![cache.join("archive-v0")];
            for (dir, _) in &planted_dirs {
                watched.push(dir.clone());
                walk(dir, &mut |path, meta| {
                    if meta.is_dir() {
                        watched.push(path.to_owned());
                    }
                });
            }
            let own = self
                .pointer_dirs
                .get(target_id.as_str())
                .into_iter()
                .flatten();
            watched.extend(own.map(|rel| cache.join(rel)));
            Some(deletion_watch(&watched)?)
        } else {
            None
        };

        let mut cmd = bed.prune_cmd(&["--apply"]);
        if let Some((key, value)) = &state_env {
            cmd.env(key, value);
        }
        let stop = AtomicBool::new(false);
        let exchanges = AtomicUsize::new(0);
        let output = std::thread::scope(|scope| {
            let writer =
                scope.spawn(|| co_writer(&mut swaps, trigger.as_ref(), pace, &stop, &exchanges));
            let output = cmd.output();
            stop.store(true, Ordering::SeqCst);
            let _ = writer.join();
            output
        })
        .context("running --apply")?;
        counts.exchanges += exchanges.load(Ordering::SeqCst);
        restore_swaps(&mut swaps, &cache);

        let mut problems = Vec::new();
        match exit_verdict(&output) {
            Ok(true) => counts.refusals += 1,
            Ok(false) => {}
            Err(problem) => problems.push(problem),
        }
        let changes = compare(&before, &snapshot(&victim));
        if std::env::var_os("SOAK_VERBOSE").is_some() {
            println!(
                "adversary: seed {seed}: {attack:?}, {pace:?}, {} exchanges, {} victim changes, {}: {}",
                exchanges.load(Ordering::SeqCst),
                changes.len(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        if changes.iter().any(|c| c.contains("/root-")) {
            counts.pointer_rounds += 1;
        }
        if changes.iter().any(|c| c.contains("/state")) {
            counts.state_rounds += 1;
        }
        if !changes.is_empty() {
            problems.push(format!(
                "the victim tree changed ({attack:?} state, {pace:?}): {}",
                changes.join(", ")
            ));
        }
        if self
            .dead
            .iter()
            .any(|id| !cache.join("archive-v0").join(id).exists())
        {
            counts.deleting_rounds += 1;
        }
        problems.extend(self.cache_problems(&planted_dirs));
        Ok(problems)
    }

    /// Plants the round's state attack; returns the variable that gives root its own state
    /// directory, when it runs with one.
    fn plant_state(
        &self,
        attack: StateAttack,
        victim: &Path,
        counts: &mut Counts,
    ) -> Result<Option<(&'static str, PathBuf)>> {
        let vstate = victim.join("state");
        write_mode(
            &vstate.join("roots.json"),
            b"{\"version\":1,\"roots\":[]}\n",
            0o600,
        )?;
        write_mode(
            &vstate.join("last-use.json"),
            b"{\"version\":1,\"caches\":{}}\n",
            0o600,
        )?;
        write_mode(&vstate.join("state.lock"), b"", 0o600)?;
        fs::create_dir_all(vstate.join("cron.d"))?;
        if attack == StateAttack::Own {
            let own = self.bed.path("root-state");
            fs::create_dir_all(&own)?;
            return Ok(Some(("UV_CACHE_PRUNE_STATE_DIR", own)));
        }
        // The user's `$XDG_STATE_HOME/uv-cache-prune`, as the bed's environment names it.
        let xdg = self.bed.path("xdg/state");
        let state = xdg.join("uv-cache-prune");
        fs::create_dir_all(&xdg)?;
        let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
        if attack == StateAttack::DirLink {
            links.push((state.clone(), vstate.clone()));
        } else {
            fs::create_dir_all(&state)?;
            if matches!(attack, StateAttack::LockLink | StateAttack::All) {
                links.push((
                    state.join("state.lock"),
                    vstate.join("cron.d/uv-cache-prune"),
                ));
            }
            if matches!(attack, StateAttack::LocksLink | StateAttack::All) {
                links.push((state.join("locks"), vstate.join("cron.d")));
            }
            if matches!(attack, StateAttack::FileLinks | StateAttack::All) {
                links.push((state.join("roots.json"), vstate.join("roots.json")));
                links.push((state.join("last-use.json"), vstate.join("last-use.json")));
            }
        }
        for (link, target) in &links {
            symlink(target, link).with_context(|| format!("planting {}", link.display()))?;
            counts.state_links += 1;
        }
        if let Some(user) = &self.user {
            // `chown -R` does not follow the links: the victims stay root's.
            user.give(&xdg)?;
        }
        Ok(None)
    }

    /// The live venvs sound and importing; every pointer uv wrote naming a complete archive.
    fn cache_problems(&self, planted: &[(PathBuf, PathBuf)]) -> Vec<String> {
        let mut problems = Vec::new();
        for (venv, modules) in &self.venvs {
            problems.extend(venv_problems(venv).into_iter().take(3));
            if let Err(e) = imports(venv, modules) {
                problems.push(e);
            }
        }
        let cache = self.bed.cache();
        let is_planted = |p: &Path| {
            planted
                .iter()
                .any(|(dir, link)| p.starts_with(dir) || p.starts_with(link))
        };
        let (found, unreadable) = pointers(&cache, &self.known);
        problems.extend(
            unreadable
                .into_iter()
                .filter(|p| {
                    !planted.iter().any(|(dir, link)| {
                        p.contains(&*dir.to_string_lossy()) || p.contains(&*link.to_string_lossy())
                    })
                })
                .take(3),
        );
        for pointer in found.iter().filter(|p| !is_planted(&p.path)) {
            for problem in archive_problems(&cache, &pointer.id).into_iter().take(1) {
                problems.push(format!(
                    "pointer {} -> {}: {problem}",
                    pointer.path.display(),
                    pointer.id
                ));
            }
        }
        problems
    }
}

impl Swap {
    fn new(dir: &Path, link: &Path, rare: bool) -> Result<Swap> {
        let (parent, name) = split(dir)?;
        let (link_parent, link) = split(link)?;
        Ok(Swap {
            parent,
            name,
            link_parent,
            link,
            swapped: false,
            stopped: false,
            rare,
        })
    }

    /// One `renameat2(RENAME_EXCHANGE)`; on failure the swap stops for the round.
    fn exchange(&mut self) -> bool {
        if self.stopped {
            return false;
        }
        match rustix::fs::renameat_with(
            &self.parent,
            &*self.name,
            &self.link_parent,
            &*self.link,
            RenameFlags::EXCHANGE,
        ) {
            Ok(()) => {
                self.swapped = !self.swapped;
                true
            }
            Err(_) => {
                self.stopped = true;
                false
            }
        }
    }
}

/// The co-writer: once `trigger` (when given) reports the first deletion, swaps every
/// planted directory in and out, as fast as `pace` lets it, and an archive (or a
/// directory inside one) every 64th pass, until `stop`.
fn co_writer(
    swaps: &mut [Swap],
    trigger: Option<&OwnedFd>,
    pace: Pace,
    stop: &AtomicBool,
    exchanges: &AtomicUsize,
) {
    if let Some(fd) = trigger {
        // Busy polling a non-blocking inotify descriptor: waking from a blocking read
        // would cost more than the whole deletion burst lasts.
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            match rustix::io::read(fd, &mut buf) {
                Ok(n) if n > 0 => break,
                _ => std::hint::spin_loop(),
            }
        }
    }
    let mut pass = 0u64;
    let mut done = 0;
    while !stop.load(Ordering::Relaxed) {
        pass += 1;
        for swap in swaps.iter_mut() {
            if swap.rare && !pass.is_multiple_of(64) {
                continue;
            }
            if swap.exchange() {
                done += 1;
                spin(pace.hold);
                if swap.exchange() {
                    done += 1;
                }
            }
            spin(pace.gap);
        }
        if swaps.iter().all(|s| s.stopped) {
            break;
        }
    }
    exchanges.store(done, Ordering::SeqCst);
}

fn spin(n: u32) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

/// Puts every swapped directory back: exchanged again, or, when the symlink in its place
/// went (the tool took it as its archive), renamed back to its name.
fn restore_swaps(swaps: &mut [Swap], cache: &Path) {
    for swap in swaps.iter_mut().filter(|s| s.swapped) {
        swap.stopped = false;
        if !swap.exchange() {
            let back = rustix::fs::renameat_with(
                &swap.link_parent,
                &*swap.link,
                &swap.parent,
                &*swap.name,
                RenameFlags::NOREPLACE,
            );
            if back.is_err() {
                println!(
                    "adversary: note: {} stays in the swap directory of {} (its place is taken or gone)",
                    swap.name.to_string_lossy(),
                    cache.display()
                );
            }
        }
    }
}

/// Whether the run refused cleanly (`true`), ended well (`false`), or neither (the problem).
fn exit_verdict(output: &Output) -> Result<bool, String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        return Err(format!("the tool panicked: {}", stderr.trim()));
    }
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("warning: "))
        .collect();
    match output.status.code() {
        Some(0) if errors.is_empty() => Ok(false),
        Some(1) if errors.len() == 1 && errors[0].starts_with("error: ") => Ok(true),
        _ => Err(format!(
            "the tool ended with {} and not a clean one-line refusal: {}",
            output.status,
            stderr.trim()
        )),
    }
}

/// One entry of the victim tree as it matters: kind, mode, owner, and bytes or target.
#[derive(PartialEq, Eq, Debug)]
struct Entry {
    mode: u32,
    uid: u32,
    gid: u32,
    content: Option<Vec<u8>>,
}

/// Every entry under `dir`, not following symlinks.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut entries = BTreeMap::new();
    walk(dir, &mut |path, meta| {
        let content = if meta.is_symlink() {
            fs::read_link(path)
                .ok()
                .map(|t| t.into_os_string().into_encoded_bytes())
        } else if meta.is_file() {
            fs::read(path).ok()
        } else {
            None
        };
        let entry = Entry {
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            content,
        };
        entries.insert(path.to_owned(), entry);
    });
    entries
}

/// `<path>: file gone`, `changed` or `created`, for each difference.
fn compare(before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>) -> Vec<String> {
    let mut changes = Vec::new();
    for (path, entry) in before {
        match after.get(path) {
            None => changes.push(format!("{}: file gone", path.display())),
            Some(now) if now != entry => changes.push(format!("{}: changed", path.display())),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        changes.push(format!("{}: created", path.display()));
    }
    changes
}

fn write_mode(path: &Path, content: &[u8], mode: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(path, content).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

/// The open parent of `path`, and its name in it.
fn split(path: &Path) -> Result<(OwnedFd, OsString)> {
    let parent = path.parent().context("a swapped path without a parent")?;
    let name = path.file_name().context("a swapped path without a name")?;
    Ok((open_dir(parent)?, name.to_owned()))
}

/// A non-blocking inotify descriptor that reports the first entry deleted or renamed
/// away in any of `dirs`: the deletion has begun.
fn deletion_watch(dirs: &[PathBuf]) -> Result<OwnedFd> {
    use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
    let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).context("inotify_init")?;
    for dir in dirs {
        inotify::add_watch(&fd, dir, WatchFlags::DELETE | WatchFlags::MOVED_FROM)
            .with_context(|| format!("watching {}", dir.display()))?;
    }
    Ok(fd)
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {}", dir.display()))
}

/// The first directory inside `dir` (by name) that is not a `.dist-info`.
fn first_subdir(dir: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| !p.to_string_lossy().ends_with(".dist-info"))
        .collect();
    dirs.sort();
    dirs.into_iter().next()
}

/// Builds the cache with real uv, hands it to the user, saves it.
fn build(tool: &Path, uv: &UvBins) -> Result<Scenario> {
    let bed = Bed::new("adversary", tool, uv)?;
    let index_dir = bed.path("index");
    for name in LIVE.iter().chain(&DEAD) {
        let wheel = try_write_wheel(&bed.wheels(), name, "1.0", 0, 3)?;
        publish(&index_dir, &wheel)?;
    }
    let index = IndexServer::try_start(&index_dir).context("starting the loopback index")?;
    let install = |bin: &Path, venv: &Path, mode: &str, from_index: bool, names: &[&str]| {
        checked(bed.uv_cmd(bin).arg("venv").arg(venv))?;
        let mut cmd = bed.uv_cmd(bin);
        cmd.args(["pip", "install", "--python"])
            .arg(venv)
            .args(["--link-mode", mode]);
        if from_index {
            cmd.arg("--index-url").arg(index.url());
        } else {
            cmd.arg("--no-index").arg("--find-links").arg(bed.wheels());
        }
        checked(cmd.args(names)).map(drop)
    };
    let projects = bed.projects();
    install(
        &uv.current,
        &projects.join("sym/.venv"),
        "symlink",
        false,
        &LIVE[..2],
    )?;
    install(
        &uv.old,
        &projects.join("hard/.venv"),
        "hardlink",
        true,
        &LIVE[2..],
    )?;
    let dead_venvs = [
        (&uv.current, "symlink", false, &DEAD[0..2]),
        (&uv.current, "copy", true, &DEAD[2..4]),
        (&uv.old, "symlink", false, &DEAD[4..5]),
        (&uv.old, "copy", true, &DEAD[5..6]),
    ];
    for (n, (bin, mode, from_index, names)) in dead_venvs.into_iter().enumerate() {
        let venv = projects.join(format!("dead{n}/.venv"));
        install(bin, &venv, mode, from_index, names)?;
        fs::remove_dir_all(&venv).with_context(|| format!("deleting {}", venv.display()))?;
    }
    drop(index);
    let tree = write_source_tree(&bed.path("sources"), DEAD_SOURCE)?;
    let venv = projects.join("src/.venv");
    checked(bed.uv_cmd(&uv.current).arg("venv").arg(&venv))?;
    checked(
        bed.uv_cmd(&uv.current)
            .args(["pip", "install", "--python"])
            .arg(&venv)
            .arg(&tree),
    )?;
    fs::remove_dir_all(&venv)?;

    let cache = bed.cache();
    let known = all_archives(&cache);
    let dead_names: Vec<&str> = DEAD.iter().copied().chain([DEAD_SOURCE]).collect();
    let dead: Vec<String> = dead_names
        .iter()
        .flat_map(|name| archives_of(&cache, name, "1.0"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    ensure!(
        dead.len() == dead_names.len(),
        "expected one archive per abandoned package ({}), found {}",
        dead_names.len(),
        dead.len()
    );
    let (found, _) = pointers(&cache, &known);
    let mut buckets = BTreeSet::new();
    let mut pointer_dirs: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let (mut rev, mut http) = (None, None);
    for pointer in found.iter().filter(|p| dead.contains(&p.id)) {
        let rel = pointer.path.strip_prefix(&cache).unwrap_or(&pointer.path);
        if let Some(dir) = rel.parent() {
            pointer_dirs
                .entry(pointer.id.clone())
                .or_default()
                .push(dir.to_owned());
        }
        // `<bucket…>/<package dir>/<pointer>`: plant beside the package directory.
        if let Some(bucket) = rel.parent().and_then(Path::parent) {
            buckets.insert(bucket.to_owned());
        }
        let ext = pointer.path.extension().and_then(|e| e.to_str());
        let slot = match ext {
            Some("rev") => &mut rev,
            Some("http") => &mut http,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(fs::read(&pointer.path)?);
        }
    }
    ensure!(!buckets.is_empty(), "no pointer names a dead archive");
    let venvs = vec![
        (
            projects.join("sym/.venv"),
            LIVE[..2].iter().map(|s| s.to_string()).collect(),
        ),
        (
            projects.join("hard/.venv"),
            LIVE[2..].iter().map(|s| s.to_string()).collect(),
        ),
    ];
    for (venv, _) in &venvs {
        ensure!(site_packages(venv).is_some(), "{} not made", venv.display());
    }
    let user = User::create()?;
    if let Some(user) = &user {
        for dir in ["cache", "home", "projects", "xdg"] {
            let path = bed.path(dir);
            fs::create_dir_all(&path)?;
            user.give(&path)?;
        }
        // Root runs with the user's environment, as `sudo -E` would: the bed's home must
        // be the user's home in the password database, or the tool counts the cache's
        // owner as a user it cannot see and (rightly) keeps every archive.
        checked(
            Command::new("usermod")
                .arg("-d")
                .arg(bed.path("home"))
                .arg(&user.name),
        )
        .context("usermod -d (the user's home is the bed's)")?;
    }
    bed.save()?;
    Ok(Scenario {
        bed,
        user,
        known,
        dead,
        venvs,
        buckets: buckets.into_iter().collect(),
        pointer_dirs,
        rev,
        http,
    })
}
