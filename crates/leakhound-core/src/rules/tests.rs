//! Deterministic tests of the rules engine with synthetic series (no clock, no sleeping).
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers below are not #[test] fns

use super::*;
use crate::config::Levels;
use crate::sample::{Metrics, Sample};
use crate::severity::Severity;
use proptest::prelude::*;

const S: i64 = 1000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const GB: u64 = 1 << 30;
const T: &str = "one-api";

fn g(ts_ms: i64, goroutines: u64) -> Sample {
    Sample {
        target: T.into(),
        ts_ms,
        up: true,
        error: None,
        latency_ms: 1.0,
        source: "health".into(),
        metrics: Metrics {
            goroutines: Some(goroutines),
            ..Metrics::default()
        },
    }
}

fn mem(ts_ms: i64, bytes: u64) -> Sample {
    Sample {
        metrics: Metrics {
            goroutines: Some(500),
            rss_bytes: Some(bytes),
            ..Metrics::default()
        },
        ..g(ts_ms, 0)
    }
}

fn down(ts_ms: i64) -> Sample {
    Sample::down(
        T,
        ts_ms,
        1.0,
        "connection refused by 127.0.0.1:3000: is the service running?".into(),
    )
}

/// A deterministic pseudo-random number in `0..1` (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Feeds samples one at a time, like the agent: one `evaluate` per sample with the last 65
/// minutes as the window.
struct Driver {
    engine: RuleEngine,
    window: Vec<Sample>,
    out: Vec<Transition>,
}

impl Driver {
    fn new(rules: Vec<Rule>) -> Driver {
        Driver {
            engine: RuleEngine::new(rules),
            window: Vec::new(),
            out: Vec::new(),
        }
    }

    fn defaults() -> Driver {
        Driver::new(default_rules(&Levels::default()))
    }

    fn push(&mut self, s: Sample) -> Vec<Transition> {
        let now = s.ts_ms;
        self.window.push(s);
        self.window.retain(|w| w.ts_ms > now - 65 * M);
        self.tick(now)
    }

    fn tick(&mut self, now: i64) -> Vec<Transition> {
        let t = self.engine.evaluate(now, T, &self.window);
        self.out.extend(t.iter().cloned());
        t
    }

    /// `count` samples every `step` from `start` with values from `f(i)`; returns the time
    /// after the last one.
    fn run(&mut self, start: i64, step: i64, count: i64, f: impl Fn(i64) -> Sample) -> i64 {
        for i in 0..count {
            self.push(f(start + i * step));
        }
        start + count * step
    }

    fn of(&self, rule: &str, kind: TransitionKind) -> Vec<&Transition> {
        self.out
            .iter()
            .filter(|t| t.rule == rule && t.kind == kind)
            .collect()
    }

    fn count(&self, rule: &str, kind: TransitionKind) -> usize {
        self.of(rule, kind).len()
    }
}

const LEVELS: [&str; 3] = [
    "goroutines_warning",
    "goroutines_urgent",
    "goroutines_critical",
];

fn level_messages(d: &Driver) -> Vec<(String, TransitionKind)> {
    d.out
        .iter()
        .filter(|t| LEVELS.contains(&t.rule.as_str()))
        .map(|t| (t.rule.clone(), t.kind))
        .collect()
}

#[test]
fn l1_l2_l3_and_back_fire_and_resolve_once_per_level() {
    use TransitionKind::{Firing, Resolved};
    // Up through the levels, then straight back to normal.
    let mut d = Driver::defaults();
    let mut t = 0;
    for value in [1000, 2500, 6000, 11_000, 1000] {
        t = d.run(t, 30 * S, 10, |ts| g(ts, value));
    }
    let want: Vec<(String, TransitionKind)> = [
        ("goroutines_warning", Firing),
        ("goroutines_urgent", Firing),
        ("goroutines_critical", Firing),
        ("goroutines_critical", Resolved),
        ("goroutines_urgent", Resolved),
        ("goroutines_warning", Resolved),
    ]
    .iter()
    .map(|(r, k)| (r.to_string(), *k))
    .collect();
    assert_eq!(level_messages(&d), want);
    assert!(d
        .out
        .iter()
        .filter(|t| LEVELS.contains(&t.rule.as_str()))
        .all(|t| t.notify && !t.silenced));

    // …and back down level by level: still one firing and one resolved per level.
    let mut d = Driver::defaults();
    let mut t = 0;
    for value in [1000, 2500, 6000, 11_000, 6000, 2500, 1000] {
        t = d.run(t, 30 * S, 10, |ts| g(ts, value));
    }
    for rule in LEVELS {
        assert_eq!(
            d.count(rule, Firing),
            1,
            "{rule}: {:#?}",
            level_messages(&d)
        );
        assert_eq!(d.count(rule, Resolved), 1, "{rule}");
    }
    let resolved: Vec<_> = d.of("goroutines_critical", Resolved);
    assert_eq!(
        resolved[0].at_ms,
        40 * 30 * S,
        "L3 resolves at the first 6000"
    );
    let urgent = d.of("goroutines_urgent", Firing)[0];
    assert_eq!(urgent.threshold, 5000.0);
    assert_eq!(urgent.value, 6000.0);
    assert_eq!(urgent.severity, Severity::Urgent);
    assert_eq!(urgent.evidence.held_ms, M);
    let end = d.of("goroutines_urgent", Resolved)[0];
    assert_eq!(end.fingerprint, urgent.fingerprint);
    assert_eq!(end.started_at_ms, urgent.started_at_ms);
    assert_eq!(end.ended_at_ms, Some(end.at_ms));
    assert_ne!(end.idempotency_key(), urgent.idempotency_key());
    assert!(
        end.evidence.summary.contains("back to 2500"),
        "{}",
        end.evidence.summary
    );
}

#[test]
fn a_jump_to_l3_announces_only_l3_then_the_level_that_still_holds() {
    use TransitionKind::{Firing, Resolved};
    let mut d = Driver::defaults();
    let mut t = d.run(0, 30 * S, 10, |ts| g(ts, 1000));
    t = d.run(t, 30 * S, 10, |ts| g(ts, 12_000));
    let l3_start = d.of("goroutines_critical", Firing)[0].started_at_ms;
    assert_eq!(
        l3_start,
        10 * 30 * S + 30 * S,
        "for = 30s: the second sample"
    );
    t = d.run(t, 30 * S, 10, |ts| g(ts, 3000));
    d.run(t, 30 * S, 10, |ts| g(ts, 1000));
    let msgs = level_messages(&d);
    assert_eq!(
        msgs,
        vec![
            ("goroutines_critical".to_string(), Firing),
            ("goroutines_critical".to_string(), Resolved),
            ("goroutines_warning".to_string(), Firing),
            ("goroutines_warning".to_string(), Resolved),
        ]
    );
    // L1 has been firing (hidden) since the jump; its message says so.
    let l1 = d.of("goroutines_warning", Firing)[0];
    assert!(l1.started_at_ms < l1.at_ms);
}

#[test]
fn a_value_bouncing_on_5000_does_not_flap() {
    let mut rng = Lcg(7);
    // Cold start, bouncing 4990..5010 for 2 hours every 5 s.
    let mut d = Driver::defaults();
    d.run(0, 5 * S, 1440, |ts| {
        g(ts, 4990 + ((ts / 5000 * 7919) % 21) as u64)
    });
    assert!(d.count("goroutines_urgent", TransitionKind::Firing) <= 1);
    assert_eq!(d.count("goroutines_urgent", TransitionKind::Resolved), 0);

    // Firing first (held at 5200), then bouncing: still exactly one firing, never resolved.
    let mut d = Driver::defaults();
    let t = d.run(0, 30 * S, 6, |ts| g(ts, 5200));
    let values: Vec<u64> = (0..240)
        .map(|_| 4990 + (rng.next() * 21.0) as u64)
        .collect();
    d.run(t, 30 * S, 240, |ts| {
        g(ts, values[((ts - t) / (30 * S)) as usize])
    });
    assert_eq!(d.count("goroutines_urgent", TransitionKind::Firing), 1);
    assert_eq!(d.count("goroutines_urgent", TransitionKind::Resolved), 0);

    // With no `for` at all, hysteresis alone prevents flapping.
    let rule = Rule::new(
        "l2",
        RuleKind::Level {
            metric: Metric::Goroutines,
            above: 5000,
        },
        Severity::Urgent,
    );
    let mut d = Driver::new(vec![rule]);
    d.run(0, 5 * S, 1440, |ts| {
        g(ts, if (ts / 5000) % 2 == 0 { 4990 } else { 5010 })
    });
    assert_eq!(d.count("l2", TransitionKind::Firing), 1);
    assert_eq!(d.count("l2", TransitionKind::Resolved), 0);
}

#[test]
fn repeat_interval_is_respected_and_lower_levels_do_not_repeat() {
    let mut d = Driver::defaults();
    let start = 0;
    d.run(start, 30 * S, 2 * 9 * 60, |ts| g(ts, 6000)); // 9 hours at 6000
    let firing = d.of("goroutines_urgent", TransitionKind::Firing);
    assert_eq!(firing.len(), 1);
    let fired_at = firing[0].at_ms;
    let repeats: Vec<i64> = d
        .of("goroutines_urgent", TransitionKind::Repeat)
        .iter()
        .map(|t| t.at_ms)
        .collect();
    assert_eq!(repeats, vec![fired_at + 4 * H, fired_at + 8 * H]);
    assert!(d
        .of("goroutines_urgent", TransitionKind::Repeat)
        .iter()
        .all(|t| t.fingerprint == firing[0].fingerprint && t.notify));
    // L1 is superseded by L2: never announced, never repeated.
    assert!(d.out.iter().all(|t| t.rule != "goroutines_warning"));

    // A zero repeat interval never repeats.
    let mut rule = Rule::new(
        "l2",
        RuleKind::Level {
            metric: Metric::Goroutines,
            above: 5000,
        },
        Severity::Urgent,
    );
    rule.repeat_interval = std::time::Duration::ZERO;
    let mut d = Driver::new(vec![rule]);
    d.run(0, 5 * M, 200, |ts| g(ts, 6000));
    assert_eq!(d.out.len(), 1);
}

#[test]
fn a_spike_shorter_than_for_never_fires() {
    let mut d = Driver::defaults();
    let mut t = d.run(0, 30 * S, 10, |ts| g(ts, 1000));
    // 45 s above 5000 and one sample above 10000: shorter than L2's 1m and L3's 30s.
    for _ in 0..20 {
        t = d.run(t, 15 * S, 3, |ts| g(ts, 6000));
        t = d.run(t, 30 * S, 1, |ts| g(ts, 12_000));
        t = d.run(t, 30 * S, 4, |ts| g(ts, 1000));
    }
    assert!(
        d.out.iter().all(|t| !LEVELS.contains(&t.rule.as_str())),
        "{:#?}",
        level_messages(&d)
    );
    // Held for exactly `for`: fires.
    d.run(t, 30 * S, 3, |ts| g(ts, 6000));
    assert_eq!(d.count("goroutines_urgent", TransitionKind::Firing), 1);
}

fn noisy_flat(step: i64, seed: u64) -> Driver {
    let mut rng = Lcg(seed);
    let count = 2 * H / step;
    let values: Vec<u64> = (0..count)
        .map(|_| (1000.0 * (0.7 + 0.6 * rng.next())) as u64)
        .collect();
    let mut d = Driver::defaults();
    d.run(0, step, count, |ts| g(ts, values[(ts / step) as usize]));
    d
}

#[test]
fn a_noisy_flat_series_raises_no_trend_alert() {
    for seed in 1..=3 {
        for step in [5 * S, 30 * S] {
            let d = noisy_flat(step, seed);
            assert!(
                d.out.is_empty(),
                "seed {seed} step {step}: {:#?}",
                d.out
                    .iter()
                    .map(|t| &t.evidence.summary)
                    .collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn a_steady_leak_of_one_goroutine_per_second_fires_within_5_minutes() {
    for (step, flat_history) in [
        (5 * S, true),
        (30 * S, true),
        (5 * S, false),
        (30 * S, false),
    ] {
        let mut rng = Lcg(3);
        let mut d = Driver::defaults();
        let jitter: Vec<f64> = (0..400).map(|_| rng.next() * 40.0 - 20.0).collect();
        // One hour flat (or a cold start), then 1 goroutine/s with ±20 of noise.
        let flat = if flat_history { H / step } else { 0 };
        let start = d.run(0, step, flat, |ts| g(ts, 800 + (ts / step % 3) as u64));
        assert!(d.out.is_empty());
        d.run(start, step, 10 * M / step, |ts| {
            let secs = (ts - start) / S;
            g(
                ts,
                (800.0 + secs as f64 + jitter[(secs / 5) as usize % 400]) as u64,
            )
        });
        let fired = d.of("goroutines_growth", TransitionKind::Firing);
        assert_eq!(fired.len(), 1, "step {step}");
        let after = fired[0].at_ms - start;
        assert!(
            after <= 5 * M,
            "step {step}, flat history {flat_history}: fired after {after} ms"
        );
        let trend = fired[0].evidence.trend.as_ref().unwrap();
        // The 5m fit still holds some of the flat hour: the slope is below 3600/h, above 1800/h.
        assert!(
            (1800.0..4200.0).contains(&trend.slope_per_hour),
            "{trend:?}"
        );
        assert!(trend.r_squared > 0.8);
        assert_eq!(fired[0].severity, Severity::Warning);
        assert!(
            fired[0].evidence.summary.contains("growing +"),
            "{}",
            fired[0].evidence.summary
        );
    }
}

#[test]
fn a_leak_that_stops_resolves_its_trend_alert() {
    let mut d = Driver::defaults();
    let t = d.run(0, 30 * S, 20, |ts| g(ts, 500 + (ts / S) as u64));
    assert_eq!(d.count("goroutines_growth", TransitionKind::Firing), 1);
    // The leak stops at 1070 and stays there: once the window sees no growth, it resolves.
    let level = 500 + ((t - 30 * S) / S) as u64;
    d.run(t, 30 * S, 120, |ts| g(ts, level));
    assert_eq!(d.count("goroutines_growth", TransitionKind::Resolved), 1);
    assert_eq!(d.out.len(), 2, "{:#?}", d.out);
}

#[test]
fn baseline_growth_fires_above_20_percent_after_an_hour() {
    for (value, fires) in [(1250, true), (1150, false)] {
        let mut d = Driver::defaults();
        d.engine.set_baseline(
            T,
            Baseline {
                ts_ms: 0,
                goroutines: Some(1000),
                memory_bytes: None,
            },
        );
        d.run(0, 30 * S, 3 * 60 * 2, |ts| g(ts, value));
        let fired = d.of("goroutines_baseline", TransitionKind::Firing);
        assert_eq!(fired.len(), usize::from(fires), "{value}");
        if fires {
            // An hour after the baseline, plus the rule's `for` of 5m.
            assert_eq!(fired[0].at_ms, H + 5 * M);
            assert_eq!(fired[0].threshold, 1200.0);
            assert_eq!(
                fired[0].evidence.baseline.as_ref().unwrap().goroutines,
                Some(1000)
            );
            assert!(
                fired[0]
                    .evidence
                    .summary
                    .contains("+25% over the baseline 1000"),
                "{}",
                fired[0].evidence.summary
            );
        }
        assert!(d.out.iter().all(|t| t.rule == "goroutines_baseline"));
    }

    // Dropping the baseline ends the alert.
    let mut d = Driver::defaults();
    d.engine.set_baseline(T, Baseline::from_sample(&g(0, 1000)));
    let t = d.run(0, 30 * S, 140, |ts| g(ts, 1300));
    assert_eq!(d.count("goroutines_baseline", TransitionKind::Firing), 1);
    d.engine.clear_baseline(T);
    d.run(t, 30 * S, 1, |ts| g(ts, 1300));
    assert_eq!(d.count("goroutines_baseline", TransitionKind::Resolved), 1);
}

#[test]
fn a_down_target_fires_with_the_reason_and_resolves_when_back() {
    let mut d = Driver::defaults();
    let mut t = d.run(0, 30 * S, 10, |ts| g(ts, 800));
    let down_at = t;
    t = d.run(t, 30 * S, 2, down);
    assert!(d.out.is_empty(), "30 s down is shorter than `for`");
    t = d.run(t, 30 * S, 4, down);
    let fired = d.of("target_down", TransitionKind::Firing);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].at_ms, down_at + M);
    assert_eq!(fired[0].started_at_ms, down_at + M);
    assert_eq!(fired[0].evidence.held_ms, M);
    let reason = fired[0].evidence.reason.as_deref().unwrap();
    assert!(reason.contains("connection refused"), "{reason}");
    assert!(
        fired[0]
            .evidence
            .summary
            .starts_with("one-api is down for 1m: connection refused"),
        "{}",
        fired[0].evidence.summary
    );
    d.run(t, 30 * S, 3, |ts| g(ts, 800));
    let resolved = d.of("target_down", TransitionKind::Resolved);
    assert_eq!(resolved.len(), 1);
    assert!(resolved[0].notify);
    assert_eq!(
        resolved[0].evidence.held_ms,
        3 * M,
        "down from the first down sample"
    );
    assert_eq!(resolved[0].evidence.summary, "one-api is up again after 3m");
    assert_eq!(d.out.len(), 2, "{:#?}", d.out);
}

#[test]
fn no_samples_at_all_is_no_data_and_ends_with_the_next_sample() {
    let mut d = Driver::defaults();
    let t = d.run(0, 30 * S, 10, |ts| g(ts, 800));
    let last = t - 30 * S;
    // Evaluate every 10 s without new samples.
    let mut now = t;
    while now < last + 3 * M {
        d.tick(now);
        now += 10 * S;
    }
    let fired = d.of("target_down", TransitionKind::Firing);
    assert_eq!(fired.len(), 1);
    // Silent for twice the usual gap, then `for` (1m) from when the next sample was due.
    assert_eq!(fired[0].at_ms, last + 30 * S + M);
    assert!(
        fired[0]
            .evidence
            .reason
            .as_deref()
            .unwrap()
            .contains("no sample for 1m30s (expected one every 30s)"),
        "{:?}",
        fired[0].evidence.reason
    );
    d.push(g(now, 800));
    assert_eq!(d.count("target_down", TransitionKind::Resolved), 1);

    // A target that never answered at all is no data too.
    let mut e = RuleEngine::new(default_rules(&Levels::default()));
    let mut out = Vec::new();
    for i in 0..20 {
        out.extend(e.evaluate::<Sample>(i * 10 * S, "ghost", &[]));
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule, "target_down");
}

#[test]
fn a_silence_suppresses_and_then_expires() {
    let mut d = Driver::defaults();
    d.engine.silences_mut().add(Silence {
        id: "s1".into(),
        target: Some("one-*".into()),
        rule: Some("goroutines_*".into()),
        until_ms: 30 * M,
        comment: "load test".into(),
        created_ms: 0,
    });
    let t = d.run(0, 30 * S, 20, |ts| g(ts, 6000));
    let firing = d.of("goroutines_urgent", TransitionKind::Firing);
    assert_eq!(firing.len(), 1);
    assert!(firing[0].silenced && !firing[0].notify);
    // After the silence ends the alert is still firing: it is announced, same instance.
    let t = d.run(t, 30 * S, 50, |ts| g(ts, 6000));
    let firing = d.of("goroutines_urgent", TransitionKind::Firing);
    assert_eq!(firing.len(), 2);
    assert!(!firing[1].silenced && firing[1].notify);
    assert_eq!(firing[1].at_ms, 30 * M);
    assert_eq!(firing[0].fingerprint, firing[1].fingerprint);
    d.run(t, 30 * S, 3, |ts| g(ts, 1000));
    let resolved = d.of("goroutines_urgent", TransitionKind::Resolved);
    assert!(resolved.len() == 1 && resolved[0].notify);

    // An alert that started and ended inside a silence is never notified.
    let mut d = Driver::defaults();
    d.engine.set_silences(Silences::new(vec![Silence {
        id: "all".into(),
        target: None,
        rule: None,
        until_ms: 10 * H,
        comment: String::new(),
        created_ms: 0,
    }]));
    let t = d.run(0, 30 * S, 10, |ts| g(ts, 6000));
    d.run(t, 30 * S, 10, |ts| g(ts, 1000));
    assert!(!d.out.is_empty());
    assert!(d.out.iter().all(|t| !t.notify), "{:#?}", d.out);
    assert!(d.engine.silences_mut().expire(10 * H).len() == 1);
}

#[test]
fn send_resolved_false_records_but_does_not_notify_the_end() {
    let mut rules = default_rules(&Levels::default());
    for r in &mut rules {
        r.send_resolved = false;
    }
    let mut d = Driver::new(rules);
    let t = d.run(0, 30 * S, 10, |ts| g(ts, 6000));
    d.run(t, 30 * S, 10, |ts| g(ts, 1000));
    let resolved = d.of("goroutines_urgent", TransitionKind::Resolved);
    assert_eq!(resolved.len(), 1);
    assert!(!resolved[0].notify && !resolved[0].silenced);
}

#[test]
fn snapshot_and_restore_do_not_refire() {
    let mut d = Driver::defaults();
    let t = d.run(0, 30 * S, 10, |ts| g(ts, 6000));
    assert_eq!(d.count("goroutines_urgent", TransitionKind::Firing), 1);
    let text = toml::to_string(&d.engine.snapshot()).unwrap();
    // The borrowed form the agent saves is the same text.
    assert_eq!(toml::to_string(&d.engine.snapshot_ref()).unwrap(), text);
    let snapshot: EngineSnapshot = toml::from_str(&text).unwrap();
    // What is saved round-trips; idle rules (nothing pending, firing or sent) are not saved.
    assert_eq!(toml::to_string(&snapshot).unwrap(), text);
    assert!(
        text.contains("goroutines_urgent") && !text.contains("goroutines_critical"),
        "{text}"
    );

    // A new process: same rules, restored state, the same (overlapping) window.
    let mut e = Driver::defaults();
    e.engine.restore(snapshot);
    e.window = d.window.clone();
    assert!(e.tick(t).is_empty());
    let t2 = e.run(t, 30 * S, 10, |ts| g(ts, 6000));
    assert!(e.out.is_empty(), "{:#?}", e.out);
    assert_eq!(e.engine.active().len(), 2); // L2 announced, L1 superseded
    e.run(t2, 30 * S, 3, |ts| g(ts, 1000));
    assert_eq!(e.count("goroutines_urgent", TransitionKind::Resolved), 1);
    assert_eq!(e.count("goroutines_warning", TransitionKind::Resolved), 0);

    // Without the snapshot the restarted agent re-raises what still holds (once).
    let mut f = Driver::defaults();
    f.window = d.window.clone();
    let fired = f.tick(t);
    assert_eq!(
        fired.iter().map(|t| t.rule.as_str()).collect::<Vec<_>>(),
        ["goroutines_urgent"]
    );
}

#[test]
fn memory_levels_use_the_memory_ladder() {
    let mut d = Driver::defaults();
    let t = d.run(0, 30 * S, 20, |ts| mem(ts, 3 * GB + GB / 2));
    let warn = d.of("memory_warning", TransitionKind::Firing);
    assert_eq!(warn.len(), 1);
    assert_eq!(warn[0].at_ms, 5 * M, "for = 5m");
    assert!(
        warn[0].evidence.summary.contains("memory 3.5GB > 3.0GB"),
        "{}",
        warn[0].evidence.summary
    );
    let t = d.run(t, 30 * S, 4, |ts| mem(ts, 5 * GB));
    assert_eq!(d.count("memory_critical", TransitionKind::Firing), 1);
    d.run(t, 30 * S, 4, |ts| mem(ts, GB));
    assert_eq!(d.count("memory_critical", TransitionKind::Resolved), 1);
    assert_eq!(d.count("memory_warning", TransitionKind::Resolved), 1);
}

#[test]
fn fingerprints_are_stable() {
    assert_eq!(fingerprint("one-api", "goroutines_urgent", 0).len(), 16);
    assert_eq!(
        fingerprint("one-api", "goroutines_urgent", 5),
        fingerprint("one-api", "goroutines_urgent", 5)
    );
    assert_ne!(
        fingerprint("one-api", "goroutines_urgent", 5),
        fingerprint("one-api", "goroutines_urgent", 6)
    );
    assert_ne!(fingerprint("a", "bc", 1), fingerprint("ab", "c", 1));
}

fn arb_sample() -> impl Strategy<Value = (i64, Option<u64>, bool)> {
    (1i64..120_000, prop::option::of(0u64..20_000), any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn never_panics_and_firing_alternates_with_resolved(
        steps in prop::collection::vec(arb_sample(), 1..200),
        baseline in prop::option::of(0u64..5000),
    ) {
        let mut d = Driver::defaults();
        if let Some(b) = baseline {
            d.engine.set_baseline(T, Baseline { ts_ms: 0, goroutines: Some(b), memory_bytes: Some(b << 20) });
        }
        let mut now = 0;
        for (gap, value, up) in steps {
            now += gap;
            let mut s = if up { g(now, 0) } else { down(now) };
            s.metrics.goroutines = value;
            s.metrics.rss_bytes = value.map(|v| v << 18);
            if gap % 3 == 0 {
                d.tick(now); // an evaluation without a new sample
            } else {
                d.push(s);
            }
        }
        for rule in d.engine.rules().iter().map(|r| r.id.clone()).collect::<Vec<_>>() {
            let mut firing = false;
            for t in d.out.iter().filter(|t| t.rule == rule) {
                match t.kind {
                    TransitionKind::Firing => { prop_assert!(!firing, "{rule} fired twice"); firing = true; }
                    TransitionKind::Repeat => prop_assert!(firing),
                    TransitionKind::Resolved => { prop_assert!(firing, "{rule} resolved unfired"); firing = false; }
                }
            }
        }
    }

    #[test]
    fn no_flapping_within_the_hysteresis_band(values in prop::collection::vec(4501u64..5400, 1..300)) {
        let rule = Rule::new(
            "l2",
            RuleKind::Level { metric: Metric::Goroutines, above: 5000 },
            Severity::Urgent,
        );
        let mut d = Driver::new(vec![rule]);
        d.push(g(0, 6000));
        for (i, v) in values.iter().enumerate() {
            d.push(g((i as i64 + 1) * 30 * S, *v));
        }
        prop_assert_eq!(d.count("l2", TransitionKind::Firing), 1);
        prop_assert_eq!(d.count("l2", TransitionKind::Resolved), 0);
    }
}

#[test]
fn targets_are_independent_and_active_lists_what_fires() {
    let mut e = RuleEngine::new(default_rules(&Levels::default()));
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut out = Vec::new();
    for i in 0..10 {
        let ts = i * 30 * S;
        a.push(g(ts, 6000));
        let mut other = g(ts, 900);
        other.target = "billing".into();
        b.push(other);
        out.extend(e.evaluate(ts, T, &a));
        out.extend(e.evaluate(ts, "billing", &b));
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].target, T);
    let active = e.active();
    assert_eq!(active.len(), 2);
    let urgent = active
        .iter()
        .find(|x| x.rule == "goroutines_urgent")
        .unwrap();
    assert!(!urgent.superseded);
    assert_eq!(urgent.fingerprint, out[0].fingerprint);
    assert!(active
        .iter()
        .any(|x| x.rule == "goroutines_warning" && x.superseded));
    assert_eq!(e.window_needed(), std::time::Duration::from_secs(60 * 60));
    e.forget(T);
    assert!(e.active().is_empty());
}

/// Noise of about ±50 around `level` (uniform, sd ≈ 29), deterministic per sample time.
fn noisy(ts: i64, level: f64) -> Sample {
    let mut rng = Lcg(ts as u64 ^ 0x9e37_79b9);
    rng.next();
    g(ts, (level + 100.0 * rng.next() - 50.0).max(0.0) as u64)
}

#[test]
fn a_deploy_step_that_plateaus_is_no_growth() {
    for jump in [200.0, 400.0] {
        let mut d = Driver::defaults();
        let t = d.run(0, 5 * S, H / (5 * S), |ts| noisy(ts, 1000.0));
        d.run(t, 5 * S, 2 * H / (5 * S), |ts| noisy(ts, 1000.0 + jump));
        assert_eq!(
            d.count("goroutines_growth", TransitionKind::Firing),
            0,
            "jump {jump}: {:#?}",
            d.out
                .iter()
                .map(|t| &t.evidence.summary)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_restart_and_its_warm_up_are_no_growth() {
    let mut d = Driver::defaults();
    let t = d.run(0, 5 * S, H / (5 * S), |ts| noisy(ts, 1000.0));
    // The process restarts: 15 goroutines, back to 1000 over a minute, then flat.
    let t = d.run(t, 5 * S, 1, |ts| g(ts, 15));
    let t = d.run(t, 5 * S, 12, |ts| {
        noisy(ts, 80.0 * ((ts - t) / (5 * S) + 1) as f64)
    });
    d.run(t, 5 * S, H / (5 * S), |ts| noisy(ts, 1000.0));
    assert_eq!(
        d.count("goroutines_growth", TransitionKind::Firing),
        0,
        "{:#?}",
        d.out
    );
}

#[test]
fn the_next_tooth_of_a_batch_sawtooth_is_no_new_high() {
    // A batch fills 400 goroutines over 10 minutes and drains, all day long.
    let mut d = Driver::defaults();
    d.run(0, 5 * S, 6 * H / (5 * S), |ts| {
        noisy(
            ts,
            1000.0 + 400.0 * ((ts % (10 * M)) as f64 / (10 * M) as f64),
        )
    });
    // The first tooth, seen with no history before it, can't be told from a leak; after
    // the first hour none fires.
    let late: Vec<&String> = d
        .of("goroutines_growth", TransitionKind::Firing)
        .into_iter()
        .filter(|t| t.at_ms > H)
        .map(|t| &t.evidence.summary)
        .collect();
    assert!(late.is_empty(), "{late:#?}");
}

fn dumps_driver(rules: Vec<Rule>) -> Driver {
    let mut d = Driver::new(rules);
    d.engine.set_dumps(Some(DumpPolicy::default()));
    d
}

fn verdict(at_ms: i64, class: DumpClass) -> DumpVerdict {
    DumpVerdict {
        at_ms,
        class,
        confirmed: false,
        summary: format!("{class:?} in the dumps"),
        site: (class == DumpClass::Leak).then(|| "billing.(*QuotaService).reportUsage".into()),
        suspects: vec!["billing.(*QuotaService).reportUsage (quota.go:42): 180 goroutines".into()],
        runtime_leaked: None,
    }
}

/// A flat hour, then 1 goroutine/s; the dumps answer `class` whenever the engine asks.
fn leak_with_dumps(class: Option<DumpClass>, rules: Vec<Rule>) -> (Driver, i64) {
    let mut d = dumps_driver(rules);
    let start = d.run(0, 5 * S, H / (5 * S), |ts| noisy(ts, 1000.0));
    let mut asked = 0;
    for i in 0..(15 * M / (5 * S)) {
        let ts = start + i * 5 * S;
        d.push(noisy(ts, 1000.0 + ((ts - start) / S) as f64));
        if d.engine.capture_wanted(T, ts).is_some() {
            asked += 1;
            if let Some(c) = class {
                d.engine.set_verdict(T, verdict(ts, c));
            }
        }
    }
    assert!(asked >= 1, "the engine never asked for a dump");
    (d, start)
}

#[test]
fn a_leak_verdict_fires_the_growth_alert_naming_the_site() {
    let (d, start) = leak_with_dumps(Some(DumpClass::Leak), default_rules(&Levels::default()));
    let fired = d.of("goroutines_growth", TransitionKind::Firing);
    assert_eq!(fired.len(), 1, "{:#?}", d.out);
    assert!(
        fired[0].at_ms - start <= 5 * M,
        "after {} ms",
        fired[0].at_ms - start
    );
    // The first message carries the dumps' verdict, and its suspects name the site.
    assert!(
        fired[0].evidence.summary.ends_with("; Leak in the dumps"),
        "{}",
        fired[0].evidence.summary
    );
    assert!(fired[0].evidence.top_growing[0].starts_with("billing.(*QuotaService).reportUsage"));
    assert_eq!(fired[0].evidence.top_growing.len(), 1);
    assert_eq!(
        fired[0].evidence.dumps.as_ref().unwrap().class,
        DumpClass::Leak
    );
}

#[test]
fn a_load_verdict_keeps_the_leak_rule_quiet_and_fires_the_optional_load_rule() {
    let mut rules = default_rules(&Levels::default());
    rules.extend(optional_rules());
    let (d, _) = leak_with_dumps(Some(DumpClass::Load), rules);
    assert_eq!(
        d.count("goroutines_growth", TransitionKind::Firing),
        0,
        "{:#?}",
        d.out
    );
    assert_eq!(
        d.count("goroutines_load", TransitionKind::Firing),
        1,
        "{:#?}",
        d.out
    );
}

#[test]
fn without_any_verdict_the_growth_fires_unclassified_after_the_wait() {
    let (d, start) = leak_with_dumps(None, default_rules(&Levels::default()));
    let fired = d.of("goroutines_growth", TransitionKind::Firing);
    assert_eq!(fired.len(), 1, "{:#?}", d.out);
    assert!(fired[0].at_ms - start <= 6 * M);
    assert!(fired[0].evidence.dumps.is_none());
}

#[test]
fn a_flat_service_never_asks_for_dumps() {
    let mut d = dumps_driver(default_rules(&Levels::default()));
    for i in 0..(2 * H / (5 * S)) {
        let ts = i * 5 * S;
        d.push(noisy(ts, 1000.0));
        assert!(d.engine.capture_wanted(T, ts).is_none(), "asked at {ts}");
    }
}

#[test]
fn a_retired_target_resolves_its_alerts_as_gone_and_starts_fresh() {
    let mut e = RuleEngine::new(default_rules(&Levels::default()));
    let mut a = Vec::new();
    for i in 0..10 {
        a.push(g(i * 30 * S, 6000));
        e.evaluate(i * 30 * S, T, &a);
    }
    let firing: Vec<_> = e.active().into_iter().map(|x| x.fingerprint).collect();
    assert_eq!(firing.len(), 2, "urgent and the superseded warning fire");
    let out = e.retire(T, 10 * 30 * S, "target gone");
    // Only reported alerts end with a message: the warning was superseded, never reported.
    assert_eq!(out.len(), 1, "{out:#?}");
    let t = &out[0];
    assert_eq!(t.kind, TransitionKind::Resolved);
    assert_eq!(t.rule, "goroutines_urgent");
    assert!(t.notify);
    assert!(
        firing.contains(&t.fingerprint),
        "the same alert instance ends"
    );
    assert_eq!(t.evidence.reason.as_deref(), Some("target gone"));
    assert_eq!(
        t.evidence.summary,
        format!("{T}: goroutines_urgent ended: target gone")
    );
    assert!(e.active().is_empty());
    assert_eq!(e.known_targets().count(), 0);
    assert!(e.retire(T, 11 * 30 * S, "target gone").is_empty(), "once");
}

#[test]
fn new_rules_keep_the_state_of_rules_that_stay() {
    let mut e = RuleEngine::new(default_rules(&Levels::default()));
    let mut a = Vec::new();
    for i in 0..10 {
        a.push(g(i * 30 * S, 6000));
        e.evaluate(i * 30 * S, T, &a);
    }
    let before: Vec<_> = e.active().into_iter().map(|x| x.fingerprint).collect();
    // Same levels: nothing fires again, nothing resolves.
    e.set_rules(default_rules(&Levels::default()));
    let after: Vec<_> = e.active().into_iter().map(|x| x.fingerprint).collect();
    assert_eq!(before, after);
    a.push(g(10 * 30 * S, 6000));
    assert!(
        e.evaluate(10 * 30 * S, T, &a).is_empty(),
        "no re-announcement"
    );
    // Without the urgent rule its alert is gone, silently; the warning it superseded is
    // announced now.
    let fewer: Vec<Rule> = default_rules(&Levels::default())
        .into_iter()
        .filter(|r| r.id != "goroutines_urgent")
        .collect();
    e.set_rules(fewer);
    a.push(g(11 * 30 * S, 6000));
    let out = e.evaluate(11 * 30 * S, T, &a);
    assert!(
        out.iter().all(|t| t.rule != "goroutines_urgent"),
        "{out:#?}"
    );
}
