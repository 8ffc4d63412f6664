//! The sandbox every scenario runs in: a throw-away world in a temp dir, a real uv to fill
//! its cache, and the tool to judge it, with [`isolate`], the one rule that keeps every
//! command (uv's and the tool's, in the tests and in the soak) away from the real home,
//! cache, config and network.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;
use tempfile::TempDir;

use crate::ground_truth::{
    self, all_archives, archives_of, dist_info_records, record_problems, snapshot,
};
use crate::wheel;

/// True for an environment variable no sandboxed command may inherit: anything that
/// configures uv, pip or Python, names another environment or home dir, or routes
/// traffic through a proxy (in any spelling: `https_proxy`, `ALL_PROXY`, `no_proxy`...).
pub fn is_stripped(key: &OsStr) -> bool {
    let key = key.to_string_lossy();
    ["UV_", "PIP_", "XDG_", "PYTHON"]
        .iter()
        .any(|prefix| key.starts_with(prefix))
        || ["VIRTUAL_ENV", "CONDA_PREFIX"].contains(&&*key)
        || key.to_ascii_lowercase().ends_with("_proxy")
}

/// Confines `cmd` to the world under `root`: strips every variable [`is_stripped`] names,
/// then points `HOME`, the XDG dirs, the uv cache (`<root>/cache`) and uv's tool dirs
/// (`<root>/tools`, `<root>/tool-bin`) inside `root`, ignores uv config files, and makes uv
/// use `python` and never download one. Runs `cmd` from `root`.
pub fn isolate(cmd: &mut Command, root: &Path, python: &OsStr) {
    for (key, _) in std::env::vars_os() {
        if is_stripped(&key) {
            cmd.env_remove(&key);
        }
    }
    let under = |rel: &str| root.join(rel);
    cmd.current_dir(root)
        .env("HOME", under("home"))
        .env("UV_CACHE_DIR", under("cache"))
        .env("XDG_CACHE_HOME", under("xdg/cache"))
        .env("XDG_DATA_HOME", under("xdg/data"))
        .env("XDG_CONFIG_HOME", under("xdg/config"))
        .env("XDG_STATE_HOME", under("xdg/state"))
        .env("XDG_BIN_HOME", under("xdg/bin"))
        .env("UV_TOOL_DIR", under("tools"))
        .env("UV_TOOL_BIN_DIR", under("tool-bin"))
        .env("UV_PYTHON", python)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_NO_CONFIG", "1")
        .env("UV_NO_PROGRESS", "1");
}

/// How `uv pip install` puts files from the cache into a venv (`--link-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    Hardlink,
    Symlink,
    Copy,
}

impl LinkMode {
    pub fn as_arg(self) -> &'static str {
        match self {
            LinkMode::Hardlink => "hardlink",
            LinkMode::Symlink => "symlink",
            LinkMode::Copy => "copy",
        }
    }
}

/// Where `uv pip install` finds wheels.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// `--no-index --find-links <sandbox wheels>`: uv records a `.rev` pointer.
    FindLinks,
    /// `--index-url <url>`: uv records a `.http` pointer.
    Index(&'a str),
}

/// A temp dir holding a uv cache, a fake home, wheels, an index tree and projects.
pub struct Sandbox {
    dir: TempDir,
    /// The `uv-cache-prune` binary the `prune*` methods run.
    tool: PathBuf,
}

impl Sandbox {
    /// A fresh sandbox whose `prune*` methods run `tool`.
    pub fn with_tool(tool: &Path) -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("uv-cache-prune-test-")
            .tempdir()
            .expect("create sandbox temp dir");
        let sandbox = Sandbox {
            dir,
            tool: tool.to_owned(),
        };
        for sub in ["home", "wheels", "index/simple", "projects"] {
            let path = sandbox.path(sub);
            fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        }
        sandbox
    }

    /// The sandbox's temp dir itself.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `<tmp>/<rel>`.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The uv cache (`UV_CACHE_DIR`, and `--cache-dir` for our binary).
    pub fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    /// `HOME` for every command.
    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// The find-links dir [`Sandbox::wheel`] writes into.
    pub fn wheels(&self) -> PathBuf {
        self.path("wheels")
    }

    /// The dir [`IndexServer`] serves; [`Sandbox::publish`] puts wheels under `simple/`.
    pub fn index_dir(&self) -> PathBuf {
        self.path("index")
    }

    /// Where scenarios put their venvs; the usual `--root`.
    pub fn projects(&self) -> PathBuf {
        self.path("projects")
    }

    /// `UV_TOOL_DIR`: where `uv tool install` puts tool venvs.
    pub fn tool_dir(&self) -> PathBuf {
        self.path("tools")
    }

    /// `<cache>/archive-v0/<id>`.
    pub fn archive_dir(&self, id: &str) -> PathBuf {
        self.cache().join("archive-v0").join(id)
    }

    /// Applies the sandbox environment to `cmd` ([`isolate`], with [`python`]).
    pub fn isolate(&self, cmd: &mut Command) {
        isolate(cmd, self.dir.path(), python().as_os_str());
    }

    /// A `uv` command (from `bin`) confined to this sandbox.
    pub fn uv_cmd(&self, bin: &Path) -> Command {
        let mut cmd = Command::new(bin);
        self.isolate(&mut cmd);
        cmd
    }

    /// `program` (git, or a hook it runs) confined to this sandbox and to git's own
    /// isolation: no system config, a fixed author and committer.
    pub fn git_cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = self.uv_cmd(Path::new(program.as_ref()));
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com");
        cmd
    }

    /// Runs `bin args...` in the sandbox and panics, with its stderr, unless it succeeds.
    pub fn uv_ok<S: AsRef<OsStr>>(&self, bin: &Path, args: &[S]) -> Output {
        run_ok(self.uv_cmd(bin).args(args))
    }

    /// A wheel for `name` `version` in the find-links dir.
    pub fn wheel(&self, name: &str, version: &str) -> PathBuf {
        self.wheel_with(name, version, 0)
    }

    /// Like [`Sandbox::wheel`], with `extra_bytes` more data, for a bigger archive.
    pub fn wheel_with(&self, name: &str, version: &str, extra_bytes: usize) -> PathBuf {
        wheel::write_wheel(&self.wheels(), name, version, extra_bytes)
    }

    /// Like [`Sandbox::wheel`], with `modules` extra small modules in subpackages, for an
    /// archive of many files and directories.
    pub fn wheel_with_modules(&self, name: &str, version: &str, modules: usize) -> PathBuf {
        wheel::write_wheel_with_modules(&self.wheels(), name, version, 0, modules)
    }

    /// Copies `wheel` into the index tree as `simple/<name>/<file>`.
    pub fn publish(&self, wheel: &Path) {
        wheel::publish(&self.index_dir(), wheel).unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// `uv venv <tmp>/<rel>`, then installs `packages` from the find-links dir.
    pub fn venv(&self, rel: &str, bin: &Path, mode: LinkMode, packages: &[&str]) -> PathBuf {
        self.venv_from(rel, bin, mode, Source::FindLinks, packages)
    }

    /// `uv venv <tmp>/<rel>`, then installs `packages` from `source` with link mode `mode`.
    pub fn venv_from(
        &self,
        rel: &str,
        bin: &Path,
        mode: LinkMode,
        source: Source<'_>,
        packages: &[&str],
    ) -> PathBuf {
        let venv = self.path(rel);
        self.uv_ok(bin, &[OsStr::new("venv"), venv.as_os_str()]);
        if !packages.is_empty() {
            let install = [
                OsStr::new("pip"),
                OsStr::new("install"),
                OsStr::new("--python"),
                venv.as_os_str(),
                OsStr::new("--link-mode"),
                OsStr::new(mode.as_arg()),
            ];
            self.uv_ok_from(bin, &install, source, packages);
        }
        venv
    }

    /// Runs `bin command... <source args> rest...` like [`Sandbox::uv_ok`], for any uv
    /// command that fetches packages (`pip install`, `tool install`, `tool run`).
    pub fn uv_ok_from<S: AsRef<OsStr>>(
        &self,
        bin: &Path,
        command: &[S],
        source: Source<'_>,
        rest: &[&str],
    ) -> Output {
        let source_args: Vec<OsString> = match source {
            Source::FindLinks => vec![
                "--no-index".into(),
                "--find-links".into(),
                self.wheels().into(),
            ],
            Source::Index(url) => vec!["--index-url".into(), url.into()],
        };
        run_ok(self.uv_cmd(bin).args(command).args(source_args).args(rest))
    }

    /// Our binary confined to the sandbox, with no arguments at all.
    pub fn bare_prune_cmd(&self) -> Command {
        let mut cmd = Command::new(&self.tool);
        self.isolate(&mut cmd);
        cmd
    }

    /// Our binary confined to the sandbox, with `--cache-dir <cache>` before `args`.
    pub fn prune_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        self.prune_cmd_at(&self.cache(), args)
    }

    /// Our binary confined to the sandbox, with `--cache-dir <cache_dir>` before `args`.
    pub fn prune_cmd_at<S: AsRef<OsStr>>(&self, cache_dir: &Path, args: &[S]) -> Command {
        let mut cmd = self.bare_prune_cmd();
        cmd.arg("--cache-dir").arg(cache_dir).args(args);
        cmd
    }

    /// Runs our binary (see [`Sandbox::prune_cmd`]) whatever its exit status.
    pub fn prune<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut cmd = self.prune_cmd(args);
        cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
    }

    /// Runs our binary with `--json`, asserts exit 0 and returns the parsed report.
    pub fn prune_json<S: AsRef<OsStr>>(&self, args: &[S]) -> Value {
        self.prune_json_and_stderr(args).0
    }

    /// Like [`Sandbox::prune_json`], also returning stderr, where diagnostics go.
    pub fn prune_json_and_stderr<S: AsRef<OsStr>>(&self, args: &[S]) -> (Value, String) {
        json_and_stderr(self.prune_cmd(args))
    }

    /// Like [`Sandbox::prune_json`], with the tool's clock set to `now` (seconds since the
    /// epoch, `UV_CACHE_PRUNE_NOW`): what a run that much later would see.
    pub fn prune_json_now<S: AsRef<OsStr>>(&self, args: &[S], now: u64) -> Value {
        let mut cmd = self.prune_cmd(args);
        cmd.env("UV_CACHE_PRUNE_NOW", now.to_string());
        json_and_stderr(cmd).0
    }

    /// Like [`Sandbox::prune_json`], with `--cache-dir <cache_dir>` instead of the cache.
    pub fn prune_json_at<S: AsRef<OsStr>>(&self, cache_dir: &Path, args: &[S]) -> Value {
        json_and_stderr(self.prune_cmd_at(cache_dir, args)).0
    }

    /// The usual dry run: no grace period, only `roots` searched, JSON report.
    pub fn plan(&self, roots: &[&Path]) -> Value {
        self.prune_json(&plan_args(roots))
    }

    /// A [`snapshot`] of the cache and the projects: what "nothing changed" compares.
    pub fn world_snapshot(&self) -> BTreeMap<PathBuf, ground_truth::Entry> {
        let mut all = snapshot(&self.cache());
        all.extend(snapshot(&self.projects()));
        all
    }

    /// Ids of the archives holding `<name>-<version>.dist-info` (ground truth).
    pub fn archives_of(&self, name: &str, version: &str) -> BTreeSet<String> {
        archives_of(&self.cache(), name, version)
    }

    /// The single archive of `<name>-<version>`; panics if there is not exactly one.
    pub fn archive_of(&self, name: &str, version: &str) -> String {
        let ids = self.archives_of(name, version);
        assert_eq!(ids.len(), 1, "archives of {name} {version}: {ids:?}");
        ids.into_iter().next().expect("one id")
    }

    /// Ids of every archive in the cache (ground truth).
    pub fn all_archives(&self) -> BTreeSet<String> {
        all_archives(&self.cache())
    }

    /// Renames archive `old` to `new` (same length) as if uv had drawn `new`: the directory,
    /// every symlink through it (in the cache and in the projects' venvs), and the id inside
    /// every pointer file (a same-length byte replacement keeps the msgpack valid). uv draws
    /// ids at random, so this is how a scenario gets an id of a given shape.
    pub fn rename_archive(&self, old: &str, new: &str) {
        assert_eq!(
            old.len(),
            new.len(),
            "ids of the same length keep pointers valid"
        );
        let archive_v0 = self.cache().join("archive-v0");
        fs::rename(archive_v0.join(old), archive_v0.join(new)).expect("rename archive");
        let outside_archives = |dir: PathBuf| {
            walkdir::WalkDir::new(dir)
                .into_iter()
                .filter_entry(|e| e.path() != archive_v0)
                .map(|e| e.expect("walk the sandbox"))
        };
        for entry in outside_archives(self.cache()).chain(outside_archives(self.projects())) {
            let path = entry.path();
            if entry.path_is_symlink() {
                let target = fs::read_link(path).expect("read symlink");
                if target.iter().any(|c| c == old) {
                    let renamed: PathBuf = target
                        .iter()
                        .map(|c| if c == old { OsStr::new(new) } else { c })
                        .collect();
                    fs::remove_file(path).expect("remove old symlink");
                    std::os::unix::fs::symlink(renamed, path).expect("relink symlink");
                }
            } else if entry.file_type().is_file() && path.starts_with(self.cache()) {
                let mut bytes = fs::read(path).expect("read cache file");
                if let Some(at) = bytes.windows(old.len()).position(|w| w == old.as_bytes()) {
                    bytes[at..at + old.len()].copy_from_slice(new.as_bytes());
                    fs::write(path, bytes).expect("rewrite pointer");
                }
            }
        }
    }

    /// The dry run of [`Sandbox::plan`] as a process for which `chmod 000` really blocks
    /// reading (see [`Sandbox::prune_json_with_permissions_enforced`]).
    pub fn plan_with_permissions_enforced(&self, roots: &[&Path]) -> Option<Value> {
        self.prune_json_with_permissions_enforced(&plan_args(roots))
    }

    /// Runs our binary with `args` and `--json` as a process for which `chmod 000` really
    /// blocks reading, asserts exit 0 and returns its report; `None` (after printing why)
    /// when this machine cannot arrange that.
    ///
    /// Tests usually run as root, which reads any directory whatever its mode. Dropping
    /// `CAP_DAC_OVERRIDE` and `CAP_DAC_READ_SEARCH` from the bounding set with `setpriv`
    /// keeps uid 0 (so every file the sandbox made stays readable to its owner) but makes
    /// permission bits apply again.
    pub fn prune_json_with_permissions_enforced<S: AsRef<OsStr>>(
        &self,
        args: &[S],
    ) -> Option<Value> {
        let probe = self.path("permission-probe");
        fs::create_dir_all(&probe).expect("create permission probe");
        set_mode(&probe, 0o000);
        let enforced_here = fs::read_dir(&probe).is_err();
        let enforced_by_setpriv = !enforced_here && setpriv_enforces_permissions(&probe);
        set_mode(&probe, 0o755);

        let mut cmd = self.prune_cmd(args);
        cmd.arg("--json");
        if enforced_by_setpriv {
            cmd = self.wrapped("setpriv", SETPRIV_DROP_DAC, &cmd);
        } else if !enforced_here {
            eprintln!("note: cannot make a directory unreadable here (root, and setpriv fails)");
            return None;
        }
        let output = run_ok(&mut cmd);
        Some(parse_report(&cmd, &output))
    }
}

/// A copy of a whole sandbox, taken by [`Sandbox::save`].
pub struct SavedState {
    dir: TempDir,
}

impl Sandbox {
    /// Copies the whole sandbox aside (`cp -a`, hard links kept), so that a scenario built
    /// once can be run many times from the same state with [`Sandbox::restore`].
    pub fn save(&self) -> SavedState {
        let dir = tempfile::Builder::new()
            .prefix("uv-cache-prune-saved-")
            .tempdir()
            .expect("create temp dir for a saved sandbox");
        copy_tree(self.dir.path(), dir.path());
        SavedState { dir }
    }

    /// Puts the sandbox back exactly as `saved`, at the same path. Venvs hold absolute
    /// paths into the sandbox (symlinks into the cache, `pyvenv.cfg`, scripts), so a copy
    /// at another path would still use this one's cache and prove nothing.
    pub fn restore(&self, saved: &SavedState) {
        let root = self.dir.path();
        for entry in fs::read_dir(root).unwrap_or_else(|e| panic!("read {}: {e}", root.display())) {
            let path = entry.expect("sandbox entry").path();
            let removed = if path.is_dir() && !path.is_symlink() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
        }
        copy_tree(saved.dir.path(), root);
    }

    /// `program wrapper_args... <cmd's program> <cmd's args>...`, in the sandbox environment.
    /// Environment changes made on `cmd` itself are not carried over: set them on the result.
    fn wrapped(&self, program: &str, wrapper_args: &[&str], cmd: &Command) -> Command {
        let mut wrapped = Command::new(program);
        self.isolate(&mut wrapped);
        wrapped
            .args(wrapper_args)
            .arg(cmd.get_program())
            .args(cmd.get_args());
        wrapped
    }

    /// `cmd` with core dumps off (`ulimit -c 0`, then exec), for runs that end in
    /// `abort()` on purpose: a crash reporter must not slow them down or keep their cores.
    pub fn without_core_dumps(&self, cmd: &Command) -> Command {
        self.wrapped("sh", &["-c", "ulimit -c 0 && exec \"$0\" \"$@\""], cmd)
    }

    /// Panics unless `<venv>/bin/python` imports each of `packages` (and its `data`
    /// module) and every file that the venv's dist-infos record is there with its recorded
    /// hash, through whatever link: proof that nothing the venv uses was deleted.
    pub fn assert_imports(&self, venv: &Path, packages: &[&str]) {
        let code: String = packages
            .iter()
            .map(|p| format!("import {p}, {p}.data\n"))
            .collect();
        let mut python = Command::new(venv.join("bin/python"));
        self.isolate(&mut python);
        run_ok(python.arg("-c").arg(code));
        let site_packages = site_packages(venv);
        let problems: Vec<String> = dist_info_records(&site_packages)
            .iter()
            .flat_map(|record| record_problems(&site_packages, record))
            .collect();
        assert!(
            problems.is_empty(),
            "{} lost files: {problems:#?}",
            venv.display()
        );
    }
}

/// `cp -a FROM/. TO`: the contents of `from` into the existing dir `to`, with modes,
/// times, symlinks and hard links (within the copy) as they were.
fn copy_tree(from: &Path, to: &Path) {
    run_ok(Command::new("cp").arg("-a").arg(from.join(".")).arg(to));
}

/// [`plan_args`] plus `--apply`.
pub fn apply_args(roots: &[&Path]) -> Vec<OsString> {
    let mut args = plan_args(roots);
    args.push("--apply".into());
    args
}

/// A generator for randomized tests, seeded with `$UV_CACHE_PRUNE_TEST_SEED` or else a
/// fresh seed. The seed is printed first (the harness shows it when the test fails), so
/// any failure can be replayed exactly.
pub fn seeded_rng(test: &str) -> fastrand::Rng {
    let seed = match std::env::var("UV_CACHE_PRUNE_TEST_SEED") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|e| panic!("UV_CACHE_PRUNE_TEST_SEED={text:?}: {e}")),
        Err(_) => fastrand::u64(..),
    };
    eprintln!("{test}: seed {seed} (replay with UV_CACHE_PRUNE_TEST_SEED={seed})");
    fastrand::Rng::with_seed(seed)
}

/// `wrapper <cmd's program> <cmd's args>...`, with `cmd`'s environment changes and
/// directory carried over: a tracer or privilege wrapper (strace, setpriv) around a command
/// already confined to a sandbox.
pub fn wrapping(mut wrapper: Command, cmd: &Command) -> Command {
    wrapper.arg(cmd.get_program()).args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapper.env(key, value),
            None => wrapper.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapper.current_dir(dir);
    }
    wrapper
}

/// `setpriv` arguments that drop root's permission-bypassing capabilities for the command.
pub const SETPRIV_DROP_DAC: &[&str] = &["--bounding-set=-dac_override,-dac_read_search", "--"];

/// True when `setpriv` runs here and a command behind it cannot list `mode_000_dir`.
fn setpriv_enforces_permissions(mode_000_dir: &Path) -> bool {
    let ls = |args: &[&str]| {
        Command::new("setpriv")
            .args(SETPRIV_DROP_DAC)
            .arg("ls")
            .args(args)
            .arg(mode_000_dir)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    // `ls -d` only stats the dir, so it proves setpriv itself works.
    ls(&["-d"]) && !ls(&[])
}

/// `--grace 0s --no-default-roots --root R...`.
pub fn plan_args(roots: &[&Path]) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["--grace", "0s", "--no-default-roots"]
        .map(OsString::from)
        .to_vec();
    for root in roots {
        args.push("--root".into());
        args.push(root.as_os_str().to_owned());
    }
    args
}

/// Deletes a venv (or any tree) the way a user would, with `rm -r`.
pub fn delete(path: &Path) {
    fs::remove_dir_all(path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
}

/// `<venv>/lib/pythonX.Y/site-packages`; panics when there is none.
pub fn site_packages(venv: &Path) -> PathBuf {
    ground_truth::site_packages(venv)
        .unwrap_or_else(|| panic!("{} has no lib/python*/site-packages", venv.display()))
}

/// `path` as the report spells paths (they are UTF-8 in every scenario that compares them).
pub fn path_str(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
        .to_owned()
}

/// Sets the permission bits of `path`.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// Stdout and stderr of a finished command, for failure messages.
pub fn describe(cmd: &Command, output: &Output) -> String {
    format!(
        "{cmd:?}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `cmd`, panicking with its output unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "command failed: {}",
        describe(cmd, &output)
    );
    output
}

/// Runs `cmd --json`, asserts exit 0, and returns the report and stderr.
fn json_and_stderr(mut cmd: Command) -> (Value, String) {
    cmd.arg("--json");
    let output = run_ok(&mut cmd);
    let report = parse_report(&cmd, &output);
    (report, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn parse_report(cmd: &Command, output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            describe(cmd, output)
        )
    })
}

/// The Python interpreter uv should use: `$UV_TEST_PYTHON`, else what `python3` really is.
/// Resolved outside the sandbox because shims such as pyenv's need the real `HOME`.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(python) = std::env::var_os("UV_TEST_PYTHON") {
                return PathBuf::from(python);
            }
            let output =
                run_ok(Command::new("python3").args(["-c", "import sys; print(sys.executable)"]));
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        })
        .clone()
}
