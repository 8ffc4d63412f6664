//! Small, valid pure-Python wheels and a buildable source tree, so that the soak never
//! needs the internet and every byte of the cache is known.
//!
//! uv verifies `RECORD`, so hashes are real; an entry point makes `uvx` work; extra
//! modules spread over subdirectories make archives whose deletion takes long enough for a
//! kill to land in it.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// Modules per subpackage directory.
const MODULES_PER_DIR: usize = 25;

/// The files of wheel `name` `version` with `modules` extra modules, `RECORD` last: the
/// tree uv unpacks into `archive-v0/<id>`.
pub fn wheel_files(name: &str, version: &str, modules: usize) -> Vec<(String, Vec<u8>)> {
    let info = format!("{name}-{version}.dist-info");
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{name}/__init__.py"),
            format!("NAME = {name:?}\nVERSION = {version:?}\n\n\ndef main():\n    print(NAME, VERSION)\n")
                .into_bytes(),
        ),
        (
            format!("{info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes(),
        ),
        (
            format!("{info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: uv-cache-prune-soak\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
        (
            format!("{info}/entry_points.txt"),
            format!("[console_scripts]\n{name}-cli = {name}:main\n").into_bytes(),
        ),
    ];
    files.extend((0..modules).map(|i| {
        (
            format!("{name}/part_{:02}/m_{i:04}.py", i / MODULES_PER_DIR),
            format!("VALUE = \"{name}-{version}-{i}\"\n").into_bytes(),
        )
    }));
    let record = record(&info, &files);
    files.push((format!("{info}/RECORD"), record.into_bytes()));
    files
}

/// Writes `<dir>/<name>-<version>-py3-none-any.whl`.
pub fn write_wheel(dir: &Path, name: &str, version: &str, modules: usize) -> Result<PathBuf> {
    let path = dir.join(format!("{name}-{version}-py3-none-any.whl"));
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (name, content) in wheel_files(name, version, modules) {
        zip.start_file(name.as_str(), options)
            .with_context(|| format!("adding {name} to {}", path.display()))?;
        zip.write_all(&content)
            .with_context(|| format!("writing {name} into {}", path.display()))?;
    }
    zip.finish()
        .with_context(|| format!("finishing {}", path.display()))?;
    Ok(path)
}

/// Copies `wheel` into a PEP 503 tree as `<index>/simple/<name>/<file>`.
pub fn publish(index: &Path, name: &str, wheel: &Path) -> Result<()> {
    let dir = index.join("simple").join(name);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = wheel.file_name().context("wheel without a file name")?;
    fs::copy(wheel, dir.join(file)).with_context(|| format!("publishing {}", wheel.display()))?;
    Ok(())
}

/// `sha256=<urlsafe b64 nopad>` of `content`, as `RECORD` writes it.
pub fn record_hash(content: &[u8]) -> String {
    format!("sha256={}", URL_SAFE_NO_PAD.encode(Sha256::digest(content)))
}

/// `RECORD`: `path,sha256=...,size` per file, then itself without hash or size.
pub fn record(info: &str, files: &[(String, Vec<u8>)]) -> String {
    let mut out = String::new();
    for (name, content) in files {
        let _ = writeln!(out, "{name},{},{}", record_hash(content), content.len());
    }
    let _ = writeln!(out, "{info}/RECORD,,");
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
