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
#![warn(unnameable_types)]

// One folder per concern (docs/architecture.md's module map says which is which). Every
// module is private: the face is the `pub use` list below, so that what an embedder can
// name is a decision, not an accident of layout.
mod apply;
mod buckets;
mod cache;
mod cli;
mod discover;
mod evidence;
mod pipeline;
mod plan;
mod report;
mod setup;
mod state;
mod sys;
mod units;
mod warning;

pub use buckets::environments::EnvironmentKind;
pub use buckets::leftovers::OtherKind;
pub use cache::archive_id::ArchiveId;
pub use cache::locate::CacheSource;
pub use cli::{
    Args, BIN_NAME, Command, DoctorArgs, InstallHooksArgs, PruneArgs, RootsCommand, UsageError,
    VERSION, build_report, command, exit_status, report_error, run,
};
pub use discover::RootOrigin;
pub use evidence::EvidenceKind;
pub use plan::Selection;
pub use plan::per_venv::VenvShare;
pub use report::ColorChoice;
pub use report::{
    Candidate, Counts, Environment, EvidenceJson, Explained, HeldBack, Incomplete, LeftoverTrash,
    Live, LockHolder, NotSearchedMount, OtherCandidate, Others, Report, Root, Status, human_bytes,
};
pub use setup::doctor::report as doctor;
pub use sys::mounts::MountClass;
pub use units::Size;
pub use warning::{Warning, WarningKind};

/// The pointer decoder, for the fuzz test in `tests/fuzz_pointer.rs`, which needs a test
/// binary of its own (it counts every allocation). Not part of the supported face; it may
/// change in any release.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::cache::pointer::{
        ArchiveRecord, PointerKind, Sha256, Target, decode, decode_record, ids_mentioned,
    };
}
