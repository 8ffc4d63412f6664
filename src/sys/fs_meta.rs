//! The few facts we need from an `lstat`, in one place so the Unix-only parts have a
//! single home. Without Unix metadata (Windows) there is no inode identity: hardlink
//! evidence is then unavailable and the `nlink` safety net reports "doubt" instead, so
//! the tool stays conservative rather than wrong.

use std::fs::Metadata;

/// `(st_dev, st_ino)`: what makes two paths the same file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// What the byte count and the link checks need of one directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryStat {
    pub id: Option<FileId>,
    pub nlink: u64,
    /// Allocated bytes (`st_blocks * 512`), what `du -B1` counts.
    pub allocated: u64,
    pub is_dir: bool,
    /// The size in bytes of a regular file (`None` for anything else): lets a content
    /// comparison rule out a match from a `stat` it already has.
    pub len: Option<u64>,
}

#[cfg(unix)]
pub fn entry_stat(meta: &Metadata) -> EntryStat {
    use std::os::unix::fs::MetadataExt;
    EntryStat {
        id: Some(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }),
        nlink: meta.nlink(),
        allocated: meta.blocks() * 512,
        is_dir: meta.is_dir(),
        len: meta.is_file().then_some(meta.len()),
    }
}

#[cfg(not(unix))]
pub fn entry_stat(meta: &Metadata) -> EntryStat {
    EntryStat {
        id: None,
        // Unknown link count: treat every file as possibly shared.
        nlink: u64::MAX,
        allocated: meta.len(),
        is_dir: meta.is_dir(),
        len: meta.is_file().then_some(meta.len()),
    }
}
