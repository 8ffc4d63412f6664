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
