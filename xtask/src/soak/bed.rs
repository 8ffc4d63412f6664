//! The soak's world: a throw-away directory holding a uv cache, a home, projects and
//! wheels, with every command (real uv and the tool) confined to it, and the binaries
//! both are run from.
//!
//! Why a private home and cache: the soak deletes archives thousands of times and must
//! never see (or touch) the user's real cache, config or uv tools. Every variable that
//! could point uv or the tool elsewhere is removed, the rest point inside the bed.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail, ensure};

/// The uv release the tool is mainly written against (`wheels-v8`).
pub const UV_CURRENT: &str = "0.13.9";
/// An older release sharing the cache with its own generation (`wheels-v6`, map pointers).
pub const UV_OLD: &str = "0.12.5";

/// The two pinned uv binaries every mode drives.
#[derive(Debug, Clone)]
pub struct UvBins {
    pub current: PathBuf,
    pub old: PathBuf,
}

impl UvBins {
    /// `$UV_BIN` / `$UV_BIN_0_12_5` when set, else the private installs under
    /// `target/tmp/test-uv` (the place the test suite uses, so one install serves both),
    /// installed with pip on first use.
    pub fn provision() -> Result<UvBins> {
        Ok(UvBins {
            current: resolve("UV_BIN", UV_CURRENT)?,
            old: resolve("UV_BIN_0_12_5", UV_OLD)?,
        })
    }
}

fn resolve(env_var: &str, version: &str) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os(env_var) {
        return Ok(PathBuf::from(bin));
    }
    let base = crate::workspace_root().join("target/tmp/test-uv");
    let target = base.join(version);
    let bin = target.join("bin/uv");
    let done = base.join(format!("{version}.done"));
    fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let lock_path = base.join(format!("{version}.lock"));
    let lock = File::create(&lock_path)
        .with_context(|| format!("creating lock file {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    if !done.exists() {
        eprintln!(
            "soak: installing uv {version} with pip into {}",
            target.display()
        );
        if target.exists() {
            fs::remove_dir_all(&target)
                .with_context(|| format!("removing the stale {}", target.display()))?;
        }
        let mut pip = Command::new("python3");
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("--target")
        .arg(&target)
        .arg(format!("uv=={version}"));
        checked(&mut pip).with_context(|| {
            format!("installing uv {version} (set {env_var} to a uv {version} binary instead)")
        })?;
        fs::write(&done, version).with_context(|| format!("writing {}", done.display()))?;
    }
    Ok(bin)
}

/// Builds the tool in release (the build users run) and returns its path.
pub fn build_tool() -> Result<PathBuf> {
    let target = crate::workspace_root().join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("soak: building uv-cache-prune in release");
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "uv-cache-prune",
            "--bin",
        ])
        .arg("uv-cache-prune")
        .arg("--target-dir")
        .arg(&target);
    let status = build.status().context("running cargo build")?;
    ensure!(
        status.success(),
        "cargo build --release -p uv-cache-prune failed"
    );
    Ok(target.join("release/uv-cache-prune"))
}

/// Where the beds go (`--dir`); `target/soak` unless set.
static BEDS: OnceLock<PathBuf> = OnceLock::new();

/// Puts every bed under `dir` (a tmpfs such as `/dev/shm` makes restores cheap).
pub fn set_beds_dir(dir: PathBuf) {
    let _ = BEDS.set(dir);
}

/// A directory standing for a whole machine: cache, home, projects, wheels, index.
pub struct Bed {
    root: PathBuf,
    pub tool: PathBuf,
    pub uv: UvBins,
}

impl Bed {
    /// A fresh, empty bed at `target/soak/<name>` (an older one of that name is removed).
    pub fn new(name: &str, tool: &Path, uv: &UvBins) -> Result<Bed> {
        let root = BEDS
            .get_or_init(|| crate::workspace_root().join("target/soak"))
            .join(name);
        if root.exists() {
            make_writable(&root);
            fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
        }
        for sub in ["home", "wheels", "index/simple", "projects", "sources"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(Bed {
            root,
            tool: tool.to_owned(),
            uv: uv.clone(),
        })
    }

    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    pub fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    pub fn projects(&self) -> PathBuf {
        self.path("projects")
    }

    pub fn wheels(&self) -> PathBuf {
        self.path("wheels")
    }

    /// Points everything that could reach the real home, cache, config or network inside
    /// the bed.
    pub fn isolate(&self, cmd: &mut Command) {
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            let risky = ["UV_", "PIP_", "XDG_", "PYTHON", "VIRTUAL_ENV", "CONDA_"]
                .iter()
                .any(|p| key.starts_with(p))
                || key.to_ascii_lowercase().ends_with("_proxy");
            if risky {
                cmd.env_remove(&key);
            }
        }
        cmd.current_dir(&self.root)
            .env("HOME", self.path("home"))
            .env("UV_CACHE_DIR", self.cache())
            .env("XDG_CACHE_HOME", self.path("xdg/cache"))
            .env("XDG_DATA_HOME", self.path("xdg/data"))
            .env("XDG_CONFIG_HOME", self.path("xdg/config"))
            .env("XDG_STATE_HOME", self.path("xdg/state"))
            .env("XDG_BIN_HOME", self.path("xdg/bin"))
            .env("UV_TOOL_DIR", self.path("tools"))
            .env("UV_TOOL_BIN_DIR", self.path("tool-bin"))
            .env("UV_PYTHON", "python3")
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_NO_CONFIG", "1")
            .env("UV_NO_PROGRESS", "1");
    }

    /// `bin` confined to the bed.
    pub fn uv_cmd(&self, bin: &Path) -> Command {
        let mut cmd = Command::new(bin);
        self.isolate(&mut cmd);
        cmd
    }

    /// The tool with `--cache-dir <cache> --grace 0s --no-default-roots --root <projects>`
    /// and `extra`.
    pub fn prune_cmd(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(&self.tool);
        self.isolate(&mut cmd);
        cmd.arg("--cache-dir")
            .arg(self.cache())
            .args(["--grace", "0s", "--no-default-roots", "--root"])
            .arg(self.projects())
            .args(extra);
        cmd
    }

    /// Copies the cache aside (`cp -a`, hard links kept) to `<root>.saved`: `--apply`
    /// changes nothing else (venvs, wheels and the index stay as they are).
    pub fn save(&self) -> Result<()> {
        let saved = self.saved();
        if saved.exists() {
            fs::remove_dir_all(&saved).with_context(|| format!("removing {}", saved.display()))?;
        }
        copy_tree(&self.cache(), &saved)
    }

    /// Puts the cache back exactly as saved, at the same path: venvs hold absolute paths.
    pub fn restore(&self) -> Result<()> {
        let cache = self.cache();
        fs::remove_dir_all(&cache).with_context(|| format!("removing {}", cache.display()))?;
        copy_tree(&self.saved(), &cache)
    }

    fn saved(&self) -> PathBuf {
        self.root.with_extension("saved")
    }

    /// Removes the bed (and its saved copy): called only when its mode passed, so that a
    /// failing bed stays for inspection.
    pub fn remove(self) {
        for dir in [self.saved(), self.root] {
            if dir.exists() {
                make_writable(&dir);
                let _ = fs::remove_dir_all(&dir);
            }
        }
    }
}

/// `cp -a src dst`: hard links between files inside `src` stay hard links in `dst`.
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let mut cp = Command::new("cp");
    cp.arg("-a").arg(src).arg(dst);
    checked(&mut cp).map(drop)
}

/// Gives every directory under `dir` back its owner's rights, so that parts a mode made
/// unreadable on purpose can be removed.
pub fn make_writable(dir: &Path) {
    let _ = Command::new("chmod")
        .arg("-R")
        .arg("u+rwx")
        .arg(dir)
        .output();
}

/// Runs `cmd`, and fails with its stderr unless it exits 0.
pub fn checked(cmd: &mut Command) -> Result<Output> {
    let output = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !output.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}
