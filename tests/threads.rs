//! `--threads`: the inventory, venv matching, the candidate walk and deletion run on
//! several threads, and the answer must not depend on how many. One real cache, venvs in
//! every link mode sharing wheels, some deleted: the dry run's report is the same, byte
//! for byte, on 1, 2, 3 and 64 threads, and `--apply` on several threads removes exactly
//! the dead archives.

mod common;

use std::collections::BTreeSet;

use common::*;

/// The wheels of venv `k`: a different slice per venv (so that venvs take different
/// times and threads finish out of order); `pkg12` to `pkg17` only in venvs 8 to 11.
fn packages(k: usize) -> Vec<String> {
    (0..18)
        .filter(|i| !(i + k).is_multiple_of(4) && (*i < 12 || k >= 8))
        .map(|i| format!("pkg{i:02}"))
        .collect()
}

/// Twelve venvs over eighteen wheels, sharing most of them; venvs 8 to 11 are deleted.
/// Returns the dead archives.
fn shared_world(sandbox: &Sandbox) -> BTreeSet<String> {
    let names: Vec<String> = (0..18).map(|i| format!("pkg{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        sandbox.wheel_with_modules(name, "1.0", 1 + (i % 5) * 40);
    }
    let modes = [LinkMode::Hardlink, LinkMode::Symlink, LinkMode::Copy];
    let mut gone = Vec::new();
    for k in 0..12 {
        let packages = packages(k);
        let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
        let venv = sandbox.venv(
            &format!("projects/p{k:02}/.venv"),
            &uv(),
            modes[k % 3],
            &packages,
        );
        if k >= 8 {
            gone.push(venv);
        }
    }
    gone.iter().for_each(|venv| delete(venv));
    // pkg12..pkg17 were installed only in the deleted venvs.
    names[12..]
        .iter()
        .map(|name| sandbox.archive_of(name, "1.0"))
        .collect()
}

#[test]
fn the_report_is_the_same_on_any_number_of_threads_and_apply_removes_exactly_the_dead() {
    let sandbox = Sandbox::new();
    let dead = shared_world(&sandbox);
    let all = sandbox.all_archives();
    let roots = [sandbox.projects()];
    let roots: Vec<&std::path::Path> = roots.iter().map(|p| p.as_path()).collect();

    let report_on = |threads: &str, json: bool| {
        let mut args = plan_args(&roots);
        args.extend(["--threads".into(), threads.into()]);
        if json {
            args.push("--json".into());
        }
        let output = sandbox.prune(&args);
        assert!(
            output.status.success(),
            "{}",
            describe(&sandbox.prune_cmd(&args), &output)
        );
        String::from_utf8(output.stdout).expect("UTF-8 report")
    };
    // `last_use` is left out: each run records what it saw live, which the next reads.
    let json_on = |threads: &str| {
        let mut report: serde_json::Value =
            serde_json::from_str(&report_on(threads, true)).expect("the --json report is JSON");
        for list in ["candidates", "live"] {
            for archive in report[list].as_array_mut().expect("a list of archives") {
                archive
                    .as_object_mut()
                    .expect("an archive")
                    .remove("last_use");
            }
        }
        serde_json::to_string_pretty(&report).unwrap()
    };
    let one = json_on("1");
    let report: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(candidate_ids(&report), dead, "{report:#}");
    assert_eq!(live_ids(&report), &all - &dead, "{report:#}");
    let human = report_on("1", false);
    for threads in ["2", "3", "64"] {
        let (json, text) = (json_on(threads), report_on(threads, false));
        assert!(
            json == one,
            "--json on {threads} threads:\n{json}\none thread:\n{one}"
        );
        assert!(
            text == human,
            "report on {threads} threads:\n{text}\none thread:\n{human}"
        );
    }

    let mut args = apply_args(&roots);
    args.extend(["--threads".into(), "3".into()]);
    let applied = sandbox.prune_json(&args);
    assert_eq!(candidate_ids(&applied), dead, "{applied:#}");
    assert_eq!(sandbox.all_archives(), &all - &dead);
    for k in 0..8 {
        let venv = sandbox.path(format!("projects/p{k:02}/.venv"));
        let packages = packages(k);
        let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
        sandbox.assert_imports(&venv, &packages);
    }
}

#[test]
fn zero_threads_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let output = sandbox.prune(&["--threads", "0"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--threads"), "{stderr}");
}

/// The candidate walk splits an archive's directories over the threads, so the order in
/// which it meets files is not the listing's. Where the `nlink` net names one file of
/// several linked from outside every root, it must name the same one on any number of
/// threads: the first by path.
#[test]
fn the_nlink_evidence_names_the_first_outside_link_by_path_on_any_number_of_threads() {
    let sandbox = Sandbox::new();
    sandbox.wheel_with_modules("wide", "1.0", 480);
    let gone = sandbox.venv("projects/gone/.venv", &uv(), LinkMode::Copy, &["wide"]);
    delete(&gone);
    let id = sandbox.archive_of("wide", "1.0");
    // One module in each of the package's subdirectories gets a link outside every root:
    // the walk meets them in whatever order the directories are listed and shared out.
    let package = sandbox.archive_dir(&id).join("wide");
    let mut linked = Vec::new();
    for part in std::fs::read_dir(&package).unwrap() {
        let part = part.unwrap().path();
        if part.is_dir() {
            let mut modules: Vec<_> = std::fs::read_dir(&part)
                .unwrap()
                .map(|m| m.unwrap().path())
                .collect();
            modules.sort();
            linked.push(modules[modules.len() / 2].clone());
        }
    }
    assert!(linked.len() >= 8, "subdirectories: {linked:?}");
    let outside = sandbox.path("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    for (i, file) in linked.iter().enumerate() {
        std::fs::hard_link(file, outside.join(i.to_string())).unwrap();
    }
    let first = path_str(linked.iter().min().unwrap());

    let roots = [sandbox.projects()];
    let roots: Vec<&std::path::Path> = roots.iter().map(|p| p.as_path()).collect();
    for threads in ["1", "2", "3", "64"] {
        let mut args = plan_args(&roots);
        args.extend(["--threads".into(), threads.into()]);
        let report = sandbox.prune_json(&args);
        assert_eq!(live_ids(&report), set([&id]), "{report:#}");
        let evidence = &report["live"][0]["evidence"];
        assert_eq!(evidence[0]["kind"], "nlink", "{report:#}");
        assert_eq!(
            evidence[0]["path"],
            first.as_str(),
            "on {threads} threads: {report:#}"
        );
    }
}
