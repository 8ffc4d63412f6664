//! Running our binary on a real pseudo-terminal, through util-linux `script`, so that
//! what only happens on a terminal (width, height, colour, progress bars) is tested as a
//! person sees it.
//!
//! `script -qec CMD /dev/null` runs CMD under `sh -c` with a new pty as its controlling
//! terminal and copies what the pty shows to our stdout (with `\r\n` line ends). The
//! pty's size is set inside it with `stty`; the sandbox's environment is passed on from
//! the [`Command`] built as usual.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

/// What the terminal showed, `\r` removed, and the exit status.
pub struct Shown {
    pub screen: String,
    pub status: i32,
}

fn quote(arg: &OsStr) -> String {
    let text = String::from_utf8_lossy(arg.as_bytes());
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Runs `cmd` on a `cols` x `rows` pty. `stderr_to`: a file for stderr (then only stdout
/// reaches the terminal); `stdout_to`: likewise for stdout.
pub fn run_in_pty(
    cmd: &Command,
    cols: u16,
    rows: u16,
    stdout_to: Option<&Path>,
    stderr_to: Option<&Path>,
) -> Shown {
    let mut line = format!(
        "stty cols {cols} rows {rows}; exec {}",
        quote(cmd.get_program())
    );
    for arg in cmd.get_args() {
        line += " ";
        line += &quote(arg);
    }
    if let Some(path) = stdout_to {
        line += &format!(" >{}", quote(path.as_os_str()));
    }
    if let Some(path) = stderr_to {
        line += &format!(" 2>{}", quote(path.as_os_str()));
    }
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    // What would change the view is unset unless the test sets it on `cmd`.
    for key in [
        "NO_COLOR",
        "FORCE_COLOR",
        "CLICOLOR_FORCE",
        "COLUMNS",
        "LINES",
    ] {
        script.env_remove(key);
    }
    script.env("TERM", "xterm-256color");
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        script.current_dir(dir);
    }
    let output = script
        .output()
        .unwrap_or_else(|e| panic!("run script (util-linux) for {cmd:?}: {e}"));
    Shown {
        screen: String::from_utf8_lossy(&output.stdout).replace('\r', ""),
        status: output.status.code().unwrap_or(-1),
    }
}
