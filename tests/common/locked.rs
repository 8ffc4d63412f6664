//! Projects with a real `uv.lock`: an index that publishes digests (so uv records them in
//! the lock, as it does with PyPI), source archives and trees uv can build offline, and
//! `uv sync` in a project directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::{Sandbox, describe};

/// Copies `file` (a wheel or an sdist of `name`) into the index as
/// `simple/<name>/<file>` with a `<file>.sha256` sidecar, so that the listing links it with
/// `#sha256=<hex>`; returns the hex digest.
pub fn publish_hashed(sandbox: &Sandbox, name: &str, file: &Path) -> String {
    let bytes = fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = sandbox.index_dir().join("simple").join(name);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let file_name = file.file_name().expect("a file name").to_string_lossy();
    fs::write(dir.join(&*file_name), &bytes).expect("copy into the index");
    fs::write(dir.join(format!("{file_name}.sha256")), &hex).expect("write digest sidecar");
    hex
}

/// A source tree `<sandbox>/sources/<name>-<version>` with an in-tree PEP 517 backend and
/// no build requirements, so uv builds (and rebuilds, editable or not) it offline.
pub fn source_tree(sandbox: &Sandbox, name: &str, version: &str) -> PathBuf {
    let dir = sandbox.path("sources").join(format!("{name}-{version}"));
    write_source_tree(&dir, name, version, &[]);
    dir
}

/// Writes a buildable project `name` `version` depending on `deps` into `dir`.
pub fn write_source_tree(dir: &Path, name: &str, version: &str, deps: &[&str]) {
    let filler = r##"("# filler\n" * 400).encode()"##;
    write_source_tree_with_data(dir, name, version, deps, filler);
}

/// [`write_source_tree`] whose module `data.py` holds the bytes of the Python expression
/// `data` (which may use `NAME` and `VERSION`): a test that measures freed bytes wants a
/// large module of each package's own.
pub fn write_source_tree_with_data(
    dir: &Path,
    name: &str,
    version: &str,
    deps: &[&str],
    data: &str,
) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let deps: Vec<String> = deps.iter().map(|d| format!("{d:?}")).collect();
    let pyproject = format!(
        "[project]\nname = \"{name}\"\nversion = \"{version}\"\nrequires-python = \">=3.8\"\n\
         dependencies = [{}]\n\n[build-system]\nrequires = []\nbuild-backend = \"backend\"\n\
         backend-path = [\".\"]\n",
        deps.join(", ")
    );
    let requires: String = deps
        .iter()
        .map(|d| format!("Requires-Dist: {}\\n", d.trim_matches('"')))
        .collect();
    let backend = format!(
        r##"import base64, hashlib, zipfile

NAME, VERSION = "{name}", "{version}"


def _files():
    info = f"{{NAME}}-{{VERSION}}.dist-info"
    return {{
        f"{{NAME}}/__init__.py": f"NAME = '{{NAME}}'\n".encode(),
        f"{{NAME}}/data.py": {data},
        f"{{info}}/METADATA": f"Metadata-Version: 2.1\nName: {{NAME}}\nVersion: {{VERSION}}\n{requires}".encode(),
        f"{{info}}/WHEEL": b"Wheel-Version: 1.0\nGenerator: backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }}, info


def _wheel(wheel_directory):
    files, info = _files()
    record = "".join(
        f"{{path}},sha256={{base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()}},{{len(data)}}\n"
        for path, data in files.items()
    ) + f"{{info}}/RECORD,,\n"
    files[f"{{info}}/RECORD"] = record.encode()
    wheel = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(f"{{wheel_directory}}/{{wheel}}", "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory)
"##
    );
    fs::write(dir.join("pyproject.toml"), pyproject).expect("write pyproject.toml");
    fs::write(dir.join("backend.py"), backend).expect("write backend.py");
    fs::write(
        dir.join("PKG-INFO"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
    )
    .expect("write PKG-INFO");
}

/// An sdist `<name>-<version>.tar.gz` of [`source_tree`], made with `tar`.
pub fn sdist(sandbox: &Sandbox, name: &str, version: &str) -> PathBuf {
    let tree = source_tree(sandbox, name, version);
    let out = sandbox.path("sdists");
    fs::create_dir_all(&out).expect("create sdist dir");
    let archive = out.join(format!("{name}-{version}.tar.gz"));
    let mut tar = Command::new("tar");
    tar.arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(tree.parent().expect("sources dir"))
        .arg(tree.file_name().expect("tree name"));
    let output = tar.output().expect("run tar");
    assert!(output.status.success(), "{}", describe(&tar, &output));
    archive
}

/// Writes `<dir>/pyproject.toml` for a (non-package) project `name` depending on `deps`,
/// with `extra` appended (a `[tool.uv…]` table).
pub fn write_project(dir: &Path, name: &str, deps: &[String], extra: &str) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let deps: Vec<String> = deps.iter().map(|d| format!("{d:?}")).collect();
    let pyproject = format!(
        "[project]\nname = \"{name}\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
         dependencies = [{}]\n{extra}",
        deps.join(", ")
    );
    fs::write(dir.join("pyproject.toml"), pyproject).expect("write pyproject.toml");
}

/// Runs `bin args...` in `dir` inside the sandbox and panics, with its output, unless it
/// succeeds.
pub fn uv_in(sandbox: &Sandbox, bin: &Path, dir: &Path, args: &[&str]) {
    let mut cmd = sandbox.uv_cmd(bin);
    cmd.current_dir(dir).args(args);
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(output.status.success(), "{}", describe(&cmd, &output));
}

/// `uv sync --index-url <url>` in `dir`: locks and installs.
pub fn sync(sandbox: &Sandbox, bin: &Path, dir: &Path, url: &str) {
    uv_in(sandbox, bin, dir, &["sync", "--index-url", url]);
}

/// `uv sync --offline --frozen` in `dir`: succeeds only if the cache holds everything the
/// lock needs (nothing can be fetched, nothing re-resolved).
pub fn sync_offline(sandbox: &Sandbox, bin: &Path, dir: &Path) {
    uv_in(sandbox, bin, dir, &["sync", "--offline", "--frozen"]);
}
