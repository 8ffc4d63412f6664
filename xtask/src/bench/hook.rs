//! The hook row: what the installed git hook shim costs a checkout in the foreground.
//!
//! A real git repository with two branches and the shim installed by the tool's own
//! `install-hooks`. `HOOK_CHECKOUTS` checkouts alternate between the branches while this
//! process holds uv's cache lock exclusively (as a long `uv cache clean` would), with the
//! throttle at 0 so that every checkout starts a background prune: the worst case for the
//! foreground. Git itself times the hook: trace2's `child_exit` event carries `t_rel`, the
//! hook process's wall time, so the checkout's own work is not counted and nothing wraps
//! the shim.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use xshell::{Cmd, Shell, cmd};

/// Checkouts timed; the issue asks for the median and max of 20.
pub(super) const HOOK_CHECKOUTS: usize = 20;

/// The hook's wall time in each checkout.
#[derive(Debug, Clone)]
pub(super) struct HookResult {
    pub(super) samples: Vec<Duration>,
}

impl HookResult {
    pub(super) fn median(&self) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }

    pub(super) fn max(&self) -> Duration {
        self.samples.iter().copied().max().unwrap_or_default()
    }
}

/// Builds the repository under `dir` (emptied first) and times the checkouts.
pub(super) fn measure_hook(sh: &Shell, tool: &Path, dir: &Path) -> Result<HookResult> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    let (repo, home, cache) = (dir.join("repo"), dir.join("home"), dir.join("cache"));
    super::home::write_empty_cache(&cache)?;
    fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    let sh = sh.clone();
    for (var, value) in [
        ("HOME", home.clone()),
        ("XDG_STATE_HOME", home.join("state")),
        ("XDG_CONFIG_HOME", home.join("config")),
        ("XDG_DATA_HOME", home.join("data")),
        ("XDG_CACHE_HOME", home.join("cache")),
        ("UV_CACHE_DIR", cache.clone()),
        ("UV_CACHE_PRUNE_BIN", tool.to_owned()),
        ("UV_CACHE_PRUNE_STATE_DIR", dir.join("state")),
    ] {
        sh.set_var(var, value);
    }
    sh.set_var("UV_CACHE_PRUNE_HOOK_THROTTLE", "0");
    sh.set_var("GIT_CONFIG_NOSYSTEM", "1");
    // Not inherited from the caller: each would change what the shim or git does.

    let git = |args: &[&str]| {
        clean(cmd!(sh, "git -C {repo} {args...}"))
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .with_context(|| format!("running git {} in {}", args.join(" "), repo.display()))
    };
    fs::create_dir_all(&repo).with_context(|| format!("creating {}", repo.display()))?;
    git(&["init", "-q", "-b", "main"])?;
    git(&["config", "user.email", "bench@example.invalid"])?;
    git(&["config", "user.name", "bench"])?;
    for (branch, file) in [("main", "README"), ("other", "CHANGES")] {
        if branch != "main" {
            git(&["checkout", "-q", "-b", branch])?;
        }
        fs::write(repo.join(file), format!("{branch}\n"))?;
        git(&["add", file])?;
        git(&["commit", "-q", "-m", branch])?;
    }
    clean(cmd!(sh, "{tool} install-hooks --repo {repo}"))
        .quiet()
        .ignore_stdout()
        .run()
        .context("installing the hook shim with the tool's install-hooks")?;

    let lock_path = cache.join(".lock");
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;

    let mut samples = Vec::with_capacity(HOOK_CHECKOUTS);
    for i in 0..HOOK_CHECKOUTS {
        let branch = if i % 2 == 0 { "main" } else { "other" };
        let trace = dir.join(format!("trace-{i}.json"));
        clean(cmd!(sh, "git -C {repo} checkout -q {branch}"))
            .env("GIT_TRACE2_EVENT", &trace)
            .quiet()
            .run()
            .with_context(|| format!("checking out {branch} in {}", repo.display()))?;
        let text = fs::read_to_string(&trace)
            .with_context(|| format!("reading git's trace {}", trace.display()))?;
        samples.push(hook_time(&text, "post-checkout").with_context(|| {
            format!("git ran no post-checkout hook (trace {})", trace.display())
        })?);
    }
    drop(lock);
    let log = dir.join("state/hook.log");
    ensure!(
        log.is_file(),
        "the shim started no prune (no {}): the row would not time the real thing",
        log.display()
    );
    Ok(HookResult { samples })
}

/// `cmd` without the caller's variables that would change what the shim or git does.
fn clean(cmd: Cmd<'_>) -> Cmd<'_> {
    [
        "UV_CACHE_PRUNE_CONFIG",
        "UV_CACHE_PRUNE_HOOK_SYNC",
        "GIT_DIR",
        "GIT_WORK_TREE",
    ]
    .into_iter()
    .fold(cmd, |cmd, var| cmd.env_remove(var))
}

/// The wall time of hook `name` in a trace2 event stream: `t_rel` of the `child_exit`
/// whose `child_start` names the hook.
fn hook_time(trace: &str, name: &str) -> Result<Duration> {
    let events: Vec<serde_json::Value> = trace
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let Some(child) = events.iter().find_map(|e| {
        (e["event"] == "child_start" && e["child_class"] == "hook" && e["hook_name"] == name)
            .then(|| e["child_id"].clone())
    }) else {
        bail!("no child_start event for the {name} hook");
    };
    let seconds = events
        .iter()
        .find(|e| e["event"] == "child_exit" && e["child_id"] == child)
        .and_then(|e| e["t_rel"].as_f64())
        .with_context(|| format!("no child_exit with t_rel for the {name} hook"))?;
    Duration::try_from_secs_f64(seconds).context("a hook time that is not a duration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_hook_time_from_git_trace2() {
        // As git 2.47 writes it (trimmed).
        let trace = r#"{"event":"version","sid":"s","evt":"4","exe":"2.47.3"}
{"event":"child_start","sid":"s","child_id":0,"child_class":"hook","hook_name":"post-checkout","use_shell":false}
{"event":"child_exit","sid":"s","child_id":0,"pid":10615,"code":0,"t_rel":0.060992}
"#;
        assert_eq!(
            hook_time(trace, "post-checkout").unwrap(),
            Duration::from_micros(60_992)
        );
        let error = hook_time(trace, "post-merge").unwrap_err();
        assert!(format!("{error:#}").contains("post-merge"), "{error:#}");
    }
}
