//! The test bed shared by every scenario: a throw-away world in a temp dir, a real uv to
//! fill its cache, and our binary to judge it.
//!
//! Why real uv and not hand-made cache trees: the pruner's whole job is to agree with uv's
//! on-disk formats (pointer files, link modes, cached environments), and those drift between
//! releases. Hand-made trees would only test our own reading of the format. So each scenario
//! builds wheels ([`wheel`]), installs them with pinned uv releases ([`uv_bin`]), from a
//! find-links dir or a loopback index ([`index`]), then checks the report ([`report`])
//! against facts computed independently of the tool ([`ground_truth`]).
//!
//! Isolation: every command, uv's and ours, runs with HOME, the XDG dirs, the cache and the
//! tool dirs inside the sandbox, uv config files ignored and downloads of Python disabled,
//! so nothing reads or writes the real home or cache.
//!
//! Each test binary compiles this module on its own and uses only part of it, hence the
//! `dead_code` and `unused_imports` allowances.
#![allow(dead_code, unused_imports)]

pub mod ground_truth;
pub mod index;
pub mod report;
pub mod uv_bin;
pub mod wheel;

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;
use tempfile::TempDir;

pub use ground_truth::{
    all_archives, archive_named_by, archives_of, assert_same_snapshot, du_bytes,
    files_with_extension, snapshot, venv_archives,
};
pub use index::IndexServer;
pub use report::*;
pub use uv_bin::{uv, uv_old};

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
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("uv-cache-prune-test-")
            .tempdir()
            .expect("create sandbox temp dir");
        let sandbox = Sandbox { dir };
        for sub in ["home", "wheels", "index/simple", "projects"] {
            let path = sandbox.path(sub);
            fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        }
        sandbox
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

    /// Applies the sandbox environment to `cmd`: everything that could reach the real home,
    /// cache, config or network is removed or pointed into the temp dir.
    fn isolate(&self, cmd: &mut Command) {
        for (key, _) in std::env::vars_os() {
            let key_str = key.to_string_lossy();
            let risky = ["UV_", "PIP_", "XDG_", "PYTHON"]
                .iter()
                .any(|prefix| key_str.starts_with(prefix))
                || [
                    "VIRTUAL_ENV",
                    "CONDA_PREFIX",
                    "http_proxy",
                    "https_proxy",
                    "all_proxy",
                    "HTTP_PROXY",
                    "HTTPS_PROXY",
                    "ALL_PROXY",
                ]
                .contains(&&*key_str);
            if risky {
                cmd.env_remove(&key);
            }
        }
        let under = |rel: &str| self.path(rel);
        cmd.current_dir(self.dir.path())
            .env("HOME", self.home())
            .env("UV_CACHE_DIR", self.cache())
            .env("XDG_CACHE_HOME", under("xdg/cache"))
            .env("XDG_DATA_HOME", under("xdg/data"))
            .env("XDG_CONFIG_HOME", under("xdg/config"))
            .env("XDG_STATE_HOME", under("xdg/state"))
            .env("XDG_BIN_HOME", under("xdg/bin"))
            .env("UV_TOOL_DIR", self.tool_dir())
            .env("UV_TOOL_BIN_DIR", under("tool-bin"))
            .env("UV_PYTHON", python())
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_NO_CONFIG", "1")
            .env("UV_NO_PROGRESS", "1");
    }

    /// A `uv` command (from `bin`) confined to this sandbox.
    pub fn uv_cmd(&self, bin: &Path) -> Command {
        let mut cmd = Command::new(bin);
        self.isolate(&mut cmd);
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

    /// Copies `wheel` into the index tree as `simple/<name>/<file>`.
    pub fn publish(&self, wheel: &Path) {
        let file_name = wheel.file_name().expect("wheel file name");
        let name = file_name
            .to_str()
            .and_then(|f| f.split('-').next())
            .expect("wheel name is <name>-...");
        let dir = self.index_dir().join("simple").join(name);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        fs::copy(wheel, dir.join(file_name))
            .unwrap_or_else(|e| panic!("copy {} into the index: {e}", wheel.display()));
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
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_uv-cache-prune"));
        self.isolate(&mut cmd);
        cmd
    }

    /// Our binary confined to the sandbox, with `--cache-dir <cache>` before `args`.
    pub fn prune_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = self.bare_prune_cmd();
        cmd.arg("--cache-dir").arg(self.cache()).args(args);
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
        let mut cmd = self.prune_cmd(args);
        cmd.arg("--json");
        let output = run_ok(&mut cmd);
        let report = parse_report(&cmd, &output);
        (report, String::from_utf8_lossy(&output.stderr).into_owned())
    }

    /// The usual dry run: no grace period, only `roots` searched, JSON report.
    pub fn plan(&self, roots: &[&Path]) -> Value {
        self.prune_json(&plan_args(roots))
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

    /// Runs our binary as a process for which `chmod 000` really blocks reading, and returns
    /// its report; `None` (after printing why) when this machine cannot arrange that.
    ///
    /// Tests usually run as root, which reads any directory whatever its mode. Dropping
    /// `CAP_DAC_OVERRIDE` and `CAP_DAC_READ_SEARCH` from the bounding set with `setpriv`
    /// keeps uid 0 (so every file the sandbox made stays readable to its owner) but makes
    /// permission bits apply again.
    pub fn plan_with_permissions_enforced(&self, roots: &[&Path]) -> Option<Value> {
        let probe = self.path("permission-probe");
        fs::create_dir_all(&probe).expect("create permission probe");
        set_mode(&probe, 0o000);
        let enforced_here = fs::read_dir(&probe).is_err();
        let enforced_by_setpriv = !enforced_here && setpriv_enforces_permissions(&probe);
        set_mode(&probe, 0o755);

        let mut cmd = self.prune_cmd(&plan_args(roots));
        cmd.arg("--json");
        if enforced_by_setpriv {
            // Same program, args and (deterministic) environment, behind setpriv.
            let mut wrapped = Command::new("setpriv");
            self.isolate(&mut wrapped);
            wrapped
                .args(SETPRIV_DROP_DAC)
                .arg(cmd.get_program())
                .args(cmd.get_args());
            cmd = wrapped;
        } else if !enforced_here {
            eprintln!("note: cannot make a directory unreadable here (root, and setpriv fails)");
            return None;
        }
        let output = run_ok(&mut cmd);
        Some(parse_report(&cmd, &output))
    }
}

/// `setpriv` arguments that drop root's permission-bypassing capabilities for the command.
const SETPRIV_DROP_DAC: &[&str] = &["--bounding-set=-dac_override,-dac_read_search", "--"];

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

/// `<venv>/lib/pythonX.Y/site-packages`.
pub fn site_packages(venv: &Path) -> PathBuf {
    let lib = venv.join("lib");
    let mut pythons: Vec<_> = fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("read {}: {e}", lib.display()))
        .map(|entry| entry.expect("lib entry").path())
        .collect();
    assert_eq!(
        pythons.len(),
        1,
        "one python dir in {}: {pythons:?}",
        lib.display()
    );
    pythons.pop().expect("one").join("site-packages")
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
fn run_ok(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "command failed: {}",
        describe(cmd, &output)
    );
    output
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
