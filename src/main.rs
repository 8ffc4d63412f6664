//! The `uv-cache-prune` binary: parse, run, map errors to exit 1, or 2 for bad usage
//! (clap's own, and a path named on the command line that does not exist).

use std::process::ExitCode;

use clap::FromArgMatches;

fn main() -> ExitCode {
    // The same command the completion scripts and the man page are made from.
    let matches = uv_cache_prune::command().get_matches();
    let args = match uv_cache_prune::Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(err) => err.exit(),
    };
    match uv_cache_prune::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        // One line, control characters escaped; 2 for a path on the command line that
        // does not exist, like clap's own usage errors.
        Err(err) => ExitCode::from(uv_cache_prune::report_error(&err)),
    }
}
