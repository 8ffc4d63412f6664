//! The repository's `.pre-commit-hooks.yaml`, driven by real pre-commit from PyPI: a
//! project points its `.pre-commit-config.yaml` at a clone of this repository, installs
//! the post-checkout and post-merge hooks, and a branch checkout starts the throttled
//! background prune whose summary line lands in the hook log, while git returns at once.

mod common;
#[path = "common/install_tools.rs"]
mod install_tools;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// How long the prune pretends to take: the checkout must return well before.
const SLOW_PRUNE: Duration = Duration::from_secs(5);

fn git(sandbox: &Sandbox, dir: &Path, args: &[&str]) -> String {
    let mut cmd = sandbox.uv_cmd(Path::new("git"));
    cmd.current_dir(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args);
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A clone of this repository's hook files as they are in the working tree, committed.
fn hook_repository(sandbox: &Sandbox) -> (std::path::PathBuf, String) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = sandbox.path("uv-cache-prune-clone");
    fs::create_dir_all(repo.join("hooks")).expect("create the clone");
    for file in [".pre-commit-hooks.yaml", "hooks/uv-cache-prune.sh"] {
        // fs::copy keeps the mode: the shim stays executable.
        fs::copy(source.join(file), repo.join(file)).unwrap_or_else(|e| panic!("copy {file}: {e}"));
    }
    git(sandbox, &repo, &["init", "--quiet"]);
    git(sandbox, &repo, &["add", "."]);
    git(sandbox, &repo, &["commit", "--quiet", "-m", "hooks"]);
    let rev = git(sandbox, &repo, &["rev-parse", "HEAD"])
        .trim()
        .to_owned();
    (repo, rev)
}

#[test]
fn pre_commit_post_checkout_hook_prunes_in_the_background() {
    let pre_commit = install_tools::tool("pre-commit");
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    sandbox.venv("projects/live", &uv(), LinkMode::Hardlink, &["alpha"]);
    let dead = sandbox.venv("projects/dead", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&dead);
    let alpha = sandbox.archive_of("alpha", "1.0");
    let beta = sandbox.archive_of("beta", "1.0");
    // The hook's policy is "dead and unused for a week, after an hour's grace": made
    // immediate here so that the background prune has something to remove.
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    fs::create_dir_all(config.parent().expect("config dir")).expect("create config dir");
    let roots = format!("roots = [{:?}]\n", path_str(&sandbox.projects()));
    fs::write(
        &config,
        roots + "grace = \"0s\"\nhook-unused-for = \"0s\"\n",
    )
    .expect("config");

    // The binary the shim runs: ours, slowed down when it prunes, so that "git returned
    // before the prune finished" is a measurement, not a race.
    let slow = sandbox.path("slow-uv-cache-prune");
    fs::write(
        &slow,
        format!(
            "#!/bin/sh\n[ \"$1\" = --hook ] && sleep {}\nexec {:?} \"$@\"\n",
            SLOW_PRUNE.as_secs(),
            env!("CARGO_BIN_EXE_uv-cache-prune")
        ),
    )
    .expect("write the slow binary");
    set_mode(&slow, 0o755);

    let (hook_repo, rev) = hook_repository(&sandbox);
    let work = sandbox.path("work");
    fs::create_dir_all(&work).expect("create the project");
    git(&sandbox, &work, &["init", "--quiet"]);
    fs::write(
        work.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: uv-cache-prune\n",
            path_str(&hook_repo)
        ),
    )
    .expect("write .pre-commit-config.yaml");
    git(&sandbox, &work, &["add", "."]);
    git(&sandbox, &work, &["commit", "--quiet", "-m", "pre-commit"]);

    let pre_commit_cmd = |args: &[&str]| {
        let mut cmd = sandbox.uv_cmd(&pre_commit);
        cmd.current_dir(&work)
            .env("PRE_COMMIT_HOME", sandbox.path("pre-commit-home"))
            .args(args);
        let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
        assert!(output.status.success(), "{}", describe(&cmd, &output));
    };
    pre_commit_cmd(&[
        "install",
        "--hook-type",
        "post-checkout",
        "--hook-type",
        "post-merge",
        "--install-hooks",
    ]);
    for hook in ["post-checkout", "post-merge"] {
        let text = fs::read_to_string(work.join(".git/hooks").join(hook)).expect("hook");
        assert!(
            text.contains("pre-commit"),
            "{hook} is pre-commit's: {text}"
        );
    }

    let log = sandbox.path("xdg/state/uv-cache-prune/hook.log");
    let mut checkout = sandbox.uv_cmd(Path::new("git"));
    checkout
        .current_dir(&work)
        .env("PRE_COMMIT_HOME", sandbox.path("pre-commit-home"))
        .env("UV_CACHE_PRUNE_BIN", &slow)
        .args(["checkout", "--quiet", "-b", "feature"]);
    let started = Instant::now();
    let output = checkout.output().expect("git checkout");
    let took = started.elapsed();
    assert!(output.status.success(), "{}", describe(&checkout, &output));
    assert!(
        took < SLOW_PRUNE - Duration::from_secs(1),
        "git checkout took {took:?}: it waited for the prune"
    );
    assert!(
        sandbox.archive_dir(&beta).is_dir(),
        "the prune runs after the checkout returned, not during it"
    );

    // The prune's summary line, once the background run is done.
    let deadline = Instant::now() + SLOW_PRUNE + Duration::from_secs(60);
    let text = loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.ends_with('\n') || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let lines: Vec<&str> = text.lines().collect();
    let [line] = lines.as_slice() else {
        panic!("one summary line in {}: {text:?}", log.display());
    };
    let expected = format!(
        " uv-cache-prune --hook {}: removed 1 archive and 2 pointers, ",
        path_str(&sandbox.cache())
    );
    assert!(
        line.contains(&expected) && line.ends_with("freed; 1 archive kept"),
        "{line}"
    );
    assert_eq!(sandbox.all_archives(), set([&alpha]));
    // The shim registered the project as a root, as it does from .git/hooks.
    let roots = sandbox.bare_prune_cmd().args(["roots", "list"]).output();
    let roots = String::from_utf8_lossy(&roots.expect("roots list").stdout).into_owned();
    assert!(roots.contains(&path_str(&work)), "{roots}");

    // Throttled: a second checkout within the day starts no second prune.
    let mut back = sandbox.uv_cmd(Path::new("git"));
    back.current_dir(&work)
        .env("PRE_COMMIT_HOME", sandbox.path("pre-commit-home"))
        .env("UV_CACHE_PRUNE_BIN", &slow)
        .args(["checkout", "--quiet", "main"]);
    let output = back.output().expect("git checkout main");
    assert!(output.status.success(), "{}", describe(&back, &output));
    std::thread::sleep(SLOW_PRUNE + Duration::from_secs(1));
    assert_eq!(fs::read_to_string(&log).expect("log"), text);
}

/// The fenced block that follows `<!-- hook-test: NAME -->` in docs/hook-managers.md.
fn documented(name: &str) -> String {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/hook-managers.md");
    let doc = fs::read_to_string(&doc).expect("read docs/hook-managers.md");
    let marker = format!("<!-- hook-test: {name} -->");
    let after = doc.split_once(&marker).expect("the marker").1;
    let body = after.trim_start().split_once('\n').expect("a fence").1;
    body.split_once("```").expect("a closed block").0.to_owned()
}

#[test]
fn lefthook_snippet_from_the_docs_prunes_in_the_background() {
    let lefthook = install_tools::tool("lefthook");
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    sandbox.venv("projects/live", &uv(), LinkMode::Hardlink, &["alpha"]);
    let dead = sandbox.venv("projects/dead", &uv(), LinkMode::Hardlink, &["beta"]);
    delete(&dead);
    let alpha = sandbox.archive_of("alpha", "1.0");
    let beta = sandbox.archive_of("beta", "1.0");
    let config = sandbox.path("xdg/config/uv-cache-prune/config.toml");
    fs::create_dir_all(config.parent().expect("config dir")).expect("create config dir");
    let roots = format!("roots = [{:?}]\n", path_str(&sandbox.projects()));
    fs::write(
        &config,
        roots + "grace = \"0s\"\nhook-unused-for = \"0s\"\n",
    )
    .expect("config");

    // `uv-cache-prune` on PATH, as the snippet expects: ours, slowed down when it prunes.
    let bin_dir = sandbox.path("bin");
    fs::create_dir_all(&bin_dir).expect("create bin dir");
    let slow = bin_dir.join("uv-cache-prune");
    fs::write(
        &slow,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" --hook \"*) sleep {} ;; esac\nexec {:?} \"$@\"\n",
            SLOW_PRUNE.as_secs(),
            env!("CARGO_BIN_EXE_uv-cache-prune")
        ),
    )
    .expect("write the slow binary");
    set_mode(&slow, 0o755);
    let path = std::env::join_paths(
        [
            bin_dir.clone(),
            lefthook.parent().expect("venv bin").to_owned(),
        ]
        .into_iter()
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .expect("PATH");

    let work = sandbox.path("work");
    fs::create_dir_all(&work).expect("create the project");
    git(&sandbox, &work, &["init", "--quiet"]);
    fs::write(work.join("lefthook.yml"), documented("lefthook.yml")).expect("lefthook.yml");
    git(&sandbox, &work, &["add", "."]);
    git(&sandbox, &work, &["commit", "--quiet", "-m", "lefthook"]);
    let mut install = sandbox.uv_cmd(&lefthook);
    install.current_dir(&work).env("PATH", &path).arg("install");
    let output = install.output().expect("lefthook install");
    assert!(output.status.success(), "{}", describe(&install, &output));

    let log = sandbox.path("xdg/state/uv-cache-prune/hook.log");
    let mut checkout = sandbox.uv_cmd(Path::new("git"));
    checkout
        .current_dir(&work)
        .env("PATH", &path)
        .args(["checkout", "--quiet", "-b", "feature"]);
    let started = Instant::now();
    let output = checkout.output().expect("git checkout");
    let took = started.elapsed();
    assert!(output.status.success(), "{}", describe(&checkout, &output));
    assert!(
        took < SLOW_PRUNE - Duration::from_secs(1),
        "git checkout took {took:?}: it waited for the prune"
    );
    assert!(
        sandbox.archive_dir(&beta).is_dir(),
        "not pruned during the checkout"
    );

    let deadline = Instant::now() + SLOW_PRUNE + Duration::from_secs(60);
    let text = loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.ends_with('\n') || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let lines: Vec<&str> = text.lines().collect();
    let [line] = lines.as_slice() else {
        panic!("one summary line in {}: {text:?}", log.display());
    };
    let expected = format!(
        " uv-cache-prune --hook {}: removed 1 archive and 2 pointers, ",
        path_str(&sandbox.cache())
    );
    assert!(
        line.contains(&expected) && line.ends_with("freed; 1 archive kept"),
        "{line}"
    );
    assert_eq!(sandbox.all_archives(), set([&alpha]));
    let roots = sandbox.bare_prune_cmd().args(["roots", "list"]).output();
    let roots = String::from_utf8_lossy(&roots.expect("roots list").stdout).into_owned();
    assert!(roots.contains(&path_str(&work)), "registered: {roots}");
}
