//! The module map in docs/architecture.md is the one map of the code: this test fails when
//! a module file is added, removed or renamed without its row there (as rust-analyzer's
//! tidy checks its docs), and says which rows to add or remove.
//!
//! What counts as a module: every `.rs` file under `src/` and `crates/testbed/src/`, and
//! each task of the xtask (a file of `xtask/src/`, or a folder of it, written with a
//! trailing `/`). A row is a table line of the map's section whose first cell is one such
//! path in backticks.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The section of docs/architecture.md that holds the map.
const SECTION: &str = "## Module map";

#[test]
fn the_module_map_lists_exactly_the_module_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = fs::read_to_string(root.join("docs/architecture.md")).expect("read the map");
    let mapped = map_rows(&doc);
    assert!(
        !mapped.is_empty(),
        "docs/architecture.md has no `{SECTION}` table"
    );
    let mut actual = BTreeSet::new();
    rust_files(root, "src", &mut actual);
    rust_files(root, "crates/testbed/src", &mut actual);
    for entry in fs::read_dir(root.join("xtask/src")).expect("read xtask/src") {
        let entry = entry.expect("xtask/src entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().expect("file type").is_dir() {
            actual.insert(format!("xtask/src/{name}/"));
        } else if name.ends_with(".rs") {
            actual.insert(format!("xtask/src/{name}"));
        }
    }
    let missing: Vec<&String> = actual.difference(&mapped).collect();
    let stale: Vec<&String> = mapped.difference(&actual).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/architecture.md, section `{SECTION}`, is out of date:\n\
         add a row (| `PATH` | job |) for: {missing:?}\n\
         remove (or rename) the rows of: {stale:?}"
    );
}

/// The paths in the first cell of the map's table rows.
fn map_rows(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .skip_while(|line| line.trim() != SECTION)
        .skip(1)
        .take_while(|line| !line.starts_with("## "))
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|cell| cell.split_once('`').map(|(path, _)| path.to_owned()))
        .collect()
}

/// Every `.rs` file under `<root>/<dir>`, as a path relative to `root`.
fn rust_files(root: &Path, dir: &str, out: &mut BTreeSet<String>) {
    let path = root.join(dir);
    for entry in fs::read_dir(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())) {
        let entry = entry.expect("dir entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{dir}/{name}");
        if entry.file_type().expect("file type").is_dir() {
            rust_files(root, &rel, out);
        } else if name.ends_with(".rs") {
            out.insert(rel);
        }
    }
}

#[test]
fn map_rows_reads_only_the_map_section() {
    let doc = "# A\n| `src/x.rs` | no |\n## Module map\n\n| file | job |\n|---|---|\n\
               | `src/a.rs` | a |\n| `xtask/src/soak/` | s |\n## Next\n| `src/b.rs` | no |\n";
    let rows: Vec<String> = map_rows(doc).into_iter().collect();
    assert_eq!(rows, ["src/a.rs", "xtask/src/soak/"]);
}
