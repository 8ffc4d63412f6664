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
    let base = crate::sys::paths::BaseDir::Config.path()?;
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
    let bytes = match crate::sys::read::read_regular(path, CONFIG_LIMIT) {
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
    parse_located(&bytes).map_err(|err| {
        // One line, as compilers and TOML tools print it: `file:line:column: what`.
        let at = match err.at {
            Some((line, column)) => format!("{}:{line}:{column}", path.display()),
            None => path.display().to_string(),
        };
        anyhow::anyhow!(
            "{at}: {}; fix the config or move it aside (nothing was deleted)",
            err.what
        )
    })
}

/// Parses config text (the bytes of a config file); the fuzz test's entry.
#[cfg(test)]
pub fn parse(bytes: &[u8]) -> Result<Config> {
    parse_located(bytes).map_err(|err| match err.at {
        Some((line, column)) => anyhow::anyhow!("{line}:{column}: {}", err.what),
        None => anyhow::anyhow!("{}", err.what),
    })
}

/// The config's keys, in the order `--help` lists them.
pub const KEYS: [&str; 8] = [
    "roots",
    "exclude",
    "keep",
    "grace",
    "unused-for",
    "max-size",
    "hook-unused-for",
    "ignore-locks",
];

/// What is wrong with a config text, and where: a 1-based line and column (in characters).
struct ParseError {
    at: Option<(usize, usize)>,
    what: String,
}

fn parse_located(bytes: &[u8]) -> Result<Config, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError {
        at: Some(line_column(bytes, e.valid_up_to())),
        what: "it is not UTF-8 text".to_owned(),
    })?;
    let mut config: Config = toml::from_str(text).map_err(|e| {
        let what = describe(e.message());
        // A bad value is named by its key, as the file spells it: `max-size = -1` says
        // `max-size`, not the flag of the same meaning.
        let what = match e.span().and_then(|span| key_before(text, span.start)) {
            Some(key) => format!("`{key}`: {what}"),
            None => what,
        };
        ParseError {
            at: e.span().map(|span| line_column(bytes, span.start)),
            what,
        }
    })?;
    config.roots = config.roots.iter().map(|r| expand_home(r)).collect();
    Ok(config)
}

/// The key of a `key = value` line when `offset` is in its value.
fn key_before(text: &str, offset: usize) -> Option<&str> {
    let before = text.get(..offset)?;
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()).then_some(key)
}

/// The 1-based line and column of byte `offset`, the column counted in characters.
fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// toml's message on one line; serde's "unknown field `x`, expected one of ..." becomes
/// the key a person most likely meant (`unused_for` is `unused-for`).
fn describe(message: &str) -> String {
    let message = message.trim().replace('\n', "; ");
    let Some(key) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(key, _)| key)
    else {
        return message;
    };
    let known = KEYS.join(", ");
    match closest_key(key) {
        Some(near) => format!("unknown key `{key}`: did you mean `{near}`? (the keys: {known})"),
        None => format!("unknown key `{key}` (the keys: {known})"),
    }
}

/// The known key nearest to `key` in edit distance, ignoring case and `_` for `-`, if it is
/// near enough to be a typo (at most a third of its letters wrong).
fn closest_key(key: &str) -> Option<&'static str> {
    let typed = key.to_ascii_lowercase().replace('_', "-");
    KEYS.iter()
        .map(|known| (edit_distance(&typed, known), *known))
        .filter(|(distance, known)| *distance <= known.len().max(3) / 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
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
        assert_eq!("976896B".parse::<Size>(), Ok(Size(976896)));
        assert_eq!("0".parse::<Size>(), Ok(Size(0)));
        assert_eq!(
            "20".parse::<Size>(),
            Err("\"20\" has no unit: write 20GiB or 20MB, or 20B if you mean bytes".to_owned())
        );
        assert_eq!("20GiB".parse::<Size>(), Ok(Size(20 << 30)));
        assert_eq!("20 gib".parse::<Size>(), Ok(Size(20 << 30)));
        assert_eq!("500MB".parse::<Size>(), Ok(Size(500_000_000)));
        assert_eq!("1.5KiB".parse::<Size>(), Ok(Size(1536)));
        assert_eq!(".5k".parse::<Size>(), Ok(Size(500)));
        assert_eq!("16EiB".parse::<Size>().ok(), None);
        assert_eq!("18446744073709551615B".parse::<Size>(), Ok(Size(u64::MAX)));
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
