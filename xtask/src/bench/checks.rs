//! The targets, each checked against ratios measured in the same run.

use super::markdown::{human, thousands};
use super::probe::Probe;
use super::results::{BenchResult, Check, Extras, ToolReport};

/// The shim's foreground cost per checkout, median.
const HOOK_MAX_MEDIAN_MS: f64 = 20.0;
/// The venv search of a home against `find <home> -name pyvenv.cfg`.
const HOME_WALK_MAX_RATIO_TO_FIND: f64 = 0.5;

impl Extras {
    pub(super) fn checks(&self) -> Vec<Check> {
        let hook_ms = self.hook.median().as_secs_f64() * 1000.0;
        vec![
            Check {
                name: format!("hook shim ≤ {HOOK_MAX_MEDIAN_MS} ms in the foreground (median)"),
                pass: Some(hook_ms <= HOOK_MAX_MEDIAN_MS),
                detail: format!(
                    "median {}, max {} over {} checkouts while the cache was locked",
                    human(self.hook.median()),
                    human(self.hook.max()),
                    self.hook.samples.len()
                ),
            },
            Check {
                name: format!("home walk ≤ {HOME_WALK_MAX_RATIO_TO_FIND} × find -name pyvenv.cfg"),
                pass: Some(self.home_walk.ratio <= HOME_WALK_MAX_RATIO_TO_FIND),
                detail: format!(
                    "{:.2} × on a home of {} entries",
                    self.home_walk.ratio,
                    thousands(self.home_walk.entries)
                ),
            },
        ]
    }
}

const DRY_RUN_MAX_RATIO_TO_DU: f64 = 0.25;
/// `df` (the dry run, and beside it a walk of the whole cache) against `du -s` (issue 22).
/// The walk is an `lstat` per entry like `du`'s (the dry run's candidates excepted, which
/// it takes from the dry run), so `df`'s CPU time is about `du`'s plus the dry run's, and
/// only threads bring its wall time under `du`'s: about half of it on two free cores.
/// On a machine whose cores are busy elsewhere, expect this check to fail; its detail
/// gives the CPU times too, which the load changes far less.
const DF_MAX_RATIO_TO_DU: f64 = 0.6;
/// The floor is what the job cannot avoid (list every bucket and archive, count the dead
/// archives' bytes): the dry run may cost no more.
const DRY_RUN_MAX_RATIO_TO_FLOOR: f64 = 1.0;
const APPLY_MAX_RATIO_TO_RM: f64 = 1.0;
/// At a million files.
const PEAK_RSS_MAX_MIB: f64 = 100.0;
/// "No full stat of live archives": the dry run may look at this share of their files at
/// most (a full stat is 100%; reading each archive's `METADATA` and `WHEEL` is about 1%).
const LIVE_STAT_MAX_SHARE: f64 = 0.10;
/// "Time per archive flat": at 4× it may cost this much more than at 1×.
const SCALING_MAX_DRIFT: f64 = 1.2;

impl BenchResult {
    /// Correctness first (the tool's counts, what `--apply` left), then the targets.
    pub(super) fn checks(&self) -> Vec<Check> {
        let size = format!("{} archives", thousands(self.size.archives as u64));
        let name = |what: &str| format!("[{size}] {what}");
        let fixture = &self.fixture;
        let expected = ToolReport {
            total: fixture.archives,
            live: fixture.archives - fixture.dead_archives,
            dead: fixture.dead_archives,
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
        let df = self.ratio(Probe::Df, Probe::Du);
        let cpu = |probe: Probe| self.probe(probe).median_cpu();
        let df_cpu = match (cpu(Probe::Df), cpu(Probe::Du)) {
            (Some(df), Some(du)) => format!(
                "; CPU time {} vs {}: {:.2} ×",
                human(df),
                human(du),
                df.as_secs_f64() / du.as_secs_f64()
            ),
            _ => String::new(),
        };
        checks.push(Check {
            name: name(&format!("df ≤ {DF_MAX_RATIO_TO_DU} × du -s")),
            pass: Some(df <= DF_MAX_RATIO_TO_DU),
            detail: versus(Probe::Df, Probe::Du, df) + &df_cpu,
        });
        let floor = self.ratio_if_measured(Probe::DryRun, Probe::Floor);
        checks.push(Check {
            name: name(&format!(
                "dry run ≤ {DRY_RUN_MAX_RATIO_TO_FLOOR} × the floor"
            )),
            pass: floor.map(|ratio| ratio <= DRY_RUN_MAX_RATIO_TO_FLOOR),
            detail: floor.map_or_else(
                || "needs the pinned uv".into(),
                |ratio| versus(Probe::DryRun, Probe::Floor, ratio),
            ),
        });
        if let Some(speedup) = self.ratio_if_measured(Probe::DryRunOneThread, Probe::DryRun) {
            // Not a target: what the parallel stages buy on this machine, for the record.
            checks.push(Check {
                name: name("all threads against one (dry run)"),
                pass: None,
                detail: format!(
                    "one thread vs all: {} (all threads {speedup:.2} × faster)",
                    versus(Probe::DryRunOneThread, Probe::DryRun, speedup)
                ),
            });
        }
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
        let live_files = fixture.live_files;
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
                    thousands(fixture.files),
                    thousands(fixture.dead_files),
                ),
                _ => "needs strace".into(),
            },
        });
        checks
    }
}

/// The dry run's time per archive at the largest size against the first (`--scaling`).
pub(super) fn scaling_check(results: &[BenchResult]) -> Option<Check> {
    let per_archive =
        |r: &BenchResult| r.probe(Probe::DryRun).median().as_secs_f64() / r.fixture.archives as f64;
    let (first, last) = (results.first()?, results.last()?);
    let (first, last) = (per_archive(first), per_archive(last));
    let drift = last / first;
    Some(Check {
        name: format!("scaling: dry run time per archive at 4× ≤ {SCALING_MAX_DRIFT} × at 1×"),
        pass: Some(drift <= SCALING_MAX_DRIFT),
        detail: format!(
            "{:.0} µs → {:.0} µs per archive: {drift:.2} ×",
            first * 1e6,
            last * 1e6
        ),
    })
}
