//! Reading what `/usr/bin/time` and `strace` print about a probe's run.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::results::Syscalls;

/// `strace -f -qq <options> -o <out> --`: a prefix for a probe's command line.
pub(super) fn strace_wrapper(options: &[&str], out: &Path) -> Vec<OsString> {
    let mut argv: Vec<OsString> = ["strace", "-f", "-qq"].map(OsString::from).to_vec();
    argv.extend(options.iter().map(OsString::from));
    argv.extend(["-o".into(), out.into(), "--".into()]);
    argv
}

/// `%M %U %S`: peak RSS in KiB, user and system seconds.
pub(super) fn parse_time(text: &str) -> Option<(Option<u64>, Option<Duration>)> {
    // The last line: a child that fails makes time print a note first.
    let fields: Vec<&str> = text.lines().last()?.split_whitespace().collect();
    let [rss, user, system] = fields[..] else {
        return None;
    };
    let seconds = |s: &str| s.parse::<f64>().ok().map(Duration::from_secs_f64);
    let cpu = seconds(user)? + seconds(system)?;
    Some((Some(rss.parse().ok()?), Some(cpu)))
}

/// `strace -c` prints `% time, seconds, usecs/call, calls, [errors], syscall` per line.
pub(super) fn parse_strace_counts(text: &str) -> Syscalls {
    const STATS: [&str; 7] = [
        "stat",
        "lstat",
        "newfstatat",
        "fstatat64",
        "statx",
        "stat64",
        "lstat64",
    ];
    let mut syscalls = Syscalls::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let calls = fields.get(3).and_then(|c| c.parse::<u64>().ok());
        let (Some(calls), Some(&name), true) = (calls, fields.last(), fields.len() >= 5) else {
            continue;
        };
        if name == "total" {
            syscalls.total = calls;
            continue;
        }
        if STATS.contains(&name) {
            syscalls.stats += calls;
        }
        syscalls.top.push((name.to_owned(), calls));
    }
    syscalls
        .top
        .sort_by_key(|(_, calls)| std::cmp::Reverse(*calls));
    syscalls.top.truncate(6);
    syscalls
}

/// The path a `strace -y` line looks at: `statx(3</dir>, "name", …)`,
/// `newfstatat(AT_FDCWD, "/path", …)`, `fstat(3</file>, …)`, `statx(3</file>, "", …)`.
pub(super) fn stat_path(line: &str) -> Option<PathBuf> {
    let args = &line[line.find('(')? + 1..];
    let (dir, rest) = match args.strip_prefix("AT_FDCWD, ") {
        Some(rest) => (None, rest),
        None if args.starts_with('"') => (None, args),
        None => {
            let open = args.find('<')?;
            let close = open + args[open..].find('>')?;
            (
                Some(&args[open + 1..close]),
                args[close + 1..].trim_start_matches(", "),
            )
        }
    };
    let name = rest
        .strip_prefix('"')
        .and_then(|r| r.split_once('"'))
        .map(|(name, _)| name)
        .filter(|name| !name.is_empty());
    match (dir, name) {
        (Some(dir), Some(name)) => Some(Path::new(dir).join(name)),
        (Some(dir), None) => Some(dir.into()),
        (None, name) => name.map(PathBuf::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_paths_from_strace_y_lines() {
        for (line, path) in [
            (
                r#"123 statx(3</c/archive-v0/ID/pkg>, "mod.py", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW, STATX_ALL, {}) = 0"#,
                Some("/c/archive-v0/ID/pkg/mod.py"),
            ),
            (
                r#"statx(AT_FDCWD, "/c/archive-v0/ID/x-1.dist-info/METADATA", AT_STATX_SYNC_AS_STAT, STATX_ALL, {}) = 0"#,
                Some("/c/archive-v0/ID/x-1.dist-info/METADATA"),
            ),
            (
                r#"statx(5</c/archive-v0/ID/x-1.dist-info/WHEEL>, "", AT_STATX_SYNC_AS_STAT|AT_EMPTY_PATH, STATX_ALL, {}) = 0"#,
                Some("/c/archive-v0/ID/x-1.dist-info/WHEEL"),
            ),
            (
                r#"fstat(4</etc/ld.so.cache>, {st_mode=S_IFREG|0644}) = 0"#,
                Some("/etc/ld.so.cache"),
            ),
            (
                r#"newfstatat(AT_FDCWD, "/p", {st_mode=S_IFDIR|0755}, 0) = 0"#,
                Some("/p"),
            ),
            ("123 <... statx resumed>{}) = 0", None),
        ] {
            assert_eq!(stat_path(line), path.map(PathBuf::from), "{line}");
        }
    }

    #[test]
    fn reads_strace_counts_and_time() {
        let summary = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 40.00    0.004000           2      2000           statx
 30.00    0.003000           1      1500        12 openat
 10.00    0.001000           1       500           newfstatat
------ ----------- ----------- --------- --------- ----------------
100.00    0.010000           2      4000        12 total
";
        let counts = parse_strace_counts(summary);
        assert_eq!((counts.total, counts.stats), (4000, 2500));
        assert_eq!(counts.top[0], ("statx".to_owned(), 2000));
        assert_eq!(
            parse_time("Command exited with non-zero status 1\n10932 0.02 0.10\n"),
            Some((Some(10932), Some(Duration::from_millis(120))))
        );
    }
}
