//! The ways users install the tool, each driven for real: the PyPI wheel (built here with
//! maturin from PyPI) through `uv tool install` and `uvx --from`, with the pinned uv;
//! `--version` as `uv --version` prints it; and the crates.io package
//! (`cargo publish --dry-run`), whose tarball builds without git.
//!
//! Under `uvx` the parent uv holds a shared lock on the cache for as long as we run, so
//! `--apply` there must refuse at once instead of waiting for its own parent.

mod common;
#[path = "common/install_tools.rs"]
mod install_tools;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::deadline::run_with_deadline;
use common::*;

/// The wheel's distribution name as its `.dist-info` spells it.
const DIST_INFO_NAME: &str = "uv_cache_prune";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A cache with one live archive (`alpha`, used by `projects/live`) and one dead
/// (`beta`, whose venv was deleted), and the ids of both.
fn cache_with_one_dead_archive(sandbox: &Sandbox) -> (String, String) {
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    sandbox.venv("projects/live", &uv(), LinkMode::Hardlink, &["alpha"]);
    let dead = sandbox.venv("projects/dead", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&dead);
    (
        sandbox.archive_of("alpha", "1.0"),
        sandbox.archive_of("beta", "1.0"),
    )
}

/// `uvx` beside the pinned `uv` (the `uv` package ships both).
fn uvx() -> PathBuf {
    uv().with_file_name("uvx")
}

/// The archive that holds this tool's own dist-info, unpacked from the wheel by uv.
fn own_archive(sandbox: &Sandbox) -> String {
    sandbox.archive_of(DIST_INFO_NAME, VERSION)
}

fn dry_run_args(sandbox: &Sandbox) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["--json", "--grace", "0s", "--root"].map(Into::into).into();
    args.push(sandbox.projects().into());
    args
}

/// Runs `cmd`, asserts exit 0 and parses its stdout as the JSON report.
fn run_json(cmd: &mut Command) -> serde_json::Value {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    let output = &output;
    assert!(output.status.success(), "{}", describe(cmd, output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("{e}: not JSON:\n{}", describe(cmd, output));
    })
}

#[test]
fn uv_tool_install_of_the_wheel_puts_a_working_binary_on_the_tool_bin_dir() {
    let wheel = install_tools::wheel();
    let sandbox = Sandbox::new();
    let (alpha, beta) = cache_with_one_dead_archive(&sandbox);
    let install = [OsString::from("tool"), "install".into(), wheel.into()];
    sandbox.uv_ok(&uv(), &install);

    // The package and the binary share the name: the tool bin dir has `uv-cache-prune`.
    let bin = sandbox.path("tool-bin").join("uv-cache-prune");
    let mut version = sandbox.uv_cmd(&bin);
    version.arg("--version");
    let output = version.output().expect("run the installed binary");
    assert!(output.status.success(), "{}", describe(&version, &output));
    let ours = Command::new(env!("CARGO_BIN_EXE_uv-cache-prune"))
        .arg("--version")
        .output()
        .expect("run our binary");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&ours.stdout),
        "the wheel's binary is this build"
    );

    // Stripped (the release profile, and maturin's `strip`): no symbol table, no line
    // tables. The section names would be in the ELF's string table otherwise.
    let elf = std::fs::read(&bin).expect("read the installed binary");
    for section in [&b".symtab\0"[..], b".debug_line\0", b".debug_info\0"] {
        let found = elf.windows(section.len()).any(|w| w == section);
        assert!(
            !found,
            "{} has {}",
            bin.display(),
            String::from_utf8_lossy(section)
        );
    }
    assert!(elf.starts_with(b"\x7fELF"), "an ELF binary");

    let own = own_archive(&sandbox);
    // Default roots (uv's tool dir among them) plus the projects.
    let mut dry_run = sandbox.uv_cmd(&bin);
    dry_run.args(dry_run_args(&sandbox));
    let report = run_json(&mut dry_run);
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert_eq!(live_ids(&report), set([&alpha, &own]), "{report:#}");
    assert!(
        evidence_venvs(&report, &own)
            .contains(&Some(path_str(&sandbox.tool_dir().join("uv-cache-prune")))),
        "the tool's own venv keeps its archive: {report:#}"
    );

    // Installed this way (not under uvx) it applies, and keeps itself.
    let mut apply = sandbox.uv_cmd(&bin);
    apply.args(dry_run_args(&sandbox)).arg("--apply");
    let report = run_json(&mut apply);
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert_eq!(sandbox.all_archives(), set([&alpha, &own]));
    let output = version.output().expect("run the installed binary again");
    assert!(output.status.success(), "{}", describe(&version, &output));
}

#[test]
fn uvx_from_the_wheel_runs_and_its_own_cached_environment_is_never_a_candidate() {
    let wheel = install_tools::wheel();
    let sandbox = Sandbox::new();
    let (alpha, beta) = cache_with_one_dead_archive(&sandbox);

    let mut uvx_cmd = sandbox.uv_cmd(&uvx());
    uvx_cmd
        .arg("--from")
        .arg(&wheel)
        .arg("uv-cache-prune")
        .args(dry_run_args(&sandbox))
        .arg("--no-default-roots");
    let report = run_json(&mut uvx_cmd);

    // uvx unpacked the wheel into an archive and made a cached environment (itself an
    // archive) for it: both are live even with no default root, both named as such.
    let own = own_archive(&sandbox);
    let environments = venv_archives(&sandbox.cache());
    assert_eq!(
        environments.len(),
        1,
        "one cached environment: {environments:?}"
    );
    let environment = environments.first().expect("one").clone();
    assert_eq!(
        sandbox.all_archives(),
        set([&alpha, &beta, &own, &environment])
    );
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert_eq!(
        live_ids(&report),
        set([&alpha, &own, &environment]),
        "{report:#}"
    );
    assert!(
        evidence_kinds(&report, &environment).contains("environment"),
        "{report:#}"
    );
    assert_eq!(report["dry_run"], true, "{report:#}");
}

#[test]
fn uvx_apply_refuses_at_once_instead_of_waiting_for_its_own_parent() {
    let wheel = install_tools::wheel();
    let sandbox = Sandbox::new();
    let (_alpha, beta) = cache_with_one_dead_archive(&sandbox);
    // uvx makes its cached environment on the first run; the snapshot is taken after it.
    let mut warm = sandbox.uv_cmd(&uvx());
    warm.arg("--from")
        .arg(&wheel)
        .args(["uv-cache-prune", "--version"]);
    let output = warm.output().expect("uvx --version");
    assert!(output.status.success(), "{}", describe(&warm, &output));
    let before = sandbox.world_snapshot();

    let lock_timeout = Duration::from_secs(60);
    let mut apply = sandbox.uv_cmd(&uvx());
    apply
        .arg("--from")
        .arg(&wheel)
        .arg("uv-cache-prune")
        .args(dry_run_args(&sandbox))
        .args(["--apply", "--no-default-roots", "--lock-timeout", "60s"]);
    let started = Instant::now();
    let finished = run_with_deadline(&mut apply, lock_timeout + Duration::from_secs(30));
    let took = started.elapsed();

    assert_eq!(
        finished.status.and_then(|s| s.code()),
        Some(1),
        "{}: {}",
        finished.describe(),
        finished.stderr
    );
    assert!(
        took < Duration::from_secs(20),
        "refused after {took:?}: it waited for the lock its own parent holds"
    );
    let lock = sandbox.cache().join(".lock");
    let prefix = "error: uv-cache-prune was started by uv (`uv`, pid ";
    let suffix = format!(
        ": uvx or uv run), which holds a lock on {} until this process ends, so --apply would wait for its own parent; nothing was deleted. Run it outside uv instead: `uv tool install uv-cache-prune`, then `uv-cache-prune --apply`\n",
        lock.display()
    );
    let pid = finished
        .stderr
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(&suffix))
        .unwrap_or_else(|| panic!("unexpected stderr:\n{}", finished.stderr));
    assert!(
        !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()),
        "pid {pid:?}"
    );
    assert!(finished.stdout.is_empty(), "no report on a refusal");
    assert_same_snapshot(&before, &sandbox.world_snapshot());
    assert!(
        sandbox.archive_dir(&beta).is_dir(),
        "the dead archive stays"
    );

    // `uv run` holds the same lock and gets the same refusal.
    let mut run = sandbox.uv_cmd(&uv());
    run.args(["run", "--no-project", "--offline", "--with"])
        .arg(&wheel)
        .arg("--")
        .arg("uv-cache-prune")
        .args(dry_run_args(&sandbox))
        .args(["--apply", "--no-default-roots", "--lock-timeout", "60s"]);
    let finished = run_with_deadline(&mut run, lock_timeout + Duration::from_secs(30));
    assert_eq!(
        finished.status.and_then(|s| s.code()),
        Some(1),
        "{}: {}",
        finished.describe(),
        finished.stderr
    );
    assert!(
        finished.stderr.starts_with(prefix) && finished.stderr.ends_with(&suffix),
        "unexpected stderr:\n{}",
        finished.stderr
    );
    assert!(
        sandbox.archive_dir(&beta).is_dir(),
        "the dead archive stays"
    );
}

/// `uv-cache-prune 0.1.0 (abcdef123 2026-12-06)`: the commit and its date from git.
#[test]
fn version_names_the_commit_and_its_date_like_uv() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_uv-cache-prune"))
        .arg("--version")
        .output()
        .expect("run --version");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let git = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["log", "-1", "--format=%h %cs", "--abbrev=9", "HEAD"])
        .output();
    match git {
        Ok(git) if git.status.success() && root.join(".git").exists() => {
            let head = String::from_utf8(git.stdout).expect("UTF-8");
            assert_eq!(
                stdout,
                format!("uv-cache-prune {VERSION} ({})\n", head.trim())
            );
            let (hash, date) = head.trim().split_once(' ').expect("hash and date");
            assert_eq!(hash.len(), 9, "{hash}");
            assert_eq!(date.len(), "2026-12-06".len(), "{date}");
        }
        _ => assert_eq!(stdout, format!("uv-cache-prune {VERSION}\n")),
    }
}

/// The crates.io package: `cargo publish --dry-run` packs only what the crate needs and
/// builds it from the tarball, where there is no git: `--version` is then the version alone.
#[test]
fn crates_io_package_builds_from_its_tarball_and_says_its_version() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("publish-check");
    let cargo_cmd = |args: &[&str]| {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(root)
            .args(args)
            .arg("--target-dir")
            .arg(&target)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR");
        let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
        assert!(output.status.success(), "{}", describe(&cmd, &output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let listed = cargo_cmd(&["package", "--list", "-p", "uv-cache-prune", "--allow-dirty"]);
    let files: Vec<&str> = listed.lines().collect();
    for needed in [
        "build.rs",
        "src/lib.rs",
        "src/main.rs",
        "hooks/uv-cache-prune.sh",
    ] {
        assert!(files.contains(&needed), "{needed} is packed: {files:?}");
    }
    let stray: Vec<&&str> = files
        .iter()
        .filter(|f| {
            ["tests/", "xtask/", "target/", ".ci/"]
                .iter()
                .any(|d| f.starts_with(d))
        })
        .collect();
    assert!(stray.is_empty(), "packed but not needed: {stray:?}");

    cargo_cmd(&[
        "publish",
        "--dry-run",
        "-p",
        "uv-cache-prune",
        "--allow-dirty",
    ]);
    let built = target.join("debug/uv-cache-prune");
    let output = Command::new(&built)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", built.display()));
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("uv-cache-prune {VERSION}\n"),
        "no git in the tarball: the version alone"
    );
}
