//! Sets `UV_CACHE_PRUNE_VERSION` for `--version`: `0.1.0 (abcdef123 2026-12-06)`, the
//! commit and its date as `uv --version` prints them, so that a bug report names the exact
//! build. Outside a git checkout (the crates.io tarball, an sdist) or without git, it is
//! just the package version: a build never fails for want of git.

use std::path::Path;
use std::process::Command;

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let commit = commit_of(Path::new(&manifest_dir));
    let full = match &commit {
        Some((hash, date)) => format!("{version} ({hash} {date})"),
        None => version.to_owned(),
    };
    println!("cargo:rustc-env=UV_CACHE_PRUNE_VERSION={full}");
    println!("cargo:rerun-if-changed=build.rs");
    // In a checkout, always watch HEAD, even when git failed this time (a full disk, a
    // lock): else the version stays without its commit until build.rs itself changes.
    if Path::new(&manifest_dir).join(".git").exists() {
        rerun_on_new_commit(Path::new(&manifest_dir));
    }
}

/// The short hash and the commit date (`YYYY-MM-DD`) of HEAD, when the package is itself
/// the top of a git checkout. A tarball unpacked inside somebody else's repository (cargo's
/// registry under a home kept in git) must not take that repository's commit, hence the
/// `.git` check (a file in a worktree, a directory in a clone).
fn commit_of(dir: &Path) -> Option<(String, String)> {
    if !dir.join(".git").exists() {
        return None;
    }
    let out = git(dir, &["log", "-1", "--format=%h %cs", "--abbrev=9", "HEAD"])?;
    let (hash, date) = out.trim().split_once(' ')?;
    let plausible = !hash.is_empty()
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && date.len() == 10
        && date.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    plausible.then(|| (hash.to_owned(), date.to_owned()))
}

/// Rebuilds when HEAD moves: a checkout (HEAD itself) or a commit on the branch (its ref,
/// loose or packed). `--git-path` resolves both for a worktree as well as a clone.
fn rerun_on_new_commit(dir: &Path) {
    let mut paths = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(head_ref) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        paths.push(head_ref.trim().to_owned());
    }
    for path in paths {
        if let Some(resolved) = git(dir, &["rev-parse", "--git-path", &path]) {
            let resolved = Path::new(resolved.trim());
            let absolute = if resolved.is_absolute() {
                resolved.to_owned()
            } else {
                dir.join(resolved)
            };
            // A path that does not exist would make cargo rerun this script every build.
            if absolute.exists() {
                println!("cargo:rerun-if-changed={}", absolute.display());
            }
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()
}
