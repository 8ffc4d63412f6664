//! `--explain PACKAGE_OR_ID`: every archive of a package (or one archive) with every
//! reason it is kept, or the policy that removes it.

use std::fmt::Write as _;

use serde::Serialize;

use super::text::{safe, safe_path};
use super::{EvidenceJson, Report, epoch_secs, name_of};
use crate::cache::archive_id::ArchiveId;
use crate::plan::{Fate, Plan, Selection};
use crate::units::human_bytes;

/// One archive as `--explain` shows it.
#[derive(Debug, Serialize)]
#[non_exhaustive]
pub struct Explained {
    /// Its directory name in `archive-v0`.
    pub id: ArchiveId,
    /// Its package, when it is a wheel.
    pub name: Option<String>,
    /// Its version, when it is a wheel.
    pub version: Option<String>,
    /// `keep` or `remove`.
    pub fate: &'static str,
    /// For `remove`: the policy that selected it, and the bytes it frees.
    pub policy: Option<Selection>,
    /// For `remove`: the bytes it frees.
    pub bytes: Option<u64>,
    /// When it was last used, in seconds since 1970, if known.
    pub last_use: Option<u64>,
    /// For `keep`: every reason.
    pub evidence: Vec<EvidenceJson>,
}

/// Every archive of the package `query` names (or the archive with that id).
pub fn explain(plan: &Plan, query: &str) -> Vec<Explained> {
    let package = crate::cache::dist::PackageName::new(query);
    plan.archives
        .iter()
        .filter(|a| a.id.as_str() == query || a.name.as_ref() == Some(&package))
        .map(|archive| {
            let (fate, policy, bytes, evidence) = match &archive.fate {
                Fate::Remove { bytes, selection } => {
                    ("remove", Some(*selection), Some(*bytes), &[][..])
                }
                Fate::Keep(evidence) => ("keep", None, None, evidence.as_slice()),
            };
            Explained {
                id: archive.id.clone(),
                name: name_of(archive),
                version: archive.version.clone(),
                fate,
                policy,
                bytes,
                last_use: epoch_secs(archive.last_use),
                evidence: evidence.iter().map(EvidenceJson::of).collect(),
            }
        })
        .collect::<Vec<_>>()
        .tap_sort()
}

/// Sorting in place and handing the vector on.
trait TapSort {
    fn tap_sort(self) -> Self;
}

impl TapSort for Vec<Explained> {
    /// By version (`1.9` before `1.10`), then by id: the order a person looks for.
    fn tap_sort(mut self) -> Self {
        self.sort_by(|a, b| {
            super::human::compare_versions(a.version.as_deref(), b.version.as_deref())
                .then_with(|| a.id.cmp(&b.id))
        });
        self
    }
}

impl Report {
    /// The `--explain` view as a pipe gets it.
    pub fn to_explanation(&self) -> String {
        self.to_explanation_with(&super::View::default())
    }

    /// The `--explain` view: each matching archive, by version, with every reason; in a
    /// dry run, what `--apply` would do with it.
    pub(crate) fn to_explanation_with(&self, view: &super::View) -> String {
        let explained = self.explain.as_deref().unwrap_or_default();
        let mut out = String::new();
        if explained.is_empty() {
            let _ = writeln!(
                out,
                "No archive in {} matches that package or id.",
                safe_path(&self.cache_dir)
            );
        }
        for archive in explained {
            let last_use = archive.last_use.map_or_else(
                || "unknown".to_owned(),
                |secs| {
                    std::time::UNIX_EPOCH
                        .checked_add(std::time::Duration::from_secs(secs))
                        .map_or_else(
                            || format!("{secs} seconds after 1970"),
                            crate::state::rfc3339,
                        )
                },
            );
            let what = match (&archive.name, &archive.version) {
                (Some(name), version) => {
                    format!("{} {}", safe(name), safe(version.as_deref().unwrap_or("-")))
                }
                // A venv archive: a `uvx` / `uv run --with` environment, named by what it holds.
                (None, _) => self
                    .environments
                    .iter()
                    .find(|env| env.path.file_name() == Some(archive.id.as_str().as_ref()))
                    .map_or_else(|| "(venv) -".to_owned(), super::Environment::describe),
            };
            let _ = writeln!(out, "{what} (archive {}), last used {last_use}", archive.id);
            match (archive.fate, archive.policy, archive.bytes) {
                ("remove", Some(policy), Some(bytes)) => {
                    let why = match policy {
                        Selection::Dead => "nothing uses it".to_owned(),
                        Selection::UnusedFor => "nothing uses it, and it is unused for longer than --unused-for".to_owned(),
                        Selection::MaxSize => "nothing uses it, and the cache is over --max-size (least recently used go first)".to_owned(),
                    };
                    let text = if self.dry_run {
                        format!(
                            "  --apply would remove it ({why}; policy {policy}), freeing {}",
                            human_bytes(bytes)
                        )
                    } else {
                        format!(
                            "  removed ({why}; policy {policy}): {} freed",
                            human_bytes(bytes)
                        )
                    };
                    let _ = writeln!(out, "{}", super::wrap(&text, view.width, 4));
                }
                _ => {
                    let kinds = archive.evidence.iter().map(|e| e.kind);
                    let heading = match super::Keeping::of(kinds) {
                        super::Keeping::InUse => "  in use, kept:".to_owned(),
                        super::Keeping::InDoubt => {
                            "  kept in doubt (nothing was seen using it, but something could):"
                                .to_owned()
                        }
                        super::Keeping::HeldBack => {
                            let releases: Vec<&str> = archive
                                .evidence
                                .iter()
                                .filter_map(|e| super::policy_of(e.kind).map(|(_, r)| r))
                                .collect();
                            format!(
                                "  not in use, held back by policy ({} releases it):",
                                releases.join(" and ")
                            )
                        }
                    };
                    let _ = writeln!(out, "{}", super::wrap(&heading, view.width, 4));
                    for line in self.evidence_lines(archive) {
                        let _ = writeln!(out, "{line}");
                    }
                }
            }
        }
        out
    }

    /// One line per reason, and one per venv or environment, not per file or kind: a
    /// symlink venv has a link for every file of a package.
    fn evidence_lines(&self, archive: &Explained) -> Vec<String> {
        let mut lines = Vec::new();
        let mut seen: Vec<&std::path::Path> = Vec::new();
        for evidence in &archive.evidence {
            let Some(holder) = evidence.venv.as_deref() else {
                lines.push(self.evidence_line(archive, evidence));
                continue;
            };
            if seen.contains(&holder) {
                continue;
            }
            seen.push(holder);
            let same: Vec<&EvidenceJson> = archive
                .evidence
                .iter()
                .filter(|e| e.venv.as_deref() == Some(holder))
                .collect();
            let mut kinds: Vec<String> = Vec::new();
            for e in &same {
                let kind = e.kind.to_string();
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            let mut line = format!("    {} {}", kinds.join(", "), self.place(holder));
            match (same.len(), kinds.len()) {
                (1, _) => {
                    if let Some(path) = evidence.path.as_deref().filter(|p| *p != holder) {
                        line += &format!(" {}", safe_path(path));
                    }
                    if let Some(detail) = &evidence.detail {
                        line += &format!(" ({})", safe(detail));
                    }
                }
                (files, 1) => line += &format!(" ({files} files)"),
                _ => {}
            }
            lines.push(line);
        }
        lines
    }

    /// The line of a reason that comes from no venv or environment of its own.
    fn evidence_line(&self, archive: &Explained, evidence: &EvidenceJson) -> String {
        let mut line = format!("    {}", evidence.kind);
        if let Some(path) = &evidence.path {
            // The environment this archive is: its link is enough.
            let own_link = self.environments.iter().any(|env| {
                env.link.as_deref() == Some(path.as_path())
                    && env.path.file_name() == Some(archive.id.as_str().as_ref())
            });
            if own_link {
                line += &format!(" link {}", safe_path(path));
            } else {
                line += &format!(" {}", self.place(path));
            }
        }
        if let Some(detail) = &evidence.detail {
            line += &format!(" ({})", safe(detail));
        }
        line
    }

    /// A venv or file, named as a person knows it: a cached environment (a PEP 723
    /// script's, `uv run --with`'s, `uvx`'s) by what uv records of it, with its path in
    /// `environments-v*`.
    fn place(&self, path: &std::path::Path) -> String {
        if let Some(env) = self
            .environments
            .iter()
            .find(|env| env.path == path || env.link.as_deref() == Some(path))
        {
            let shown = env.link.as_deref().unwrap_or(&env.path);
            return format!("{} ({})", env.describe(), safe_path(shown));
        }
        // Not surveyed (a run that consults no environment): named by its directory.
        let Ok(rest) = path.strip_prefix(&self.cache_dir) else {
            return safe_path(path).to_string();
        };
        let mut parts = rest.components();
        match (parts.next(), parts.next()) {
            (Some(bucket), Some(env))
                if bucket
                    .as_os_str()
                    .to_string_lossy()
                    .starts_with("environments-v") =>
            {
                format!(
                    "cached environment {} ({})",
                    super::safe_os(env.as_os_str()),
                    safe_path(path)
                )
            }
            _ => safe_path(path).to_string(),
        }
    }
}
