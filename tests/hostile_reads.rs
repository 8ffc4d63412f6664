//! Files planted where the tool reads, on real uv caches and venvs: FIFOs (an `open` that
//! blocks forever), symlinks to `/dev/zero` (an endless read), sparse giants (a read of
//! gigabytes). The tool must finish, keep what it could not read, and stay small.
//!
//! Every run goes through [`run_bounded`]: spawned in its own process group, waited for
//! with a deadline and killed past it, so that a regression fails the test instead of
//! hanging CI. Its peak RSS comes from `/usr/bin/time -f %M` where that exists, else from
//! sampling `VmHWM` (the kernel's high-water mark) in `/proc/<pid>/status` while it runs.

mod common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Far more than any of these runs needs (well under a second each, in a debug build).
const DEADLINE: Duration = Duration::from_secs(60);
/// The tool's own caps allow a few MiB per file it reads; the hostile cases asked for GBs.
const RSS_LIMIT_KIB: u64 = 100 * 1024;

/// How a bounded run ended.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    /// Largest `VmHWM` seen, when `/proc` shows it.
    peak_rss_kib: Option<u64>,
}

impl Finished {
    fn report(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }

    fn assert_small(&self) {
        match self.peak_rss_kib {
            Some(kib) => assert!(
                kib < RSS_LIMIT_KIB,
                "peak RSS {kib} KiB, over {RSS_LIMIT_KIB} KiB; stderr: {}",
                self.stderr
            ),
            None => eprintln!("note: /proc shows no VmHWM here; peak RSS not checked"),
        }
    }
}

/// Runs `cmd` to its end or kills it at [`DEADLINE`] (and fails), measuring its peak RSS:
/// exactly with `/usr/bin/time -f %M` where there is one, else by sampling `/proc`.
fn run_bounded(cmd: Command) -> Finished {
    let out = tempfile::tempdir().expect("temp dir for output");
    let (stdout, stderr, rss) = (
        out.path().join("stdout"),
        out.path().join("stderr"),
        out.path().join("rss"),
    );
    let timed = Path::new(TIME).is_file();
    let mut cmd = if timed {
        let rss = rss.to_str().expect("UTF-8 temp path");
        wrap(&[TIME, "-f", "%M", "-o", rss], &cmd)
    } else {
        cmd
    };
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&stdout).expect("stdout file"))
        .stderr(fs::File::create(&stderr).expect("stderr file"))
        // Its own process group, so that a kill at the deadline reaches the tool too.
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    // Samples taken before the `exec` would measure the forked test process instead.
    let program = Path::new(env!("CARGO_BIN_EXE_uv-cache-prune"))
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.chars().take(15).collect::<String>())
        .expect("binary name");
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut sampled = None;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(&status_file, &program) {
            sampled = sampled.max(Some(kib));
        }
        if let Some(status) = child.try_wait().expect("wait for the tool") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status()
                .ok();
            child.wait().ok();
            panic!(
                "{cmd:?} did not finish within {DEADLINE:?}: it hangs\nstderr so far: {}",
                fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read =
        |path: &Path| String::from_utf8_lossy(&fs::read(path).unwrap_or_default()).into_owned();
    let peak_rss_kib = if timed {
        // `time` appends "Command exited with non-zero status N" before the figure.
        read(&rss)
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
    } else {
        sampled
    };
    let finished = Finished {
        status,
        stdout: read(&stdout),
        stderr: read(&stderr),
        peak_rss_kib,
    };
    eprintln!(
        "{:?} exit {:?} in {:?}, peak RSS {:?} KiB",
        cmd.get_args().collect::<Vec<_>>(),
        status.code(),
        start.elapsed(),
        finished.peak_rss_kib
    );
    finished
}

/// GNU time, which reports the peak RSS of what it ran.
const TIME: &str = "/usr/bin/time";

/// `prefix... <cmd's program> <cmd's args>`, with `cmd`'s environment and directory.
fn wrap(prefix: &[&str], cmd: &Command) -> Command {
    let mut wrapper = Command::new(prefix[0]);
    wrapper.args(&prefix[1..]);
    testbed::sandbox::wrapping(wrapper, cmd)
}

/// `VmHWM` of the process, once it runs `program` (the kernel's 15-character `Name`).
fn vm_hwm_kib(status_file: &Path, program: &str) -> Option<u64> {
    let text = fs::read_to_string(status_file).ok()?;
    let name = text.lines().find_map(|l| l.strip_prefix("Name:"))?;
    if name.trim() != program {
        return None;
    }
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mkfifo(path: &Path) {
    if path.symlink_metadata().is_ok() {
        fs::remove_file(path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    }
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}

/// Replaces `path` with a sparse file of `len` bytes: no disk used, gigabytes to read.
fn sparse(path: &Path, len: u64) {
    let file = fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    file.set_len(len).expect("make the file sparse");
}

fn replace_with_symlink(path: &Path, target: &str) {
    fs::remove_file(path).ok();
    std::os::unix::fs::symlink(target, path).expect("plant the symlink");
}

/// The one pointer file with extension `ext` under `dir` whose symlink names `id`.
fn pointer_of(dir: &Path, ext: &str, id: &str) -> PathBuf {
    let found: Vec<PathBuf> = files_with_extension(dir, ext)
        .into_iter()
        .filter(|p| archive_named_by(&p.with_extension("")) == id)
        .collect();
    let [pointer] = found.as_slice() else {
        panic!("expected one .{ext} pointer naming {id}: {found:?}");
    };
    pointer.clone()
}

/// A FIFO `.rev`, a sparse 3 GB `.http` and a 50 MB `.http`, in a real cache, under
/// `--apply` (which holds uv's lock): the run ends, keeps each archive they belong to
/// (their sibling symlinks name them), names each file, and deletes the one dead archive
/// no hostile pointer touches.
#[test]
fn hostile_pointers_are_doubt_not_a_hang() {
    let sandbox = Sandbox::new();
    for (name, index) in [
        ("alpha", false),
        ("beta", false),
        ("gamma", true),
        ("delta", true),
    ] {
        let wheel = sandbox.wheel(name, "1.0");
        if index {
            sandbox.publish(&wheel);
        }
    }
    let server = IndexServer::start(&sandbox.index_dir());
    let local = sandbox.venv(
        "projects/l/.venv",
        &uv(),
        LinkMode::Hardlink,
        &["alpha", "beta"],
    );
    let indexed = sandbox.venv_from(
        "projects/i/.venv",
        &uv(),
        LinkMode::Hardlink,
        Source::Index(&server.url()),
        &["gamma", "delta"],
    );
    delete(&local);
    delete(&indexed);
    let [alpha, beta, gamma, delta] =
        ["alpha", "beta", "gamma", "delta"].map(|name| sandbox.archive_of(name, "1.0"));
    let wheels = sandbox.cache().join("wheels-v8");
    let fifo = pointer_of(&wheels, "rev", &alpha);
    let giant = pointer_of(&wheels, "http", &gamma);
    let big = pointer_of(&wheels, "http", &delta);
    mkfifo(&fifo);
    sparse(&giant, 3 << 30);
    let mut bytes = fs::read(&big).expect("read the real pointer");
    bytes.resize(50 << 20, 0x5a);
    fs::write(&big, bytes).expect("grow the pointer to 50 MB");

    let mut cmd = sandbox.prune_cmd(&apply_args(&[&sandbox.projects()]));
    cmd.arg("--json");
    let run = run_bounded(cmd);
    assert!(
        run.status.success(),
        "exit {:?}: {}",
        run.status,
        run.stderr
    );
    run.assert_small();
    let report = run.report();
    for id in [&alpha, &gamma, &delta] {
        assert_eq!(
            evidence_kinds(&report, id),
            set(["pointer-unreadable"]),
            "{id}: {report:#}"
        );
        assert!(sandbox.archive_dir(id).is_dir(), "{id} was deleted");
    }
    assert!(
        !sandbox.archive_dir(&beta).exists(),
        "dead beta survived: {report:#}"
    );
    let warnings = warnings(&report).join("\n");
    for (path, why) in [
        (&fifo, "FIFO"),
        (&giant, "larger than"),
        (&big, "larger than"),
    ] {
        assert!(
            warnings.contains(&path_str(path)) && warnings.contains(why),
            "no warning names {} ({why}):\n{warnings}",
            path.display()
        );
    }
}

/// In venvs: a FIFO `.pth`, a `.pth` linked to `/dev/zero`, a FIFO `METADATA` and a sparse
/// 6 GB `METADATA`. The run ends small; the FIFO `METADATA` is doubt that keeps its
/// archive; the giant differs in size from the archive's, so it is never read and proves
/// no copy; the plain copy beside them is still found by content.
#[test]
fn hostile_venv_files_are_never_blocked_on_or_read_whole() {
    let sandbox = Sandbox::new();
    for name in ["alpha", "beta", "gamma"] {
        sandbox.wheel(name, "1.0");
    }
    let plain = sandbox.venv("projects/p/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    let fifo_meta = sandbox.venv("projects/f/.venv", &uv(), LinkMode::Copy, &["beta"]);
    let giant_meta = sandbox.venv("projects/g/.venv", &uv(), LinkMode::Copy, &["gamma"]);
    let site = site_packages(&plain);
    mkfifo(&site.join("hostile.pth"));
    std::os::unix::fs::symlink("/dev/zero", site.join("zero.pth")).expect("plant /dev/zero");
    mkfifo(&site_packages(&fifo_meta).join("beta-1.0.dist-info/METADATA"));
    sparse(
        &site_packages(&giant_meta).join("gamma-1.0.dist-info/METADATA"),
        6 << 30,
    );

    let mut cmd = sandbox.prune_cmd(&plan_args(&[&sandbox.projects()]));
    cmd.arg("--json");
    let run = run_bounded(cmd);
    assert!(
        run.status.success(),
        "exit {:?}: {}",
        run.status,
        run.stderr
    );
    run.assert_small();
    let report = run.report();
    let [alpha, beta, gamma] = ["alpha", "beta", "gamma"].map(|n| sandbox.archive_of(n, "1.0"));
    assert_eq!(
        evidence_kinds(&report, &alpha),
        set(["content"]),
        "{report:#}"
    );
    assert_eq!(
        evidence_kinds(&report, &beta),
        set(["unreadable"]),
        "{report:#}"
    );
    let why = &live(&report, &beta)["evidence"];
    assert!(why.to_string().contains("FIFO"), "{why:#}");
    assert_eq!(candidate_ids(&report), set([&gamma]), "{report:#}");
}

/// What a planted tag should make the tool say, how to plant it, and the command to run
/// (the usual one when `None`).
type TagCase<'a> = (&'a str, Box<dyn Fn() + 'a>, Option<Command>);

/// `CACHEDIR.TAG` as a FIFO, as a symlink to `/dev/zero`, and unreadable: each ends at
/// once with exit 1, saying the tag could not be read and why (not "not a uv cache").
#[test]
fn a_hostile_cachedir_tag_is_reported_as_unreadable() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    let tag = sandbox.cache().join("CACHEDIR.TAG");
    let original = fs::read(&tag).expect("uv wrote CACHEDIR.TAG");
    // The tag itself is planted and restored, so what must not change is everything else.
    let untouched = || {
        let mut all = snapshot(&sandbox.cache().join("archive-v0"));
        all.extend(snapshot(&sandbox.cache().join("wheels-v8")));
        all.extend(snapshot(&sandbox.projects()));
        all
    };
    let before = untouched();
    let args = apply_args(&[&sandbox.projects()]);

    let mut cases: Vec<TagCase<'_>> = vec![
        (
            "not a regular file but a FIFO",
            Box::new(|| mkfifo(&tag)),
            None,
        ),
        (
            "not a regular file but a character device",
            Box::new(|| replace_with_symlink(&tag, "/dev/zero")),
            None,
        ),
    ];
    match without_dac(&sandbox, sandbox.prune_cmd(&args)) {
        Some(cmd) => cases.push((
            "Permission denied",
            Box::new(|| {
                fs::write(&tag, &original).expect("restore the tag");
                set_mode(&tag, 0o000);
            }),
            Some(cmd),
        )),
        None => eprintln!("note: setpriv cannot drop root's permission bypass; skipped mode 000"),
    }
    for (cause, plant, cmd) in cases {
        plant();
        let run = run_bounded(cmd.unwrap_or_else(|| sandbox.prune_cmd(&args)));
        assert_eq!(run.status.code(), Some(1), "{cause}: {}", run.stderr);
        for needle in [path_str(&tag).as_str(), "could not be read", cause] {
            assert!(
                run.stderr.contains(needle),
                "{needle:?} not in: {}",
                run.stderr
            );
        }
        assert!(!run.stderr.contains("is not a uv cache"), "{}", run.stderr);
        fs::remove_file(&tag).expect("remove the planted tag");
        fs::write(&tag, &original).expect("restore the tag");
    }
    assert_same_snapshot(&before, &untouched());
}

/// `archive-v0` moved away and replaced by a symlink: refused, saying it is a symlink that
/// we do not follow and what to do, and nothing behind the link is touched.
#[test]
fn a_symlinked_archive_bucket_is_refused_by_name() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    let venv = sandbox.venv("projects/a/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    delete(&venv);
    let bucket = sandbox.cache().join("archive-v0");
    let elsewhere = sandbox.path("elsewhere");
    fs::rename(&bucket, &elsewhere).expect("move archive-v0 away");
    std::os::unix::fs::symlink(&elsewhere, &bucket).expect("link archive-v0");
    let before = snapshot(&elsewhere);

    let run = run_bounded(sandbox.prune_cmd(&apply_args(&[&sandbox.projects()])));
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    for needle in [
        path_str(&bucket).as_str(),
        "is a symlink",
        path_str(&elsewhere).as_str(),
        "refuse to follow",
        "--cache-dir",
    ] {
        assert!(
            run.stderr.contains(needle),
            "{needle:?} not in: {}",
            run.stderr
        );
    }
    assert_same_snapshot(&before, &snapshot(&elsewhere));
}

/// Pointers of a shape no uv wrote, three in one bucket: one warning for the bucket, with
/// the count, and every archive they may name kept.
#[test]
fn undecodable_pointers_warn_once_per_bucket() {
    let sandbox = Sandbox::new();
    let names = ["alpha", "beta", "delta"];
    for name in names {
        sandbox.wheel(name, "1.0");
    }
    let venv = sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &names);
    delete(&venv);
    let wheels = sandbox.cache().join("wheels-v8");
    let revs = files_with_extension(&wheels, "rev");
    assert_eq!(revs.len(), 3, "{revs:?}");
    for rev in &revs {
        // `[timestamp, "something else"]`: msgpack, the right pair, no archive record.
        fs::write(rev, b"\x92\x92\x01\x02\xa4else").expect("rewrite the pointer");
    }

    let (report, stderr) = sandbox.prune_json_and_stderr(&plan_args(&[&sandbox.projects()]));
    let ids = names.map(|n| sandbox.archive_of(n, "1.0"));
    for id in &ids {
        assert_eq!(
            evidence_kinds(&report, id),
            set(["pointer-unreadable"]),
            "{report:#}"
        );
    }
    let about: Vec<String> = warnings(&report)
        .into_iter()
        .filter(|w| w.contains("cannot decode"))
        .collect();
    assert_eq!(about.len(), 1, "{about:#?}");
    assert!(
        about[0].contains("3 pointers") && about[0].contains(&path_str(&wheels)),
        "{about:#?}"
    );
    assert_eq!(stderr.matches("cannot decode").count(), 1, "{stderr}");
}

/// `cmd` behind `setpriv`, dropping root's permission bypass, with the same environment;
/// `None` when setpriv cannot do that here.
fn without_dac(sandbox: &Sandbox, cmd: Command) -> Option<Command> {
    const DROP: [&str; 2] = ["--bounding-set=-dac_override,-dac_read_search", "--"];
    let probe = sandbox.path("probe");
    fs::create_dir_all(&probe).expect("create probe");
    set_mode(&probe, 0o000);
    let blocked = Command::new("setpriv")
        .args(DROP)
        .arg("ls")
        .arg(&probe)
        .output()
        .is_ok_and(|o| !o.status.success());
    let works = Command::new("setpriv")
        .args(DROP)
        .arg("true")
        .status()
        .is_ok_and(|s| s.success());
    set_mode(&probe, 0o755);
    if !(blocked && works) {
        return None;
    }
    Some(wrap(&["setpriv", DROP[0], DROP[1]], &cmd))
}
