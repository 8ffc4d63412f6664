//! The config file: defaults a user or a team sets once, that flags override.
//!
//! `$UV_CACHE_PRUNE_CONFIG`, else `<config dir>/uv-cache-prune/config.toml`
//! (`$XDG_CONFIG_HOME` or `~/.config` on Linux). For example:
//!
//! ```toml
//! roots = ["~/src", "/work/projects"]   # searched like --root (not with --no-default-roots)
//! keep = ["numpy", "torch"]             # like --keep
//! unused-for = "30d"                    # like --unused-for
//! max-size = "20GiB"                    # like --max-size
//! grace = "1h"                          # like --grace
//! hook-unused-for = "7d"                # what the git hooks remove: dead, unused this long
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    #[serde(default)]
    pub roots: Vec<PathBuf>,
    #[serde(default)]
    pub keep: Vec<String>,
    #[serde(default, with = "humantime_serde_opt")]
    pub grace: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    pub unused_for: Option<Duration>,
    #[serde(default)]
    pub max_size: Option<Size>,
    #[serde(default, with = "humantime_serde_opt")]
    pub hook_unused_for: Option<Duration>,
}

/// A size written like `20GiB`, `500MB` or plain bytes (`976896`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl std::str::FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(bytes) = text.parse::<u64>() {
            return Ok(Size(bytes));
        }
        text.parse::<bytesize::ByteSize>()
            .map(|size| Size(size.as_u64()))
            .map_err(|e| format!("{e} (examples: 20GiB, 500MB, 976896)"))
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(bytes) => Ok(Size(bytes)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Durations as humantime strings (`"30d"`).
mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        crate::cli::parse_duration(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// Where the config file is looked for.
pub fn path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("UV_CACHE_PRUNE_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(dirs::config_dir)?;
    Some(base.join("uv-cache-prune").join("config.toml"))
}

/// Loads the config; a missing file is the empty config, a bad one an error naming it.
pub fn load() -> Result<Config> {
    match path() {
        Some(path) => load_from(&path),
        None => Ok(Config::default()),
    }
}

pub fn load_from(path: &Path) -> Result<Config> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut config: Config =
        toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
    config.roots = config.roots.iter().map(|r| expand_home(r)).collect();
    Ok(config)
}

/// `~/src` → `$HOME/src`: config files are written by hand.
fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), dirs::home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "roots = [\"/w\"]\nkeep = [\"numpy\"]\nunused-for = \"30d\"\nmax-size = \"20GiB\"\ngrace = \"0s\"\n",
        )
        .unwrap();
        let config = load_from(&path).unwrap();
        assert_eq!(config.roots, [PathBuf::from("/w")]);
        assert_eq!(config.keep, ["numpy"]);
        assert_eq!(config.unused_for, Some(Duration::from_secs(30 * 86400)));
        assert_eq!(config.max_size, Some(Size(20 << 30)));
        assert_eq!(config.grace, Some(Duration::ZERO));
    }

    #[test]
    fn a_typo_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "unused_for = \"30d\"\n").unwrap();
        let err = format!("{:#}", load_from(&path).unwrap_err());
        assert!(
            err.contains("config.toml") && err.contains("unused_for"),
            "{err}"
        );
    }

    #[test]
    fn sizes_read_like_the_design_says() {
        assert_eq!("976896".parse::<Size>(), Ok(Size(976896)));
        assert_eq!("20GiB".parse::<Size>(), Ok(Size(20 << 30)));
        assert_eq!("500MB".parse::<Size>(), Ok(Size(500_000_000)));
        assert!("lots".parse::<Size>().is_err());
    }
}
