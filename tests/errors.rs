//! Errors say what values are accepted and what to do: `--threads 0`, a negative
//! `--grace`, `UV_CACHE_PRUNE_CONFIG` naming a missing file; `--help` lists every config key.

mod common;

use common::*;

fn stderr_of(sandbox: &Sandbox, args: &[&str], env: &[(&str, &std::path::Path)]) -> (i32, String) {
    let mut cmd = sandbox.prune_cmd(args);
    cmd.env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("run");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_values_say_what_is_accepted() {
    let sandbox = Sandbox::new();
    let (code, err) = stderr_of(&sandbox, &["--threads", "0"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("invalid value '0' for '--threads <N>': 0 threads cannot do anything: give 1 or more, or leave --threads out for one per core"),
        "{err}"
    );
    let (code, err) = stderr_of(&sandbox, &["--grace", "-1h"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("invalid value '-1h' for '--grace <DURATION>': \"-1h\" is negative: a duration is 0 or more, a number and a unit (examples: 0s, 90m, 30d)"),
        "{err}"
    );
    let (code, err) = stderr_of(&sandbox, &["--unused-for", "-30d"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("\"-30d\" is negative"), "{err}");
}

#[test]
fn a_config_file_named_by_the_environment_must_exist() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path("no/such/config.toml");
    let (code, err) = stderr_of(&sandbox, &[], &[("UV_CACHE_PRUNE_CONFIG", &missing)]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        format!(
            "error: UV_CACHE_PRUNE_CONFIG names {}, which does not exist: nothing was read or \
             deleted; create it, fix the path, or unset UV_CACHE_PRUNE_CONFIG to use the default \
             config file\n",
            path_str(&missing)
        )
    );
}

#[test]
fn help_lists_every_config_key() {
    let sandbox = Sandbox::new();
    let output = sandbox.bare_prune_cmd().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains(
            "roots, exclude, keep, grace, unused-for, max-size, hook-unused-for, ignore-locks."
        ),
        "{help}"
    );
}

/// Writes `text` as the config the environment names, runs a plan, and returns the exit
/// status and stderr.
fn with_config(sandbox: &Sandbox, text: &str, args: &[&str]) -> (i32, String, std::path::PathBuf) {
    let config = sandbox.path("my-config.toml");
    std::fs::write(&config, text).unwrap();
    let (code, err) = stderr_of(sandbox, args, &[("UV_CACHE_PRUNE_CONFIG", &config)]);
    (code, err, config)
}

#[test]
fn a_config_error_is_one_line_with_file_line_and_column() {
    let sandbox = Sandbox::new();
    // The typo of issue 20, on line 2: the closest known key is named.
    let (code, err, config) =
        with_config(&sandbox, "keep = [\"numpy\"]\nunused_for = \"30d\"\n", &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        format!(
            "error: {}:2:1: unknown key `unused_for`: did you mean `unused-for`? (the keys: \
             roots, exclude, keep, grace, unused-for, max-size, hook-unused-for, ignore-locks); \
             fix the config or move it aside (nothing was deleted)\n",
            path_str(&config)
        )
    );
    // A key nothing is close to: no guess, the list.
    let (_, err, config) = with_config(&sandbox, "frobnicate = 1\n", &[]);
    assert_eq!(
        err,
        format!(
            "error: {}:1:1: unknown key `frobnicate` (the keys: roots, exclude, keep, grace, \
             unused-for, max-size, hook-unused-for, ignore-locks); fix the config or move it \
             aside (nothing was deleted)\n",
            path_str(&config)
        )
    );
    // A syntax error: the column of the problem, toml's words, no snippet.
    let (code, err, config) = with_config(&sandbox, "grace = \"1h\"\nroots = [\n", &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        format!(
            "error: {}:2:10: `roots`: unclosed array, expected `]`; fix the config or move it aside \
             (nothing was deleted)\n",
            path_str(&config)
        )
    );
}

#[test]
fn a_size_without_a_unit_says_to_add_one() {
    let sandbox = Sandbox::new();
    // `max-size = 20` used to mean 20 bytes, and every dead archive went.
    let (code, err, config) = with_config(&sandbox, "max-size = 20\n", &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        format!(
            "error: {}:1:12: `max-size`: 20 has no unit: write it as a string with one, like \"20GiB\" or \
             \"20MB\", or \"20B\" if you mean bytes; fix the config or move it aside (nothing \
             was deleted)\n",
            path_str(&config)
        )
    );
    let (_, err, config) = with_config(&sandbox, "max-size = \"500\"\n", &[]);
    assert_eq!(
        err,
        format!(
            "error: {}:1:12: `max-size`: \"500\" has no unit: write 500GiB or 500MB, or 500B if you mean \
             bytes; fix the config or move it aside (nothing was deleted)\n",
            path_str(&config)
        )
    );
    let (code, err) = stderr_of(&sandbox, &["--max-size", "20"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with(
            "error: invalid value '20' for '--max-size <SIZE>': \"20\" has no unit: write 20GiB \
             or 20MB, or 20B if you mean bytes\n"
        ),
        "{err}"
    );
    // With a unit, or zero (of anything), the run goes on.
    sandbox.wheel("alpha", "1.0");
    sandbox.venv("projects/a/.venv", &uv(), LinkMode::Copy, &["alpha"]);
    for ok in [
        "max-size = \"20B\"\n",
        "max-size = 0\n",
        "max-size = \"20GiB\"\n",
    ] {
        let (code, err, _) = with_config(&sandbox, ok, &["--no-default-roots"]);
        assert_eq!(code, 0, "{ok}: {err}");
    }
}
