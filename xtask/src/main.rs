//! The repository's task runner (`cargo xtask <task>`): dispatch only; one file per task,
//! each thin glue over the library.

mod bench;
mod cache_prune;
mod doctor;
mod install;
mod install_hooks;
mod man;
mod soak;

use std::path::PathBuf;

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
    /// Benchmark the tool against `du -s`, a link-count scan and `rm -rf` on a synthetic cache
    Bench(bench::Args),
    /// Install the git hooks that prune after checkouts into a repository
    InstallHooks(uv_cache_prune::InstallHooksArgs),
    /// Install the uv-cache-prune binary (cargo install --path .) for the hooks to find
    Install,
    /// Show the cache, config, roots, hooks and what a prune would free
    Doctor(uv_cache_prune::DoctorArgs),
    /// Write the man pages (uv-cache-prune.1 and one per subcommand) into --out
    Man(man::Args),
    /// Soak the tool: SIGKILLs, racing uv workers and model-based cases, with a summary
    Soak(soak::Args),
}

/// The workspace root: xtask lives one level below it.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_owned()
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().task {
        Task::CachePrune(args) => cache_prune::run(&args),
        Task::Bench(args) => bench::run(&args),
        Task::InstallHooks(args) => install_hooks::run(&args),
        Task::Install => install::run(),
        Task::Doctor(args) => doctor::run(&args),
        Task::Man(args) => man::run(&args),
        Task::Soak(args) => soak::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
