//! Fuzzing the pointer decoder on stable Rust: a property test over 100,000 inputs, random
//! and mutated from the real pointers uv wrote (`tests/fixtures/pointers`), each decoded as
//! a `.rev` and as a `.http` and scanned for ids. Properties: no panic, no hang (the whole
//! run has a time budget), memory bounded by the input's size (a counting allocator
//! measures the peak of each call), and a decoded id is always one spelled out in the
//! input: the decoder never invents an archive.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use uv_cache_prune::ArchiveId;
use uv_cache_prune::fuzzing::{self as pointer, PointerKind, Target};

/// Counts live heap bytes and their peak. This test binary holds a single test, so the
/// figures are this test's own.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CASES: usize = 100_000;
/// Generous for a debug build on a loaded 2-core machine; a few seconds is usual.
const BUDGET: Duration = Duration::from_secs(120);

/// Heap a decode may use beyond what it was given: a decoded value costs a few dozen
/// bytes per input byte at most (`rmpv::Value` plus vector growth), and a string or
/// binary read preallocates up to 64 KiB whatever length it claims.
fn allowed_peak(input_len: usize) -> usize {
    128 * input_len + 256 * 1024
}

/// Bytes msgpack gives meaning to: lengths that claim gigabytes, never-used 0xc1, empty
/// and nested containers, strings.
const INTERESTING: &[u8] = &[
    0x00, 0x04, 0x7f, 0x80, 0x81, 0x85, 0x8f, 0x90, 0x91, 0x94, 0x95, 0x9f, 0xa0, 0xb0, 0xbf, 0xc0,
    0xc1, 0xc4, 0xc5, 0xc6, 0xcd, 0xce, 0xcf, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff,
];

fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pointers");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("rev" | "http")
            )
        })
        .map(|path| std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect();
    seeds.sort();
    assert_eq!(seeds.len(), 8, "the fixtures of four uv versions");
    seeds
}

fn mutate(rng: &mut fastrand::Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = seeds[rng.usize(..seeds.len())].clone();
    if rng.usize(..10) == 0 {
        let len = rng.usize(..600);
        return (0..len).map(|_| rng.u8(..)).collect();
    }
    for _ in 0..rng.usize(1..6) {
        let len = bytes.len();
        match rng.usize(..8) {
            0 if len > 0 => bytes[rng.usize(..len)] ^= 1 << rng.u8(..8),
            1 if len > 0 => bytes[rng.usize(..len)] = INTERESTING[rng.usize(..INTERESTING.len())],
            2 if len > 0 => bytes.truncate(rng.usize(..len)),
            3 => {
                let at = rng.usize(..=len);
                let insert: Vec<u8> = (0..rng.usize(1..8)).map(|_| rng.u8(..)).collect();
                bytes.splice(at..at, insert);
            }
            4 if len > 0 => {
                // A length field claiming up to 4 GiB.
                let at = rng.usize(..len);
                let claim = [0xff, 0xff, 0xff, rng.u8(..)];
                let end = (at + 4).min(len);
                bytes.splice(at..end, claim);
            }
            5 => {
                // Splice another pointer in: records inside records.
                let other = &seeds[rng.usize(..seeds.len())];
                let at = rng.usize(..=len);
                let from = rng.usize(..other.len());
                bytes.splice(at..at, other[from..].iter().copied());
            }
            6 if len > 1 => {
                // Repeat a chunk: the same id many times, deep repetition of headers.
                let from = rng.usize(..len);
                let to = rng.usize(from..len);
                let chunk = bytes[from..=to].to_vec();
                for _ in 0..rng.usize(1..4) {
                    bytes.extend_from_slice(&chunk);
                }
            }
            _ => bytes.push(INTERESTING[rng.usize(..INTERESTING.len())]),
        }
    }
    bytes
}

/// Decodes `bytes` both ways and scans them for `known` ids, checking the properties;
/// true when they decode as a `.http` record.
fn check(bytes: &[u8], known: &[ArchiveId]) -> bool {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let mut decoded_as_http = false;
    for kind in [PointerKind::Rev, PointerKind::Http] {
        let target = pointer::decode(kind, bytes);
        let record = pointer::decode_record(kind, bytes);
        match (&target, &record) {
            (Target::Archive(id), Ok(record)) if *id == record.id => {
                let needle = id.as_str().as_bytes();
                assert!(
                    bytes.windows(needle.len()).any(|w| w == needle),
                    "{kind:?} decoded {id}, which is not in {bytes:?}"
                );
                // Each digest comes from 64 hex digits in the input.
                assert!(record.sha256.len() <= bytes.len() / 64, "{bytes:?}");
                decoded_as_http |= kind == PointerKind::Http;
            }
            (Target::Unreadable(_), Err(_)) => {}
            other => panic!("decode and decode_record disagree: {other:?} for {bytes:?}"),
        }
    }
    let found = pointer::ids_mentioned(bytes, known);
    for id in &found {
        let needle = id.as_str().as_bytes();
        assert!(
            bytes.windows(needle.len()).any(|w| w == needle),
            "{id} not in {bytes:?}"
        );
    }
    let used = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    assert!(
        used <= allowed_peak(bytes.len()),
        "{used} heap bytes for {} input bytes: {bytes:?}",
        bytes.len()
    );
    decoded_as_http
}

#[test]
fn the_decoder_survives_random_and_mutated_pointers() {
    let mut rng = common::seeded_rng("fuzz_pointer");
    let seeds = seeds();
    // Every id of the fixtures, plus ids of each length uv used.
    let known: Vec<ArchiveId> = [
        "DLKZEOjmGzxfJFMK",
        "FclKTVq99P1u_ne1",
        "fAZ8aKGNCUuCLldn",
        "Id6ElUyBxg90SHjY",
        "v5oSyABWCEOM3s6-mMWKR",
        "2gHWOlmXp280FGwgegx8z",
        "oGzNcomJAcgwUqXCbhofD",
        "2xBiB_P223nr3H26FNKpy",
        "0a1b2c3d4e5f6g7h8i9j0k1l",
    ]
    .iter()
    .map(|id| ArchiveId::new(id).expect("valid id"))
    .collect();

    // Hand-picked shapes first: deep nesting, giant claimed lengths, nothing at all.
    let mut special: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x91; 100_000],
        vec![0x81; 100_000],
        vec![0xdd, 0xff, 0xff, 0xff, 0xff],
        vec![0xdf, 0xff, 0xff, 0xff, 0xff],
        vec![0xdb, 0xff, 0xff, 0xff, 0xff, b'a'],
        vec![0xc6, 0xff, 0xff, 0xff, 0xff, 0x00],
        [
            vec![0x92, 0x92, 0x00, 0x00, 0xdd, 0xff, 0xff, 0xff, 0xff],
            vec![0xc0; 4096],
        ]
        .concat(),
    ];
    special.extend(seeds.iter().cloned());
    for bytes in &special {
        check(bytes, &known);
    }

    let start = Instant::now();
    let mut decoded = 0;
    for _ in 0..CASES {
        let bytes = mutate(&mut rng, &seeds);
        decoded += usize::from(check(&bytes, &known));
        assert!(
            start.elapsed() < BUDGET,
            "over {BUDGET:?}: the decoder is too slow"
        );
    }
    eprintln!(
        "{CASES} inputs in {:?}, {decoded} still decoded as .http",
        start.elapsed()
    );
    // The mutations are not all fatal: the fuzzer reaches the decoder's success paths.
    assert!(decoded > 100, "only {decoded} inputs decoded");
}
