//! What to tell the person when `--apply` could not change part of the cache for lack of
//! permission ([`crate::sys::denied`]): one sentence per directory, saying why and what to
//! do about it.
//!
//! A cache, or part of it, can belong to someone else (a `sudo uv ...` that made a
//! root-owned directory in a user's cache, a CI cache restored by root), be read-only
//! (`chmod -R a-w`), or sit on a read-only mount. The apply stage then removes what it
//! may and keeps the rest whole (see `crate::apply`); this says what would let the next
//! run finish: run as the cache's owner, give a directory back, make it writable, or
//! remount.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::io::Errno;

use crate::sys::denied::{Denied, distinct};

/// Directories [`advice`] speaks of; the rest are counted.
const ADVISED: usize = 3;

/// What to do, one sentence per directory (at most [`ADVISED`], then a count), naming
/// paths as they are: escape them for a terminal. `cache_root` is the cache's own
/// directory, whose owner is who should prune it.
pub fn advice(denied: &[Denied], cache_root: &Path) -> Vec<String> {
    let dirs = distinct(denied);
    let me = crate::discover::users::effective_uid();
    let cache_owner = std::fs::symlink_metadata(cache_root).ok().map(|m| m.uid());
    let mut lines: Vec<String> = dirs
        .iter()
        .take(ADVISED)
        .map(|d| advise(&d.dir, d.err, me, cache_owner))
        .collect();
    if dirs.len() > ADVISED {
        lines.push(format!(
            "and {} more directories alike (the report's `live` names each kept archive's)",
            dirs.len() - ADVISED
        ));
    }
    lines
}

/// Why `dir` refused a change, and what to do about it, as one sentence (raw: the
/// human views escape it, the JSON carries it whole).
fn advise(dir: &Path, err: Errno, me: u32, cache_owner: Option<u32>) -> String {
    let shown = dir.display();
    if err == Errno::ROFS {
        return format!(
            "{shown} is on a read-only filesystem: run where the cache is mounted read-write"
        );
    }
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return format!("{shown}: {err}; check its permissions and run again");
    };
    let mode = meta.mode() & 0o7777;
    let owner = meta.uid();
    if owner != me {
        let (who, name) = described(owner);
        let (_, my_name) = described(me);
        return if cache_owner == Some(owner) {
            format!(
                "{shown} belongs to {who}, who owns the cache: run the prune as the cache's owner, \
                 {name} (sudo -u {name} uv-cache-prune --apply)"
            )
        } else if cache_owner == Some(me) {
            format!(
                "{shown} belongs to {who}, though the cache is yours (a uv run with sudo?): \
                 make it yours again (sudo chown -R {my_name} {shown}) and run again"
            )
        } else {
            format!(
                "{shown} belongs to {who}, not to you: run the prune as its owner, {name}, \
                 or have it made writable for you"
            )
        };
    }
    if mode & 0o300 != 0o300 {
        return format!(
            "{shown} is yours but not writable (mode {mode:04o}): chmod -R u+w {shown} and run again"
        );
    }
    format!(
        "{shown}: {err} although it is yours and writable (mode {mode:04o}): check for an ACL, \
         an immutable flag (lsattr) or a security module, and run again"
    )
}

/// `name (uid N)` and the bare name (or the number, for an id without an account).
fn described(uid: u32) -> (String, String) {
    let who = crate::discover::users::describe_uid(uid);
    let name = match who.split_once(" (uid ") {
        Some((name, _)) => name.to_owned(),
        None => uid.to_string(),
    };
    (who, name)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn says_what_to_do_for_a_read_only_directory_of_ones_own() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("wheels-v8");
        std::fs::create_dir(&bucket).unwrap();
        std::fs::set_permissions(&bucket, std::fs::Permissions::from_mode(0o555)).unwrap();
        let me = crate::discover::users::effective_uid();
        let line = advise(&bucket, Errno::ACCESS, me, Some(me));
        assert_eq!(
            line,
            format!(
                "{} is yours but not writable (mode 0555): chmod -R u+w {} and run again",
                bucket.display(),
                bucket.display()
            )
        );
        let line = advise(&bucket, Errno::ROFS, me, Some(me));
        assert!(
            line.ends_with(
                "is on a read-only filesystem: run where the cache is mounted read-write"
            ),
            "{line}"
        );
    }
}
