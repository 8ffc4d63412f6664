//! The command line, shared by the binary, `cargo xtask cache-prune` and any other
//! repository's xtask (which can `#[command(flatten)]` [`Args`] and call [`run`]).
//!
//! It holds the clap types, the merge of flags with the config file ([`crate::cli::config`])
//! into typed `Settings`, and dispatch; the run itself is `pipeline`'s.

pub mod config;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::apply::cache_lock::Wait;
use crate::cache::dist::PackageName;
use crate::pipeline::{self, LockUse, Mode, Settings};
use crate::report::Report;
use crate::state;
pub use crate::units::{Size, parse_duration};
use config::Config;

/// Find and remove unpacked wheels in uv's cache that no live virtualenv uses.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    /// A subcommand; none is the prune itself.
    pub command: Option<Command>,

    #[command(flatten)]
    /// The prune's flags.
    pub prune: PruneArgs,
}

/// The prune itself (the default command).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PruneArgs {
    /// The uv cache [default: $UV_CACHE_DIR, else `uv cache dir`, else the platform default]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// A directory tree to search for venvs (repeatable)
    #[arg(long = "root", value_name = "DIR")]
    pub roots: Vec<PathBuf>,

    /// Search only the --root directories: not the config's roots, the registry, uv's tool
    /// dir, the home directory or the current git worktree (the cache's own environments
    /// are always checked)
    #[arg(long)]
    pub no_default_roots: bool,

    /// Remember DIR as a root for every later run, then run (repeatable)
    #[arg(long, value_name = "DIR")]
    pub register: Vec<PathBuf>,

    /// Delete the dead archives and their pointers (the default is a dry run that changes
    /// nothing in the cache), holding uv's cache lock
    #[arg(long)]
    pub apply: bool,

    /// Print the report as JSON (schema_version 1) on stdout
    #[arg(long)]
    pub json: bool,

    /// Keep archives created less than this long ago, e.g. `0s`, `90m`, `30d` [default: 1h]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub grace: Option<Duration>,

    /// Never remove this package, live or not (repeatable; adds to the config's `keep`)
    #[arg(long, value_name = "PACKAGE")]
    pub keep: Vec<String>,

    /// Remove only dead archives not used for this long, e.g. `30d`
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub unused_for: Option<Duration>,

    /// Remove dead archives, least recently used first, until the cache's archives fit,
    /// e.g. `20GiB`, `500MB`, `976896B` (a size needs a unit)
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<Size>,

    /// Explain every archive of a package (or one archive id): its evidence and policy
    // uv's ids may start with `-` (`-e89URKQxGRqaRg6`): the value is taken as it is.
    #[arg(
        long,
        value_name = "PACKAGE_OR_ID",
        conflicts_with = "apply",
        allow_hyphen_values = true
    )]
    pub explain: Option<String>,

    /// Also list, for each venv, the bytes that it alone keeps alive
    #[arg(long)]
    pub per_venv: bool,

    /// List every removable archive (on a terminal the default is a row per package,
    /// a screenful at most; piped output always lists every archive)
    #[arg(long)]
    pub all: bool,

    /// Colour the report: `auto` (on a terminal whose TERM is set and not `dumb`, unless
    /// NO_COLOR or CLICOLOR=0), `always`, `never`; without it NO_COLOR, then FORCE_COLOR /
    /// CLICOLOR_FORCE decide, then `auto`, as in uv
    #[arg(long, value_name = "WHEN", value_enum)]
    pub color: Option<crate::report::ColorChoice>,

    /// Print only errors and the result line (what was or would be freed)
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also print, on stderr, each stage's timing and each root searched
    #[arg(short, long)]
    pub verbose: bool,

    /// With --apply: how long to wait for uv to release the cache
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub lock_timeout: Duration,

    /// With --apply: if uv is using the cache, say so and stop at once (exit 0)
    #[arg(long)]
    pub no_wait: bool,

    /// Prune even when part of a root could not be read (a venv hidden there may lose
    /// its packages); by default such a blind spot keeps every archive
    #[arg(long)]
    pub allow_unreadable_roots: bool,

    /// Lock files keep nothing: only venvs say what is live (default: every uv.lock
    /// beside a pyproject.toml under a root keeps the distributions it names)
    #[arg(long)]
    pub ignore_locks: bool,

    /// CI mode: keep exactly what these lock files name (repeatable); no venvs, cached
    /// environments or link counts are consulted, and no grace unless --grace is given
    #[arg(
        long,
        value_name = "LOCKFILE",
        conflicts_with_all = ["ignore_locks", "hook", "roots", "register", "per_venv"]
    )]
    pub only_locked: Vec<PathBuf>,

    /// What the git hooks run: --apply --no-wait, removing only archives dead and unused
    /// for the config's `hook-unused-for` (default 7d; no --max-size), then one summary line
    #[arg(long, conflicts_with_all = ["apply", "explain", "json"])]
    pub hook: bool,

    /// Threads for reading the cache, matching venvs and deleting [default: one per core]
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<std::num::NonZeroUsize>,

    /// Root only: on a cache shared by several users, also search each user's home, uv
    /// tool dir and registered roots, so that their venvs keep what they use (without it,
    /// a shared cache keeps every archive)
    #[arg(long, conflicts_with = "only_locked")]
    pub all_users: bool,
}

#[derive(Debug, Clone, clap::Subcommand)]
/// The subcommands besides the prune.
pub enum Command {
    /// The registry of project roots searched on every run
    #[command(subcommand, after_help = ROOTS_EXAMPLES)]
    Roots(RootsCommand),
    /// Install the post-checkout and post-merge hooks that prune in the background
    #[command(after_help = INSTALL_HOOKS_EXAMPLES)]
    InstallHooks(InstallHooksArgs),
    /// Where the cache is, what is configured, whether hooks run, and what a prune would free
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor(DoctorArgs),
    /// What fills the cache: bytes, files, what a prune frees and what venvs share, per
    /// bucket and per package (the prune's flags choose the cache, roots and policy;
    /// --json prints docs/json-schema.md's "df" object)
    #[command(after_help = DF_EXAMPLES)]
    Df(Box<PruneArgs>),
    /// Print the completion script for bash, zsh, fish, elvish or powershell
    #[command(after_help = COMPLETION_EXAMPLES)]
    GenerateShellCompletion {
        /// The shell
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, clap::Args)]
/// `install-hooks`: where, and whether to uninstall.
pub struct InstallHooksArgs {
    /// The repository (repeatable) [default: the current one]
    #[arg(long = "repo", value_name = "DIR")]
    pub repos: Vec<PathBuf>,
    /// Remove the hooks and restore the ones they replaced
    #[arg(long)]
    pub uninstall: bool,
}

impl InstallHooksArgs {
    /// Installs (or uninstalls) in every repository; a line per hook.
    pub fn run(&self) -> Result<String> {
        let here = [PathBuf::from(".")];
        let repos = if self.repos.is_empty() {
            &here[..]
        } else {
            &self.repos
        };
        let mut out = String::new();
        for repo in repos {
            let lines = if self.uninstall {
                crate::setup::hooks::uninstall(repo)?
            } else {
                crate::setup::hooks::install(repo)?
            };
            for line in lines {
                out += &line;
                out.push('\n');
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Default, clap::Args)]
/// `doctor`: which repository's hooks to check, and which cache.
pub struct DoctorArgs {
    /// The repository whose hooks to check [default: the current one]
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// The uv cache [default: $UV_CACHE_DIR, else `uv cache dir`, else the platform default]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl DoctorArgs {
    /// The doctor's screen. A path named by a flag is checked first, as the prune checks
    /// its own: a typo is bad usage (exit 2) naming the closest sibling, not a report
    /// about a directory nobody meant.
    pub fn run(&self) -> Result<String> {
        if let Some(cache) = &self.cache_dir {
            must_exist("--cache-dir", cache, Kind::Dir)?;
        }
        if let Some(repo) = &self.repo {
            must_exist("--repo", repo, Kind::Dir)?;
        }
        crate::setup::doctor::report(self.repo.as_deref(), self.cache_dir.as_deref())
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
/// `roots`: the registry of project roots.
pub enum RootsCommand {
    /// List the registered roots (and whether each still exists)
    #[command(after_help = "Example:\n  uv-cache-prune roots list")]
    List,
    /// Register directories as roots
    #[command(
        after_help = "Example:\n  uv-cache-prune roots add ~/src ~/work  # search both on every run"
    )]
    Add {
        #[arg(required = true)]
        /// The directories to register.
        dirs: Vec<PathBuf>,
    },
    /// Forget registered roots
    #[command(after_help = "Example:\n  uv-cache-prune roots remove ~/work")]
    Remove {
        #[arg(required = true)]
        /// The directories to forget.
        dirs: Vec<PathBuf>,
    },
    /// Forget every registered root that no longer exists
    #[command(after_help = "Example:\n  uv-cache-prune roots prune  # after deleting old projects")]
    Prune,
}

const EXAMPLES: &str = "\
Examples:
  uv-cache-prune                          # dry run: what is dead, and why the rest is live
  uv-cache-prune --root ~/src --json      # also search ~/src for venvs; machine-readable
  uv-cache-prune --apply                  # delete, waiting up to 5m if uv is busy
  uv-cache-prune --apply --unused-for 30d --max-size 20GiB --keep numpy
  uv-cache-prune --explain torch          # why is each torch archive kept (or not)?
  uv-cache-prune --only-locked uv.lock --apply  # CI: keep exactly what the lock needs
  uv-cache-prune roots add ~/work/project # remember a project for every later run

Settings also come from <config dir>/uv-cache-prune/config.toml (or $UV_CACHE_PRUNE_CONFIG):
  roots, exclude, keep, grace, unused-for, max-size, hook-unused-for, ignore-locks. Flags win.

Exit status: 0 done (also: nothing to do, or cache busy with --no-wait), 1 runtime error,
2 bad usage.";

/// Examples under each subcommand's `--help`, as the top level has: a person reads the
/// help to find the command line, not the flag list.
const ROOTS_EXAMPLES: &str = "\
Examples:
  uv-cache-prune roots add ~/src ~/work   # search these on every run, like --root
  uv-cache-prune roots list               # what is registered, and what has vanished
  uv-cache-prune roots remove ~/work      # forget one
  uv-cache-prune roots prune              # forget every root that no longer exists";

const INSTALL_HOOKS_EXAMPLES: &str = "\
Examples:
  uv-cache-prune install-hooks                       # in the current repository
  uv-cache-prune install-hooks --repo ~/src/a --repo ~/src/b
  uv-cache-prune install-hooks --uninstall           # restore the hooks they replaced";

const DOCTOR_EXAMPLES: &str = "\
Examples:
  uv-cache-prune doctor                   # the cache, the config, the hooks, what a prune frees
  uv-cache-prune doctor --repo ~/src/app  # are the hooks installed in that repository?
  uv-cache-prune doctor --cache-dir /srv/uv-cache  # another cache (UV_CACHE_DIR works too)";

const DF_EXAMPLES: &str = "\
Examples:
  uv-cache-prune df                       # what fills the cache, per bucket and package
  uv-cache-prune df --unused-for 30d      # what a prune with that policy would free
  uv-cache-prune df --json                # docs/json-schema.md's \"df\" object";

const COMPLETION_EXAMPLES: &str = "\
Examples:
  uv-cache-prune generate-shell-completion bash > ~/.local/share/bash-completion/completions/uv-cache-prune
  uv-cache-prune generate-shell-completion zsh > ~/.zfunc/_uv-cache-prune
  uv-cache-prune generate-shell-completion fish > ~/.config/fish/completions/uv-cache-prune.fish";

/// `--threads N`: a whole number, 1 or more; the error says so (clap's own message for
/// `0` was "number would be zero for non-zero type").
fn parse_threads(text: &str) -> std::result::Result<std::num::NonZeroUsize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) => std::num::NonZeroUsize::new(n).ok_or_else(|| {
            "0 threads cannot do anything: give 1 or more, or leave --threads out for one per core"
                .to_owned()
        }),
        Err(_) => Err(format!(
            "{text:?} is not a number of threads: give a whole number, 1 or more (e.g. 4), or \
             leave --threads out for one per core"
        )),
    }
}

/// The binary's name, which completion scripts and the man page are written for.
pub const BIN_NAME: &str = "uv-cache-prune";

/// `0.1.0 (abcdef123 2026-12-06)`: the version, and the commit and its date when built
/// from a git checkout (see `build.rs`), as `uv --version` prints it.
pub const VERSION: &str = env!("UV_CACHE_PRUNE_VERSION");

/// The binary's whole command line: [`Args`] under the name `uv-cache-prune`, with its
/// version and about. The binary parses with it, and the completion scripts and the man
/// page (`cargo xtask man`) are made from it, so all three always agree.
pub fn command() -> clap::Command {
    use clap::Args as _;
    // The package's description after `Args`'s own doc comment, as the derive did.
    Args::augment_args(clap::Command::new(BIN_NAME))
        .version(VERSION)
        .about(env!("CARGO_PKG_DESCRIPTION"))
        .long_about(None)
}

/// The completion script for `shell`.
///
/// clap_complete 4.6's bash script names a subcommand's branch `uv__subcmd__cache__...`
/// (the binary's dashes spelt as subcommand separators) but selects it as
/// `uv__cache__prune__subcmd__...`, so nothing after a subcommand would ever complete;
/// the branches are renamed to what is selected (`tests/completion.rs` completes one).
fn completion_script(shell: clap_complete::Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), BIN_NAME, &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    if shell != clap_complete::Shell::Bash {
        return script;
    }
    let branch = |dash: &str| format!("{}__subcmd__", BIN_NAME.replace('-', dash));
    script.replace(&branch("__subcmd__"), &branch("__"))
}

/// Runs the tool: the report goes to stdout, warnings and progress to stderr.
pub fn run(args: &Args) -> Result<()> {
    match &args.command {
        Some(Command::Roots(command)) => return write_stdout(&roots_command(command)?),
        Some(Command::InstallHooks(install)) => return write_stdout(&install.run()?),
        Some(Command::Doctor(doctor)) => return write_stdout(&doctor.run()?),
        Some(Command::Df(prune)) => return df(prune),
        Some(Command::GenerateShellCompletion { shell }) => {
            return write_stdout(&completion_script(*shell));
        }
        None => {}
    }
    let prune = &args.prune;
    let verbosity = if prune.quiet {
        crate::report::Verbosity::Quiet
    } else if prune.verbose {
        crate::report::Verbosity::Verbose
    } else {
        crate::report::Verbosity::Normal
    };
    crate::report::progress::set_verbosity(verbosity);
    let view = crate::report::View::for_stdout(prune.all, prune.color, verbosity);
    let report = build_report(prune)?;
    if let Some(notice) = &report.busy_notice {
        eprintln!("{notice}");
    }
    if verbosity == crate::report::Verbosity::Verbose {
        eprint!("{}", crate::report::progress::timings());
        for root in &report.roots {
            let n = |n: usize, noun: &str| format!("{n} {noun}{}", if n == 1 { "" } else { "s" });
            eprintln!(
                "searched {} ({}): {} directories, {}, {}",
                crate::report::safe_path(&root.path),
                serde_json::to_value(root.origin)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                root.dirs_searched,
                n(root.venvs, "venv"),
                n(root.locks, "lock")
            );
        }
    }
    if verbosity != crate::report::Verbosity::Quiet {
        for warning in &report.warnings {
            eprintln!("warning: {}", crate::report::one_line(&warning.message));
        }
    }
    let text = match (&prune.explain, prune.json, prune.hook) {
        (_, _, true) => report.to_summary_line(state::now()?),
        (_, true, _) => report.to_json()?,
        (Some(_), false, _) => report.to_explanation_with(&view),
        (None, false, _) => report.to_human_with(&view),
    };
    write_stdout(&text)?;
    // The report of what was done is out; a prune the filesystem stopped short still
    // fails, so that scripts and CI notice.
    match &report.incomplete {
        Some(incomplete) => anyhow::bail!("{}", incomplete.error_line(&report)),
        None => Ok(()),
    }
}

/// `df`: a dry run with the prune's flags, then the view (never deletes).
fn df(prune: &PruneArgs) -> Result<()> {
    if prune.apply || prune.hook {
        return Err(UsageError(
            "df never deletes: drop --apply/--hook, or run the prune without df".to_owned(),
        )
        .into());
    }
    let settings = settings(prune, &config::load()?)?;
    named_paths_exist(prune)?;
    let df = crate::pipeline::df::run(&settings)?;
    for warning in &df.warnings {
        eprintln!("warning: {}", crate::report::one_line(&warning.message));
    }
    let text = if prune.json {
        df.to_json()?
    } else {
        use std::io::IsTerminal as _;
        df.to_human(std::io::stdout().is_terminal())
    };
    write_stdout(&text)
}

fn roots_command(command: &RootsCommand) -> Result<String> {
    let state = state::State::open()?;
    // Nothing is read from or written to a state directory we do not trust.
    if let Some(refusal) = state.refusal() {
        return Err(refusal.clone().into());
    }
    let out = match command {
        RootsCommand::List => roots_list(&state),
        RootsCommand::Add { dirs } => roots_add(&state, dirs)?,
        RootsCommand::Remove { dirs } => roots_remove(&state, dirs)?,
        RootsCommand::Prune => roots_prune(&state)?,
    };
    if let Some(doubt) = state.registry().doubt {
        eprintln!("warning: {}", crate::report::one_line(&doubt.reason));
    }
    Ok(out)
}

/// What an empty registry means, and how to fill it.
const NO_ROOTS: &str = "No roots registered; `uv-cache-prune roots add DIR` registers one \
                        (the git hooks register their repository).";

/// `roots list`: each root, and whether it vanished. An empty registry says so (one that
/// cannot be read says why on stderr instead: its roots are unknown, not none).
fn roots_list(state: &state::State) -> String {
    let registry = state.registry();
    if registry.roots.is_empty() && registry.doubt.is_none() {
        return format!("{NO_ROOTS}\n");
    }
    let mut out = String::new();
    for root in registry.roots {
        let gone = if root.is_dir() { "" } else { "  (vanished)" };
        out += &format!("{}{gone}\n", crate::report::shown(&root));
    }
    out
}

/// `roots add`: every directory checked before any is registered (a typo registers
/// nothing), each stored once, by its canonical path.
fn roots_add(state: &state::State, dirs: &[PathBuf]) -> Result<String> {
    for root in dirs {
        must_exist("roots add", root, Kind::Dir)?;
    }
    let mut out = String::new();
    for root in dirs {
        let done = state.register_root(root)?;
        let verb = if done.added {
            "registered"
        } else {
            "already registered"
        };
        out += &format!("{verb}: {}\n", crate::report::safe_path(&done.root));
    }
    Ok(out)
}

/// `roots remove`: every directory must be registered (as typed, or by where it leads),
/// else nothing is forgotten and the error names it and the nearest registered root: a
/// typo must not look like success while the root stays searched.
fn roots_remove(state: &state::State, dirs: &[PathBuf]) -> Result<String> {
    let registry = state.registry();
    let mut chosen: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let names = spellings(dir);
        let found: Vec<&PathBuf> = registry
            .roots
            .iter()
            .filter(|root| names.iter().any(|name| same_place(root, name)))
            .collect();
        if found.is_empty() {
            anyhow::bail!(
                "{} is not a registered root: nothing was forgotten{}",
                names[0].display(),
                nearest_registered(&names[0], &registry)
            );
        }
        chosen.extend(found.into_iter().cloned());
    }
    let mut out = String::new();
    for root in state.unregister_roots(|r| chosen.iter().any(|c| c == r))? {
        out += &format!("forgot: {}\n", crate::report::safe_path(&root));
    }
    Ok(out)
}

/// The ways `dir` may be registered: where it leads (canonical) if it exists, else its
/// absolute path with `.` and `..` taken away by name; and its absolute path as typed,
/// as an older version stored it.
fn spellings(dir: &std::path::Path) -> Vec<PathBuf> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let resolved = std::fs::canonicalize(dir).unwrap_or_else(|_| lexically_normal(&absolute));
    // The first is the one an error names.
    let mut names = vec![resolved];
    if !names.contains(&absolute) {
        names.push(absolute);
    }
    names
}

/// `path` with `.` and `..` components removed by name, not by following links.
fn lexically_normal(path: &std::path::Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Whether the registered `root` is `name`: the same path, or an entry with `..` in it
/// (stored as typed by an older version) that leads to it.
fn same_place(root: &std::path::Path, name: &std::path::Path) -> bool {
    use std::path::Component::ParentDir;
    root == name
        || (root.components().any(|c| c == ParentDir)
            && std::fs::canonicalize(root).is_ok_and(|real| real == name))
}

/// The hint for a directory that is not registered: a registered root near it, where to
/// see them all, or why there are none to see.
fn nearest_registered(name: &std::path::Path, registry: &state::Registry) -> String {
    let hint = match (&registry.doubt, registry.roots.is_empty()) {
        (Some(_), true) => String::new(),
        (None, true) => "; no roots are registered".to_owned(),
        (_, false) => format!(
            "{}; `uv-cache-prune roots list` shows the registered roots",
            near_one(name, &registry.roots)
        ),
    };
    match &registry.doubt {
        Some(doubt) => format!("{hint}; {}", doubt.reason),
        None => hint,
    }
}

/// The registered root `name` lies under, those under it, or one a typo away.
fn near_one(name: &std::path::Path, registered: &[PathBuf]) -> String {
    let show = |paths: &[&PathBuf]| {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        shown.join(", ")
    };
    let above: Vec<&PathBuf> = registered.iter().filter(|r| name.starts_with(r)).collect();
    if !above.is_empty() {
        return format!(
            " (it is searched as part of the registered root {})",
            show(&above)
        );
    }
    let below: Vec<&PathBuf> = registered.iter().filter(|r| r.starts_with(name)).collect();
    if !below.is_empty() {
        return format!(" (registered under it: {})", show(&below));
    }
    let typed = name.to_string_lossy();
    let limit = match name.file_name().map(|n| n.len()) {
        Some(0..=4) => 1,
        _ => 2,
    };
    registered
        .iter()
        .map(|r| (edit_distance(&typed, &r.to_string_lossy()), r))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map_or_else(String::new, |(_, r)| {
            format!(" (did you mean {}?)", r.display())
        })
}

/// `roots prune`: forgets roots deleted from a filesystem that is here; one on a disk
/// that is not plugged in is kept (`roots remove` forgets it). Says so when there is
/// nothing to forget.
fn roots_prune(state: &state::State) -> Result<String> {
    let mounts = crate::sys::mounts::MountTable::current().ok();
    let seen = state.roots_seen();
    let gone = |r: &std::path::Path| {
        !r.exists()
            && !matches!(
                seen.absence(r, r, mounts.as_ref()),
                Some(state::Absence::Unmounted { .. })
            )
    };
    let mut out = String::new();
    for root in state.unregister_roots(gone)? {
        out += &format!(
            "forgot vanished root: {}\n",
            crate::report::safe_path(&root)
        );
    }
    let registry = state.registry();
    let left = registry.roots;
    for root in &left {
        if let Some(state::Absence::Unmounted { mount, .. }) =
            seen.absence(root, root, mounts.as_ref())
        {
            let on = mount.map_or(String::new(), |m| {
                format!(" ({})", crate::report::safe_path(&m))
            });
            out += &format!(
                "kept: {} (its filesystem{on} is not mounted; `uv-cache-prune roots remove` forgets it)\n",
                crate::report::safe_path(root)
            );
        }
    }
    if out.is_empty() {
        out = match left.len() {
            // Its roots are unknown, not none: the warning says why.
            0 if registry.doubt.is_some() => String::new(),
            0 => format!("{NO_ROOTS}\n"),
            1 => "Nothing to prune: the registered root is here.\n".to_owned(),
            n => format!("Nothing to prune: all {n} registered roots are here.\n"),
        };
    }
    Ok(out)
}

/// Everything but the printing, for callers that want the value. Paths named by flags
/// are checked once the config is parsed (its errors come first, as before) and before
/// the run reads the cache or a root: a missing one is a [`UsageError`].
pub fn build_report(args: &PruneArgs) -> Result<Report> {
    let settings = settings(args, &config::load()?)?;
    named_paths_exist(args)?;
    pipeline::run(&settings)
}

/// A mistake on the command line found after parsing (a path named by a flag that does
/// not exist, `--all-users` when not root): exit status 2, like clap's own usage errors. `run`'s callers tell it apart
/// with [`exit_status`].
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit status for an error [`run`] returned: 2 for bad usage ([`UsageError`]), else 1.
pub fn exit_status(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}

/// Prints `err` as the binary does, `error: ` and one line with every control character
/// escaped (an error names paths, and a path can hold anything), and returns its exit
/// status. The binary and `cargo xtask cache-prune` both end this way.
pub fn report_error(err: &anyhow::Error) -> u8 {
    eprintln!("error: {}", crate::report::safe(&format!("{err:#}")));
    exit_status(err)
}

/// Every directory or file a flag names must exist: a typo in `--root` would leave a
/// project's venvs unsearched and list their archives as dead, and one in `--cache-dir`
/// would make `--apply` report "No cache there yet" and succeed. (`$UV_CACHE_DIR` at a
/// missing directory is not checked: uv makes its cache lazily, so that is a fresh
/// machine, not a typo; a missing root from the config file is only a warning.)
fn named_paths_exist(args: &PruneArgs) -> Result<()> {
    let dirs = [
        ("--cache-dir", args.cache_dir.as_slice()),
        ("--root", &args.roots[..]),
        ("--register", &args.register[..]),
    ];
    for (flag, paths) in dirs {
        for path in paths {
            must_exist(flag, path, Kind::Dir)?;
        }
    }
    for path in &args.only_locked {
        must_exist("--only-locked", path, Kind::File)?;
    }
    Ok(())
}

/// What a flag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

/// A [`UsageError`] when nothing is at `path` (or a component of it is not a directory),
/// or when a directory is wanted and a file is there (`--root proj/pyproject.toml` would
/// search nothing, and list what the project's venv uses as dead). Anything else (a
/// permission error, say) is left to the run, which reports it where it reads.
fn must_exist(flag: &str, path: &std::path::Path, kind: Kind) -> Result<()> {
    use std::io::ErrorKind::{NotADirectory, NotFound};
    match std::fs::metadata(path) {
        Err(err) if matches!(err.kind(), NotFound | NotADirectory) => {}
        Ok(meta) if kind == Kind::Dir && !meta.is_dir() => {
            let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
            return Err(UsageError(format!(
                "{flag} {} is a file, not a directory: nothing was read or deleted; name the directory that holds it{}",
                shown.display(),
                shown
                    .parent()
                    .map(|p| format!(" ({})", p.display()))
                    .unwrap_or_default()
            ))
            .into());
        }
        _ => return Ok(()),
    }
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let hint = match close_sibling(&shown, kind) {
        Some(sibling) => format!(" (did you mean {}?)", sibling.display()),
        None => String::new(),
    };
    let what = match (flag, kind) {
        ("--cache-dir", _) => "uv's cache",
        ("--repo", _) => "a git repository",
        (_, Kind::File) => "a lock file",
        (_, Kind::Dir) => "a directory to search",
    };
    Err(UsageError(format!(
        "{flag} {} does not exist{hint}: nothing was read or deleted; it should name {what}, \
         so check the spelling, or leave the flag out",
        shown.display()
    ))
    .into())
}

/// A sibling of the missing `path` whose name is one or two edits away (`scr` for `src`),
/// of the kind the flag wants; the closest, if any. Reads one directory, at most a few
/// thousand names: cheap, and only on the way to an error.
fn close_sibling(path: &std::path::Path, kind: Kind) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let parent = path.parent()?;
    let limit = if name.chars().count() <= 4 { 1 } else { 2 };
    std::fs::read_dir(parent)
        .ok()?
        .take(4096)
        .flatten()
        .filter_map(|entry| {
            let candidate = entry.file_name().into_string().ok()?;
            let distance = edit_distance(name, &candidate);
            (distance <= limit).then_some((distance, candidate, entry.path()))
        })
        .filter(|(_, _, path)| {
            std::fs::metadata(path).is_ok_and(|m| match kind {
                Kind::Dir => m.is_dir(),
                Kind::File => m.is_file(),
            })
        })
        .min()
        .map(|(_, _, path)| path)
}

/// Edits (insert, delete, replace, swap two neighbours) from `a` to `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut table = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in table.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in table[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[i - 1][j] + 1)
                .min(table[i][j - 1] + 1)
                .min(table[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[i - 2][j - 2] + 1);
            }
            table[i][j] = best;
        }
    }
    table[a.len()][b.len()]
}

/// Flags merged with the config: a flag wins over the config, which wins over the
/// built-in defaults ([`Settings::new`]). `--hook` is [`Mode::Hook`], whatever else says.
pub(crate) fn settings(args: &PruneArgs, config: &Config) -> Result<Settings> {
    let mode = if args.hook {
        Mode::Hook
    } else if args.apply {
        Mode::Apply {
            wait: if args.no_wait {
                Wait::No
            } else {
                Wait::UpTo(args.lock_timeout)
            },
        }
    } else {
        Mode::DryRun
    };
    let mut settings = Settings::new(config, mode)?;
    // The one thing said while the run blocks (waiting for uv's lock): the library does
    // not print, so the command line says where.
    settings.notice = |line| eprintln!("{line}");
    if !args.only_locked.is_empty() {
        // Absolute, so that the report and the evidence name the file wherever it is read.
        let locks = args.only_locked.iter();
        let absolute = locks.map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
        settings.locks = LockUse::Only(absolute.collect());
    } else if args.ignore_locks {
        settings.locks = LockUse::Ignored;
    }
    let policy = &mut settings.policy;
    policy.grace = match settings.locks {
        // A CI job made everything it used in the last hour: no grace unless asked for.
        LockUse::Only(_) => args.grace.unwrap_or(Duration::ZERO),
        _ => args.grace.unwrap_or(policy.grace),
    };
    let flagged = args.keep.iter().map(|name| PackageName::new(name));
    policy.keep = flagged.chain(policy.keep.drain(..)).collect();
    policy.unused_for = args.unused_for.or(policy.unused_for);
    if mode != Mode::Hook {
        // The hooks' conservative policy: never a size target.
        policy.max_size = args.max_size.map(|size| size.0).or(policy.max_size);
    }
    settings.cache_dir.clone_from(&args.cache_dir);
    settings.roots.clone_from(&args.roots);
    settings.no_default_roots = args.no_default_roots;
    settings.register.clone_from(&args.register);
    settings.explain.clone_from(&args.explain);
    settings.per_venv = args.per_venv;
    settings.allow_unreadable_roots = args.allow_unreadable_roots;
    if let Some(threads) = args.threads {
        settings.threads = crate::sys::threads::Threads::new(threads);
    }
    if args.all_users {
        all_users_allowed()?;
        settings.all_users = true;
    }
    Ok(settings)
}

/// `--all-users` reads other users' homes: only root can, and only root may ask.
fn all_users_allowed() -> Result<()> {
    #[cfg(unix)]
    if crate::discover::users::effective_uid() == 0 {
        return Ok(());
    }
    Err(UsageError(
        "--all-users searches every user's home and needs root: run it as root (sudo), or \
         drop --all-users to prune what this user can see"
            .to_owned(),
    )
    .into())
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn a_swap_is_one_edit() {
        assert_eq!(edit_distance("scr", "src"), 1);
        assert_eq!(edit_distance("cahce", "cache"), 1);
        assert_eq!(edit_distance("src", "src"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("work", "src"), 3);
    }
}
