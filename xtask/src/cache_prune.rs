//! `cargo xtask cache-prune`: the library's entry point, exactly as the binary runs it.

pub fn run(args: &uv_cache_prune::Args) -> anyhow::Result<()> {
    uv_cache_prune::run(args)
}
