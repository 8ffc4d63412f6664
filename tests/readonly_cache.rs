//! `--apply` on a cache it may not change all of: a read-only part (`chmod a-w`), a
//! directory another user made in the user's cache (`sudo uv ...`), a read-only
//! `archive-v0`, a cache that belongs to someone else. The report of what was done is
//! printed, says whether anything was deleted (how much, or "nothing was deleted") and
//! what to do; the run exits 1; every archive it could not remove whole is whole, with
//! its pointers, and uv still uses it.
//!
//! Permission bits do not stop root, and CI runs as root: these tests run the tool as a
//! `TestUser` (or as root without its DAC capabilities), and are skipped with a message
//! when not root.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::users::{TestUser, open_path_to};
use common::*;
use serde_json::Value;
use testbed::sandbox::{SETPRIV_DROP_DAC, wrapping};

/// A user's cache: `alpha` live in `projects/live`; `beta`, `gamma` and `delta` dead
/// (their venv deleted), each with its own pointer directory (find-links: `.rev` and a
/// symlink in `wheels-v*/index/<digest>/<name>/`). Everything belongs to `user`.
struct UserCache {
    user: TestUser,
    sandbox: Sandbox,
}

impl UserCache {
    fn new(tag: &str) -> Option<UserCache> {
        let user = TestUser::create(tag)?;
        let sandbox = Sandbox::new();
        open_path_to(sandbox.dir());
        for name in ["alpha", "beta", "gamma", "delta"] {
            sandbox.wheel(name, "1.0");
        }
        sandbox.venv("projects/live", &uv(), LinkMode::Hardlink, &["alpha==1.0"]);
        let gone = sandbox.venv(
            "projects/gone",
            &uv(),
            LinkMode::Hardlink,
            &["beta==1.0", "gamma==1.0", "delta==1.0"],
        );
        delete(&gone);
        for dir in ["cache", "xdg", "home", "projects"] {
            let path = sandbox.path(dir);
            std::fs::create_dir_all(&path).unwrap();
            user.give(&path);
        }
        Some(UserCache { user, sandbox })
    }

    /// The directory holding the pointers of `name` 1.0.
    fn pointer_dir(&self, name: &str) -> PathBuf {
        let id = self.sandbox.archive_of(name, "1.0");
        let cache = self.sandbox.cache();
        let dirs: Vec<PathBuf> = cache_pointers(&cache, &self.sandbox.all_archives())
            .into_iter()
            .filter(|p| p.id == id)
            .map(|p| p.path.parent().unwrap().to_owned())
            .collect();
        assert!(!dirs.is_empty(), "no pointer names {name}");
        assert!(dirs.iter().all(|d| *d == dirs[0]), "{dirs:?}");
        dirs[0].clone()
    }

    /// The dry run over `projects`, as the user.
    fn plan(&self) -> Value {
        let mut args = plan_args(&[&self.sandbox.projects()]);
        args.push("--json".into());
        let output = self.user.output(&mut self.sandbox.prune_cmd(&args));
        assert!(output.status.success(), "{}", texts(&output).1);
        json(&output)
    }

    /// `uv-cache-prune --apply` over `projects`, as the user, with `more` arguments.
    fn apply(&self, more: &[&str]) -> Output {
        let mut args = apply_args(&[&self.sandbox.projects()]);
        args.extend(more.iter().map(Into::into));
        self.user.output(&mut self.sandbox.prune_cmd(&args))
    }
}

fn chmod(path: &Path, mode: &str) {
    run_ok(Command::new("chmod").arg(mode).arg(path));
}

fn chown(path: &Path, owner: &str) {
    run_ok(Command::new("chown").arg(owner).arg(path));
}

/// `cmd` run by root without its power over permissions (`setpriv` drops
/// `CAP_DAC_OVERRIDE`: an NFS `root_squash`, a container); `None`, after saying so, where
/// that does not make `unwritable` (another user's directory) unwritable here.
fn without_dac(unwritable: &Path, cmd: &Command) -> Option<Command> {
    let setpriv = || {
        let mut setpriv = Command::new("setpriv");
        setpriv.args(SETPRIV_DROP_DAC);
        setpriv
    };
    let probe = setpriv().args(["test", "-w"]).arg(unwritable).status();
    if !probe.is_ok_and(|s| !s.success()) {
        eprintln!("skipped: setpriv cannot drop root's DAC capabilities here");
        return None;
    }
    Some(wrapping(setpriv(), cmd))
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn texts(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `beta`'s pointer directory made read-only, `delta`'s handed to root: `gamma` goes,
/// `beta` and `delta` stay whole with their pointers (uv installs them from the cache
/// again), the report says what was removed and what to do for each directory, exit 1;
/// after following that advice, a second run removes them.
#[test]
fn pointers_it_may_not_remove_keep_their_archives_whole_and_the_rest_goes() {
    let Some(cache) = UserCache::new("ropointer") else {
        return;
    };
    let sandbox = &cache.sandbox;
    let [beta, gamma, delta] = ["beta", "gamma", "delta"].map(|n| sandbox.archive_of(n, "1.0"));
    let (beta_dir, delta_dir) = (cache.pointer_dir("beta"), cache.pointer_dir("delta"));
    let planned = cache.plan();
    chmod(&beta_dir, "a-w");
    chown(&delta_dir, "root:root");
    let pointers_before = cache_pointers(&sandbox.cache(), &sandbox.all_archives());

    let output = cache.apply(&["--json"]);
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let report = json(&output);
    assert_eq!(candidate_ids(&report), set([&gamma]), "{report:#}");
    assert_eq!(
        &report["removed_bytes"],
        &candidate(&planned, &gamma)["bytes"],
        "the bytes really removed: gamma's, as planned"
    );
    for (id, dir) in [(&beta, &beta_dir), (&delta, &delta_dir)] {
        assert_eq!(
            evidence_kinds(&report, id),
            set(["permission-denied"]),
            "{report:#}"
        );
        let evidence = &live(&report, id)["evidence"][0];
        assert!(
            Path::new(evidence["path"].as_str().unwrap()).starts_with(dir),
            "{evidence:#}"
        );
    }
    let incomplete = &report["incomplete"];
    assert_eq!(incomplete["deleted_anything"], true, "{incomplete:#}");
    assert_eq!(incomplete["kept_archives"], 2, "{incomplete:#}");
    // In the order met, which follows the archive ids: compared as sets.
    let strings = |value: &Value| -> BTreeSet<String> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect()
    };
    let (beta_shown, delta_shown) = (path_str(&beta_dir), path_str(&delta_dir));
    assert_eq!(
        strings(&incomplete["denied"]),
        set([&beta_shown, &delta_shown]),
        "{incomplete:#}"
    );
    let user = &cache.user.name;
    let beta_advice = format!(
        "{beta_shown} is yours but not writable (mode 0555): chmod -R u+w {beta_shown} and run again"
    );
    let delta_advice = format!(
        "{delta_shown} belongs to root (uid 0), though the cache is yours (a uv run with sudo?): make it yours again (sudo chown -R {user} {delta_shown}) and run again"
    );
    assert_eq!(
        strings(&incomplete["what_to_do"]),
        set([&beta_advice, &delta_advice]),
        "{incomplete:#}"
    );
    let first = &incomplete["what_to_do"][0];
    assert!(
        stderr.contains(&format!(
            "error: --apply could not finish, permission denied: removed 1 archive ({}) and kept 2 archives it may not change; {}",
            uv_cache_prune::human_bytes(report["removed_bytes"].as_u64().unwrap()),
            first.as_str().unwrap()
        )),
        "{stderr}"
    );

    // Kept whole: complete, every pointer still there, and uv links a new venv to it.
    for id in [&beta, &delta] {
        assert_eq!(archive_problems(&sandbox.cache(), id), Vec::<String>::new());
    }
    let pointers_after = cache_pointers(&sandbox.cache(), &sandbox.all_archives());
    let named = |pointers: &[Pointer], id: &str| -> Vec<PathBuf> {
        pointers
            .iter()
            .filter(|p| p.id == id)
            .map(|p| p.path.clone())
            .collect()
    };
    for id in [&beta, &delta] {
        assert_eq!(named(&pointers_after, id), named(&pointers_before, id));
    }
    assert!(!sandbox.all_archives().contains(&gamma));
    let again = sandbox.venv("projects/again", &uv(), LinkMode::Hardlink, &["beta==1.0"]);
    sandbox.assert_imports(&again, &["beta"]);
    let metadata = |dir: &Path| {
        std::fs::metadata(dir.join("beta-1.0.dist-info/METADATA"))
            .unwrap()
            .ino()
    };
    assert_eq!(
        metadata(&site_packages(&again)),
        metadata(&sandbox.archive_dir(&beta)),
        "uv linked the kept archive, not a new one"
    );
    delete(&again);

    // Done as told, the next run finishes the prune.
    chmod(&beta_dir, "u+w");
    chown(
        &delta_dir,
        &format!("{}:{}", cache.user.uid, cache.user.gid),
    );
    let output = cache.apply(&["--json"]);
    assert!(output.status.success(), "{}", texts(&output).1);
    let report = json(&output);
    assert_eq!(candidate_ids(&report), set([&beta, &delta]), "{report:#}");
    assert!(report.get("incomplete").is_none(), "{report:#}");
}

/// A read-only `archive-v0`: nothing is deleted, not even a pointer (an archive without
/// its pointers would cost uv a download and free nothing), the cache is byte for byte
/// as before, and the human report ends with "Nothing was deleted" and what to do.
#[test]
fn a_read_only_archive_dir_deletes_nothing_not_even_a_pointer() {
    let Some(cache) = UserCache::new("roarchive") else {
        return;
    };
    let sandbox = &cache.sandbox;
    let archives = sandbox.cache().join("archive-v0");
    chmod(&archives, "a-w");
    let before = snapshot(&sandbox.cache());

    let output = cache.apply(&[]);
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_same_snapshot(&before, &snapshot(&sandbox.cache()));
    let shown = path_str(&archives);
    let tail: Vec<&str> = stdout.lines().rev().take(3).collect();
    assert_eq!(
        tail,
        [
            format!(
                "  {shown} is yours but not writable (mode 0555): chmod -R u+w {shown} and run again"
            )
            .as_str(),
            "To finish the prune:",
            "Nothing was deleted: permission denied; 3 archives kept whole.",
        ],
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "error: --apply could not finish, permission denied: nothing was deleted (3 archives kept)"
        ),
        "{stderr}"
    );
}

/// Root without its power over permissions (`setpriv` drops `CAP_DAC_OVERRIDE`: an NFS
/// `root_squash`, a container), seeing the user's venvs (`sudo`, `HOME` the user's), on
/// a cache that is the user's: the advice is to run as the cache's owner, by name.
#[test]
fn a_cache_of_another_user_says_to_run_as_its_owner() {
    let Some(cache) = UserCache::new("roowner") else {
        return;
    };
    let sandbox = &cache.sandbox;
    cache.user.set_home(&sandbox.home());
    let mut args = apply_args(&[&sandbox.projects()]);
    args.push("--json".into());
    let archives = sandbox.cache().join("archive-v0");
    let Some(mut cmd) = without_dac(&archives, &sandbox.prune_cmd(&args)) else {
        return;
    };
    cmd.env("SUDO_UID", cache.user.uid.to_string());
    let output = cmd.output().unwrap();
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let report = json(&output);
    assert_eq!(
        candidate_ids(&report),
        set(Vec::<&str>::new()),
        "{report:#}"
    );
    let name = &cache.user.name;
    let archives = path_str(&sandbox.cache().join("archive-v0"));
    assert_eq!(
        report["incomplete"]["what_to_do"],
        serde_json::json!([format!(
            "{archives} belongs to {name} (uid {}), who owns the cache: run the prune as the cache's owner, {name} (sudo -u {name} uv-cache-prune --cache-dir {} --apply, with your other flags)",
            cache.user.uid,
            path_str(&sandbox.cache())
        )]),
        "{report:#}"
    );
    assert!(
        stderr.contains("nothing was deleted (3 archives kept)"),
        "{stderr}"
    );
}

/// A stale `uvx` environment (`--unused-for`) in symlink mode whose link may not be
/// removed stays, and so does the wheel archive only it kept, which it links into: the
/// tool still runs offline afterwards.
#[test]
fn a_kept_cached_environment_keeps_the_wheels_it_links_to() {
    let Some(cache) = UserCache::new("roenv") else {
        return;
    };
    let sandbox = &cache.sandbox;
    sandbox.wheel("tool", "1.0");
    let mut uvx = sandbox.uv_cmd(&uv());
    uvx.env("UV_LINK_MODE", "symlink")
        .args(["tool", "run", "--offline", "--no-index", "--find-links"])
        .arg(sandbox.wheels())
        .args(["--from", "tool", "tool-cli"]);
    run_ok(&mut uvx);
    let wheel = sandbox.archive_of("tool", "1.0");
    let links: Vec<PathBuf> = walkdir::WalkDir::new(sandbox.cache())
        .into_iter()
        .flatten()
        .filter(|e| e.path_is_symlink())
        .map(|e| e.into_path())
        .filter(|p| {
            p.parent()
                .and_then(|d| d.parent())
                .and_then(|b| b.file_name())
                .is_some_and(|b| b.to_string_lossy().starts_with("environments-v"))
        })
        .collect();
    assert_eq!(links.len(), 1, "{links:?}");
    let link_dir = links[0].parent().unwrap().to_owned();
    cache.user.give(&sandbox.cache());
    chmod(&link_dir, "a-w");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3 * 86_400;
    let mut args = apply_args(&[&sandbox.projects()]);
    args.extend(["--unused-for", "1d", "--json"].map(Into::into));
    let mut cmd = sandbox.prune_cmd(&args);
    cmd.env("UV_CACHE_PRUNE_NOW", now.to_string());
    let output = cache.user.output(&mut cmd);
    assert_eq!(output.status.code(), Some(1), "{}", texts(&output).1);
    let report = json(&output);
    let environment = live(&report, &environment_id(&links[0]));
    assert_eq!(
        environment["evidence"][0]["kind"], "permission-denied",
        "{report:#}"
    );
    let kept = &live(&report, &wheel)["evidence"][0];
    assert_eq!(kept["kind"], "permission-denied", "{report:#}");
    assert!(
        kept["detail"]
            .as_str()
            .unwrap()
            .contains("kept, may link into it"),
        "{kept:#}"
    );
    // The environment uv will reuse is whole: every link in it still leads somewhere.
    let env = sandbox.archive_dir(&environment_id(&links[0]));
    let dangling: Vec<PathBuf> = walkdir::WalkDir::new(site_packages(&env))
        .into_iter()
        .flatten()
        .filter(|e| e.path_is_symlink() && !e.path().exists())
        .map(|e| e.into_path())
        .collect();
    assert_eq!(dangling, Vec::<PathBuf>::new());
    run_ok(&mut uvx);
}

/// The archive id a `environments-v*` link names.
fn environment_id(link: &Path) -> String {
    let target = std::fs::read_link(link).unwrap();
    target.file_name().unwrap().to_string_lossy().into_owned()
}

/// After a refusal the promise is what the removals could free: a stale `uvx`
/// environment (hardlink mode) shares the files of the wheel `big`, whose pointers may
/// not be removed. The environment goes, `big` stays whole, and so do the files they
/// share: the report's `reclaimable_bytes` is what `removed_bytes` and `du` say was freed.
/// Before, the shared files stayed counted in the environment's bytes (they go to the
/// first candidate by id, which the environment's id is made to be): 400 KB promised
/// and not freed.
#[test]
fn after_a_refusal_the_promise_leaves_out_what_the_kept_archives_share() {
    let Some(cache) = UserCache::new("roshare") else {
        return;
    };
    let sandbox = &cache.sandbox;
    sandbox.wheel_with("big", "1.0", 400_000);
    sandbox.wheel("tool", "1.0");
    let out = common::cached_envs::uvx(sandbox, &uv(), "tool", &["--with", "big"]);
    assert_eq!(out, "tool 1.0");
    let links: Vec<PathBuf> = walkdir::WalkDir::new(sandbox.cache())
        .into_iter()
        .flatten()
        .filter(|e| e.path_is_symlink())
        .map(|e| e.into_path())
        .filter(|p| path_str(p).contains("/environments-v"))
        .collect();
    assert_eq!(links.len(), 1, "{links:?}");
    // The environment first by id, as uv could have named it.
    let first = "0000000000000000";
    std::fs::rename(
        sandbox.archive_dir(&environment_id(&links[0])),
        sandbox.archive_dir(first),
    )
    .unwrap();
    std::fs::remove_file(&links[0]).unwrap();
    std::os::unix::fs::symlink(format!("../../archive-v0/{first}"), &links[0]).unwrap();
    let big = sandbox.archive_of("big", "1.0");
    let big_dir = cache.pointer_dir("big");
    cache.user.give(&sandbox.cache());
    chmod(&big_dir, "a-w");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3 * 86_400;
    let mut args = apply_args(&[&sandbox.projects()]);
    args.extend(["--unused-for", "1d", "--json"].map(Into::into));
    let mut cmd = sandbox.prune_cmd(&args);
    cmd.env("UV_CACHE_PRUNE_NOW", now.to_string());
    let before = du_bytes(&[&sandbox.cache()]);
    let output = cache.user.output(&mut cmd);
    let freed = before - du_bytes(&[&sandbox.cache()]);
    assert_eq!(output.status.code(), Some(1), "{}", texts(&output).1);
    let report = json(&output);
    assert!(candidate_ids(&report).contains(first), "{report:#}");
    assert_eq!(
        evidence_kinds(&report, &big),
        set(["permission-denied"]),
        "{report:#}"
    );
    assert_eq!(report["removed_bytes"].as_u64(), Some(freed), "{report:#}");
    assert_eq!(
        report["reclaimable_bytes"].as_u64(),
        Some(freed),
        "the promise, once big is kept: {report:#}"
    );
    assert_eq!(
        archive_problems(&sandbox.cache(), &big),
        Vec::<String>::new()
    );
}

/// The command the advice gives prunes the cache that refused, whatever its path: as
/// `sudo` drops `UV_CACHE_DIR`, it names the cache (`--cache-dir`), and every path in a
/// command is quoted for the shell. Before, `sudo -u OWNER uv-cache-prune --apply` pruned
/// the owner's default cache, and a path with a space split into two arguments.
#[test]
fn the_advice_names_the_cache_and_quotes_it_for_the_shell() {
    let Some(cache) = UserCache::new("roquote") else {
        return;
    };
    let sandbox = &cache.sandbox;
    cache.user.set_home(&sandbox.home());
    let moved = sandbox.path("team's cache");
    std::fs::rename(sandbox.cache(), &moved).unwrap();
    let mut args = apply_args(&[&sandbox.projects()]);
    args.push("--json".into());
    let archives = moved.join("archive-v0");
    let Some(mut cmd) = without_dac(&archives, &sandbox.prune_cmd_at(&moved, &args)) else {
        return;
    };
    cmd.env("SUDO_UID", cache.user.uid.to_string());
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", texts(&output).1);
    let report = json(&output);
    let name = &cache.user.name;
    let quoted = format!("'{}'", path_str(&moved).replace('\'', r"'\''"));
    assert_eq!(
        report["incomplete"]["what_to_do"],
        serde_json::json!([format!(
            "{} belongs to {name} (uid {}), who owns the cache: run the prune as the cache's owner, {name} (sudo -u {name} uv-cache-prune --cache-dir {quoted} --apply, with your other flags)",
            path_str(&moved.join("archive-v0")),
            cache.user.uid
        )]),
        "{report:#}"
    );
}
