//! Setting the tool up where people run it: the git hook shims (`hooks`) and the checks of
//! `uv-cache-prune doctor` (`doctor`).

pub mod doctor;
pub mod hooks;
