//! Making uv's cached environments (`environments-v*`) the way a person does, offline from
//! the sandbox's find-links dir: `uvx` (`uv tool run`), `uv run --with`, and PEP 723
//! scripts (`uv run script.py`). Used by the tests of freeing and of naming them.

use std::collections::BTreeSet;
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

/// What uv keeps in `environments-v*`: each link of a `uvx` / `uv run --with` environment
/// (`<digest>/<digest>`, a symlink to a venv archive) with the archive id it names, and
/// each script environment (a venv right in the bucket), by path.
pub fn environment_entries(cache: &Path) -> (BTreeSet<(PathBuf, String)>, BTreeSet<PathBuf>) {
    let mut links = BTreeSet::new();
    let mut scripts = BTreeSet::new();
    for bucket in std::fs::read_dir(cache).unwrap().flatten() {
        let name = bucket.file_name();
        if !name.to_string_lossy().starts_with("environments-v") {
            continue;
        }
        for entry in std::fs::read_dir(bucket.path()).unwrap().flatten() {
            if entry.path().join("pyvenv.cfg").is_file() {
                scripts.insert(entry.path());
                continue;
            }
            let Ok(inner) = std::fs::read_dir(entry.path()) else {
                continue;
            };
            for link in inner.flatten() {
                if let Ok(target) = std::fs::read_link(link.path()) {
                    let id = target.file_name().unwrap().to_string_lossy().into_owned();
                    links.insert((link.path(), id));
                }
            }
        }
    }
    (links, scripts)
}
