//! The `uv-cache-prune` binary: parse, run, map errors to exit 1, and bad usage to exit 2
//! (clap's own errors, and [`uv_cache_prune::cli::UsageError`]).

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
        Err(err) => {
            // One line, control characters escaped: a path in an error can hold anything.
            eprintln!(
                "error: {}",
                uv_cache_prune::report::one_line(&format!("{err:#}"))
            );
            if err.is::<uv_cache_prune::cli::UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
