//! The Python tools the install paths are tested with, and the wheel built with them.
//!
//! maturin (which builds the PyPI wheel), pre-commit and lefthook come from PyPI, pinned, into one
//! venv under Cargo's target tmp dir, made once per target dir however many test binaries
//! ask at the same time (an exclusive file lock, and a "done" file written last), as
//! `uv_bin` installs uv. A fresh machine needs only Rust and Python 3.
//!
//! Test binaries use it with `#[path = "common/install_tools.rs"] mod install_tools;`.
#![allow(dead_code)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The maturin release the wheel is built with (the version a release would pin too).
pub const MATURIN_VERSION: &str = "1.9.4";
/// The pre-commit release the hook is tested with (4.x, post-checkout/post-merge since 3.2).
pub const PRE_COMMIT_VERSION: &str = "4.3.0";

/// The lefthook release (a Go binary in a PyPI wheel) its snippet is tested with.
pub const LEFTHOOK_VERSION: &str = "2.2.2";

/// `<tools venv>/bin/<name>`: `maturin`, `pre-commit` or `lefthook`.
pub fn tool(name: &str) -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(install).join("bin").join(name)
}

fn base() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-python-tools")
}

fn install() -> PathBuf {
    let base = base();
    let key = format!(
        "maturin-{MATURIN_VERSION}-pre-commit-{PRE_COMMIT_VERSION}-lefthook-{LEFTHOOK_VERSION}"
    );
    let venv = base.join(&key);
    let done = base.join(format!("{key}.done"));
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("create {}: {e}", base.display()));
    let _lock = lock(&base.join(format!("{key}.lock")));
    if !done.exists() {
        // A previous attempt may have died half-way.
        if venv.exists() {
            fs::remove_dir_all(&venv)
                .unwrap_or_else(|e| panic!("remove stale {}: {e}", venv.display()));
        }
        run_ok(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        run_ok(
            Command::new(venv.join("bin/python"))
                .args(["-m", "pip", "install", "--quiet"])
                .arg("--disable-pip-version-check")
                .arg(format!("maturin=={MATURIN_VERSION}"))
                .arg(format!("pre-commit=={PRE_COMMIT_VERSION}"))
                .arg(format!("lefthook=={LEFTHOOK_VERSION}")),
        );
        fs::write(&done, &key).unwrap_or_else(|e| panic!("write {}: {e}", done.display()));
    }
    venv
}

/// The wheel of this crate, `uv_cache_prune-<version>-py3-none-<platform>.whl`, built from
/// the working tree with `maturin build --release` (the profile users get) once per test
/// process; concurrent test binaries take turns, and cargo rebuilds only what changed.
/// Its own target dir, so that it never waits for (or on) the tests' build.
pub fn wheel() -> PathBuf {
    static WHEEL: OnceLock<PathBuf> = OnceLock::new();
    WHEEL.get_or_init(build_wheel).clone()
}

fn build_wheel() -> PathBuf {
    let maturin = tool("maturin");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wheel-target");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wheels");
    fs::create_dir_all(&target).unwrap_or_else(|e| panic!("create {}: {e}", target.display()));
    let _lock = lock(&target.join("build.lock"));
    if out.exists() {
        fs::remove_dir_all(&out).unwrap_or_else(|e| panic!("remove {}: {e}", out.display()));
    }
    let mut build = Command::new(maturin);
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(&target)
        .arg("--out")
        .arg(&out)
        .env_remove("CARGO_TARGET_DIR");
    run_ok(&mut build);
    let wheels: Vec<PathBuf> = fs::read_dir(&out)
        .unwrap_or_else(|e| panic!("read {}: {e}", out.display()))
        .map(|entry| entry.expect("wheel dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .collect();
    match wheels.as_slice() {
        [wheel] => {
            // A copy of this process's own: the next build (another test binary's) clears
            // `out` and may rewrite the wheel while this one is still installing it.
            let mine = target.join(format!("wheel-{}", std::process::id()));
            fs::create_dir_all(&mine).unwrap_or_else(|e| panic!("create {}: {e}", mine.display()));
            let kept = mine.join(wheel.file_name().expect("wheel name"));
            fs::copy(wheel, &kept).unwrap_or_else(|e| panic!("copy {}: {e}", wheel.display()));
            kept
        }
        other => panic!("maturin built {other:?}, not one wheel"),
    }
}

/// An exclusive lock on `path`, held until the file is dropped.
fn lock(path: &Path) -> File {
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
    file
}

fn run_ok(cmd: &mut Command) {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
