//! Fuzzing the readers of files a user or another program can write: the root registry
//! (`roots.json`), the last-use record (`last-use.json`) and the config file, plus the
//! size and duration parsers behind them. Stable Rust, a seeded RNG (the seed is printed;
//! replay with `UV_CACHE_PRUNE_TEST_SEED`), inputs grown from files the tool itself wrote.
//! Each input must parse or be refused: no panic, no hang (the whole run has a time
//! budget), and memory bounded by the input (each is capped as the readers cap files).

//!
//! A unit test of the library (not a test binary of its own): these readers are private,
//! and the face keeps them so.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testbed::sandbox::seeded_rng;

use crate::cache::archive_id::ArchiveId;
use crate::cli::config;
use crate::state;

/// Inputs per reader: four readers, 100,000 inputs in all, and more for the parsers.
const PER_READER: usize = 25_000;
/// No input is longer: mutations grow inputs, and the readers' own caps are far above it.
const MAX_LEN: usize = 16 << 10;

/// Inputs to grow mutants from.
type Corpus = Vec<Vec<u8>>;

/// Files the tool wrote: a registry and a last-use record made by the real functions, and
/// the config examples of the docs.
fn seeds() -> (Corpus, Corpus, Corpus) {
    let dir = tempfile::tempdir().expect("temp state dir");
    let roots = tempfile::tempdir().expect("temp roots");
    for name in ["a", "b c", "d\u{e9}j\u{e0}", "quote\"back\\slash"] {
        let root = roots.path().join(name);
        std::fs::create_dir_all(&root).expect("create root");
        state::State::at(dir.path().to_owned())
            .register_root(&root)
            .expect("register");
    }
    let ids: Vec<ArchiveId> = ["Ab3dEf", "zz-9_x", "q"]
        .iter()
        .map(|s| ArchiveId::new(s).expect("id"))
        .collect();
    for (n, cache) in ["/c", "/home/u/.cache/uv"].iter().enumerate() {
        state::State::at(dir.path().to_owned())
            .record_last_seen(
                Path::new(cache),
                ids.iter(),
                ids.iter().skip(n),
                UNIX_EPOCH + Duration::from_secs(1_700_000_000 + n as u64),
            )
            .expect("record");
    }
    let read = |name: &str| std::fs::read(dir.path().join(name)).expect("read state");
    let configs = [
        "roots = [\"~/src\", \"/work/projects\"]\nkeep = [\"numpy\", \"torch\"]\nunused-for = \"30d\"\nmax-size = \"20GiB\"\ngrace = \"1h\"\nhook-unused-for = \"7d\"\n",
        "max-size = \"976896B\"\n",
        "grace = \"0s\"\nkeep = []\n",
        "unused-for = \"1h 30m\"\nmax-size = \"1.5 TiB\"\n",
    ];
    (
        vec![read("roots.json")],
        vec![read("last-use.json")],
        configs.iter().map(|c| c.as_bytes().to_vec()).collect(),
    )
}

/// Tokens that steer mutations into the formats' interesting corners.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "=",
    "\n",
    "\\",
    "\\u0000",
    "\\ud800",
    "-1",
    "1e400",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "null",
    "true",
    "nan",
    "inf",
    "0x7f",
    "\u{feff}",
    "\u{fffd}",
    "\"\"\"",
    "'''",
    "[[",
    "]]",
    "#",
    "~",
    "99999999999999999999999y",
    "1.5GiB",
    "EiB",
    "max-size",
    "roots",
    "caches",
    "version",
    "hook-unused-for",
    "unused-for",
    "grace",
    "keep",
];

fn mutate(rng: &mut fastrand::Rng, seed: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..rng.usize(1..=8) {
        let at = rng.usize(..=bytes.len());
        match rng.u8(..9) {
            0 if !bytes.is_empty() => {
                let i = rng.usize(..bytes.len());
                bytes[i] ^= 1 << rng.u8(..8);
            }
            1 if !bytes.is_empty() => {
                let i = rng.usize(..bytes.len());
                bytes[i] = rng.u8(..);
            }
            2 => bytes.truncate(at),
            3 => {
                let end = rng.usize(at..=bytes.len().min(at + 64));
                bytes.drain(at..end);
            }
            4 => {
                let token = TOKENS[rng.usize(..TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            5 => {
                // Repeat a slice: deep nesting, long strings, long numbers.
                let end = rng.usize(at..=bytes.len().min(at + 8));
                let piece = bytes[at..end].to_vec();
                for _ in 0..rng.usize(1..200) {
                    bytes.splice(at..at, piece.iter().copied());
                }
            }
            6 => {
                // Splice in a piece of another seed.
                let other = &corpus[rng.usize(..corpus.len())];
                let from = rng.usize(..=other.len());
                let to = rng.usize(from..=other.len());
                bytes.splice(at..at, other[from..to].iter().copied());
            }
            7 => bytes = (0..rng.usize(..256)).map(|_| rng.u8(..)).collect(),
            _ => {
                let digits: String = (0..rng.usize(1..40))
                    .map(|_| char::from(b'0' + rng.u8(..10)))
                    .collect();
                bytes.splice(at..at, digits.bytes());
            }
        }
        bytes.truncate(MAX_LEN);
    }
    bytes
}

/// Runs `read` over `count` inputs grown from `corpus`; returns how many were accepted.
fn fuzz(
    rng: &mut fastrand::Rng,
    corpus: &[Vec<u8>],
    count: usize,
    mut read: impl FnMut(&[u8]) -> bool,
) -> usize {
    let mut accepted = 0;
    for seed in corpus {
        assert!(read(seed), "a file the tool wrote is refused: {seed:?}");
    }
    for _ in 0..count {
        let seed = &corpus[rng.usize(..corpus.len())];
        let input = mutate(rng, seed, corpus);
        if read(&input) {
            accepted += 1;
        }
    }
    accepted
}

#[test]
fn the_state_and_config_readers_take_any_bytes() {
    let mut rng = seeded_rng("the_state_and_config_readers_take_any_bytes");
    let started = Instant::now();
    let (registries, records, configs) = seeds();
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let probe = ArchiveId::new("Ab3dEf").expect("id");

    let registry = fuzz(&mut rng, &registries, PER_READER, |bytes| {
        state::parse_registry(bytes).is_ok()
    });
    let last_use = fuzz(&mut rng, &records, PER_READER, |bytes| {
        match state::parse_last_seen(bytes, Path::new("/c"), now) {
            // Whatever the file says, no last use is after now.
            Ok(seen) => {
                assert!(seen.get(&probe).is_none_or(|t| t <= now));
                true
            }
            Err(_) => false,
        }
    });
    let config = fuzz(&mut rng, &configs, PER_READER, |bytes| {
        config::parse(bytes).is_ok()
    });
    // Sizes and durations, as flags and config values give them.
    let texts: Vec<Vec<u8>> = [
        "20GiB", "500MB", "976896B", "1.5 TiB", "30d", "1h 30m", "0s",
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect();
    let units = fuzz(&mut rng, &texts, PER_READER, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        let size = text.parse::<config::Size>().is_ok();
        let duration = crate::units::parse_duration(&text).is_ok();
        size || duration
    });

    let elapsed = started.elapsed();
    eprintln!(
        "accepted: {registry} registries, {last_use} records, {config} configs, {units} sizes/durations of {PER_READER} each, in {elapsed:?}"
    );
    // Some mutations must stay valid, or the fuzzer only tests the first error path.
    assert!(
        registry > 0 && last_use > 0 && config > 0,
        "no mutant was accepted"
    );
    assert!(elapsed < Duration::from_secs(120), "too slow: {elapsed:?}");
}

#[test]
fn state_files_from_the_fuzzer_corpus_never_block_or_overflow_on_disk() {
    // The same readers through the file system: a mutant registry and record on disk
    // are refused or read, and the run over them ends.
    let mut rng = seeded_rng("state_files_from_the_fuzzer_corpus");
    let (registries, records, _) = seeds();
    let dir = tempfile::tempdir().expect("state dir");
    let now = SystemTime::now();
    for _ in 0..300 {
        let registry = mutate(&mut rng, &registries[0], &registries);
        let record = mutate(&mut rng, &records[0], &records);
        std::fs::write(dir.path().join("roots.json"), registry).expect("write registry");
        std::fs::write(dir.path().join("last-use.json"), record).expect("write record");
        let read = state::State::at(dir.path().to_owned()).registry();
        let (seen, _) = state::State::at(dir.path().to_owned()).last_seen(Path::new("/c"), now);
        let probe = ArchiveId::new("q").expect("id");
        assert!(seen.get(&probe).is_none_or(|t| t <= now));
        let roots: Vec<PathBuf> = read.roots;
        assert!(roots.len() < MAX_LEN);
    }
}
