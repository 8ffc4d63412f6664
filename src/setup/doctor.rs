//! `uv-cache-prune doctor`: everything a new user (or a teammate debugging one) needs on
//! one screen: where the cache is and how it was found, uv and its link mode, the config
//! and roots, whether the hooks are installed here, the last hook run, and what a dry run
//! would free.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::cache::locate::{self, Validated};
use crate::cli::config;
use crate::pipeline::{self, Mode, Settings};
use crate::report::{Status, safe, safe_path};
use crate::setup::hooks;
use crate::state;
use crate::units::human_bytes;

/// The doctor's screen: one labelled line per fact, then what a dry run would free.
pub fn report() -> Result<String> {
    let mut out = String::new();
    // Every value is escaped here: paths, uv's answer, errors and the hook log all come
    // from outside and may hold control characters. (Paths are escaped first, so that
    // bytes that are not UTF-8 show as bytes; escaping escaped text changes nothing.)
    let line = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "{label:<15}{}", safe(&value));
    };
    let location = locate::locate(None)?;
    let found = format!("{} (from {})", safe_path(&location.path), location.source);
    let cache = match locate::validate(location) {
        Ok(Validated::Cache(_)) => found,
        Ok(Validated::Missing(_)) => format!("{found}: does not exist yet"),
        Ok(Validated::NoArchives(_)) => format!("{found}: no archives yet"),
        Err(err) => format!("{found}: {err:#}"),
    };
    line(&mut out, "cache", cache);
    line(&mut out, "uv", uv_version());
    line(&mut out, "link mode", link_mode());
    let config = match config::path() {
        Some(path) if std::fs::symlink_metadata(&path).is_ok() => match config::load_from(&path) {
            Ok(_) => safe_path(&path).to_string(),
            Err(err) => format!("{err:#}"),
        },
        Some(path) => format!("{} (not present: defaults apply)", safe_path(&path)),
        None => "no config directory".to_owned(),
    };
    line(&mut out, "config", config);
    match state::State::open() {
        Ok(state) => {
            let dir = state.path().to_owned();
            line(&mut out, "state", safe_path(&dir).to_string());
            let registry = state.registry();
            let listed: Vec<String> = registry
                .roots
                .iter()
                .map(|r| safe_path(r).to_string())
                .collect();
            let mut roots = match listed.len() {
                0 => "none (register with `uv-cache-prune roots add DIR` or the hooks)".into(),
                _ => listed.join(", "),
            };
            if let Some(doubt) = registry.doubt {
                roots += &format!("; {}", doubt.reason);
            }
            line(&mut out, "registered", roots);
            line(&mut out, "last hook run", last_line(&dir.join("hook.log")));
        }
        Err(err) => line(&mut out, "state", format!("{err:#}")),
    }
    let tool_dir =
        crate::discover::tool_dir().map_or("unknown".into(), |d| safe_path(&d).to_string());
    line(&mut out, "uv tool dir", tool_dir);
    let hooks = match hooks::installed(Path::new(".")) {
        Ok(found) if found.is_empty() => {
            "not installed in this repository (uv-cache-prune install-hooks)".into()
        }
        Ok(found) => found
            .iter()
            .map(|h| safe_path(h).to_string())
            .collect::<Vec<_>>()
            .join(", "),
        Err(_) => "not in a git repository".into(),
    };
    line(&mut out, "hooks", hooks);
    let dry_run = config::load()
        .and_then(|config| Settings::new(&config, Mode::DryRun))
        .and_then(|settings| pipeline::run(&settings));
    let dry_run = match dry_run {
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
    };
    line(&mut out, "dry run", dry_run);
    Ok(out)
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
