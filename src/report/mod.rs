//! Stage 7: the report. Built once as a value (so `--json` and the human table cannot
//! disagree), then rendered: `json` (the versioned schema, `docs/json-schema.md`),
//! `human` (the table), `explain` (`--explain`), `summary` (the hook log's line).
//! Fields marked "extension" are additions that do not break schema 1 readers.

pub(crate) mod progress;

mod explain;
mod human;
mod json;
mod summary;
mod text;
mod view;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cache::archive_id::ArchiveId;
use crate::cache::locate::CacheSource;
use crate::discover::{MountClass, RootOrigin, RootScan};
use crate::evidence::{Evidence, EvidenceKind};
use crate::plan::per_venv::VenvShare;
use crate::plan::{ArchivePlan, Fate, Plan, Selection};
pub use crate::units::human_bytes;
use crate::warning::Warning;
pub use explain::{Explained, explain};
pub use json::SCHEMA_VERSION;
use json::lossy;
pub(crate) use json::lossy::warnings as json_warnings;
pub use text::{one_line, safe, safe_os, safe_path, shown};
pub use view::{ColorChoice, Verbosity, View, wrap};

#[derive(Debug, Serialize)]
/// The whole report of one run, as JSON (schema 1) and as the human views render it.
#[non_exhaustive]
pub struct Report {
    /// The JSON schema's version: 1, which only ever gains fields.
    pub schema_version: u32,
    #[serde(serialize_with = "lossy::path")]
    /// The cache the run looked at.
    pub cache_dir: PathBuf,
    /// Extension: how the cache was found.
    pub cache_source: CacheSource,
    /// Extension: `ok`, `no-cache` (nothing at `cache_dir` yet) or `busy` (uv held the
    /// lock and `--no-wait` was given: nothing was done).
    pub status: Status,
    /// True unless the run deleted (`--apply`, `--hook`).
    pub dry_run: bool,
    /// How many archives, live and dead.
    pub archives: Counts,
    /// What removing every candidate frees, in `du -B1` bytes.
    pub reclaimable_bytes: u64,
    /// Extension: `reclaimable_bytes` by the top-level bucket it is freed in, for `df`.
    /// Archives (with their pointers and objects) count under `archive-v0`; each new kind
    /// of removal adds its bytes under its own bucket's name.
    pub freed_by_bucket: std::collections::BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `--apply` only: the bytes freed, measured while deleting.
    pub removed_bytes: Option<u64>,
    /// `--apply` only: archives deleted, as counted while deleting (not in the JSON,
    /// where `archives.dead` already says it).
    #[serde(skip)]
    pub removed_archives: Option<usize>,
    /// Extension, `--apply` only: pointer files and links removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_pointers: Option<usize>,
    /// Extension, `--apply` only: trash of an interrupted run, removed before planning
    /// (not part of the plan, so not in `removed_bytes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leftover_trash: Option<LeftoverTrash>,
    /// Extension, `--apply` only: present when the filesystem refused changes the plan
    /// needed (another user's directory, a read-only one or mount): what was kept and what
    /// to do. The run exits non-zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<Incomplete>,
    /// Extension, `busy` only: who holds the lock, `uv` or `uv-cache-prune`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_holder: Option<LockHolder>,
    /// `busy` only: the sentence saying who holds the lock and where, for stderr (not in
    /// the JSON, where `lock_holder` says it).
    #[serde(skip)]
    pub(crate) busy_notice: Option<String>,
    /// The dead archives the plan removes, largest first.
    pub candidates: Vec<Candidate>,
    /// The archives kept, each with every reason.
    pub live: Vec<Live>,
    /// The roots searched for venvs.
    pub roots: Vec<Root>,
    /// Extension: the cache's own environments (`environments-v*`: PEP 723 scripts,
    /// `uvx`, `uv run --with`), counted beside the venvs, each with what uv records of
    /// what it is for.
    pub environments: Vec<Environment>,
    /// Extension: the archives no one uses that policies hold back, by policy (`grace`,
    /// `keep`, `unused-for`, `max-size`); absent policies hold nothing.
    pub held_back: std::collections::BTreeMap<&'static str, HeldBack>,
    /// Extension, `--only-locked` only: the lock files that alone say what is live (no
    /// root is searched then).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "lossy::opt_vec"
    )]
    pub only_locked: Option<Vec<PathBuf>>,
    /// Extension: everything we could not read or did not expect, each naming a path; in
    /// the JSON, `warnings` (the sentences, as schema 1 always had) and `warning_kinds`
    /// (the kind of each, in the same order).
    #[serde(flatten, serialize_with = "lossy::warnings")]
    pub warnings: Vec<Warning>,
    /// Extension, `--explain` only: every archive matching the query, kept or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Vec<Explained>>,
    /// Extension, `--per-venv` only: what each venv alone keeps alive.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "lossy::shares"
    )]
    pub venvs: Option<Vec<VenvShare>>,
    /// Extension: what `--apply` frees beyond `archive-v0` (leftovers of interrupted uv
    /// runs, orphaned `files-v0` objects); absent when nothing was surveyed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub others: Option<Others>,
}

/// A cached environment (`crate::environments`), in the JSON as `environments[]`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Environment {
    /// The venv: `environments-v*/<name>` (a script's or project's), or the venv archive
    /// `archive-v0/<id>` that a `uvx` / `uv run --with` link names.
    #[serde(serialize_with = "lossy::path")]
    pub path: PathBuf,
    /// For `uvx` / `uv run --with`: the `environments-v*/<digest>/<digest>` link.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "lossy::option"
    )]
    pub link: Option<PathBuf>,
    /// `script`, `tool-or-with` or `project`.
    pub kind: crate::buckets::environments::EnvironmentKind,
    /// A script's file name, as its `pyvenv.cfg` records it; null where uv records none.
    pub script: Option<String>,
    /// `name version` of each distribution installed in it.
    pub packages: Vec<String>,
    /// Not used for `--unused-for`: removed by `--apply` (or, dry run, would be).
    pub stale: bool,
}

/// Packages named in a line before the rest are counted.
const PACKAGES_SHOWN: usize = 3;

impl Environment {
    /// What it is, in words, from what uv records: the script's file name, else the
    /// packages it holds (every string from the disk escaped).
    pub fn describe(&self) -> String {
        use crate::buckets::environments::EnvironmentKind;
        match (self.kind, &self.script) {
            (EnvironmentKind::Script, Some(script)) => {
                format!("cached environment of script {}", safe(script))
            }
            (EnvironmentKind::Script, None) => format!(
                "cached environment of a script uv recorded no file name for{}",
                self.holding()
            ),
            (EnvironmentKind::ToolOrWith, _) => {
                format!(
                    "cached environment of uvx / uv run --with{}",
                    self.holding()
                )
            }
            (EnvironmentKind::Project, _) => {
                format!("cached project environment{}", self.holding())
            }
        }
    }

    /// `: alpha 1.0, beta 2.0 and 4 more`, or `, empty`.
    fn holding(&self) -> String {
        if self.packages.is_empty() {
            return ", empty".to_owned();
        }
        let shown: Vec<String> = self
            .packages
            .iter()
            .take(PACKAGES_SHOWN)
            .map(|p| safe(p).to_string())
            .collect();
        let more = match self.packages.len().saturating_sub(PACKAGES_SHOWN) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        format!(": {}{more}", shown.join(", "))
    }
}

impl Environment {
    /// The report's view of a surveyed environment.
    pub(crate) fn of(env: &crate::buckets::environments::CachedEnvironment) -> Self {
        Self {
            path: env.path.clone(),
            link: env.link.clone(),
            kind: env.kind,
            script: env.script.clone(),
            packages: env.packages.clone(),
            stale: env.stale,
        }
    }
}

/// What a run frees outside `archive-v0` (`crate::buckets::leftovers`), in the JSON as `others`.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Others {
    /// Each entry, largest first.
    pub candidates: Vec<OtherCandidate>,
    /// Bytes per top-level bucket (`.` for the cache root's own entries).
    pub by_bucket: std::collections::BTreeMap<String, u64>,
    /// Their sum, in `du -B1` bytes: what removing them frees.
    pub reclaimable_bytes: u64,
    /// `--apply` only: entries removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<usize>,
    /// `--apply` only: bytes freed, measured while deleting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_bytes: Option<u64>,
}

/// One entry of [`Others`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct OtherCandidate {
    /// The top-level directory it is in, `.` for the cache root.
    pub bucket: String,
    /// Where it is.
    #[serde(serialize_with = "lossy::path")]
    pub path: PathBuf,
    /// `temp`, `build`, `object` or `sdist`.
    pub kind: crate::buckets::leftovers::OtherKind,
    /// What removing it frees, in `du -B1` bytes.
    pub bytes: u64,
}

impl Others {
    /// The report's view of the plan's `others`.
    pub(crate) fn of(others: &[crate::buckets::leftovers::Other], cache_root: &Path) -> Self {
        let mut out = Self::default();
        for other in others {
            *out.by_bucket.entry(other.bucket.clone()).or_default() += other.bytes;
            out.reclaimable_bytes += other.bytes;
            out.candidates.push(OtherCandidate {
                bucket: other.bucket.clone(),
                path: other.path(cache_root),
                kind: other.kind,
                bytes: other.bytes,
            });
        }
        out.candidates
            .sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.path.cmp(&b.path)));
        out
    }
}

/// What `--apply` could not do for lack of permission, in the JSON as `incomplete`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Incomplete {
    /// `permission-denied`: the one cause so far.
    pub cause: &'static str,
    /// The directories that refused a change, each once, in the order met.
    #[serde(serialize_with = "lossy::vec")]
    pub denied: Vec<PathBuf>,
    /// Candidates kept whole because of it (in `live`, with `permission-denied`).
    pub kept_archives: usize,
    /// Whether anything at all was deleted before or besides the refusals.
    pub deleted_anything: bool,
    /// What to do, one sentence per directory (at most three, then a count).
    pub what_to_do: Vec<String>,
}

impl Incomplete {
    /// From what `apply` met in the cache at `cache_root`; `None` when nothing was
    /// refused.
    pub(crate) fn of(removal: &crate::apply::Removal, cache_root: &Path) -> Option<Self> {
        if removal.denied.is_empty() {
            return None;
        }
        Some(Self {
            cause: "permission-denied",
            denied: crate::sys::denied::distinct(&removal.denied)
                .iter()
                .map(|d| d.dir.clone())
                .collect(),
            kept_archives: removal
                .kept
                .iter()
                .filter(|k| k.kind == EvidenceKind::PermissionDenied)
                .count(),
            deleted_anything: removal.archives > 0
                || removal.pointers > 0
                || removal.other_entries > 0
                || removal.bytes > 0
                || removal.leftover.entries > 0,
            what_to_do: crate::apply::advice::advice(&removal.denied, cache_root),
        })
    }

    /// The one line for stderr (`error: ...`): whether anything was deleted, what was
    /// kept, and the first thing to do.
    pub(crate) fn error_line(&self, report: &Report) -> String {
        let done = if self.deleted_anything {
            format!(
                "removed {} ({}) and kept {} it may not change",
                text::count(report.removed_archives.unwrap_or(0), "archive"),
                human_bytes(report.removed_bytes.unwrap_or(0)),
                text::count(self.kept_archives, "archive")
            )
        } else {
            format!(
                "nothing was deleted ({} kept)",
                text::count(self.kept_archives, "archive")
            )
        };
        let first = self
            .what_to_do
            .first()
            .map_or(String::new(), |w| format!("; {w}"));
        format!("--apply could not finish, permission denied: {done}{first}")
    }
}

/// Who held uv's cache lock when a run was told not to wait (`status: busy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LockHolder {
    /// A uv command (or anything else that is not one of us).
    Uv,
    /// Another uv-cache-prune.
    UvCachePrune,
}

/// Trash directories an interrupted run left, removed by this one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LeftoverTrash {
    /// Trash directories removed whole.
    pub entries: usize,
    /// Bytes freed by removing them.
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
/// How far the run got.
#[non_exhaustive]
pub enum Status {
    /// The cache was surveyed (and, with `--apply`, pruned).
    Ok,
    /// Nothing is at the cache's path yet.
    NoCache,
    /// uv's cache is there, but uv has not unpacked a wheel into it yet.
    NoArchives,
    /// uv held the lock and the run was told not to wait.
    Busy,
}

#[derive(Debug, Default, Serialize)]
/// Archive counts.
#[non_exhaustive]
pub struct Counts {
    /// Every archive in `archive-v0`.
    pub total: usize,
    /// Kept, by evidence or policy (schema 1's word: `in_use + held_back + in_doubt`).
    pub live: usize,
    /// Removed (or, in a dry run, to be removed).
    pub dead: usize,
    /// Extension: kept because something uses it (a venv, a cached environment, a lock).
    pub in_use: usize,
    /// Extension: nothing uses it, but a policy holds it back (grace, keep,
    /// `--unused-for`, `--max-size`); [`Report::held_back`] says which and how to release.
    pub held_back: usize,
    /// Extension: nothing was seen using it, but a doubt keeps it (a part that could not
    /// be read, a shared cache, a refused pointer).
    pub in_doubt: usize,
    /// Extension: the same as `dead`, in the words the summary uses.
    pub removable: usize,
}

/// Why a kept archive is kept, in the three words a person reads: used, held back by a
/// policy, or kept out of doubt. An archive with evidence of use is in use whatever
/// else holds it; one held only by a policy is never called live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keeping {
    /// Something uses it.
    InUse,
    /// Only a doubt keeps it.
    InDoubt,
    /// Only policies keep it.
    HeldBack,
}

impl Keeping {
    /// The class of an archive kept for `kinds`.
    pub(crate) fn of(kinds: impl IntoIterator<Item = EvidenceKind> + Clone) -> Self {
        if kinds.clone().into_iter().any(EvidenceKind::is_use) {
            Keeping::InUse
        } else if kinds.into_iter().any(|k| policy_of(k).is_none()) {
            Keeping::InDoubt
        } else {
            Keeping::HeldBack
        }
    }
}

/// The policy an evidence kind stands for, with what releases it; `None` for evidence
/// of use or of doubt.
pub fn policy_of(kind: EvidenceKind) -> Option<(&'static str, &'static str)> {
    match kind {
        EvidenceKind::Grace => Some(("grace", "--grace 0s")),
        EvidenceKind::KeepList => Some(("keep", "dropping the package from --keep / `keep`")),
        EvidenceKind::RecentlyUsed => Some((
            "unused-for",
            "a shorter --unused-for (or none: the config's `unused-for`)",
        )),
        EvidenceKind::WithinSize => Some(("max-size", "a smaller --max-size (or none)")),
        _ => None,
    }
}

/// What one policy holds back.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct HeldBack {
    /// Archives it holds (an archive held by two policies counts under each).
    pub archives: usize,
    /// Their bytes (`du`, each archive measured alone).
    pub bytes: u64,
    /// What releases them: a flag, or a config key to change.
    pub release: &'static str,
}

#[derive(Debug, Serialize)]
/// A dead archive the plan removes.
#[non_exhaustive]
pub struct Candidate {
    /// Its directory name in `archive-v0`.
    pub id: ArchiveId,
    /// Its package, when it is a wheel.
    pub name: Option<String>,
    /// Its version, when it is a wheel.
    pub version: Option<String>,
    /// What removing it frees.
    pub bytes: u64,
    /// Extension: which policy selected it.
    pub policy: Selection,
    /// Extension: the latest sign of use, seconds since the epoch.
    pub last_use: Option<u64>,
}

#[derive(Debug, Serialize)]
/// An archive kept, and why.
#[non_exhaustive]
pub struct Live {
    /// Its directory name in `archive-v0`.
    pub id: ArchiveId,
    /// Its package, when it is a wheel.
    pub name: Option<String>,
    /// Its version, when it is a wheel.
    pub version: Option<String>,
    /// Every reason it is kept.
    pub evidence: Vec<EvidenceJson>,
    /// Extension: the latest sign of use, seconds since the epoch.
    pub last_use: Option<u64>,
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

#[derive(Debug, Serialize)]
/// One reason an archive is kept.
#[non_exhaustive]
pub struct EvidenceJson {
    /// What kind of reason.
    pub kind: EvidenceKind,
    #[serde(serialize_with = "lossy::option")]
    /// The venv that uses the archive, for evidence of use.
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

impl Live {
    /// Whether it is in use, held back or kept out of doubt.
    pub(crate) fn keeping(&self) -> Keeping {
        Keeping::of(self.evidence.iter().map(|e| e.kind))
    }
}

impl EvidenceJson {
    /// The report's view of one piece of evidence.
    pub(crate) fn of(evidence: &Evidence) -> Self {
        Self {
            kind: evidence.kind(),
            venv: evidence.venv().map(Path::to_owned),
            path: evidence.path().map(Path::to_owned),
            detail: evidence.detail(),
        }
    }
}

#[derive(Debug, Serialize)]
/// A root searched for venvs.
#[non_exhaustive]
pub struct Root {
    #[serde(serialize_with = "lossy::path")]
    /// The root, absolute.
    pub path: PathBuf,
    /// Extension: why this root was searched.
    pub origin: RootOrigin,
    /// How many venvs were found under it.
    pub venvs: usize,
    /// Extension: how many `uv.lock` files (beside a `pyproject.toml`) were found under it.
    pub locks: usize,
    #[serde(serialize_with = "lossy::vec")]
    /// Paths under it that could not be read.
    pub unreadable: Vec<PathBuf>,
    /// Extension: mounts under the root that were not walked (network, FUSE, unknown).
    pub not_searched: Vec<NotSearchedMount>,
    /// Extension: directories listed by the walk.
    pub dirs_searched: u64,
}

/// A mount under a root that discovery did not walk.
#[derive(Debug, Serialize)]
#[non_exhaustive]
pub struct NotSearchedMount {
    #[serde(serialize_with = "lossy::path")]
    /// Where it is mounted.
    pub path: PathBuf,
    /// Its filesystem type, as the mount table says.
    pub fstype: String,
    /// Why it was not searched.
    pub class: MountClass,
}

impl Report {
    /// Moves the candidates `--apply` had to keep (a pointer naming each could not be
    /// removed safely or for lack of permission, `archive-v0` could not be changed, a
    /// cached environment linking into it was kept) from the removed to the kept, with a
    /// `pointer-refused` or `permission-denied` reason, so that the report never calls an
    /// archive removed that is still there.
    pub(crate) fn keep_refused(&mut self, kept: &[crate::apply::Kept]) {
        for kept in kept {
            let Some(at) = self.candidates.iter().position(|c| c.id == kept.id) else {
                continue;
            };
            let candidate = self.candidates.remove(at);
            self.reclaimable_bytes = self.reclaimable_bytes.saturating_sub(candidate.bytes);
            if let Some(freed) = self
                .freed_by_bucket
                .get_mut(crate::cache::layout::ARCHIVE_BUCKET)
            {
                *freed = freed.saturating_sub(candidate.bytes);
            }
            self.live.push(Live {
                id: candidate.id,
                name: candidate.name,
                version: candidate.version,
                evidence: vec![EvidenceJson {
                    kind: kept.kind,
                    venv: None,
                    path: Some(kept.path.clone()),
                    detail: Some(kept.why.clone()),
                }],
                last_use: candidate.last_use,
            });
        }
        self.recount();
    }

    /// Sets the in-use / held-back / in-doubt / removable counts from `live` and
    /// `candidates`.
    pub(crate) fn recount(&mut self) {
        let (mut in_use, mut held_back, mut in_doubt) = (0, 0, 0);
        for live in &self.live {
            match live.keeping() {
                Keeping::InUse => in_use += 1,
                Keeping::HeldBack => held_back += 1,
                Keeping::InDoubt => in_doubt += 1,
            }
        }
        self.archives.in_use = in_use;
        self.archives.held_back = held_back;
        self.archives.in_doubt = in_doubt;
        self.archives.removable = self.candidates.len();
        self.archives.live = self.live.len();
        self.archives.dead = self.candidates.len();
        for (policy, held) in &mut self.held_back {
            // A refused pointer can move an archive out of `held_back`; the bytes stay as
            // measured, the count follows the archives still held.
            held.archives = self
                .live
                .iter()
                .filter(|l| l.keeping() == Keeping::HeldBack)
                .filter(|l| {
                    l.evidence
                        .iter()
                        .any(|e| policy_of(e.kind).is_some_and(|(p, _)| p == *policy))
                })
                .count();
        }
        self.held_back.retain(|_, held| held.archives > 0);
    }

    /// Measures what each policy holds back ([`Report::held_back`]): the archives kept by
    /// policies alone, each walked like a candidate (those the plan walked already are not
    /// walked again). Costs one walk of the held-back archives, which a person needs to
    /// weigh releasing them.
    pub(crate) fn measure_held_back(&mut self, plan: &Plan, threads: crate::sys::threads::Threads) {
        use std::collections::{HashMap, HashSet};
        let held: HashMap<&ArchiveId, &Live> = self
            .live
            .iter()
            .filter(|l| l.keeping() == Keeping::HeldBack)
            .map(|l| (&l.id, l))
            .collect();
        let archives: Vec<&ArchivePlan> = plan
            .archives
            .iter()
            .filter(|a| held.contains_key(&a.id))
            .collect();
        let unwalked: Vec<&Path> = archives
            .iter()
            .filter(|a| !plan.walks.contains_key(&a.id))
            .map(|a| a.path.as_path())
            .collect();
        let mut fresh = crate::plan::measure::ArchiveWalk::all(&unwalked, threads).into_iter();
        let mut held_back: std::collections::BTreeMap<&'static str, HeldBack> =
            std::collections::BTreeMap::new();
        for archive in archives {
            let walk = match plan.walks.get(&archive.id) {
                Some(walk) => walk.clone(),
                None => fresh.next().unwrap_or_default(),
            };
            let bytes = walk.bytes(&mut HashSet::new());
            let mut policies: Vec<(&'static str, &'static str)> = held[&archive.id]
                .evidence
                .iter()
                .filter_map(|e| policy_of(e.kind))
                .collect();
            policies.dedup();
            for (policy, release) in policies {
                let entry = held_back.entry(policy).or_default();
                entry.archives += 1;
                entry.bytes += bytes;
                entry.release = release;
            }
        }
        self.held_back = held_back;
        self.recount();
    }

    /// The report when nothing was looked at: no cache yet, or uv busy with `--no-wait`.
    pub(crate) fn empty(
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
            freed_by_bucket: Default::default(),
            removed_bytes: None,
            removed_archives: None,
            removed_pointers: None,
            leftover_trash: None,
            incomplete: None,
            lock_holder: None,
            busy_notice: None,
            candidates: Vec::new(),
            live: Vec::new(),
            roots: Vec::new(),
            environments: Vec::new(),
            held_back: std::collections::BTreeMap::new(),
            only_locked: None,
            warnings: Vec::new(),
            explain: None,
            venvs: None,
            others: None,
        }
    }

    /// The report of a survey: the plan's fates, the roots, the warnings.
    pub(crate) fn new(
        cache_dir: PathBuf,
        cache_source: CacheSource,
        dry_run: bool,
        plan: &Plan,
        roots: &[RootScan],
        warnings: Vec<Warning>,
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
                evidence: evidence.iter().map(EvidenceJson::of).collect(),
                last_use: epoch_secs(archive.last_use),
            })
            .collect();
        let mut report = Self {
            schema_version: SCHEMA_VERSION,
            cache_dir,
            cache_source,
            status: Status::Ok,
            dry_run,
            archives: Counts {
                total: plan.archives.len(),
                live: live.len(),
                dead: candidates.len(),
                ..Counts::default()
            },
            reclaimable_bytes: plan.reclaimable_bytes,
            freed_by_bucket: (plan.reclaimable_bytes > 0)
                .then(|| {
                    (
                        crate::cache::layout::ARCHIVE_BUCKET.to_owned(),
                        plan.reclaimable_bytes,
                    )
                })
                .into_iter()
                .collect(),
            removed_bytes: None,
            removed_archives: None,
            removed_pointers: None,
            leftover_trash: None,
            incomplete: None,
            lock_holder: None,
            busy_notice: None,
            candidates,
            live,
            roots: roots
                .iter()
                .map(|r| Root {
                    path: r.path.clone(),
                    origin: r.origin,
                    venvs: r.installs.len(),
                    locks: r.locks.len(),
                    unreadable: r.unreadable.iter().map(|b| b.path.clone()).collect(),
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
            environments: Vec::new(),
            held_back: std::collections::BTreeMap::new(),
            only_locked: None,
            warnings,
            explain: None,
            venvs: None,
            others: None,
        };
        report.recount();
        report
    }
}
