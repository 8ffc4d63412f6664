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
    /// Trees no walk enters (a root itself is still searched).
    #[serde(default)]
    pub exclude: Vec<crate::discover::Exclude>,
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

/// A size written like `20GiB`, `500MB`, `1.5 GiB` or plain bytes (`976896`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

/// Units by their lowercase spelling: decimal (kB, MB, ...) and binary (KiB, MiB, ...),
/// with or without the trailing `b`, as `bytesize` and `du` users write them.
const UNITS: [(&str, u64); 15] = [
    ("b", 1),
    ("k", 1_000),
    ("kb", 1_000),
    ("m", 1_000_000),
    ("mb", 1_000_000),
    ("g", 1_000_000_000),
    ("gb", 1_000_000_000),
    ("t", 1_000_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("pib", 1 << 50),
    ("eib", 1 << 60),
];

const SIZE_EXAMPLES: &str = "examples: 20GiB, 500MB, 1.5TiB, 976896";

impl std::str::FromStr for Size {
    type Err = String;

    /// Parsed by hand, in integers: a float would round big sizes silently, and every
    /// way to be wrong gets its own message saying what to write instead.
    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.starts_with('-') {
            return Err(format!(
                "{trimmed:?}: a size cannot be negative ({SIZE_EXAMPLES})"
            ));
        }
        let number_end = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(number_end);
        let unit = unit.trim().to_ascii_lowercase();
        let Some(&(_, multiplier)) = UNITS
            .iter()
            .find(|(name, _)| *name == unit || (unit.is_empty() && *name == "b"))
        else {
            return Err(format!(
                "{trimmed:?}: unknown unit {unit:?} (use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB, PiB or EiB; {SIZE_EXAMPLES})"
            ));
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return Err(format!("{trimmed:?} is not a size ({SIZE_EXAMPLES})"));
        }
        let too_large = || {
            format!(
                "{trimmed:?} is larger than the largest size this tool can count, {} bytes (16 EiB); for no size limit, leave --max-size out ({SIZE_EXAMPLES})",
                u64::MAX
            )
        };
        // whole * multiplier + fraction * multiplier / 10^digits, in u128 so that only
        // the final check can overflow.
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse::<u64>().map_err(|_| too_large())?.into()
        };
        let whole_bytes = whole
            .checked_mul(u128::from(multiplier))
            .ok_or_else(too_large)?;
        // Past 20 digits a fraction cannot change a byte count; 10^20 * 2^60 fits in u128.
        let digits = &fraction[..fraction.len().min(20)];
        let fraction_bytes = match digits.parse::<u128>() {
            Ok(numerator) => numerator * u128::from(multiplier) / 10u128.pow(digits.len() as u32),
            Err(_) => 0,
        };
        u64::try_from(whole_bytes + fraction_bytes)
            .map(Size)
            .map_err(|_| too_large())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SizeVisitor)
    }
}

/// A size in the config: a whole number of bytes, or a string with a unit. Each wrong
/// type gets a message saying what to write, not serde's "did not match any variant".
struct SizeVisitor;

impl serde::de::Visitor<'_> for SizeVisitor {
    type Value = Size;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a size: a number of bytes or a string ({SIZE_EXAMPLES})")
    }

    fn visit_u64<E: serde::de::Error>(self, bytes: u64) -> Result<Size, E> {
        Ok(Size(bytes))
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Size, E> {
        u64::try_from(value).map(Size).map_err(|_| {
            E::custom(format!(
                "{value} is negative: a size is at least 0 ({SIZE_EXAMPLES})"
            ))
        })
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Size, E> {
        Err(E::custom(format!(
            "{value} is not a whole number of bytes: write a fraction as a string with a unit, like \"1.5GiB\""
        )))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Size, E> {
        text.parse().map_err(E::custom)
    }
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
            crate::cli::parse_duration(text).map_err(E::custom)
        }
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

/// The most a config file can need: a few settings and roots.
const CONFIG_LIMIT: u64 = 1 << 20;

/// Loads the config at `path`; a missing file is the empty config. The file is read with
/// [`crate::read::read_regular`]: a FIFO or device there is an error, never a hang.
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
