//! `cargo xtask install-hooks [--repo DIR]... [--uninstall]`: the git hook shims, via the library.

pub fn run(args: &uv_cache_prune::cli::InstallHooksArgs) -> anyhow::Result<()> {
    print!("{}", args.run()?);
    Ok(())
}
