//! How the human report is shown: how wide and tall the terminal is, whether to colour,
//! whether to list every archive, how much to say (`-q`, `-v`).
//!
//! Decided once, from stdout, the flags and the environment, so that the renderers stay
//! pure functions of the [`super::Report`] and a [`View`] (and tests can render any view).

use std::ffi::OsString;
use std::io::IsTerminal;

/// Width used on a terminal whose size is unknown.
pub const DEFAULT_WIDTH: usize = 80;
/// The narrowest width wrapped to: below it, wrapping makes text harder to read, not easier.
const NARROWEST: usize = 40;

/// `--color`: when to colour, as uv's flag of the same name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal that can show it (see [`ColorChoice::resolve`]).
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour output to a stream that `is_terminal` or not, in uv's order.
    ///
    /// uv 0.13 (`crates/uv/src/settings.rs`, `resolve_color`, at astral-sh/uv commit
    /// 26a9dd4b): an explicit `--color` wins; else a non-empty `NO_COLOR` means never;
    /// else a non-empty `FORCE_COLOR` or `CLICOLOR_FORCE` means always; else auto. uv
    /// hands auto to `anstream` 1.0 (`anstream::ColorChoice::write_global`), whose
    /// per-stream choice (`anstream/src/auto.rs`, `fn choice`) reads `NO_COLOR` and
    /// `CLICOLOR_FORCE` again (which matters for an explicit `--color auto`), then
    /// `CLICOLOR=0` means never, and a terminal is coloured only if `TERM` is set and not
    /// `dumb`, or `CLICOLOR` is set (not `0`), or `CI` is set. Mirrored here so that a
    /// person who tuned uv's colour gets the same from us.
    pub fn resolve(explicit: Option<ColorChoice>, is_terminal: bool) -> bool {
        resolve_with(explicit, is_terminal, |name| std::env::var_os(name))
    }
}

/// [`ColorChoice::resolve`] with the environment read through `var`, so that every case
/// is testable without touching the process's environment.
fn resolve_with(
    explicit: Option<ColorChoice>,
    is_terminal: bool,
    var: impl Fn(&str) -> Option<OsString>,
) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
    let choice = match explicit {
        Some(choice) => choice,
        None if set("NO_COLOR") => ColorChoice::Never,
        None if set("FORCE_COLOR") || set("CLICOLOR_FORCE") => ColorChoice::Always,
        None => ColorChoice::Auto,
    };
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => auto(is_terminal, &var),
    }
}

/// `--color auto` as `anstream` decides it for a stream. Without `--color` uv already
/// looked at `NO_COLOR` and `CLICOLOR_FORCE`, but `--color auto` given explicitly reaches
/// here with them unread, so they come first as in `anstream`: a non-empty `NO_COLOR`
/// means never, a non-empty `CLICOLOR_FORCE` always (`FORCE_COLOR` is uv's alone, not
/// read here). Then `CLICOLOR=0` means never; otherwise a terminal is coloured when `TERM`
/// says it can be (set, not `dumb`), or `CLICOLOR` asks for it, or `CI` is set (CI logs
/// show colour though their `TERM` is often unset).
fn auto(is_terminal: bool, var: &impl Fn(&str) -> Option<OsString>) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        return false;
    }
    if set("CLICOLOR_FORCE") {
        return true;
    }
    let clicolor = var("CLICOLOR").map(|v| v != "0");
    if clicolor == Some(false) || !is_terminal {
        return false;
    }
    let term_can = var("TERM").is_some_and(|term| term != "dumb");
    term_can || clicolor == Some(true) || var("CI").is_some()
}

/// How much the run says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// `-q`: errors and the result line only.
    Quiet,
    /// The report.
    #[default]
    Normal,
    /// `-v`: also each stage's timing and each root searched, on stderr.
    Verbose,
}

/// How to show the human report.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// Columns that prose is wrapped to: the terminal's (80 when it does not say); piped,
    /// `COLUMNS` if set, else no wrapping, so that each line stays whole for `grep`.
    pub width: usize,
    /// The terminal's rows when stdout is a terminal: the package table then stops at a
    /// screenful. `None` (piped, a file) lists every archive.
    pub rows: Option<usize>,
    /// `--all`: every archive, even on a terminal.
    pub all: bool,
    /// Colour (ANSI SGR) on.
    pub color: bool,
    /// `-q` / `-v`.
    pub verbosity: Verbosity,
}

impl Default for View {
    /// What a pipe gets: every archive, lines unwrapped, no colour.
    fn default() -> Self {
        Self {
            width: usize::MAX,
            rows: None,
            all: true,
            color: false,
            verbosity: Verbosity::Normal,
        }
    }
}

impl View {
    /// The view for this process's stdout.
    pub fn for_stdout(all: bool, color: Option<ColorChoice>, verbosity: Verbosity) -> Self {
        let stdout = std::io::stdout();
        let terminal = stdout.is_terminal();
        let size = if terminal { window_size() } else { None };
        let env = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
        };
        let width = match (terminal, size) {
            (_, Some((cols, _))) => cols,
            (true, None) => env("COLUMNS").unwrap_or(DEFAULT_WIDTH),
            (false, None) => env("COLUMNS").unwrap_or(usize::MAX),
        };
        let rows = terminal.then(|| {
            size.map(|(_, rows)| rows)
                .or_else(|| env("LINES"))
                .unwrap_or(24)
        });
        Self {
            width: width.max(NARROWEST),
            rows,
            all: all || !terminal,
            color: ColorChoice::resolve(color, terminal),
            verbosity,
        }
    }

    /// `text` in bold (headings, the result line).
    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    /// `text` in green (what was or would be freed).
    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    /// `text` in yellow (what is held back).
    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    /// `text` dimmed (archive ids).
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    fn paint(&self, sgr: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// The terminal's (columns, rows), from stdout's `TIOCGWINSZ`; `None` when unknown (0).
fn window_size() -> Option<(usize, usize)> {
    #[cfg(unix)]
    {
        let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
        (size.ws_col > 0 && size.ws_row > 0)
            .then(|| (usize::from(size.ws_col), usize::from(size.ws_row)))
    }
    #[cfg(not(unix))]
    None
}

/// `text` (one paragraph, already escaped) broken at spaces into lines of at most
/// `width` characters, the lines after the first indented by `indent` spaces. A word
/// longer than a line (a long path) stays whole on its own line: a path cut in two could
/// not be copied.
pub fn wrap(text: &str, width: usize, indent: usize) -> String {
    // Leading spaces (a line indented under its heading) are kept as they are.
    let body = text.trim_start_matches(' ');
    let mut out = " ".repeat(text.len() - body.len());
    let mut line_len = out.len();
    let mut first = true;
    for word in body.split(' ').filter(|w| !w.is_empty()) {
        let len = word.chars().count();
        if !first && line_len + 1 + len > width {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', indent));
            line_len = indent;
        } else if !first {
            out.push(' ');
            line_len += 1;
        }
        first = false;
        out.push_str(word);
        line_len += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{ColorChoice, resolve_with, wrap};
    use std::ffi::OsString;

    /// `--color`, on a terminal, the environment, coloured.
    type Case<'a> = (Option<ColorChoice>, bool, &'a [(&'a str, &'a str)], bool);

    /// What [`resolve_with`] decides with only `env` set.
    fn colour(explicit: Option<ColorChoice>, terminal: bool, env: &[(&str, &str)]) -> bool {
        resolve_with(explicit, terminal, |name| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        })
    }

    #[test]
    fn colour_is_decided_in_uvs_order_then_as_anstream_decides_auto() {
        use ColorChoice::{Always, Auto, Never};
        let xterm = ("TERM", "xterm");
        let cases: &[Case] = &[
            (None, true, &[xterm], true),
            (None, false, &[xterm], false),
            (None, true, &[], false),
            (None, true, &[("TERM", "dumb")], false),
            (None, true, &[("TERM", "dumb"), ("CLICOLOR", "1")], true),
            (None, true, &[("TERM", "dumb"), ("CI", "true")], true),
            (None, true, &[xterm, ("CLICOLOR", "0")], false),
            (None, false, &[xterm, ("CLICOLOR", "1")], false),
            (None, true, &[xterm, ("NO_COLOR", "1")], false),
            (None, true, &[xterm, ("NO_COLOR", "")], true),
            (
                None,
                false,
                &[("FORCE_COLOR", "1"), ("CLICOLOR", "0")],
                true,
            ),
            (None, false, &[("CLICOLOR_FORCE", "1")], true),
            (None, false, &[("FORCE_COLOR", "")], false),
            (
                None,
                true,
                &[("NO_COLOR", "1"), ("FORCE_COLOR", "1")],
                false,
            ),
            (Some(Always), false, &[("NO_COLOR", "1")], true),
            (Some(Never), true, &[xterm, ("FORCE_COLOR", "1")], false),
            (Some(Auto), false, &[("FORCE_COLOR", "1")], false),
            (
                Some(Auto),
                true,
                &[("TERM", "dumb"), ("FORCE_COLOR", "1")],
                false,
            ),
            (Some(Auto), true, &[xterm, ("NO_COLOR", "1")], false),
            (Some(Auto), false, &[("CLICOLOR_FORCE", "1")], true),
            (
                Some(Auto),
                false,
                &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
                false,
            ),
        ];
        for (explicit, terminal, env, expected) in cases {
            assert_eq!(
                colour(*explicit, *terminal, env),
                *expected,
                "{explicit:?} terminal={terminal} {env:?}"
            );
        }
    }

    #[test]
    fn wraps_at_spaces_and_keeps_long_words_whole() {
        assert_eq!(wrap("aaa bbb ccc", 7, 0), "aaa bbb\nccc");
        assert_eq!(wrap("aaa bbb ccc", 7, 2), "aaa bbb\n  ccc");
        assert_eq!(wrap("a /very/long/path b", 5, 0), "a\n/very/long/path\nb");
        assert_eq!(wrap("short", 80, 0), "short");
        assert_eq!(wrap("  aa bb", 5, 4), "  aa\n    bb");
    }
}
