//! Text made safe and short for a terminal or a log.

use std::path::Path;

/// The longest run of non-blank characters printed whole; longer ones (a path 4 KB deep)
/// keep their start and end around an ellipsis, so that a warning stays readable and the
/// words after the path, which say what to do, stay on screen.
const LONGEST_RUN: usize = 160;
const RUN_HEAD: usize = 60;
const RUN_TAIL: usize = 80;

/// `text` made safe to print as one line of a terminal or a log: control characters
/// (a newline or an escape sequence in a file name) are written as escapes (`\n`,
/// `\x1b`), and overlong runs are shortened. Only for people: JSON carries the full text.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4096));
    let mut run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, out: &mut String| {
        if run.len() > LONGEST_RUN {
            out.extend(&run[..RUN_HEAD]);
            out.push('…');
            out.extend(&run[run.len() - RUN_TAIL..]);
        } else {
            out.extend(run.iter());
        }
        run.clear();
    };
    for c in text.chars() {
        if c == ' ' {
            flush(&mut run, &mut out);
            out.push(c);
            continue;
        }
        match c {
            '\n' => run.extend(['\\', 'n']),
            '\r' => run.extend(['\\', 'r']),
            '\t' => run.extend(['\\', 't']),
            c if c.is_control() => run.extend(format!("\\x{:02x}", u32::from(c)).chars()),
            c => run.push(c),
        }
    }
    flush(&mut run, &mut out);
    out
}

/// A path as [`one_line`] prints it.
pub fn shown(path: &Path) -> String {
    one_line(&path.to_string_lossy())
}

/// `1 archive`, `2 archives`.
pub(super) fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
