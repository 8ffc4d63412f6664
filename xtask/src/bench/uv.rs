//! The pinned uv the bench builds the `--real` fixture with and measures the floor with:
//! the test bed's current pin, resolved as the tests resolve it (`$UV_BIN`, else `uv` on
//! `PATH` if it is that version, else a private install under `target/tmp/test-uv`), so a
//! fresh clone needs only python3 and the network.

use std::path::{Path, PathBuf};

use anyhow::Result;
use testbed::uv::{CURRENT, resolve};

/// The uv the tests and the bench pin.
pub(super) const UV_VERSION: &str = CURRENT.version;

/// The pinned uv, installing it when needed; `target` is the workspace's target dir.
pub(super) fn pinned_uv(target: &Path) -> Result<PathBuf> {
    resolve(CURRENT, &target.join("tmp"))
}
