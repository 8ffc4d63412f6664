//! Facts computed without asking the tool: see `testbed::ground_truth`.
pub use testbed::ground_truth::*;
