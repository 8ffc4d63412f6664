//! uv-cache-prune: free disk space in uv's cache by removing unpacked wheels
//! (`archive-v0/<id>`) that no live virtualenv uses.
//!
//! The pipeline, one module per stage, each handing a typed value to the next; the
//! driver, `pipeline`, runs them in order from typed `Settings` (its `Mode` says dry run,
//! apply or hook), and `cli` only turns flags and the config into those settings.
//!
//! | stage | module | output |
//! |---|---|---|
//! | 1. locate the cache, prove it is one | `locate` | `CacheDir` |
//! | 2. inventory archives and pointers | `inventory` | `Inventory` |
//! | 3. discover venvs, sites and `uv.lock` files under roots, `$HOME` among them | `discover` (`walk`, `mounts`) | `RootScan` |
//! | 4. match venv dists and locked packages to archives | `liveness` (`dist`, `pointer`), `lock_evidence` (`lockfile`) | `Evidence` per archive |
//! | 5. plan: fates, bytes, each candidate's pointers | `plan` (`measure`, `objects`, `per_venv`) | `Plan` |
//! | 6. apply the plan alone, under uv's lock (`lock`; `parent_uv` refuses to wait for our own uvx), within `guard`'s rules | `apply` (`rmtree`) | `Removal` |
//! | 7. report | [`report`] (`json`, `human`, `explain`, `summary`) | [`Report`] |
//!
//! Beside the stages: `layout` (every name in uv's cache: buckets, the lock, the trash
//! prefix), `paths` (the XDG base directories), `units` (durations, sizes, byte counts),
//! `read` (bounded reads of files we do not control), `threads` (the `--threads` work
//! split), `at` (the descriptor-relative calls), `fs_meta`, `progress`, `archive_id`, [`config`], [`state`] (registry, last
//! use), [`hooks`], [`doctor`]. `docs/architecture.md` in the repository
//! follows one archive through all of it; `docs/uv-cache.md` says what of uv's format
//! this relies on, and `docs/json-schema.md` what `--json` prints.
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
pub mod df;
mod discover;
mod dist;
pub mod doctor;
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
