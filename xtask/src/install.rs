//! `cargo xtask install`: puts the `uv-cache-prune` binary on PATH (`cargo install --path .`)
//! so that the git hooks of every repository find it.

use anyhow::Context;
use xshell::{Shell, cmd};

pub fn run() -> anyhow::Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(crate::workspace_root());
    cmd!(sh, "cargo install --locked --path .")
        .run()
        .context("installing uv-cache-prune with cargo install")?;
    Ok(())
}
