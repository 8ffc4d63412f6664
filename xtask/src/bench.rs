//! `cargo xtask bench`: the tool against `du -s`, a link-count scan and `rm -rf`, on a synthetic uv cache.
//!
//! # What is compared, and why these baselines
//!
//! - `du -s <cache>`: the cheapest thing that looks at every file. A dry run that costs
//!   more than half of it is too slow for a git hook.
//! - `find <cache>/archive-v0 -type f -links 1`: the link-count scan of uv issue 16008 (and
//!   of conda and pnpm). It stats every file of every archive (and is wrong for symlink and
//!   copy venvs); it shows what "stat everything" costs.
//! - `--apply` against `rm -rf` of exactly the dead archives: the floor for deleting them.
//!
//! Each read-only command runs once untimed (warm page cache), then `--runs` times in
//! rounds (one run of each in turn, so that drift hits all alike); the median is reported.
//! Wall time is taken around the whole child. Peak memory comes from `/usr/bin/time -f %M`,
//! which forks from a tiny process: a child's `ru_maxrss` starts at its parent's RSS, so
//! `wait4` from this (larger) process would inflate every small number. Syscalls come from
//! extra, untimed runs under `strace`, when it works here.
//!
//! # The fixture
//!
//! Generated once per size under `target/bench/fixture-…/` and reused; `fixture.json`,
//! written last, marks it complete. Everything derives from a fixed seed, so a size always
//! gives the same cache. The layout is the one uv 0.13.9 writes (checked against a real
//! uv): archives under `archive-v0/<16-char id>`, pointers in `wheels-v8` and, for the older
//! generation, `wheels-v6` (relative symlink; `.http` or `.rev` made from the real uv files
//! in `tests/fixtures/pointers`; `.lock`), and project venvs that link every file by
//! hardlink, absolute symlink (naming the cache as given, as uv does) or copy, with a fresh
//! `RECORD`, `INSTALLER` and `REQUESTED`. File counts follow a capped Pareto law solved to
//! hit `--files` exactly: at the default size the median archive has about 40 files and a
//! handful have 20,000 or more, like the largest wheels on PyPI. The dead archives are a
//! systematic sample by size, so they hold about `--dead-percent` of the files too.
//!
//! # Destructive runs without a full copy each
//!
//! Every `--apply` and `rm -rf` run must start from the same state. A fresh `cp -a` of the
//! whole tree per run is the obvious way, but it creates a million inodes at the default
//! size, and `cp -a` spent 0.14 to 0.45 ms of kernel time per inode on the VM this was
//! written on: minutes per copy, a dozen copies per size. Both commands only ever delete
//! the dead archives and their pointers, so the fixture keeps a pristine copy of exactly
//! those (`stash/`) and `cp -a`s it back after each run: the deleted part is a fresh copy,
//! nothing else was touched. The marker is removed while the fixture is being changed, and every restore is
//! checked (all archives back, and the tool's own report of the next run agrees), so an
//! interrupted bench regenerates the fixture rather than measure a broken one.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use xshell::{Cmd, Shell, cmd};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Archives in the synthetic cache [default: 3000; --quick: 200]
    #[arg(long, value_name = "N")]
    archives: Option<usize>,
    /// Files in all archives together, long-tailed [default: 600000; --quick: 20000]
    #[arg(long, value_name = "N")]
    files: Option<usize>,
    /// Project venvs, in hardlink, symlink and copy mode in turn [default: 40; --quick: 8]
    #[arg(long, value_name = "N")]
    venvs: Option<usize>,
    /// Share of archives that no venv uses
    #[arg(long, value_name = "PERCENT", default_value_t = 10)]
    dead_percent: usize,
    /// Timed runs of each command; the median is reported [default: 5; --quick: 3]
    #[arg(long, value_name = "N")]
    runs: Option<usize>,
    /// A small fixture for CI: 200 archives, 20,000 files, 8 venvs, 3 runs
    #[arg(long)]
    quick: bool,
    /// Also run at 2× and 4× the size, and report the time per archive
    #[arg(long)]
    scaling: bool,
    /// Exit 1 when a target is missed
    #[arg(long)]
    check: bool,
}

/// The targets of the issue, as ratios measured in the same run.
const DRY_RUN_MAX_RATIO_TO_DU: f64 = 0.5;
const APPLY_MAX_RATIO_TO_RM: f64 = 1.5;
const PEAK_RSS_MAX_MIB: f64 = 150.0;
/// "No full stat of live archives": the dry run may look at this share of their files at
/// most (a full stat is 100%; reading each archive's `METADATA` and `WHEEL` is about 1%).
const LIVE_STAT_MAX_SHARE: f64 = 0.10;
/// "Time per archive roughly constant": at 4× it may cost this much more than at 1×.
const SCALING_MAX_DRIFT: f64 = 1.5;
const SCALING_FACTORS: [usize; 3] = [1, 2, 4];

pub fn run(args: &Args) -> Result<()> {
    ensure!(cfg!(unix), "the benchmark needs Unix (du, find, cp, rm)");
    let preset = |quick: usize, default: usize| if args.quick { quick } else { default };
    let size = Size {
        archives: args.archives.unwrap_or(preset(200, 3000)),
        files: args.files.unwrap_or(preset(20_000, 600_000)),
        venvs: args.venvs.unwrap_or(preset(8, 40)),
        dead_percent: args.dead_percent,
    };
    size.validate()?;
    let runs = args.runs.unwrap_or(preset(3, 5));
    ensure!(runs > 0, "--runs must be at least 1");

    let sh = Shell::new()?;
    let bench = Bench::new(&sh)?;
    let factors = if args.scaling {
        &SCALING_FACTORS[..]
    } else {
        &SCALING_FACTORS[..1]
    };
    let mut results = Vec::new();
    for &factor in factors {
        let result = bench.measure(size.scaled(factor), runs)?;
        println!("{}", result.markdown());
        results.push(result);
    }
    let mut checks: Vec<Check> = results.iter().flat_map(BenchResult::checks).collect();
    if args.scaling {
        println!("{}", scaling_markdown(&results));
        checks.push(scaling_check(&results));
    }
    println!();
    for check in &checks {
        println!("{check}");
    }

    let report = json!({
        "schema_version": 1,
        "runs": runs,
        "benches": results.iter().map(BenchResult::to_json).collect::<Vec<_>>(),
        "checks": checks.iter().map(Check::to_json).collect::<Vec<_>>(),
    });
    let path = bench.dir.join("results.json");
    fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!("\nresults: {}", path.display());

    let failed = checks.iter().filter(|c| c.pass == Some(false)).count();
    if args.check && failed > 0 {
        bail!("{failed} target(s) missed");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The fixture: planned as a pure function of its size, then written once.

/// Fixed, so that a size always gives the same fixture.
const SEED: u64 = 0x0075_7663_6163_6865;
/// Bump when the generator changes, so that old fixtures are not reused.
const LAYOUT_VERSION: u32 = 3;
/// About the largest wheels on PyPI; the Pareto tail is capped here.
const MAX_FILES_PER_ARCHIVE: usize = 50_000;
/// The Pareto law's minimum: the smallest wheels hold about this many files.
const MIN_FILES_PER_ARCHIVE: usize = 20;
/// Every archive has `METADATA`, `WHEEL`, `RECORD` and a package `__init__.py`.
const FLOOR_FILES_PER_ARCHIVE: usize = 4;
/// Files per package directory before the tree grows another level.
const FILES_PER_DIR: usize = 32;
/// Share of live archives that a second venv also uses (shared dependencies).
const SHARED_SHARE: f64 = 0.2;
/// Share of archives left by the older uv (`wheels-v6`, map-form pointers).
const OLD_GENERATION_SHARE: f64 = 0.25;
/// Share of archives from local wheels (`.rev`) rather than an index (`.http`).
const LOCAL_WHEEL_SHARE: f64 = 0.2;

/// uv's `CACHEDIR.TAG` (and a venv's), byte for byte: no trailing newline.
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55";
/// Archive ids' alphabet, which is also URL-safe base64 (for `RECORD` digests).
const ID_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const WHEEL_FILE: &str = "Wheel-Version: 1.0\nGenerator: uv-cache-prune-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
/// As `uv venv` 0.13.9 writes it.
const PYVENV_CFG: &str = "home = /usr/bin\nimplementation = CPython\nuv = 0.13.9\nversion_info = 3.11.7\ninclude-system-site-packages = false\n";

#[derive(Debug, Clone, Copy)]
struct Size {
    archives: usize,
    files: usize,
    venvs: usize,
    dead_percent: usize,
}

impl Size {
    fn validate(&self) -> Result<()> {
        ensure!(self.archives > 0, "--archives must be at least 1");
        ensure!(self.venvs > 0, "--venvs must be at least 1");
        ensure!(self.dead_percent <= 100, "--dead-percent is at most 100");
        ensure!(
            self.files >= self.archives * FLOOR_FILES_PER_ARCHIVE,
            "--files must be at least {FLOOR_FILES_PER_ARCHIVE} per archive"
        );
        Ok(())
    }

    fn scaled(&self, factor: usize) -> Size {
        Size {
            archives: self.archives * factor,
            files: self.files * factor,
            venvs: self.venvs * factor,
            dead_percent: self.dead_percent,
        }
    }

    fn dead(&self) -> usize {
        (self.archives * self.dead_percent + 50) / 100
    }

    fn key(&self) -> String {
        format!(
            "fixture-l{LAYOUT_VERSION}-a{}-f{}-v{}-d{}",
            self.archives, self.files, self.venvs, self.dead_percent
        )
    }
}

/// The two uv generations that share the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    /// uv 0.13.9: `wheels-v8`, `Archive` as an array.
    Current,
    /// uv 0.12.5: `wheels-v6`, `Archive` as a map.
    Old,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PointerFormat {
    Http,
    Rev,
}

impl Generation {
    fn bucket(self) -> &'static str {
        match self {
            Generation::Current => "wheels-v8",
            Generation::Old => "wheels-v6",
        }
    }

    /// A real pointer written by this uv, and the id it names.
    fn template(self, format: PointerFormat) -> (&'static [u8], &'static str) {
        macro_rules! real {
            ($file:literal) => {
                include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../tests/fixtures/pointers/",
                    $file
                ))
            };
        }
        match (self, format) {
            (Generation::Current, PointerFormat::Http) => {
                (real!("uv-0.13.9.http"), "FclKTVq99P1u_ne1")
            }
            (Generation::Current, PointerFormat::Rev) => {
                (real!("uv-0.13.9.rev"), "DLKZEOjmGzxfJFMK")
            }
            (Generation::Old, PointerFormat::Http) => (real!("uv-0.12.5.http"), "Id6ElUyBxg90SHjY"),
            (Generation::Old, PointerFormat::Rev) => (real!("uv-0.12.5.rev"), "fAZ8aKGNCUuCLldn"),
        }
    }
}

/// A real pointer naming `id` instead: same length, so the msgpack stays valid. The rest
/// (file name, hashes, URL) stays the template's; the tool reads only the id.
fn pointer_bytes(generation: Generation, format: PointerFormat, id: &str) -> Vec<u8> {
    let (template, old) = generation.template(format);
    assert_eq!(id.len(), old.len(), "archive ids are 16 chars");
    let at = template
        .windows(old.len())
        .position(|w| w == old.as_bytes())
        .expect("the template names its archive");
    let mut bytes = template.to_vec();
    bytes[at..at + id.len()].copy_from_slice(id.as_bytes());
    bytes
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkMode {
    Hardlink,
    Symlink,
    Copy,
}

impl LinkMode {
    const ALL: [LinkMode; 3] = [LinkMode::Hardlink, LinkMode::Symlink, LinkMode::Copy];

    fn name(self) -> &'static str {
        match self {
            LinkMode::Hardlink => "hardlink",
            LinkMode::Symlink => "symlink",
            LinkMode::Copy => "copy",
        }
    }
}

#[derive(Debug, Clone)]
struct ArchiveSpec {
    index: usize,
    id: String,
    /// The distribution name as in the dist-info directory (`pkg_00042`).
    name: String,
    version: String,
    files: usize,
    generation: Generation,
    format: PointerFormat,
    /// Indexes of the venvs that install it; empty for a dead archive.
    users: Vec<usize>,
}

impl ArchiveSpec {
    fn dist_info(&self) -> String {
        format!("{}-{}.dist-info", self.name, self.version)
    }

    fn record(&self) -> String {
        format!("{}/RECORD", self.dist_info())
    }

    /// Every file's path inside the archive, `RECORD` last (it lists the others). The
    /// package grows a level of 16 subpackages per `FILES_PER_DIR` files, like real trees.
    fn paths(&self) -> Vec<String> {
        let modules = self.files - 3;
        let mut paths = Vec::with_capacity(self.files);
        for j in 0..modules {
            let dir = match j / FILES_PER_DIR {
                0 => self.name.clone(),
                leaf => {
                    let (group, part) = ((leaf - 1) / 16, (leaf - 1) % 16);
                    format!("{}/group{group}/part{part}", self.name)
                }
            };
            paths.push(match j % FILES_PER_DIR {
                0 => format!("{dir}/__init__.py"),
                k => format!("{dir}/module_{k}.py"),
            });
        }
        let dist_info = self.dist_info();
        paths.extend(["METADATA", "WHEEL", "RECORD"].map(|f| format!("{dist_info}/{f}")));
        paths
    }

    /// Where its pointers live, relative to the cache:
    /// `<bucket>/index/<index hash>/<normalized name>/`.
    fn pointer_dir(&self, index_dirs: &IndexDirs) -> PathBuf {
        let hash = match self.format {
            PointerFormat::Http => &index_dirs.registry,
            PointerFormat::Rev => &index_dirs.find_links,
        };
        Path::new(self.generation.bucket())
            .join("index")
            .join(hash)
            .join(self.name.replace('_', "-"))
    }

    fn metadata(&self) -> String {
        format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\nSummary: synthetic package {} of the uv-cache-prune benchmark\n",
            self.name, self.version, self.index
        )
    }
}

/// The 16-hex-digit directories uv names after each index URL.
#[derive(Debug, Clone)]
struct IndexDirs {
    registry: String,
    find_links: String,
}

/// Everything about a fixture, computed (cheaply) from its size.
struct Fixture {
    size: Size,
    /// `target/bench/fixture-…/`, holding `cache/`, `projects/`, `stash/`, `fixture.json`.
    dir: PathBuf,
    archives: Vec<ArchiveSpec>,
    venv_modes: Vec<LinkMode>,
    index_dirs: IndexDirs,
}

impl Fixture {
    fn plan(size: Size, bench_dir: &Path) -> Fixture {
        let mut rng = fastrand::Rng::with_seed(SEED);
        // The dead archives are evenly spaced in order of size (a systematic sample), so
        // that they hold their share of the files at every size: a random draw that
        // catches one 50,000-file archive would triple the files to delete, and the dry
        // run's cost (it stats every dead file) with them.
        let dead = size.dead();
        let dead_ranks: HashSet<usize> = (0..dead)
            .map(|k| (2 * k + 1) * size.archives / (2 * dead))
            .collect();
        let mut drafts: Vec<(usize, bool)> = file_counts(size.archives, size.files)
            .into_iter()
            .enumerate()
            .map(|(rank, files)| (files, dead_ranks.contains(&rank)))
            .collect();
        rng.shuffle(&mut drafts);
        // Harmonic weights: the first venvs hold hundreds of dists, the last a dozen.
        let weights: Vec<f64> = (1..=size.venvs).map(|k| 1.0 / k as f64).collect();
        let total_weight: f64 = weights.iter().sum();
        let pick_venv = |rng: &mut fastrand::Rng| {
            let mut x = rng.f64() * total_weight;
            weights
                .iter()
                .position(|w| {
                    x -= w;
                    x < 0.0
                })
                .unwrap_or(size.venvs - 1)
        };
        let mut ids = HashSet::new();
        let mut archives = Vec::with_capacity(size.archives);
        for (index, (files, dead)) in drafts.into_iter().enumerate() {
            let id = loop {
                let id = random_text(&mut rng, 16);
                if ids.insert(id.clone()) {
                    break id;
                }
            };
            let mut users = Vec::new();
            if !dead {
                let first = pick_venv(&mut rng);
                users.push(first);
                if size.venvs > 1 && rng.f64() < SHARED_SHARE {
                    // Any other venv: `first + 1 ..= first + venvs - 1`, wrapped.
                    users.push((first + 1 + rng.usize(..size.venvs - 1)) % size.venvs);
                }
            }
            archives.push(ArchiveSpec {
                index,
                id,
                name: format!("pkg_{index:05}"),
                version: format!("{}.{}.{}", 1 + index % 4, index % 23, index % 7),
                files,
                generation: if rng.f64() < OLD_GENERATION_SHARE {
                    Generation::Old
                } else {
                    Generation::Current
                },
                format: if rng.f64() < LOCAL_WHEEL_SHARE {
                    PointerFormat::Rev
                } else {
                    PointerFormat::Http
                },
                users,
            });
        }
        let index_dirs = IndexDirs {
            registry: format!("{:016x}", rng.u64(..)),
            find_links: format!("{:016x}", rng.u64(..)),
        };
        Fixture {
            size,
            dir: bench_dir.join(size.key()),
            archives,
            venv_modes: (0..size.venvs).map(|k| LinkMode::ALL[k % 3]).collect(),
            index_dirs,
        }
    }

    fn cache(&self) -> PathBuf {
        self.dir.join("cache")
    }

    fn projects(&self) -> PathBuf {
        self.dir.join("projects")
    }

    /// A pristine copy of what the destructive commands delete: the dead archives and
    /// their pointers, at the same paths as in the cache.
    fn stash(&self) -> PathBuf {
        self.dir.join("stash")
    }

    fn marker(&self) -> PathBuf {
        self.dir.join("fixture.json")
    }

    fn dead(&self) -> impl Iterator<Item = &ArchiveSpec> {
        self.archives.iter().filter(|a| a.users.is_empty())
    }

    fn live(&self) -> impl Iterator<Item = &ArchiveSpec> {
        self.archives.iter().filter(|a| !a.users.is_empty())
    }

    fn summary(&self) -> Value {
        let files = |archives: &mut dyn Iterator<Item = &ArchiveSpec>| {
            archives.map(|a| a.files).sum::<usize>()
        };
        let mut per_mode = serde_json::Map::new();
        for mode in LinkMode::ALL {
            let venvs = self.venv_modes.iter().filter(|m| **m == mode).count();
            per_mode.insert(mode.name().into(), venvs.into());
        }
        let mut by_size: Vec<usize> = self.archives.iter().map(|a| a.files).collect();
        by_size.sort_unstable();
        json!({
            "layout_version": LAYOUT_VERSION,
            "archives": self.size.archives,
            "files": files(&mut self.archives.iter()),
            "venvs": self.size.venvs,
            "venvs_per_mode": per_mode,
            "dead_percent": self.size.dead_percent,
            "dead_archives": self.dead().count(),
            "dead_files": files(&mut self.dead()),
            "live_files": files(&mut self.live()),
            "venv_dists": self.archives.iter().map(|a| a.users.len()).sum::<usize>(),
            "files_per_archive": {
                "median": by_size[by_size.len() / 2],
                "p90": by_size[by_size.len() * 9 / 10],
                "max": by_size[by_size.len() - 1],
                "with_20000_or_more": by_size.iter().filter(|n| **n >= 20_000).count(),
            },
        })
    }

    /// Generates the fixture unless a complete one is there.
    fn ensure(&self) -> Result<()> {
        if self.marker().is_file() {
            return Ok(());
        }
        if self.dir.exists() {
            fs::remove_dir_all(&self.dir)
                .with_context(|| format!("removing the partial fixture {}", self.dir.display()))?;
        }
        eprintln!(
            "bench: generating {} (once; reused later)",
            self.dir.display()
        );
        let started = Instant::now();
        let (cache, stash) = (self.cache(), self.stash());
        write_cache_root(&cache)?;
        let tenth = (self.archives.len() / 10).max(1);
        for (n, archive) in self.archives.iter().enumerate() {
            self.write_archive(&cache, archive)?;
            if archive.users.is_empty() {
                self.write_archive(&stash, archive)?;
            }
            if (n + 1) % tenth == 0 {
                eprintln!("bench:   {} of {} archives", n + 1, self.archives.len());
            }
        }
        for (k, mode) in self.venv_modes.iter().enumerate() {
            self.write_project(k, *mode)
                .with_context(|| format!("writing venv {k}"))?;
        }
        self.mark_complete()?;
        eprintln!("bench: fixture ready in {:.0?}", started.elapsed());
        Ok(())
    }

    fn mark_complete(&self) -> Result<()> {
        let summary = serde_json::to_string_pretty(&self.summary())? + "\n";
        fs::write(self.marker(), summary).context("writing the fixture marker")
    }

    /// Before a destructive run: an interrupted bench must not find a "complete" fixture.
    fn mark_changing(&self) -> Result<()> {
        fs::remove_file(self.marker()).context("removing the fixture marker")
    }

    /// The archive, and its pointers, under `root` (the cache, or the stash).
    fn write_archive(&self, root: &Path, archive: &ArchiveSpec) -> Result<()> {
        let dir = root.join("archive-v0").join(&archive.id);
        // Per archive, so that the cache and the stash get the same bytes.
        let mut rng = fastrand::Rng::with_seed(SEED ^ (archive.index as u64).rotate_left(17));
        let record = archive.record();
        let mut record_text = String::new();
        let mut parent = PathBuf::new();
        for path in archive.paths() {
            let file = dir.join(&path);
            ensure_parent(&file, &mut parent)?;
            if path == record {
                writeln!(record_text, "{path},,")?;
                fs::write(&file, &record_text)?;
                continue;
            }
            let metadata;
            let contents: &[u8] = match path.rsplit('/').next() {
                Some("METADATA") => {
                    metadata = archive.metadata();
                    metadata.as_bytes()
                }
                Some("WHEEL") => WHEEL_FILE.as_bytes(),
                // Log-uniform 64 B to 8 KiB: mostly small modules, like site-packages.
                _ => &filler()[..(64.0 * 2f64.powf(rng.f64() * 7.0)) as usize],
            };
            // A digest of the right shape: nothing reads it, but `du` sees its size.
            let digest = random_text(&mut rng, 43);
            writeln!(record_text, "{path},sha256={digest},{}", contents.len())?;
            fs::write(&file, contents)?;
        }

        let pointers = root.join(archive.pointer_dir(&self.index_dirs));
        fs::create_dir_all(&pointers)?;
        let key = format!("{}-py3-none-any", archive.version);
        let target = Path::new("../../../../archive-v0").join(&archive.id);
        symlink(&target, pointers.join(&key))?;
        let extension = match archive.format {
            PointerFormat::Http => "http",
            PointerFormat::Rev => "rev",
        };
        let bytes = pointer_bytes(archive.generation, archive.format, &archive.id);
        fs::write(pointers.join(format!("{key}.{extension}")), bytes)?;
        fs::write(pointers.join(format!("{key}.lock")), "")?;
        Ok(())
    }

    /// `projects/proj-<k>/`: a small source tree and a `.venv` as `uv venv` makes it, with
    /// every dist of venv `k` installed the way uv installs a wheel in `mode`.
    fn write_project(&self, k: usize, mode: LinkMode) -> Result<()> {
        let project = self.projects().join(format!("proj-{k:03}"));
        let package = project.join("src").join(format!("proj_{k:03}"));
        fs::create_dir_all(&package)?;
        fs::write(package.join("__init__.py"), "")?;
        fs::write(
            project.join("pyproject.toml"),
            format!("[project]\nname = \"proj-{k:03}\"\nversion = \"0.1.0\"\n"),
        )?;

        let venv = project.join(".venv");
        let site = venv.join("lib/python3.11/site-packages");
        fs::create_dir_all(&site)?;
        fs::create_dir_all(venv.join("bin"))?;
        fs::write(venv.join("pyvenv.cfg"), PYVENV_CFG)?;
        fs::write(venv.join(".gitignore"), "*")?;
        fs::write(venv.join("CACHEDIR.TAG"), CACHEDIR_TAG)?;
        fs::write(venv.join(".lock"), "")?;
        fs::write(venv.join("bin/activate"), "# source bin/activate\n")?;
        symlink(Path::new("/usr/bin/python3"), venv.join("bin/python"))?;
        symlink(Path::new("python"), venv.join("bin/python3"))?;
        symlink(Path::new("python"), venv.join("bin/python3.11"))?;
        symlink(Path::new("lib"), venv.join("lib64"))?;

        for archive in self.archives.iter().filter(|a| a.users.contains(&k)) {
            let source = self.cache().join("archive-v0").join(&archive.id);
            let record = archive.record();
            let mut parent = PathBuf::new();
            for path in archive.paths() {
                let target = site.join(&path);
                ensure_parent(&target, &mut parent)?;
                if path == record {
                    continue;
                }
                match mode {
                    LinkMode::Hardlink => fs::hard_link(source.join(&path), &target)?,
                    LinkMode::Symlink => symlink(source.join(&path), &target)?,
                    LinkMode::Copy => drop(fs::copy(source.join(&path), &target)?),
                }
            }
            // uv writes these fresh in every mode.
            let dist_info = archive.dist_info();
            let mut record_text = fs::read_to_string(source.join(&record))?;
            writeln!(
                record_text,
                "{dist_info}/INSTALLER,sha256=5hhM4Q4mYTT9z6QB6PGpUAW81PGNFrYrdXMj4oM_6ak,2"
            )?;
            writeln!(
                record_text,
                "{dist_info}/REQUESTED,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0"
            )?;
            let dist_info = site.join(dist_info);
            fs::write(dist_info.join("RECORD"), record_text)?;
            fs::write(dist_info.join("INSTALLER"), "uv")?;
            fs::write(dist_info.join("REQUESTED"), "")?;
        }
        Ok(())
    }

    /// Archive directories in the cache, dot entries (trash) included.
    fn archive_dirs(&self) -> Result<HashSet<String>> {
        let dir = self.cache().join("archive-v0");
        let entries = fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        entries
            .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
            .collect()
    }

    fn ids<'a>(archives: impl Iterator<Item = &'a ArchiveSpec>) -> HashSet<String> {
        archives.map(|a| a.id.clone()).collect()
    }
}

fn write_cache_root(cache: &Path) -> Result<()> {
    fs::create_dir_all(cache.join("archive-v0"))?;
    fs::write(cache.join("CACHEDIR.TAG"), CACHEDIR_TAG)?;
    fs::write(cache.join(".gitignore"), "*")?;
    fs::write(cache.join(".lock"), "")?;
    // What uv 0.13.9 leaves in a cache that never built an sdist.
    fs::create_dir_all(cache.join("sdists-v11"))?;
    fs::write(cache.join("sdists-v11/.git"), "")?;
    fs::write(cache.join("sdists-v11/.gitignore"), "")?;
    Ok(())
}

/// Creates `file`'s directory unless it is `last` (files come grouped by directory).
fn ensure_parent(file: &Path, last: &mut PathBuf) -> io::Result<()> {
    let parent = file.parent().expect("a file inside a directory");
    if parent != last.as_path() {
        fs::create_dir_all(parent)?;
        *last = parent.to_owned();
    }
    Ok(())
}

/// File counts for `archives` archives summing to `files`: the quantiles of a Pareto law
/// with minimum `MIN_FILES_PER_ARCHIVE`, capped at `MAX_FILES_PER_ARCHIVE`, whose exponent
/// is solved by bisection (a smaller exponent is a heavier tail and a larger sum).
/// Quantiles rather than draws make the tail the same at every size.
fn file_counts(archives: usize, files: usize) -> Vec<usize> {
    let min = MIN_FILES_PER_ARCHIVE
        .min(files / archives / 2)
        .max(FLOOR_FILES_PER_ARCHIVE);
    let counts = |alpha: f64| -> Vec<usize> {
        (0..archives)
            .map(|i| {
                let tail = ((archives - i) as f64 - 0.5) / archives as f64;
                let n = min as f64 * tail.powf(-1.0 / alpha);
                (n as usize).clamp(min, MAX_FILES_PER_ARCHIVE)
            })
            .collect()
    };
    let (mut heavy, mut light) = (0.2, 50.0);
    for _ in 0..100 {
        let alpha = (heavy + light) / 2.0;
        if counts(alpha).iter().sum::<usize>() > files {
            heavy = alpha;
        } else {
            light = alpha;
        }
    }
    let mut counts = counts(light);
    // The rounding remainder goes to the smallest archives, a file each.
    let missing = files.saturating_sub(counts.iter().sum());
    for i in 0..missing {
        counts[i % archives] += 1;
    }
    counts
}

fn random_text(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len)
        .map(|_| ID_ALPHABET[rng.usize(..ID_ALPHABET.len())] as char)
        .collect()
}

/// Python-looking bytes to cut module files from.
fn filler() -> &'static [u8] {
    static FILLER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FILLER.get_or_init(|| {
        let mut text = String::from("\"\"\"A synthetic module.\"\"\"\n\n");
        let mut i = 0;
        while text.len() <= 8192 {
            writeln!(text, "def function_{i}(value):\n    return value + {i}\n").unwrap();
            i += 1;
        }
        text.into_bytes()
    })
}

#[cfg(unix)]
use std::os::unix::fs::symlink;

#[cfg(not(unix))]
fn symlink(_: impl AsRef<Path>, _: impl AsRef<Path>) -> io::Result<()> {
    Err(io::Error::other("the benchmark needs Unix"))
}

// ---------------------------------------------------------------------------------------
// Measuring.

/// One command of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    DryRun,
    Du,
    Find,
    Apply,
    Rm,
}

impl Probe {
    const ALL: [Probe; 5] = [
        Probe::DryRun,
        Probe::Du,
        Probe::Find,
        Probe::Apply,
        Probe::Rm,
    ];
    const READ_ONLY: [Probe; 3] = [Probe::DryRun, Probe::Du, Probe::Find];

    fn label(self) -> &'static str {
        match self {
            Probe::DryRun => "uv-cache-prune (dry run)",
            Probe::Du => "du -s <cache>",
            Probe::Find => "find archive-v0 -type f -links 1",
            Probe::Apply => "uv-cache-prune --apply",
            Probe::Rm => "rm -rf <dead archives>",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Probe::DryRun => "dry_run",
            Probe::Du => "du",
            Probe::Find => "find_links_1",
            Probe::Apply => "apply",
            Probe::Rm => "rm_rf_dead",
        }
    }

    fn is_tool(self) -> bool {
        matches!(self, Probe::DryRun | Probe::Apply)
    }
}

/// One timed run.
#[derive(Debug, Clone)]
struct Sample {
    wall: Duration,
    /// From `/usr/bin/time`, when it is there: peak RSS and user + system time.
    peak_rss_kib: Option<u64>,
    cpu: Option<Duration>,
    /// The tool's JSON report; empty for the other commands.
    stdout: Vec<u8>,
}

/// The counts of one run under `strace -c -f`.
#[derive(Debug, Clone, Default)]
struct Syscalls {
    total: u64,
    /// `stat`, `lstat`, `newfstatat`, `statx` and kin.
    stats: u64,
    /// The most frequent calls, most frequent first.
    top: Vec<(String, u64)>,
}

#[derive(Debug, Clone)]
struct ProbeResult {
    probe: Probe,
    samples: Vec<Sample>,
    syscalls: Option<Syscalls>,
}

/// One row per probe, in `Probe::ALL` order.
struct Table(Vec<ProbeResult>);

impl Table {
    fn new() -> Table {
        let rows = Probe::ALL.map(|probe| ProbeResult {
            probe,
            samples: Vec::new(),
            syscalls: None,
        });
        Table(rows.to_vec())
    }

    fn row(&self, probe: Probe) -> &ProbeResult {
        let row = self.0.iter().find(|r| r.probe == probe);
        row.expect("every probe has a row")
    }

    fn row_mut(&mut self, probe: Probe) -> &mut ProbeResult {
        let row = self.0.iter_mut().find(|r| r.probe == probe);
        row.expect("every probe has a row")
    }
}

impl ProbeResult {
    fn median(&self) -> Duration {
        let mut walls: Vec<Duration> = self.samples.iter().map(|s| s.wall).collect();
        walls.sort_unstable();
        walls[walls.len() / 2]
    }

    fn peak_rss_mib(&self) -> Option<f64> {
        let peaks = self.samples.iter().map(|s| s.peak_rss_kib);
        peaks.max().flatten().map(|kib| kib as f64 / 1024.0)
    }
}

/// The tool, the helpers found on this system, and `target/bench`.
struct Bench<'a> {
    sh: &'a Shell,
    dir: PathBuf,
    tool: PathBuf,
    /// `/usr/bin/time` with `-f` (GNU time): peak memory.
    time: bool,
    strace: bool,
}

impl<'a> Bench<'a> {
    fn new(sh: &'a Shell) -> Result<Self> {
        let target = crate::workspace_root().join("target");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        eprintln!("bench: building uv-cache-prune in release");
        cmd!(
            sh,
            "{cargo} build --quiet --release -p uv-cache-prune --target-dir {target}"
        )
        .quiet()
        .run()
        .context("building uv-cache-prune in release")?;
        let dir = target.join("bench");
        fs::create_dir_all(&dir)?;
        let probe_file = dir.join("time-probe.txt");
        let time = cmd!(sh, "/usr/bin/time -f %M -o {probe_file} true")
            .quiet()
            .ignore_stderr()
            .run()
            .is_ok();
        let strace = cmd!(sh, "strace -f -qq -o /dev/null true")
            .quiet()
            .ignore_stderr()
            .run()
            .is_ok();
        for (found, what, shows) in [
            (time, "GNU /usr/bin/time", "peak RSS"),
            (strace, "a working strace", "syscalls"),
        ] {
            if !found {
                eprintln!("bench: no {what} here: {shows} will read n/a");
            }
        }
        Ok(Bench {
            sh,
            tool: target.join("release/uv-cache-prune"),
            dir,
            time,
            strace,
        })
    }

    /// The tool's HOME and XDG dirs: it writes its last-use record there.
    fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    /// The whole table for one fixture size.
    fn measure(&self, size: Size, runs: usize) -> Result<BenchResult> {
        let fixture = Fixture::plan(size, &self.dir);
        fixture.ensure()?;
        let home = self.home();
        if home.exists() {
            fs::remove_dir_all(&home)?;
        }
        fs::create_dir_all(&home)?;
        eprintln!(
            "bench: {} archives, {} files, {} venvs: {runs} runs of each command",
            size.archives, size.files, size.venvs
        );
        let mut table = Table::new();

        let mut reports = Vec::new();
        for probe in Probe::READ_ONLY {
            let warm_up = self.run(probe, &fixture)?;
            if probe == Probe::DryRun {
                reports.push(ToolReport::parse(&warm_up.stdout)?);
            }
        }
        for _ in 0..runs {
            for probe in Probe::READ_ONLY {
                let sample = self.run(probe, &fixture)?;
                table.row_mut(probe).samples.push(sample);
            }
        }
        for probe in Probe::READ_ONLY {
            table.row_mut(probe).syscalls = self.syscalls(probe, &fixture)?;
        }
        let live_stated = self.live_entries_stated(&fixture)?;

        eprintln!("bench: destructive runs (each followed by restoring the dead archives)");
        fixture.mark_changing()?;
        let mut removed_exactly_dead = true;
        for _ in 0..runs {
            for probe in [Probe::Apply, Probe::Rm] {
                let sample = self.run(probe, &fixture)?;
                if probe == Probe::Apply {
                    reports.push(ToolReport::parse(&sample.stdout)?);
                    removed_exactly_dead &= fixture.archive_dirs()? == Fixture::ids(fixture.live());
                }
                table.row_mut(probe).samples.push(sample);
                self.restore(&fixture)?;
            }
        }
        if self.strace {
            for probe in [Probe::Apply, Probe::Rm] {
                table.row_mut(probe).syscalls = self.syscalls(probe, &fixture)?;
                self.restore(&fixture)?;
            }
        }
        fixture.mark_complete()?;

        Ok(BenchResult {
            fixture: fixture.summary(),
            size,
            reports,
            removed_exactly_dead,
            live_stated,
            probes: table,
        })
    }

    /// Puts back what a destructive run deleted, from the stash, and checks it is all back.
    fn restore(&self, fixture: &Fixture) -> Result<()> {
        let sh = self.sh;
        let (stash, cache) = (fixture.stash().join("."), fixture.cache());
        cmd!(sh, "cp -a {stash} {cache}")
            .quiet()
            .run()
            .context("restoring the dead archives from the stash")?;
        // So that writeback of the copy does not land inside the next timing.
        cmd!(sh, "sync")
            .quiet()
            .run()
            .context("flushing the restored archives")?;
        ensure!(
            fixture.archive_dirs()? == Fixture::ids(fixture.archives.iter()),
            "restoring {} did not bring back exactly its archives; it will be regenerated",
            fixture.dir.display()
        );
        Ok(())
    }

    /// The command line of a probe, program first.
    fn argv(&self, probe: Probe, fixture: &Fixture) -> Vec<OsString> {
        let cache = fixture.cache();
        let archive_dir = cache.join("archive-v0");
        let mut argv: Vec<OsString> = match probe {
            Probe::DryRun | Probe::Apply => vec![
                self.tool.clone().into(),
                "--cache-dir".into(),
                cache.into(),
                "--no-default-roots".into(),
                "--root".into(),
                fixture.projects().into(),
                "--grace".into(),
                "0s".into(),
                "--json".into(),
            ],
            Probe::Du => vec!["du".into(), "-s".into(), cache.into()],
            Probe::Find => vec!["find".into(), archive_dir.into()],
            Probe::Rm => vec!["rm".into(), "-rf".into()],
        };
        match probe {
            Probe::Apply => argv.push("--apply".into()),
            Probe::Find => argv.extend(["-type", "f", "-links", "1"].map(OsString::from)),
            Probe::Rm => {
                let archive_dir = fixture.cache().join("archive-v0");
                argv.extend(fixture.dead().map(|a| archive_dir.join(&a.id).into()));
            }
            Probe::DryRun | Probe::Du => {}
        }
        argv
    }

    /// A probe's command under `wrapper` (time, strace), the tool in its own HOME.
    fn cmd(&self, probe: Probe, fixture: &Fixture, wrapper: &[OsString]) -> Cmd<'a> {
        let sh = self.sh;
        let argv = [wrapper.to_vec(), self.argv(probe, fixture)].concat();
        let (program, args) = argv.split_first().expect("a command line");
        let cmd = cmd!(sh, "{program} {args...}").quiet();
        if !probe.is_tool() {
            return cmd.ignore_stdout();
        }
        let home = self.home();
        let mut cmd = cmd
            .env("HOME", &home)
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CACHE_HOME", home.join("cache"));
        for var in [
            "UV_CACHE_DIR",
            "UV_CACHE_PRUNE_CONFIG",
            "UV_CACHE_PRUNE_STATE_DIR",
            "UV_CACHE_PRUNE_NOW",
            "UV_CACHE_PRUNE_FAULT_AFTER",
        ] {
            cmd = cmd.env_remove(var);
        }
        cmd
    }

    /// One timed run, under `/usr/bin/time` when it is there (about a millisecond more).
    fn run(&self, probe: Probe, fixture: &Fixture) -> Result<Sample> {
        let usage = self.dir.join("time.txt");
        let wrapper: Vec<OsString> = if self.time {
            let format = "%M %U %S";
            ["/usr/bin/time", "-f", format, "-o"]
                .map(OsString::from)
                .into_iter()
                .chain([usage.clone().into()])
                .collect()
        } else {
            Vec::new()
        };
        let cmd = self.cmd(probe, fixture, &wrapper);
        let started = Instant::now();
        let output = cmd
            .ignore_status()
            .output()
            .with_context(|| format!("running {}", probe.label()))?;
        let wall = started.elapsed();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!(
                "{} failed ({}): {}",
                probe.label(),
                output.status,
                stderr.trim()
            );
        }
        let (peak_rss_kib, cpu) = if self.time {
            let text = fs::read_to_string(&usage).context("reading /usr/bin/time's output")?;
            parse_time(&text)
                .with_context(|| format!("unexpected /usr/bin/time output {text:?}"))?
        } else {
            (None, None)
        };
        Ok(Sample {
            wall,
            peak_rss_kib,
            cpu,
            stdout: output.stdout,
        })
    }

    /// Counts from one untimed run under `strace -c -f`; `None` without strace.
    fn syscalls(&self, probe: Probe, fixture: &Fixture) -> Result<Option<Syscalls>> {
        if !self.strace {
            return Ok(None);
        }
        let out = self.dir.join("strace-counts.txt");
        let strace = strace_wrapper(&["-c"], &out);
        self.cmd(probe, fixture, &strace)
            .ignore_stdout()
            .run()
            .with_context(|| format!("running {} under strace", probe.label()))?;
        let text = fs::read_to_string(&out).context("reading strace's summary")?;
        Ok(Some(parse_strace_counts(&text)))
    }

    /// Which entries of live archives the dry run stats, by path (`strace -y` names the
    /// directory behind each fd): the exact answer to "no full stat of live archives".
    fn live_entries_stated(&self, fixture: &Fixture) -> Result<Option<usize>> {
        if !self.strace {
            return Ok(None);
        }
        let out = self.dir.join("strace-stats.txt");
        let strace = strace_wrapper(&["-y", "-e", "trace=%stat,%lstat,%fstat"], &out);
        self.cmd(Probe::DryRun, fixture, &strace)
            .ignore_stdout()
            .run()
            .context("tracing the dry run's stat calls")?;
        let archive_dir = fs::canonicalize(fixture.cache())?.join("archive-v0");
        let live = Fixture::ids(fixture.live());
        let text = fs::read_to_string(&out).context("reading strace's trace")?;
        let stated: HashSet<PathBuf> = text
            .lines()
            .filter_map(stat_path)
            .filter(|path| {
                let mut inside = path
                    .strip_prefix(&archive_dir)
                    .into_iter()
                    .flat_map(Path::components);
                let id = inside
                    .next()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned());
                id.is_some_and(|id| live.contains(&id)) && inside.next().is_some()
            })
            .collect();
        Ok(Some(stated.len()))
    }
}

fn strace_wrapper(options: &[&str], out: &Path) -> Vec<OsString> {
    let mut argv: Vec<OsString> = ["strace", "-f", "-qq"].map(OsString::from).to_vec();
    argv.extend(options.iter().map(OsString::from));
    argv.extend(["-o".into(), out.into(), "--".into()]);
    argv
}

/// `%M %U %S`: peak RSS in KiB, user and system seconds.
fn parse_time(text: &str) -> Option<(Option<u64>, Option<Duration>)> {
    // The last line: a child that fails makes time print a note first.
    let fields: Vec<&str> = text.lines().last()?.split_whitespace().collect();
    let [rss, user, system] = fields[..] else {
        return None;
    };
    let seconds = |s: &str| s.parse::<f64>().ok().map(Duration::from_secs_f64);
    let cpu = seconds(user)? + seconds(system)?;
    Some((Some(rss.parse().ok()?), Some(cpu)))
}

/// `strace -c` prints `% time, seconds, usecs/call, calls, [errors], syscall` per line.
fn parse_strace_counts(text: &str) -> Syscalls {
    const STATS: [&str; 7] = [
        "stat",
        "lstat",
        "newfstatat",
        "fstatat64",
        "statx",
        "stat64",
        "lstat64",
    ];
    let mut syscalls = Syscalls::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let calls = fields.get(3).and_then(|c| c.parse::<u64>().ok());
        let (Some(calls), Some(&name), true) = (calls, fields.last(), fields.len() >= 5) else {
            continue;
        };
        if name == "total" {
            syscalls.total = calls;
            continue;
        }
        if STATS.contains(&name) {
            syscalls.stats += calls;
        }
        syscalls.top.push((name.to_owned(), calls));
    }
    syscalls
        .top
        .sort_by_key(|(_, calls)| std::cmp::Reverse(*calls));
    syscalls.top.truncate(6);
    syscalls
}

/// The path a `strace -y` line looks at: `statx(3</dir>, "name", …)`,
/// `newfstatat(AT_FDCWD, "/path", …)`, `fstat(3</file>, …)`, `statx(3</file>, "", …)`.
fn stat_path(line: &str) -> Option<PathBuf> {
    let args = &line[line.find('(')? + 1..];
    let (dir, rest) = match args.strip_prefix("AT_FDCWD, ") {
        Some(rest) => (None, rest),
        None if args.starts_with('"') => (None, args),
        None => {
            let open = args.find('<')?;
            let close = open + args[open..].find('>')?;
            (
                Some(&args[open + 1..close]),
                args[close + 1..].trim_start_matches(", "),
            )
        }
    };
    let name = rest
        .strip_prefix('"')
        .and_then(|r| r.split_once('"'))
        .map(|(name, _)| name)
        .filter(|name| !name.is_empty());
    match (dir, name) {
        (Some(dir), Some(name)) => Some(Path::new(dir).join(name)),
        (Some(dir), None) => Some(dir.into()),
        (None, name) => name.map(PathBuf::from),
    }
}

/// What the tool's `--json` report says about the archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ToolReport {
    total: u64,
    live: u64,
    dead: u64,
}

impl ToolReport {
    fn parse(stdout: &[u8]) -> Result<ToolReport> {
        let report: Value =
            serde_json::from_slice(stdout).context("the tool's --json output is not JSON")?;
        let count = |key: &str| {
            report["archives"][key]
                .as_u64()
                .with_context(|| format!("the tool's report has no archives.{key}"))
        };
        Ok(ToolReport {
            total: count("total")?,
            live: count("live")?,
            dead: count("dead")?,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Reporting.

struct BenchResult {
    fixture: Value,
    size: Size,
    /// The tool's own counts: the dry run's first, then every `--apply` run's.
    reports: Vec<ToolReport>,
    /// Every `--apply` run left exactly the live archives (and no trash).
    removed_exactly_dead: bool,
    /// Entries inside live archives that the dry run stat'ed (needs strace).
    live_stated: Option<usize>,
    probes: Table,
}

/// One target; `pass: None` when it could not be measured here.
struct Check {
    name: String,
    pass: Option<bool>,
    detail: String,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = match self.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "n/a ",
        };
        write!(f, "{verdict}  {}: {}", self.name, self.detail)
    }
}

impl Check {
    fn to_json(&self) -> Value {
        json!({ "name": self.name, "pass": self.pass, "detail": self.detail })
    }
}

impl BenchResult {
    fn probe(&self, probe: Probe) -> &ProbeResult {
        self.probes.row(probe)
    }

    fn ratio(&self, probe: Probe, to: Probe) -> f64 {
        self.probe(probe).median().as_secs_f64() / self.probe(to).median().as_secs_f64()
    }

    fn count(&self, key: &str) -> u64 {
        self.fixture[key].as_u64().unwrap_or(0)
    }

    fn markdown(&self) -> String {
        let f = &self.fixture;
        let per_archive = &f["files_per_archive"];
        let modes = &f["venvs_per_mode"];
        let mut out = format!(
            "\n### {} archives ({} dead), {} files, {} venvs\n\n",
            thousands(self.count("archives")),
            thousands(self.count("dead_archives")),
            thousands(self.count("files")),
            self.count("venvs"),
        );
        writeln!(
            out,
            "Files per archive: median {}, 90th percentile {}, max {} ({} with 20,000 or more). \
             Venvs: {} hardlink, {} symlink, {} copy, holding {} dists. \
             The dead archives hold {} files, the live ones {}.\n",
            per_archive["median"],
            per_archive["p90"],
            thousands(per_archive["max"].as_u64().unwrap_or(0)),
            per_archive["with_20000_or_more"],
            modes["hardlink"],
            modes["symlink"],
            modes["copy"],
            thousands(self.count("venv_dists")),
            thousands(self.count("dead_files")),
            thousands(self.count("live_files")),
        )
        .unwrap();
        out += "| command | median wall | × du -s | syscalls | stat calls | peak RSS |\n";
        out += "|---|---:|---:|---:|---:|---:|\n";
        for result in &self.probes.0 {
            let (calls, stats) = match &result.syscalls {
                Some(s) => (thousands(s.total), thousands(s.stats)),
                None => ("n/a".into(), "n/a".into()),
            };
            let rss = result
                .peak_rss_mib()
                .map_or_else(|| "n/a".into(), |mib| format!("{mib:.1} MiB"));
            writeln!(
                out,
                "| `{}` | {} | {:.2} | {calls} | {stats} | {rss} |",
                result.probe.label(),
                human(result.median()),
                self.ratio(result.probe, Probe::Du),
            )
            .unwrap();
        }
        for probe in [Probe::DryRun, Probe::Apply] {
            if let Some(syscalls) = &self.probe(probe).syscalls {
                let top: Vec<String> = syscalls
                    .top
                    .iter()
                    .map(|(name, calls)| format!("{name} {}", thousands(*calls)))
                    .collect();
                write!(
                    out,
                    "\nMost frequent syscalls of `{}`: {}.",
                    probe.label(),
                    top.join(", ")
                )
                .unwrap();
            }
        }
        out
    }

    fn checks(&self) -> Vec<Check> {
        let size = format!("{} archives", thousands(self.size.archives as u64));
        let name = |what: &str| format!("[{size}] {what}");
        let expected = ToolReport {
            total: self.count("archives"),
            live: self.count("archives") - self.count("dead_archives"),
            dead: self.count("dead_archives"),
        };
        let wrong: Vec<&ToolReport> = self.reports.iter().filter(|r| **r != expected).collect();
        let mut checks = vec![Check {
            name: name("the tool finds exactly the fixture's dead archives"),
            pass: Some(wrong.is_empty()),
            detail: match wrong.first() {
                None => format!(
                    "{} total, {} live, {} dead, in the dry run and every --apply",
                    expected.total, expected.live, expected.dead
                ),
                Some(r) => format!(
                    "THE FIXTURE OR THE TOOL IS WRONG: the tool reported {} total, {} live, {} dead; \
                     the fixture has {} total, {} dead",
                    r.total, r.live, r.dead, expected.total, expected.dead
                ),
            },
        }];
        checks.push(Check {
            name: name("--apply leaves exactly the live archives"),
            pass: Some(self.removed_exactly_dead),
            detail: if self.removed_exactly_dead {
                "after every run".into()
            } else {
                "CHECK THE TOOL: archive-v0 held something else after --apply".into()
            },
        });
        let (dry, apply) = (
            self.ratio(Probe::DryRun, Probe::Du),
            self.ratio(Probe::Apply, Probe::Rm),
        );
        let versus = |a: Probe, b: Probe, ratio: f64| {
            let (a, b) = (self.probe(a).median(), self.probe(b).median());
            format!("{} vs {}: {ratio:.2} ×", human(a), human(b))
        };
        checks.push(Check {
            name: name(&format!("dry run ≤ {DRY_RUN_MAX_RATIO_TO_DU} × du -s")),
            pass: Some(dry <= DRY_RUN_MAX_RATIO_TO_DU),
            detail: versus(Probe::DryRun, Probe::Du, dry),
        });
        checks.push(Check {
            name: name(&format!(
                "--apply ≤ {APPLY_MAX_RATIO_TO_RM} × rm -rf of the same archives"
            )),
            pass: Some(apply <= APPLY_MAX_RATIO_TO_RM),
            detail: versus(Probe::Apply, Probe::Rm, apply),
        });
        let rss = [Probe::DryRun, Probe::Apply]
            .map(|p| self.probe(p).peak_rss_mib())
            .into_iter()
            .flatten()
            .reduce(f64::max);
        checks.push(Check {
            name: name(&format!("peak memory < {PEAK_RSS_MAX_MIB} MiB")),
            pass: rss.map(|rss| rss < PEAK_RSS_MAX_MIB),
            detail: rss.map_or_else(
                || "needs GNU /usr/bin/time".into(),
                |rss| format!("{rss:.1} MiB (dry run and --apply)"),
            ),
        });
        let live_files = self.count("live_files");
        let share = self.live_stated.map(|n| n as f64 / live_files as f64);
        checks.push(Check {
            name: name("no full stat of live archives in the dry run"),
            pass: share.map(|share| share < LIVE_STAT_MAX_SHARE),
            detail: match (self.live_stated, share, &self.probe(Probe::DryRun).syscalls) {
                (Some(stated), Some(share), Some(syscalls)) => format!(
                    "{} entries of live archives stat'ed of their {} files ({:.1}%, target < {:.0}%); \
                     {} stat calls in all, for {} files in the cache, {} of them in dead archives",
                    thousands(stated as u64),
                    thousands(live_files),
                    share * 100.0,
                    LIVE_STAT_MAX_SHARE * 100.0,
                    thousands(syscalls.stats),
                    thousands(self.count("files")),
                    thousands(self.count("dead_files")),
                ),
                _ => "needs strace".into(),
            },
        });
        checks
    }

    fn to_json(&self) -> Value {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let commands: Vec<Value> = self
            .probes
            .0
            .iter()
            .map(|result| {
                json!({
                    "command": result.probe.key(),
                    "label": result.probe.label(),
                    "median_ms": ms(result.median()),
                    "ratio_to_du": self.ratio(result.probe, Probe::Du),
                    "wall_ms": result.samples.iter().map(|s| ms(s.wall)).collect::<Vec<_>>(),
                    "cpu_ms": result.samples.iter().map(|s| s.cpu.map(ms)).collect::<Vec<_>>(),
                    "peak_rss_kib": result.samples.iter().map(|s| s.peak_rss_kib).max().flatten(),
                    "syscalls": result.syscalls.as_ref().map(|s| json!({
                        "total": s.total,
                        "stat": s.stats,
                        "top": s.top.iter().map(|(name, calls)| json!([name, calls])).collect::<Vec<_>>(),
                    })),
                })
            })
            .collect();
        json!({
            "fixture": self.fixture,
            "live_archive_entries_stated": self.live_stated,
            "commands": commands,
        })
    }
}

/// Time per archive at each size: the dry run and `du -s` per archive; `--apply` per dead
/// file, since which archives are dead (a 50,000-file one or not) is up to the draw.
fn scaling_markdown(results: &[BenchResult]) -> String {
    let mut out = String::from(
        "\n### Scaling\n\n\
         | size | archives | files | dry run | per archive | du -s | per archive | --apply | per dead file |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (factor, result) in SCALING_FACTORS.iter().zip(results) {
        let median = |probe: Probe| result.probe(probe).median();
        let per = |probe: Probe, n: u64| {
            format!(
                "{:.0} µs",
                median(probe).as_secs_f64() * 1e6 / n.max(1) as f64
            )
        };
        let archives = result.count("archives");
        let dead_files = result.count("dead_files");
        writeln!(
            out,
            "| {factor}× | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(archives),
            thousands(result.count("files")),
            human(median(Probe::DryRun)),
            per(Probe::DryRun, archives),
            human(median(Probe::Du)),
            per(Probe::Du, archives),
            human(median(Probe::Apply)),
            per(Probe::Apply, dead_files),
        )
        .unwrap();
    }
    out
}

fn scaling_check(results: &[BenchResult]) -> Check {
    let per_archive = |r: &BenchResult| {
        r.probe(Probe::DryRun).median().as_secs_f64() / r.count("archives") as f64
    };
    let (first, last) = (
        per_archive(&results[0]),
        per_archive(&results[results.len() - 1]),
    );
    let drift = last / first;
    Check {
        name: format!("scaling: dry run time per archive at 4× ≤ {SCALING_MAX_DRIFT} × at 1×"),
        pass: Some(drift <= SCALING_MAX_DRIFT),
        detail: format!(
            "{:.0} µs → {:.0} µs per archive: {drift:.2} ×",
            first * 1e6,
            last * 1e6
        ),
    }
}

fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else {
        format!("{:.1} ms", secs * 1000.0)
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_counts_hit_the_total_with_a_long_tail() {
        let counts = file_counts(3000, 600_000);
        assert_eq!(counts.iter().sum::<usize>(), 600_000);
        let mut sorted = counts.clone();
        sorted.sort_unstable();
        assert!(
            (20..=100).contains(&sorted[1500]),
            "median {}",
            sorted[1500]
        );
        assert!(sorted.iter().filter(|n| **n >= 20_000).count() >= 2);
        assert!(sorted[0] >= FLOOR_FILES_PER_ARCHIVE);
    }

    #[test]
    fn dead_archives_hold_their_share_of_the_files_at_every_size() {
        for archives in [200, 750, 1500, 3000, 6000] {
            let size = Size {
                archives,
                files: archives * 200,
                venvs: 40,
                dead_percent: 10,
            };
            let fixture = Fixture::plan(size, Path::new("/nowhere"));
            assert_eq!(fixture.dead().count(), archives / 10);
            let dead_files: usize = fixture.dead().map(|a| a.files).sum();
            let share = dead_files as f64 / size.files as f64;
            assert!((0.05..0.15).contains(&share), "{archives}: {share}");
        }
    }

    #[test]
    fn pointers_name_the_new_id_and_keep_their_length() {
        for generation in [Generation::Current, Generation::Old] {
            for format in [PointerFormat::Http, PointerFormat::Rev] {
                let (template, old) = generation.template(format);
                let bytes = pointer_bytes(generation, format, "abcdefgh_-123456");
                assert_eq!(bytes.len(), template.len());
                assert!(bytes.windows(16).any(|w| w == b"abcdefgh_-123456"));
                assert!(!bytes.windows(16).any(|w| w == old.as_bytes()));
            }
        }
    }

    #[test]
    fn reads_paths_from_strace_y_lines() {
        for (line, path) in [
            (
                r#"123 statx(3</c/archive-v0/ID/pkg>, "mod.py", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW, STATX_ALL, {}) = 0"#,
                Some("/c/archive-v0/ID/pkg/mod.py"),
            ),
            (
                r#"statx(AT_FDCWD, "/c/archive-v0/ID/x-1.dist-info/METADATA", AT_STATX_SYNC_AS_STAT, STATX_ALL, {}) = 0"#,
                Some("/c/archive-v0/ID/x-1.dist-info/METADATA"),
            ),
            (
                r#"statx(5</c/archive-v0/ID/x-1.dist-info/WHEEL>, "", AT_STATX_SYNC_AS_STAT|AT_EMPTY_PATH, STATX_ALL, {}) = 0"#,
                Some("/c/archive-v0/ID/x-1.dist-info/WHEEL"),
            ),
            (
                r#"fstat(4</etc/ld.so.cache>, {st_mode=S_IFREG|0644}) = 0"#,
                Some("/etc/ld.so.cache"),
            ),
            (
                r#"newfstatat(AT_FDCWD, "/p", {st_mode=S_IFDIR|0755}, 0) = 0"#,
                Some("/p"),
            ),
            ("123 <... statx resumed>{}) = 0", None),
        ] {
            assert_eq!(stat_path(line), path.map(PathBuf::from), "{line}");
        }
    }

    #[test]
    fn reads_strace_counts_and_time() {
        let summary = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 40.00    0.004000           2      2000           statx
 30.00    0.003000           1      1500        12 openat
 10.00    0.001000           1       500           newfstatat
------ ----------- ----------- --------- --------- ----------------
100.00    0.010000           2      4000        12 total
";
        let counts = parse_strace_counts(summary);
        assert_eq!((counts.total, counts.stats), (4000, 2500));
        assert_eq!(counts.top[0], ("statx".to_owned(), 2000));
        assert_eq!(
            parse_time("Command exited with non-zero status 1\n10932 0.02 0.10\n"),
            Some((Some(10932), Some(Duration::from_millis(120))))
        );
    }
}
