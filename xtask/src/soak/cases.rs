//! `--cases N`: a model-based property test on generated caches.
//!
//! Each case ([`model::generate`]) is written in uv's real layout: archives unpacked as uv
//! unpacks a wheel (the tree is checked once against a real uv archive), pointers made of
//! real uv bytes with the id replaced (the files in `tests/fixtures/pointers` for four
//! releases, and a content-addressed `.rev` captured from real uv at start-up), `.lock`
//! files beside them, `files-v0` objects hardlinked into content-addressed archives, and
//! venvs linking them in all four link modes inside and outside the root. The tool's dry
//! run must keep exactly what [`model::must_stay`] says, and `--apply` must leave exactly
//! those archives, no pointer naming a removed one, every pointer naming a complete
//! archive, no orphaned object, and every venv that the rules protect sound. A failing
//! case is shrunk (fewer archives, venvs, files) before it is printed with its seed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

use super::bed::{Bed, UvBins, checked, make_writable};
use super::model::{self, Case, Generation, LinkMode, PointerKind};
use super::{Failure, ModeReport, nth_seed};
use testbed::ground_truth::{
    all_archives, pointer_problems, pointers, trash_entries, venv_problems, walk,
};
use testbed::sandbox::{SETPRIV_DROP_DAC, wrapping};
use testbed::wheel::{try_write_wheel, wheel_files};

/// Shrinking stops after this many candidate cases.
const SHRINK_BUDGET: usize = 300;

/// Real bytes uv wrote: a pointer and the id inside it.
struct Template {
    bytes: Vec<u8>,
    id: String,
}

/// What real uv gave once: pointer templates per generation and format, and a venv's
/// `pyvenv.cfg` and site-packages path.
struct Templates {
    pointers: BTreeMap<(u8, bool), Template>,
    pyvenv_cfg: Vec<u8>,
    site_packages: PathBuf,
}

macro_rules! fixture {
    ($file:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/pointers/",
            $file
        ))
    };
}

fn generation_key(generation: Generation) -> u8 {
    generation as u8
}

impl Templates {
    /// The fixture pointers of four releases, plus what one real uv run shows: a
    /// content-addressed `.rev`, a venv, and the tree uv unpacks a wheel into (which must be
    /// the tree [`wheel_files`] lists, or the generated archives would not be uv's).
    fn capture(tool: &Path, uv: &UvBins) -> Result<Templates> {
        let bed = Bed::new("cases-capture", tool, uv)?;
        try_write_wheel(&bed.wheels(), "alpha", "1.0", 0, 3)?;
        let venv = bed.projects().join("v");
        checked(bed.uv_cmd(&uv.current).arg("venv").arg(&venv))?;
        checked(
            bed.uv_cmd(&uv.current)
                .env("UV_PREVIEW_FEATURES", "content-addressed-cache")
                .args(["pip", "install", "--python"])
                .arg(&venv)
                .arg("--no-index")
                .arg("--find-links")
                .arg(bed.wheels())
                .arg("alpha"),
        )?;
        let cache = bed.cache();
        let ids = all_archives(&cache);
        let id = ids
            .iter()
            .next()
            .context("real uv unpacked no archive")?
            .clone();
        let mut unpacked = BTreeSet::new();
        let archive = cache.join("archive-v0").join(&id);
        walk(&archive, &mut |path, meta| {
            if meta.is_file() {
                let rel = path.strip_prefix(&archive).unwrap_or(path);
                unpacked.insert(rel.to_string_lossy().into_owned());
            }
        });
        let ours: BTreeSet<String> = wheel_files("alpha", "1.0", 0, 3)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        ensure!(
            unpacked == ours,
            "real uv unpacked {unpacked:?}, the generator writes {ours:?}"
        );
        let (found, _) = pointers(&cache, &ids);
        let rev = found
            .iter()
            .map(|p| p.path.with_extension("rev"))
            .find(|p| p.is_file())
            .context("real uv wrote no .rev pointer")?;
        let ca = Template {
            bytes: fs::read(&rev).with_context(|| format!("reading {}", rev.display()))?,
            id,
        };
        let site = testbed::ground_truth::site_packages(&venv)
            .context("real venv without site-packages")?;
        let site_packages = site.strip_prefix(&venv)?.to_owned();
        let pyvenv_cfg = fs::read(venv.join("pyvenv.cfg"))?;
        bed.remove();

        let t = |bytes: &[u8], id: &str| Template {
            bytes: bytes.to_vec(),
            id: id.to_owned(),
        };
        let mut pointers = BTreeMap::new();
        let key = |g, http| (generation_key(g), http);
        pointers.insert(
            key(Generation::V0_8, true),
            t(fixture!("uv-0.8.24.http"), "2gHWOlmXp280FGwgegx8z"),
        );
        pointers.insert(
            key(Generation::V0_8, false),
            t(fixture!("uv-0.8.24.rev"), "v5oSyABWCEOM3s6-mMWKR"),
        );
        pointers.insert(
            key(Generation::V0_10, true),
            t(fixture!("uv-0.10.12.http"), "2xBiB_P223nr3H26FNKpy"),
        );
        pointers.insert(
            key(Generation::V0_10, false),
            t(fixture!("uv-0.10.12.rev"), "oGzNcomJAcgwUqXCbhofD"),
        );
        pointers.insert(
            key(Generation::V0_12, true),
            t(fixture!("uv-0.12.5.http"), "Id6ElUyBxg90SHjY"),
        );
        pointers.insert(
            key(Generation::V0_12, false),
            t(fixture!("uv-0.12.5.rev"), "fAZ8aKGNCUuCLldn"),
        );
        pointers.insert(
            key(Generation::V0_13, true),
            t(fixture!("uv-0.13.9.http"), "FclKTVq99P1u_ne1"),
        );
        pointers.insert(
            key(Generation::V0_13, false),
            t(fixture!("uv-0.13.9.rev"), "DLKZEOjmGzxfJFMK"),
        );
        pointers.insert(key(Generation::ContentAddressed, false), ca);
        Ok(Templates {
            pointers,
            pyvenv_cfg,
            site_packages,
        })
    }

    fn pointer(&self, generation: Generation, http: bool, id: &str) -> Result<Vec<u8>> {
        let template = self
            .pointers
            .get(&(generation_key(generation), http))
            .context("no pointer template")?;
        ensure!(
            template.id.len() == id.len(),
            "id length differs from the template's"
        );
        let at = template
            .bytes
            .windows(id.len())
            .position(|w| w == template.id.as_bytes())
            .context("the template does not name its archive")?;
        let mut bytes = template.bytes.clone();
        bytes[at..at + id.len()].copy_from_slice(id.as_bytes());
        Ok(bytes)
    }
}

pub fn run(tool: &Path, uv: &UvBins, cases: usize, seed: u64) -> Result<ModeReport> {
    let started = Instant::now();
    let templates = Templates::capture(tool, uv)?;
    let bed = Bed::new("cases", tool, uv)?;
    let enforced = permissions_enforced(&bed);
    if !enforced {
        println!("cases: note: cannot make a directory unreadable here; no unreadable parts");
    }
    println!("\ncases: {cases} model-based cases");
    let mut failures = Vec::new();
    let mut removed = 0;
    let mut kept = 0;
    for i in 0..cases {
        let case_seed = nth_seed(seed, i);
        let case = model::generate(case_seed, enforced);
        match check(&bed, &templates, &case, case_seed, enforced) {
            Ok((stay, gone)) => {
                kept += stay;
                removed += gone;
            }
            Err(e) => {
                let (shrunk, message) = shrink(&bed, &templates, case, e, case_seed, enforced);
                let replay = format!("cargo xtask soak --cases 1 --seed {case_seed}");
                println!("cases: FAILED seed {case_seed}: {message}\n  shrunk case: {shrunk:#?}");
                failures.push(Failure {
                    replay,
                    message: format!("case {case_seed}: {message}"),
                });
            }
        }
        if (i + 1).is_multiple_of(100) {
            println!("cases: {} of {cases}", i + 1);
        }
    }
    if failures.is_empty() {
        bed.remove();
    }
    Ok(ModeReport {
        mode: "cases",
        counts: vec![
            ("cases", cases),
            ("archives kept", kept),
            ("archives removed", removed),
        ],
        failures,
        duration: started.elapsed(),
    })
}

/// Tries smaller variants while they still fail; returns the smallest and its message.
fn shrink(
    bed: &Bed,
    templates: &Templates,
    mut case: Case,
    error: anyhow::Error,
    seed: u64,
    enforced: bool,
) -> (Case, String) {
    let mut message = format!("{error:#}");
    let mut tried = 0;
    'outer: while tried < SHRINK_BUDGET {
        for candidate in model::smaller(&case) {
            tried += 1;
            if let Err(e) = check(bed, templates, &candidate, seed, enforced) {
                case = candidate;
                message = format!("{e:#}");
                continue 'outer;
            }
            if tried >= SHRINK_BUDGET {
                break 'outer;
            }
        }
        break;
    }
    (case, message)
}

/// Writes `case`, runs the dry run and `--apply`, and checks both against the model.
/// Returns (archives kept, archives removed).
fn check(
    bed: &Bed,
    templates: &Templates,
    case: &Case,
    seed: u64,
    enforced: bool,
) -> Result<(usize, usize)> {
    let world = write_case(bed, templates, case, seed)?;
    let stay: BTreeSet<String> = model::must_stay(case)
        .into_iter()
        .map(|a| world.ids[a].clone())
        .collect();
    let all: BTreeSet<String> = world.ids.iter().cloned().collect();
    let dead: BTreeSet<String> = all.difference(&stay).cloned().collect();

    let plan = run_tool(bed, &["--json"], enforced)?;
    let ids_of = |key: &str| -> BTreeSet<String> {
        plan[key]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|c| c["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (planned_dead, planned_live) = (ids_of("candidates"), ids_of("live"));
    if planned_dead != dead || planned_live != stay {
        bail!(
            "dry run disagrees with the model: removes {:?} it must keep, keeps {:?} the model removes",
            planned_dead.intersection(&stay).collect::<Vec<_>>(),
            planned_live.intersection(&dead).collect::<Vec<_>>()
        );
    }

    run_tool(bed, &["--apply", "--json"], enforced)?;
    make_writable(&bed.cache());
    let cache = bed.cache();
    let left = all_archives(&cache);
    ensure!(
        left == stay,
        "--apply left {:?}, the model keeps {:?}",
        left,
        stay
    );
    let trash = trash_entries(&cache);
    ensure!(trash.is_empty(), "--apply left trash {trash:?}");
    let (found, _) = pointers(&cache, &all);
    let stale: Vec<_> = found.iter().filter(|p| dead.contains(&p.id)).collect();
    ensure!(
        stale.is_empty(),
        "pointers to removed archives left: {stale:?}"
    );
    let problems = pointer_problems(&cache, &all);
    ensure!(problems.is_empty(), "pointer problems: {problems:?}");
    let mut orphans = Vec::new();
    walk(&cache.join("files-v0"), &mut |path, meta| {
        if meta.is_file() && meta.nlink() == 1 {
            orphans.push(path.to_owned());
        }
    });
    ensure!(
        orphans.is_empty(),
        "objects no archive links any more: {orphans:?}"
    );
    for (venv, spec) in world.venvs.iter().zip(&case.venvs) {
        let protected = spec.inside || spec.mode != LinkMode::Symlink;
        if protected {
            let problems = venv_problems(venv);
            ensure!(problems.is_empty(), "venv broken: {problems:?}");
        }
    }
    Ok((stay.len(), dead.len()))
}

/// The tool on the case's bed, as a process that cannot read mode-000 directories when
/// the case has some; fails unless it exits 0 with a JSON report.
fn run_tool(bed: &Bed, args: &[&str], enforced: bool) -> Result<serde_json::Value> {
    let cmd = bed.prune_cmd(args);
    let mut cmd = if enforced {
        let mut setpriv = Command::new("setpriv");
        setpriv.args(SETPRIV_DROP_DAC);
        wrapping(setpriv, &cmd)
    } else {
        cmd
    };
    let output = checked(&mut cmd)?;
    serde_json::from_slice(&output.stdout).context("the tool's --json report")
}

fn permissions_enforced(bed: &Bed) -> bool {
    let probe = bed.path("probe");
    if fs::create_dir_all(&probe).is_err() {
        return false;
    }
    let _ = fs::set_permissions(&probe, fs::Permissions::from_mode(0o000));
    let ls = |extra: &[&str]| {
        Command::new("setpriv")
            .args(SETPRIV_DROP_DAC)
            .arg("ls")
            .args(extra)
            .arg(&probe)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let enforced = ls(&["-d"]) && !ls(&[]);
    let _ = fs::set_permissions(&probe, fs::Permissions::from_mode(0o755));
    enforced
}

/// A written case: archive ids by index, venv paths by index.
struct World {
    ids: Vec<String>,
    venvs: Vec<PathBuf>,
}

fn write_case(bed: &Bed, templates: &Templates, case: &Case, seed: u64) -> Result<World> {
    for dir in ["cache", "projects", "outside", "xdg"] {
        let path = bed.path(dir);
        if path.exists() {
            make_writable(&path);
            fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let cache = bed.cache();
    fs::create_dir_all(cache.join("archive-v0"))?;
    fs::create_dir_all(bed.projects())?;
    fs::write(
        cache.join("CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n",
    )?;
    fs::write(cache.join(".lock"), "")?;
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5EED);
    let mut ids = Vec::new();
    for (i, spec) in case.archives.iter().enumerate() {
        let id = archive_id(&mut rng, spec.generation, &ids);
        let dir = cache.join("archive-v0").join(&id);
        let files = wheel_files(
            &spec.package(),
            &spec.version(),
            0,
            usize::from(spec.modules),
        );
        for (name, content) in &files {
            let path = dir.join(name);
            fs::create_dir_all(path.parent().context("file in a directory")?)?;
            if spec.generation == Generation::ContentAddressed && !name.ends_with("/RECORD") {
                let hex: String = Sha256::digest(content)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let object = cache.join("files-v0").join(&hex[..2]).join(&hex);
                if !object.exists() {
                    fs::create_dir_all(object.parent().context("object dir")?)?;
                    fs::write(&object, content)?;
                }
                fs::hard_link(&object, &path)?;
            } else {
                fs::write(&path, content)?;
            }
        }
        write_pointer(&cache, templates, spec, i, &id)?;
        ids.push(id);
    }
    let mut venvs = Vec::new();
    for (v, spec) in case.venvs.iter().enumerate() {
        let base = if spec.inside {
            bed.projects()
        } else {
            bed.path("outside")
        };
        let venv = base.join(format!("v{v}/.venv"));
        let site = venv.join(&templates.site_packages);
        fs::create_dir_all(&site)?;
        fs::write(venv.join("pyvenv.cfg"), &templates.pyvenv_cfg)?;
        for a in spec.installed(case) {
            let archive = &case.archives[a];
            let dir = cache.join("archive-v0").join(&ids[a]);
            let files = wheel_files(
                &archive.package(),
                &archive.version(),
                0,
                usize::from(archive.modules),
            );
            let mut record = String::new();
            for (name, _) in &files {
                let (from, to) = (dir.join(name), site.join(name));
                fs::create_dir_all(to.parent().context("file in a directory")?)?;
                if name.ends_with("/RECORD") {
                    record = fs::read_to_string(&from)?;
                    continue;
                }
                match spec.mode {
                    LinkMode::Hardlink => fs::hard_link(&from, &to)?,
                    LinkMode::Symlink => symlink(&from, &to)?,
                    LinkMode::Copy | LinkMode::Clone => drop(fs::copy(&from, &to)?),
                }
            }
            let info = format!("{}-{}.dist-info", archive.package(), archive.version());
            fs::write(site.join(&info).join("INSTALLER"), "uv\n")?;
            fs::write(site.join(&info).join("RECORD"), record)?;
        }
        venvs.push(venv);
    }
    for (spec, id) in case.archives.iter().zip(&ids) {
        if spec.unreadable {
            let dir = cache.join("archive-v0").join(id);
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o000))?;
        }
    }
    if case.unreadable_root_part {
        let dir = bed.projects().join("private");
        fs::create_dir_all(dir.join("inner"))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o000))?;
    }
    Ok(World { ids, venvs })
}

/// A fresh id in the generation's alphabet and length.
fn archive_id(rng: &mut fastrand::Rng, generation: Generation, taken: &[String]) -> String {
    const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    const BASE36: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let (alphabet, len) = match generation {
        Generation::V0_8 | Generation::V0_10 => (URL_SAFE, 21),
        Generation::V0_12 | Generation::V0_13 => (URL_SAFE, 16),
        Generation::ContentAddressed => (BASE36, 24),
    };
    loop {
        let id: String = (0..len)
            .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
            .collect();
        if !taken.contains(&id) && !id.starts_with('.') {
            return id;
        }
    }
}

/// The archive's pointer where its uv generation puts it.
fn write_pointer(
    cache: &Path,
    templates: &Templates,
    spec: &model::ArchiveSpec,
    i: usize,
    id: &str,
) -> Result<()> {
    let absolute = matches!(spec.generation, Generation::V0_8 | Generation::V0_10);
    let target = |depth: usize| -> PathBuf {
        if absolute {
            cache.join("archive-v0").join(id)
        } else {
            PathBuf::from(format!("{}archive-v0/{id}", "../".repeat(depth)))
        }
    };
    let stem = format!("{}-py3-none-any", spec.version());
    match spec.pointer {
        PointerKind::None => {}
        PointerKind::Sdist => {
            let bucket = match spec.generation {
                Generation::V0_13 | Generation::ContentAddressed => "sdists-v11",
                _ => "sdists-v9",
            };
            let dir = cache.join(bucket).join(format!("path/{i:016x}/{i:016x}"));
            fs::create_dir_all(dir.join("src"))?;
            fs::write(dir.join("src/pyproject.toml"), "[project]\n")?;
            symlink(target(4), dir.join(format!("{}-{stem}", spec.package())))?;
        }
        PointerKind::Http | PointerKind::Rev => {
            let bucket = match spec.generation {
                Generation::V0_8 => "wheels-v5",
                Generation::V0_10 | Generation::V0_12 => "wheels-v6",
                Generation::V0_13 | Generation::ContentAddressed => "wheels-v8",
            };
            // The preview's `.rev` is the one content-addressed template captured.
            let http = spec.pointer == PointerKind::Http
                && spec.generation != Generation::ContentAddressed;
            let dir = cache
                .join(bucket)
                .join(format!("index/{i:016x}/{}", spec.package()));
            fs::create_dir_all(&dir)?;
            symlink(target(4), dir.join(&stem))?;
            let ext = if http { "http" } else { "rev" };
            fs::write(
                dir.join(format!("{stem}.{ext}")),
                templates.pointer(spec.generation, http, id)?,
            )?;
            fs::write(dir.join(format!("{stem}.lock")), "")?;
        }
    }
    Ok(())
}
