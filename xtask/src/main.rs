//! The repository's task runner (`cargo xtask <task>`): thin glue over the library.

mod cache_prune;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Tasks for uv-cache-prune")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Find (and with --apply remove) dead archives in uv's cache; same as `uv-cache-prune`
    CachePrune(uv_cache_prune::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::CachePrune(args) => cache_prune::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
