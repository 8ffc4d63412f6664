//! uv-cache-prune: free disk space in uv's cache by removing unpacked wheels
//! (`archive-v0/<id>`) that no live virtualenv uses.
//!
//! The pipeline, one module per stage, each handing a typed value to the next: locate the
//! cache, inventory it, discover the venvs and locks that may use it, collect the evidence,
//! plan, apply the plan under uv's lock, report. The driver, `pipeline`, runs them in order
//! from typed `Settings`, and `cli` only turns flags and the config into those settings.
//! The map of every module is `docs/architecture.md` in the repository (a test keeps it
//! exact); `docs/uv-cache.md` says what of uv's format this relies on, and
//! `docs/json-schema.md` what `--json` prints.
//!
//! "Why was this archive kept?" is answered by the evidence (`liveness`) and the plan
//! (grace, `nlink`); `--explain` prints it. Embedding in another repository's xtask:
//!
//! ```no_run
//! #[derive(clap::Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     prune: uv_cache_prune::Args,
//! }
//! # fn main() -> anyhow::Result<()> {
//! let cli = <Cli as clap::Parser>::parse();
//! uv_cache_prune::run(&cli.prune)?;
//! # Ok(())
//! # }
//! ```
//!
//! [`build_report`] returns the [`Report`] value instead of printing it.

#![warn(missing_docs)]

mod apply;
pub mod archive_id;
#[cfg(unix)]
mod at;
pub mod cli;
pub mod config;
#[cfg(unix)]
mod denied;
pub mod df;
mod discover;
mod dist;
pub mod doctor;
mod environments;
mod fs_meta;
mod guard;
pub mod hooks;
mod index_meta;
mod inventory;
mod layout;
mod leftovers;
mod liveness;
mod locate;
mod lock;
mod lock_evidence;
mod lockfile;
mod measure;
mod mounts;
mod objects;
mod parent_uv;
mod paths;
mod per_venv;
mod pipeline;
mod plan;
pub mod pointer;
mod progress;
mod read;
pub mod report;
#[cfg(unix)]
mod rmtree;
mod sdists;
pub mod state;
mod threads;
mod units;
#[cfg(unix)]
mod users;
mod walk;

pub use cli::{Args, PruneArgs, build_report, run};
pub use report::{Candidate, Counts, Live, Report, Status};
