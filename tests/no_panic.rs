//! The binary never panics (exit 101) or dies of a signal, and never hangs: it is run over
//! a gallery of hostile caches, state, config, flags and environment, and each run must end
//! within a deadline with 0 (done), 1 (error, said on stderr) or 2 (bad usage).

mod common;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::deadline::run_with_deadline;
use common::*;

const DEADLINE: Duration = Duration::from_secs(60);

/// One hostile world: what is done to the saved sandbox, then the arguments and
/// environment of the run.
struct Case {
    name: &'static str,
    setup: fn(&Sandbox),
    args: Vec<OsString>,
    env: Vec<(&'static str, String)>,
}

fn case(name: &'static str, setup: fn(&Sandbox), args: &[&str]) -> Case {
    Case {
        name,
        setup,
        args: args.iter().map(OsString::from).collect(),
        env: Vec::new(),
    }
}

fn nothing(_: &Sandbox) {}

fn pointers(sandbox: &Sandbox) -> Vec<PathBuf> {
    let mut all = files_with_extension(&sandbox.cache(), "rev");
    all.extend(files_with_extension(&sandbox.cache(), "http"));
    assert!(!all.is_empty(), "the gallery's cache has pointers");
    all
}

fn mkfifo(path: &Path) {
    let _ = fs::remove_file(path);
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn state(sandbox: &Sandbox, name: &str) -> PathBuf {
    let dir = sandbox.path("xdg/state/uv-cache-prune");
    fs::create_dir_all(&dir).expect("create state dir");
    dir.join(name)
}

fn config(sandbox: &Sandbox, text: &str) {
    let path = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    fs::create_dir_all(path.parent().expect("config dir")).expect("create config dir");
    fs::write(path, text).expect("write config");
}

fn metadata_files(sandbox: &Sandbox) -> Vec<PathBuf> {
    files_with_extension(&sandbox.cache().join("archive-v0"), "")
        .into_iter()
        .filter(|p| p.file_name() == Some(OsStr::new("METADATA")))
        .collect()
}

fn touch_archives(sandbox: &Sandbox, date: &str) {
    for id in sandbox.all_archives() {
        let status = Command::new("touch")
            .args(["-h", "-d", date])
            .arg(sandbox.archive_dir(&id))
            .status()
            .expect("run touch");
        assert!(status.success());
    }
}

fn rename_venv(sandbox: &Sandbox, name: &[u8]) {
    fs::rename(
        sandbox.path("projects/a"),
        sandbox.projects().join(OsStr::from_bytes(name)),
    )
    .expect("rename the project");
}

/// FIFOs where uv's own files are expected: read by the inventory and the cache check,
/// which get their own non-blocking reads separately; run with `--ignored` once they do.
fn fifo_gallery() -> Vec<Case> {
    vec![
        case(
            "FIFO pointers",
            |s| pointers(s).iter().for_each(|p| mkfifo(p)),
            &[],
        ),
        case(
            "FIFO CACHEDIR.TAG",
            |s| mkfifo(&s.cache().join("CACHEDIR.TAG")),
            &[],
        ),
    ]
}

fn gallery() -> Vec<Case> {
    let mut cases = vec![
        case("plain", nothing, &[]),
        case(
            "corrupt pointers",
            |s| {
                for p in pointers(s) {
                    fs::write(p, b"\xc1\xc1\xff\x00 not msgpack").unwrap();
                }
            },
            &[],
        ),
        case(
            "truncated msgpack",
            |s| {
                for p in pointers(s) {
                    let bytes = fs::read(&p).unwrap();
                    fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
                }
            },
            &[],
        ),
        case(
            "dangling .lock symlink",
            |s| {
                let lock = s.cache().join(".lock");
                let _ = fs::remove_file(&lock);
                std::os::unix::fs::symlink(s.path("nowhere/.lock"), lock).unwrap();
            },
            &[],
        ),
        case(
            "FIFO METADATA",
            |s| metadata_files(s).iter().for_each(|p| mkfifo(p)),
            &[],
        ),
        case(
            "non-UTF-8 venv path",
            |s| rename_venv(s, b"bad\xff"),
            &["--per-venv", "--json"],
        ),
        case(
            "newline venv path",
            |s| rename_venv(s, b"new\nline\x1b[2J"),
            &["--per-venv"],
        ),
        case(
            "newline venv explained",
            |s| rename_venv(s, b"new\nline"),
            &["--explain", "alpha"],
        ),
        case(
            "corrupt registry",
            |s| fs::write(state(s, "roots.json"), b"{\"roots\":[1,").unwrap(),
            &[],
        ),
        case("FIFO registry", |s| mkfifo(&state(s, "roots.json")), &[]),
        case(
            "directory registry",
            |s| fs::create_dir_all(state(s, "roots.json")).unwrap(),
            &[],
        ),
        case("FIFO last-use", |s| mkfifo(&state(s, "last-use.json")), &[]),
        case(
            "huge last-use times",
            |s| {
                let cache = s.cache();
                let ids: Vec<String> = s.all_archives().into_iter().collect();
                let times: Vec<String> = ids
                    .iter()
                    .map(|id| format!("{id:?}: 18446744073709551615"))
                    .collect();
                let text = format!(
                    "{{\"version\":1,\"caches\":{{{:?}:{{{}}}}}}}",
                    cache.to_string_lossy(),
                    times.join(",")
                );
                fs::write(state(s, "last-use.json"), text).unwrap();
            },
            &["--explain", "alpha"],
        ),
        case(
            "FIFO config",
            |s| {
                config(s, "");
                mkfifo(&s.path("xdg/config/uv-cache-prune/config.toml"));
            },
            &[],
        ),
        case(
            "corrupt config",
            |s| config(s, "max-size = [[[\n\u{0}"),
            &[],
        ),
        case(
            "deeply nested config",
            |s| config(s, &format!("roots = {}", "[".repeat(50_000))),
            &[],
        ),
        case(
            "negative config size",
            |s| config(s, "max-size = -1\n"),
            &[],
        ),
        case(
            "infinite config size",
            |s| config(s, "max-size = inf\n"),
            &[],
        ),
        case(
            "huge config duration",
            |s| config(s, "unused-for = \"99999999999999999999999y\"\n"),
            &[],
        ),
        case(
            "huge size flag",
            nothing,
            &["--max-size", "99999999999999999999999"],
        ),
        case(
            "huge size with unit",
            nothing,
            &["--max-size", "99999999999999999999 EiB"],
        ),
        case("huge grace", nothing, &["--grace", "584542046090y"]),
        case(
            "huge unused-for",
            nothing,
            &["--unused-for", "584542046090y", "--apply"],
        ),
        case(
            "huge lock timeout",
            nothing,
            &["--lock-timeout", "584542046090y", "--apply"],
        ),
        case(
            "archives from the far future",
            |s| touch_archives(s, "9999-12-31"),
            &["--explain", "alpha", "--unused-for", "1d"],
        ),
        case(
            "archives from before 1970",
            |s| touch_archives(s, "1901-12-14"),
            &["--explain", "alpha", "--json"],
        ),
        case(
            "apply over hostile pointers",
            |s| {
                for p in pointers(s) {
                    let bytes = fs::read(&p).unwrap();
                    fs::write(&p, &bytes[..bytes.len() / 3]).unwrap();
                }
            },
            &["--apply", "--per-venv"],
        ),
    ];
    for now in [
        "18446744073709551615",
        "0",
        "-1",
        "253402300799",
        "253402300800",
        "1e9",
    ] {
        for extra in [&[][..], &["--hook"][..], &["--explain", "alpha"][..]] {
            let mut c = case("UV_CACHE_PRUNE_NOW", nothing, extra);
            c.env.push(("UV_CACHE_PRUNE_NOW", now.to_owned()));
            cases.push(c);
        }
    }
    cases
}

#[test]
fn the_binary_never_panics_hangs_or_dies_of_a_signal() {
    run_gallery(gallery());
}

#[test]
fn fifos_in_the_cache_never_hang_the_binary() {
    run_gallery(fifo_gallery());
}

fn run_gallery(cases: Vec<Case>) {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    sandbox.wheel("gamma", "1.0");
    sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);
    sandbox.venv("projects/s/.venv", &uv(), LinkMode::Symlink, &["gamma"]);
    let gone = sandbox.venv("projects/gone/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&gone);
    let saved = sandbox.save();

    let mut failures = Vec::new();
    for case in cases {
        sandbox.restore(&saved);
        (case.setup)(&sandbox);
        let mut cmd = sandbox.prune_cmd(&["--grace", "0s", "--root"]);
        cmd.arg(sandbox.projects()).args(&case.args);
        for (key, value) in &case.env {
            cmd.env(key, value);
        }
        let finished = run_with_deadline(&mut cmd, DEADLINE);
        let code = finished.status.and_then(|s| s.code());
        let ok = matches!(code, Some(0..=2)) && !finished.stderr.contains("panicked");
        eprintln!(
            "{:<32} {:?} {:?} -> {}",
            case.name,
            case.args,
            case.env,
            finished.describe()
        );
        if !ok {
            failures.push(format!(
                "{} {:?} {:?}: {}\n{}",
                case.name,
                case.args,
                case.env,
                finished.describe(),
                finished.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}
