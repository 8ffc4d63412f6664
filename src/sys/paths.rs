//! The per-user base directories, looked up in one place.
//!
//! On Unix (macOS included) both uv and this tool use the XDG layout: `$XDG_*_HOME` when it
//! is set to an absolute path (the spec says to ignore a relative one), else the spec's
//! default under the home directory. The git hook shim computes the state directory the
//! same way in `sh`, so the two must agree. On Windows the known folders stand in.

use std::path::PathBuf;

/// One of the XDG base directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseDir {
    /// `$XDG_CACHE_HOME`, `~/.cache`: where uv's cache lives by default.
    Cache,
    /// `$XDG_CONFIG_HOME`, `~/.config`: our config file.
    Config,
    /// `$XDG_DATA_HOME`, `~/.local/share`: uv's tool venvs.
    Data,
    /// `$XDG_STATE_HOME`, `~/.local/state`: our last-use record, registry and hook log.
    State,
}

impl BaseDir {
    fn variable(self) -> &'static str {
        match self {
            BaseDir::Cache => "XDG_CACHE_HOME",
            BaseDir::Config => "XDG_CONFIG_HOME",
            BaseDir::Data => "XDG_DATA_HOME",
            BaseDir::State => "XDG_STATE_HOME",
        }
    }

    fn under_home(self) -> &'static str {
        match self {
            BaseDir::Cache => ".cache",
            BaseDir::Config => ".config",
            BaseDir::Data => ".local/share",
            BaseDir::State => ".local/state",
        }
    }

    /// The directory, or `None` when neither the variable nor a home directory is known.
    pub fn path(self) -> Option<PathBuf> {
        let from_env = std::env::var_os(self.variable())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        if cfg!(windows) {
            return from_env.or_else(|| match self {
                BaseDir::Cache => dirs::cache_dir(),
                BaseDir::Config => dirs::config_dir(),
                BaseDir::Data => dirs::data_dir(),
                BaseDir::State => dirs::data_local_dir(),
            });
        }
        from_env.or_else(|| dirs::home_dir().map(|home| home.join(self.under_home())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_xdg_spec() {
        assert_eq!(BaseDir::State.under_home(), ".local/state");
        assert_eq!(BaseDir::Data.variable(), "XDG_DATA_HOME");
    }
}
