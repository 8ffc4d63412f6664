//! The pinned uv releases every harness drives, and the one resolver that finds or
//! installs them.
//!
//! The pruner's correctness depends on uv's on-disk formats, which change between versions,
//! so the tests, the soak and the bench run against exact releases rather than whatever
//! `uv` happens to be around. [`PINS`] is the only place a version is written down.
//!
//! Resolution order ([`resolve`]): the pin's env variable, then `uv` on `PATH` if it is
//! exactly the pinned version, then a private `pip install --target` under
//! `<tmp>/test-uv/<version>`, where `<tmp>` is the workspace's `target/tmp` (Cargo's
//! `CARGO_TARGET_TMPDIR` for the tests), so that one install serves all three harnesses.
//! Test binaries run as parallel processes, so installation is serialized with an exclusive
//! file lock and a finished install is marked with a "done" file written last.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, Result, bail, ensure};

/// One pinned uv release and the variable that may point at a binary of it instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub version: &'static str,
    pub env_var: &'static str,
}

/// The uv release the tool is mainly written against (`wheels-v8`, array pointers).
pub const CURRENT: Pin = Pin {
    version: "0.13.9",
    env_var: "UV_BIN",
};
/// An older release whose cache layout (`wheels-v6`, map-form pointers) must still be read.
pub const OLD: Pin = Pin {
    version: "0.12.5",
    env_var: "UV_BIN_0_12_5",
};
/// The oldest generation a shared cache still holds: 4-element `Archive` pointers in
/// `wheels-v5`.
pub const V0_8: Pin = Pin {
    version: "0.8.24",
    env_var: "UV_BIN_0_8_24",
};
/// A middle generation of the shared-cache scenarios.
pub const V0_10: Pin = Pin {
    version: "0.10.12",
    env_var: "UV_BIN_0_10_12",
};
/// The last 0.12 release, with the content-addressed preview.
pub const V0_12: Pin = Pin {
    version: "0.12.24",
    env_var: "UV_BIN_0_12_24",
};

/// Every pinned release, newest first.
pub const PINS: &[Pin] = &[CURRENT, OLD, V0_12, V0_10, V0_8];

/// [`resolve`], once per pin and process; panics with the error (for the tests).
pub fn resolved(pin: Pin, tmp: &Path) -> PathBuf {
    static BINS: Mutex<BTreeMap<&str, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut bins = BINS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(bin) = bins.get(pin.version) {
        return bin.clone();
    }
    let bin = resolve(pin, tmp).unwrap_or_else(|e| panic!("uv {}: {e:#}", pin.version));
    bins.insert(pin.version, bin.clone());
    bin
}

/// The binary of `pin`: `$<env_var>`, else `uv` on `PATH` if it is that version, else a
/// private install under `<tmp>/test-uv/<version>` (installed with pip on first use).
pub fn resolve(pin: Pin, tmp: &Path) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os(pin.env_var) {
        return Ok(PathBuf::from(bin));
    }
    if version_of(Path::new("uv")).as_deref() == Some(pin.version) {
        return Ok(PathBuf::from("uv"));
    }
    install(pin, &tmp.join("test-uv"))
        .with_context(|| format!("set {} to a uv {} binary instead", pin.env_var, pin.version))
}

/// The version `bin --version` reports (`uv 0.13.9 (x86_64-unknown-linux-gnu)` → `0.13.9`),
/// or `None` when it cannot be run.
pub fn version_of(bin: &Path) -> Option<String> {
    let output = Command::new(bin).arg("--version").output().ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["uv", version, ..] if output.status.success() => Some((*version).to_owned()),
        _ => None,
    }
}

/// Installs uv `pin` from PyPI into `<base>/<version>` once, however many processes ask at
/// the same time.
fn install(pin: Pin, base: &Path) -> Result<PathBuf> {
    let version = pin.version;
    let target = base.join(version);
    let bin = target.join("bin").join("uv");
    let done = base.join(format!("{version}.done"));
    fs::create_dir_all(base).with_context(|| format!("creating {}", base.display()))?;

    let lock_path = base.join(format!("{version}.lock"));
    let lock = File::create(&lock_path)
        .with_context(|| format!("creating lock file {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;

    if !done.exists() {
        eprintln!("installing uv {version} with pip into {}", target.display());
        // A previous attempt may have died half-way; pip --target refuses to overwrite cleanly.
        if target.exists() {
            fs::remove_dir_all(&target)
                .with_context(|| format!("removing the stale {}", target.display()))?;
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
        let output = pip.output().with_context(|| format!("running {pip:?}"))?;
        if !output.status.success() {
            bail!(
                "{pip:?} failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let found = version_of(&bin);
        ensure!(
            found.as_deref() == Some(version),
            "{} reports version {found:?} after {pip:?}, not {version}",
            bin.display()
        );
        fs::write(&done, version).with_context(|| format!("writing {}", done.display()))?;
    }
    Ok(bin)
}
