//! The crate embedded in another repository's xtask, the design's centre: a new workspace
//! whose `xtask` depends on this crate by path and flattens `uv_cache_prune::Args` into its
//! own task enum beside a task of its own, built offline (the dependencies are this
//! workspace's, already in cargo's registry), then `cargo xtask cache-prune --json` and
//! `--apply` on a real uv cache.
//!
//! The files are taken verbatim from the snippet in docs/install.md, so the documented
//! code is exactly the code that is built and run here.

mod common;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The fenced block that follows `<!-- embed-test: NAME -->` in docs/install.md.
fn snippet(doc: &str, name: &str) -> String {
    let marker = format!("<!-- embed-test: {name} -->");
    let after = doc
        .split_once(&marker)
        .unwrap_or_else(|| panic!("docs/install.md has no {marker}"))
        .1;
    let body = after
        .trim_start()
        .split_once('\n')
        .expect("a fence line after the marker")
        .1;
    body.split_once("```")
        .unwrap_or_else(|| panic!("the {name} block is not closed"))
        .0
        .to_owned()
}

/// Cargo and rustup as the test runs them, whatever HOME the sandbox sets.
fn toolchain_env(cmd: &mut Command) {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME").map_or_else(|| home.join(".cargo"), Into::into);
    let rustup_home =
        std::env::var_os("RUSTUP_HOME").map_or_else(|| home.join(".rustup"), Into::into);
    cmd.env("CARGO_HOME", cargo_home)
        .env("RUSTUP_HOME", rustup_home)
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
}

/// Writes the other team's workspace: the docs' xtask, with this crate by path.
fn their_workspace(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = fs::read_to_string(root.join("docs/install.md")).expect("read docs/install.md");
    let manifest = snippet(&doc, "xtask/Cargo.toml");
    let by_version = "uv-cache-prune = \"0.1\"\n";
    assert!(manifest.contains(by_version), "{manifest}");
    let by_path = format!("uv-cache-prune = {{ path = {:?} }}\n", path_str(root));
    let files = [
        (
            "Cargo.toml",
            "[workspace]\nmembers = [\"xtask\"]\nresolver = \"3\"\n".to_owned(),
        ),
        ("xtask/Cargo.toml", manifest.replace(by_version, &by_path)),
        ("xtask/src/main.rs", snippet(&doc, "xtask/src/main.rs")),
        (".cargo/config.toml", snippet(&doc, ".cargo/config.toml")),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("create dirs");
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    // Our lock file: the resolution offline picks exactly the versions already fetched.
    fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");
}

#[test]
fn another_workspaces_xtask_flattens_args_and_prunes_a_real_cache() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    sandbox.venv("projects/live", &uv(), LinkMode::Hardlink, &["alpha"]);
    let dead = sandbox.venv("projects/dead", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&dead);
    let alpha = sandbox.archive_of("alpha", "1.0");
    let beta = sandbox.archive_of("beta", "1.0");

    let workspace = sandbox.path("their-project");
    their_workspace(&workspace);
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("embed-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    let mut build = Command::new(&cargo);
    build
        .current_dir(&workspace)
        .args(["build", "--offline", "--quiet", "--package", "xtask"]);
    toolchain_env(&mut build);
    build.env("CARGO_TARGET_DIR", &target);
    let output = build.output().expect("cargo build");
    assert!(output.status.success(), "{}", describe(&build, &output));

    let xtask = |args: &[OsString]| {
        let mut cmd = sandbox.uv_cmd(Path::new(&cargo));
        toolchain_env(&mut cmd);
        cmd.current_dir(&workspace)
            .env("CARGO_TARGET_DIR", &target)
            .arg("xtask")
            .args(args);
        let output = cmd.output().expect("cargo xtask");
        (cmd, output)
    };
    let (cmd, output) = xtask(&["check".into()]);
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "check: ok\n");

    let mut args: Vec<OsString> = vec!["cache-prune".into(), "--json".into()];
    args.extend(plan_args(&[&sandbox.projects()]));
    let (cmd, output) = xtask(&args);
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}:\n{}", describe(&cmd, &output)));
    assert_eq!(report["dry_run"], true, "{report:#}");
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert_eq!(live_ids(&report), set([&alpha]), "{report:#}");
    assert_eq!(sandbox.all_archives(), set([&alpha, &beta]));

    args.push("--apply".into());
    let (cmd, output) = xtask(&args);
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}:\n{}", describe(&cmd, &output)));
    assert_eq!(report["dry_run"], false, "{report:#}");
    assert_eq!(candidate_ids(&report), set([&beta]), "{report:#}");
    assert!(report["removed_bytes"].as_u64() > Some(0), "{report:#}");
    assert_eq!(sandbox.all_archives(), set([&alpha]));
    sandbox.assert_imports(&sandbox.path("projects/live"), &["alpha"]);

    // Bad usage is clap's, through the flattened Args: exit 2, nothing touched.
    let (cmd, output) = xtask(&["cache-prune".into(), "--no-such-flag".into()]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&cmd, &output));
}
