//! The human report, in the order a person reads it: where, what was searched, what goes
//! (one row per package), why the rest stays (in use, held back by a policy, kept out of
//! doubt), and last the result line: what was or would be freed, the line a terminal
//! keeps on screen.
//!
//! On a terminal the removable table is one row per package and stops at a screenful
//! (`--all` lists every archive); piped, every archive is listed, each package's
//! archives together under a row with the package's total.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::text::{count, safe, safe_path};
use super::view::{Verbosity, View, wrap};
use super::{Candidate, Keeping, Report, Status};
use crate::evidence::EvidenceKind;
use crate::units::human_bytes;

/// One package's removable archives.
struct Group<'a> {
    name: Option<&'a str>,
    bytes: u64,
    /// Sorted by version.
    archives: Vec<&'a Candidate>,
}

impl Report {
    /// The human report as a pipe gets it (every archive, lines whole, no colour).
    pub fn to_human(&self) -> String {
        self.to_human_with(&View::default())
    }

    /// The human report for `view`.
    pub(crate) fn to_human_with(&self, view: &View) -> String {
        let mut out = String::new();
        let result = self.result_lines(view);
        if view.verbosity == Verbosity::Quiet {
            return result;
        }
        let _ = writeln!(
            out,
            "uv cache: {} (from {})",
            safe_path(&self.cache_dir),
            self.cache_source
        );
        if self.status != Status::Ok {
            return out + &result;
        }
        self.searched(&mut out);
        let mut after = String::new();
        self.kept(&mut after, view);
        self.per_venv(&mut after);
        let _ = writeln!(after);
        after += &self.count_line(view);
        after += &result;
        if !self.candidates.is_empty() {
            let _ = writeln!(out);
            // A screenful: what is above and below the table stays on screen with it.
            let budget = view.rows.filter(|_| !view.all).map(|rows| {
                let others = out.lines().count() + after.lines().count() + 3;
                rows.saturating_sub(others).max(3)
            });
            self.table(&mut out, view, budget);
        }
        out + &after
    }

    /// The roots searched (or the lock files that alone say what is live).
    fn searched(&self, out: &mut String) {
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
            return;
        }
        let venvs: usize = self.roots.iter().map(|r| r.venvs).sum();
        let dirs: u64 = self.roots.iter().map(|r| r.dirs_searched).sum();
        let environments = match self.environments.len() {
            0 => String::new(),
            n => format!(" and {}", count(n, "cached environment")),
        };
        let _ = writeln!(
            out,
            "Searched {} ({dirs} {}), found {}{environments}:",
            count(self.roots.len(), "root"),
            if dirs == 1 {
                "directory"
            } else {
                "directories"
            },
            count(venvs, "venv")
        );
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
        self.environment_buckets(out);
    }

    /// One line per `environments-v*` bucket: how many cached environments, of which
    /// kind, and how many this run removes (`--unused-for`).
    fn environment_buckets(&self, out: &mut String) {
        let mut buckets: BTreeMap<std::path::PathBuf, Vec<&super::Environment>> = BTreeMap::new();
        for env in &self.environments {
            let named = env.link.as_deref().unwrap_or(&env.path);
            let bucket = named
                .strip_prefix(&self.cache_dir)
                .ok()
                .and_then(|rest| rest.components().next())
                .map_or_else(
                    || named.parent().unwrap_or(named).to_owned(),
                    |bucket| self.cache_dir.join(bucket),
                );
            buckets.entry(bucket).or_default().push(env);
        }
        for (bucket, envs) in buckets {
            let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
            for env in &envs {
                *kinds.entry(env.kind.to_string()).or_default() += 1;
            }
            let kinds: Vec<String> = kinds
                .iter()
                .map(|(kind, n)| match (kind.as_str(), n) {
                    ("uvx / uv run --with", n) => format!("{n} for {kind}"),
                    (_, 1) => format!("1 for a {kind}"),
                    (_, n) => format!("{n} for {kind}s"),
                })
                .collect();
            let stale = match envs.iter().filter(|e| e.stale).count() {
                0 => String::new(),
                n => format!("; {n} unused for --unused-for"),
            };
            let _ = writeln!(
                out,
                "  {} ({}: {}{stale})",
                safe_path(&bucket),
                count(envs.len(), "cached environment"),
                kinds.join(", ")
            );
        }
    }

    /// `N archives: A in use, B held back, C removable; X reclaimable.`
    fn count_line(&self, view: &View) -> String {
        let a = &self.archives;
        let denied = self.kept_for_permission();
        let doubt = match a.in_doubt.saturating_sub(denied) {
            0 => String::new(),
            n => format!("{n} kept in doubt, "),
        };
        let doubt = match denied {
            0 => doubt,
            n => format!("{doubt}{n} not removed (permission denied), "),
        };
        let text = format!(
            "{}: {} in use, {} held back, {doubt}{} removable; {} reclaimable.",
            count(a.total, "archive"),
            a.in_use,
            a.held_back,
            a.removable,
            human_bytes(self.reclaimable_bytes)
        );
        format!("{}\n", wrap(&text, view.width, 2))
    }

    /// An `--apply` the filesystem stopped short: what was deleted (or that nothing
    /// was), what was kept, and what to do.
    fn incomplete_lines(&self, out: &mut String, incomplete: &super::Incomplete, view: &View) {
        let kept = count(incomplete.kept_archives, "archive");
        let text = if incomplete.deleted_anything {
            format!(
                "Removed {} and {}: {} freed; then permission denied: {kept} kept whole.",
                count(self.removed_archives.unwrap_or(0), "archive"),
                count(self.removed_pointers.unwrap_or(0), "pointer"),
                human_bytes(self.removed_bytes.unwrap_or(0)),
            )
        } else {
            format!("Nothing was deleted: permission denied; {kept} kept whole.")
        };
        let _ = writeln!(out, "{}", view.yellow(&wrap(&text, view.width, 2)));
        let _ = writeln!(out, "To finish the prune:");
        for line in &incomplete.what_to_do {
            let _ = writeln!(out, "{}", wrap(&format!("  {}", safe(line)), view.width, 4));
        }
    }

    /// What was or would be freed: the last lines, and all that `-q` prints.
    fn result_lines(&self, view: &View) -> String {
        let mut out = String::new();
        match self.status {
            Status::Ok => {}
            Status::NoCache => return "No cache there yet: nothing to prune.\n".into(),
            Status::NoArchives => {
                return "No archives in the cache yet: nothing to prune.\n".into();
            }
            Status::Busy => {
                let holder = match self.lock_holder {
                    Some(crate::report::LockHolder::UvCachePrune) => "another uv-cache-prune",
                    _ => "uv",
                };
                return format!("{holder} is using the cache: nothing was deleted.\n");
            }
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
            let text = match (others.removed, others.removed_bytes) {
                (Some(removed), Some(bytes)) => format!(
                    "Removed {} beyond archive-v0 ({}): {} freed.",
                    if removed == 1 {
                        "1 entry".to_owned()
                    } else {
                        format!("{removed} entries")
                    },
                    buckets.join(", "),
                    human_bytes(bytes)
                ),
                _ => format!(
                    "Beyond archive-v0, --apply would also free {} ({}): leftovers, built sdists, index pages, stale environments, orphaned objects.",
                    human_bytes(others.reclaimable_bytes),
                    buckets.join(", ")
                ),
            };
            let _ = writeln!(out, "{}", wrap(&text, view.width, 2));
        }
        if let Some(incomplete) = &self.incomplete {
            self.incomplete_lines(&mut out, incomplete, view);
        } else if let Some(removed) = self.removed_bytes {
            let text = format!(
                "Removed {} and {}: {} freed (planned {}).",
                count(self.removed_archives.unwrap_or(0), "archive"),
                count(self.removed_pointers.unwrap_or(0), "pointer"),
                human_bytes(removed),
                human_bytes(self.reclaimable_bytes)
            );
            let _ = writeln!(out, "{}", view.green(&wrap(&text, view.width, 2)));
        }
        if self.dry_run {
            let text = if self.candidates.is_empty() {
                "Dry run: nothing was deleted, and --apply would remove nothing.".to_owned()
            } else {
                format!(
                    "Dry run: nothing was deleted. --apply would remove {} and free {}.",
                    count(self.candidates.len(), "archive"),
                    human_bytes(self.reclaimable_bytes)
                )
            };
            let _ = writeln!(out, "{}", view.bold(&wrap(&text, view.width, 2)));
        }
        out
    }

    /// Why the kept archives are kept: in use (by which evidence), held back (by which
    /// policy, with bytes and what releases them), kept out of doubt.
    fn kept(&self, out: &mut String, view: &View) {
        let mut in_use: BTreeMap<EvidenceKind, usize> = BTreeMap::new();
        let mut doubts: BTreeMap<EvidenceKind, usize> = BTreeMap::new();
        for live in &self.live {
            let keeping = live.keeping();
            for kind in live.evidence.iter().map(|e| e.kind) {
                match keeping {
                    Keeping::InUse if kind.is_use() => *in_use.entry(kind).or_default() += 1,
                    Keeping::InDoubt if super::policy_of(kind).is_none() => {
                        *doubts.entry(kind).or_default() += 1;
                    }
                    _ => {}
                }
            }
        }
        let listed = |reasons: &BTreeMap<EvidenceKind, usize>| {
            let parts: Vec<String> = reasons.iter().map(|(k, n)| format!("{n} {k}")).collect();
            parts.join(", ")
        };
        let mut para = |text: String| {
            let _ = writeln!(out, "{}", wrap(&text, view.width, 2));
        };
        if self.archives.in_use > 0 {
            para(format!(
                "\nIn use: {} ({}; --explain PACKAGE says which venv, environment or lock).",
                count(self.archives.in_use, "archive"),
                listed(&in_use)
            ));
        }
        if self.archives.held_back > 0 {
            let mut text = format!(
                "\nHeld back, not in use: {}",
                count(self.archives.held_back, "archive")
            );
            for (policy, held) in &self.held_back {
                text += &format!(
                    "; {} ({}) by {policy}: {} releases them",
                    held.archives,
                    human_bytes(held.bytes),
                    held.release
                );
            }
            para(view.yellow(&(text + ".")));
        }
        // Kept only because `--apply` may not remove them: not a doubt about use.
        doubts.remove(&EvidenceKind::PermissionDenied);
        let denied = self.kept_for_permission();
        let in_doubt = self.archives.in_doubt.saturating_sub(denied);
        if in_doubt > 0 {
            para(format!(
                "\nKept in doubt (nothing was seen using them, but something could): {} ({}; \
                 the warnings say what to check).",
                count(in_doubt, "archive"),
                listed(&doubts)
            ));
        }
        if denied > 0 {
            para(format!(
                "\nNot removed, permission denied: {} (kept whole; the last lines say what to do).",
                count(denied, "archive")
            ));
        }
    }

    /// Candidates `--apply` kept only because it may not remove them.
    fn kept_for_permission(&self) -> usize {
        self.live
            .iter()
            .filter(|l| {
                !l.evidence.is_empty()
                    && l.evidence
                        .iter()
                        .all(|e| e.kind == EvidenceKind::PermissionDenied)
            })
            .count()
    }

    /// `--per-venv`: what each venv alone keeps alive.
    fn per_venv(&self, out: &mut String) {
        let Some(venvs) = &self.venvs else { return };
        let _ = writeln!(
            out,
            "\n{:>10}  {:<9} VENV (what deleting it frees)",
            "ALONE", "ARCHIVES"
        );
        for share in venvs {
            // A venv's archives that a uv.lock also keeps are not its alone: say so, or
            // `0 B` reads as "this venv uses nothing".
            let locked = self
                .live
                .iter()
                .filter(|live| {
                    live.evidence
                        .iter()
                        .any(|e| e.venv.as_ref() == Some(&share.venv))
                        && live
                            .evidence
                            .iter()
                            .any(|e| e.kind == EvidenceKind::Lockfile)
                })
                .count();
            let note = match locked {
                0 => String::new(),
                n => format!(" ({} also kept by uv.lock)", count(n, "archive")),
            };
            let _ = writeln!(
                out,
                "{:>10}  {:<9} {}{note}",
                human_bytes(share.bytes),
                share.archives.len(),
                safe_path(&share.venv)
            );
        }
    }

    /// The removable archives: a row per package (at most `budget` rows), or, with no
    /// budget, every archive under its package's row.
    fn table(&self, out: &mut String, view: &View, budget: Option<usize>) {
        let groups = self.groups();
        let Some(budget) = budget else {
            let _ = writeln!(
                out,
                "{}",
                view.bold(&format!(
                    "{:>10}  {:<28} {:<16} ARCHIVE",
                    "SIZE", "PACKAGE", "VERSION"
                ))
            );
            for group in &groups {
                let name = safe(group.name.unwrap_or("(venv)"));
                let [only] = group.archives.as_slice() else {
                    let _ = writeln!(
                        out,
                        "{:>10}  {name:<28} {} (total)",
                        human_bytes(group.bytes),
                        count(group.archives.len(), "archive")
                    );
                    for archive in &group.archives {
                        let _ = writeln!(
                            out,
                            "{:>10}    {name:<26} {:<16} {}",
                            human_bytes(archive.bytes),
                            safe(archive.version.as_deref().unwrap_or("-")),
                            view.dim(archive.id.as_str())
                        );
                    }
                    continue;
                };
                let _ = writeln!(
                    out,
                    "{:>10}  {name:<28} {:<16} {}",
                    human_bytes(only.bytes),
                    safe(only.version.as_deref().unwrap_or("-")),
                    view.dim(only.id.as_str())
                );
            }
            return;
        };
        let _ = writeln!(
            out,
            "{}",
            view.bold(&format!(
                "{:>10}  {:<28} {:>8}  VERSIONS",
                "SIZE", "PACKAGE", "ARCHIVES"
            ))
        );
        // The header, the size, name and count columns: what is left is for versions.
        let room = view.width.saturating_sub(10 + 2 + 28 + 1 + 8 + 2).max(10);
        let shown = if groups.len() > budget {
            budget.saturating_sub(1).max(1)
        } else {
            groups.len()
        };
        for group in &groups[..shown] {
            let versions: Vec<String> = group
                .archives
                .iter()
                .map(|a| safe(a.version.as_deref().unwrap_or("-")).to_string())
                .collect();
            let _ = writeln!(
                out,
                "{:>10}  {:<28} {:>8}  {}",
                human_bytes(group.bytes),
                safe(group.name.unwrap_or("(venv)")),
                group.archives.len(),
                fit(&versions.join(", "), room)
            );
        }
        let rest = &groups[shown..];
        if !rest.is_empty() {
            let text = format!(
                "... and {} more {} ({}): --all lists every archive",
                rest.len(),
                if rest.len() == 1 {
                    "package"
                } else {
                    "packages"
                },
                human_bytes(rest.iter().map(|g| g.bytes).sum())
            );
            let _ = writeln!(out, "{}", wrap(&text, view.width, 4));
        }
    }

    /// The candidates by package, the largest package first, each package's archives
    /// by version.
    fn groups(&self) -> Vec<Group<'_>> {
        let mut by_name: BTreeMap<Option<&str>, Vec<&Candidate>> = BTreeMap::new();
        for candidate in &self.candidates {
            by_name
                .entry(candidate.name.as_deref())
                .or_default()
                .push(candidate);
        }
        let mut groups: Vec<Group<'_>> = by_name
            .into_iter()
            .map(|(name, mut archives)| {
                archives.sort_by(|a, b| {
                    compare_versions(a.version.as_deref(), b.version.as_deref())
                        .then_with(|| a.id.cmp(&b.id))
                });
                Group {
                    name,
                    bytes: archives.iter().map(|a| a.bytes).sum(),
                    archives,
                }
            })
            .collect();
        groups.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        groups
    }
}

/// `text` cut to `room` characters, with an ellipsis when cut.
fn fit(text: &str, room: usize) -> String {
    if text.chars().count() <= room {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(room.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// One piece of a version, in the order PEP 440 puts them at the same place: a
/// pre-release tag (`dev` first, then `a`, `b`, `rc`), the end, a `post` tag, a number.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Piece {
    Pre(u8, String),
    End,
    Post,
    Number(u128),
}

fn pieces(version: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut chars = version.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut digits = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(d);
                chars.next();
            }
            out.push(Piece::Number(digits.parse().unwrap_or(u128::MAX)));
        } else if c.is_alphabetic() {
            let mut word = String::new();
            while let Some(&w) = chars.peek().filter(|w| w.is_alphabetic()) {
                word.extend(w.to_lowercase());
                chars.next();
            }
            out.push(match word.as_str() {
                "post" | "rev" | "r" => Piece::Post,
                "dev" => Piece::Pre(0, word),
                _ => Piece::Pre(1, word),
            });
        } else {
            chars.next();
        }
    }
    out.push(Piece::End);
    out
}

/// Versions compared as PEP 440 roughly does: numbers as numbers (`1.10` after `1.9`),
/// pre-releases before the release (`1.0rc1` before `1.0`); an unknown version last.
pub(super) fn compare_versions(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => pieces(a).cmp(&pieces(b)).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::compare_versions;

    #[test]
    fn versions_sort_as_versions() {
        let mut versions = vec![
            "1.10",
            "1.9",
            "1.0",
            "1.0rc1",
            "1.0.post1",
            "1.0a2",
            "1.0.dev0",
            "2",
            "1.0.1",
        ];
        versions.sort_by(|a, b| compare_versions(Some(a), Some(b)));
        assert_eq!(
            versions,
            [
                "1.0.dev0",
                "1.0a2",
                "1.0rc1",
                "1.0",
                "1.0.post1",
                "1.0.1",
                "1.9",
                "1.10",
                "2"
            ]
        );
    }
}
