//! Generate a large leakhound store for benchmarks: N targets sampled every INTERVAL over DAYS,
//! ending now (so `leakhound report --since 30d` covers all of it).
//!
//! ```sh
//! cargo run --release -p leakhound-store --example gen_store -- OUT.db [TARGETS] [DAYS] [INTERVAL_S] [TAIL_MIN] [RAW_DAYS]
//! # defaults: 100 targets, 30 days, 30 s  →  8,640,000 samples (~1.2 GB, ~30 s)
//! ```
//!
//! RAW_DAYS (default: DAYS) is `[agent] raw_retention`: the rows are written an hour at a time,
//! each hour is indexed, and the samples older than RAW_DAYS (counted from the hour written) are
//! deleted by the agent's own retention (`Store::prune_samples`), so the file is what an agent
//! that ran for DAYS leaves: RAW_DAYS of samples, DAYS of exact rollups. (A day at a time, each
//! retention transaction deleted whole targets' days, rows spread over the day's pages: at 1000
//! targets × 5 s the late days took ~10 minutes each and the 30-day store was on course for 3
//! hours; an hour at a time it took 42 minutes. The agent deletes 10 minutes at a time.)
//!
//! The database is created through `Store::open` (the real schema), then the rows are
//! written in one transaction with one prepared statement and indexed by `Store::pass_tail`,
//! except the last TAIL_MIN minutes (default 5), left in the unindexed tail as in a running
//! agent's store, interleaved by time the way the agent
//! writes them (every target's sample at t, then at t + interval). Values are deterministic:
//! target i % 4 == 0 is flat (~800), 1 follows a daily load curve (800–2200), 2 leaks slowly
//! (+5/h), 3 leaks fast (+150/h) and is "restarted" every 2 days (a saw-tooth up to ~7500);
//! memory follows goroutines; one sample in 1000 is a down sample. Target names are
//! `svc-000` … `svc-099`. Used by `scripts/bench/report` (and reusable for the dashboard's
//! first-paint benchmark).
//!
//! An existing OUT is refused (delete it first).

use leakhound_core::time::UnixMs;
use leakhound_store::Store;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

/// Rows deleted per retention transaction (as the agent, a call at a time until fewer go).
const PRUNE_ROWS: usize = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first().map(PathBuf::from) else {
        return Err(
            "usage: gen_store OUT.db [TARGETS=100] [DAYS=30] [INTERVAL_S=30] [TAIL_MIN=5] [RAW_DAYS=DAYS] (end = now)"
                .into(),
        );
    };
    let number = |i: usize, default: i64| -> Result<i64, String> {
        args.get(i).map_or(Ok(default), |s| {
            s.parse()
                .map_err(|_| format!("'{s}' is not a whole number"))
        })
    };
    let targets = number(1, 100)?;
    let days = number(2, 30)?;
    let interval_ms = number(3, 30)? * 1000;
    let tail_ms = number(4, 5)? * 60_000;
    let raw_ms = number(5, days)? * 86_400_000;
    if out.exists() {
        return Err(format!("'{}' exists; delete it first", out.display()).into());
    }
    let end_ms = UnixMs::from(SystemTime::now()).as_i64();
    let end_ms = end_ms - end_ms % interval_ms;
    let start_ms = end_ms - days * 86_400_000;
    let steps = (end_ms - start_ms) / interval_ms;

    drop(Store::open(&out)?);
    let started = Instant::now();
    let connect = || -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open(&out)?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.pragma_update(None, "cache_size", -262_144)?; // 256 MiB
        Ok(conn)
    };
    let mut conn = connect()?;
    let tx = conn.transaction()?;
    for i in 0..targets {
        tx.execute(
            "INSERT INTO targets(id, name) VALUES (?1, ?2)",
            rusqlite::params![i + 1, format!("svc-{i:03}")],
        )?;
    }
    tx.commit()?;
    // All but the last TAIL_MIN minutes, indexed and summed as the agent's passes do; then the
    // rest, left in the tail (a running agent's store holds 0–10 minutes there).
    let tail_steps = (tail_ms / interval_ms).min(steps);
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    // An hour at a time: each is indexed as the agent's passes do (and its expired samples
    // deleted) before the next is written.
    let chunk_steps = (3_600_000 / interval_ms).max(1);
    let (mut writing, mut indexing) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let mut pruned = 0u64;
    let mut from = 0;
    while from < steps - tail_steps {
        let to = (from + chunk_steps).min(steps - tail_steps);
        let t = Instant::now();
        write_steps(
            &mut conn,
            targets,
            start_ms,
            interval_ms,
            from..to,
            &mut rng,
        )?;
        writing += t.elapsed();
        let t = Instant::now();
        let mut store = Store::open(&out)?; // (opening passes the tail)
        let cutoff = start_ms + to * interval_ms - raw_ms;
        if cutoff > start_ms {
            loop {
                let n = store.prune_samples(cutoff, PRUNE_ROWS)?;
                pruned += n;
                if n < PRUNE_ROWS as u64 {
                    break;
                }
            }
        }
        drop(store);
        indexing += t.elapsed();
        from = to;
    }
    let mut conn = connect()?;
    write_steps(
        &mut conn,
        targets,
        start_ms,
        interval_ms,
        steps - tail_steps..steps,
        &mut rng,
    )?;
    conn.execute(
        "UPDATE sample_mark SET floor_ms = min(floor_ms, coalesce((SELECT min(ts_ms) \
         FROM samples WHERE rowid > (SELECT row FROM sample_mark)), floor_ms))",
        [],
    )?;
    println!(
        "wrote {} samples ({targets} targets × {steps} steps of {}s over {days}d, the last \
         {tail_steps} steps left in the tail; {pruned} older than the raw retention deleted) \
         to {} in {:.1}s ({:.1}s writing), indexed and pruned in {:.1}s",
        targets * steps,
        interval_ms / 1000,
        out.display(),
        started.elapsed().as_secs_f64(),
        writing.as_secs_f64(),
        indexing.as_secs_f64()
    );
    Ok(())
}

/// Write the samples of `steps` (every target's sample at each step) in one transaction.
fn write_steps(
    conn: &mut rusqlite::Connection,
    targets: i64,
    start_ms: i64,
    interval_ms: i64,
    steps: std::ops::Range<i64>,
    rng: &mut u64,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO samples(target_id, ts_ms, up, error, latency_ms, source, goroutines, \
             alloc_bytes, total_alloc_bytes, sys_bytes, heap_bytes, num_gc, rss_bytes) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'health', ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for step in steps {
            let base = start_ms + step * interval_ms;
            let hours = (step * interval_ms) as f64 / 3_600_000.0;
            for i in 0..targets {
                *rng ^= *rng << 13;
                *rng ^= *rng >> 7;
                *rng ^= *rng << 17;
                let noise = (*rng % 1000) as f64 / 1000.0 - 0.5; // -0.5 .. 0.5
                let ts = base + (i * 37 % 1000); // targets are probed a little apart
                if *rng % 1000 == 7 {
                    stmt.execute(rusqlite::params![
                        i + 1,
                        ts,
                        false,
                        "timed out after 5s",
                        5000.0,
                        rusqlite::types::Null,
                        rusqlite::types::Null,
                        rusqlite::types::Null,
                        rusqlite::types::Null,
                        rusqlite::types::Null,
                        rusqlite::types::Null,
                        rusqlite::types::Null,
                    ])?;
                    continue;
                }
                let g = match i % 4 {
                    0 => 800.0 + noise * 200.0,
                    1 => {
                        1500.0
                            + 700.0 * (hours / 24.0 * std::f64::consts::TAU).sin()
                            + noise * 150.0
                    }
                    2 => 300.0 + 5.0 * hours + noise * 100.0,
                    _ => 400.0 + 150.0 * (hours % 48.0) + noise * 300.0,
                }
                .max(1.0) as i64;
                let alloc = 64 * (1 << 20) + g * 96 * 1024;
                let sys = alloc * 2;
                let rss = sys + (1 << 24);
                stmt.execute(rusqlite::params![
                    i + 1,
                    ts,
                    true,
                    rusqlite::types::Null,
                    1.0 + noise.abs() * 4.0,
                    g,
                    alloc,
                    alloc * 40 + step * 1_000_000,
                    sys,
                    alloc,
                    step / 4,
                    rss,
                ])?;
            }
        }
    }
    tx.commit()
}
