//! The home-walk row: the tool searching a synthetic home for venvs, against `find`.
//!
//! A hook's prune walks the user's home for venvs, so the walk must cost much less than
//! looking at everything. The baseline is `find <home> -name pyvenv.cfg`, the naive search
//! for venvs: it lists every directory of the home. The home is a developer's: projects
//! with `.git` objects, `node_modules`, a cargo `target` (with its `CACHEDIR.TAG`), sources
//! and, in one project of four, a `.venv` full of installed files; plus the caches of uv
//! (tagged) and pip (not), and documents. The tool may skip `.git`, `node_modules`, tagged
//! caches and the inside of venvs; `find` may not. Its cache is an empty uv cache, so the
//! row times the walk alone.
//!
//! Generated once per size under `target/bench/home-…/` (`home.json` marks it complete),
//! with the fixture's parallel writer.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;
use xshell::{Cmd, Shell, cmd};

use super::parallel::parallel;

/// uv's `CACHEDIR.TAG`, byte for byte.
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55";
/// One project in this many has a `.venv`.
const VENV_EVERY: usize = 4;

/// An empty uv cache, as the tool validates one: tag, `archive-v0/`, `.lock`.
pub(super) fn write_empty_cache(cache: &Path) -> Result<()> {
    fs::create_dir_all(cache.join("archive-v0"))
        .with_context(|| format!("creating {}", cache.display()))?;
    fs::write(cache.join("CACHEDIR.TAG"), CACHEDIR_TAG)?;
    fs::write(cache.join(".gitignore"), "*")?;
    fs::write(cache.join(".lock"), "")?;
    Ok(())
}

/// A directory of the home and how many small files it holds.
struct Leaf {
    dir: PathBuf,
    files: usize,
    /// Written into the directory besides the files: a tag, a `pyvenv.cfg`.
    marker: Option<(&'static str, &'static str)>,
}

/// A synthetic home, planned from its number of projects.
pub(super) struct Home {
    pub(super) dir: PathBuf,
    projects: usize,
}

/// What the home-walk row measured.
#[derive(Debug, Clone, Serialize)]
/// Fields in alphabetical order, as everywhere in `results.json`.
pub(super) struct HomeWalkRecord {
    /// Files, directories and symlinks in the home.
    pub(super) entries: u64,
    pub(super) find_ms: Vec<f64>,
    /// Median of the tool's times over the median of find's.
    pub(super) ratio: f64,
    pub(super) tool_ms: Vec<f64>,
    pub(super) venvs: u64,
}

impl Home {
    pub(super) fn new(bench_dir: &Path, projects: usize) -> Home {
        Home {
            dir: bench_dir.join(format!("home-p{projects}")),
            projects,
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    fn cache(&self) -> PathBuf {
        self.dir.join("cache")
    }

    pub(super) fn venvs(&self) -> usize {
        self.projects.div_ceil(VENV_EVERY)
    }

    /// Every directory with files, largest kinds first.
    fn leaves(&self) -> Vec<Leaf> {
        let home = self.home();
        let mut leaves = Vec::new();
        let mut add = |dir: PathBuf, files: usize| {
            leaves.push(Leaf {
                dir,
                files,
                marker: None,
            })
        };
        for k in 0..self.projects {
            let project = home.join(format!("src/project-{k:03}"));
            for n in 0..100 {
                add(project.join(format!("node_modules/pkg-{n}/lib")), 30);
            }
            for n in 0..64 {
                add(project.join(format!(".git/objects/{n:02x}")), 32);
            }
            for n in 0..16 {
                add(project.join(format!("target/debug/deps/d{n}")), 32);
            }
            for n in 0..10 {
                add(project.join(format!("src/module_{n}")), 30);
            }
            if k % VENV_EVERY == 0 {
                for n in 0..20 {
                    add(
                        project.join(format!(".venv/lib/python3.11/site-packages/dist_{n}")),
                        50,
                    );
                }
            }
        }
        for n in 0..100 {
            add(
                home.join(format!(".cache/uv/archive-v0/a{n:03}")),
                3 * self.projects / 4,
            );
        }
        for n in 0..50 {
            add(
                home.join(format!(".cache/pip/http/{n:02x}")),
                5 * self.projects,
            );
        }
        for n in 0..40 {
            add(
                home.join(format!("Documents/folder-{n}")),
                6 * self.projects,
            );
        }
        for k in 0..self.projects {
            let project = home.join(format!("src/project-{k:03}"));
            let mut mark = |dir: PathBuf, marker| {
                leaves.push(Leaf {
                    dir,
                    files: 0,
                    marker: Some(marker),
                })
            };
            mark(project.join("target"), ("CACHEDIR.TAG", CACHEDIR_TAG));
            if k % VENV_EVERY == 0 {
                mark(
                    project.join(".venv"),
                    (
                        "pyvenv.cfg",
                        "home = /usr/bin\nimplementation = CPython\nuv = 0.13.9\nversion_info = 3.11.7\ninclude-system-site-packages = false\n",
                    ),
                );
            }
        }
        leaves.push(Leaf {
            dir: home.join(".cache/uv"),
            files: 0,
            marker: Some(("CACHEDIR.TAG", CACHEDIR_TAG)),
        });
        leaves
    }

    /// Writes the home unless a complete one is there.
    pub(super) fn ensure(&self) -> Result<u64> {
        let marker = self.dir.join("home.json");
        if let Ok(text) = fs::read_to_string(&marker)
            && let Ok(entries) = text.trim().parse()
        {
            return Ok(entries);
        }
        if self.dir.exists() {
            fs::remove_dir_all(&self.dir)
                .with_context(|| format!("removing the partial home {}", self.dir.display()))?;
        }
        eprintln!(
            "bench: generating {} (once; reused later)",
            self.dir.display()
        );
        let started = Instant::now();
        write_empty_cache(&self.cache())?;
        let leaves = self.leaves();
        parallel(&leaves, |leaf| {
            fs::create_dir_all(&leaf.dir)
                .with_context(|| format!("creating {}", leaf.dir.display()))?;
            for i in 0..leaf.files {
                let file = leaf.dir.join(format!("file_{i}.py"));
                fs::write(&file, "# a file of the synthetic home\n")
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            if let Some((name, text)) = leaf.marker {
                fs::write(leaf.dir.join(name), text)
                    .with_context(|| format!("writing {name} in {}", leaf.dir.display()))?;
            }
            Ok(())
        })?;
        let entries = count_entries(&self.home())?;
        fs::write(&marker, format!("{entries}\n")).context("writing the home marker")?;
        eprintln!(
            "bench: home of {entries} entries ready in {:.0?}",
            started.elapsed()
        );
        Ok(entries)
    }

    /// The tool's venv search against `find`, interleaved, `runs` times after a warm-up.
    pub(super) fn measure(
        &self,
        sh: &Shell,
        tool: &Path,
        tool_home: &Path,
        runs: usize,
    ) -> Result<HomeWalkRecord> {
        let entries = self.ensure()?;
        let (home, cache) = (self.home(), self.cache());
        let tool_cmd = || {
            cmd!(
                sh,
                "{tool} --cache-dir {cache} --no-default-roots --root {home} --grace 0s --json"
            )
            .env("HOME", tool_home)
            .env("XDG_STATE_HOME", tool_home.join("state"))
            .env("XDG_CONFIG_HOME", tool_home.join("config"))
            .env("XDG_DATA_HOME", tool_home.join("data"))
            .env("XDG_CACHE_HOME", tool_home.join("cache"))
            .env_remove("UV_CACHE_DIR")
            .env_remove("UV_CACHE_PRUNE_CONFIG")
            .env_remove("UV_CACHE_PRUNE_STATE_DIR")
            .quiet()
        };
        let find_cmd = || cmd!(sh, "find {home} -name pyvenv.cfg").quiet();

        let report = tool_cmd().read().context("running the tool on the home")?;
        let venvs = venvs_found(&report)?;
        ensure!(
            venvs == self.venvs() as u64,
            "the tool found {venvs} venvs in {}, which holds {}",
            home.display(),
            self.venvs()
        );
        let found = find_cmd().read().context("running find on the home")?;
        ensure!(
            found.lines().count() == self.venvs(),
            "find found {} pyvenv.cfg in {}, expected {}",
            found.lines().count(),
            home.display(),
            self.venvs()
        );
        let (mut tool_ms, mut find_ms) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            tool_ms.push(ms(time(tool_cmd())?));
            find_ms.push(ms(time(find_cmd())?));
        }
        let ratio = median(&tool_ms) / median(&find_ms);
        Ok(HomeWalkRecord {
            entries,
            find_ms,
            ratio,
            tool_ms,
            venvs,
        })
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The median of at least one value.
pub(super) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn time(cmd: Cmd<'_>) -> Result<Duration> {
    let started = Instant::now();
    let output = cmd
        .ignore_status()
        .output()
        .context("running a home-walk command")?;
    let wall = started.elapsed();
    if !output.status.success() {
        bail!(
            "a home-walk command failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(wall)
}

/// The venvs the tool's `--json` report found under its roots.
fn venvs_found(report: &str) -> Result<u64> {
    let json: serde_json::Value =
        serde_json::from_str(report).context("the tool's --json output is not JSON")?;
    let roots = json["roots"]
        .as_array()
        .context("the tool's report has no roots array")?;
    roots
        .iter()
        .map(|r| r["venvs"].as_u64().context("a root without a venvs count"))
        .sum()
}

/// Files, directories and symlinks under `dir`, not counting `dir`.
fn count_entries(dir: &Path) -> Result<u64> {
    let mut count = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry?;
            count += 1;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(count)
}
