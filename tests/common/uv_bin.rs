//! The pinned uv binaries (see `testbed::uv`, the one table of pins and its resolver),
//! installed under Cargo's target tmp dir when not given.

use std::path::{Path, PathBuf};

use testbed::uv::{CURRENT, OLD, Pin, V0_8, V0_10, V0_12, resolved};

/// The uv release the tool is mainly written against.
pub const UV_VERSION: &str = CURRENT.version;
/// An older release whose cache layout (`wheels-v6`, map-form pointers) must still be read.
pub const UV_OLD_VERSION: &str = OLD.version;

fn bin(pin: Pin) -> PathBuf {
    resolved(pin, Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// The current pin (`$UV_BIN`).
pub fn uv() -> PathBuf {
    bin(CURRENT)
}

/// The old pin, a generation back (`$UV_BIN_0_12_5`).
pub fn uv_old() -> PathBuf {
    bin(OLD)
}

/// The 0.8 pin (`$UV_BIN_0_8_24`): 4-element `Archive` pointers in `wheels-v5`.
pub fn uv_0_8() -> PathBuf {
    bin(V0_8)
}

/// The 0.10 pin (`$UV_BIN_0_10_12`).
pub fn uv_0_10() -> PathBuf {
    bin(V0_10)
}

/// The 0.12 pin (`$UV_BIN_0_12_24`): the last 0.12 release, with the content-addressed
/// preview.
pub fn uv_0_12() -> PathBuf {
    bin(V0_12)
}
