//! The Markdown the bench prints: the README's table per size, and the scaling table.

use std::fmt::Write as _;
use std::time::Duration;

use super::home::median;
use super::probe::Probe;
use super::results::{BenchResult, Extras};

impl Extras {
    /// The hook row and the home-walk row.
    pub(super) fn markdown(&self) -> String {
        let walk = &self.home_walk;
        let ms = |v: f64| human(Duration::from_secs_f64(v / 1000.0));
        format!(
            "\n### Hook and home walk\n\n\
             | row | measured |\n|---|---:|\n\
             | hook shim, foreground, {} checkouts with the cache locked | median {}, max {} |\n\
             | `uv-cache-prune --no-default-roots --root <home>` ({} entries, {} venvs) | {} |\n\
             | `find <home> -name pyvenv.cfg` | {} |\n\
             | home walk × find | {:.2} |\n",
            self.hook.samples.len(),
            human(self.hook.median()),
            human(self.hook.max()),
            thousands(walk.entries),
            walk.venvs,
            ms(median(&walk.tool_ms)),
            ms(median(&walk.find_ms)),
            walk.ratio,
        )
    }
}

impl BenchResult {
    /// The fixture in a sentence, then one row per probe and the most frequent syscalls.
    pub(super) fn markdown(&self) -> String {
        let f = &self.fixture;
        let per_archive = &f.files_per_archive;
        let modes = &f.venvs_per_mode;
        let mut out = format!(
            "\n### {} archives ({} dead), {} files, {} venvs\n\n",
            thousands(f.archives),
            thousands(f.dead_archives),
            thousands(f.files),
            f.venvs,
        );
        // Writing to a `String` cannot fail: the `fmt::Result`s below are always `Ok`.
        let _ = writeln!(
            out,
            "Files per archive: median {}, 90th percentile {}, max {} ({} with 20,000 or more). \
             Venvs: {} hardlink, {} symlink, {} copy, holding {} dists. \
             The dead archives hold {} files, the live ones {}.\n",
            per_archive.median,
            per_archive.p90,
            thousands(per_archive.max),
            per_archive.with_20000_or_more,
            modes.hardlink,
            modes.symlink,
            modes.copy,
            thousands(f.venv_dists),
            thousands(f.dead_files),
            thousands(f.live_files),
        );
        out += "| command | median wall | × du -s | syscalls | stat calls | peak RSS |\n";
        out += "|---|---:|---:|---:|---:|---:|\n";
        for result in self.probes.rows() {
            let (calls, stats) = match &result.syscalls {
                Some(s) => (thousands(s.total), thousands(s.stats)),
                None => ("n/a".into(), "n/a".into()),
            };
            let rss = result
                .peak_rss_mib()
                .map_or_else(|| "n/a".into(), |mib| format!("{mib:.1} MiB"));
            let _ = writeln!(
                out,
                "| `{}` | {} | {:.2} | {calls} | {stats} | {rss} |",
                result.probe,
                human(result.median()),
                self.ratio(result.probe, Probe::Du),
            );
        }
        for probe in [Probe::DryRun, Probe::Apply] {
            if let Some(syscalls) = &self.probe(probe).syscalls {
                let top: Vec<String> = syscalls
                    .top
                    .iter()
                    .map(|(name, calls)| format!("{name} {}", thousands(*calls)))
                    .collect();
                let _ = write!(
                    out,
                    "\nMost frequent syscalls of `{probe}`: {}.",
                    top.join(", ")
                );
            }
        }
        out
    }
}

/// Time per archive at each size: the dry run and `du -s` per archive; `--apply` per dead
/// file, since which archives are dead (a 50,000-file one or not) is up to the draw.
pub(super) fn scaling_markdown(results: &[BenchResult]) -> String {
    let mut out = String::from(
        "\n### Scaling\n\n\
         | size | archives | files | dry run | per archive | peak RSS | du -s | per archive | --apply | per dead file |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for result in results {
        let median = |probe: Probe| result.probe(probe).median();
        let per = |probe: Probe, n: u64| {
            format!(
                "{:.0} µs",
                median(probe).as_secs_f64() * 1e6 / n.max(1) as f64
            )
        };
        let (archives, dead_files) = (result.fixture.archives, result.fixture.dead_files);
        let _ = writeln!(
            out,
            "| {}× | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            result.factor,
            thousands(archives),
            thousands(result.fixture.files),
            human(median(Probe::DryRun)),
            per(Probe::DryRun, archives),
            result
                .probe(Probe::DryRun)
                .peak_rss_mib()
                .map_or_else(|| "n/a".into(), |mib| format!("{mib:.1} MiB")),
            human(median(Probe::Du)),
            per(Probe::Du, archives),
            human(median(Probe::Apply)),
            per(Probe::Apply, dead_files),
        );
    }
    out
}

/// Seconds above one second, milliseconds below.
pub(super) fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else {
        format!("{:.1} ms", secs * 1000.0)
    }
}

/// `1234567` as `1,234,567`.
pub(super) fn thousands(n: u64) -> String {
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
    fn spells_counts_and_times_as_the_readme_table_does() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(human(Duration::from_micros(23_190)), "23.2 ms");
        assert_eq!(human(Duration::from_millis(2_346)), "2.35 s");
    }

    #[test]
    fn scaling_table_has_a_row_per_size_with_its_factor() {
        let results = [BenchResult::example(1), BenchResult::example(2)];
        let table = scaling_markdown(&results);
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(rows.len(), 3, "{table}");
        assert_eq!(
            rows[1],
            "| 1× | 200 | 20,000 | 20.0 ms | 100 µs | 0.0 MiB | 60.0 ms | 300 µs | 120.0 ms | 75 µs |"
        );
        assert!(
            rows[2].starts_with(
                "| 2× | 400 | 40,000 | 40.0 ms | 100 µs | 0.0 MiB | 120.0 ms | 300 µs |"
            ),
            "{}",
            rows[2]
        );
        let check = super::super::checks::scaling_check(&results).unwrap();
        assert_eq!(check.pass, Some(true));
        assert_eq!(check.detail, "100 µs → 100 µs per archive: 1.00 ×");

        // At 4×, a dry run twice as slow per archive: the check compares 1× with 4×.
        let mut slow = BenchResult::example(4);
        for sample in &mut slow.probes.row_mut(Probe::DryRun).samples {
            sample.wall *= 2;
        }
        let results = [BenchResult::example(1), BenchResult::example(2), slow];
        let check = super::super::checks::scaling_check(&results).unwrap();
        assert_eq!(check.pass, Some(false));
        assert_eq!(check.detail, "100 µs → 200 µs per archive: 2.00 ×");
    }

    #[test]
    fn table_rows_follow_probe_order_with_labels() {
        let table = BenchResult::example(1).markdown();
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(
            rows,
            [
                "| `uv-cache-prune (dry run)` | 20.0 ms | 0.33 | 9 | 7 | 0.0 MiB |",
                "| `uv-cache-prune --threads 1 (dry run)` | 40.0 ms | 0.67 | n/a | n/a | 0.0 MiB |",
                "| `du -s <cache>` | 60.0 ms | 1.00 | n/a | n/a | n/a |",
                "| `find archive-v0 -type f -links 1` | 80.0 ms | 1.33 | n/a | n/a | n/a |",
                "| `floor: uv cache prune + du -s <dead archives>` | 100.0 ms | 1.67 | n/a | n/a | n/a |",
                "| `uv-cache-prune --apply` | 120.0 ms | 2.00 | n/a | n/a | 0.0 MiB |",
                "| `rm -rf <dead archives>` | 140.0 ms | 2.33 | n/a | n/a | n/a |",
                "| `uv-cache-prune df` | 160.0 ms | 2.67 | n/a | n/a | 0.0 MiB |",
            ]
        );
        assert!(table.contains("Venvs: 3 hardlink, 3 symlink, 2 copy, holding 222 dists."));
        assert!(
            table.ends_with("\nMost frequent syscalls of `uv-cache-prune (dry run)`: statx 5.")
        );
    }
}
