//! The memory-bound property of issue 13: parsing N bytes never allocates more than c·N + K.
//!
//! A counting global allocator records the peak of live heap bytes while each input is parsed
//! (the returned snapshot included), over real dumps and hostile ones. For text and raw protobuf
//! N is the input; for a gzipped profile it is the decompressed size D, which
//! `Limits::max_decompressed_bytes` caps — so for gzip the bound is a constant, c·64 MiB + K.
//!
//! The allocator is the whole test binary's, and the other modules' tests run on parallel
//! threads: it counts per thread (a thread-local balance), and `peak_of` reads the calling
//! thread's — parsing allocates on the calling thread only. The cases run in sequence inside
//! one #[test].
//!
//! `cargo test -p goroutine-dump --test it memory_bound -- --nocapture` prints the table and c.

// A GlobalAlloc implementation is `unsafe impl` by definition; it only forwards to System.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;

use crate::support::{field, gzip_repeat, scalar, varint};
use goroutine_dump::{parse, parse_as, Format};

struct Counting;

thread_local! {
    // Live bytes this thread allocated minus what it freed (negative when it frees blocks
    // another thread allocated), and the peak since `peak_of` reset it. `const` and without
    // a destructor: usable from the allocator at any point of a thread's life.
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(by: usize, transient: usize) {
    let by = by as isize;
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + by;
        c.set(now);
        // A moving realloc holds the old and the new block at once.
        let _ = PEAK.try_with(|p| p.set(p.get().max(now + transient as isize)));
    });
}

fn shrank(by: usize) {
    let _ = CURRENT.try_with(|c| c.set(c.get() - by as isize));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size(), 0);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size(), 0);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size(), layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak live heap bytes this thread allocated above its starting level while `f` runs (its
/// result included).
fn peak_of<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get);
    ((peak - base).max(0) as usize, out)
}

/// The constant: what a parse of a tiny input costs (builder tables, the empty snapshot).
const K: usize = 64 << 10;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn gunzipped_len(b: &[u8]) -> usize {
    let mut n = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(b)
        .take(80 << 20)
        .read_to_end(&mut n);
    n.len()
}

/// A real-shaped big profile: `samples` samples of `depth` frames drawn from 5000 locations
/// in 2000 functions, each with a distinct label (as a service with per-request labels has).
fn big_profile(samples: u64, depth: u64) -> Vec<u8> {
    let mut p = field(6, b"");
    p.extend(field(6, b"goroutine"));
    p.extend(field(6, b"count"));
    p.extend(field(6, b"request"));
    p.extend(field(1, &[scalar(1, 1), scalar(2, 2)].concat()));
    let strings = 4;
    for f in 0..2000u64 {
        p.extend(field(
            6,
            format!("example.com/app/pkg{}.(*T).Method{f}", f % 50).as_bytes(),
        ));
        p.extend(field(
            6,
            format!("/app/pkg{}/file{}.go", f % 50, f % 7).as_bytes(),
        ));
        let name = strings + 2 * f;
        p.extend(field(
            5,
            &[scalar(1, f + 1), scalar(2, name), scalar(4, name + 1)].concat(),
        ));
    }
    for l in 0..5000u64 {
        let line = field(
            4,
            &[scalar(1, l % 2000 + 1), scalar(2, 10 + l % 300)].concat(),
        );
        p.extend(field(
            4,
            &[scalar(1, l + 1), scalar(3, 0x400000 + l * 16), line].concat(),
        ));
    }
    let first_label = strings + 4000;
    for s in 0..samples {
        p.extend(field(6, format!("req-{s:08}").as_bytes()));
        let mut ids = Vec::new();
        for d in 0..depth {
            varint(&mut ids, (s * 7 + d * 13) % 5000 + 1);
        }
        let label = field(3, &[scalar(1, 3), scalar(2, first_label + s)].concat());
        p.extend(field(
            2,
            &[field(1, &ids), scalar(2, 1 + s % 3), label].concat(),
        ));
    }
    p
}

struct Case {
    name: String,
    input: Vec<u8>,
    format: Option<Format>,
}

fn case(name: impl Into<String>, input: Vec<u8>, format: Option<Format>) -> Case {
    Case {
        name: name.into(),
        input,
        format,
    }
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for name in [
        "go1.21-formats.txt",
        "leaky-go1.19.debug0.pb.gz",
        "leaky-go1.19.debug1.txt",
        "leaky-go1.19.debug2.txt",
        "leaky-go1.26.debug0.pb.gz",
        "leaky-go1.26.debug1.txt",
        "leaky-go1.26.debug2.txt",
        "leaky-go1.26.goroutineleak.debug0.pb.gz",
        "leaky-go1.26.goroutineleak.debug1.txt",
        "leaky-go1.26.leaked.debug2.txt",
        "panic-in-container-log.txt",
    ] {
        v.push(case(name, data(name), None));
    }
    // The real debug=2 dump, 10 times over (ids repeat; ~2 MB, ~2.5k goroutines).
    v.push(case(
        "leaky-go1.26.debug2.txt ×10",
        data("leaky-go1.26.debug2.txt").repeat(10),
        None,
    ));
    v.push(case(
        "real-shaped profile: 200k samples × 32 frames, distinct labels",
        big_profile(200_000, 32),
        Some(Format::Proto),
    ));
    // Hostile shapes: the smallest bytes per record / string / frame each format allows.
    v.push(case(
        "debug=1: 500k records '1 @'",
        [
            &b"goroutine profile: total 500000\n"[..],
            &b"1 @\n".repeat(500_000),
        ]
        .concat(),
        None,
    ));
    let mut d1 = b"goroutine profile: total 100000\n".to_vec();
    for i in 0..100_000 {
        d1.extend(format!("1 @\n# labels: {{\"k\":\"{i}\"}}\n#\t0\tf{i}\t:{i}\n").bytes());
    }
    v.push(case("debug=1: 100k distinct labels and frames", d1, None));
    v.push(case(
        "debug=2: 200k one-line goroutines",
        b"goroutine 1 [a]:\n".repeat(200_000),
        None,
    ));
    let mut d2 = Vec::new();
    for i in 0..100_000 {
        d2.extend(
            format!("goroutine {i} [s{i}]:\nf{i}()\n\t/{i}:{i}\ncreated by c{i}\n\t/{i}:1\n\n")
                .bytes(),
        );
    }
    v.push(case(
        "debug=2: 100k distinct states, frames, creators",
        d2,
        None,
    ));
    let mut deep = b"goroutine 1 [running]:\n".to_vec();
    for i in 0..4000 {
        deep.extend(format!("f{i}()\n\t/a.go:{i}\n").bytes());
    }
    v.push(case("debug=2: one 4000-frame stack", deep, None));
    v.push(case(
        "proto: 1M empty samples (the limit)",
        field(2, b"").repeat(1_000_000),
        Some(Format::Proto),
    ));
    v.push(case(
        "proto: 4M empty strings (the limit)",
        field(6, b"").repeat(4_000_000),
        Some(Format::Proto),
    ));
    v.push(case(
        "proto: 1M locations (the limit)",
        (1..=1_000_000u64)
            .flat_map(|i| field(4, &scalar(1, i)))
            .collect(),
        Some(Format::Proto),
    ));
    v.push(case(
        "gzip: 20M empty samples (issue 13, refused)",
        gzip_repeat(b"\x12\x00", 20_000_000),
        None,
    ));
    v.push(case(
        "gzip: 1M empty samples",
        gzip_repeat(b"\x12\x00", 1_000_000),
        None,
    ));
    v.push(case(
        "gzip: 65 MiB of zeros (refused)",
        gzip_repeat(&[0u8; 4096], (65 << 20) / 4096),
        None,
    ));
    let mut x = 0x9e3779b97f4a7c15u64;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    v.push(case(
        "1 MiB of random bytes as proto",
        noise.clone(),
        Some(Format::Proto),
    ));
    v.push(case(
        "1 MiB of random bytes as debug=2",
        noise,
        Some(Format::Debug2),
    ));
    v
}

#[test]
fn parsing_n_bytes_allocates_at_most_c_times_n_plus_k() {
    // c measured with this test (see docs/fuzzing.md): 37 at worst, for empty pprof samples
    // (2 bytes each → a 72-byte Record); the 4-byte debug=1 record `1 @` costs 28, debug=2
    // under 13, the real dumps under 17 (mostly the constant). Asserted with
    // headroom so that an allocator or std change does not fail it, while a regression to
    // O(samples × message size) — the 2.4 GB of issue 13 is c ≈ 60,000 — does.
    const C: f64 = 48.0;
    let mut worst: f64 = 0.0;
    let mut failures = Vec::new();
    println!(
        "{:<64} {:>11} {:>11} {:>11} {:>7}  result",
        "input", "bytes", "parsed N", "peak", "c"
    );
    for c in cases() {
        let (peak, result) = peak_of(|| match c.format {
            Some(f) => parse_as(&c.input, f),
            None => parse(&c.input),
        });
        let gz = c.input.starts_with(&[0x1f, 0x8b]);
        let n = if gz {
            gunzipped_len(&c.input)
        } else {
            c.input.len()
        };
        let ratio = peak.saturating_sub(K) as f64 / n.max(1) as f64;
        worst = worst.max(ratio);
        let outcome = match &result {
            Ok(s) => format!(
                "ok: {} goroutines, {} records",
                s.total(),
                s.records().len()
            ),
            Err(e) => format!("error: {e}"),
        };
        println!(
            "{:<64} {:>11} {:>11} {:>11} {:>7.2}  {}",
            c.name,
            c.input.len(),
            n,
            peak,
            ratio,
            &outcome[..outcome.len().min(110)]
        );
        if peak as f64 > C * n as f64 + K as f64 {
            failures.push(format!(
                "{}: {peak} bytes for N = {n} (c = {ratio:.1})",
                c.name
            ));
        }
        if c.name.starts_with("real-shaped") || c.name.contains("(the limit)") {
            assert!(result.is_ok(), "{}: {outcome}", c.name);
        }
        drop(result);
    }
    println!("worst c = {worst:.2} (asserted ≤ {C}, K = {K} bytes)");
    assert!(failures.is_empty(), "over c·N + K: {failures:#?}");
}
