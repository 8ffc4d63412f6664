//! The config file: defaults a user or a team sets once, that flags override.
//!
//! `$UV_CACHE_PRUNE_CONFIG`, else `<config dir>/uv-cache-prune/config.toml`
//! (`$XDG_CONFIG_HOME` or `~/.config` on Linux). For example:
//!
//! ```toml
//! roots = ["~/src", "/work/projects"]   # searched like --root (not with --no-default-roots)
//! exclude = [".tox", "~/datasets"]       # never walked: a directory name, or a path
//! keep = ["numpy", "torch"]             # like --keep
//! unused-for = "30d"                    # like --unused-for
//! max-size = "20GiB"                    # like --max-size
//! grace = "1h"                          # like --grace
//! hook-unused-for = "7d"                # what the git hooks remove: dead, unused this long
//! ignore-locks = true                   # like --ignore-locks
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

pub use crate::units::Size;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
/// The config file's settings; each is a default a flag overrides.
pub struct Config {
    #[serde(default)]
    /// Searched like `--root` (not with `--no-default-roots`).
    pub roots: Vec<PathBuf>,
    /// Trees no walk enters (a root itself is still searched).
    #[serde(default)]
    pub exclude: Vec<crate::discover::Exclude>,
    #[serde(default)]
    /// Like `--keep`.
    pub keep: Vec<String>,
    #[serde(default, with = "humantime_serde_opt")]
    /// Like `--grace`.
    pub grace: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    /// Like `--unused-for`.
    pub unused_for: Option<Duration>,
    #[serde(default)]
    /// Like `--max-size`.
    pub max_size: Option<Size>,
    #[serde(default, with = "humantime_serde_opt")]
    /// What the git hooks remove: dead archives unused this long.
    pub hook_unused_for: Option<Duration>,
    #[serde(default)]
    /// Like `--ignore-locks`: `uv.lock` files keep nothing.
    pub ignore_locks: bool,
}

/// Durations as humantime strings (`"30d"`).
mod humantime_serde_opt {
    use std::time::Duration;

    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_any(DurationVisitor).map(Some)
    }

    struct DurationVisitor;

    impl serde::de::Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration as a string, like \"30d\", \"90m\" or \"0s\"")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
            crate::units::parse_duration(text).map_err(E::custom)
        }
    }
}

/// Where the config file is looked for.
pub fn path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("UV_CACHE_PRUNE_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let base = crate::paths::BaseDir::Config.path()?;
    Some(base.join("uv-cache-prune").join("config.toml"))
}

/// Loads the config; a missing file is the empty config, a bad one an error naming it.
pub fn load() -> Result<Config> {
    // A file named on purpose must be there: a typo would silently mean the defaults.
    if let Some(named) = std::env::var_os("UV_CACHE_PRUNE_CONFIG").filter(|p| !p.is_empty()) {
        let named = PathBuf::from(named);
        if matches!(std::fs::symlink_metadata(&named), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
        {
            return Err(crate::cli::UsageError(format!(
                "UV_CACHE_PRUNE_CONFIG names {}, which does not exist: nothing was read or \
                 deleted; create it, fix the path, or unset UV_CACHE_PRUNE_CONFIG to use the \
                 default config file",
                crate::report::safe_path(&named)
            ))
            .into());
        }
    }
    match path() {
        Some(path) => load_from(&path),
        None => Ok(Config::default()),
    }
}

/// The most a config file can need: a few settings and roots.
const CONFIG_LIMIT: u64 = 1 << 20;

/// Loads the config at `path`; a missing file is the empty config. The file is read with
/// `read::read_regular`: a FIFO or device there is an error, never a hang.
pub fn load_from(path: &Path) -> Result<Config> {
    let bytes = match crate::read::read_regular(path, CONFIG_LIMIT) {
        Ok(bytes) => bytes,
        Err(err) if err.is_not_found() => return Ok(Config::default()),
        Err(err) => {
            return Err(err).with_context(|| {
                format!(
                    "cannot read the config {}: replace it with a TOML file, or point UV_CACHE_PRUNE_CONFIG elsewhere",
                    path.display()
                )
            });
        }
    };
    parse(&bytes).with_context(|| {
        format!(
            "invalid config {}: fix it or move it aside (nothing was deleted)",
            path.display()
        )
    })
}

/// Parses config text (the bytes of a config file). Public for the fuzz tests.
pub fn parse(bytes: &[u8]) -> Result<Config> {
    let text = std::str::from_utf8(bytes).context("it is not UTF-8 text")?;
    let mut config: Config = toml::from_str(text)?;
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
    fn excludes_are_names_or_absolute_paths() {
        use crate::discover::Exclude;
        let config = parse(b"exclude = [\".tox\", \"~/big\", \"/srv/mirror\"]\n").unwrap();
        let home = dirs::home_dir().unwrap();
        assert_eq!(
            config.exclude,
            [
                Exclude::Name(".tox".into()),
                Exclude::Path(home.join("big")),
                Exclude::Path("/srv/mirror".into()),
            ]
        );
        for bad in ["src/vendor", "", "..", "./x"] {
            let text = format!("exclude = [{bad:?}]\n");
            let err = format!("{:#}", parse(text.as_bytes()).unwrap_err());
            assert!(err.contains("write a directory name"), "{bad:?}: {err}");
        }
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
        assert_eq!("20 gib".parse::<Size>(), Ok(Size(20 << 30)));
        assert_eq!("500MB".parse::<Size>(), Ok(Size(500_000_000)));
        assert_eq!("1.5KiB".parse::<Size>(), Ok(Size(1536)));
        assert_eq!(".5k".parse::<Size>(), Ok(Size(500)));
        assert_eq!("16EiB".parse::<Size>().ok(), None);
        assert_eq!("18446744073709551615".parse::<Size>(), Ok(Size(u64::MAX)));
        assert!("lots".parse::<Size>().is_err());
        assert!("1.2.3GB".parse::<Size>().is_err());
        assert!(".".parse::<Size>().is_err());
    }

    #[test]
    fn a_wrong_size_says_what_is_wrong() {
        let huge = "99999999999999999999999".parse::<Size>().unwrap_err();
        assert!(
            huge.contains("larger than") && huge.contains("20GiB"),
            "{huge}"
        );
        let negative = "-1".parse::<Size>().unwrap_err();
        assert!(negative.contains("negative"), "{negative}");
        let unit = "3 parsecs".parse::<Size>().unwrap_err();
        assert!(unit.contains("unknown unit \"parsecs\""), "{unit}");
        let config = format!("{:#}", parse(b"max-size = -1\n").unwrap_err());
        assert!(config.contains("-1 is negative"), "{config}");
        let config = format!("{:#}", parse(b"unused-for = 30\n").unwrap_err());
        assert!(config.contains("\"30d\""), "{config}");
    }
}
