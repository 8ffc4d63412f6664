//! The `uv-cache-prune` binary: parse, run, map errors to exit 1 (clap exits 2 on bad usage).

use std::process::ExitCode;

use clap::FromArgMatches;

fn main() -> ExitCode {
    // The same command the completion scripts and the man page are made from.
    let matches = uv_cache_prune::cli::command().get_matches();
    let args = match uv_cache_prune::Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(err) => err.exit(),
    };
    match uv_cache_prune::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, control characters escaped: a path in an error can hold anything.
            eprintln!(
                "error: {}",
                uv_cache_prune::report::one_line(&format!("{err:#}"))
            );
            ExitCode::FAILURE
        }
    }
}
