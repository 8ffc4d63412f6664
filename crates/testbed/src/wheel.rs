//! Builds tiny but valid pure-Python wheels, so the scenarios never need an index on the
//! internet and every byte in the cache is known.
//!
//! uv verifies `RECORD` and needs a console script for `uv tool install`, so the wheels
//! carry real sha256 hashes and an entry point. A deterministic `data.py` of a few KB makes
//! byte counts non-trivial (several filesystem blocks) and differ between versions.
//! Optional extra modules, spread over subpackages, make archives with hundreds of files
//! and directories: the deletions a crash can interrupt half-way.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// Size of the filler module every wheel carries, before any `extra_bytes`.
const BASE_DATA_BYTES: usize = 6 * 1024;

/// How many extra modules share one subpackage directory.
const MODULES_PER_DIR: usize = 40;

/// Writes `<dir>/<name>-<version>-py3-none-any.whl` with `extra_bytes` more filler than
/// usual; panics on an I/O error (for the tests).
pub fn write_wheel(dir: &Path, name: &str, version: &str, extra_bytes: usize) -> PathBuf {
    write_wheel_with_modules(dir, name, version, extra_bytes, 0)
}

/// Like [`write_wheel`], plus `modules` small modules `<name>/part_PP/m_NNNN.py`, at most
/// [`MODULES_PER_DIR`] to a directory (namespace subpackages: no `__init__.py` needed).
pub fn write_wheel_with_modules(
    dir: &Path,
    name: &str,
    version: &str,
    extra_bytes: usize,
    modules: usize,
) -> PathBuf {
    try_write_wheel(dir, name, version, extra_bytes, modules).unwrap_or_else(|e| panic!("{e:#}"))
}

/// [`write_wheel_with_modules`] with the error instead of a panic (for the soak).
pub fn try_write_wheel(
    dir: &Path,
    name: &str,
    version: &str,
    extra_bytes: usize,
    modules: usize,
) -> Result<PathBuf> {
    let path = dir.join(format!("{name}-{version}-py3-none-any.whl"));
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (name, content) in wheel_files(name, version, extra_bytes, modules) {
        zip.start_file(name.as_str(), options)
            .with_context(|| format!("adding {name} to {}", path.display()))?;
        zip.write_all(&content)
            .with_context(|| format!("writing {name} into {}", path.display()))?;
    }
    zip.finish()
        .with_context(|| format!("finishing {}", path.display()))?;
    Ok(path)
}

/// The files of the wheel [`try_write_wheel`] writes, `RECORD` last: the tree uv unpacks
/// into `archive-v0/<id>` (the soak's generated caches copy it).
pub fn wheel_files(
    name: &str,
    version: &str,
    extra_bytes: usize,
    modules: usize,
) -> Vec<(String, Vec<u8>)> {
    let dist_info = format!("{name}-{version}.dist-info");
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (format!("{name}/__init__.py"), init_py(name, version).into_bytes()),
        (
            format!("{name}/data.py"),
            filler(name, version, BASE_DATA_BYTES + extra_bytes).into_bytes(),
        ),
        (
            format!("{dist_info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes(),
        ),
        (
            format!("{dist_info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: uv-cache-prune-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .as_bytes()
                .to_vec(),
        ),
        (
            format!("{dist_info}/entry_points.txt"),
            format!("[console_scripts]\n{name}-cli = {name}:main\n").into_bytes(),
        ),
    ];
    files.extend((0..modules).map(|i| {
        (
            format!("{name}/part_{:02}/m_{i:04}.py", i / MODULES_PER_DIR),
            format!("VALUE = \"{name}-{version}-{i}\"\n").into_bytes(),
        )
    }));
    let record = record(&dist_info, &files);
    files.push((format!("{dist_info}/RECORD"), record.into_bytes()));
    files
}

/// Copies `wheel` into a PEP 503 tree as `<index>/simple/<name>/<file>`, `<name>` being
/// the wheel file name's first field.
pub fn publish(index: &Path, wheel: &Path) -> Result<()> {
    let file = wheel
        .file_name()
        .with_context(|| format!("{} has no file name", wheel.display()))?;
    let name = file
        .to_str()
        .and_then(|f| f.split('-').next())
        .with_context(|| format!("{} is not <name>-...", wheel.display()))?;
    let dir = index.join("simple").join(name);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::copy(wheel, dir.join(file))
        .with_context(|| format!("copying {} into the index", wheel.display()))?;
    Ok(())
}

/// `sha256=<urlsafe b64 nopad>` of `content`, as `RECORD` writes it.
pub fn record_hash(content: &[u8]) -> String {
    format!("sha256={}", URL_SAFE_NO_PAD.encode(Sha256::digest(content)))
}

fn init_py(name: &str, version: &str) -> String {
    format!(
        "\"\"\"Test package {name} {version}, built by the uv-cache-prune test bed.\"\"\"\n\
         NAME = \"{name}\"\n\
         VERSION = \"{version}\"\n\
         \n\
         \n\
         def main():\n    print(\"{name} {version}\")\n"
    )
}

/// Python source of at least `bytes` bytes that depends only on its arguments.
fn filler(name: &str, version: &str, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 64);
    let mut line = 0;
    while out.len() < bytes {
        writeln!(out, "DATA_{line:06} = \"{name}-{version}-{line:06}\"").expect("write to String");
        line += 1;
    }
    out
}

/// `RECORD` as the wheel spec wants it: `path,sha256=<urlsafe b64 nopad>,size`, then itself
/// without hash or size.
fn record(dist_info: &str, files: &[(String, Vec<u8>)]) -> String {
    let mut out = String::new();
    for (name, content) in files {
        writeln!(out, "{name},{},{}", record_hash(content), content.len())
            .expect("write to String");
    }
    writeln!(out, "{dist_info}/RECORD,,").expect("write to String");
    out
}

/// A source tree `<dir>/<name>` with an in-tree PEP 517 backend and no build requirements,
/// so uv builds it offline: installing it leaves a built wheel under `sdists-v*` with a
/// symlink pointer to its archive.
pub fn write_source_tree(dir: &Path, name: &str) -> Result<PathBuf> {
    let tree = dir.join(name);
    fs::create_dir_all(&tree).with_context(|| format!("creating {}", tree.display()))?;
    let pyproject = format!(
        "[project]\nname = \"{name}\"\nversion = \"1.0\"\n\n[build-system]\nrequires = []\n\
         build-backend = \"backend\"\nbackend-path = [\".\"]\n"
    );
    let backend = format!(
        r#"import base64, hashlib, zipfile

NAME, VERSION = "{name}", "1.0"


def _digest(data):
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    info = f"{{NAME}}-{{VERSION}}.dist-info"
    files = {{
        f"{{NAME}}/__init__.py": f"NAME = '{{NAME}}'\n".encode(),
        f"{{info}}/METADATA": f"Metadata-Version: 2.1\nName: {{NAME}}\nVersion: {{VERSION}}\n".encode(),
        f"{{info}}/WHEEL": b"Wheel-Version: 1.0\nGenerator: backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }}
    files[f"{{info}}/RECORD"] = ("".join(
        f"{{p}},sha256={{_digest(d)}},{{len(d)}}\n" for p, d in files.items()
    ) + f"{{info}}/RECORD,,\n").encode()
    wheel = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(f"{{wheel_directory}}/{{wheel}}", "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel
"#
    );
    fs::write(tree.join("pyproject.toml"), pyproject)
        .with_context(|| format!("writing {}/pyproject.toml", tree.display()))?;
    fs::write(tree.join("backend.py"), backend)
        .with_context(|| format!("writing {}/backend.py", tree.display()))?;
    Ok(tree)
}
