//! The descriptor-relative calls (`openat`, `statx`/`fstatat`) that the measuring walk
//! (`measure`), deletion (`rmtree`) and the archive-directory guard (`guard`) share.
//!
//! Two reasons to name a file by a directory descriptor and one component instead of by
//! its full path. Safety: a path is resolved again at every use, and a shared cache has
//! other writers who can swap a directory for a symlink between two uses; a descriptor
//! pins the directory. Speed: the kernel resolves every component of a path on every
//! call, so a `lstat` of `<cache>/archive-v0/<id>/pkg/sub/file.py` costs a dentry lookup
//! per component; the same call relative to the open `sub` costs one, as `du` does it.

use std::ffi::CStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags};
#[cfg(target_os = "linux")]
use rustix::io::Errno;

use crate::sys::fs_meta::{EntryStat, FileId};

/// What identifies the mount a directory is on: `st_dev`, and on Linux the mount id
/// (a bind mount of a directory of the same filesystem has the same `st_dev`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountKey {
    dev: u64,
    mnt_id: Option<u64>,
}

impl MountKey {
    /// Same mount: the same device and, where both are known, the same mount id.
    pub fn same(self, other: MountKey) -> bool {
        self.dev == other.dev
            && match (self.mnt_id, other.mnt_id) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// The facts about an open directory the walk needs.
#[derive(Debug, Clone, Copy)]
pub struct DirStat {
    pub mount: MountKey,
    pub mode: u32,
    /// Allocated bytes (`st_blocks * 512`).
    pub allocated: u64,
    pub dev: u64,
    pub ino: u64,
}

/// `fstat` of an open directory, with the mount id where the kernel gives it.
pub fn dir_stat(fd: BorrowedFd<'_>) -> io::Result<DirStat> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::StatxFlags;
        let wanted = StatxFlags::BASIC_STATS | StatxFlags::MNT_ID;
        match rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, wanted) {
            Ok(stx) => {
                let dev = rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor);
                let has_mnt_id = stx.stx_mask & StatxFlags::MNT_ID.bits() != 0;
                return Ok(DirStat {
                    mount: MountKey {
                        dev,
                        mnt_id: has_mnt_id.then_some(stx.stx_mnt_id),
                    },
                    mode: u32::from(stx.stx_mode),
                    allocated: stx.stx_blocks * 512,
                    dev,
                    ino: stx.stx_ino,
                });
            }
            // Kernels before statx (3.x): the device alone tells mounts apart.
            Err(Errno::NOSYS) => {}
            Err(err) => return Err(err.into()),
        }
    }
    let st = rustix::fs::fstat(fd)?;
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    let (dev, ino, mode, blocks) = (
        st.st_dev as u64,
        st.st_ino as u64,
        st.st_mode as u32,
        st.st_blocks as u64,
    );
    Ok(DirStat {
        mount: MountKey { dev, mnt_id: None },
        mode,
        allocated: blocks * 512,
        dev,
        ino,
    })
}

/// Opens `name` in `parent` as a directory, never following a symlink.
pub fn open_dir(parent: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(parent, name, flags, Mode::empty())
}

/// `lstat` of `name` in `dir` (a symlink is not followed): what the byte count and the
/// link checks need. A plain `fstatat`: a file's mount is never needed (a directory's
/// comes from [`dir_stat`] once it is open), and asking `statx` for less saves nothing.
pub fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<EntryStat> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    let (dev, ino, nlink, blocks, mode, size) = (
        st.st_dev as u64,
        st.st_ino as u64,
        st.st_nlink as u64,
        st.st_blocks as u64,
        st.st_mode as u32,
        st.st_size as u64,
    );
    let kind = rustix::fs::FileType::from_raw_mode(mode);
    Ok(EntryStat {
        id: Some(FileId { dev, ino }),
        nlink,
        allocated: blocks * 512,
        is_dir: kind == rustix::fs::FileType::Directory,
        len: (kind == rustix::fs::FileType::RegularFile).then_some(size),
    })
}
