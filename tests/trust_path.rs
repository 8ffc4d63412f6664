//! Root under `sudo -E` runs with the user's `PATH`: a `uv` the user planted there must
//! never run as root, and what a trusted uv says of the cache is taken byte for byte.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::users::{TestUser, root_or_skip};
use common::*;

/// `PATH` = `first` then the system's directories.
fn path_with(first: &Path) -> String {
    format!("{}:/usr/bin:/bin", first.display())
}

/// Our binary with the sandbox's isolation, but finding the cache as a user's shell
/// would: no `UV_CACHE_DIR`, so `uv cache dir` is asked.
fn prune_asking_uv(sandbox: &Sandbox, path: &str) -> Command {
    let mut cmd = sandbox.bare_prune_cmd();
    cmd.env_remove("UV_CACHE_DIR")
        .env("PATH", path)
        .args(["--grace", "0s", "--json"]);
    cmd
}

#[test]
fn root_never_runs_a_uv_another_user_could_plant() {
    let Some(user) = TestUser::create("trust-path") else {
        return;
    };
    let sandbox = Sandbox::new();
    let planted = sandbox.path("userbin");
    fs::create_dir(&planted).unwrap();
    let marker = sandbox.path("ran-as-root");
    let script = planted.join("uv");
    fs::write(
        &script,
        format!("#!/bin/sh\ntouch '{}'\necho /tmp\n", marker.display()),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    user.give(&planted);

    let output = prune_asking_uv(&sandbox, &path_with(&planted))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!marker.exists(), "root ran the user's uv");
    // It fell back on uv's default place in the (sandboxed) home instead.
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["cache_dir"],
        path_str(&sandbox.path("xdg/cache/uv")),
        "{report:#}"
    );
}

#[test]
fn what_uv_says_of_the_cache_is_used_byte_for_byte() {
    if !root_or_skip("what_uv_says_of_the_cache_is_used_byte_for_byte") {
        return;
    }
    // A cache whose directory name ends in a space, set in a uv config file that only
    // uv reads: the tool learns it from `uv cache dir`.
    let sandbox = Sandbox::new();
    let cache = sandbox.path("cache ");
    sandbox.wheel("alpha", "1.0");
    let venv = sandbox.path("projects/gone");
    let mut make = sandbox.uv_cmd(&uv());
    make.env("UV_CACHE_DIR", &cache).arg("venv").arg(&venv);
    assert!(make.status().unwrap().success());
    let mut install = sandbox.uv_cmd(&uv());
    install
        .env("UV_CACHE_DIR", &cache)
        .args(["pip", "install", "--python"])
        .arg(&venv)
        .args(["--no-index", "--find-links"])
        .arg(sandbox.wheels())
        .arg("alpha");
    assert!(install.status().unwrap().success());
    delete(&venv);
    let config = sandbox.path("uv.toml");
    fs::write(&config, format!("cache-dir = \"{}\"\n", cache.display())).unwrap();

    let uv_dir = uv().parent().unwrap().to_owned();
    let mut cmd = prune_asking_uv(&sandbox, &path_with(&uv_dir));
    cmd.env_remove("UV_NO_CONFIG")
        .env("UV_CONFIG_FILE", &config);
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cache_dir"], path_str(&cache), "{report:#}");
    assert_eq!(report["archives"]["dead"], 1, "{report:#}");
}
