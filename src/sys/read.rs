//! Reading files we do not control, without hanging and without unbounded memory.
//!
//! Everything this tool reads (pointers, `METADATA`, `.pth` files, `CACHEDIR.TAG`, the
//! config and state files) lives where other programs, other users or an attacker can put
//! anything: a FIFO (a plain `open` blocks until a writer comes, forever), a symlink to
//! `/dev/zero` (an endless read), a sparse file of many gigabytes. So every read goes
//! through [`read_regular`]:
//!
//! 1. `stat` the path first and refuse anything that is not a regular file, so a device
//!    or socket is never opened at all;
//! 2. open it non-blocking (`O_NONBLOCK`): a FIFO swapped in after the `stat` opens at once
//!    instead of waiting for a writer, and is then refused by the `fstat` of the open file,
//!    which is the check that counts;
//! 3. read at most `limit + 1` bytes, whatever the file claims its size is, and refuse the
//!    file when there are more: the caller's `limit` is what its format can ever need.
//!
//! Symlinks are followed on purpose (a symlink-mode venv's `METADATA` is a symlink into
//! the cache); the checks apply to what they lead to.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// Why [`read_regular`] gave no bytes.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(io::Error),
    /// It is a directory, FIFO, socket or device, not a regular file.
    NotRegular(&'static str),
    /// It holds more than the format can need.
    TooLarge { limit: u64 },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(error) => error.fmt(f),
            ReadError::NotRegular(kind) => write!(f, "not a regular file but a {kind}"),
            ReadError::TooLarge { limit } => {
                write!(
                    f,
                    "larger than the {limit} bytes this kind of file can need"
                )
            }
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> Self {
        ReadError::Io(error)
    }
}

impl ReadError {
    /// The file does not exist (as opposed to existing and being unreadable).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// Reads the regular file at `path` (following symlinks), at most `limit` bytes.
/// Never blocks on a FIFO, never opens a device, never reads past `limit + 1` bytes.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    check_kind(&std::fs::metadata(path)?)?;
    read_open(open_nonblocking(path)?, limit)
}

/// [`read_regular`] for a file whose access time is a fact we read (a cached
/// environment's `pyvenv.cfg` says when it was last used): opened `O_NOATIME`, so that
/// reading it is no use, and never through a symlink. Fails where the kernel refuses
/// `O_NOATIME` (a file of another user, unless we are root).
#[cfg(unix)]
pub fn read_regular_untouched(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use rustix::fs::{Mode, OFlags};
    check_kind(&std::fs::symlink_metadata(path)?)?;
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let untouched = OFlags::NOATIME | OFlags::NOFOLLOW;
    let fd = rustix::fs::open(path, flags | untouched, Mode::empty()).map_err(io::Error::from)?;
    read_open(std::fs::File::from(fd), limit)
}

/// The bytes of `file`, opened by one of the readers above: checked again once open (the
/// path may have changed between the `stat` and the `open`), at most `limit` of them.
fn read_open(file: std::fs::File, limit: u64) -> Result<Vec<u8>, ReadError> {
    let meta = file.metadata()?;
    check_kind(&meta)?;
    // The size is a hint for the allocation, never a promise: the file can grow.
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize + 1);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// [`read_regular`], as UTF-8 text (invalid sequences replaced).
pub fn read_regular_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    read_regular(path, limit).map(|bytes| match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn check_kind(meta: &std::fs::Metadata) -> Result<(), ReadError> {
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    Err(ReadError::NotRegular(kind_name(&kind)))
}

/// A word for a file type, for messages.
pub fn kind_name(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "FIFO";
        }
        if kind.is_socket() {
            return "socket";
        }
        if kind.is_char_device() {
            return "character device";
        }
        if kind.is_block_device() {
            return "block device";
        }
    }
    if kind.is_dir() {
        "directory"
    } else if kind.is_symlink() {
        "symlink"
    } else if kind.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    Ok(std::fs::File::from(fd))
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<std::fs::File> {
    std::fs::File::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_small_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read_regular(&path, 5).unwrap(), b"hello");
    }

    #[test]
    fn refuses_a_file_one_byte_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello!").unwrap();
        assert!(matches!(
            read_regular(&path, 5),
            Err(ReadError::TooLarge { limit: 5 })
        ));
    }

    #[test]
    fn refuses_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_regular(dir.path(), 5),
            Err(ReadError::NotRegular("directory"))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn never_blocks_on_a_fifo_or_reads_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(matches!(
            read_regular(&fifo, 5),
            Err(ReadError::NotRegular("FIFO"))
        ));
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(matches!(
            read_regular(&zero, 5),
            Err(ReadError::NotRegular("character device"))
        ));
    }

    #[test]
    fn a_sparse_giant_costs_limit_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(4 << 30).unwrap();
        assert!(matches!(
            read_regular(&path, 1024),
            Err(ReadError::TooLarge { limit: 1024 })
        ));
    }
}

/// A path this run could not read, and why: wherever it is, it could hide what keeps an
/// archive, so it is doubt (a blind spot) unless the user says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlindSpot {
    /// What could not be read.
    pub path: std::path::PathBuf,
    /// Why, in words (the error, or what was found instead).
    pub cause: String,
}

impl BlindSpot {
    /// `path` could not be read because of `cause`.
    pub fn new(path: impl Into<std::path::PathBuf>, cause: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            cause: cause.into(),
        }
    }
}
