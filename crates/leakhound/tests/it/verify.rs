//! `leakhound baseline` / `leakhound verify` (GUIDE §10) on stored series built for each
//! checkpoint, through the CLI: the lines and the exit codes (0 pass/pending, 1 fail, 2 no data).
//! Every rule's passing and failing cases are unit-tested in `leakhound_core::verify`.

use crate::support;

use leakhound_core::Sample;
use leakhound_store::Store;
use std::path::{Path, PathBuf};
use support::{leakhound, now_ms, sample, stderr, stdout};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// Samples every 30 s from `start` to now; goroutines from `g(ms since start)`.
fn store(dir: &Path, target: &str, start: i64, g: impl Fn(i64) -> u64) -> PathBuf {
    let path = dir.join("verify.db");
    let now = now_ms();
    let samples: Vec<Sample> = (0..)
        .map(|i| start + i * 30_000)
        .take_while(|ts| *ts < now)
        .map(|ts| {
            sample(target)
                .at(ts)
                .goroutines(g(ts - start))
                .alloc(256 << 20)
                .total_alloc(1 << 30)
                .sys(512 << 20)
                .num_gc(45)
                .rss(600 << 20)
                .build()
        })
        .collect();
    let mut s = Store::open(&path).unwrap();
    for chunk in samples.chunks(5000) {
        s.insert(chunk).unwrap();
    }
    path
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = leakhound(args);
    (out.status.code(), stdout(&out), stderr(&out))
}

/// `--from` exactly at `ms` (RFC 3339 with milliseconds).
fn rfc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Deterministic wobble around `base` (±100).
fn wobble(base: u64, ms: i64) -> u64 {
    base + ((ms / 30_000) * 37 % 11) as u64 * 20 - 100
}

#[test]
fn baseline_is_saved_in_the_guides_shape_and_verify_compares_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path(), "one-api", now_ms() - 2 * HOUR, |ms| {
        wobble(1000, ms)
    });
    let db_s = db.to_str().unwrap();
    let out = dir.path().join("baseline.json");
    let (code, text, err) = run(&[
        "baseline",
        "one-api",
        "--db",
        db_s,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(text.contains("baseline of one-api saved"), "{text}");
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(b["status"], "ok");
    assert!(b["goroutines"].as_u64().unwrap() >= 900);
    assert_eq!(b["memory"]["alloc_mb"], 256);
    assert_eq!(b["memory"]["sys_mb"], 512);
    assert_eq!(b["memory"]["num_gc"], 45);
    assert_eq!(b["leakhound"]["target"], "one-api");
    assert_eq!(b["leakhound"]["window_seconds"], 600);
    assert!(b["leakhound"]["samples"].as_u64().unwrap() >= 19);
    // Stored in the database too: verify right away is pending (the guide compares after 1 h).
    let stored = support::read_store(&db)
        .unwrap()
        .load_state("baseline:one-api")
        .unwrap()
        .unwrap();
    assert!(stored.contains("\"goroutines_avg\""));
    let (code, text, _) = run(&["verify", "one-api", "--db", db_s]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("PENDING  baseline") && text.contains("run again in"),
        "{text}"
    );

    // A baseline taken 90 minutes ago at 1000: now ~1000 passes, at 700 the growth is +43 %.
    let old = |avg: f64| {
        let mut v = b.clone();
        v["leakhound"]["taken_at_ms"] = (now_ms() - 90 * MIN).into();
        v["leakhound"]["goroutines_avg"] = avg.into();
        let p = dir.path().join(format!("b{avg}.json"));
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let (code, text, _) = run(&[
        "verify",
        "one-api",
        "--db",
        db_s,
        "--baseline",
        old(1000.0).to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("PASS     baseline") && text.contains("after 1h30m"),
        "{text}"
    );
    let (code, text, _) = run(&[
        "verify",
        "one-api",
        "--db",
        db_s,
        "--baseline",
        old(700.0).to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("FAIL     baseline") && text.contains("goroutines 700 → "),
        "{text}"
    );

    // The guide's own file, saved with curl: memory is compared on sys_mb.
    let guide = dir.path().join("guide.json");
    std::fs::write(
        &guide,
        r#"{"status":"ok","goroutines":1000,"memory":{"alloc_mb":256,"total_alloc_mb":1024,"sys_mb":512,"num_gc":45}}"#,
    )
    .unwrap();
    let (code, text, _) = run(&[
        "verify",
        "one-api",
        "--db",
        db_s,
        "--baseline",
        guide.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(code, Some(0));
    assert_eq!(
        v["checks"][0]["status"], "pending",
        "a file written just now: {text}"
    );
    assert!(v["checks"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("memory 512MB → 512MB (+0.0%)"));

    // No baseline, unknown target: no data.
    let (code, _, err) = run(&["verify", "other", "--db", db_s]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no target 'other'"), "{err}");
}

#[test]
fn plan_passes_a_stable_week() {
    let dir = tempfile::tempdir().unwrap();
    let start = now_ms() - 7 * DAY - HOUR;
    // Daily load curve (peaks fluctuate between days), nothing near 3000.
    let db = store(dir.path(), "one-api", start, |ms| {
        let day = ms / DAY;
        let phase = (ms % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
        (1200.0
            + 400.0 * phase.sin()
            + [0.0, 150.0, -80.0, 120.0, -40.0, 90.0, 10.0, 0.0][day as usize % 8]) as u64
    });
    let from = rfc(start);
    let (code, text, err) = run(&[
        "verify",
        "one-api",
        "--plan",
        "--from",
        &from,
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{text}{err}");
    for name in ["first 30 min", "2 hours", "24 hours", "week one"] {
        assert!(
            text.contains(&format!("PASS     {name}")),
            "{name}:\n{text}"
        );
    }
    assert!(text.contains("daily peaks "), "{text}");
}

#[test]
fn plan_fails_each_checkpoint_on_its_own_rule() {
    // first 30 min: a spike to 3500 at +10m.
    let dir = tempfile::tempdir().unwrap();
    let start = now_ms() - HOUR;
    let db = store(dir.path(), "a", start, |ms| {
        if (10 * MIN..10 * MIN + 30_000).contains(&ms) {
            3500
        } else {
            wobble(900, ms)
        }
    });
    let (code, text, _) = run(&[
        "verify",
        "a",
        "--plan",
        "--from",
        &rfc(start),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("FAIL     first 30 min") && text.contains("peak 3500 at +10m"),
        "{text}"
    );
    assert!(text.contains("PENDING  24 hours"), "{text}");

    // 2 hours: a jump of 1400 at +1h (no sample above 3000).
    let dir = tempfile::tempdir().unwrap();
    let start = now_ms() - 3 * HOUR;
    let db = store(
        dir.path(),
        "b",
        start,
        |ms| {
            if ms >= HOUR {
                2400
            } else {
                1000
            }
        },
    );
    let (code, text, _) = run(&[
        "verify",
        "b",
        "--plan",
        "--from",
        &rfc(start),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("PASS     first 30 min"), "{text}");
    assert!(
        text.contains("FAIL     2 hours") && text.contains("abnormal swing: largest swing 1400"),
        "{text}"
    );

    // 24 hours: +60 goroutines an hour, below 3000 throughout.
    let dir = tempfile::tempdir().unwrap();
    let start = now_ms() - 25 * HOUR;
    let db = store(dir.path(), "c", start, |ms| 800 + (ms / 60_000) as u64);
    let (code, text, _) = run(&[
        "verify",
        "c",
        "--plan",
        "--from",
        &rfc(start),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("FAIL     24 hours")
            && text.contains("sustained growth: goroutines growing +60/h"),
        "{text}"
    );

    // Nothing stored where the plan starts: no data.
    let (code, text, _) = run(&[
        "verify",
        "c",
        "--plan",
        "--from",
        "30d",
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("NO DATA  first 30 min"), "{text}");
}
