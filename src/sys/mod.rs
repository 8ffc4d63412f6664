//! The low-level primitives every stage shares, each hiding one system interface:
//! descriptor-relative calls (`at`), what counts as a refusal for lack of permission
//! (`denied`), the few `lstat` facts needed (`fs_meta`), bounded reads
//! of files we do not control (`read`), the directory walk (`walk`), deleting a tree by
//! descriptor (`rmtree`), the mount table (`mounts`), the per-user base directories
//! (`paths`), and independent work on several threads with results in input order
//! (`threads`). None of them knows what uv is.

#[cfg(unix)]
pub(crate) mod at;
#[cfg(unix)]
pub(crate) mod denied;
pub(crate) mod fs_meta;
pub(crate) mod mounts;
pub(crate) mod paths;
pub(crate) mod read;
#[cfg(unix)]
pub(crate) mod rmtree;
pub(crate) mod threads;
pub(crate) mod walk;
