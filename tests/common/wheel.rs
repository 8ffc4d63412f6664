//! Tiny valid wheels: see `testbed::wheel`.
pub use testbed::wheel::*;
