//! Test bed for the by-descriptor deletion tests (`trust_pointers`, `overlayfs`): mounts
//! made with `mount(8)` and undone when dropped, and the tool run under `strace` with its
//! unlinks delayed, so that a co-writer's swap lands deterministically between the
//! tool's check and its act.
//!
//! Included with `#[path]` by the test files that use it (tests/common/mod.rs is shared).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// True when running as root (the owner of /proc/self is the effective uid).
pub fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A mount, undone when dropped (before the sandbox is removed: a recursive delete of the
/// sandbox would otherwise reach into the mounted tree).
pub struct Mount {
    target: PathBuf,
}

impl Mount {
    /// `mount <args> <target>`; panics with mount's stderr if it fails (these tests run
    /// as root, where mounting works).
    pub fn new<S: AsRef<OsStr>>(args: &[S], target: &Path) -> Mount {
        let output = Command::new("mount")
            .args(args)
            .arg(target)
            .output()
            .unwrap_or_else(|e| panic!("run mount: {e}"));
        assert!(
            output.status.success(),
            "mount {:?} {} failed: {}",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
            target.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        Mount {
            target: target.to_owned(),
        }
    }

    /// `mount --bind source target`.
    pub fn bind(source: &Path, target: &Path) -> Mount {
        Mount::new(&[OsStr::new("--bind"), source.as_os_str()], target)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.target)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.target).status();
        }
    }
}

/// True when `strace` runs here and can trace a child.
pub fn strace_works() -> bool {
    Command::new("strace")
        .args(["-qq", "-e", "trace=none", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `cmd` (program, arguments, environment and directory) run under `strace -f`, every
/// `unlink`/`unlinkat` held `delay` at its entry, the trace written to `log`. strace
/// writes a call's entry (`unlinkat(3, "name", 0`) before holding it, so a test that sees
/// the name in `log` knows the tool is inside that call, its arguments fixed, the kernel
/// not yet past the lookup.
pub fn spawn_with_delayed_unlinks(cmd: &Command, log: &Path, delay: Duration) -> Child {
    let mut strace = Command::new("strace");
    strace
        .args(["-f", "-qq", "-o"])
        .arg(log)
        .args(["-e", "trace=unlink,unlinkat", "-e"])
        .arg(format!(
            "inject=unlink,unlinkat:delay_enter={}",
            delay.as_micros()
        ))
        .arg("--");
    let mut strace = testbed::sandbox::wrapping(strace, cmd);
    strace
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {strace:?}: {e}"))
}

/// Waits until `log` holds an unlink call mentioning `needle`; returns that line.
/// Panics after `timeout`.
pub fn wait_for_unlink(log: &Path, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|line| line.contains("unlink") && line.contains(needle))
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no unlink of {needle} within {timeout:?}; trace so far:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
