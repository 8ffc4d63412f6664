//! Builds tiny but valid pure-Python wheels, so the scenarios never need an index on the
//! internet and every byte in the cache is known.
//!
//! uv verifies `RECORD` and needs a console script for `uv tool install`, so the wheels
//! carry real sha256 hashes and an entry point. A deterministic `data.py` of a few KB makes
//! byte counts non-trivial (several filesystem blocks) and differ between versions.
//! Optional extra modules, spread over subpackages, make archives with hundreds of files
//! and directories: the deletions a crash can interrupt half-way.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// Size of the filler module every wheel carries, before any `extra_bytes`.
const BASE_DATA_BYTES: usize = 6 * 1024;

/// How many extra modules share one subpackage directory.
const MODULES_PER_DIR: usize = 40;

/// Writes `<dir>/<name>-<version>-py3-none-any.whl` with `extra_bytes` more filler than usual.
pub fn write_wheel(
    dir: &Path,
    name: &str,
    version: &str,
    extra_bytes: usize,
) -> std::path::PathBuf {
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
) -> std::path::PathBuf {
    let path = dir.join(format!("{name}-{version}-py3-none-any.whl"));
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

    let file = File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut zip = zip::ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (name, content) in &files {
        zip.start_file(name.as_str(), options)
            .and_then(|()| zip.write_all(content).map_err(Into::into))
            .unwrap_or_else(|e| panic!("write {name} into {}: {e}", path.display()));
    }
    zip.finish()
        .unwrap_or_else(|e| panic!("finish {}: {e}", path.display()));
    path
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
        let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(content));
        writeln!(out, "{name},sha256={hash},{}", content.len()).expect("write to String");
    }
    writeln!(out, "{dist_info}/RECORD,,").expect("write to String");
    out
}
