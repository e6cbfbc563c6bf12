//! Criterion benchmarks of the hot path: parse + bucketize.
//!
//! The inputs are built from the committed fixture dumps (113 goroutines) repeated to the
//! sizes of the incident (35k and 169k goroutines); set `GOROUTINE_DUMP` to a file to also
//! benchmark a real dump (scripts/bench/dump saves them under scripts/bench/out/).
//! The end-to-end comparison with panicparse lives in scripts/bench/dump.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use goroutine_dump::{bucketize, parse, GroupBy};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn repeated(base: &[u8], goroutines_in_base: usize, want: usize) -> Vec<u8> {
    let times = want.div_ceil(goroutines_in_base);
    let mut out = Vec::with_capacity(base.len() * times + times);
    for _ in 0..times {
        out.extend_from_slice(base);
        out.extend_from_slice(b"\n");
    }
    out
}

fn bench(c: &mut Criterion) {
    let d2 = data("leaky-go1.19.debug2.txt");
    let mut g = c.benchmark_group("debug2 parse+bucketize");
    g.sample_size(10);
    for n in [35_000usize, 169_000] {
        let input = repeated(&d2, 113, n);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter(|| bucketize(&parse(input).unwrap(), GroupBy::Line).len())
        });
    }
    if let Ok(path) = std::env::var("GOROUTINE_DUMP") {
        let input = std::fs::read(&path).unwrap();
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_with_input(BenchmarkId::new("file", &path), &input, |b, input| {
            b.iter(|| bucketize(&parse(input).unwrap(), GroupBy::Line).len())
        });
    }
    g.finish();

    let d1 = data("leaky-go1.19.debug1.txt");
    let d0 = data("leaky-go1.19.debug0.pb.gz");
    c.bench_function("debug1 parse+bucketize", |b| {
        b.iter(|| bucketize(&parse(&d1).unwrap(), GroupBy::Line).len())
    });
    c.bench_function("proto parse+bucketize", |b| {
        b.iter(|| bucketize(&parse(&d0).unwrap(), GroupBy::Line).len())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
