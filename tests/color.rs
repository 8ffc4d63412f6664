//! Colour like uv: `--color auto|always|never`; without it `NO_COLOR`, then `FORCE_COLOR`
//! / `CLICOLOR_FORCE` (uv's `resolve_color`); auto as uv's `anstream` decides it: only on
//! a terminal (a real pty here) whose `TERM` is set and not `dumb` (or `CLICOLOR` set, or
//! `CI` set), never with `CLICOLOR=0`.
//! `-q` prints only the result line; `-v` adds each stage's timing and each root searched.

mod common;
#[path = "common/pty.rs"]
mod pty;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A dead archive (beta) and a live one (alpha): the report has a table and a result.
fn world() -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    sandbox.venv("projects/keep", &uv(), LinkMode::Hardlink, &["alpha==1.0"]);
    let gone = sandbox.venv("projects/gone", &uv(), LinkMode::Hardlink, &["beta==1.0"]);
    delete(&gone);
    let projects = sandbox.projects();
    (sandbox, projects)
}

fn cmd(sandbox: &Sandbox, projects: &Path, extra: &[&str], env: &[(&str, &str)]) -> Command {
    let mut args = plan_args(&[projects]);
    args.extend(extra.iter().map(Into::into));
    let mut cmd = sandbox.prune_cmd(&args);
    // `TERM` is left as it is: the pty sets `xterm-256color` unless a case sets it.
    for key in [
        "NO_COLOR",
        "FORCE_COLOR",
        "CLICOLOR_FORCE",
        "CLICOLOR",
        "CI",
    ] {
        cmd.env_remove(key);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

fn piped(cmd: &mut Command) -> (String, String) {
    let output = cmd.output().expect("run");
    assert!(output.status.success(), "{output:?}");
    (
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Flags, environment, coloured on a terminal, coloured piped.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], bool, bool);

const ESC: &str = "\x1b[";

#[test]
fn colour_follows_the_flag_then_no_color_then_force_color_and_only_a_terminal_by_default() {
    let (sandbox, projects) = world();
    let err = sandbox.path("stderr.txt");
    let on_pty = |extra: &[&str], env: &[(&str, &str)]| {
        let shown = pty::run_in_pty(
            &cmd(&sandbox, &projects, extra, env),
            100,
            40,
            None,
            Some(&err),
        );
        assert_eq!(shown.status, 0, "{}", shown.screen);
        shown.screen.contains(ESC)
    };
    let on_pipe = |extra: &[&str], env: &[(&str, &str)]| {
        piped(&mut cmd(&sandbox, &projects, extra, env))
            .0
            .contains(ESC)
    };
    // (what, coloured on a terminal, coloured piped)
    let cases: [Case; 16] = [
        (&[], &[], true, false),
        (&[], &[("NO_COLOR", "1")], false, false),
        (&[], &[("NO_COLOR", "")], true, false),
        (&[], &[("FORCE_COLOR", "1")], true, true),
        (&[], &[("CLICOLOR_FORCE", "1")], true, true),
        (
            &[],
            &[("NO_COLOR", "1"), ("FORCE_COLOR", "1")],
            false,
            false,
        ),
        (&["--color", "always"], &[("NO_COLOR", "1")], true, true),
        (&["--color", "never"], &[("FORCE_COLOR", "1")], false, false),
        (&["--color", "auto"], &[("FORCE_COLOR", "1")], true, false),
        // What uv's auto (anstream's) reads besides a terminal.
        (&[], &[("TERM", "dumb")], false, false),
        (&[], &[("TERM", "dumb"), ("CI", "true")], true, false),
        (&[], &[("TERM", "dumb"), ("CLICOLOR", "1")], true, false),
        (&[], &[("CLICOLOR", "0")], false, false),
        (&[], &[("CLICOLOR", "0"), ("FORCE_COLOR", "1")], true, true),
        (&["--color", "auto"], &[("NO_COLOR", "1")], false, false),
        (&["--color", "auto"], &[("CLICOLOR_FORCE", "1")], true, true),
    ];
    for (extra, env, terminal, pipe) in cases {
        assert_eq!(
            on_pty(extra, env),
            terminal,
            "{extra:?} {env:?} on a terminal"
        );
        assert_eq!(on_pipe(extra, env), pipe, "{extra:?} {env:?} piped");
    }
    // What is coloured is the result line, bold, and nothing from the disk.
    let shown = pty::run_in_pty(
        &cmd(&sandbox, &projects, &[], &[]),
        100,
        40,
        None,
        Some(&err),
    );
    let last = shown
        .screen
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert!(
        last.starts_with("\x1b[1mDry run: nothing was deleted. --apply would remove 1 archive")
            && last.ends_with("\x1b[0m"),
        "{last:?}"
    );
}

#[test]
fn quiet_prints_only_the_result_line_and_verbose_the_stages_and_roots() {
    let (sandbox, projects) = world();
    let (json, _) = piped(&mut cmd(&sandbox, &projects, &["--json"], &[]));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let bytes = uv_cache_prune::human_bytes(json["reclaimable_bytes"].as_u64().unwrap());

    let (stdout, stderr) = piped(&mut cmd(&sandbox, &projects, &["-q"], &[]));
    assert_eq!(
        stdout,
        format!("Dry run: nothing was deleted. --apply would remove 1 archive and free {bytes}.\n")
    );
    assert_eq!(stderr, "");

    let (stdout, stderr) = piped(&mut cmd(&sandbox, &projects, &["-v"], &[]));
    assert!(
        stdout.contains("SIZE  PACKAGE"),
        "the report as usual:\n{stdout}"
    );
    for stage in [
        "reading archives",
        "finding venvs",
        "matching venvs",
        "measuring archives",
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("stage {stage:<20}")) && l.ends_with(" ms")),
            "{stage}:\n{stderr}"
        );
    }
    assert!(
        stderr.lines().any(|l| l
            == format!(
                "searched {} (flag): {} directories, 1 venv, 0 locks",
                path_str(&projects),
                json["roots"][0]["dirs_searched"]
            )),
        "{stderr}"
    );

    // -q with --apply: the one line says what was removed.
    let (stdout, _) = piped(&mut cmd(&sandbox, &projects, &["-q", "--apply"], &[]));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("Removed 1 archive and "), "{stdout}");
}
