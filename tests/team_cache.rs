//! A cache written by several users (a team's setgid, group-writable cache, umask 002):
//! a run that cannot read another user's home cannot see their symlink-mode venvs, so it
//! must keep every archive; only root with `--all-users` prunes it, and then exactly what
//! no user's venv uses.
//!
//! Needs root (useradd, groupadd, setpriv); skipped with a message otherwise.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::users::{TestUser, open_path_to, shared_python};
use common::{Sandbox, all_archives, describe, uv};
use serde_json::Value;

/// A group made for one test, removed when dropped.
struct TestGroup {
    name: String,
}

impl TestGroup {
    fn create(members: &[&TestUser]) -> TestGroup {
        let name = format!("ucpteam{}", std::process::id());
        ok(Command::new("groupadd").arg(&name));
        for user in members {
            ok(Command::new("usermod").args(["-aG", &name, &user.name]));
        }
        TestGroup { name }
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.name).status();
    }
}

fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(out.status.success(), "{}", describe(cmd, &out));
    out
}

/// One person of the team: a user with a private home (0700) named in the password
/// database, so that `--all-users` finds it.
struct Member {
    user: TestUser,
    home: PathBuf,
}

impl Member {
    fn new(sandbox: &Sandbox, tag: &str) -> Option<Member> {
        let user = TestUser::create(tag)?;
        let home = sandbox.path(tag);
        std::fs::create_dir(&home).unwrap();
        user.give(&home);
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        user.set_home(&home);
        Some(Member { user, home })
    }

    /// `program args...` as this user with the team group (`setpriv --init-groups`,
    /// since std's `Command::uid` drops supplementary groups), umask 002, `HOME` = the
    /// member's home, and nothing else of root's environment.
    fn command(&self, program: &Path, args: &[&OsStr]) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.user.uid))
            .arg(format!("--regid={}", self.user.gid))
            .args([
                "--init-groups",
                "--",
                "sh",
                "-c",
                "umask 002 && exec \"$0\" \"$@\"",
            ])
            .arg(program)
            .args(args);
        member_env(&mut cmd, &self.home);
        cmd.env("USER", &self.user.name)
            .env("LOGNAME", &self.user.name);
        cmd
    }
}

/// The environment of a login: `HOME`, a fixed `PATH`, uv confined to the shared python
/// and the find-links dir; no `XDG_*`, so state and tool dirs are the defaults under HOME.
fn member_env(cmd: &mut Command, home: &Path) {
    cmd.env_clear()
        .current_dir(home)
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("UV_PYTHON", shared_python())
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_NO_CONFIG", "1")
        .env("UV_NO_PROGRESS", "1");
}

struct Team {
    sandbox: Sandbox,
    ann: Member,
    bob: Member,
    _group: Option<TestGroup>,
    cache: PathBuf,
    uv: PathBuf,
}

impl Team {
    fn uv(&self, who: &Member, args: &[&OsStr]) {
        let mut cmd = who.command(&self.uv, args);
        cmd.env("UV_CACHE_DIR", &self.cache);
        ok(&mut cmd);
    }

    /// `uv venv DIR` and `uv pip install --link-mode symlink PACKAGES` as `who`.
    fn venv(&self, who: &Member, dir: &Path, packages: &[&str]) {
        self.uv(who, &[OsStr::new("venv"), dir.as_os_str()]);
        let wheels = self.sandbox.wheels();
        let mut args: Vec<&OsStr> = [
            "pip",
            "install",
            "--link-mode",
            "symlink",
            "--no-index",
            "--find-links",
        ]
        .iter()
        .map(OsStr::new)
        .collect();
        args.push(wheels.as_os_str());
        args.extend([OsStr::new("--python"), dir.as_os_str()]);
        args.extend(packages.iter().map(OsStr::new));
        self.uv(who, &args);
    }

    fn prune_args(&self, extra: &[&str]) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--cache-dir".into(),
            self.cache.clone().into(),
            "--grace".into(),
            "0s".into(),
            "--json".into(),
        ];
        args.extend(extra.iter().map(Into::into));
        args
    }

    /// Our binary as `who` (default roots: their home, tool dir and registry).
    fn prune_as(&self, who: &Member, extra: &[&str]) -> Output {
        let args = self.prune_args(extra);
        let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        who.command(Path::new(env!("CARGO_BIN_EXE_uv-cache-prune")), &args)
            .output()
            .expect("run uv-cache-prune")
    }

    /// Our binary as root with `home` as `HOME` and these extra variables.
    fn prune_as_root(&self, home: &Path, vars: &[(&str, String)], extra: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_uv-cache-prune"));
        cmd.args(self.prune_args(extra));
        member_env(&mut cmd, home);
        cmd.current_dir(self.sandbox.dir());
        for (key, value) in vars {
            cmd.env(key, value);
        }
        cmd.output().expect("run uv-cache-prune")
    }
}

fn report(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
}

fn candidate_ids(report: &Value) -> BTreeSet<String> {
    report["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The `shared-cache` evidence of every live archive: each archive must carry one.
fn shared_cache_details(report: &Value) -> Vec<String> {
    let live = report["live"].as_array().expect("live");
    live.iter()
        .map(|archive| {
            let evidence = archive["evidence"].as_array().expect("evidence");
            let shared = evidence
                .iter()
                .find(|e| e["kind"] == "shared-cache")
                .unwrap_or_else(|| panic!("no shared-cache evidence on {archive:#}"));
            shared["detail"].as_str().expect("detail").to_owned()
        })
        .collect()
}

/// ann and bob share `<tmp>/team-cache` (group `ucpteam…`, setgid, 2775) and use uv with
/// umask 002. ann's uv unpacked `beta` for a venv she since deleted; bob's symlink venv
/// (in his private home) links that very archive. `gamma` is bob's, linked from a venv in
/// a tree bob registered. `alpha` is in ann's own venv. `delta` was only in ann's deleted
/// venv: dead for both.
#[test]
fn a_team_cache_is_pruned_only_by_root_with_all_users() {
    let sandbox = Sandbox::new();
    let Some(ann) = Member::new(&sandbox, "ann") else {
        return;
    };
    let Some(bob) = Member::new(&sandbox, "bob") else {
        return;
    };
    let group = TestGroup::create(&[&ann.user, &bob.user]);
    open_path_to(sandbox.dir());
    for name in ["alpha", "beta", "gamma", "delta"] {
        sandbox.wheel(name, "1.0");
    }
    // uv may live under root's private target dir: give the team a copy.
    let bin = sandbox.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let uv_copy = bin.join("uv");
    std::fs::copy(uv(), &uv_copy).unwrap();
    std::fs::set_permissions(&uv_copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cache = sandbox.path("team-cache");
    std::fs::create_dir(&cache).unwrap();
    ok(Command::new("chown")
        .arg(format!("{}:{}", ann.user.uid, group.name))
        .arg(&cache));
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o2775)).unwrap();
    let team = Team {
        sandbox,
        ann,
        bob,
        _group: Some(group),
        cache,
        uv: uv_copy,
    };
    let (ann, bob) = (&team.ann, &team.bob);

    team.venv(ann, &ann.home.join("va"), &["alpha"]);
    let gone = ann.home.join("vtmp");
    team.venv(ann, &gone, &["beta", "delta"]);
    std::fs::remove_dir_all(&gone).unwrap();
    let vb = bob.home.join("vb");
    team.venv(bob, &vb, &["beta"]);
    // A tree outside bob's home, private to him, that he registered.
    let work = team.sandbox.path("bob-work");
    std::fs::create_dir(&work).unwrap();
    bob.user.give(&work);
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o700)).unwrap();
    let vc = work.join("vc");
    team.venv(bob, &vc, &["gamma"]);
    let register = [OsStr::new("roots"), OsStr::new("add"), work.as_os_str()];
    ok(&mut bob.command(Path::new(env!("CARGO_BIN_EXE_uv-cache-prune")), &register));

    let archives_of = |name: &str| -> String {
        let ids = common::archives_of(&team.cache, name, "1.0");
        assert_eq!(ids.len(), 1, "{name}: {ids:?}");
        ids.into_iter().next().unwrap()
    };
    let (alpha, beta, gamma, delta) = (
        archives_of("alpha"),
        archives_of("beta"),
        archives_of("gamma"),
        archives_of("delta"),
    );
    let everything = all_archives(&team.cache);
    assert_eq!(everything.len(), 4, "{everything:?}");
    let bob_named = format!("{} (uid {})", bob.user.name, bob.user.uid);

    // ann, on her own: she cannot read bob's home or work tree, so she keeps everything,
    // says why (naming bob) and says how to prune instead.
    for apply in [false, true] {
        let extra: &[&str] = if apply { &["--apply"] } else { &[] };
        let out = team.prune_as(ann, extra);
        let json = report(&out, "ann's run");
        assert_eq!(candidate_ids(&json), BTreeSet::new(), "ann's run: {json:#}");
        assert_eq!(
            all_archives(&team.cache),
            everything,
            "ann's run removed archives"
        );
        for detail in shared_cache_details(&json) {
            assert_eq!(
                detail,
                format!(
                    "the cache is shared with users whose venvs this run cannot see: {bob_named}"
                )
            );
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = stderr
            .lines()
            .filter(|l| l.contains("run as root with --all-users"))
            .count();
        assert_eq!(hint, 1, "one line says how to prune instead: {stderr}");
    }

    // Root as `sudo -E` leaves it: ann's HOME and SUDO_UID. ann is seen, bob is not.
    let sudo = [("SUDO_UID", ann.user.uid.to_string())];
    let json = report(
        &team.prune_as_root(&ann.home, &sudo, &["--apply"]),
        "root with ann's environment",
    );
    assert_eq!(candidate_ids(&json), BTreeSet::new(), "{json:#}");
    assert_eq!(all_archives(&team.cache), everything);
    assert!(
        shared_cache_details(&json)
            .iter()
            .all(|d| d.ends_with(&bob_named) && !d.contains(&ann.user.name)),
        "{json:#}"
    );
    // bob's HOME but ann's SUDO_UID: the home does not make bob seen (nor ann).
    let json = report(
        &team.prune_as_root(&bob.home, &sudo, &[]),
        "root with bob's HOME and ann's SUDO_UID",
    );
    assert_eq!(candidate_ids(&json), BTreeSet::new(), "{json:#}");

    // --all-users as ann: bad usage, exit 2, one clear line.
    let out = team.prune_as(ann, &["--all-users"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --all-users searches every user's home and needs root: run it as root \
         (sudo), or drop --all-users to prune what this user can see\n"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(all_archives(&team.cache), everything);

    // Root with --all-users (its own HOME, as from cron): every home and registry is
    // searched, so exactly the dead archive goes.
    let root_home = team.sandbox.home();
    let json = report(
        &team.prune_as_root(&root_home, &[], &["--all-users", "--apply"]),
        "root --all-users",
    );
    assert_eq!(
        candidate_ids(&json),
        BTreeSet::from([delta.clone()]),
        "{json:#}"
    );
    let left: BTreeSet<String> = [alpha, beta, gamma].into_iter().collect();
    assert_eq!(all_archives(&team.cache), left);
    let origins: BTreeSet<(String, String)> = json["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_owned(),
                r["origin"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (path, origin) in [
        (&ann.home, "user-home"),
        (&bob.home, "user-home"),
        (&work, "user-registered"),
    ] {
        let entry = (path.to_string_lossy().into_owned(), origin.to_owned());
        assert!(origins.contains(&entry), "{entry:?} not in {origins:?}");
    }
    assert!(
        json["live"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["kind"] != "shared-cache")),
        "{json:#}"
    );
    team.sandbox.assert_imports(&vb, &["beta"]);
    team.sandbox.assert_imports(&vc, &["gamma"]);
    team.sandbox
        .assert_imports(&ann.home.join("va"), &["alpha"]);
}

/// The ACL that lets `uid` write `dir` and whatever is made in it (`setfacl -m u:UID:rwx`
/// and `-d -m u:UID:rwx`), written as the kernel's xattr by python, so that the test
/// needs no `acl` package.
fn grant_by_acl(dir: &Path, uid: u32) {
    let script = r#"
import os, struct, sys
path, uid = sys.argv[1], int(sys.argv[2])
e = lambda tag, perm, i: struct.pack("<HHI", tag, perm, i)
acl = struct.pack("<I", 2) + e(1, 7, 0xFFFFFFFF) + e(2, 7, uid) + e(4, 5, 0xFFFFFFFF) \
    + e(0x10, 7, 0xFFFFFFFF) + e(0x20, 5, 0xFFFFFFFF)
for name in ("system.posix_acl_access", "system.posix_acl_default"):
    os.setxattr(path, name, acl)
"#;
    ok(Command::new(shared_python())
        .args(["-c", script])
        .arg(dir)
        .arg(uid.to_string()));
}

/// A cache shared with a POSIX ACL rather than a group: no group or others write bit says
/// so, yet bob's symlink venv links the archive ann's uv unpacked.
#[test]
fn a_cache_shared_through_an_acl_keeps_what_the_other_users_venv_links() {
    let sandbox = Sandbox::new();
    let Some(ann) = Member::new(&sandbox, "aclann") else {
        return;
    };
    let Some(bob) = Member::new(&sandbox, "aclbob") else {
        return;
    };
    open_path_to(sandbox.dir());
    sandbox.wheel("alpha", "1.0");
    let bin = sandbox.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let uv_copy = bin.join("uv");
    std::fs::copy(uv(), &uv_copy).unwrap();
    std::fs::set_permissions(&uv_copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cache = sandbox.path("acl-cache");
    std::fs::create_dir(&cache).unwrap();
    ann.user.give(&cache);
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    grant_by_acl(&cache, bob.user.uid);
    let team = Team {
        sandbox,
        ann,
        bob,
        _group: None,
        cache,
        uv: uv_copy,
    };
    let (ann, bob) = (&team.ann, &team.bob);
    let gone = ann.home.join("vtmp");
    team.venv(ann, &gone, &["alpha"]);
    std::fs::remove_dir_all(&gone).unwrap();
    let vb = bob.home.join("vb");
    team.venv(bob, &vb, &["alpha"]);
    let everything = all_archives(&team.cache);
    assert_eq!(
        everything.len(),
        1,
        "bob's uv reused ann's archive: {everything:?}"
    );

    for apply in [false, true] {
        let extra: &[&str] = if apply { &["--apply"] } else { &[] };
        let json = report(&team.prune_as(ann, extra), "ann's run");
        assert_eq!(candidate_ids(&json), BTreeSet::new(), "{json:#}");
        assert_eq!(
            shared_cache_details(&json),
            [format!(
                "the cache is shared with users whose venvs this run cannot see: {} (uid {})",
                bob.user.name, bob.user.uid
            )]
        );
    }
    assert_eq!(all_archives(&team.cache), everything);
    let import = [OsStr::new("-c"), OsStr::new("import alpha")];
    ok(&mut bob.command(&vb.join("bin/python"), &import));
}
