//! Other users on the machine, made for one test: see `testbed::users`.
pub use testbed::users::*;
