//! `cargo xtask cache-prune`: the library's entry point, exactly as the binary runs it,
//! exit status included (2 for bad usage, such as a `--root` that does not exist, 1 for a
//! runtime error), so that scripts can tell a typo from a failure either way.

pub fn run(args: &uv_cache_prune::Args) -> anyhow::Result<()> {
    if let Err(err) = uv_cache_prune::run(args) {
        std::process::exit(uv_cache_prune::report_error(&err).into());
    }
    Ok(())
}
