//! The model of the property mode: a generated case as plain data, and which of its
//! archives must stay, stated from the rules users are promised, not from the tool's code.
//!
//! An archive must stay when a venv inside the roots links it (symlink or hardlink), when
//! a clone or copy venv inside the roots holds the same distribution (same name and
//! version: every such archive stays; so does a hardlink venv whose archive cannot be
//! read, since its link cannot be recognised), when a hardlink venv outside the roots links it
//! (its link count tells), when it cannot be read, or when any part of a root cannot be
//! read (a venv may hide there). A symlink venv outside every root cannot be seen and a
//! copy outside needs nothing: those keep nothing.

use std::collections::BTreeSet;

/// The uv generations a case mixes, each with its own buckets, id length and pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// uv 0.8.24: `wheels-v5`, absolute symlinks, 21-char ids.
    V0_8,
    /// uv 0.10.12: `wheels-v6`, absolute symlinks, 21-char ids.
    V0_10,
    /// uv 0.12.5: `wheels-v6`, relative symlinks, map pointers, 16-char ids.
    V0_12,
    /// uv 0.13.9: `wheels-v8`, array pointers, 16-char ids.
    V0_13,
    /// uv 0.13.9 with the content-addressed preview: 24-char ids, `files-v0` objects.
    ContentAddressed,
}

pub const GENERATIONS: [Generation; 5] = [
    Generation::V0_8,
    Generation::V0_10,
    Generation::V0_12,
    Generation::V0_13,
    Generation::ContentAddressed,
];

/// What names an archive in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerKind {
    /// From an index: symlink plus `.http`.
    Http,
    /// From find-links: symlink plus `.rev`.
    Rev,
    /// Built from a source dist: a symlink under `sdists-v*`.
    Sdist,
    /// Nothing (uv lost the pointer, or `uv cache prune` left the archive).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    Hardlink,
    Symlink,
    Copy,
    Clone,
}

pub const LINK_MODES: [LinkMode; 4] = [
    LinkMode::Hardlink,
    LinkMode::Symlink,
    LinkMode::Copy,
    LinkMode::Clone,
];

#[derive(Debug, Clone)]
pub struct ArchiveSpec {
    /// Package `m<name>`; few names, so that distributions repeat across archives.
    pub name: u8,
    /// Version `<version>.0`.
    pub version: u8,
    pub generation: Generation,
    pub pointer: PointerKind,
    /// Extra modules: archives of one distribution differ in their files.
    pub modules: u8,
    /// Made unreadable (mode 000) after the venvs linked it.
    pub unreadable: bool,
}

#[derive(Debug, Clone)]
pub struct VenvSpec {
    pub mode: LinkMode,
    /// Under the root (`projects/`) or outside every root.
    pub inside: bool,
    /// Indexes into the case's archives; the first of each package name is installed.
    pub archives: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub archives: Vec<ArchiveSpec>,
    pub venvs: Vec<VenvSpec>,
    /// A directory under the root that cannot be read.
    pub unreadable_root_part: bool,
}

impl ArchiveSpec {
    pub fn package(&self) -> String {
        format!("m{}", self.name)
    }

    pub fn version(&self) -> String {
        format!("{}.0", self.version)
    }
}

impl VenvSpec {
    /// The archives it really installs: one per package name, first listed wins.
    pub fn installed(&self, case: &Case) -> Vec<usize> {
        let mut names = BTreeSet::new();
        self.archives
            .iter()
            .copied()
            .filter(|&a| a < case.archives.len() && names.insert(case.archives[a].name))
            .collect()
    }
}

/// Indexes of the archives that must stay.
pub fn must_stay(case: &Case) -> BTreeSet<usize> {
    let all = 0..case.archives.len();
    if case.unreadable_root_part {
        return all.collect();
    }
    let mut stay: BTreeSet<usize> = all.filter(|&a| case.archives[a].unreadable).collect();
    for venv in &case.venvs {
        for a in venv.installed(case) {
            let spec = &case.archives[a];
            match (venv.inside, venv.mode) {
                (true, LinkMode::Symlink) | (false, LinkMode::Hardlink) => {
                    stay.insert(a);
                }
                // A hardlink into an archive that cannot be read is not recognisable as
                // one: the venv's copy of the distribution then keeps it like a clone does.
                (true, LinkMode::Hardlink) if !spec.unreadable => {
                    stay.insert(a);
                }
                (true, LinkMode::Hardlink | LinkMode::Copy | LinkMode::Clone) => {
                    stay.extend((0..case.archives.len()).filter(|&b| {
                        case.archives[b].name == spec.name
                            && case.archives[b].version == spec.version
                    }));
                }
                (false, _) => {}
            }
        }
    }
    stay
}

/// A random case from `seed`.
pub fn generate(seed: u64, permissions_enforced: bool) -> Case {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut archives: Vec<ArchiveSpec> = Vec::new();
    for _ in 0..rng.usize(1..=10) {
        let generation = GENERATIONS[rng.usize(..GENERATIONS.len())];
        let (name, version) = (rng.u8(..4), rng.u8(1..=2));
        // uv shares a content-addressed METADATA between archives of one distribution, so
        // two such archives would tell a hardlink venv's inode apart by chance: one each.
        let duplicate_ca = generation == Generation::ContentAddressed
            && archives.iter().any(|a| {
                a.generation == Generation::ContentAddressed
                    && a.name == name
                    && a.version == version
            });
        if duplicate_ca {
            continue;
        }
        let pointer = match rng.u8(..10) {
            0..=3 => PointerKind::Http,
            4..=6 => PointerKind::Rev,
            7..=8 => PointerKind::Sdist,
            _ => PointerKind::None,
        };
        archives.push(ArchiveSpec {
            name,
            version,
            generation,
            pointer,
            modules: rng.u8(..6),
            unreadable: permissions_enforced && rng.u8(..25) == 0,
        });
    }
    let venvs = (0..rng.usize(..=5))
        .map(|_| VenvSpec {
            mode: LINK_MODES[rng.usize(..LINK_MODES.len())],
            inside: rng.u8(..4) != 0,
            archives: (0..rng.usize(1..=3))
                .map(|_| rng.usize(..archives.len()))
                .collect(),
        })
        .collect();
    Case {
        archives,
        venvs,
        unreadable_root_part: permissions_enforced && rng.u8(..30) == 0,
    }
}

/// Smaller variants of `case`, most aggressive first: without an archive, a venv, a
/// venv's package, the unreadable part, or extra modules.
pub fn smaller(case: &Case) -> Vec<Case> {
    let mut out = Vec::new();
    for a in 0..case.archives.len() {
        let mut c = case.clone();
        c.archives.remove(a);
        for venv in &mut c.venvs {
            venv.archives = venv
                .archives
                .iter()
                .filter(|&&i| i != a)
                .map(|&i| if i > a { i - 1 } else { i })
                .collect();
        }
        if !c.archives.is_empty() {
            out.push(c);
        }
    }
    for v in 0..case.venvs.len() {
        let mut c = case.clone();
        c.venvs.remove(v);
        out.push(c);
        for k in 0..case.venvs[v].archives.len() {
            let mut c = case.clone();
            c.venvs[v].archives.remove(k);
            out.push(c);
        }
    }
    if case.unreadable_root_part {
        let mut c = case.clone();
        c.unreadable_root_part = false;
        out.push(c);
    }
    for a in 0..case.archives.len() {
        if case.archives[a].modules > 0 || case.archives[a].unreadable {
            let mut c = case.clone();
            c.archives[a].modules = 0;
            c.archives[a].unreadable = false;
            out.push(c);
        }
    }
    out
}
