//! Readers for the `--json` report (schema 1 in docs/json-schema.md), so scenarios state what they
//! expect as sets of ids and evidence kinds instead of walking JSON by hand.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

fn array<'a>(report: &'a Value, key: &str) -> &'a [Value] {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("report has no array {key:?}: {report:#}"))
}

fn ids(report: &Value, key: &str) -> BTreeSet<String> {
    array(report, key)
        .iter()
        .map(|entry| {
            entry["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{key} entry without id: {entry}"))
                .to_owned()
        })
        .collect()
}

/// Ids the plan would delete.
pub fn candidate_ids(report: &Value) -> BTreeSet<String> {
    ids(report, "candidates")
}

/// Ids the plan keeps because something uses them.
pub fn live_ids(report: &Value) -> BTreeSet<String> {
    ids(report, "live")
}

/// The `candidates` entry for `id`.
pub fn candidate<'a>(report: &'a Value, id: &str) -> &'a Value {
    entry(report, "candidates", id)
}

/// The `live` entry for `id`.
pub fn live<'a>(report: &'a Value, id: &str) -> &'a Value {
    entry(report, "live", id)
}

fn entry<'a>(report: &'a Value, key: &str, id: &str) -> &'a Value {
    array(report, key)
        .iter()
        .find(|entry| entry["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in {key}: {report:#}"))
}

fn evidence<'a>(report: &'a Value, id: &str) -> &'a [Value] {
    live(report, id)["evidence"]
        .as_array()
        .unwrap_or_else(|| panic!("live entry {id} has no evidence array: {report:#}"))
}

/// The evidence kinds that keep `id` alive.
pub fn evidence_kinds(report: &Value, id: &str) -> BTreeSet<String> {
    evidence(report, id)
        .iter()
        .map(|e| {
            e["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("evidence without kind: {e}"))
                .to_owned()
        })
        .collect()
}

/// The venvs named by the evidence for `id`; `None` stands for `"venv": null`.
pub fn evidence_venvs(report: &Value, id: &str) -> BTreeSet<Option<String>> {
    evidence(report, id)
        .iter()
        .map(|e| e["venv"].as_str().map(str::to_owned))
        .collect()
}

/// The venvs that `kind` evidence names for `id`.
pub fn evidence_venvs_of_kind(report: &Value, id: &str, kind: &str) -> BTreeSet<Option<String>> {
    evidence(report, id)
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["venv"].as_str().map(str::to_owned))
        .collect()
}

/// The `roots` entry whose path is `path`.
pub fn root<'a>(report: &'a Value, path: &str) -> &'a Value {
    array(report, "roots")
        .iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("no root {path} in report: {report:#}"))
}

/// Every warning string (our extension to schema 1; absent means none).
pub fn warnings(report: &Value) -> Vec<String> {
    strings(report, "warnings")
}

/// The kind of each warning, in the order of [`warnings`] (`warning_kinds`, our
/// extension to schema 1).
pub fn warning_kinds(report: &Value) -> Vec<String> {
    strings(report, "warning_kinds")
}

/// The strings of the array `report[key]`; absent means none.
fn strings(report: &Value, key: &str) -> Vec<String> {
    let array = report[key]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    array
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// `archives.<field>` as a number.
pub fn archive_count(report: &Value, field: &str) -> u64 {
    report["archives"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("report has no archives.{field}: {report:#}"))
}

/// `reclaimable_bytes` as a number.
pub fn reclaimable_bytes(report: &Value) -> u64 {
    report["reclaimable_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("report has no reclaimable_bytes: {report:#}"))
}

/// A set of owned strings, for comparing against the sets above.
pub fn set<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> BTreeSet<String> {
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

/// The report's `others`: what `--apply` frees beyond `archive-v0`.
pub fn others(report: &Value) -> &Value {
    report
        .get("others")
        .unwrap_or_else(|| panic!("no `others` in the report: {report:#}"))
}

/// The paths of the `others` candidates, only those of `kind` when given (`sdist`,
/// `environment`, `index`, ...).
pub fn other_paths(report: &Value, kind: Option<&str>) -> BTreeSet<PathBuf> {
    let candidates = others(report)["candidates"].as_array().unwrap();
    let wanted = candidates
        .iter()
        .filter(|c| kind.is_none_or(|k| c["kind"] == k));
    wanted
        .map(|c| PathBuf::from(c["path"].as_str().unwrap()))
        .collect()
}
