//! Evidence a person recognises: cached environments (PEP 723 scripts, `uv run --with`,
//! `uvx`) are counted beside the venvs and named by what uv records of them, and a
//! symlink venv or environment is one line in `--explain`, not one per linked file.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::cached_envs::{run_script, run_with, script, uvx};
use common::uv_bin::uv_0_8;
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

    // `uv run --with beta` is named by what it holds (uv records no command), with its
    // link under environments-v*: one line.
    let out = sandbox.prune(&args("beta"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let named: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("cached environment"))
        .collect();
    let links = environment_links(&sandbox.cache());
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(
        named,
        [format!(
            "    symlink cached environment of uvx / uv run --with: beta 1.0 ({})",
            path_str(&links[0])
        )],
        "{text}"
    );
}

/// The `<digest>/<digest>` links of `environments-v*`, by path.
fn environment_links(cache: &Path) -> Vec<PathBuf> {
    let (links, _) = common::cached_envs::environment_entries(cache);
    links.into_iter().map(|(link, _)| link).collect()
}

/// The one script environment in `environments-v*`.
fn script_environment(cache: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .filter(|b| {
            b.file_name()
                .to_string_lossy()
                .starts_with("environments-v")
        })
        .flat_map(|b| std::fs::read_dir(b.path()).unwrap().flatten())
        .map(|e| e.path())
        .filter(|p| p.join("pyvenv.cfg").is_file())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

/// On the oldest and the newest pinned uv: a project venv, a PEP 723 script, `uv run
/// --with` and `uvx`. The header counts the three cached environments beside the venv;
/// the JSON lists each with what uv records (the script's file name from its
/// `pyvenv.cfg`; for the others only what they hold); `--explain` names each in one line.
#[test]
fn cached_environments_are_counted_and_named_by_their_script_or_packages() {
    for bin in [uv(), uv_0_8()] {
        let sandbox = Sandbox::new();
        for name in ["alpha", "beta", "gamma", "delta"] {
            sandbox.wheel(name, "1.0");
        }
        sandbox.venv("projects/app", &bin, LinkMode::Hardlink, &["alpha==1.0"]);
        let script = script(&sandbox, "beta");
        assert_eq!(run_script(&sandbox, &bin, &script), "beta 1.0");
        assert_eq!(run_with(&sandbox, &bin, "gamma"), "gamma 1.0");
        assert_eq!(uvx(&sandbox, &bin, "delta", &[]), "delta 1.0");
        let projects = sandbox.projects();
        let cache = sandbox.cache();
        let script_env = script_environment(&cache);
        let links = environment_links(&cache);
        assert_eq!(links.len(), 2, "{links:?}");

        let report = sandbox.plan(&[&projects]);
        let envs = report["environments"].as_array().expect("environments");
        let seen: BTreeSet<(String, String, String, Vec<String>)> = envs
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["link"]
                        .as_str()
                        .unwrap_or(e["path"].as_str().unwrap())
                        .to_owned(),
                    e["script"].as_str().unwrap_or("-").to_owned(),
                    e["packages"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p.as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect();
        let holding = |link: &Path| {
            let id = std::fs::read_link(link).unwrap();
            let archive = cache.join("archive-v0").join(id.file_name().unwrap());
            if site_packages(&archive).join("gamma").exists() {
                "gamma 1.0".to_owned()
            } else {
                "delta 1.0".to_owned()
            }
        };
        let expected: BTreeSet<(String, String, String, Vec<String>)> = [
            (
                "script".to_owned(),
                path_str(&script_env),
                "run_beta.py".to_owned(),
                vec!["beta 1.0".to_owned()],
            ),
            (
                "tool-or-with".to_owned(),
                path_str(&links[0]),
                "-".to_owned(),
                vec![holding(&links[0])],
            ),
            (
                "tool-or-with".to_owned(),
                path_str(&links[1]),
                "-".to_owned(),
                vec![holding(&links[1])],
            ),
        ]
        .into();
        assert_eq!(seen, expected, "{report:#}");

        let text =
            String::from_utf8_lossy(&sandbox.prune(&plan_args(&[&projects])).stdout).into_owned();
        let header = text.lines().nth(1).unwrap_or_default();
        assert!(
            header.starts_with("Searched 2 roots (")
                && header.ends_with("), found 1 venv and 3 cached environments:"),
            "{text}"
        );
        let bucket = script_env.parent().unwrap();
        let bucket_line = format!(
            "  {} (3 cached environments: 1 for a script, 2 for uvx / uv run --with)",
            path_str(bucket)
        );
        assert!(
            text.lines().any(|l| l == bucket_line),
            "{bucket_line}\n{text}"
        );

        let explain = |package: &str| {
            let mut args = plan_args(&[&projects]);
            args.extend(["--explain".into(), package.into()]);
            let text = String::from_utf8_lossy(&sandbox.prune(&args).stdout).into_owned();
            let lines: Vec<String> = text
                .lines()
                .filter(|l| l.contains("cached environment"))
                .map(str::to_owned)
                .collect();
            (lines, text)
        };
        let (lines, text) = explain("beta");
        assert_eq!(
            lines,
            [format!(
                "    hardlink cached environment of script run_beta.py ({})",
                path_str(&script_env)
            )],
            "{text}"
        );
        let (lines, text) = explain("delta");
        let delta_link = links.iter().find(|l| holding(l) == "delta 1.0").unwrap();
        assert_eq!(
            lines,
            [format!(
                "    hardlink cached environment of uvx / uv run --with: delta 1.0 ({})",
                path_str(delta_link)
            )],
            "{text}"
        );
    }
}

/// A script's environment in symlink mode links every file of a package: `--explain`
/// gives it one line, by its script (it printed one per linked file, as `environment`).
#[test]
fn a_symlink_mode_script_environment_is_one_line_in_explain() {
    let sandbox = Sandbox::new();
    sandbox.wheel_with_modules("alpha", "1.0", 6);
    let script = script(&sandbox, "alpha");
    let mut cmd = sandbox.uv_cmd(&uv());
    cmd.env("UV_LINK_MODE", "symlink")
        .args(["run", "--offline", "--no-index", "--find-links"])
        .arg(sandbox.wheels())
        .arg(&script);
    run_ok(&mut cmd);
    let env = script_environment(&sandbox.cache());
    let module = site_packages(&env).join("alpha").join("__init__.py");
    assert!(module.is_symlink(), "symlink mode: {}", module.display());
    let projects = sandbox.projects();
    let mut args = plan_args(&[&projects]);
    args.extend(["--explain".into(), "alpha".into()]);
    let out = sandbox.prune(&args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let reasons: Vec<&str> = text.lines().filter(|l| l.starts_with("    ")).collect();
    assert_eq!(
        reasons,
        [format!(
            "    symlink cached environment of script run_alpha.py ({})",
            path_str(&env)
        )],
        "{text}"
    );
}

/// The script's name is read from `pyvenv.cfg`, whose access time is how the
/// environment's last use is known (`--unused-for`): reading it must not move it.
#[test]
fn naming_a_script_environment_does_not_look_like_a_use() {
    let sandbox = Sandbox::new();
    sandbox.wheel("beta", "1.0");
    let script = script(&sandbox, "beta");
    run_script(&sandbox, &uv(), &script);
    let cfg = script_environment(&sandbox.cache()).join("pyvenv.cfg");
    // Three days ago: under relatime, any read would now move the access time.
    run_ok(Command::new("touch").args(["-d", "3 days ago"]).arg(&cfg));
    let before = std::fs::metadata(&cfg).unwrap().accessed().unwrap();
    let report = sandbox.plan(&[&sandbox.projects()]);
    assert_eq!(
        report["environments"][0]["script"], "run_beta.py",
        "{report:#}"
    );
    let after = std::fs::metadata(&cfg).unwrap().accessed().unwrap();
    assert_eq!(
        before,
        after,
        "the dry run moved the access time of {}",
        cfg.display()
    );
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
