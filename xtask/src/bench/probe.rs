//! The commands of the table: the tool, and the baselines it is measured against.

use std::fmt;

use serde::Serialize;

/// One command of the table. `Display` is its label in the table; the serde name is its
/// key in `results.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(super) enum Probe {
    /// The tool without `--apply`: what a git hook runs.
    #[serde(rename = "dry_run")]
    DryRun,
    /// The dry run on one thread (`--threads 1`), when the tool has the knob: what the
    /// parallel stages buy.
    #[serde(rename = "dry_run_1_thread")]
    DryRunOneThread,
    /// `du -s <cache>`: the cheapest thing that looks at every file.
    #[serde(rename = "du")]
    Du,
    /// `find archive-v0 -type f -links 1`: the link-count scan of uv issue 16008.
    #[serde(rename = "find_links_1")]
    Find,
    /// The job's floor: `uv cache prune` on the floor copy (it lists every bucket and
    /// archive, and there deletes nothing) plus `du -s` of just the dead archives (the
    /// bytes the tool must count).
    #[serde(rename = "floor")]
    Floor,
    /// The tool with `--apply`.
    #[serde(rename = "apply")]
    Apply,
    /// `rm -rf` of exactly the dead archives: the floor for deleting them.
    #[serde(rename = "rm_rf_dead")]
    Rm,
    /// `uv-cache-prune df --json`: the dry run, and beside it a walk of the whole cache.
    #[serde(rename = "df")]
    Df,
}

impl Probe {
    /// Table order; `Probe as usize` indexes it.
    pub(super) const ALL: [Probe; 8] = [
        Probe::DryRun,
        Probe::DryRunOneThread,
        Probe::Du,
        Probe::Find,
        Probe::Floor,
        Probe::Apply,
        Probe::Rm,
        Probe::Df,
    ];
    /// The probes that leave the fixture as it was, so need no restore.
    pub(super) const READ_ONLY: [Probe; 6] = [
        Probe::DryRun,
        Probe::DryRunOneThread,
        Probe::Du,
        Probe::Find,
        Probe::Floor,
        Probe::Df,
    ];

    /// The tool runs in its own HOME, and prints a report to read back.
    pub(super) fn is_tool(self) -> bool {
        matches!(
            self,
            Probe::DryRun | Probe::DryRunOneThread | Probe::Apply | Probe::Df
        )
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Probe::DryRun => "uv-cache-prune (dry run)",
            Probe::DryRunOneThread => "uv-cache-prune --threads 1 (dry run)",
            Probe::Du => "du -s <cache>",
            Probe::Find => "find archive-v0 -type f -links 1",
            Probe::Floor => "floor: uv cache prune + du -s <dead archives>",
            Probe::Apply => "uv-cache-prune --apply",
            Probe::Rm => "rm -rf <dead archives>",
            Probe::Df => "uv-cache-prune df",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order() {
        for (i, probe) in Probe::ALL.into_iter().enumerate() {
            assert_eq!(probe as usize, i, "{probe}");
        }
    }
}
