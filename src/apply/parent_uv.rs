//! Refusing to wait for our own parent: `uvx uv-cache-prune --apply`, `uv run ... --apply`.
//!
//! `uvx` and `uv run` hold a *shared* `flock` on `<cache>/.lock` for as long as the command
//! they start runs (uv 0.13.9: an exclusive `flock` from inside `uv run` fails with
//! `EAGAIN`). So `--apply` there would wait `--lock-timeout` for a lock that only its own
//! exit can free, then fail. Before waiting, [`refuse_if_an_ancestor_holds`] looks the lock
//! file up in `/proc/locks` and, if one of the holders is an ancestor of this process,
//! stops at once with what to run instead. uv marks such children with `UV` in their
//! environment; the message mentions uvx only then, but any ancestor holding the lock is
//! the same deadlock, so the check does not depend on it.
//!
//! Nothing here decides what is deleted: when `/proc` cannot be read or parsed, we say
//! nothing and the caller waits as before (the old behaviour, still safe).

use std::fs::File;
use std::path::Path;

use anyhow::Result;

/// Fails, naming `path` and the way out, when an ancestor of this process holds a `flock`
/// on the open lock file `lock`. Linux only; elsewhere it never fails.
pub fn refuse_if_an_ancestor_holds(lock: &File, path: &Path) -> Result<()> {
    let Some(ancestor) = ancestor_holding(lock) else {
        return Ok(());
    };
    let under_uv = std::env::var_os("UV").is_some();
    let started_by = if under_uv {
        format!(
            "uv (`{}`, pid {}: uvx or uv run)",
            ancestor.name, ancestor.pid
        )
    } else {
        format!("`{}` (pid {})", ancestor.name, ancestor.pid)
    };
    anyhow::bail!(
        "uv-cache-prune was started by {started_by}, which holds a lock on {} until this process ends, so --apply would wait for its own parent; nothing was deleted. Run it outside uv instead: `uv tool install uv-cache-prune`, then `uv-cache-prune --apply`",
        path.display()
    )
}

/// An ancestor process that holds the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ancestor {
    pid: u32,
    /// `/proc/<pid>/comm`, or `pid <n>` when it cannot be read.
    name: String,
}

#[cfg(target_os = "linux")]
fn ancestor_holding(lock: &File) -> Option<Ancestor> {
    let stat = rustix::fs::fstat(lock).ok()?;
    let id = LockedFile {
        major: rustix::fs::major(stat.st_dev),
        minor: rustix::fs::minor(stat.st_dev),
        ino: stat.st_ino,
    };
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let holders = flock_holders(&locks, id);
    if holders.is_empty() {
        return None;
    }
    let me = std::process::id();
    let ancestors = ancestors(me, |pid| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()
    });
    let pid = ancestors.into_iter().find(|pid| holders.contains(pid))?;
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| crate::report::one_line(comm.trim_end()))
        .unwrap_or_else(|_| format!("pid {pid}"));
    Some(Ancestor { pid, name })
}

#[cfg(not(target_os = "linux"))]
fn ancestor_holding(_lock: &File) -> Option<Ancestor> {
    None
}

/// A file as `/proc/locks` names it: the device's major and minor numbers and the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LockedFile {
    major: u32,
    minor: u32,
    ino: u64,
}

/// The pids holding a `FLOCK` on `file`, from the text of `/proc/locks`:
///
/// ```text
/// 1: FLOCK  ADVISORY  READ  12345 fe:00:246951 0 EOF
/// 1: -> FLOCK  ADVISORY  WRITE 12346 fe:00:246951 0 EOF
/// ```
///
/// Device numbers are hex, the inode decimal. `->` lines are waiters, not holders; POSIX
/// and OFD locks are not uv's, and a pid of -1 (a lock without an owner) is nobody's.
fn flock_holders(locks: &str, file: LockedFile) -> Vec<u32> {
    let mut pids = Vec::new();
    for line in locks.lines() {
        let mut fields = line.split_whitespace().skip(1).peekable();
        if fields.peek() == Some(&"->") {
            continue;
        }
        let fields: Vec<&str> = fields.collect();
        let [kind, _advisory, _mode, pid, dev_ino, ..] = fields.as_slice() else {
            continue;
        };
        if *kind != "FLOCK" {
            continue;
        }
        let mut parts = dev_ino.split(':');
        let (Some(major), Some(minor), Some(ino), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let named = u32::from_str_radix(major, 16).ok() == Some(file.major)
            && u32::from_str_radix(minor, 16).ok() == Some(file.minor)
            && ino.parse::<u64>().ok() == Some(file.ino);
        if let (true, Ok(pid)) = (named, pid.parse::<u32>()) {
            pids.push(pid);
        }
    }
    pids
}

/// The ancestors of `pid`, parent first, up to (not including) pid 1, from each process's
/// `/proc/<pid>/stat` as `read_stat` returns it. Bounded, so that a cycle (pid reuse
/// while we walk) cannot loop.
fn ancestors(pid: u32, read_stat: impl Fn(u32) -> Option<String>) -> Vec<u32> {
    let mut found = Vec::new();
    let mut current = pid;
    while found.len() < 256 {
        let Some(parent) = read_stat(current).as_deref().and_then(parent_pid) else {
            break;
        };
        if parent <= 1 || found.contains(&parent) {
            break;
        }
        found.push(parent);
        current = parent;
    }
    found
}

/// The ppid field of `/proc/<pid>/stat`: `pid (comm) state ppid ...`. The comm may hold
/// spaces and parentheses, so fields are counted from the last `)`.
fn parent_pid(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: LockedFile = LockedFile {
        major: 0xfe,
        minor: 0,
        ino: 246951,
    };

    #[test]
    fn holders_are_the_flock_lines_naming_the_file() {
        let locks = "\
1: FLOCK  ADVISORY  READ  100 fe:00:246951 0 EOF
1: -> FLOCK  ADVISORY  WRITE 101 fe:00:246951 0 EOF
2: POSIX  ADVISORY  WRITE 102 fe:00:246951 0 EOF
3: FLOCK  ADVISORY  READ  103 fe:01:246951 0 EOF
4: FLOCK  ADVISORY  READ  104 fe:00:2469510 0 EOF
5: FLOCK  ADVISORY  WRITE 105 fe:00:246951 0 EOF
6: OFDLCK ADVISORY  READ  -1 fe:00:246951 0 EOF
7: FLOCK  ADVISORY  READ  -1 fe:00:246951 0 EOF
garbage
8: FLOCK ADVISORY READ 108 fe:00
";
        assert_eq!(flock_holders(locks, FILE), vec![100, 105]);
    }

    #[test]
    fn ancestors_walk_ppid_up_to_init_and_stop_on_cycles() {
        let stat = |pid: u32| match pid {
            50 => Some("50 (uv-cache-prune) S 40 50 1 0".to_owned()),
            40 => Some("40 (a (weird) name) S 30 40 1 0".to_owned()),
            30 => Some("30 (uv) S 1 30 1 0".to_owned()),
            7 => Some("7 (x) S 8 7".to_owned()),
            8 => Some("8 (y) S 7 8".to_owned()),
            _ => None,
        };
        assert_eq!(ancestors(50, stat), vec![40, 30]);
        assert_eq!(ancestors(7, stat), vec![8, 7]);
        assert_eq!(ancestors(99, stat), Vec::<u32>::new());
    }

    #[test]
    fn a_lock_held_by_nobody_above_us_is_no_refusal() {
        let file = tempfile::tempfile().expect("temp file");
        file.lock_shared().expect("lock it ourselves");
        // We hold it, but we are not our own ancestor.
        assert_eq!(ancestor_holding(&file), None);
    }
}
