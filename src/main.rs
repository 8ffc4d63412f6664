//! The `uv-cache-prune` binary: parse, run, map errors to exit 1, or 2 for bad usage
//! (clap's own, and a path named on the command line that does not exist).

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "uv-cache-prune", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    args: uv_cache_prune::Args,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match uv_cache_prune::run(&cli.args) {
        Ok(()) => ExitCode::SUCCESS,
        // One line, control characters escaped; 2 for a path on the command line that
        // does not exist, like clap's own usage errors.
        Err(err) => ExitCode::from(uv_cache_prune::cli::report_error(&err)),
    }
}
