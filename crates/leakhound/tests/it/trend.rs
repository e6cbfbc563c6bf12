//! Leak detection end to end under real traffic (issue 12): three real Go fixtures serving
//! Poisson traffic of ~1000 goroutines in flight (σ ≈ 50, `/control/traffic`), watched at 5 s by
//! one `leakhound run` with every default rule and the default goroutine dumps:
//! - one starts a drip leak of 1 goroutine/s at a call site the project's tests never used
//!   (`/control/drip?pattern=quota`: `billing.(*QuotaService).reportUsage`): a
//!   `goroutines_growth` alert within 5 minutes whose first message names that function;
//! - one stays flat, one ramps its load ×2 over 4 minutes: no `goroutines_growth` alert at all
//!   (the ramp's dumps say load).
//!
//! Read back from the agent's `alert_events` table. Takes about 6 minutes, so it is ignored
//! unless the fixture is built: run by `scripts/test` (`--include-ignored`, `LEAKHOUND_FIXTURE`
//! set; `LEAKHOUND_FIXTURE_LEAKPROFILE`, when set, builds the leaking target with Go 1.26's
//! goroutineleak profile and the test also expects `goroutines_leaked`).

use crate::support;

use leakhound_core::rules::{Transition, TransitionKind};
use leakhound_store::Store;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{alone, now_ms, poll, progress, Agent, Fixture, Progress};

const RULE: &str = "goroutines_growth";
/// Poisson arrivals in batches of 3, lognormal service times: 998 ± 52 goroutines measured
/// with `scripts/bench/traffic-stats 1500 200 0.5 3` (tests/fixtures/leaky/README.md).
const TRAFFIC: &str = "/control/traffic?rate=1500&service_ms=200&service_sigma=0.5&burst=3";
const LEAK_SITE: &str = "billing.(*QuotaService).reportUsage";
/// The issue's bound on time to alert, and how long the test waits (a little longer, so a late
/// alert fails with its measured time rather than a bare timeout).
const ALERT_WITHIN: Duration = Duration::from_secs(300);
const WAIT_AT_MOST: Duration = Duration::from_secs(330);
/// How long the others stay watched after the leak alert fired.
const WATCH_AFTER: Duration = Duration::from_secs(45);

/// Up samples of `target`: (count, min, max, mean, sd, first ts_ms, last ts_ms) of goroutines,
/// read through the store (WAL: safe while the agent runs).
fn goroutine_stats(db: &Path, target: &str) -> (usize, f64, f64, f64, f64, i64, i64) {
    let up: Vec<(i64, f64)> = support::read_store(db)
        .and_then(|s| s.samples(target, i64::MIN, i64::MAX).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.up)
        .filter_map(|s| Some((s.ts_ms, s.metrics.goroutines? as f64)))
        .collect();
    let (Some(first), Some(last)) = (up.first(), up.last()) else {
        return (0, 0.0, 0.0, 0.0, 0.0, 0, 0);
    };
    let n = up.len() as f64;
    let g = || up.iter().map(|(_, g)| *g);
    let mean = g().sum::<f64>() / n;
    let mean_sq = g().map(|g| g * g).sum::<f64>() / n;
    let sd = (mean_sq - mean * mean).max(0.0).sqrt();
    let min = g().fold(f64::INFINITY, f64::min);
    let max = g().fold(f64::NEG_INFINITY, f64::max);
    (up.len(), min, max, mean, sd, first.0, last.0)
}

/// The growth events (any kind) for `target`, oldest first.
fn growth_events(outbox: &mut Store, target: &str) -> Vec<Transition> {
    let mut events: Vec<Transition> = outbox
        .alert_events(Some(target), 50)
        .expect("read alert_events")
        .into_iter()
        .filter(|t| t.rule == RULE)
        .collect();
    events.reverse();
    events
}

fn describe(events: &[Transition]) -> String {
    events
        .iter()
        .map(|t| format!("{:?} at {}: {}", t.kind, t.at_ms, t.evidence.summary))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Two targets polled every 5 s with every default alert rule as shipped: nothing is turned
/// off or loosened. The checks filter on `goroutines_growth`; any other alert the agent raised
/// is printed at the end for the record.
fn write_config(dir: &Path, db: &Path, targets: &[(&str, String)]) -> PathBuf {
    let text = format!(
        r#"[agent]
database = "{db}"
flush_interval = "100ms"

[web]
enabled = false

[defaults]
interval = "5s"
timeout = "5s"
jitter = "0s"
"#,
        db = db.display()
    );
    support::write_targets_config(dir, text, targets)
}

/// Issue 12's live case: a noisy service leaking 1 goroutine/s in an unfamiliar pattern gets a
/// growth alert within 5 minutes naming the leaking function; a noisy flat service and a
/// ramping one get none.
#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn a_drip_leak_under_traffic_is_named_within_5_minutes_and_flat_or_ramping_load_raises_nothing() {
    // Three fixtures under traffic and a noise floor to hold: no other test's peers beside it
    // (it had a binary of its own before issue 14).
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("trend.db");
    let leakprofile = std::env::var("LEAKHOUND_FIXTURE_LEAKPROFILE")
        .ok()
        .filter(|p| Path::new(p).is_file());
    let leaking = match &leakprofile {
        Some(bin) => Fixture::start_binary(bin, &[]),
        None => Fixture::start(),
    };
    let steady = Fixture::start();
    let ramping = Fixture::start();
    for f in [&leaking, &steady, &ramping] {
        let t = f.control(TRAFFIC);
        assert_eq!(t["rate"], 1500.0, "{t}");
    }
    let config = write_config(
        dir.path(),
        &db,
        &[
            ("leaking", leaking.url()),
            ("steady", steady.url()),
            ("ramping", ramping.url()),
        ],
    );
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    progress(
        "3 fixtures under traffic, agent started; ~6 minutes: 150 s of samples, then the drip",
    );

    // 2½ minutes of samples under traffic first — the agent takes its first reference dumps
    // two minutes after a target's first sample — so the leak starts on a noisy flat line.
    poll(
        Duration::from_secs(240),
        "150 s of samples of each target",
        || {
            ["leaking", "steady", "ramping"]
                .iter()
                .all(|t| {
                    let (n, .., first, last) = goroutine_stats(&db, t);
                    n >= 20 && last - first >= 150_000
                })
                .then_some(())
        },
    );
    let (_, min, max, mean, sd, ..) = goroutine_stats(&db, "steady");
    eprintln!("steady before: min {min} max {max} mean {mean:.0} sd {sd:.1}");
    let mut outbox = Store::open(&db).expect("open the agent's database");
    for t in ["leaking", "steady", "ramping"] {
        assert!(
            growth_events(&mut outbox, t).is_empty(),
            "a growth alert for {t} before any leak"
        );
    }

    let drip = leaking.control("/control/drip?pattern=quota&per_second=1");
    assert_eq!(drip["drip"]["quota"]["per_second"], 1.0, "{drip}");
    let ramp = ramping.control("/control/traffic?mode=ramp&to=3000&over=4m");
    assert!(ramp.get("error").is_none(), "{ramp}");
    let leak_start = Instant::now();
    let leak_start_ms = now_ms();
    let quiet = |outbox: &mut Store| {
        for t in ["steady", "ramping"] {
            let events = growth_events(outbox, t);
            assert!(
                events.is_empty(),
                "{t} got a leak alert {:.0} s after the drip started:\n{}\n{t}: {:?}\nagent log:\n{}",
                leak_start.elapsed().as_secs_f64(),
                describe(&events),
                goroutine_stats(&db, t),
                agent.log_text()
            );
        }
    };
    progress("drip (1/s) and ramp started; waiting for the growth alert (at most 330 s)");
    let mut waiting = Progress::new("waiting for the drip's growth alert");
    let fired = loop {
        waiting.tick(|| {
            let (n, min, max, ..) = goroutine_stats(&db, "leaking");
            format!("leaking: {n} samples, goroutines {min}..{max}; no alert yet (bound 300 s)")
        });
        quiet(&mut outbox);
        let events = growth_events(&mut outbox, "leaking");
        if let Some(t) = events.iter().find(|t| t.kind == TransitionKind::Firing) {
            break t.clone();
        }
        assert!(
            leak_start.elapsed() < WAIT_AT_MOST,
            "no {RULE} alert for the drip after {:.0} s; events:\n{}\nleaking: {:?}\nagent log:\n{}",
            leak_start.elapsed().as_secs_f64(),
            describe(&events),
            goroutine_stats(&db, "leaking"),
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let fired_after = Duration::from_millis((fired.at_ms - leak_start_ms).max(0) as u64);
    eprintln!(
        "growth alert for the drip {:.1} s after it started: {}\nsuspects: {:?}",
        fired_after.as_secs_f64(),
        fired.evidence.summary,
        fired.evidence.top_growing
    );
    assert!(
        fired_after <= ALERT_WITHIN,
        "the growth alert came {:.1} s after the drip started (bound {} s): {}",
        fired_after.as_secs_f64(),
        ALERT_WITHIN.as_secs(),
        fired.evidence.summary
    );
    // The first message names the leaking function and its label.
    assert!(
        fired.evidence.summary.contains(LEAK_SITE),
        "the first message does not name {LEAK_SITE}: {}",
        fired.evidence.summary
    );
    let dumps = fired
        .evidence
        .dumps
        .as_ref()
        .expect("the alert carries the dumps' verdict");
    assert!(
        dumps
            .site
            .as_deref()
            .is_some_and(|s| s.ends_with(LEAK_SITE)),
        "{dumps:?}"
    );
    assert!(
        fired
            .evidence
            .top_growing
            .iter()
            .any(|l| l.contains(LEAK_SITE) && l.contains("tenant=acme")),
        "{:?}",
        fired.evidence.top_growing
    );

    // The others keep being watched a while longer — the ramp reaches its plateau — quietly.
    progress(&format!(
        "growth alert after {:.0} s; watching the others {} s more",
        fired_after.as_secs_f64(),
        WATCH_AFTER.as_secs()
    ));
    let watch = Instant::now();
    let mut watching = Progress::new("watching steady and ramping stay quiet");
    while watch.elapsed() < WATCH_AFTER {
        watching.tick(|| "no growth alert for them".to_string());
        quiet(&mut outbox);
        std::thread::sleep(Duration::from_millis(500));
    }
    if leakprofile.is_some() {
        let leaked = poll(Duration::from_secs(60), "a goroutines_leaked alert", || {
            outbox
                .alert_events(Some("leaking"), 50)
                .unwrap()
                .into_iter()
                .find(|t| t.rule == "goroutines_leaked" && t.kind == TransitionKind::Firing)
        });
        eprintln!("runtime proof: {}", leaked.evidence.summary);
    }
    quiet(&mut outbox);
    let log = agent.log_text();
    agent.stop();
    for t in ["leaking", "steady", "ramping"] {
        let (n, min, max, mean, sd, first, last) = goroutine_stats(&db, t);
        eprintln!(
            "{t}: {n} samples over {:.0} s, goroutines min {min} max {max} mean {mean:.0} sd {sd:.1}",
            (last - first) as f64 / 1000.0
        );
        eprintln!(
            "alert events (newest first):\n{}",
            describe(&outbox.alert_events(Some(t), 50).unwrap())
        );
    }
    // Not vacuous: the steady series really is noisy, the ramp really ramped, and the agent
    // really classified the ramp's growth from its dumps.
    let (_, min, max, mean, sd, ..) = goroutine_stats(&db, "steady");
    assert!(
        sd >= 20.0 && max - min >= 100.0,
        "steady barely varied: min {min} max {max} mean {mean:.0} sd {sd:.1}"
    );
    let (_, _, rmax, ..) = goroutine_stats(&db, "ramping");
    assert!(
        rmax >= 1.6 * mean,
        "the ramp did not ramp: max {rmax} vs {mean:.0}"
    );
    // A load verdict on a quiet machine; on a busy one (CI's 2 cores shared with builds) the
    // serving goroutines may not keep up with the ramp and the dumps say "growth is spread out"
    // (class Unclear). Either way the dumps were classified and never called it a leak.
    let ramp_verdicts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"ramping\"") && l.contains("goroutine dumps"))
        .collect();
    assert!(
        ramp_verdicts
            .iter()
            .any(|l| l.contains("\"class\":\"Load\"") || l.contains("\"class\":\"Unclear\"")),
        "no load (or unclear) verdict for the ramp in the agent log:\n{log}"
    );
    assert!(
        ramp_verdicts
            .iter()
            .all(|l| !l.contains("\"class\":\"Leak\"")),
        "the ramp was called a leak:\n{log}"
    );
}
