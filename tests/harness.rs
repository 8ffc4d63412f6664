//! Checks of the test bed itself, independent of the pruner: if one of these fails, the
//! scenario failures that follow say nothing about the tool.

mod common;

use std::process::Command;

use common::*;

#[test]
fn pinned_uv_versions_are_provisioned() {
    for (bin, version) in [
        (uv(), uv_bin::UV_VERSION),
        (uv_old(), uv_bin::UV_OLD_VERSION),
    ] {
        let output = Command::new(&bin)
            .arg("--version")
            .output()
            .expect("run uv --version");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.starts_with(&format!("uv {version} ")),
            "{} --version: {stdout}",
            bin.display()
        );
    }
}

#[test]
fn built_wheel_installs_and_imports_from_find_links() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    let venv = sandbox.venv("projects/a/.venv", &uv(), LinkMode::Hardlink, &["alpha"]);

    let output = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import alpha, alpha.data; print(alpha.VERSION, len(dir(alpha.data)) > 100)",
        ])
        .output()
        .expect("run the venv's python");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "1.0 True");
    assert!(
        venv.join("bin/alpha-cli").is_file(),
        "console script installed"
    );
    assert_eq!(sandbox.archives_of("alpha", "1.0").len(), 1);
    assert!(
        sandbox.cache().join("CACHEDIR.TAG").is_file(),
        "uv used the sandbox cache"
    );
    assert!(
        !sandbox.home().join(".cache").exists(),
        "nothing went to the sandbox home cache"
    );
}

#[test]
fn index_server_serves_a_simple_index_that_uv_stores_as_http_pointers() {
    let sandbox = Sandbox::new();
    let wheel = sandbox.wheel("gamma", "3.0");
    sandbox.publish(&wheel);
    let server = IndexServer::start(&sandbox.index_dir());

    sandbox.venv_from(
        "projects/g/.venv",
        &uv(),
        LinkMode::Copy,
        Source::Index(&server.url()),
        &["gamma"],
    );
    let http = files_with_extension(&sandbox.cache().join("wheels-v8"), "http");
    assert_eq!(http.len(), 1, "one .http pointer: {http:?}");
    let symlink = http[0].with_extension("");
    assert_eq!(
        archive_named_by(&symlink),
        sandbox.archive_of("gamma", "3.0")
    );
}

#[test]
fn du_counts_allocated_blocks_and_snapshot_sees_mtime_changes() {
    let sandbox = Sandbox::new();
    let file = sandbox.path("projects/file");
    std::fs::write(&file, vec![b'x'; 5000]).expect("write");
    assert_eq!(du_bytes(&[&file]), 8192, "5000 bytes take two 4 KiB blocks");

    let before = snapshot(&sandbox.projects());
    let same_content = std::fs::read(&file).expect("read");
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, same_content).expect("rewrite");
    let after = snapshot(&sandbox.projects());
    assert_ne!(
        before, after,
        "rewriting a file with the same bytes changes its mtime"
    );
}

#[test]
fn a_renamed_archive_is_still_used_by_uv_and_by_symlinked_venvs() {
    let sandbox = Sandbox::new();
    sandbox.wheel("beta", "1.0");
    let venv = sandbox.venv("projects/b/.venv", &uv(), LinkMode::Symlink, &["beta"]);
    let old = sandbox.archive_of("beta", "1.0");
    let new = format!("-{}", &old[1..]);
    sandbox.rename_archive(&old, &new);

    let import = Command::new(venv.join("bin/python"))
        .args(["-c", "import beta; print(beta.VERSION)"])
        .output()
        .expect("run the venv's python");
    assert_eq!(String::from_utf8_lossy(&import.stdout).trim(), "1.0");
    // uv follows the rewritten pointer instead of unpacking the wheel again.
    sandbox.venv("projects/again/.venv", &uv(), LinkMode::Hardlink, &["beta"]);
    assert_eq!(sandbox.all_archives(), report::set([&new]));
}
