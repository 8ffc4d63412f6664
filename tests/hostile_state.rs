//! Our own state and config files when they are corrupt, or are not files at all: a doubt
//! about what they said keeps every archive they might have protected, the bad file is
//! moved aside (never overwritten), and no read of them can hang.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::deadline::{Finished, run_with_deadline};
use common::*;

const DAY: u64 = 86_400;
/// Long enough for a slow machine, short enough that a hang fails quickly.
const DEADLINE: Duration = Duration::from_secs(60);

fn state_dir(sandbox: &Sandbox) -> PathBuf {
    sandbox.path("xdg/state/uv-cache-prune")
}

fn config_file(sandbox: &Sandbox) -> PathBuf {
    sandbox.path("xdg/config/uv-cache-prune/config.toml")
}

/// Runs `cmd` under the deadline and asserts it ended with `code`.
fn expect_exit(cmd: &mut Command, code: i32) -> Finished {
    let finished = run_with_deadline(cmd, DEADLINE);
    assert_eq!(
        finished.status.and_then(|s| s.code()),
        Some(code),
        "{cmd:?} ended {}\nstdout: {}\nstderr: {}",
        finished.describe(),
        String::from_utf8_lossy(&finished.stdout),
        finished.stderr
    );
    finished
}

fn json(finished: &Finished) -> serde_json::Value {
    serde_json::from_slice(&finished.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&finished.stdout),
            finished.stderr
        )
    })
}

/// Files in `dir` whose name starts with `prefix`.
fn named_like(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("state dir entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.as_bytes().starts_with(prefix.as_bytes()))
        })
        .collect();
    found.sort();
    found
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn secs_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn set_mtime(path: &Path, secs: u64) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(UNIX_EPOCH + Duration::from_secs(secs)))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

#[test]
fn a_corrupt_registry_keeps_every_archive_and_is_moved_aside_byte_for_byte() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    // A symlink venv leaves no trace on the archive: only the registry leads to it.
    let project = sandbox.path("elsewhere/p");
    sandbox.venv("elsewhere/p/.venv", &uv(), LinkMode::Symlink, &["alpha"]);
    let alpha = sandbox.archive_of("alpha", "1.0");
    expect_exit(
        sandbox
            .bare_prune_cmd()
            .args(["roots", "add"])
            .arg(&project),
        0,
    );
    let registry = state_dir(&sandbox).join("roots.json");
    let corrupt: &[u8] = b"{\"version\": 1, \"roots\": [\"/home/u/src\"\x00 half-written";
    fs::write(&registry, corrupt).expect("corrupt the registry");
    let before = snapshot(&sandbox.cache());

    let mut apply = sandbox.prune_cmd(&["--grace", "0s", "--apply", "--json"]);
    let finished = expect_exit(&mut apply, 0);
    let report = json(&finished);
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert_same_snapshot(&before, &snapshot(&sandbox.cache()));
    let asides = named_like(&state_dir(&sandbox), "roots.json.corrupt");
    let [aside] = asides.as_slice() else {
        panic!("expected one registry moved aside: {asides:?}");
    };
    assert_eq!(fs::read(aside).expect("read the moved registry"), corrupt);
    let aside_text = aside.to_string_lossy();
    assert!(
        warnings(&report)
            .iter()
            .any(|w| w.contains(&*aside_text) && w.contains("roots add")),
        "no warning names {aside_text} and what to do: {report:#}"
    );

    // The doubt lasts as long as the moved file: a second run still deletes nothing.
    let finished = expect_exit(&mut apply, 0);
    assert!(candidate_ids(&json(&finished)).is_empty());
    assert_same_snapshot(&before, &snapshot(&sandbox.cache()));

    // Once the user has registered the project again and deleted the old file, the
    // symlinks are what keep alpha.
    expect_exit(
        sandbox
            .bare_prune_cmd()
            .args(["roots", "add"])
            .arg(&project),
        0,
    );
    fs::remove_file(aside).expect("delete the moved registry");
    let report = sandbox.prune_json(&["--grace", "0s"]);
    assert_eq!(
        evidence_kinds(&report, &alpha),
        set(["symlink"]),
        "{report:#}"
    );
}

#[test]
fn a_corrupt_last_use_record_never_makes_an_archive_look_older() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    // A copy venv leaves no trace on the archive: only our record knows it was used.
    let venv = sandbox.venv("projects/a/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    let alpha = sandbox.archive_of("alpha", "1.0");
    let created = secs_now();
    let at = |days: u64| (created + days * DAY).to_string();
    let projects = sandbox.projects();
    let args = plan_args(&[&projects]);

    // Seen live ten days on; then the venv is deleted.
    let mut seen = sandbox.prune_cmd(&args);
    seen.arg("--json").env("UV_CACHE_PRUNE_NOW", at(10));
    assert_eq!(live_ids(&json(&expect_exit(&mut seen, 0))), set([&alpha]));
    delete(&venv);
    // The record is then damaged (its mtime stays when it was last written).
    let record = state_dir(&sandbox).join("last-use.json");
    let corrupt: &[u8] = b"{\"version\":1,\"caches\":{\"/c\":{\"x\":";
    fs::write(&record, corrupt).expect("corrupt the record");
    set_mtime(&record, created + 10 * DAY);

    // Twenty days on, alpha was last used ten days ago: --unused-for 15d keeps it.
    let mut apply = sandbox.prune_cmd(&args);
    apply
        .args(["--apply", "--json", "--unused-for", "15d"])
        .env("UV_CACHE_PRUNE_NOW", at(20));
    let report = json(&expect_exit(&mut apply, 0));
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert!(sandbox.archive_dir(&alpha).is_dir(), "alpha was deleted");
    let asides = named_like(&state_dir(&sandbox), "last-use.json.corrupt");
    let [aside] = asides.as_slice() else {
        panic!("expected one record moved aside: {asides:?}");
    };
    assert_eq!(fs::read(aside).expect("read the moved record"), corrupt);

    // Sixteen days after that last use, it is as unused as it looks.
    let mut later = sandbox.prune_cmd(&args);
    later
        .args(["--json", "--unused-for", "15d"])
        .env("UV_CACHE_PRUNE_NOW", at(26));
    assert_eq!(
        candidate_ids(&json(&expect_exit(&mut later, 0))),
        set([&alpha])
    );
}

#[test]
fn fifos_as_state_and_config_files_never_block() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    let venv = sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    delete(&venv);
    let alpha = sandbox.archive_of("alpha", "1.0");
    let state = state_dir(&sandbox);
    fs::create_dir_all(&state).expect("create the state dir");
    let before = snapshot(&sandbox.cache());

    // A FIFO registry: its roots are unknown, so nothing is removed, and it is reported.
    let registry = state.join("roots.json");
    mkfifo(&registry);
    let finished = expect_exit(
        &mut sandbox.prune_cmd(&["--grace", "0s", "--apply", "--json"]),
        0,
    );
    let report = json(&finished);
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert_same_snapshot(&before, &snapshot(&sandbox.cache()));
    // The FIFO was moved aside (the run dropping vanished roots updates the registry),
    // and the warning names where it went.
    let moved = named_like(&state, "roots.json.corrupt-");
    assert_eq!(moved.len(), 1, "{moved:?}");
    let moved = moved[0].to_string_lossy();
    assert!(
        warnings(&report).iter().any(|w| w.contains(&*moved)),
        "{report:#}"
    );
    expect_exit(sandbox.bare_prune_cmd().args(["roots", "list"]), 0);
    for aside in named_like(&state, "roots.json") {
        fs::remove_file(aside).expect("clear the registry");
    }

    // A FIFO last-use record: a warning, and the run goes on.
    let record = state.join("last-use.json");
    let _ = fs::remove_file(&record);
    mkfifo(&record);
    let finished = expect_exit(
        &mut sandbox.prune_cmd(&["--grace", "0s", "--no-default-roots", "--json"]),
        0,
    );
    assert_eq!(candidate_ids(&json(&finished)), set([&alpha]));

    // A FIFO config: an error naming it, exit 1, nothing touched.
    let config = config_file(&sandbox);
    fs::create_dir_all(config.parent().expect("config dir")).expect("create config dir");
    mkfifo(&config);
    let finished = expect_exit(&mut sandbox.prune_cmd(&["--apply", "--grace", "0s"]), 1);
    assert!(
        finished.stderr.contains(&*config.to_string_lossy()) && finished.stderr.contains("FIFO"),
        "{}",
        finished.stderr
    );
    assert_same_snapshot(&before, &snapshot(&sandbox.cache()));
}

#[test]
fn per_venv_json_renders_a_non_utf8_venv_path() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    sandbox.venv("projects/plain/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    let gone = sandbox.venv("projects/gone/.venv", &uv(), LinkMode::Copy, &["beta"]);
    delete(&gone);
    let odd = sandbox.projects().join(OsStr::from_bytes(b"bad\xff\nname"));
    fs::rename(sandbox.path("projects/plain"), &odd).expect("rename to a non-UTF-8 name");
    let beta = sandbox.archive_of("beta", "1.0");
    let projects = sandbox.projects();

    let mut cmd = sandbox.prune_cmd(&apply_args(&[&projects]));
    cmd.args(["--per-venv", "--json"]);
    let report = json(&expect_exit(&mut cmd, 0));
    let venvs = report["venvs"].as_array().expect("venvs array");
    let shown: Vec<&str> = venvs.iter().filter_map(|v| v["venv"].as_str()).collect();
    let expected = format!("{}/bad\u{fffd}\nname/.venv", path_str(&projects));
    assert_eq!(shown, [expected.as_str()], "{report:#}");
    assert!(!sandbox.archive_dir(&beta).exists(), "beta was not removed");
}

#[test]
fn a_clock_past_what_time_can_hold_is_an_error_not_a_panic() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    for now in ["18446744073709551615", "253402300800", "-1"] {
        for extra in [&[][..], &["--hook"][..]] {
            let mut cmd = sandbox.prune_cmd(&["--grace", "0s"]);
            cmd.args(extra).env("UV_CACHE_PRUNE_NOW", now);
            let finished = expect_exit(&mut cmd, 1);
            assert!(
                finished.stderr.contains("UV_CACHE_PRUNE_NOW"),
                "{now}: {}",
                finished.stderr
            );
        }
    }
}

#[test]
fn huge_and_negative_sizes_say_what_is_wrong() {
    let sandbox = Sandbox::new();
    let finished = expect_exit(
        &mut sandbox.prune_cmd(&["--max-size", "99999999999999999999999"]),
        2,
    );
    assert!(
        finished.stderr.contains("99999999999999999999999")
            && finished.stderr.contains("larger than")
            && finished.stderr.contains("20GiB"),
        "{}",
        finished.stderr
    );

    let config = config_file(&sandbox);
    fs::create_dir_all(config.parent().expect("config dir")).expect("create config dir");
    fs::write(&config, "max-size = -1\n").expect("write config");
    let finished = expect_exit(&mut sandbox.prune_cmd(&["--json"]), 1);
    assert!(
        finished.stderr.contains("max-size")
            && finished.stderr.contains("negative")
            && finished.stderr.contains(&*config.to_string_lossy())
            && !finished.stderr.contains("untagged"),
        "{}",
        finished.stderr
    );
}

#[test]
fn a_path_with_a_newline_or_4_kb_long_stays_on_one_short_line() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    let newline = sandbox.path("no\nsuch\x1b[31mroot");
    let long = sandbox.path(vec!["x".repeat(200); 19].join("/"));
    assert!(long.as_os_str().len() > 3800);
    // Roots from the config file: a missing one there is a warning and the run goes on
    // (on the command line it is bad usage, tests/typos.rs).
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let toml_string = |p: &std::path::Path| serde_json::to_string(&path_str(p)).unwrap();
    std::fs::write(
        &config,
        format!(
            "roots = [{}, {}]\n",
            toml_string(&newline),
            toml_string(&long)
        ),
    )
    .unwrap();
    let mut cmd = sandbox.prune_cmd::<&str>(&[]);
    let finished = expect_exit(&mut cmd, 0);
    let lines: Vec<&str> = finished.stderr.lines().collect();
    let escaped = format!("{}/no\\nsuch\\x1b[31mroot", sandbox.dir().display());
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&escaped) && l.contains("does not exist")),
        "no one-line warning names {escaped}: {}",
        finished.stderr
    );
    assert!(!finished.stderr.contains('\x1b'), "{}", finished.stderr);
    let about_long: Vec<&&str> = lines.iter().filter(|l| l.contains("xxxxxxxx")).collect();
    assert_eq!(about_long.len(), 1, "{}", finished.stderr);
    assert!(
        about_long[0].len() < 400 && about_long[0].contains("does not exist"),
        "{}",
        about_long[0]
    );
    // The human report on stdout escapes the same way.
    let stdout = String::from_utf8_lossy(&finished.stdout);
    assert!(stdout.contains(&escaped), "{stdout}");
    assert!(stdout.lines().all(|l| l.len() < 400), "{stdout}");
}
