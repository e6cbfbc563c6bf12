//! Detection quality as a classifier: time-to-detect, time-to-name and false alarms over a
//! matrix of leak rates × noise × backgrounds with random seeds, through the real rule engine
//! and dump classifier on a simulated clock ([`leakhound::detect_sim`]).
//!
//! `scripts/bench/detect [SEEDS] [WEEK_SEEDS]` (default 5 and 3) prints the tables that
//! BENCHMARKS.md keeps.

use leakhound::detect_sim::{run, Background, Outcome, Scenario};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const RATES: [f64; 4] = [0.05, 0.2, 1.0, 5.0];
const NOISES: [f64; 3] = [0.0, 50.0, 200.0];

fn parallel(scenarios: &[Scenario]) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![Outcome::default(); scenarios.len()]);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(sc) = scenarios.get(i) else { break };
                let o = run(sc);
                if let Ok(mut r) = results.lock() {
                    r[i] = o;
                }
            });
        }
    });
    results.into_inner().unwrap_or_default()
}

fn minutes(ms: i64) -> String {
    format!("{:.1}", ms as f64 / MINUTE as f64)
}

/// `median / worst` of the times, with the misses.
fn times(v: &[Option<i64>]) -> String {
    let mut hit: Vec<i64> = v.iter().flatten().copied().collect();
    hit.sort_unstable();
    let missed = v.len() - hit.len();
    let mut s = if hit.is_empty() {
        "–".to_string()
    } else {
        format!(
            "{} / {}",
            minutes(hit[hit.len() / 2]),
            minutes(hit[hit.len() - 1])
        )
    };
    if missed > 0 {
        s.push_str(&format!(" ({missed} missed)"));
    }
    s
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seeds = args.first().copied().unwrap_or(5);
    let week_seeds = args.get(1).copied().unwrap_or(3);
    let started = std::time::Instant::now();

    // 1. Leaks: time to the first growth alert and to the first message naming the site.
    let mut leak = Vec::new();
    for bg in Background::ALL {
        for noise in NOISES {
            for rate in RATES {
                for seed in 0..seeds {
                    leak.push(Scenario {
                        background: bg,
                        noise,
                        leak_per_second: rate,
                        seed: seed * 7919 + 1,
                        duration_ms: 3 * HOUR + 3 * HOUR,
                        dumps: true,
                    });
                }
            }
        }
    }
    eprintln!("detect: {} leak runs…", leak.len());
    let leak_out = parallel(&leak);
    println!("### Leaks: minutes from the leak's start (median / worst of {seeds} seeds; a miss = nothing within 3 h)\n");
    println!("| background | noise σ | rate | detected | named | false alarms before the leak |");
    println!("|---|---|---|---|---|---|");
    for (chunk, outs) in leak
        .chunks(seeds as usize)
        .zip(leak_out.chunks(seeds as usize))
    {
        let sc = chunk[0];
        let det: Vec<Option<i64>> = outs.iter().map(|o| o.detected_after_ms).collect();
        let named: Vec<Option<i64>> = outs.iter().map(|o| o.named_after_ms).collect();
        let fa: usize = outs.iter().map(|o| o.false_alarms).sum();
        println!(
            "| {} | {} | {}/s | {} | {} | {fa} |",
            sc.background.name(),
            sc.noise,
            sc.leak_per_second,
            times(&det),
            times(&named),
        );
    }

    // 2. A week of each non-leaking background: leak alerts, with dumps and on counts alone.
    let mut weeks = Vec::new();
    for bg in Background::ALL {
        for noise in NOISES {
            for dumps in [true, false] {
                for seed in 0..week_seeds {
                    weeks.push(Scenario {
                        background: bg,
                        noise,
                        leak_per_second: 0.0,
                        seed: seed * 104_729 + 3,
                        duration_ms: 7 * 24 * HOUR,
                        dumps,
                    });
                }
            }
        }
    }
    eprintln!("detect: {} simulated weeks without a leak…", weeks.len());
    let week_out = parallel(&weeks);
    println!("\n### No leak: growth (leak) alerts per simulated week (mean of {week_seeds} seeded weeks)\n");
    println!("| background | noise σ | with dumps (default) | counts alone (no pprof) | dumps taken per day |");
    println!("|---|---|---|---|---|");
    let per = week_seeds as usize;
    for (chunk, outs) in weeks.chunks(2 * per).zip(week_out.chunks(2 * per)) {
        let sc = chunk[0];
        let mean =
            |o: &[Outcome]| o.iter().map(|x| x.false_alarms).sum::<usize>() as f64 / per as f64;
        let captures =
            outs[..per].iter().map(|x| x.captures).sum::<usize>() as f64 / per as f64 / 7.0;
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.0} |",
            sc.background.name(),
            sc.noise,
            mean(&outs[..per]),
            mean(&outs[per..]),
            captures
        );
    }
    eprintln!("detect: done in {:.0} s", started.elapsed().as_secs_f64());
}
