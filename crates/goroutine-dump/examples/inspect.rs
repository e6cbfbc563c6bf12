//! Prints the buckets of goroutine dumps: `cargo run --example inspect -- FILE...`.
//! With several files, also prints the suspects (files in time order).

use goroutine_dump::{bucketize, parse, suspects, GroupBy, SuspectOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut snaps = Vec::new();
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        let t = std::time::Instant::now();
        let snap = parse(&bytes)?;
        let parsed = t.elapsed();
        let buckets = bucketize(&snap, GroupBy::Line);
        println!(
            "{path}: {} goroutines, {} stacks, {} buckets, parse {:?}, total {:?}",
            snap.total(),
            snap.stack_count(),
            buckets.len(),
            parsed,
            t.elapsed()
        );
        for w in snap.warnings() {
            println!("  warning: line {}: {}", w.line, w.message);
        }
        for b in buckets.iter().take(12) {
            let site = b.site().map(|f| f.short()).unwrap_or_default();
            let labels: Vec<String> = b
                .labels
                .iter()
                .map(|l| format!("{}={}:{}", l.key, l.value, l.count))
                .collect();
            println!(
                "  {:>7} {:<12} {site} {}",
                b.count,
                b.blocking.as_str(),
                labels.join(",")
            );
        }
        snaps.push(snap);
    }
    if snaps.len() > 1 {
        for s in suspects(&snaps, &SuspectOptions::default()) {
            println!(
                "suspect {:?} {:?} {:?}",
                s.counts,
                s.site().map(|f| f.short()),
                s.reasons
            );
        }
    }
    Ok(())
}
