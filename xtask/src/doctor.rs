//! `cargo xtask doctor`: the same report as `uv-cache-prune doctor`.

pub fn run() -> anyhow::Result<()> {
    print!("{}", uv_cache_prune::doctor()?);
    Ok(())
}
