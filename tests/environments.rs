//! Evidence a person recognises: a cached environment (`uv run --with`) is named as one,
//! and a symlink venv is one line per venv in `--explain`, not one per linked file.

mod common;

use common::*;

#[test]
fn explain_names_cached_environments_and_gives_one_line_per_venv() {
    let sandbox = Sandbox::new();
    sandbox.wheel_with_modules("alpha", "1.0", 6);
    sandbox.wheel("beta", "1.0");
    let venv = sandbox.venv("projects/links", &uv(), LinkMode::Symlink, &["alpha==1.0"]);
    // `uv run --with beta`: uv makes a cached environment under environments-v*.
    let run = sandbox.uv_ok_from(
        &uv(),
        &["run", "--no-project", "--link-mode", "symlink"],
        Source::FindLinks,
        &["--with", "beta==1.0", "python", "-c", "import beta"],
    );
    assert!(run.status.success());
    let projects = sandbox.projects();
    let args = |package: &str| {
        let mut args = plan_args(&[&projects]);
        args.extend(["--explain".into(), package.into()]);
        args
    };

    let out = sandbox.prune(&args("alpha"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let symlink_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("    symlink "))
        .collect();
    assert_eq!(symlink_lines.len(), 1, "one line for the venv:\n{text}");
    assert_eq!(
        symlink_lines[0],
        format!("    symlink {}", path_str(&venv)),
        "{text}"
    );

    let out = sandbox.prune(&args("beta"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let named: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("cached environment "))
        .collect();
    assert!(!named.is_empty(), "the environment is named:\n{text}");
    let env_root = std::fs::read_dir(sandbox.cache())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("environments-v")
        })
        .expect("uv made environments-v*");
    let envs: Vec<String> = std::fs::read_dir(&env_root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        named.iter().all(|l| envs
            .iter()
            .any(|e| l.contains(&format!("cached environment {e} (")))),
        "{envs:?}\n{text}"
    );
    // One line per environment and kind, not per file.
    let mut keys: Vec<&str> = named
        .iter()
        .map(|l| l.split(" (").next().unwrap())
        .collect();
    let before = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), before, "{text}");
}

#[test]
fn per_venv_says_what_uv_lock_also_keeps() {
    use common::locked::{publish_hashed, sync, write_project};
    let sandbox = Sandbox::new();
    for name in ["alpha", "beta"] {
        let wheel = sandbox.wheel(name, "1.0");
        publish_hashed(&sandbox, name, &wheel);
    }
    let server = IndexServer::start(&sandbox.index_dir());
    let app = sandbox.projects().join("app");
    write_project(
        &app,
        "app",
        &["alpha==1.0".to_owned(), "beta==1.0".to_owned()],
        "",
    );
    sync(&sandbox, &uv(), &app, &server.url());
    let projects = sandbox.projects();
    let mut args = plan_args(&[&projects]);
    args.push("--per-venv".into());
    let out = sandbox.prune(&args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let venv = app.join(".venv");
    let line = text
        .lines()
        .find(|l| l.contains(&path_str(&venv)))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        line,
        format!(
            "{:>10}  {:<9} {} (2 archives also kept by uv.lock)",
            "0 B",
            0,
            path_str(&venv)
        ),
        "{text}"
    );
}
