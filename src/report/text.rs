//! Text made safe and short for a terminal or a log.
//!
//! Every string that came from the disk (a package name read from a `.dist-info`
//! directory, a version, a path, a lock file, an error naming a path) is untrusted: a file
//! name may hold `ESC ] 0 ; … BEL` (which retitles the terminal), `ESC [ 2J` (which clears
//! it), `ESC [ 8m` (which hides everything after it), a newline followed by a fake
//! "nothing was deleted" line, or a bidi override that reorders what the reader sees.
//! Human output prints such text only through [`Shown`] ([`safe`], [`safe_os`],
//! [`shown`], [`one_line`]), the one escaper: it writes control characters as escapes, so
//! that what reaches the terminal is always plain, printable text on one line. JSON
//! needs none of this: serde escapes control characters, and readers get the text whole.

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;

/// The longest run of non-blank characters printed whole; longer ones (a path 4 KB deep)
/// keep their start and end around an ellipsis, so that a warning stays readable and the
/// words after the path, which say what to do, stay on screen.
const LONGEST_RUN: usize = 160;
const RUN_HEAD: usize = 60;
const RUN_TAIL: usize = 80;

/// Untrusted text, escaped when displayed: control characters (C0, DEL, C1), Unicode bidi
/// controls and, for OS strings, bytes that are not UTF-8 are written as escapes, and
/// overlong runs are shortened. Cheap to make: the work happens in `Display`, which pads
/// the *escaped* text, so `{:<28}` columns line up whatever the name holds.
///
/// Escapes: `\n`, `\r`, `\t`; other C0 controls and DEL as `\x1b`; C1 and bidi controls
/// as `\u{202e}`; a byte that is not UTF-8 as `\xff` (a valid string never shows `\x80`
/// to `\xff`, so a byte and a character are never confused).
#[derive(Clone, Copy)]
pub struct Shown<'a>(Text<'a>);

#[derive(Clone, Copy)]
enum Text<'a> {
    Str(&'a str),
    Os(&'a OsStr),
}

/// `text` escaped for a terminal (see [`Shown`]).
pub fn safe(text: &str) -> Shown<'_> {
    Shown(Text::Str(text))
}

/// An OS string (a path, a file name) escaped for a terminal (see [`Shown`]); bytes that
/// are not UTF-8 are escaped one by one rather than replaced, so two odd names stay apart.
pub fn safe_os(text: &OsStr) -> Shown<'_> {
    Shown(Text::Os(text))
}

/// A path escaped for a terminal (see [`Shown`]).
pub fn safe_path(path: &Path) -> Shown<'_> {
    safe_os(path.as_os_str())
}

/// `text` made safe to print as one line of a terminal or a log ([`Shown`], as a string).
/// Only for people: JSON carries the full text.
pub fn one_line(text: &str) -> String {
    safe(text).to_string()
}

/// A path as [`Shown`] prints it, as a string.
pub fn shown(path: &Path) -> String {
    safe_path(path).to_string()
}

/// Whether `c` must not reach a terminal raw: controls (C0, DEL, C1) and the bidi
/// embeddings, overrides and isolates, plus the invisible direction marks.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// The escaper's state: the text so far, and the current run of non-blank characters.
struct Escaper {
    out: String,
    run: Vec<char>,
}

impl Escaper {
    fn new(len: usize) -> Self {
        Self {
            out: String::with_capacity(len.min(4096)),
            run: Vec::new(),
        }
    }

    fn flush(&mut self) {
        if self.run.len() > LONGEST_RUN {
            self.out.extend(&self.run[..RUN_HEAD]);
            self.out.push('…');
            self.out.extend(&self.run[self.run.len() - RUN_TAIL..]);
        } else {
            self.out.extend(self.run.iter());
        }
        self.run.clear();
    }

    fn push_str(&mut self, text: &str) {
        for c in text.chars() {
            match c {
                ' ' => {
                    self.flush();
                    self.out.push(c);
                }
                '\n' => self.run.extend(['\\', 'n']),
                '\r' => self.run.extend(['\\', 'r']),
                '\t' => self.run.extend(['\\', 't']),
                c if u32::from(c) < 0x80 && is_unsafe(c) => {
                    self.run.extend(format!("\\x{:02x}", u32::from(c)).chars());
                }
                c if is_unsafe(c) => self
                    .run
                    .extend(format!("\\u{{{:x}}}", u32::from(c)).chars()),
                c => self.run.push(c),
            }
        }
    }

    fn push_invalid(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.run.extend(format!("\\x{byte:02x}").chars());
        }
    }

    fn finish(mut self) -> String {
        self.flush();
        self.out
    }
}

impl Shown<'_> {
    fn escaped(&self) -> String {
        match self.0 {
            Text::Str(text) => {
                let mut escaper = Escaper::new(text.len());
                escaper.push_str(text);
                escaper.finish()
            }
            Text::Os(text) => {
                let bytes = os_bytes(text);
                let mut escaper = Escaper::new(bytes.len());
                for chunk in bytes.utf8_chunks() {
                    escaper.push_str(chunk.valid());
                    escaper.push_invalid(chunk.invalid());
                }
                escaper.finish()
            }
        }
    }
}

#[cfg(unix)]
fn os_bytes(text: &OsStr) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(text.as_bytes())
}

#[cfg(not(unix))]
fn os_bytes(text: &OsStr) -> std::borrow::Cow<'_, [u8]> {
    match text.to_string_lossy() {
        std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
        std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.escaped())
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `1 archive`, `2 archives`.
pub(super) fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_bidi_and_c1_are_escaped() {
        let text = "a\x1b]0;t\x07\x1b[2J\nDry run\u{202e}x\u{85}\u{7f}";
        assert_eq!(
            one_line(text),
            "a\\x1b]0;t\\x07\\x1b[2J\\nDry run\\u{202e}x\\u{85}\\x7f"
        );
    }

    #[test]
    fn columns_are_padded_on_the_escaped_text() {
        assert_eq!(format!("[{:<6}]", safe("\x1b")), "[\\x1b  ]");
        assert_eq!(format!("[{:>5}]", safe("ab")), "[   ab]");
    }

    #[cfg(unix)]
    #[test]
    fn bytes_that_are_not_utf8_are_escaped_one_by_one() {
        use std::os::unix::ffi::OsStrExt;
        let name = OsStr::from_bytes(b"h\xef\xff\x80s\xc3\xa9");
        assert_eq!(safe_os(name).to_string(), "h\\xef\\xff\\x80sé");
    }

    #[test]
    fn long_runs_are_shortened() {
        let long = "x".repeat(500);
        let shown = one_line(&format!("{long} tail"));
        assert!(shown.ends_with(" tail") && shown.contains('…'), "{shown}");
    }
}
