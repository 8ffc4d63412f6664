//! Venvs the user never sees: `uv tool install` venvs in `UV_TOOL_DIR`, and the cached
//! environments `uv tool run` / `uvx` keep inside the cache (`environments-v2/.../<key>`
//! symlinked to an archive that is itself a venv). Both are default roots, so this scenario
//! runs without `--no-default-roots`; the working directory is the sandbox (no git repo).

mod common;

use common::*;

#[test]
fn installed_tools_and_cached_tool_environments_keep_their_archives() {
    let sandbox = Sandbox::new();
    sandbox.wheel("alpha", "1.0");
    sandbox.wheel("beta", "1.0");
    sandbox.uv_ok_from(&uv(), &["tool", "install"], Source::FindLinks, &["alpha"]);
    let run = ["--from", "beta", "beta-cli"];
    let output = sandbox.uv_ok_from(&uv(), &["tool", "run"], Source::FindLinks, &run);
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "beta 1.0");

    let alpha = sandbox.archive_of("alpha", "1.0");
    let beta = sandbox.archive_of("beta", "1.0");
    let environments = venv_archives(&sandbox.cache());
    assert_eq!(
        environments.len(),
        1,
        "one cached tool environment: {environments:?}"
    );
    let environment = environments.first().expect("one").clone();

    let default_roots = ["--grace", "0s"];
    let report = sandbox.prune_json(&default_roots);
    assert!(candidate_ids(&report).is_empty(), "{report:#}");
    assert_eq!(
        live_ids(&report),
        set([&alpha, &beta, &environment]),
        "{report:#}"
    );
    assert!(
        evidence_venvs(&report, &alpha)
            .contains(&Some(path_str(&sandbox.tool_dir().join("alpha")))),
        "the tool venv keeps alpha: {report:#}"
    );
    assert!(
        evidence_kinds(&report, &environment).contains("environment"),
        "{report:#}"
    );
    assert!(
        live(&report, &environment)["name"].is_null(),
        "a venv archive has no name"
    );

    sandbox.uv_ok(&uv(), &["tool", "uninstall", "alpha"]);
    let report = sandbox.prune_json(&default_roots);
    assert_eq!(candidate_ids(&report), set([&alpha]), "{report:#}");
    assert_eq!(live_ids(&report), set([&beta, &environment]), "{report:#}");
}
