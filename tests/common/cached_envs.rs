//! Making uv's cached environments (`environments-v*`) the way a person does, offline from
//! the sandbox's find-links dir: `uvx` (`uv tool run`), `uv run --with`, and PEP 723
//! scripts (`uv run script.py`). Used by the tests of freeing and of naming them.

use std::path::{Path, PathBuf};

use super::{Sandbox, describe, path_str};

/// Runs `bin` (uv) with `args` and the sandbox's find-links dir, `--offline`; returns stdout.
pub fn run_uv(sandbox: &Sandbox, bin: &Path, command: &[&str], rest: &[&str]) -> String {
    let mut cmd = sandbox.uv_cmd(bin);
    cmd.args(command)
        .args(["--offline", "--no-index", "--find-links"])
        .arg(sandbox.wheels())
        .args(rest);
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `uv tool run --from TOOL [EXTRA...] TOOL-cli`: the test wheels' console script.
pub fn uvx(sandbox: &Sandbox, bin: &Path, tool: &str, extra: &[&str]) -> String {
    let cli = format!("{tool}-cli");
    let mut rest = vec!["--from", tool];
    rest.extend(extra);
    rest.push(&cli);
    run_uv(sandbox, bin, &["tool", "run"], &rest)
}

/// `uv run --with PACKAGE python -c 'import PACKAGE; PACKAGE.main()'`.
pub fn run_with(sandbox: &Sandbox, bin: &Path, package: &str) -> String {
    let code = format!("import {package}; {package}.main()");
    run_uv(
        sandbox,
        bin,
        &["run"],
        &["--with", package, "python", "-c", &code],
    )
}

/// A PEP 723 script `scripts/run_PACKAGE.py` depending on `package` that calls its `main`.
pub fn script(sandbox: &Sandbox, package: &str) -> PathBuf {
    let path = sandbox.path(format!("scripts/run_{package}.py"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        format!(
            "# /// script\n# dependencies = [\"{package}\"]\n# ///\nimport {package}\n{package}.main()\n"
        ),
    )
    .unwrap();
    path
}

/// `uv run SCRIPT`.
pub fn run_script(sandbox: &Sandbox, bin: &Path, script: &Path) -> String {
    run_uv(sandbox, bin, &["run"], &[&path_str(script)])
}
