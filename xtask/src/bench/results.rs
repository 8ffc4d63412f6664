//! Typed results: what each probe measured, the tool's counts, the checks, `results.json`.
//!
//! Everything the table, the checks and `results.json` show is read from these types; the
//! only JSON read back is the tool's `--json` report, through `ToolReport`.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::fixture::{FixtureSummary, Size};
use super::home::HomeWalkRecord;
use super::hook::HookResult;
use super::probe::Probe;

/// Bump when `results.json` changes shape.
const SCHEMA_VERSION: u32 = 2;

/// One timed run.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub(super) wall: Duration,
    /// From `/usr/bin/time`, when it is there: peak RSS and user + system time.
    pub(super) peak_rss_kib: Option<u64>,
    pub(super) cpu: Option<Duration>,
    /// The tool's JSON report; empty for the other commands.
    pub(super) stdout: Vec<u8>,
}

/// The counts of one run under `strace -c -f`.
///
/// Serialized as is into `results.json`; fields in the file's (alphabetical) key order.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Syscalls {
    /// `stat`, `lstat`, `newfstatat`, `statx` and kin.
    #[serde(rename = "stat")]
    pub(super) stats: u64,
    /// The most frequent calls, most frequent first.
    pub(super) top: Vec<(String, u64)>,
    pub(super) total: u64,
}

/// Every run of one probe at one size.
#[derive(Debug, Clone)]
pub(super) struct ProbeResult {
    pub(super) probe: Probe,
    pub(super) samples: Vec<Sample>,
    pub(super) syscalls: Option<Syscalls>,
}

impl ProbeResult {
    /// The median wall time; the caller guarantees at least one sample (`--runs` ≥ 1).
    pub(super) fn median(&self) -> Duration {
        let mut walls: Vec<Duration> = self.samples.iter().map(|s| s.wall).collect();
        walls.sort_unstable();
        walls[walls.len() / 2]
    }

    /// The median user + system time, when `/usr/bin/time` gave it for every run.
    pub(super) fn median_cpu(&self) -> Option<Duration> {
        let mut cpus: Vec<Duration> = self.samples.iter().map(|s| s.cpu).collect::<Option<_>>()?;
        cpus.sort_unstable();
        cpus.get(cpus.len() / 2).copied()
    }

    pub(super) fn peak_rss_kib(&self) -> Option<u64> {
        self.samples.iter().map(|s| s.peak_rss_kib).max().flatten()
    }

    pub(super) fn peak_rss_mib(&self) -> Option<f64> {
        self.peak_rss_kib().map(|kib| kib as f64 / 1024.0)
    }
}

/// One row per probe, in `Probe::ALL` order (so `Probe as usize` is the row).
#[derive(Debug, Clone)]
pub(super) struct Table([ProbeResult; Probe::ALL.len()]);

impl Table {
    pub(super) fn new() -> Table {
        Table(Probe::ALL.map(|probe| ProbeResult {
            probe,
            samples: Vec::new(),
            syscalls: None,
        }))
    }

    /// The probes that ran, in table order: a probe this system cannot run (no uv for the
    /// floor, a tool without `--threads`) has no samples and no row.
    pub(super) fn rows(&self) -> impl Iterator<Item = &ProbeResult> {
        self.0.iter().filter(|row| !row.samples.is_empty())
    }

    pub(super) fn row(&self, probe: Probe) -> &ProbeResult {
        &self.0[probe as usize]
    }

    pub(super) fn row_mut(&mut self, probe: Probe) -> &mut ProbeResult {
        &mut self.0[probe as usize]
    }
}

/// What the tool's `--json` report says about the archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(super) struct ToolReport {
    pub(super) total: u64,
    pub(super) live: u64,
    pub(super) dead: u64,
}

impl ToolReport {
    /// Reads `archives.total`, `.live` and `.dead` of the tool's report; the rest of the
    /// report is not the bench's business.
    pub(super) fn parse(stdout: &[u8]) -> Result<ToolReport> {
        #[derive(Deserialize)]
        struct Report {
            archives: ToolReport,
        }
        let report: Report = serde_json::from_slice(stdout).context(
            "the tool's --json output is not a report with archives.total, .live and .dead",
        )?;
        Ok(report.archives)
    }
}

/// Everything measured at one size.
pub(super) struct BenchResult {
    /// The size relative to the first (1, 2, 4 with `--scaling`).
    pub(super) factor: usize,
    pub(super) size: Size,
    pub(super) fixture: FixtureSummary,
    /// The tool's own counts: the dry run's first, then every `--apply` run's.
    pub(super) reports: Vec<ToolReport>,
    /// Every `--apply` run left exactly the live archives (and no trash).
    pub(super) removed_exactly_dead: bool,
    /// Entries inside live archives that the dry run stat'ed (needs strace).
    pub(super) live_stated: Option<usize>,
    pub(super) probes: Table,
}

impl BenchResult {
    pub(super) fn probe(&self, probe: Probe) -> &ProbeResult {
        self.probes.row(probe)
    }

    /// The probe's runs, if it ran.
    pub(super) fn measured(&self, probe: Probe) -> Option<&ProbeResult> {
        Some(self.probes.row(probe)).filter(|row| !row.samples.is_empty())
    }

    /// Median wall time of `probe` over that of `to`; both always run (not the floor or
    /// the one-thread dry run: see `ratio_if_measured`).
    pub(super) fn ratio(&self, probe: Probe, to: Probe) -> f64 {
        self.probe(probe).median().as_secs_f64() / self.probe(to).median().as_secs_f64()
    }

    /// `ratio`, when both probes ran.
    pub(super) fn ratio_if_measured(&self, probe: Probe, to: Probe) -> Option<f64> {
        let (a, b) = (self.measured(probe)?, self.measured(to)?);
        Some(a.median().as_secs_f64() / b.median().as_secs_f64())
    }

    fn record(&self) -> BenchRecord<'_> {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let commands = self.probes.rows().map(|result| CommandRecord {
            command: result.probe,
            cpu_ms: result.samples.iter().map(|s| s.cpu.map(ms)).collect(),
            label: result.probe.to_string(),
            median_ms: ms(result.median()),
            peak_rss_kib: result.peak_rss_kib(),
            ratio_to_du: self.ratio(result.probe, Probe::Du),
            syscalls: result.syscalls.as_ref(),
            wall_ms: result.samples.iter().map(|s| ms(s.wall)).collect(),
        });
        BenchRecord {
            commands: commands.collect(),
            fixture: &self.fixture,
            live_archive_entries_stated: self.live_stated,
        }
    }
}

/// One target; `pass: None` when it could not be measured here.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Check {
    pub(super) detail: String,
    pub(super) name: String,
    pub(super) pass: Option<bool>,
}

impl Check {
    pub(super) fn failed(&self) -> bool {
        self.pass == Some(false)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "n/a ",
        };
        write!(f, "{verdict}  {}: {}", self.name, self.detail)
    }
}

/// `results.json`. The records' fields are in alphabetical order: the order the file has
/// always had (it was built with `serde_json::json!`, which sorts keys), so that results
/// of older runs diff cleanly against new ones.
#[derive(Serialize)]
pub(super) struct ResultsFile<'a> {
    benches: Vec<BenchRecord<'a>>,
    checks: &'a [Check],
    home_walk: Option<&'a HomeWalkRecord>,
    hook: Option<HookRecord>,
    runs: usize,
    schema_version: u32,
}

/// The rows measured once per bench, not per size.
pub(super) struct Extras {
    pub(super) hook: HookResult,
    pub(super) home_walk: HomeWalkRecord,
}

/// The hook row in `results.json`; times in milliseconds.
#[derive(Serialize)]
struct HookRecord {
    max_ms: f64,
    median_ms: f64,
    wall_ms: Vec<f64>,
}

impl<'a> ResultsFile<'a> {
    pub(super) fn new(results: &'a [BenchResult], checks: &'a [Check], runs: usize) -> Self {
        ResultsFile {
            benches: results.iter().map(BenchResult::record).collect(),
            checks,
            home_walk: None,
            hook: None,
            runs,
            schema_version: SCHEMA_VERSION,
        }
    }

    pub(super) fn with_extras(mut self, extras: &'a Extras) -> Self {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        self.hook = Some(HookRecord {
            max_ms: ms(extras.hook.max()),
            median_ms: ms(extras.hook.median()),
            wall_ms: extras.hook.samples.iter().copied().map(ms).collect(),
        });
        self.home_walk = Some(&extras.home_walk);
        self
    }
}

/// One size in `results.json`.
#[derive(Serialize)]
struct BenchRecord<'a> {
    commands: Vec<CommandRecord<'a>>,
    fixture: &'a FixtureSummary,
    live_archive_entries_stated: Option<usize>,
}

/// One probe at one size in `results.json`; times in milliseconds.
#[derive(Serialize)]
struct CommandRecord<'a> {
    command: Probe,
    cpu_ms: Vec<Option<f64>>,
    label: String,
    median_ms: f64,
    peak_rss_kib: Option<u64>,
    ratio_to_du: f64,
    syscalls: Option<&'a Syscalls>,
    wall_ms: Vec<f64>,
}

#[cfg(test)]
impl BenchResult {
    /// The `--quick` fixture at `factor`, with made-up runs: probe `i` of `Probe::ALL`
    /// took 30, 10 and 20 ms × `(i + 1)` × `factor`; only the dry run has syscall counts.
    pub(super) fn example(factor: usize) -> BenchResult {
        let base = Size {
            archives: 200,
            files: 20_000,
            venvs: 8,
            dead_percent: 10,
        };
        let size = base.scaled(factor);
        let fixture = super::fixture::Fixture::plan(size, std::path::Path::new("/nowhere"));
        let mut probes = Table::new();
        for (i, probe) in Probe::ALL.into_iter().enumerate() {
            let row = probes.row_mut(probe);
            row.samples = [30, 10, 20]
                .map(|ms| Sample {
                    wall: Duration::from_millis(ms * (i as u64 + 1) * factor as u64),
                    peak_rss_kib: probe.is_tool().then_some(ms),
                    cpu: None,
                    stdout: Vec::new(),
                })
                .to_vec();
        }
        probes.row_mut(Probe::DryRun).syscalls = Some(Syscalls {
            stats: 7,
            top: vec![("statx".into(), 5)],
            total: 9,
        });
        BenchResult {
            factor,
            size,
            fixture: fixture.summary(),
            reports: Vec::new(),
            removed_exactly_dead: true,
            live_stated: None,
            probes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_archive_counts_of_the_tool_report() {
        let stdout = br#"{"schema_version":1,"archives":{"total":200,"live":180,"dead":20,"bytes":5},"venvs":[]}"#;
        let report = ToolReport::parse(stdout).unwrap();
        assert_eq!(
            report,
            ToolReport {
                total: 200,
                live: 180,
                dead: 20
            }
        );
        let error = ToolReport::parse(br#"{"archives":{"total":1}}"#).unwrap_err();
        assert!(
            format!("{error:#}").contains("missing field `live`"),
            "{error:#}"
        );
    }

    /// The keys of `results.json`, each at its first appearance: the file's shape and order.
    const KEYS: [&str; 46] = [
        "benches",
        "commands",
        "command",
        "cpu_ms",
        "label",
        "median_ms",
        "peak_rss_kib",
        "ratio_to_du",
        "syscalls",
        "stat",
        "top",
        "total",
        "wall_ms",
        "fixture",
        "archives",
        "dead_archives",
        "dead_files",
        "dead_percent",
        "files",
        "files_per_archive",
        "max",
        "median",
        "p90",
        "with_20000_or_more",
        "layout_version",
        "live_files",
        "venv_dists",
        "venvs",
        "venvs_per_mode",
        "copy",
        "hardlink",
        "symlink",
        "live_archive_entries_stated",
        "checks",
        "detail",
        "name",
        "pass",
        "home_walk",
        "entries",
        "find_ms",
        "ratio",
        "tool_ms",
        "hook",
        "max_ms",
        "runs",
        "schema_version",
    ];

    #[test]
    fn results_json_keeps_its_keys_names_and_units() {
        let result = BenchResult::example(1);
        let checks = [Check {
            detail: "d".into(),
            name: "n".into(),
            pass: None,
        }];
        let extras = Extras {
            hook: HookResult {
                samples: [12, 30, 9].map(Duration::from_millis).to_vec(),
            },
            home_walk: HomeWalkRecord {
                entries: 300_000,
                find_ms: vec![100.0],
                ratio: 0.25,
                tool_ms: vec![25.0],
                venvs: 12,
            },
        };
        let results = [result];
        let file = ResultsFile::new(&results, &checks, 3).with_extras(&extras);
        let text = serde_json::to_string_pretty(&file).unwrap();

        let mut keys: Vec<&str> = Vec::new();
        for line in text.lines() {
            let key = line
                .trim_start()
                .strip_prefix('"')
                .and_then(|l| l.split_once("\": "));
            if let Some((key, _)) = key.filter(|(k, _)| !keys.contains(k)) {
                keys.push(key);
            }
        }
        assert_eq!(keys, KEYS);

        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let commands = json["benches"][0]["commands"].as_array().unwrap();
        let names: Vec<&str> = commands
            .iter()
            .map(|c| c["command"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "dry_run",
                "dry_run_1_thread",
                "du",
                "find_links_1",
                "floor",
                "apply",
                "rm_rf_dead",
                "df"
            ]
        );
        assert_eq!(commands[5]["label"], "uv-cache-prune --apply");
        assert_eq!(commands[0]["median_ms"], 20.0);
        assert_eq!(commands[2]["ratio_to_du"], 1.0);
        assert_eq!(commands[4]["ratio_to_du"], 100.0 / 60.0);
        assert_eq!(
            commands[0]["wall_ms"],
            serde_json::json!([30.0, 10.0, 20.0])
        );
        assert_eq!(commands[0]["cpu_ms"], serde_json::json!([null, null, null]));
        assert_eq!(commands[0]["peak_rss_kib"], 30);
        assert_eq!(commands[1]["peak_rss_kib"], 30);
        assert_eq!(commands[2]["peak_rss_kib"], serde_json::Value::Null);
        assert_eq!(
            commands[0]["syscalls"],
            serde_json::json!({"stat": 7, "top": [["statx", 5]], "total": 9})
        );
        assert_eq!(commands[1]["syscalls"], serde_json::Value::Null);

        // A probe that could not run here (no uv, no --threads) has no record.
        let mut result = BenchResult::example(1);
        result.probes.row_mut(Probe::Floor).samples.clear();
        let text = serde_json::to_string(&ResultsFile::new(&[result], &checks, 3)).unwrap();
        assert!(!text.contains("\"floor\""), "{text}");
        assert_eq!(json["benches"][0]["fixture"]["dead_archives"], 20);
        assert_eq!(json["checks"][0]["pass"], serde_json::Value::Null);
        assert_eq!(
            (json["runs"].clone(), json["schema_version"].clone()),
            (3.into(), 2.into())
        );
        assert_eq!(
            json["hook"],
            serde_json::json!({"max_ms": 30.0, "median_ms": 12.0, "wall_ms": [12.0, 30.0, 9.0]})
        );
        assert_eq!(json["home_walk"]["ratio"], 0.25);
    }
}
