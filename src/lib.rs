//! uv-cache-prune: free disk space in uv's cache by removing unpacked wheels
//! (`archive-v0/<id>`) that no live virtualenv uses.
//!
//! The pipeline, one module per stage, each handing a typed value to the next:
//!
//! | stage | module | output |
//! |---|---|---|
//! | 1. locate the cache, prove it is one | [`locate`] | [`locate::CacheDir`] |
//! | 2. inventory archives and pointers | [`inventory`] | [`inventory::Inventory`] |
//! | 3. discover venvs under roots | [`discover`] | [`discover::RootScan`] |
//! | 4. match venv dists to archives | [`liveness`] | [`liveness::Evidence`] per archive |
//! | 5. plan: live, dead, bytes | [`plan`] | [`plan::Plan`] |
//! | 6. apply, under uv's lock ([`lock`]), within the rules of [`guard`] | [`apply`] | [`apply::Removal`] |
//! | 7. report | [`report`] | [`report::Report`] (human or JSON) |
//!
//! "Why was this archive kept?" is answered in [`liveness`] (evidence) and [`plan`]
//! (grace, `nlink`). Embedding in another repository's xtask:
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

pub mod apply;
pub mod archive_id;
pub mod cli;
pub mod config;
pub mod discover;
pub mod dist;
pub mod doctor;
pub mod fs_meta;
pub mod guard;
pub mod hooks;
pub mod inventory;
pub mod liveness;
pub mod locate;
pub mod lock;
mod mounts;
mod objects;
pub mod per_venv;
pub mod plan;
pub mod pointer;
pub mod progress;
pub mod read;
pub mod report;
#[cfg(unix)]
pub(crate) mod rmtree;
pub mod state;
mod walk;

pub use cli::{Args, PruneArgs, build_report, run};
