//! The trend rule end to end (issue 5): "a noisy flat series no trend alert; a steady linear
//! leak a trend alert within 5 minutes at 1 goroutine/s" — the real `leakhound run` watching
//! two real Go fixtures at once with the default `goroutines_growth` rule (Theil–Sen ≥ 600/h,
//! R² ≥ 0.85, 30m and 5m windows, ≥ 9 points, `for` 30s), read back from the agent's
//! `alert_events` table. Takes about 5 minutes, so it is ignored unless the fixture is built:
//! run by `scripts/test` (`--include-ignored`, `LEAKHOUND_FIXTURE` set).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod support;

use leakhound_agent::outbox::Outbox;
use leakhound_core::rules::{Transition, TransitionKind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{poll, Agent, Fixture};

const RULE: &str = "goroutines_growth";
/// Workers of the steady fixture's churn. Measured by hand (100 readings 30 ms apart): the
/// fixture idles at 8 goroutines; with 6 workers it reads mean ≈ 33, sd ≈ 4.7 (14 %), min 21,
/// max 48 — about ±40 % around the mean, and flat.
const STEADY_WORKERS: u32 = 6;
/// The leak: 5 goroutines every 5 s is 1 goroutine/s (3600/h, six times the rule's minimum).
const LEAK_EVERY: Duration = Duration::from_secs(5);
const LEAK_BATCH: u64 = 5;
/// The issue's bound on time to alert, and how long the test waits (a little longer, so a late
/// alert fails with its measured time rather than a bare timeout).
const ALERT_WITHIN: Duration = Duration::from_secs(300);
const WAIT_AT_MOST: Duration = Duration::from_secs(330);
/// How long the steady target stays watched after the leak alert fired.
const WATCH_AFTER: Duration = Duration::from_secs(30);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One row of numbers from the agent's database through the `sqlite3` CLI (WAL: safe while it
/// runs); empty when the query fails or finds nothing.
fn sql_row(db: &Path, query: &str) -> Vec<f64> {
    let out = Command::new("sqlite3")
        .args(["-cmd", ".timeout 5000", "-separator", " "])
        .arg(db)
        .arg(query)
        .output()
        .expect("sqlite3 is installed (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// Up samples of `target`: (count, min, max, mean, sd, first ts_ms, last ts_ms) of goroutines.
fn goroutine_stats(db: &Path, target: &str) -> (usize, f64, f64, f64, f64, i64, i64) {
    let row = sql_row(
        db,
        &format!(
            "SELECT count(*), min(s.goroutines), max(s.goroutines), avg(s.goroutines), \
             avg(s.goroutines * s.goroutines), min(s.ts_ms), max(s.ts_ms) \
             FROM samples s JOIN targets t ON t.id = s.target_id \
             WHERE t.name = '{target}' AND s.up = 1 AND s.goroutines IS NOT NULL"
        ),
    );
    if row.len() < 7 || row[0] == 0.0 {
        return (0, 0.0, 0.0, 0.0, 0.0, 0, 0);
    }
    let sd = (row[4] - row[3] * row[3]).max(0.0).sqrt();
    (
        row[0] as usize,
        row[1],
        row[2],
        row[3],
        sd,
        row[5] as i64,
        row[6] as i64,
    )
}

fn samples_of(db: &Path, target: &str) -> usize {
    goroutine_stats(db, target).0
}

/// The growth events (any kind) for `target`, oldest first.
fn growth_events(outbox: &mut Outbox, target: &str) -> Vec<Transition> {
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

/// Issue 5: a steady linear leak of 1 goroutine/s fires the default trend rule within 5
/// minutes, while a noisy flat series watched by the same agent at the same time never does.
#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn linear_leak_fires_the_trend_rule_within_5_minutes_and_a_noisy_flat_series_never_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("trend.db");
    let leaking = Fixture::start();
    let steady = Fixture::start();
    let churn = steady.control(&format!("/control/steady?workers={STEADY_WORKERS}"));
    assert_eq!(churn["steady"], true, "{churn}");
    let config = write_config(
        dir.path(),
        &db,
        &[
            ("leaking", format!("{}/api/monitor/health", leaking.url())),
            ("steady", format!("{}/api/monitor/health", steady.url())),
        ],
    );
    let agent = Agent::start(&config, &dir.path().join("agent.log"));

    // A few samples at rest first, so the leak starts on a flat line.
    poll(Duration::from_secs(60), "3 samples of each target", || {
        (samples_of(&db, "leaking") >= 3 && samples_of(&db, "steady") >= 3).then_some(())
    });
    let mut outbox = Outbox::open(&db).expect("open the agent's database");
    assert!(
        growth_events(&mut outbox, "leaking").is_empty(),
        "a trend alert before any leak"
    );

    // Leak 5 goroutines every 5 s until the alert fires.
    let leak_start = Instant::now();
    let leak_start_ms = now_ms();
    let mut next_leak = leak_start;
    let mut leaked = 0;
    let fired = loop {
        if Instant::now() >= next_leak {
            leaking.leak("chan", LEAK_BATCH, "openai");
            leaked += LEAK_BATCH;
            next_leak += LEAK_EVERY;
        }
        let steady_events = growth_events(&mut outbox, "steady");
        assert!(
            steady_events.is_empty(),
            "the noisy flat series got a trend alert {:.0} s into the leak:\n{}\nsteady: {:?}",
            leak_start.elapsed().as_secs_f64(),
            describe(&steady_events),
            goroutine_stats(&db, "steady"),
        );
        let events = growth_events(&mut outbox, "leaking");
        if let Some(t) = events.iter().find(|t| t.kind == TransitionKind::Firing) {
            break t.clone();
        }
        assert!(
            leak_start.elapsed() < WAIT_AT_MOST,
            "no {RULE} alert for the leak after {:.0} s ({leaked} goroutines leaked); events:\n{}\n\
             leaking: {:?}\nagent log:\n{}",
            leak_start.elapsed().as_secs_f64(),
            describe(&events),
            goroutine_stats(&db, "leaking"),
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let seen_after = leak_start.elapsed();
    let fired_after = Duration::from_millis((fired.at_ms - leak_start_ms).max(0) as u64);
    eprintln!(
        "trend alert for the leak: {:.1} s after the leak started (at_ms), seen {:.1} s after; \
         {leaked} leaked; {}",
        fired_after.as_secs_f64(),
        seen_after.as_secs_f64(),
        fired.evidence.summary
    );
    assert!(
        fired_after <= ALERT_WITHIN,
        "the trend alert came {:.1} s after the leak started (bound {} s): {}",
        fired_after.as_secs_f64(),
        ALERT_WITHIN.as_secs(),
        fired.evidence.summary
    );
    assert!(
        fired.value >= 600.0,
        "slope {} /h below the rule's minimum",
        fired.value
    );

    // The steady target had a full short window when the leak fired (its fit gave verdicts),
    // and keeps churning for a while longer without a trend alert.
    let (_, _, _, _, _, first_ms, last_ms) = goroutine_stats(&db, "steady");
    assert!(
        last_ms - first_ms >= 240_000,
        "the steady target's samples span only {} ms: its 5m fit never counted",
        last_ms - first_ms
    );
    let watch = Instant::now();
    while watch.elapsed() < WATCH_AFTER {
        if Instant::now() >= next_leak {
            leaking.leak("chan", LEAK_BATCH, "openai");
            next_leak += LEAK_EVERY;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    agent.stop();

    let steady_events = growth_events(&mut outbox, "steady");
    let (n, min, max, mean, sd, first_ms, last_ms) = goroutine_stats(&db, "steady");
    eprintln!(
        "steady ({STEADY_WORKERS} workers): {n} samples over {:.0} s, goroutines min {min} max \
         {max} mean {mean:.1} sd {sd:.1} ({:.0} %)",
        (last_ms - first_ms) as f64 / 1000.0,
        100.0 * sd / mean
    );
    for target in ["leaking", "steady"] {
        let all = outbox.alert_events(Some(target), 50).unwrap();
        eprintln!(
            "alert events for {target} (newest first):\n{}",
            describe(&all)
        );
    }
    assert!(
        steady_events.is_empty(),
        "the noisy flat series got a trend alert:\n{}",
        describe(&steady_events)
    );
    // Not vacuous: the steady series really is noisy.
    assert!(n >= 50, "only {n} samples of the steady target");
    assert!(
        max - min >= 10.0 && max - min >= 0.3 * mean && sd >= 0.05 * mean,
        "the steady target barely varied: min {min} max {max} mean {mean:.1} sd {sd:.1}"
    );
}
