//! Random mixes (seeded, printed) of venvs, link modes, uv releases, sources, packages and
//! deletions, each case in its own sandbox: after `--apply --grace 0s`, nothing a surviving
//! venv uses is gone, and everything no survivor has installed is.
//!
//! "Uses" is judged from the outside, file by file: every symlink target a survivor has
//! in the cache, and every cache file sharing an inode with one of its files, must still
//! be there (same inode), and every survivor must import its packages with every recorded
//! file intact. A hardlinked venv would import fine even after its archive went, which
//! is why the inodes are checked too. Finally uv must install every package again, from
//! the same find-links dir, with both releases.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;

/// How many random cases, and at most how many venvs each.
const CASES: usize = 6;
const MAX_VENVS: usize = 5;
/// The wheels every case can install: two versions of alpha, one of the others.
const POOL: [(&str, &str); 5] = [
    ("alpha", "1.0"),
    ("alpha", "2.0"),
    ("beta", "1.0"),
    ("gamma", "1.0"),
    ("delta", "1.0"),
];

/// One venv of a case: how it is made and what happens to it.
struct VenvPlan {
    mode: LinkMode,
    old_uv: bool,
    from_index: bool,
    /// Indexes into [`POOL`], at most one version per name.
    packages: Vec<usize>,
    deleted: bool,
    /// A package uninstalled again (`uv pip uninstall`) from a venv that survives.
    uninstalled: Option<usize>,
}

impl VenvPlan {
    fn random(rng: &mut fastrand::Rng) -> VenvPlan {
        let mut packages: Vec<usize> = (0..POOL.len()).filter(|_| rng.bool()).collect();
        if packages.is_empty() {
            packages.push(rng.usize(..POOL.len()));
        }
        // Both alphas cannot share a venv: keep one.
        if packages.starts_with(&[0, 1]) {
            packages.remove(rng.usize(..2));
        }
        let deleted = rng.u8(..3) == 0;
        let uninstalled = (!deleted && packages.len() > 1 && rng.u8(..4) == 0)
            .then(|| packages[rng.usize(..packages.len())]);
        VenvPlan {
            mode: [LinkMode::Hardlink, LinkMode::Symlink, LinkMode::Copy][rng.usize(..3)],
            old_uv: rng.bool(),
            from_index: rng.bool(),
            packages,
            deleted,
            uninstalled,
        }
    }

    /// The import names of the packages it still has at the end.
    fn kept_names(&self) -> Vec<&'static str> {
        self.packages
            .iter()
            .filter(|&&p| Some(p) != self.uninstalled)
            .map(|&p| POOL[p].0)
            .collect()
    }
}

impl std::fmt::Display for VenvPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let packages: Vec<String> = self.packages.iter().map(|&p| requirement(p)).collect();
        write!(
            f,
            "{} {} from {} {packages:?}",
            self.mode.as_arg(),
            if self.old_uv { "uv-old" } else { "uv" },
            if self.from_index {
                "index"
            } else {
                "find-links"
            },
        )?;
        if let Some(p) = self.uninstalled {
            write!(f, ", then uninstall {}", POOL[p].0)?;
        }
        if self.deleted {
            write!(f, ", then deleted")?;
        }
        Ok(())
    }
}

/// `uv` or `uv_old`.
fn release(old_uv: bool) -> PathBuf {
    if old_uv { uv_old() } else { uv() }
}

/// `name==version` for the install command line.
fn requirement(package: usize) -> String {
    let (name, version) = POOL[package];
    format!("{name}=={version}")
}

/// What survivors depend on in the cache, found by walking their trees without following
/// links: symlink targets (with their inode) and cache files sharing an inode with them.
fn cache_files_used_by(cache: &Path, venvs: &[PathBuf]) -> BTreeMap<PathBuf, u64> {
    let mut used = BTreeMap::new();
    let mut inodes = BTreeSet::new();
    for venv in venvs {
        for entry in walkdir::WalkDir::new(venv).follow_links(false) {
            let entry = entry.expect("walk a venv");
            let meta = entry.metadata().expect("lstat");
            if entry.path_is_symlink() {
                let target = std::fs::read_link(entry.path()).expect("readlink");
                if target.starts_with(cache) {
                    let real = std::fs::metadata(&target).expect("symlink target exists");
                    used.insert(target, real.ino());
                }
            } else if meta.is_file() && meta.nlink() > 1 {
                inodes.insert((meta.dev(), meta.ino()));
            }
        }
    }
    for entry in walkdir::WalkDir::new(cache.join("archive-v0")).follow_links(false) {
        let entry = entry.expect("walk archive-v0");
        let meta = entry.metadata().expect("lstat");
        if meta.is_file() && inodes.contains(&(meta.dev(), meta.ino())) {
            used.insert(entry.into_path(), meta.ino());
        }
    }
    used
}

/// The `(name, version)` of every dist-info in the venvs' site-packages.
fn installed(venvs: &[PathBuf]) -> BTreeSet<(String, String)> {
    venvs
        .iter()
        .flat_map(|venv| dist_info_records(&site_packages(venv)))
        .map(|record| {
            let dir = record
                .parent()
                .expect("dist-info")
                .file_name()
                .expect("name");
            let stem = dir
                .to_string_lossy()
                .trim_end_matches(".dist-info")
                .to_owned();
            let (name, version) = stem.split_once('-').expect("<name>-<version>.dist-info");
            (name.to_owned(), version.to_owned())
        })
        .collect()
}

/// Builds one case, applies, and checks it.
fn run_case(case: usize, plans: &[VenvPlan]) {
    let sandbox = Sandbox::new();
    for (name, version) in POOL {
        let wheel = sandbox.wheel(name, version);
        sandbox.publish(&wheel);
    }
    let server = IndexServer::start(&sandbox.index_dir());
    let url = server.url();
    let mut survivors = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let bin = release(plan.old_uv);
        let source = if plan.from_index {
            Source::Index(&url)
        } else {
            Source::FindLinks
        };
        let requirements: Vec<String> = plan.packages.iter().map(|&p| requirement(p)).collect();
        let requirements: Vec<&str> = requirements.iter().map(String::as_str).collect();
        let rel = format!("projects/case{case}-v{i}/.venv");
        let venv = sandbox.venv_from(&rel, &bin, plan.mode, source, &requirements);
        if let Some(package) = plan.uninstalled {
            let python = path_str(&venv);
            let args = ["pip", "uninstall", "--python", &python, POOL[package].0];
            sandbox.uv_ok(&bin, &args);
        }
        if plan.deleted {
            delete(&venv);
        } else {
            survivors.push((venv, plan));
        }
    }
    let survivor_dirs: Vec<PathBuf> = survivors.iter().map(|(v, _)| v.clone()).collect();
    let used = cache_files_used_by(&sandbox.cache(), &survivor_dirs);
    let linked = survivors
        .iter()
        .any(|(_, plan)| plan.mode != LinkMode::Copy && !plan.kept_names().is_empty());
    assert_eq!(!used.is_empty(), linked, "links found: {used:#?}");
    let in_use = installed(&survivor_dirs);
    let known = sandbox.all_archives();

    let report = sandbox.prune_json(&apply_args(&[&sandbox.projects()]));

    let gone: Vec<_> = used
        .iter()
        .filter(|(path, ino)| std::fs::symlink_metadata(path).map(|m| m.ino()).ok() != Some(**ino))
        .collect();
    assert!(
        gone.is_empty(),
        "files survivors use were removed: {gone:#?}\n{report:#}"
    );
    for (venv, plan) in &survivors {
        sandbox.assert_imports(venv, &plan.kept_names());
    }
    for (name, version) in POOL {
        if !in_use.contains(&(name.to_owned(), version.to_owned())) {
            let left = sandbox.archives_of(name, version);
            assert!(
                left.is_empty(),
                "{name} {version} is used by no survivor: {left:?}\n{report:#}"
            );
        }
    }
    let problems = pointer_problems(&sandbox.cache(), &known);
    assert!(problems.is_empty(), "{problems:#?}");

    // Everything can be installed again, whatever the apply removed.
    for old_uv in [false, true] {
        for alpha in [0, 1] {
            let requirements = [
                requirement(alpha),
                requirement(2),
                requirement(3),
                requirement(4),
            ];
            let requirements: Vec<&str> = requirements.iter().map(String::as_str).collect();
            let rel = format!("projects/again-{old_uv}-{alpha}/.venv");
            let venv = sandbox.venv(&rel, &release(old_uv), LinkMode::Hardlink, &requirements);
            sandbox.assert_imports(&venv, &["alpha", "beta", "gamma", "delta"]);
        }
    }
}

#[test]
fn apply_never_removes_what_a_surviving_venv_uses() {
    let mut rng = seeded_rng("apply_never_removes_what_a_surviving_venv_uses");
    for case in 0..CASES {
        let venvs = rng.usize(1..=MAX_VENVS);
        let plans: Vec<VenvPlan> = (0..venvs).map(|_| VenvPlan::random(&mut rng)).collect();
        eprintln!("case {case}:");
        plans.iter().for_each(|plan| eprintln!("  {plan}"));
        run_case(case, &plans);
    }
}
