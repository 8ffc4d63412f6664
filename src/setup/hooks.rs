//! Installing the git hook shims (`hooks/uv-cache-prune.sh`) into a user's repository.
//!
//! Hooks go where git looks for them, `git rev-parse --git-path hooks`, so linked
//! worktrees (which share the main repository's hooks) and `core.hooksPath` work. A hook
//! already there is not overwritten: it is renamed beside ours as
//! `<hook>.uv-cache-prune-chained`, and our shim runs it first with the same arguments
//! and stdin and exits with its status. Installing twice changes nothing; uninstalling
//! removes our shim and renames the chained hook back, so the original returns byte for
//! byte (a rename never touches content or mode).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::report::safe_path;

/// The shim, compiled in so the binary can install it anywhere.
pub const SHIM: &str = include_str!("../../hooks/uv-cache-prune.sh");
/// The hooks we install.
pub const HOOKS: [&str; 2] = ["post-checkout", "post-merge"];
/// Every shim text a release of this tool has installed, the current one first: a hook is
/// ours only if it is byte for byte one of these. A user's hook that merely mentions the
/// shim (or a copy of it someone edited) is theirs: it is chained, never overwritten or
/// deleted. A release that changes the shim adds the previous text here, so that
/// reinstalling updates it in place.
const SHIMS: [&str; 1] = [SHIM];
/// No shim is longer than this; a larger hook is not ours, without reading it all.
const SHIM_LIMIT: u64 = 64 << 10;
const CHAINED_SUFFIX: &str = ".uv-cache-prune-chained";

/// Where git looks for `repo`'s hooks.
pub fn hooks_dir(repo: &Path) -> Result<PathBuf> {
    git_path(repo, "hooks")
}

/// `git rev-parse --git-path <path>` run in `repo`: where git itself reads or writes that
/// file. The answer is taken byte for byte, less the one newline git ends it with: a
/// `core.hooksPath` may end in a space or hold bytes that are not UTF-8, and trimming or
/// decoding it would name another directory, one git never runs hooks from. A relative
/// answer is relative to where git ran, `repo`.
fn git_path(repo: &Path, path: &str) -> Result<PathBuf> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--git-path", path])
        .output()
        .with_context(|| {
            format!(
                "cannot run git in {}; is git installed and on PATH?",
                repo.display()
            )
        })?;
    if !output.status.success() {
        bail!(
            "{} is not a git repository: {}",
            repo.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let mut bytes = output.stdout;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    if bytes.is_empty() {
        bail!(
            "git printed nothing for `git rev-parse --git-path {path}` in {}; \
             check the repository with `git status`",
            repo.display()
        );
    }
    let dir = path_from_bytes(bytes);
    Ok(if dir.is_absolute() {
        dir
    } else {
        repo.join(dir)
    })
}

#[cfg(unix)]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}

/// Checks that the hook we wrote at `hook` is the file git runs for `name`: git's own
/// answer for `hooks/<name>` must be the same file (device and inode). A hook git never
/// runs would look installed and silently do nothing.
fn check_git_runs(repo: &Path, name: &str, hook: &Path) -> Result<()> {
    let theirs = git_path(repo, &format!("hooks/{name}"))?;
    let same = match (std::fs::metadata(hook), std::fs::metadata(&theirs)) {
        (Ok(ours), Ok(git)) => same_file(&ours, &git),
        _ => false,
    };
    if !same {
        bail!(
            "installed {}, but git runs {} instead; check core.hooksPath \
             (`git config --show-origin core.hooksPath`) and install again",
            hook.display(),
            theirs.display()
        );
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}

/// Whether `path` is our shim: a regular file (not a symlink to one, which may be shared)
/// holding exactly a shim's text. Read without blocking, so a FIFO there is not ours.
fn is_ours(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
        && crate::sys::read::read_regular(path, SHIM_LIMIT)
            .is_ok_and(|bytes| SHIMS.iter().any(|shim| bytes == shim.as_bytes()))
}

fn chained(hook: &Path) -> PathBuf {
    let mut name = hook.as_os_str().to_owned();
    name.push(CHAINED_SUFFIX);
    PathBuf::from(name)
}

/// Installs both shims in `repo`; returns a line per hook saying what was done.
pub fn install(repo: &Path) -> Result<Vec<String>> {
    let dir = hooks_dir(repo)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut done = Vec::new();
    for name in HOOKS {
        let hook = dir.join(name);
        let exists = std::fs::symlink_metadata(&hook).is_ok();
        let what = if exists && is_ours(&hook) {
            "updated"
        } else if exists {
            let old = chained(&hook);
            if std::fs::symlink_metadata(&old).is_ok() {
                bail!(
                    "cannot chain {}: {} already exists; remove one of them first",
                    hook.display(),
                    old.display()
                );
            }
            std::fs::rename(&hook, &old)
                .with_context(|| format!("cannot move {} aside", hook.display()))?;
            "installed (the existing hook still runs first)"
        } else {
            "installed"
        };
        write_executable(&hook, SHIM)?;
        check_git_runs(repo, name, &hook)?;
        done.push(format!("{what}: {}", safe_path(&hook)));
    }
    Ok(done)
}

/// Removes our shims from `repo` and puts back what they replaced.
pub fn uninstall(repo: &Path) -> Result<Vec<String>> {
    let dir = hooks_dir(repo)?;
    let mut done = Vec::new();
    for name in HOOKS {
        let hook = dir.join(name);
        if !is_ours(&hook) {
            done.push(left_alone(&hook));
            continue;
        }
        std::fs::remove_file(&hook).with_context(|| format!("cannot remove {}", hook.display()))?;
        let old = chained(&hook);
        if std::fs::symlink_metadata(&old).is_ok() {
            std::fs::rename(&old, &hook)
                .with_context(|| format!("cannot restore {}", old.display()))?;
            done.push(format!("restored the previous hook: {}", safe_path(&hook)));
        } else {
            done.push(format!("removed: {}", safe_path(&hook)));
        }
    }
    Ok(done)
}

/// What uninstalling says of a hook that is not our shim: someone else's, left alone; or
/// none at all (uninstalled already), with the hook ours replaced if it is still beside
/// it, since running it again is then the user's call.
fn left_alone(hook: &Path) -> String {
    if std::fs::symlink_metadata(hook).is_ok() {
        return format!("not ours, left alone: {}", safe_path(hook));
    }
    let old = chained(hook);
    if std::fs::symlink_metadata(&old).is_ok() {
        return format!(
            "no uv-cache-prune hook at {}; nothing to remove, but the hook it replaced is \
             still at {}: rename it back to run it again",
            safe_path(hook),
            safe_path(&old)
        );
    }
    format!(
        "no uv-cache-prune hook at {}; nothing to remove",
        safe_path(hook)
    )
}

/// Which of our hooks are installed in `repo`.
pub fn installed(repo: &Path) -> Result<Vec<PathBuf>> {
    let dir = hooks_dir(repo)?;
    Ok(HOOKS
        .iter()
        .map(|name| dir.join(name))
        .filter(|hook| is_ours(hook))
        .collect())
}

/// Writes `text` to a temp file beside `path` and renames it over, mode 0755: git never
/// sees a half-written hook.
fn write_executable(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().context("hook path has a parent")?;
    let temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::fs::write(temp.path(), text)
        .with_context(|| format!("cannot write {}", temp.path().display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    temp.persist(path)
        .with_context(|| format!("cannot install {}", path.display()))?;
    Ok(())
}
