//! The soak's world: a throw-away directory holding a uv cache, a home, projects and
//! wheels, with every command (real uv and the tool) confined to it, and the binaries
//! both are run from.
//!
//! Why a private home and cache: the soak deletes archives thousands of times and must
//! never see (or touch) the user's real cache, config or uv tools. Every variable that
//! could point uv or the tool elsewhere is removed, the rest point inside the bed.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail, ensure};
use testbed::sandbox::isolate;
use testbed::uv::{self, CURRENT, OLD};

/// The two pinned uv binaries every mode drives.
#[derive(Debug, Clone)]
pub struct UvBins {
    pub current: PathBuf,
    pub old: PathBuf,
}

impl UvBins {
    /// The test bed's [`CURRENT`] and [`OLD`] pins, resolved as the tests resolve them
    /// (their env variables, else the private installs under `target/tmp/test-uv`, so one
    /// install serves both).
    pub fn provision() -> Result<UvBins> {
        let tmp = crate::workspace_root().join("target/tmp");
        Ok(UvBins {
            current: uv::resolve(CURRENT, &tmp)?,
            old: uv::resolve(OLD, &tmp)?,
        })
    }
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

    /// Confines `cmd` to the bed with the test bed's one rule (`testbed::sandbox::isolate`).
    /// uv finds `python3` on `PATH` rather than the tests' resolved interpreter: the
    /// adversary runs uv as another user, who cannot reach an interpreter under root's home.
    pub fn isolate(&self, cmd: &mut Command) {
        isolate(cmd, &self.root, OsStr::new("python3"));
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
