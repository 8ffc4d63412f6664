//! `uv-cache-prune generate-shell-completion SHELL` (uv's command name, via clap_complete):
//! every shell gets a script for the binary, and the bash one completes a flag and a
//! subcommand's value in a real bash. The man pages are `cargo xtask man`'s, tested in
//! xtask/src/man.rs.

use std::process::Command;

fn completion(shell: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_uv-cache-prune"))
        .args(["generate-shell-completion", shell])
        .output()
        .expect("run generate-shell-completion");
    assert!(
        output.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stderr.is_empty(), "{shell}: nothing on stderr");
    String::from_utf8(output.stdout).expect("UTF-8 script")
}

/// What bash completes for `line` (the word being completed is the last one) with the
/// generated script loaded, one candidate per line.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let program = r#"
source "$1"; shift
# The function `complete -p` registered for the command, as bash would call it.
fn=$(complete -p uv-cache-prune | sed -n 's/.*-F \([^ ]*\).*/\1/p')
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
"$fn" uv-cache-prune "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", program, "bash"])
        .arg(script)
        .args(words)
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.trim_end().to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn bash_completion_completes_flags_and_subcommand_values_in_a_real_bash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("uv-cache-prune.bash");
    std::fs::write(&script, completion("bash")).expect("write the script");

    assert_eq!(
        bash_completes(&script, &["uv-cache-prune", "--lock-t"]),
        ["--lock-timeout"]
    );
    assert_eq!(
        bash_completes(&script, &["uv-cache-prune", "--allow-unr"]),
        ["--allow-unreadable-roots"]
    );
    assert_eq!(
        bash_completes(&script, &["uv-cache-prune", "generate-shell-c"]),
        ["generate-shell-completion"]
    );
    assert_eq!(
        bash_completes(
            &script,
            &["uv-cache-prune", "generate-shell-completion", "f"]
        ),
        ["fish"]
    );
}

#[test]
fn every_shell_gets_a_script_for_the_binary() {
    let zsh = completion("zsh");
    assert!(zsh.starts_with("#compdef uv-cache-prune\n"), "{zsh}");
    let fish = completion("fish");
    assert!(fish.contains("complete -c uv-cache-prune "), "{fish}");
    assert!(fish.contains("-l apply"), "{fish}");
    let elvish = completion("elvish");
    assert!(
        elvish.contains("edit:completion:arg-completer[uv-cache-prune]"),
        "{elvish}"
    );
    let powershell = completion("powershell");
    assert!(
        powershell.contains("Register-ArgumentCompleter -Native -CommandName 'uv-cache-prune'"),
        "{powershell}"
    );
    assert!(fish.contains("-l only-locked"), "{fish}");
    for shell in [&zsh, &elvish, &powershell] {
        assert!(shell.contains("--only-locked"), "{shell}");
    }

    let bad = Command::new(env!("CARGO_BIN_EXE_uv-cache-prune"))
        .args(["generate-shell-completion", "tcsh"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2), "an unknown shell is bad usage");
}
