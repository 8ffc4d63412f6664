//! `cargo xtask install-hooks [--repo DIR]... [--uninstall]`: the git hook shims, via the library.

pub fn run(args: &uv_cache_prune::InstallHooksArgs) -> anyhow::Result<()> {
    match args.run() {
        Ok(out) => print!("{out}"),
        // Printed as the binary prints it: a repository path can hold control characters.
        Err(err) => std::process::exit(uv_cache_prune::report_error(&err).into()),
    }
    Ok(())
}
