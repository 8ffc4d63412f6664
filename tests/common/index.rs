//! The loopback PEP 503 index: see `testbed::index`.
pub use testbed::index::*;
