//! The test bed shared by every scenario, as the test files name it: a thin facade over the
//! `testbed` crate (crates/testbed), the one harness the tests, the soak and the bench
//! share. What is here and not there needs Cargo's test-only variables
//! (`CARGO_BIN_EXE_uv-cache-prune`, `CARGO_TARGET_TMPDIR`) or reads the tool's report.
//!
//! Each test binary compiles this module on its own and uses only part of it, hence the
//! `dead_code` and `unused_imports` allowances.
#![allow(dead_code, unused_imports)]

pub mod cached_envs;
pub mod deadline;
pub mod ground_truth;
pub mod index;
pub mod locked;
pub mod report;
pub mod shared_wheel;
pub mod users;
pub mod uv_bin;
pub mod wheel;

use std::ops::Deref;

pub use ground_truth::{
    Pointer, all_archives, archive_named_by, archive_problems, archives_of, assert_same_snapshot,
    cache_pointers, dist_info_records, du_bytes, files_with_extension, pointer_problems,
    record_problems, snapshot, trash_entries, venv_archives,
};
pub use index::IndexServer;
pub use report::*;
pub use testbed::sandbox::{
    LinkMode, SavedState, Source, apply_args, delete, describe, path_str, plan_args, python,
    run_ok, seeded_rng, set_mode, site_packages,
};
pub use uv_bin::{uv, uv_old};

/// [`testbed::sandbox::Sandbox`] running this package's `uv-cache-prune` binary.
pub struct Sandbox(testbed::sandbox::Sandbox);

impl Sandbox {
    pub fn new() -> Sandbox {
        let tool = std::path::Path::new(env!("CARGO_BIN_EXE_uv-cache-prune"));
        Sandbox(testbed::sandbox::Sandbox::with_tool(tool))
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for Sandbox {
    type Target = testbed::sandbox::Sandbox;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
