//! The human report: summary, candidates grouped by package (largest group first), then
//! why the rest is live.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::text::{count, safe, safe_path};
use super::{Candidate, Report, Status};
use crate::liveness::EvidenceKind;
use crate::units::human_bytes;

impl Report {
    /// The human report: summary, candidates grouped by package (largest group first),
    /// then why the rest is live.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "uv cache: {} (from {})",
            safe_path(&self.cache_dir),
            self.cache_source
        );
        match self.status {
            Status::Ok => {}
            Status::NoCache => {
                let _ = writeln!(out, "No cache there yet: nothing to prune.");
                return out;
            }
            Status::NoArchives => {
                let _ = writeln!(out, "No archives in the cache yet: nothing to prune.");
                return out;
            }
            Status::Busy => {
                let holder = match self.lock_holder {
                    Some("uv-cache-prune") => "another uv-cache-prune",
                    _ => "uv",
                };
                let _ = writeln!(out, "{holder} is using the cache: nothing was deleted.");
                return out;
            }
        }
        if let Some(locks) = &self.only_locked {
            let names = if locks.len() == 1 { "names" } else { "name" };
            let _ = writeln!(
                out,
                "Only locked: live is exactly what {} {names} (no venvs searched):",
                count(locks.len(), "lock file")
            );
            for lock in locks {
                let _ = writeln!(out, "  {}", safe_path(lock));
            }
        }
        let venvs: usize = self.roots.iter().map(|r| r.venvs).sum();
        let dirs: u64 = self.roots.iter().map(|r| r.dirs_searched).sum();
        if self.only_locked.is_none() {
            let _ = writeln!(
                out,
                "Searched {} ({dirs} {}), found {}:",
                count(self.roots.len(), "root"),
                if dirs == 1 {
                    "directory"
                } else {
                    "directories"
                },
                count(venvs, "venv")
            );
        }
        for root in &self.roots {
            let unreadable = match root.unreadable.len() {
                0 => String::new(),
                n => format!(", {} unreadable", count(n, "path")),
            };
            let unreadable = match root.not_searched.len() {
                0 => unreadable,
                n => format!("{unreadable}, {} not searched", count(n, "mount")),
            };
            let venvs = match root.locks {
                0 => count(root.venvs, "venv"),
                n => format!("{}, {}", count(root.venvs, "venv"), count(n, "lock")),
            };
            let _ = writeln!(out, "  {} ({venvs}{unreadable})", safe_path(&root.path));
        }
        let _ = writeln!(
            out,
            "{}: {} live, {} dead; {} reclaimable.",
            count(self.archives.total, "archive"),
            self.archives.live,
            self.archives.dead,
            human_bytes(self.reclaimable_bytes)
        );
        if let Some(removed) = self.removed_bytes {
            let _ = writeln!(
                out,
                "Removed {} and {}: {} freed (planned {}).",
                count(self.removed_archives.unwrap_or(0), "archive"),
                count(self.removed_pointers.unwrap_or(0), "pointer"),
                human_bytes(removed),
                human_bytes(self.reclaimable_bytes)
            );
        }
        if let Some(leftover) = self.leftover_trash {
            let _ = writeln!(
                out,
                "Also removed {} left by an interrupted run: {} freed.",
                count(leftover.entries, "trash dir"),
                human_bytes(leftover.bytes)
            );
        }
        if let Some(others) = self.others.as_ref().filter(|o| !o.candidates.is_empty()) {
            let buckets: Vec<String> = others
                .by_bucket
                .iter()
                .map(|(bucket, bytes)| format!("{} {}", safe(bucket), human_bytes(*bytes)))
                .collect();
            let _ = writeln!(
                out,
                "Beyond archive-v0: {} of leftovers and orphaned objects reclaimable ({}).",
                human_bytes(others.reclaimable_bytes),
                buckets.join(", ")
            );
            if let (Some(removed), Some(bytes)) = (others.removed, others.removed_bytes) {
                let _ = writeln!(
                    out,
                    "Removed {removed} {} beyond archive-v0: {} freed.",
                    if removed == 1 { "entry" } else { "entries" },
                    human_bytes(bytes)
                );
            }
        }
        if !self.candidates.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{:>10}  {:<28} {:<16} ARCHIVE",
                "SIZE", "PACKAGE", "VERSION"
            );
            for candidate in self.grouped_candidates() {
                let _ = writeln!(
                    out,
                    "{:>10}  {:<28} {:<16} {}",
                    human_bytes(candidate.bytes),
                    safe(candidate.name.as_deref().unwrap_or("(venv)")),
                    safe(candidate.version.as_deref().unwrap_or("-")),
                    candidate.id
                );
            }
        }
        let mut reasons: BTreeMap<EvidenceKind, usize> = BTreeMap::new();
        for live in &self.live {
            for kind in live.evidence.iter().map(|e| e.kind) {
                *reasons.entry(kind).or_default() += 1;
            }
        }
        if !reasons.is_empty() {
            let reasons: Vec<String> = reasons
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            let _ = writeln!(
                out,
                "\nLive because of: {} (--explain PACKAGE says which venv or lock).",
                reasons.join(", ")
            );
        }
        if let Some(venvs) = &self.venvs {
            let _ = writeln!(
                out,
                "\n{:>10}  {:<9} VENV (what deleting it frees)",
                "ALONE", "ARCHIVES"
            );
            for share in venvs {
                let _ = writeln!(
                    out,
                    "{:>10}  {:<9} {}",
                    human_bytes(share.bytes),
                    share.archives.len(),
                    safe_path(&share.venv)
                );
            }
        }
        if self.dry_run {
            let _ = writeln!(
                out,
                "\nDry run: nothing was deleted.{}",
                if self.candidates.is_empty() {
                    ""
                } else {
                    " Run again with --apply to delete the dead archives."
                }
            );
        }
        out
    }

    /// Candidates with the largest package first, each package's archives largest first.
    fn grouped_candidates(&self) -> Vec<&Candidate> {
        let mut totals: BTreeMap<Option<&str>, u64> = BTreeMap::new();
        for c in &self.candidates {
            *totals.entry(c.name.as_deref()).or_default() += c.bytes;
        }
        let mut rows: Vec<&Candidate> = self.candidates.iter().collect();
        rows.sort_by(|a, b| {
            let (ta, tb) = (totals[&a.name.as_deref()], totals[&b.name.as_deref()]);
            tb.cmp(&ta)
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| b.bytes.cmp(&a.bytes))
                .then_with(|| a.id.cmp(&b.id))
        });
        rows
    }
}
