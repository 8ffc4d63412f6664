//! A user's own hook that merely mentions the shim's marker text is not the shim: with
//! real git, it survives `install-hooks` and `install-hooks --uninstall` byte for byte.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_uv-cache-prune");

fn ok(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(output.status.success(), "{}", describe(cmd, &output));
    output
}

fn isolated(sandbox: &Sandbox, program: &str) -> Command {
    let mut cmd = sandbox.uv_cmd(Path::new(program));
    cmd.env("GIT_CONFIG_NOSYSTEM", "1");
    cmd
}

#[test]
fn a_user_hook_mentioning_the_marker_survives_install_and_uninstall() {
    let sandbox = Sandbox::new();
    let repo = sandbox.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    ok(isolated(&sandbox, "git")
        .arg("-C")
        .arg(&repo)
        .args(["init", "-q", "-b", "main"]));
    let hook = repo.join(".git/hooks/post-merge");
    let mine = "#!/bin/sh\n# My own hook. It also starts the uv-cache-prune git hook shim's job by hand:\n# (uv-cache-prune git hook shim, installed as post-checkout and post-merge by)\necho mine >> \"$HOME/merged\"\n";
    std::fs::write(&hook, mine).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o750)).unwrap();

    let install = ok(isolated(&sandbox, BIN)
        .args(["install-hooks", "--repo"])
        .arg(&repo));
    let chained = repo.join(".git/hooks/post-merge.uv-cache-prune-chained");
    assert_eq!(
        std::fs::read_to_string(&chained).unwrap_or_default(),
        mine,
        "the user's hook was not kept beside ours: {}",
        String::from_utf8_lossy(&install.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        include_str!("../hooks/uv-cache-prune.sh")
    );
    // Installing again recognizes our shim and keeps the chained hook as it is.
    ok(isolated(&sandbox, BIN)
        .args(["install-hooks", "--repo"])
        .arg(&repo));
    assert_eq!(std::fs::read_to_string(&chained).unwrap(), mine);

    ok(isolated(&sandbox, BIN)
        .args(["install-hooks", "--uninstall", "--repo"])
        .arg(&repo));
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), mine);
    let mode = std::fs::metadata(&hook).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o750);
    assert!(!chained.exists());
    // Uninstalling again leaves the user's hook alone.
    ok(isolated(&sandbox, BIN)
        .args(["install-hooks", "--uninstall", "--repo"])
        .arg(&repo));
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), mine);
}
