//! Untrusted names never reach the terminal raw: a dist-info directory, a venv path, a root
//! or a cache path holding escape sequences, a newline and a fake "nothing was deleted"
//! line, a bidi override or bytes that are not UTF-8 are printed escaped by every human
//! view (report, `--explain`, `--per-venv`, `roots`, `doctor`, errors), while `--json`
//! keeps the exact text.

mod common;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use common::*;

/// The line a hostile name tries to slip into the report.
const FAKE: &str = "Dry run: nothing was deleted. Your cache is clean";
/// Retitles the terminal, clears it, hides what follows, reverses the rest.
const HOSTILE: &str = "\x1b]0;pwned\x07\x1b[2J\x1b[8m\u{202e}";

fn hostile_name() -> String {
    format!("beta{HOSTILE}")
}

fn hostile_version() -> String {
    format!("1.0\n{FAKE}")
}

/// Every byte a terminal could act on: C0 controls but the newline, DEL, C1 controls and
/// the bidi controls. Also: the fake line never starts a line.
fn assert_printable(what: &str, output: &Output) {
    for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        for c in text.chars() {
            let code = u32::from(c);
            let bad = (code < 0x20 && c != '\n')
                || code == 0x7f
                || (0x80..=0x9f).contains(&code)
                || (0x202a..=0x202e).contains(&code)
                || (0x2066..=0x2069).contains(&code);
            assert!(!bad, "{what}: {stream} holds {c:?}:\n{text:?}");
        }
        for line in text.lines() {
            assert!(
                !line.trim_start().starts_with(FAKE),
                "{what}: {stream} has a forged line:\n{text}"
            );
        }
    }
}

fn run(what: &str, cmd: &mut Command, code: i32) -> Output {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: {}",
        describe(cmd, &output)
    );
    assert_printable(what, &output);
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A dead archive whose dist-info directory is renamed to the hostile name and version;
/// returns its id.
fn hostile_dead_archive(sandbox: &Sandbox) -> String {
    sandbox.wheel("beta", "1.0");
    let venv = sandbox.venv("scratch/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&venv);
    let id = sandbox.archive_of("beta", "1.0");
    let archive = sandbox.archive_dir(&id);
    let hostile = format!("{}-{}.dist-info", hostile_name(), hostile_version());
    std::fs::rename(archive.join("beta-1.0.dist-info"), archive.join(hostile))
        .expect("rename the dist-info");
    id
}

/// A root whose name holds the hostile text, with a symlink-mode venv using `alpha`.
fn hostile_root(sandbox: &Sandbox) -> (PathBuf, PathBuf) {
    sandbox.wheel("alpha", "1.0");
    let rel = format!("projects/r{HOSTILE}\n{FAKE}");
    std::fs::create_dir_all(sandbox.path(&rel)).expect("create the hostile root");
    let venv = sandbox.venv(
        &format!("{rel}/v\x1b[8menv"),
        &uv(),
        LinkMode::Symlink,
        &["alpha"],
    );
    (sandbox.path(rel), venv)
}

/// An empty root whose name is not UTF-8.
fn odd_root(sandbox: &Sandbox) -> PathBuf {
    let mut name = b"projects/odd".to_vec();
    name.extend_from_slice(b"\xff\x1b[2J");
    let root = sandbox.path(PathBuf::from(OsString::from_vec(name)));
    std::fs::create_dir_all(&root).expect("create the odd root");
    root
}

#[test]
fn hostile_names_are_escaped_in_every_human_view_and_whole_in_json() {
    let sandbox = Sandbox::new();
    let dead = hostile_dead_archive(&sandbox);
    let (root, venv) = hostile_root(&sandbox);
    let odd = odd_root(&sandbox);
    let alpha = sandbox.archive_of("alpha", "1.0");
    let args = plan_args(&[&root, &odd]);
    let with = |extra: &[&str]| {
        let mut cmd = sandbox.prune_cmd(&args);
        cmd.args(extra);
        cmd
    };

    let report = run("dry run", &mut with(&[]), 0);
    let text = stdout(&report);
    assert!(
        text.contains("beta\\x1b]0;pwned\\x07\\x1b[2j\\x1b[8m\\u{202e}"),
        "the dead archive's name is shown, escaped:\n{text}"
    );
    assert!(
        text.contains(&format!("1.0\\n{FAKE}")),
        "and its version:\n{text}"
    );
    assert!(
        text.contains("odd\\xff\\x1b[2J"),
        "a byte that is not UTF-8 shows as a byte:\n{text}"
    );
    assert!(text.contains(&dead), "{text}");

    run(
        "--explain the dead archive",
        &mut with(&["--explain", &dead]),
        0,
    );
    let explained = run("--explain alpha", &mut with(&["--explain", "alpha"]), 0);
    assert!(
        stdout(&explained).contains("v\\x1b[8menv"),
        "the venv path is shown, escaped:\n{}",
        stdout(&explained)
    );
    let per_venv = run("--per-venv", &mut with(&["--per-venv"]), 0);
    assert!(
        stdout(&per_venv).contains("v\\x1b[8menv"),
        "{}",
        stdout(&per_venv)
    );

    // JSON keeps every string whole (serde escapes it) and stays valid.
    let json = sandbox.prune_json(&args);
    let candidate = candidate(&json, &dead);
    let expected_name = hostile_name().to_lowercase();
    assert_eq!(candidate["name"], expected_name.as_str(), "{json:#}");
    assert_eq!(candidate["version"], hostile_version().as_str(), "{json:#}");
    assert_eq!(
        evidence_venvs(&json, &alpha),
        set([path_str(&venv)]).into_iter().map(Some).collect(),
        "{json:#}"
    );
    assert_eq!(json["roots"][0]["path"], path_str(&root).as_str());
    let explained =
        sandbox.prune_json(&[&args[..], &["--explain".into(), dead.clone().into()]].concat());
    assert_eq!(
        explained["explain"][0]["version"],
        hostile_version().as_str()
    );

    // The registry, `roots list` and `doctor`.
    let mut add = sandbox.bare_prune_cmd();
    add.args(["roots", "add"]).arg(&root);
    let added = run("roots add", &mut add, 0);
    assert!(
        stdout(&added).contains("r\\x1b]0;pwned\\x07"),
        "{}",
        stdout(&added)
    );
    let listed = run(
        "roots list",
        sandbox.bare_prune_cmd().args(["roots", "list"]),
        0,
    );
    assert!(
        stdout(&listed).contains(&format!("\\n{FAKE}")),
        "{}",
        stdout(&listed)
    );
    let doctor = run("doctor", sandbox.bare_prune_cmd().arg("doctor"), 0);
    assert!(
        stdout(&doctor).contains("r\\x1b]0;pwned\\x07"),
        "{}",
        stdout(&doctor)
    );
}

#[test]
fn errors_naming_a_hostile_path_are_escaped() {
    let sandbox = Sandbox::new();
    let file = sandbox.path(format!("c{HOSTILE}\n{FAKE}"));
    std::fs::write(&file, "not a cache").expect("write");
    let mut cmd = sandbox.bare_prune_cmd();
    cmd.arg("--cache-dir").arg(&file);
    // A file named as the cache is bad usage (exit 2), said on one escaped line.
    let output = run("a cache dir that is a file", &mut cmd, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("c\\x1b]0;pwned\\x07"), "{stderr}");

    let not_a_repo = sandbox.path(format!("repo{HOSTILE}\n{FAKE}"));
    std::fs::create_dir_all(&not_a_repo).expect("create dir");
    let mut cmd = sandbox.bare_prune_cmd();
    cmd.env("GIT_CEILING_DIRECTORIES", sandbox.dir())
        .args(["install-hooks", "--repo"])
        .arg(&not_a_repo);
    let output = run("install-hooks outside a repository", &mut cmd, 1);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("repo\\x1b]0;pwned\\x07"), "{stderr}");
}
