//! `cargo xtask doctor [--repo DIR] [--cache-dir DIR]`: the same report as
//! `uv-cache-prune doctor`.

pub fn run(args: &uv_cache_prune::DoctorArgs) -> anyhow::Result<()> {
    match args.run() {
        Ok(out) => print!("{out}"),
        // Printed, and its exit status, as the binary's: a typo is bad usage (2).
        Err(err) => std::process::exit(uv_cache_prune::report_error(&err).into()),
    }
    Ok(())
}
