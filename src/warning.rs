//! Warnings: what a run could not do, or did not expect, each of one kind. Every stage
//! pushes typed warnings; only `report/` renders them (a line on stderr, the JSON's
//! `warnings` and `warning_kinds`). The kind lets a script or a test tell "a part of a
//! root could not be read" from "a lock file does not parse" without matching sentences.

use std::fmt;

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Warning {
    /// What kind of trouble.
    pub kind: WarningKind,
    /// The sentence a person reads: the path, the cause, what to do.
    pub message: String,
}

/// The kinds of warning, as the JSON's `warning_kinds` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WarningKind {
    /// A file or directory could not be read (in the cache, under a root, a lock file).
    Unreadable,
    /// A mount under a root was not searched (network, FUSE, unknown).
    NotSearched,
    /// A root named by a flag, the config or the registry is not there.
    MissingRoot,
    /// Our own state (the registry, the last-use record) is damaged or cannot be written.
    State,
    /// A `uv.lock` that does not parse.
    Lockfile,
    /// The cache is shared with users this run cannot see.
    SharedCache,
    /// Something in the cache this tool does not know, left alone.
    Unexpected,
    /// Something `--apply` left in place: a pointer it refused, trash it could not delete.
    LeftInPlace,
    /// A fact of the filesystem that changes what a prune frees or sees (overlayfs, noatime).
    Filesystem,
    /// A policy that cannot be met (`--max-size` below what live archives hold).
    Policy,
}

impl Warning {
    /// A warning of `kind` saying `message`.
    pub fn new(kind: WarningKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl Warning {
    /// A blind spot: `what` could not be seen. With `keeps` (no
    /// `--allow-unreadable-roots`), every archive is kept for it, and the sentence says so
    /// and how to prune anyway: the one wording of that fact, wherever it arises.
    pub fn blind_spot(kind: WarningKind, what: String, keeps: bool) -> Self {
        let tail = if keeps {
            "; every archive is kept (--allow-unreadable-roots to prune anyway)"
        } else {
            ""
        };
        Self::new(kind, format!("{what}{tail}"))
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
