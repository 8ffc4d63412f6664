//! Wheels whose versions share files byte for byte, as real releases do (most modules do
//! not change between two versions). Under uv's content-addressed cache such files become
//! one inode linked from both archives, which is what the byte counts must get right.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// Writes `<dir>/<name>-<version>-py3-none-any.whl` holding `<name>/shared.py`, the same
/// `shared_bytes` bytes in every version, next to a version-specific `__init__.py`,
/// dist-info and `data.py` of about `own_bytes` bytes.
pub fn write_wheel_sharing(
    dir: &Path,
    name: &str,
    version: &str,
    shared_bytes: usize,
    own_bytes: usize,
) -> PathBuf {
    let path = dir.join(format!("{name}-{version}-py3-none-any.whl"));
    let dist_info = format!("{name}-{version}.dist-info");
    let shared: String = (0..)
        .map(|i| format!("SHARED_{i:06} = \"{name}-{i:06}\"\n"))
        .scan(0, |len, line| {
            *len += line.len();
            (*len <= shared_bytes.max(1)).then_some(line)
        })
        .collect();
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{name}/__init__.py"),
            format!("NAME = \"{name}\"\nVERSION = \"{version}\"\n").into_bytes(),
        ),
        (format!("{name}/shared.py"), shared.into_bytes()),
        (
            format!("{name}/data.py"),
            (0..own_bytes.div_ceil(32).max(1))
                .map(|i| format!("OWN_{i:08} = \"{name}-{version}\"\n"))
                .collect::<String>()
                .into_bytes(),
        ),
        (
            format!("{dist_info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes(),
        ),
        (
            format!("{dist_info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: uv-cache-prune-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
    ];
    let mut record = String::new();
    for (file, content) in &files {
        let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(content));
        record.push_str(&format!("{file},sha256={hash},{}\n", content.len()));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));

    let out = File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut zip = zip::ZipWriter::new(out);
    let options = SimpleFileOptions::default();
    let record_entry = (format!("{dist_info}/RECORD"), record.into_bytes());
    for (file, content) in files.iter().chain([&record_entry]) {
        zip.start_file(file.as_str(), options)
            .and_then(|()| zip.write_all(content).map_err(Into::into))
            .unwrap_or_else(|e| panic!("write {file} into {}: {e}", path.display()));
    }
    zip.finish()
        .unwrap_or_else(|e| panic!("finish {}: {e}", path.display()));
    path
}
