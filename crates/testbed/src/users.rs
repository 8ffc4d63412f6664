//! Other people on the machine: an unprivileged user made with `useradd` for one test,
//! removed when it is dropped.
//!
//! Why: the tool is run as root (a cron job, a CI runner, `sudo -E`) against caches and
//! state directories that belong to someone else, and on caches several users write. Those
//! boundaries can only be tested with real users and real permissions, so these tests need
//! root; elsewhere [`TestUser::create`] returns `None` after printing why the test is
//! skipped (CI runs as root, so there they always run).

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// True when running as root; otherwise prints that `test` is skipped and why.
pub fn root_or_skip(test: &str) -> bool {
    let root = effective_uid() == 0;
    if !root {
        eprintln!("skipped {test}: it needs root (useradd, chown, mounts); CI runs it as root");
    }
    root
}

/// A Python every user can run: the test bed's own one may live under root's private home.
pub fn shared_python() -> PathBuf {
    for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    crate::sandbox::python()
}

/// A user made for one test (`useradd --no-create-home`, its own private group).
#[derive(Debug)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl TestUser {
    /// Makes a new user whose name starts with `tag`; `None` (with a message) unless root.
    pub fn create(tag: &str) -> Option<TestUser> {
        if !root_or_skip(tag) {
            return None;
        }
        static SEQ: AtomicU32 = AtomicU32::new(0);
        // Names are at most 32 bytes; the pid and a counter keep parallel tests apart.
        let short: String = tag
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        let name = format!(
            "ucp{}{}x{}",
            short.to_ascii_lowercase(),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let status = Command::new("useradd")
            .args([
                "--no-create-home",
                "--user-group",
                "--shell",
                "/bin/sh",
                &name,
            ])
            .status()
            .expect("run useradd");
        assert!(status.success(), "useradd {name} failed: {status}");
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .arg(flag)
                .arg(&name)
                .output()
                .expect("run id");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("id {flag} {name}: {e}"))
        };
        let (uid, gid) = (id("-u"), id("-g"));
        Some(TestUser { name, uid, gid })
    }

    /// Sets `cmd` to run as this user (uid, primary gid, no supplementary groups).
    pub fn command<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        // std drops root's supplementary groups itself when it sets the uid.
        cmd.uid(self.uid).gid(self.gid);
        cmd.env("USER", &self.name).env("LOGNAME", &self.name)
    }

    /// Runs `cmd` as this user and returns its output, whatever the status.
    pub fn output(&self, cmd: &mut Command) -> Output {
        self.command(cmd)
            .output()
            .unwrap_or_else(|e| panic!("run {cmd:?} as {}: {e}", self.name))
    }

    /// Runs `cmd` as this user and panics, with its stderr, unless it succeeds.
    pub fn ok(&self, cmd: &mut Command) -> Output {
        let out = self.output(cmd);
        assert!(
            out.status.success(),
            "as {}: {cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Makes `home` this user's home in the password database (`usermod -d`): the tool
    /// counts a user as seen by a root run only when `$HOME` is that user's home there.
    pub fn set_home(&self, home: &Path) {
        let status = Command::new("usermod")
            .arg("-d")
            .arg(home)
            .arg(&self.name)
            .status()
            .expect("run usermod");
        assert!(
            status.success(),
            "usermod -d {} {}",
            home.display(),
            self.name
        );
    }

    /// `chown -R` of `path` to this user and its group, not following symlinks.
    pub fn give(&self, path: &Path) {
        let status = Command::new("chown")
            .arg("-R")
            .arg("-h")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .status()
            .expect("run chown");
        assert!(
            status.success(),
            "chown -R {} {}",
            self.name,
            path.display()
        );
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // Processes the test left (a uv still running) would make userdel refuse.
        let _ = Command::new("pkill")
            .arg("-KILL")
            .arg("-u")
            .arg(&self.name)
            .status();
        let _ = Command::new("userdel").arg(OsStr::new(&self.name)).status();
    }
}

/// Lets every user walk into `dir` and its ancestors below the temp dir (a sandbox's temp
/// dir is 0700); nothing above the temp dir is changed.
pub fn open_path_to(dir: &Path) {
    let top = std::env::temp_dir();
    let mut next = Some(dir);
    while let Some(path) = next.filter(|p| p.starts_with(&top) && *p != top) {
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o011 != 0o011 {
                let _ =
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o011));
            }
        }
        next = path.parent();
    }
}

unsafe extern "C" {
    fn geteuid() -> u32;
}

/// The effective user id of the test process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { geteuid() }
}
