//! Finds or installs the pinned uv binaries the scenarios drive.
//!
//! The pruner's correctness depends on uv's on-disk formats, which change between versions,
//! so the tests run against exact releases rather than whatever `uv` happens to be around.
//! Resolution order: an explicit env variable, then `uv` on `PATH` if it is exactly the
//! pinned version, then a private `pip install --target` under Cargo's target tmp dir.
//! Test binaries run as parallel processes, so installation is serialized with an exclusive
//! file lock and finished installs are marked with a "done" file written last.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The uv release the tool is mainly written against.
pub const UV_VERSION: &str = "0.13.9";
/// An older release whose cache layout (`wheels-v6`, map-form pointers) must still be read.
pub const UV_OLD_VERSION: &str = "0.12.5";

/// uv 0.13.9: `$UV_BIN`, else `uv` on `PATH` if it is that version, else a private install.
pub fn uv() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| resolve("UV_BIN", UV_VERSION)).clone()
}

/// uv 0.12.5: `$UV_BIN_0_12_5`, else `uv` on `PATH` if it is that version, else a private
/// install.
pub fn uv_old() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| resolve("UV_BIN_0_12_5", UV_OLD_VERSION))
        .clone()
}

/// uv 0.8.24: `$UV_BIN_0_8_24`, else a private install. The oldest generation a shared
/// cache still holds: 4-element `Archive` pointers in `wheels-v5`.
pub fn uv_0_8() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| resolve("UV_BIN_0_8_24", "0.8.24"))
        .clone()
}

/// uv 0.10.12: `$UV_BIN_0_10_12`, else a private install.
pub fn uv_0_10() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| resolve("UV_BIN_0_10_12", "0.10.12"))
        .clone()
}

/// uv 0.12.24: `$UV_BIN_0_12_24`, else a private install. The last 0.12 release, with the
/// content-addressed preview.
pub fn uv_0_12() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| resolve("UV_BIN_0_12_24", "0.12.24"))
        .clone()
}

fn resolve(env_var: &str, version: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(env_var) {
        return PathBuf::from(bin);
    }
    if version_of(Path::new("uv")).as_deref() == Some(version) {
        return PathBuf::from("uv");
    }
    install(version)
}

/// The version `bin --version` reports (`uv 0.13.9 (x86_64-unknown-linux-gnu)` → `0.13.9`),
/// or `None` when it cannot be run.
fn version_of(bin: &Path) -> Option<String> {
    let output = Command::new(bin).arg("--version").output().ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["uv", version, ..] if output.status.success() => Some((*version).to_owned()),
        _ => None,
    }
}

/// Installs uv `version` from PyPI into `<CARGO_TARGET_TMPDIR>/test-uv/<version>` once per
/// target dir, however many test processes ask at the same time.
fn install(version: &str) -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-uv");
    let target = base.join(version);
    let bin = target.join("bin").join("uv");
    let done = base.join(format!("{version}.done"));
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("create {}: {e}", base.display()));

    let lock_path = base.join(format!("{version}.lock"));
    let lock = File::create(&lock_path)
        .unwrap_or_else(|e| panic!("create lock file {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));

    if !done.exists() {
        // A previous attempt may have died half-way; pip --target refuses to overwrite cleanly.
        if target.exists() {
            fs::remove_dir_all(&target)
                .unwrap_or_else(|e| panic!("remove stale {}: {e}", target.display()));
        }
        let mut pip = Command::new("python3");
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("--target")
        .arg(&target)
        .arg(format!("uv=={version}"));
        let output = pip.output().unwrap_or_else(|e| panic!("run {pip:?}: {e}"));
        assert!(
            output.status.success(),
            "{pip:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let found = version_of(&bin);
        assert_eq!(
            found.as_deref(),
            Some(version),
            "{} --version after {pip:?}",
            bin.display()
        );
        fs::write(&done, version).unwrap_or_else(|e| panic!("write {}: {e}", done.display()));
    }
    bin
}
