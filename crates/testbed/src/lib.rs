//! The one test bed of uv-cache-prune: what the integration tests (`tests/`), the soak
//! (`cargo xtask soak`) and the bench (`cargo xtask bench`) build their worlds with.
//!
//! Why real uv and not hand-made cache trees: the pruner's whole job is to agree with uv's
//! on-disk formats (pointer files, link modes, cached environments), and those drift between
//! releases. Hand-made trees would only test our own reading of the format. So each scenario
//! builds wheels ([`wheel`]), installs them with pinned uv releases ([`uv`]), from a
//! find-links dir or a loopback index ([`index`]), in a [`sandbox`] that no command can
//! leave, then checks the tool's answer against facts computed independently of it
//! ([`ground_truth`]); [`users`] makes the other people on the machine.
//!
//! Why one crate: the harness that proves the safety claims must be one harness. Two copies
//! of the sandbox had already drifted (they stripped different proxy variables) and the uv
//! pins were written in three places. This crate is dev-only (`publish = false`): the
//! published crate never needs it.

pub mod ground_truth;
pub mod index;
pub mod sandbox;
pub mod users;
pub mod uv;
pub mod wheel;
