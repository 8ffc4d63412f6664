//! `--apply --unused-for` frees the cached environments (`environments-v*`) nothing has used
//! for that long, and the archives only they kept, in the same locked run: a `uvx` tool
//! environment and a `uv run --with` environment (links to venv archives) and a PEP 723
//! script environment (a venv directory), made by uv 0.13.9, and a `uvx` environment of uv
//! 0.10.12 in the same cache. Without `--unused-for` none of them goes; an environment
//! reused within the window stays; afterwards every tool and script runs again.

mod common;
#[path = "common/descriptors.rs"]
mod descriptors;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use common::cached_envs::{environment_entries, run_script, run_with, script, uvx};
use common::uv_bin::uv_0_10;
use common::*;
use descriptors::{Mount, is_root};

const DAY: u64 = 86_400;

fn with(args: &[std::ffi::OsString], more: &[&str]) -> Vec<std::ffi::OsString> {
    let mut args = args.to_vec();
    args.extend(more.iter().map(Into::into));
    args
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn apply_with_unused_for_frees_stale_environments_and_the_archives_only_they_kept() {
    let sandbox = Sandbox::new();
    let (new, old) = (uv(), uv_0_10());
    for name in ["tool13", "with13", "script13", "tool10", "shared"] {
        // Large next to the links and pointer files, so that 2% means something.
        sandbox.wheel_with(name, "1.0", 400_000);
    }
    // A project venv keeps `shared`, which the uvx environment links too.
    let project = sandbox.venv("projects/live", &new, LinkMode::Hardlink, &["shared"]);
    assert_eq!(
        uvx(&sandbox, &new, "tool13", &["--with", "shared"]),
        "tool13 1.0"
    );
    assert_eq!(run_with(&sandbox, &new, "with13"), "with13 1.0");
    let script13 = script(&sandbox, "script13");
    assert_eq!(run_script(&sandbox, &new, &script13), "script13 1.0");
    assert_eq!(uvx(&sandbox, &old, "tool10", &[]), "tool10 1.0");
    let cache = sandbox.cache();

    let env_archives = venv_archives(&cache);
    assert_eq!(
        env_archives.len(),
        3,
        "tool13, with13, tool10: {env_archives:?}"
    );
    let (links, scripts) = environment_entries(&cache);
    let linked: BTreeSet<String> = links.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(linked, env_archives, "{links:#?}");
    assert_eq!(scripts.len(), 1, "the script's environment: {scripts:?}");
    let wheels: BTreeSet<String> = ["tool13", "with13", "script13", "tool10"]
        .iter()
        .flat_map(|name| sandbox.archives_of(name, "1.0"))
        .collect();
    assert_eq!(wheels.len(), 4, "{wheels:?}");
    let shared = sandbox.archive_of("shared", "1.0");
    let shared_before = contents(&sandbox.archive_dir(&shared));

    let roots = [sandbox.projects()];
    let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    let later = now_secs() + 40 * DAY;

    // Without --unused-for every environment keeps what it links, however old.
    let plain = sandbox.prune_json_now(&plan_args(&roots), later);
    assert_eq!(candidate_ids(&plain), BTreeSet::new(), "{plain:#}");
    assert_eq!(
        other_paths(&plain, Some("environment")),
        BTreeSet::new(),
        "{plain:#}"
    );
    for id in &env_archives {
        assert!(
            evidence_kinds(&plain, id).contains("environment"),
            "{plain:#}"
        );
    }
    // Within the window (made 15 days before, unused for 30 days asked) nothing goes
    // either. This run sees the environments keep their wheels: that is no use of the
    // wheels to record (else they would stay 30 days after their environment).
    let args = with(&plan_args(&roots), &["--unused-for", "30d"]);
    let recent = sandbox.prune_json_now(&args, now_secs() + 15 * DAY);
    assert_eq!(candidate_ids(&recent), BTreeSet::new(), "{recent:#}");
    assert_eq!(
        other_paths(&recent, Some("environment")),
        BTreeSet::new(),
        "{recent:#}"
    );

    // 40 days on: the three archive environments, the script's, and the four wheels only
    // they kept; `shared` stays, for the project's venv.
    let plan = sandbox.prune_json_now(&args, later);
    let expected: BTreeSet<String> = env_archives.union(&wheels).cloned().collect();
    assert_eq!(candidate_ids(&plan), expected, "{plan:#}");
    assert_eq!(other_paths(&plan, Some("environment")), scripts, "{plan:#}");
    assert!(live_ids(&plan).contains(&shared), "{plan:#}");
    let promised = plan["reclaimable_bytes"].as_u64().unwrap()
        + others(&plan)["reclaimable_bytes"].as_u64().unwrap();

    let before = du_bytes(&[&cache]);
    let applied = sandbox.prune_json_now(&with(&args, &["--apply"]), later);
    let freed = before - du_bytes(&[&cache]);
    eprintln!("promised {promised} B, du -sB1 freed {freed} B");
    assert!(
        freed.abs_diff(promised) <= promised / 50,
        "promised {promised} B, du says {freed} B freed: {applied:#}"
    );
    assert_eq!(candidate_ids(&applied), expected, "{applied:#}");
    assert_eq!(others(&applied)["removed"].as_u64(), Some(1), "{applied:#}");
    assert_eq!(all_archives(&cache), BTreeSet::from([shared.clone()]));
    assert_eq!(
        environment_entries(&cache),
        (BTreeSet::new(), BTreeSet::new()),
        "no link and no script environment is left"
    );
    let aside: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert_eq!(aside, Vec::<String>::new(), "nothing is left aside");
    // Byte for byte, and the same inodes: only their link count fell (the environment's
    // links went).
    assert_eq!(contents(&sandbox.archive_dir(&shared)), shared_before);
    sandbox.assert_imports(&project, &["shared"]);

    // uv builds every environment again from the find-links dir, offline.
    assert_eq!(
        uvx(&sandbox, &new, "tool13", &["--with", "shared"]),
        "tool13 1.0"
    );
    assert_eq!(run_with(&sandbox, &new, "with13"), "with13 1.0");
    assert_eq!(run_script(&sandbox, &new, &script13), "script13 1.0");
    assert_eq!(uvx(&sandbox, &old, "tool10", &[]), "tool10 1.0");
}

/// Every file under `dir` with its inode and bytes.
fn contents(dir: &Path) -> std::collections::BTreeMap<PathBuf, (u64, Vec<u8>)> {
    use std::os::unix::fs::MetadataExt;
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let ino = e.metadata().unwrap().ino();
            (e.path().to_owned(), (ino, std::fs::read(e.path()).unwrap()))
        })
        .collect()
}

/// Sets the access and modification times of `path` (not following a symlink) and of
/// everything under it to `secs`.
fn backdate(path: &Path, secs: u64) {
    let mut touch = Command::new("touch");
    touch.arg("-h").arg("-d").arg(format!("@{secs}"));
    for entry in walkdir::WalkDir::new(path).follow_links(false) {
        touch.arg(entry.unwrap().path());
    }
    let output = touch.output().unwrap();
    assert!(output.status.success(), "{}", describe(&touch, &output));
}

#[test]
fn an_environment_reused_within_unused_for_is_kept() {
    let sandbox = Sandbox::new();
    let bin = uv();
    for name in ["used", "idle"] {
        sandbox.wheel_with(name, "1.0", 100_000);
    }
    assert_eq!(uvx(&sandbox, &bin, "used", &[]), "used 1.0");
    assert_eq!(uvx(&sandbox, &bin, "idle", &[]), "idle 1.0");
    let cache = sandbox.cache();
    let (links, _) = environment_entries(&cache);
    assert_eq!(links.len(), 2, "{links:#?}");
    // Both environments made 40 days ago, as far as their times say.
    let long_ago = now_secs() - 40 * DAY;
    for (link, id) in &links {
        backdate(link, long_ago);
        backdate(&sandbox.archive_dir(id), long_ago);
    }
    // Used again today: uv reads its pyvenv.cfg and its script, and the kernel moves
    // their access time (relatime: the old one is more than a day old).
    assert_eq!(uvx(&sandbox, &bin, "used", &[]), "used 1.0");
    let env_of = |tool: &str| {
        links
            .iter()
            .map(|(_, id)| id.clone())
            .find(|id| {
                walkdir::WalkDir::new(sandbox.archive_dir(id))
                    .into_iter()
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy() == format!("{tool}-1.0.dist-info"))
            })
            .unwrap()
    };
    let (used, idle) = (env_of("used"), env_of("idle"));

    let roots = [sandbox.projects()];
    let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    let args = with(&plan_args(&roots), &["--unused-for", "30d"]);
    let report = sandbox.prune_json(&args);
    assert!(candidate_ids(&report).contains(&idle), "{report:#}");
    assert!(!candidate_ids(&report).contains(&used), "{report:#}");
    assert_eq!(
        evidence_kinds(&report, &used),
        set(["environment"]),
        "{report:#}"
    );
    // The idle environment's wheel was linked into it today (its METADATA's ctime): it
    // stays for --unused-for on its own account.
    let idle_wheel = sandbox.archive_of("idle", "1.0");
    assert!(
        evidence_kinds(&report, &idle_wheel).contains("recently-used"),
        "{report:#}"
    );

    let applied = sandbox.prune_json(&with(&args, &["--apply"]));
    assert!(candidate_ids(&applied).contains(&idle), "{applied:#}");
    assert!(!sandbox.archive_dir(&idle).exists());
    assert!(sandbox.archive_dir(&used).join("pyvenv.cfg").is_file());
    let (left, _) = environment_entries(&cache);
    let left: BTreeSet<String> = left.into_iter().map(|(_, id)| id).collect();
    assert_eq!(left, BTreeSet::from([used.clone()]));
    assert_eq!(uvx(&sandbox, &bin, "used", &[]), "used 1.0");
    assert_eq!(uvx(&sandbox, &bin, "idle", &[]), "idle 1.0");
}

#[test]
fn a_symlink_mode_script_environment_keeps_its_archives() {
    let sandbox = Sandbox::new();
    let bin = uv();
    sandbox.wheel_with("linked", "1.0", 100_000);
    let script = script(&sandbox, "linked");
    let mut cmd = sandbox.uv_cmd(&bin);
    cmd.env("UV_LINK_MODE", "symlink")
        .args(["run", "--no-index", "--find-links"])
        .arg(sandbox.wheels())
        .arg(&script);
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    let (_, scripts) = environment_entries(&sandbox.cache());
    let env = scripts.first().expect("a script environment").clone();
    let archive = sandbox.archive_of("linked", "1.0");

    // Before, the script's venv was not looked at: with no hardlink for the nlink net to
    // see, its archive was dead and went, and the script broke.
    let roots = [sandbox.projects()];
    let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    let applied = sandbox.prune_json(&apply_args(&roots));
    assert_eq!(candidate_ids(&applied), BTreeSet::new(), "{applied:#}");
    assert_eq!(
        evidence_venvs_of_kind(&applied, &archive, "symlink"),
        BTreeSet::from([Some(path_str(&env))]),
        "{applied:#}"
    );
    assert!(sandbox.archive_dir(&archive).is_dir());
    assert_eq!(run_script(&sandbox, &bin, &script), "linked 1.0");
}

/// `environments-v2` on a filesystem of its own (a volume mounted there): a symlink-mode
/// script environment in it still keeps the archive it links into, with or without
/// `--unused-for`, and is never removed (nothing on another mount is). Before, the survey
/// skipped environments on another device while the inventory no longer walked them as
/// pointers, so nothing saw their links: `--apply` deleted the archive and the script
/// failed with "Failed to read metadata". A `uvx` environment linked from there is not
/// judged stale either: its link cannot be removed, and before, that kept every wheel
/// (a kept environment may link into them) on every run, the dead one too.
#[test]
fn a_script_environment_on_a_mount_of_its_own_keeps_its_archives() {
    if !is_root() {
        eprintln!("note: skipped: mounting a tmpfs needs root");
        return;
    }
    let sandbox = Sandbox::new();
    let bin = uv();
    sandbox.wheel_with("linked", "1.0", 100_000);
    sandbox.wheel("tool", "1.0");
    sandbox.wheel("gone", "1.0");
    delete(&sandbox.venv("projects/old", &bin, LinkMode::Hardlink, &["gone"]));
    let gone = sandbox.archive_of("gone", "1.0");
    let bucket = sandbox.cache().join("environments-v2");
    std::fs::create_dir_all(&bucket).unwrap();
    let _mount = Mount::new(&["-t", "tmpfs", "-o", "mode=0755", "tmpfs"], &bucket);
    let script = script(&sandbox, "linked");
    let mut cmd = sandbox.uv_cmd(&bin);
    cmd.env("UV_LINK_MODE", "symlink")
        .args(["run", "--no-index", "--find-links"])
        .arg(sandbox.wheels())
        .arg(&script);
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{}", describe(&cmd, &output));
    assert_eq!(uvx(&sandbox, &bin, "tool", &[]), "tool 1.0");
    let (links, scripts) = environment_entries(&sandbox.cache());
    let env = scripts.first().expect("a script environment").clone();
    let archive = sandbox.archive_of("linked", "1.0");
    let tool_env = links.first().expect("a uvx environment").1.clone();

    let roots = [sandbox.projects()];
    let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    let later = now_secs() + 40 * DAY;
    for (args, removed) in [
        (
            with(&apply_args(&roots), &["--unused-for", "30d"]),
            set([&gone]),
        ),
        (apply_args(&roots), BTreeSet::new()),
    ] {
        let applied = sandbox.prune_json_now(&args, later);
        assert_eq!(candidate_ids(&applied), removed, "{applied:#}");
        assert_eq!(
            evidence_kinds(&applied, &tool_env),
            set(["environment"]),
            "{applied:#}"
        );
        assert_eq!(
            other_paths(&applied, Some("environment")),
            BTreeSet::new(),
            "{applied:#}"
        );
        assert_eq!(
            evidence_venvs_of_kind(&applied, &archive, "symlink"),
            BTreeSet::from([Some(path_str(&env))]),
            "{applied:#}"
        );
    }
    assert!(sandbox.archive_dir(&archive).is_dir());
    assert!(env.join("pyvenv.cfg").is_file());
    assert_eq!(run_script(&sandbox, &bin, &script), "linked 1.0");
    assert_eq!(uvx(&sandbox, &bin, "tool", &[]), "tool 1.0");
}
