//! `cargo xtask man`: the man pages, made with clap_mangen from the binary's own command
//! line (`uv_cache_prune::command()`), so they cannot drift from `--help`.
//! `uv-cache-prune.1`, and `uv-cache-prune-<subcommand>.1` for each subcommand.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Where the pages go.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to write the pages into (created if missing)
    #[arg(long, value_name = "DIR", default_value = "target/man")]
    pub out: PathBuf,
}

pub fn run(args: &Args) -> Result<()> {
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        crate::workspace_root().join(&args.out)
    };
    write_pages(&out)?;
    println!("{}", out.join("uv-cache-prune.1").display());
    Ok(())
}

fn write_pages(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    clap_mangen::generate_to(uv_cache_prune::command(), out)
        .with_context(|| format!("writing the man pages into {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_for_the_binary_and_every_subcommand() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_pages(dir.path()).expect("write the pages");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read the pages")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "uv-cache-prune-df.1",
                "uv-cache-prune-doctor.1",
                "uv-cache-prune-generate-shell-completion.1",
                "uv-cache-prune-install-hooks.1",
                "uv-cache-prune-roots-add.1",
                "uv-cache-prune-roots-list.1",
                "uv-cache-prune-roots-prune.1",
                "uv-cache-prune-roots-remove.1",
                "uv-cache-prune-roots.1",
                "uv-cache-prune.1",
            ]
        );
        let page = std::fs::read_to_string(dir.path().join("uv-cache-prune.1")).expect("page");
        let version = uv_cache_prune::VERSION;
        // The title line carries the full version, commit and date included.
        let title = format!(".TH uv-cache-prune 1  \"uv-cache-prune {version}\" \n");
        assert!(page.contains(&title), "{title:?} in {page}");
        assert!(page.contains("\\-\\-apply"), "{page}");
        assert!(page.contains("\\-\\-lock\\-timeout"), "{page}");
    }
}
