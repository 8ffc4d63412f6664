//! The pinned uv the bench builds the `--real` fixture with and measures the floor with.
//!
//! `$UV_BIN` when it is that version, else a private `pip install --target` under
//! `target/tmp/test-uv/<version>` (where the test bed installs it too), so a fresh clone
//! needs only python3 and the network.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use xshell::{Shell, cmd};

/// The uv the tests and the bench pin.
pub(super) const UV_VERSION: &str = "0.13.9";

/// The pinned uv, installing it when needed.
pub(super) fn pinned_uv(sh: &Shell, target: &Path) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("UV_BIN").map(PathBuf::from)
        && version(sh, &bin).as_deref() == Some(UV_VERSION)
    {
        return Ok(bin);
    }
    let dir = target.join("tmp/test-uv").join(UV_VERSION);
    let bin = dir.join("bin/uv");
    if version(sh, &bin).as_deref() == Some(UV_VERSION) {
        return Ok(bin);
    }
    eprintln!("bench: installing uv {UV_VERSION} into {}", dir.display());
    let spec = format!("uv=={UV_VERSION}");
    cmd!(
        sh,
        "python3 -m pip install --quiet --disable-pip-version-check --upgrade --target {dir} {spec}"
    )
    .quiet()
    .run()
    .with_context(|| format!("installing uv {UV_VERSION} with pip into {}", dir.display()))?;
    let found = version(sh, &bin);
    ensure!(
        found.as_deref() == Some(UV_VERSION),
        "{} reports version {found:?}, not {UV_VERSION}",
        bin.display()
    );
    Ok(bin)
}

/// `uv 0.13.9 (…)` → `0.13.9`; `None` when it does not run.
fn version(sh: &Shell, bin: &Path) -> Option<String> {
    let out = cmd!(sh, "{bin} --version")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    out.split_whitespace().nth(1).map(str::to_owned)
}
