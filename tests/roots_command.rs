//! `roots`, as a person types it: `add` stores a directory once, by its canonical path,
//! however it is spelt (`data/../api/`, `api`, a symlink to it); `list` on an empty
//! registry, `remove` of a root that is not registered and `prune` with nothing to prune
//! each say what happened instead of nothing. An unknown root is an error (exit 1) that
//! names it and the nearest registered root, and forgets nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// What `roots list` (and `roots prune`) say of an empty registry.
const NO_ROOTS: &str = "No roots registered; `uv-cache-prune roots add DIR` registers one \
                        (the git hooks register their repository).\n";

/// `uv-cache-prune roots ARGS` run from `cwd`.
fn roots_in(sandbox: &Sandbox, cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = sandbox.bare_prune_cmd();
    cmd.current_dir(cwd).arg("roots").args(args);
    cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

/// Stdout of a `roots` command that must succeed with nothing on stderr.
fn ok(sandbox: &Sandbox, cwd: &Path, args: &[&str]) -> String {
    let output = roots_in(sandbox, cwd, args);
    let said = format!(
        "roots {args:?}: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(output.stderr.is_empty(), "{said}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// `projects/api` and `projects/data`, made.
fn two_projects(sandbox: &Sandbox) -> (PathBuf, PathBuf) {
    let (api, data) = (
        sandbox.projects().join("api"),
        sandbox.projects().join("data"),
    );
    std::fs::create_dir_all(&api).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    (api, data)
}

fn registry_file(sandbox: &Sandbox) -> PathBuf {
    sandbox.path("xdg/state/uv-cache-prune/roots.json")
}

#[test]
fn roots_add_stores_the_canonical_path_once_however_it_is_spelt() {
    let sandbox = Sandbox::new();
    let (api, _data) = two_projects(&sandbox);
    let projects = sandbox.projects();
    std::os::unix::fs::symlink(&api, projects.join("api-link")).unwrap();
    let api_str = path_str(&api);

    assert_eq!(
        ok(&sandbox, &projects, &["add", "data/../api/"]),
        format!("registered: {api_str}\n")
    );
    for spelling in ["api", "./api/", "api-link"] {
        assert_eq!(
            ok(&sandbox, &projects, &["add", spelling]),
            format!("already registered: {api_str}\n"),
            "{spelling}"
        );
    }
    // So does a prune's --register.
    let mut register = sandbox.bare_prune_cmd();
    register.current_dir(&projects).args([
        "--no-default-roots",
        "--json",
        "--register",
        "data/../api",
    ]);
    let output = register.output().unwrap();
    assert!(output.status.success(), "{}", describe(&register, &output));
    assert_eq!(ok(&sandbox, &projects, &["list"]), format!("{api_str}\n"));
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(registry_file(&sandbox)).unwrap()).unwrap();
    assert_eq!(file["roots"], serde_json::json!([api_str]), "{file:#}");
}

#[test]
fn a_root_an_older_version_stored_as_typed_is_the_same_root() {
    let sandbox = Sandbox::new();
    let (api, data) = two_projects(&sandbox);
    let as_typed = path_str(&data.join("../api"));
    let state = registry_file(&sandbox);
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    let old = serde_json::json!({"version": 1, "roots": [as_typed]});
    std::fs::write(&state, old.to_string()).unwrap();

    let projects = sandbox.projects();
    assert_eq!(
        ok(&sandbox, &projects, &["add", &path_str(&api)]),
        format!("already registered: {as_typed}\n")
    );
    assert_eq!(
        ok(&sandbox, &projects, &["remove", "api"]),
        format!("forgot: {as_typed}\n")
    );
    assert_eq!(ok(&sandbox, &projects, &["list"]), NO_ROOTS);
}

#[test]
fn roots_list_and_prune_on_an_empty_registry_say_how_to_fill_it() {
    let sandbox = Sandbox::new();
    let home = sandbox.home();
    // No state directory at all yet, then an emptied registry: the same words.
    assert_eq!(ok(&sandbox, &home, &["list"]), NO_ROOTS);
    assert_eq!(ok(&sandbox, &home, &["prune"]), NO_ROOTS);
    let (api, _) = two_projects(&sandbox);
    ok(&sandbox, &home, &["add", &path_str(&api)]);
    ok(&sandbox, &home, &["remove", &path_str(&api)]);
    assert_eq!(ok(&sandbox, &home, &["list"]), NO_ROOTS);
}

#[test]
fn roots_prune_with_nothing_to_prune_says_so() {
    let sandbox = Sandbox::new();
    let (api, data) = two_projects(&sandbox);
    let home = sandbox.home();
    ok(&sandbox, &home, &["add", &path_str(&api)]);
    assert_eq!(
        ok(&sandbox, &home, &["prune"]),
        "Nothing to prune: the registered root is here.\n"
    );
    ok(&sandbox, &home, &["add", &path_str(&data)]);
    assert_eq!(
        ok(&sandbox, &home, &["prune"]),
        "Nothing to prune: all 2 registered roots are here.\n"
    );
    delete(&data);
    assert_eq!(
        ok(&sandbox, &home, &["prune"]),
        format!("forgot vanished root: {}\n", path_str(&data))
    );
    assert_eq!(
        ok(&sandbox, &home, &["list"]),
        format!("{}\n", path_str(&api))
    );
}

/// Exit 1, one `error:` line (returned), nothing on stdout, and the registry as it was.
fn refused(sandbox: &Sandbox, args: &[&str]) -> String {
    let before = std::fs::read(registry_file(sandbox)).ok();
    let output = roots_in(sandbox, &sandbox.projects(), args);
    let stderr = String::from_utf8(output.stderr).expect("UTF-8");
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(output.stdout.is_empty(), "{args:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        std::fs::read(registry_file(sandbox)).ok(),
        before,
        "nothing was forgotten"
    );
    stderr
}

#[test]
fn removing_a_root_that_is_not_registered_fails_naming_the_nearest_one() {
    let sandbox = Sandbox::new();
    let projects = sandbox.projects();
    let src = projects.join("src");
    std::fs::create_dir_all(src.join("app")).unwrap();
    let (src_str, list_hint) = (
        path_str(&src),
        "; `uv-cache-prune roots list` shows the registered roots",
    );

    let scr = path_str(&projects.join("scr"));
    assert_eq!(
        refused(&sandbox, &["remove", "scr"]),
        format!(
            "error: {scr} is not a registered root: nothing was forgotten; no roots are registered\n"
        )
    );
    ok(&sandbox, &projects, &["add", "src"]);
    assert_eq!(
        refused(&sandbox, &["remove", "scr"]),
        format!(
            "error: {scr} is not a registered root: nothing was forgotten (did you mean \
             {src_str}?){list_hint}\n"
        )
    );
    // A typo among good names forgets none of them.
    refused(&sandbox, &["remove", "src", "scr"]);
    assert_eq!(ok(&sandbox, &projects, &["list"]), format!("{src_str}\n"));
    // Inside a registered root, or above one.
    assert_eq!(
        refused(&sandbox, &["remove", "src/app"]),
        format!(
            "error: {src_str}/app is not a registered root: nothing was forgotten (it is \
             searched as part of the registered root {src_str}){list_hint}\n"
        )
    );
    assert_eq!(
        refused(&sandbox, &["remove", "."]),
        format!(
            "error: {} is not a registered root: nothing was forgotten (registered under it: \
             {src_str}){list_hint}\n",
            path_str(&projects)
        )
    );
    // However it is spelt, the registered one goes.
    assert_eq!(
        ok(&sandbox, &projects, &["remove", "src/app/.."]),
        format!("forgot: {src_str}\n")
    );
}
