//! Stage 7: the report. Built once as a value (so `--json` and the human table cannot
//! disagree), then rendered. JSON follows the versioned schema in `DESIGN.md`; fields
//! marked "extension" there are additions that do not break schema 1 readers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bytesize::ByteSize;
use serde::Serialize;

use crate::archive_id::ArchiveId;
use crate::discover::{MountClass, RootOrigin, RootScan};
use crate::liveness::{Evidence, EvidenceKind};
use crate::locate::CacheSource;
use crate::per_venv::VenvShare;
use crate::plan::{ArchivePlan, Fate, Plan, Selection};

pub const SCHEMA_VERSION: u32 = 1;

/// Paths are written as UTF-8 with invalid bytes replaced (U+FFFD): JSON has no way to
/// carry raw bytes, and a report must never fail because of one odd file name.
mod lossy {
    use std::path::{Path, PathBuf};

    use serde::Serializer;

    pub fn path<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&path.to_string_lossy())
    }

    pub fn option<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        match path {
            Some(path) => self::path(path, s),
            None => s.serialize_none(),
        }
    }

    pub fn vec<S: Serializer>(paths: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(paths.iter().map(|p| p.to_string_lossy()))
    }

    /// `--per-venv` shares, each venv path written like every other path.
    pub fn shares<S: Serializer>(
        shares: &Option<Vec<crate::per_venv::VenvShare>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Share<'a> {
            #[serde(serialize_with = "path")]
            venv: &'a Path,
            archives: &'a [crate::archive_id::ArchiveId],
            bytes: u64,
        }
        match shares {
            None => s.serialize_none(),
            Some(shares) => s.collect_seq(shares.iter().map(|share| Share {
                venv: &share.venv,
                archives: &share.archives,
                bytes: share.bytes,
            })),
        }
    }
}

/// The longest run of non-blank characters printed whole; longer ones (a path 4 KB deep)
/// keep their start and end around an ellipsis, so that a warning stays readable and the
/// words after the path, which say what to do, stay on screen.
const LONGEST_RUN: usize = 160;
const RUN_HEAD: usize = 60;
const RUN_TAIL: usize = 80;

/// `text` made safe to print as one line of a terminal or a log: control characters
/// (a newline or an escape sequence in a file name) are written as escapes (`\n`,
/// `\x1b`), and overlong runs are shortened. Only for people: JSON carries the full text.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4096));
    let mut run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, out: &mut String| {
        if run.len() > LONGEST_RUN {
            out.extend(&run[..RUN_HEAD]);
            out.push('…');
            out.extend(&run[run.len() - RUN_TAIL..]);
        } else {
            out.extend(run.iter());
        }
        run.clear();
    };
    for c in text.chars() {
        if c == ' ' {
            flush(&mut run, &mut out);
            out.push(c);
            continue;
        }
        match c {
            '\n' => run.extend(['\\', 'n']),
            '\r' => run.extend(['\\', 'r']),
            '\t' => run.extend(['\\', 't']),
            c if c.is_control() => run.extend(format!("\\x{:02x}", u32::from(c)).chars()),
            c => run.push(c),
        }
    }
    flush(&mut run, &mut out);
    out
}

/// A path as [`one_line`] prints it.
pub fn shown(path: &Path) -> String {
    one_line(&path.to_string_lossy())
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    #[serde(serialize_with = "lossy::path")]
    pub cache_dir: PathBuf,
    /// Extension: how the cache was found.
    pub cache_source: CacheSource,
    /// Extension: `ok`, `no-cache` (nothing at `cache_dir` yet) or `busy` (uv held the
    /// lock and `--no-wait` was given: nothing was done).
    pub status: Status,
    pub dry_run: bool,
    pub archives: Counts,
    pub reclaimable_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_bytes: Option<u64>,
    /// Extension, `--apply` only: pointer files and links removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_pointers: Option<usize>,
    /// Extension, `--apply` only: trash of an interrupted run, removed before planning
    /// (not part of the plan, so not in `removed_bytes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leftover_trash: Option<LeftoverTrash>,
    /// Extension, `busy` only: who holds the lock, `uv` or `uv-cache-prune`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_holder: Option<&'static str>,
    pub candidates: Vec<Candidate>,
    pub live: Vec<Live>,
    pub roots: Vec<Root>,
    /// Extension: everything we could not read or did not expect, each naming a path.
    pub warnings: Vec<String>,
    /// Extension, `--explain` only: every archive matching the query, kept or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Vec<Explained>>,
    /// Extension, `--per-venv` only: what each venv alone keeps alive.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "lossy::shares"
    )]
    pub venvs: Option<Vec<VenvShare>>,
}

/// Trash directories an interrupted run left, removed by this one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LeftoverTrash {
    pub entries: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    NoCache,
    Busy,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub total: usize,
    pub live: usize,
    pub dead: usize,
}

#[derive(Debug, Serialize)]
pub struct Candidate {
    pub id: ArchiveId,
    pub name: Option<String>,
    pub version: Option<String>,
    pub bytes: u64,
    /// Extension: which policy selected it.
    pub policy: Selection,
    /// Extension: the latest sign of use, seconds since the epoch.
    pub last_use: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Live {
    pub id: ArchiveId,
    pub name: Option<String>,
    pub version: Option<String>,
    pub evidence: Vec<EvidenceJson>,
    /// Extension: the latest sign of use, seconds since the epoch.
    pub last_use: Option<u64>,
}

/// One archive as `--explain` shows it.
#[derive(Debug, Serialize)]
pub struct Explained {
    pub id: ArchiveId,
    pub name: Option<String>,
    pub version: Option<String>,
    /// `keep` or `remove`.
    pub fate: &'static str,
    /// For `remove`: the policy that selected it, and the bytes it frees.
    pub policy: Option<Selection>,
    pub bytes: Option<u64>,
    pub last_use: Option<u64>,
    pub evidence: Vec<EvidenceJson>,
}

fn epoch_secs(time: Option<std::time::SystemTime>) -> Option<u64> {
    time?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

fn name_of(archive: &ArchivePlan) -> Option<String> {
    archive.name.as_ref().map(ToString::to_string)
}

/// Every archive of the package `query` names (or the archive with that id).
pub fn explain(plan: &Plan, query: &str) -> Vec<Explained> {
    let package = crate::dist::PackageName::new(query);
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
                evidence: evidence.iter().map(EvidenceJson::from).collect(),
            }
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct EvidenceJson {
    pub kind: EvidenceKind,
    #[serde(serialize_with = "lossy::option")]
    pub venv: Option<PathBuf>,
    /// Extension: the file that proves it (pointer, `.pth`, linked file), where not the venv.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "lossy::option"
    )]
    pub path: Option<PathBuf>,
    /// Extension: a reason in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<&Evidence> for EvidenceJson {
    fn from(evidence: &Evidence) -> Self {
        Self {
            kind: evidence.kind(),
            venv: evidence.venv().map(Path::to_owned),
            path: evidence.path().map(Path::to_owned),
            detail: evidence.detail(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Root {
    #[serde(serialize_with = "lossy::path")]
    pub path: PathBuf,
    /// Extension: why this root was searched.
    pub origin: RootOrigin,
    pub venvs: usize,
    #[serde(serialize_with = "lossy::vec")]
    pub unreadable: Vec<PathBuf>,
    /// Extension: mounts under the root that were not walked (network, FUSE, unknown).
    pub not_searched: Vec<NotSearchedMount>,
    /// Extension: directories listed by the walk.
    pub dirs_searched: u64,
}

/// A mount under a root that discovery did not walk.
#[derive(Debug, Serialize)]
pub struct NotSearchedMount {
    #[serde(serialize_with = "lossy::path")]
    pub path: PathBuf,
    pub fstype: String,
    pub class: MountClass,
}

impl Report {
    /// The report when nothing was looked at: no cache yet, or uv busy with `--no-wait`.
    pub fn empty(
        cache_dir: PathBuf,
        cache_source: CacheSource,
        dry_run: bool,
        status: Status,
    ) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            cache_dir,
            cache_source,
            status,
            dry_run,
            archives: Counts::default(),
            reclaimable_bytes: 0,
            removed_bytes: None,
            removed_pointers: None,
            leftover_trash: None,
            lock_holder: None,
            candidates: Vec::new(),
            live: Vec::new(),
            roots: Vec::new(),
            warnings: Vec::new(),
            explain: None,
            venvs: None,
        }
    }

    pub fn new(
        cache_dir: PathBuf,
        cache_source: CacheSource,
        dry_run: bool,
        plan: &Plan,
        roots: &[RootScan],
        warnings: Vec<String>,
    ) -> Self {
        let mut candidates: Vec<Candidate> = plan
            .archives
            .iter()
            .filter_map(|archive| match archive.fate {
                Fate::Remove { bytes, selection } => Some(Candidate {
                    id: archive.id.clone(),
                    name: name_of(archive),
                    version: archive.version.clone(),
                    bytes,
                    policy: selection,
                    last_use: epoch_secs(archive.last_use),
                }),
                Fate::Keep(_) => None,
            })
            .collect();
        candidates.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.id.cmp(&b.id)));
        let live: Vec<Live> = plan
            .kept()
            .map(|(archive, evidence)| Live {
                id: archive.id.clone(),
                name: name_of(archive),
                version: archive.version.clone(),
                evidence: evidence.iter().map(EvidenceJson::from).collect(),
                last_use: epoch_secs(archive.last_use),
            })
            .collect();
        Self {
            schema_version: SCHEMA_VERSION,
            cache_dir,
            cache_source,
            status: Status::Ok,
            dry_run,
            archives: Counts {
                total: plan.archives.len(),
                live: live.len(),
                dead: candidates.len(),
            },
            reclaimable_bytes: plan.reclaimable_bytes,
            removed_bytes: None,
            removed_pointers: None,
            leftover_trash: None,
            lock_holder: None,
            candidates,
            live,
            roots: roots
                .iter()
                .map(|r| Root {
                    path: r.path.clone(),
                    origin: r.origin,
                    venvs: r.installs.len(),
                    unreadable: r.unreadable.iter().map(|(p, _)| p.clone()).collect(),
                    not_searched: r
                        .not_searched
                        .iter()
                        .map(|m| NotSearchedMount {
                            path: m.path.clone(),
                            fstype: m.fstype.clone(),
                            class: m.class,
                        })
                        .collect(),
                    dirs_searched: r.dirs_searched,
                })
                .collect(),
            warnings,
            explain: None,
            venvs: None,
        }
    }

    /// The report as JSON. Every path is written lossily, so this cannot fail on odd
    /// names; an error here is a bug, reported as one rather than a panic.
    pub fn to_json(&self) -> anyhow::Result<String> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| anyhow::anyhow!("cannot write the report as JSON: {e} (a bug)"))?;
        text.push('\n');
        Ok(text)
    }

    /// The human report: summary, candidates grouped by package (largest group first),
    /// then why the rest is live.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "uv cache: {} (from {})",
            shown(&self.cache_dir),
            self.cache_source
        );
        match self.status {
            Status::Ok => {}
            Status::NoCache => {
                let _ = writeln!(out, "No cache there yet: nothing to prune.");
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
        let venvs: usize = self.roots.iter().map(|r| r.venvs).sum();
        let dirs: u64 = self.roots.iter().map(|r| r.dirs_searched).sum();
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
        for root in &self.roots {
            let unreadable = match root.unreadable.len() {
                0 => String::new(),
                n => format!(", {} unreadable", count(n, "path")),
            };
            let unreadable = match root.not_searched.len() {
                0 => unreadable,
                n => format!("{unreadable}, {} not searched", count(n, "mount")),
            };
            let venvs = count(root.venvs, "venv");
            let _ = writeln!(out, "  {} ({venvs}{unreadable})", shown(&root.path));
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
                count(self.archives.dead, "archive"),
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
                    candidate.name.as_deref().unwrap_or("(venv)"),
                    candidate.version.as_deref().unwrap_or("-"),
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
                .map(|(kind, n)| format!("{n} {}", serde_json::to_value(kind).expect("kind")))
                .map(|s| s.replace('"', ""))
                .collect();
            let _ = writeln!(
                out,
                "\nLive because of: {} (--explain PACKAGE says which venv).",
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
                    shown(&share.venv)
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

    /// The one line `--hook` appends to the hook log.
    pub fn to_summary_line(&self, now: std::time::SystemTime) -> String {
        let when = crate::state::rfc3339(now);
        let what = match self.status {
            Status::NoCache => "no uv cache yet, nothing to do".to_owned(),
            Status::Busy => "uv is using the cache, skipped".to_owned(),
            Status::Ok => format!(
                "removed {} and {}, {} freed; {} kept",
                count(self.archives.dead, "archive"),
                count(self.removed_pointers.unwrap_or(0), "pointer"),
                human_bytes(self.removed_bytes.unwrap_or(0)),
                count(self.archives.live, "archive")
            ),
        };
        format!(
            "{when} uv-cache-prune --hook {}: {what}\n",
            shown(&self.cache_dir)
        )
    }

    /// The `--explain` view: each matching archive with every reason.
    pub fn to_explanation(&self) -> String {
        let explained = self.explain.as_deref().unwrap_or_default();
        let mut out = String::new();
        if explained.is_empty() {
            let _ = writeln!(
                out,
                "No archive in {} matches that package or id.",
                shown(&self.cache_dir)
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
            let _ = writeln!(
                out,
                "{} {} (archive {}), last used {last_use}",
                archive.name.as_deref().unwrap_or("(venv)"),
                archive.version.as_deref().unwrap_or("-"),
                archive.id
            );
            match (archive.fate, archive.policy, archive.bytes) {
                ("remove", Some(policy), Some(bytes)) => {
                    let policy = serde_json::to_value(policy).expect("policy");
                    let _ = writeln!(
                        out,
                        "  dead: removed by policy {}, frees {}",
                        policy.as_str().unwrap_or("?"),
                        human_bytes(bytes)
                    );
                }
                _ => {
                    let _ = writeln!(out, "  kept:");
                    for evidence in &archive.evidence {
                        let kind = serde_json::to_value(evidence.kind).expect("kind");
                        let mut line = format!("    {}", kind.as_str().unwrap_or("?"));
                        for part in [evidence.venv.as_ref(), evidence.path.as_ref()]
                            .into_iter()
                            .flatten()
                        {
                            line += &format!(" {}", shown(part));
                        }
                        if let Some(detail) = &evidence.detail {
                            line += &format!(" ({})", one_line(detail));
                        }
                        let _ = writeln!(out, "{line}");
                    }
                }
            }
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

/// `1 archive`, `2 archives`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

pub fn human_bytes(bytes: u64) -> String {
    ByteSize(bytes).display().iec().to_string()
}
