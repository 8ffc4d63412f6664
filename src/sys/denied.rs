//! Changes the filesystem refused for lack of permission (`EACCES`, `EPERM`, `EROFS`):
//! what counts as one ([`is_denied`]) and where it happened ([`Denied`]), so that the
//! callers that delete (`rmtree`, the apply stage, the leftovers) can report it rather
//! than fail, and say what to do about it (`crate::apply::advice`).

use std::path::PathBuf;

use rustix::io::Errno;

/// One directory where a change was refused, and the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The directory whose permission was missing: the one an entry was to be removed
    /// from or renamed in, or one that could not be opened on the way.
    pub dir: PathBuf,
    pub err: Errno,
}

/// True for the errors that say "you may not change this": no write or search
/// permission, an owner-only operation (a sticky directory, an immutable file), a
/// read-only filesystem.
pub fn is_denied(err: Errno) -> bool {
    matches!(err, Errno::ACCESS | Errno::PERM | Errno::ROFS)
}

/// `denied` with each directory once, in the order first seen.
pub fn distinct(denied: &[Denied]) -> Vec<&Denied> {
    let mut seen: Vec<&Denied> = Vec::new();
    for d in denied {
        if !seen.iter().any(|s| s.dir == d.dir) {
            seen.push(d);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn names_each_directory_once() {
        let denied = |dir: &str| Denied {
            dir: PathBuf::from(dir),
            err: Errno::ACCESS,
        };
        let all = [denied("/a"), denied("/b"), denied("/a")];
        let dirs: Vec<&Path> = distinct(&all).iter().map(|d| d.dir.as_path()).collect();
        assert_eq!(dirs, [Path::new("/a"), Path::new("/b")]);
        assert!(is_denied(Errno::PERM) && !is_denied(Errno::NOENT));
    }
}
