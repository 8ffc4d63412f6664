//! `uv-cache-prune doctor`: everything a new user (or a teammate debugging one) needs on
//! one screen: where the cache is and how it was found, uv and its link mode, whether the
//! git hooks can find `uv-cache-prune`, the config and the settings a prune would use
//! (roots, with those that are missing; keep; policies), whether the hooks are installed
//! in the repository, the last hook run, and what a dry run would free.
//!
//! It reports and never fails on what it finds: each fact that is wrong is said on its
//! line, with what to do.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::cache::locate::{self, Validated};
use crate::cli::config::{self, Config};
use crate::discover;
use crate::pipeline::{self, Mode, Settings};
use crate::report::{Status, safe, safe_path};
use crate::setup::hooks;
use crate::state::{Absence, State};
use crate::units::human_bytes;

/// The width of the label column.
const LABEL: usize = 15;

/// The screen being written: one labelled line per fact, continuation lines indented
/// under the value. Every value is escaped here: paths, uv's answer, errors and the hook
/// log all come from outside and may hold control characters. (Paths are escaped first,
/// so that bytes that are not UTF-8 show as bytes; escaping escaped text changes nothing.)
#[derive(Default)]
struct Screen(String);

impl Screen {
    fn line(&mut self, label: &str, value: &str) {
        let _ = writeln!(self.0, "{label:<LABEL$}{}", safe(value));
    }

    /// A line under the previous one's value.
    fn more(&mut self, value: &str) {
        self.line("", value);
    }
}

/// The doctor's screen for the hooks of `repo` (default: the current directory's
/// repository) and the cache at `cache_dir` (default: found as uv finds it).
pub fn report(repo: Option<&Path>, cache_dir: Option<&Path>) -> Result<String> {
    let mut screen = Screen::default();
    screen.line("cache", &cache_line(cache_dir)?);
    screen.line("uv", &uv_version());
    screen.line("link mode", &link_mode());
    screen.line("on PATH", &hook_binary());
    let (config, config_line) = config_in_force();
    screen.line("config", &config_line);
    let state = State::open();
    match &state {
        Ok(state) => screen.line("state", &safe_path(state.path()).to_string()),
        Err(err) => screen.line("state", &format!("{err:#}")),
    }
    roots(&mut screen, config.as_ref(), state.as_ref().ok());
    if let Some(config) = &config {
        policies(&mut screen, config);
    }
    if let Ok(state) = &state {
        screen.line("last hook run", &last_line(&state.path().join("hook.log")));
    }
    screen.line("hooks", &hooks_line(repo));
    let dry_run = match config {
        Some(config) => dry_run(&config, cache_dir),
        None => "not run: the config must be fixed first".to_owned(),
    };
    screen.line("dry run", &dry_run);
    Ok(screen.0)
}

/// Where the cache is, how it was found, and whether it is one.
fn cache_line(cache_dir: Option<&Path>) -> Result<String> {
    let location = locate::locate(cache_dir)?;
    let found = format!("{} (from {})", safe_path(&location.path), location.source);
    Ok(match locate::validate(location) {
        Ok(Validated::Cache(_)) => found,
        Ok(Validated::Missing(_)) => format!("{found}: does not exist yet"),
        Ok(Validated::NoArchives(_)) => format!("{found}: no archives yet"),
        Err(err) => format!("{found}: {err:#}"),
    })
}

fn uv_version() -> String {
    let Some(uv) = locate::uv_on_path() else {
        return "not on PATH (or, as root, not a root-owned uv no one else may write)".into();
    };
    match Command::new(uv).arg("--version").output() {
        Ok(output) if output.status.success() => {
            safe(String::from_utf8_lossy(&output.stdout).trim()).to_string()
        }
        _ => "not on PATH".into(),
    }
}

fn link_mode() -> String {
    match std::env::var("UV_LINK_MODE") {
        Ok(mode) if !mode.is_empty() => format!("{mode} (UV_LINK_MODE)"),
        _ => "clone, uv's default (falls back to hardlink, then copy, where the filesystem cannot clone)".into(),
    }
}

/// How to put the binary on `PATH`, in the order a uv user would try them.
const HOW_TO_INSTALL: &str = "install it with `uv tool install uv-cache-prune`, or \
                              `cargo xtask install` in a clone of uv-cache-prune (more ways: \
                              docs/install.md)";

/// The binary the git hook shims run, found as they find it: `$UV_CACHE_PRUNE_BIN`, else
/// `uv-cache-prune` on `PATH`. Without it every hook is a no-op (it says so on each
/// checkout, where nobody reads it), so its absence is said here with what to do.
fn hook_binary() -> String {
    if let Some(bin) = std::env::var_os("UV_CACHE_PRUNE_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        return if is_executable(&bin) {
            format!(
                "{} (UV_CACHE_PRUNE_BIN: the git hooks run this one)",
                safe_path(&bin)
            )
        } else {
            format!(
                "UV_CACHE_PRUNE_BIN names {}, which is not an executable file: the git hooks \
                 do nothing; fix or unset it",
                safe_path(&bin)
            )
        };
    }
    match on_path(crate::cli::BIN_NAME) {
        Some(bin) => format!("{} (the git hooks run this one)", safe_path(&bin)),
        None => {
            format!("uv-cache-prune is not on PATH, so the git hooks do nothing: {HOW_TO_INSTALL}")
        }
    }
}

/// The first executable `name` in a directory of `$PATH`, as `command -v` finds it
/// (relative entries are skipped: they depend on where git runs the hook).
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// A regular file (through symlinks) with an execute bit.
fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// The config a prune would use, and its line: the file (or why there is none, or what
/// is wrong with it).
fn config_in_force() -> (Option<Config>, String) {
    let named = std::env::var_os("UV_CACHE_PRUNE_CONFIG").is_some_and(|p| !p.is_empty());
    let from = if named {
        " (UV_CACHE_PRUNE_CONFIG)"
    } else {
        ""
    };
    match (config::load(), config::path()) {
        (Err(err), _) => (None, format!("{err:#}")),
        (Ok(config), None) => (Some(config), "none (no config directory)".to_owned()),
        (Ok(config), Some(path)) if std::fs::symlink_metadata(&path).is_ok() => {
            (Some(config), format!("{}{from}", safe_path(&path)))
        }
        (Ok(config), Some(path)) => (
            Some(config),
            format!("none ({} not present: defaults apply)", safe_path(&path)),
        ),
    }
}

/// Every root a prune searches: the config's and the registered ones, each marked when
/// it is missing (with what becomes of it), then the default ones.
fn roots(screen: &mut Screen, config: Option<&Config>, state: Option<&State>) {
    let mut lines = Vec::new();
    for root in config.map_or(&[][..], |c| &c.roots[..]) {
        lines.push(config_root(root));
    }
    if let Some(state) = state {
        let registry = state.registry();
        let seen = state.roots_seen();
        let mounts = crate::sys::mounts::MountTable::current().ok();
        for root in &registry.roots {
            let absence = seen.absence(root, root, mounts.as_ref());
            lines.push(registered_root(root, absence));
        }
        if let Some(doubt) = registry.doubt {
            lines.push(format!("registry: {}", doubt.reason));
        }
    }
    if lines.is_empty() {
        lines.push(
            "none configured or registered (`uv-cache-prune roots add DIR`, or the git hooks)"
                .to_owned(),
        );
    }
    for spec in discover::default_roots() {
        let origin = match spec.origin {
            discover::RootOrigin::ToolDir => "uv tool dir",
            discover::RootOrigin::Home => "home",
            discover::RootOrigin::Worktree => "this git worktree",
            _ => "default",
        };
        lines.push(format!("{} ({origin})", safe_path(&spec.path)));
    }
    let mut lines = lines.iter();
    if let Some(first) = lines.next() {
        screen.line("roots", first);
    }
    lines.for_each(|line| screen.more(line));
}

fn config_root(root: &Path) -> String {
    let shown =
        safe_path(&std::path::absolute(root).unwrap_or_else(|_| root.to_owned())).to_string();
    match std::fs::metadata(root) {
        Ok(meta) if meta.is_dir() => format!("{shown} (config)"),
        Ok(_) => format!("{shown} (config): not a directory, not searched; fix it in the config"),
        Err(_) => format!(
            "{shown} (config): does not exist, not searched; fix or remove it in the config"
        ),
    }
}

fn registered_root(root: &Path, absence: Option<Absence>) -> String {
    let shown = safe_path(root);
    let why = match absence {
        None => return format!("{shown} (registered)"),
        Some(Absence::Deleted) => "does not exist (deleted from its filesystem): \
                                   `uv-cache-prune roots prune` or the next --apply forgets it"
            .to_owned(),
        Some(Absence::Unmounted { mount, .. }) => {
            let on = mount.map_or(String::new(), |m| format!(" ({})", safe_path(&m)));
            format!(
                "its filesystem{on} is not mounted (or another one is in its place): what it \
                 used when last seen is kept until it is back, or `uv-cache-prune roots \
                 remove` forgets it"
            )
        }
        Some(Absence::Unknown) => format!(
            "does not exist, and no run saw which filesystem it was on, so it stays \
             registered: `uv-cache-prune roots remove {shown}` if it is gone for good"
        ),
    };
    format!("{shown} (registered): {why}")
}

/// The settings a prune would use besides the roots: each with where it comes from.
fn policies(screen: &mut Screen, config: &Config) {
    let from = |set: bool| if set { "config" } else { "default" };
    let keep = match config.keep.len() {
        0 => "nothing (config `keep`, or --keep PACKAGE)".to_owned(),
        _ => format!("{} (config)", config.keep.join(", ")),
    };
    screen.line("keep", &keep);
    let grace = config.grace.unwrap_or(pipeline::DEFAULT_GRACE);
    screen.line(
        "grace",
        &format!(
            "{} ({}): archives younger than this are kept",
            duration(grace),
            from(config.grace.is_some())
        ),
    );
    let unused_for = match config.unused_for {
        Some(age) => format!(
            "{} (config): only archives unused this long go",
            duration(age)
        ),
        None => "not set: a dead archive goes whenever it was last used".to_owned(),
    };
    screen.line("unused-for", &unused_for);
    let max_size = match config.max_size {
        Some(size) => format!(
            "{} (config): dead archives go, least recently used first, only until the cache fits",
            human_bytes(size.0)
        ),
        None => "not set: every dead archive goes".to_owned(),
    };
    screen.line("max-size", &max_size);
    let hooks = config
        .hook_unused_for
        .unwrap_or(pipeline::DEFAULT_HOOK_UNUSED_FOR);
    screen.line(
        "hooks prune",
        &format!(
            "dead archives unused for {} ({}, `hook-unused-for`)",
            duration(hooks),
            from(config.hook_unused_for.is_some())
        ),
    );
    let locks = match config.ignore_locks {
        true => "ignored (config `ignore-locks`): only venvs keep archives",
        false => "each uv.lock beside a pyproject.toml under a root keeps what it names",
    };
    screen.line("lock files", locks);
    if !config.exclude.is_empty() {
        let excluded: Vec<String> = config
            .exclude
            .iter()
            .map(|e| match e {
                discover::Exclude::Name(name) => safe_path(Path::new(name)).to_string(),
                discover::Exclude::Path(path) => safe_path(path).to_string(),
            })
            .collect();
        screen.line("exclude", &format!("{} (config)", excluded.join(", ")));
    }
}

/// A duration as a person writes it in the config: `1h`, `30days`.
fn duration(value: Duration) -> String {
    humantime::format_duration(Duration::from_secs(value.as_secs())).to_string()
}

/// Whether the hooks are installed in `repo` (the current directory's repository when
/// `None`), and how to install them when not.
fn hooks_line(repo: Option<&Path>) -> String {
    let dir = repo.unwrap_or(Path::new("."));
    let shown = repo
        .map(|r| safe_path(&std::path::absolute(r).unwrap_or_else(|_| r.to_owned())).to_string());
    match (hooks::installed(dir), shown) {
        (Ok(found), None) if found.is_empty() => {
            "not installed in this repository (`uv-cache-prune install-hooks`)".into()
        }
        (Ok(found), Some(shown)) if found.is_empty() => {
            format!("not installed in {shown} (`uv-cache-prune install-hooks --repo {shown}`)")
        }
        (Ok(found), _) => found
            .iter()
            .map(|h| safe_path(h).to_string())
            .collect::<Vec<_>>()
            .join(", "),
        (Err(_), None) => "not in a git repository (`--repo DIR` checks one)".into(),
        (Err(err), Some(_)) => format!("{err:#}"),
    }
}

/// What a dry run with these settings would free, in the summary's three counts.
fn dry_run(config: &Config, cache_dir: Option<&Path>) -> String {
    let run = Settings::new(config, Mode::DryRun).and_then(|mut settings| {
        settings.cache_dir = cache_dir.map(Path::to_owned);
        pipeline::run(&settings)
    });
    match run {
        Ok(report) if report.status == Status::Ok => {
            let a = &report.archives;
            let held: Vec<String> = report
                .held_back
                .iter()
                .map(|(policy, held)| {
                    format!(
                        "{} ({}) by {policy}, {} releases them",
                        held.archives,
                        human_bytes(held.bytes),
                        held.release
                    )
                })
                .collect();
            let held = match held.len() {
                0 => String::new(),
                _ => format!(" [{}]", held.join("; ")),
            };
            let doubt = match a.in_doubt {
                0 => String::new(),
                n => format!("{n} kept in doubt, "),
            };
            format!(
                "{} archives: {} in use, {} held back{held}, {doubt}{} removable; {} reclaimable \
                 (`uv-cache-prune` for details)",
                a.total,
                a.in_use,
                a.held_back,
                a.removable,
                human_bytes(report.reclaimable_bytes)
            )
        }
        Ok(_) => "no cache, nothing to prune".into(),
        Err(err) => format!("failed: {err:#}"),
    }
}

/// The most of the hook log read: a line a day is years of runs.
const LOG_LIMIT: u64 = 16 << 20;

fn last_line(log: &Path) -> String {
    match crate::sys::read::read_regular_text(log, LOG_LIMIT) {
        Ok(text) => text
            .lines()
            .rev()
            .find(|l| l.contains("uv-cache-prune --hook"))
            .unwrap_or("no run logged yet")
            .to_owned(),
        Err(err) if err.is_not_found() => format!("never ({} does not exist)", safe_path(log)),
        Err(err) => format!("cannot read {}: {err}", safe_path(log)),
    }
}
