//! Alert rules and their state machine: the guide's levels (GUIDE §9: L1 warning `> 2000`, L2
//! urgent `> 5000`, L3 critical `> 10000`) and memory ladder (§7), sustained growth ("what
//! matters is that it is stable, not that it keeps growing"), growth against a saved baseline
//! (§10: `> 20 %` after an hour), and target down / no data — with `for`, hysteresis, repeat
//! intervals, resolved messages, silences and the evidence a human needs.
//!
//! Pure: no IO, no clock. The agent calls [`RuleEngine::evaluate`] with `now` and a target's
//! recent samples and gets back [`Transition`]s (firing, repeat, resolved) to put in its outbox.
//!
//! ```
//! use leakhound_core::config::Levels;
//! use leakhound_core::rules::{default_rules, RuleEngine, TransitionKind};
//! use leakhound_core::{Metrics, Sample};
//!
//! let sample = |ts_ms: i64, goroutines: u64| Sample {
//!     target: "one-api".into(),
//!     ts_ms,
//!     up: true,
//!     error: None,
//!     latency_ms: 1.0,
//!     source: "health".into(),
//!     metrics: Metrics { goroutines: Some(goroutines), ..Metrics::default() },
//! };
//! let mut engine = RuleEngine::new(default_rules(&Levels::default()));
//! let mut window = Vec::new();
//! let mut fired = Vec::new();
//! for i in 0..5 {
//!     let now = i * 30_000;
//!     window.push(sample(now, 5234)); // the guide's "High goroutine count detected: 5234"
//!     fired.extend(engine.evaluate(now, "one-api", &window));
//! }
//! // L1 and L2 held for their `for` of 1m; L2 supersedes L1, so only L2 is announced.
//! assert_eq!(fired.len(), 1);
//! assert_eq!(fired[0].rule, "goroutines_urgent");
//! assert_eq!(fired[0].kind, TransitionKind::Firing);
//! assert_eq!(fired[0].evidence.summary, "one-api: goroutines 5234 > 5000 (alert urgent) for 1m");
//! ```
//!
//! # How the rules behave
//! - **Level** rules fire when the value is `> above` at every sample for `for`, and clear only
//!   when it falls *below* `above × (1 − hysteresis)` (default 10 %: L2 clears below 4500), so a
//!   value bouncing on 5000 does not flap. Levels of one metric are *stacked*: each level is its
//!   own alert that fires once on the way up and resolves once on the way down, and while a
//!   higher level of the same metric fires, the lower ones are *superseded*: they are neither
//!   announced nor repeated (a lower level that became firing meanwhile is announced when the
//!   higher one resolves, if it still holds).
//! - **Trend** rules fit the samples of the last `window` (30m) and of the last `short_window`
//!   (5m) with the robust Theil–Sen slope, and fire when either fit grows at least
//!   `min_growth_per_hour` with R² ≥ `min_r_squared` (a fit counts once it has `min_points`
//!   samples spanning 80 % of its window); they clear when every fit's slope is below
//!   `min_growth_per_hour × (1 − hysteresis)`.
//! - **Baseline** rules fire when, `after` the baseline was taken, the value is more than
//!   `growth_percent` above it ([`RuleEngine::set_baseline`]).
//! - **Down** fires when the target's samples have been down (or no sample arrived) for `for`,
//!   with the probe's reason. "No sample" means nothing for twice the usual gap between samples
//!   (learnt from the window), so a target probed every 5 minutes is not "silent" after 1.
//!
//! Level, baseline and down state advance sample by sample (each sample is seen once, even when
//! `evaluate` is called rarely); trend rules, repeats and silences are judged at `now`.

mod engine;
pub mod growth;
mod point;
mod silence;
#[cfg(test)]
mod tests;

pub use engine::{ActiveAlert, DumpPolicy, EngineSnapshot, RuleEngine, SnapshotRef};
pub use point::{Observation, Point};
pub use silence::{glob_match, Silence, Silences};

use crate::config::Levels;
use crate::sample::{Metrics, Sample};
use crate::severity::Severity;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The series a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// `runtime.NumGoroutine()`.
    Goroutines,
    /// Bytes, the guide's "process/container usage" ([`Metrics::memory_used_bytes`]).
    Memory,
}

impl Metric {
    pub const ALL: [Metric; 2] = [Metric::Goroutines, Metric::Memory];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Goroutines => "goroutines",
            Metric::Memory => "memory",
        }
    }

    pub fn parse(text: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == text)
    }

    pub fn read(self, metrics: &Metrics) -> Option<u64> {
        match self {
            Metric::Goroutines => metrics.goroutines,
            Metric::Memory => metrics.memory_used_bytes(),
        }
    }

    /// A value as people read it: `5234` goroutines, `3.2GB` of memory.
    pub fn format(self, value: f64) -> String {
        match self {
            Metric::Goroutines => format!("{value:.0}"),
            Metric::Memory => crate::units::human_bytes(value.max(0.0).round() as u64),
        }
    }

    /// A rate per hour: `+3600/h`, `+256MB/h`.
    pub fn format_rate(self, per_hour: f64) -> String {
        match self {
            Metric::Goroutines => format!("{per_hour:+.0}/h"),
            Metric::Memory => {
                let sign = if per_hour < 0.0 { "-" } else { "+" };
                format!("{sign}{}/h", self.format(per_hour.abs()))
            }
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a rule tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RuleKind {
    /// The value is `> above` (goroutines, or bytes of memory).
    Level { metric: Metric, above: u64 },
    /// Sustained growth over a window (Theil–Sen slope and R²).
    Trend {
        metric: Metric,
        /// One fit covers the samples of this long before `now` (slow, steady leaks)…
        #[serde(with = "serde_duration")]
        window: Duration,
        /// …and one just the last this long (a fast leak is found within minutes).
        #[serde(with = "serde_duration")]
        short_window: Duration,
        /// A fit needs at least this many samples, spanning 80 % of its window.
        min_points: usize,
        /// Growth per hour in the metric's unit (goroutines/h, bytes/h) that the lower
        /// confidence limit of the slope must reach.
        min_growth_per_hour: f64,
        /// Optional: the least-squares R² the growth must also have, 0..=1 (0 = off, the
        /// default; R² says how straight a climb is, not how sure we are that it climbs).
        min_r_squared: f64,
        /// Two-sided confidence of the slope's interval whose lower limit is compared
        /// (default 0.9999: the lower limit is a one-sided 99.995 % bound).
        confidence: f64,
        /// What the growth must look like in the goroutine dumps for this rule to fire.
        #[serde(default)]
        classify: GrowthClass,
    },
    /// Goroutines that Go 1.26's `goroutineleak` profile proved leaked (they can never wake).
    Leaked {
        /// Fires when the runtime reports at least this many.
        min_leaked: u64,
    },
    /// Growth against the target's saved baseline ([`RuleEngine::set_baseline`]).
    Baseline {
        metric: Metric,
        /// Fires above `baseline × (1 + growth_percent / 100)`.
        growth_percent: f64,
        /// Only once the baseline is at least this old.
        #[serde(with = "serde_duration")]
        after: Duration,
    },
    /// The target is down or sends no samples.
    Down,
}

impl RuleKind {
    pub const NAMES: [&'static str; 5] = ["level", "trend", "baseline", "down", "leaked"];

    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::Level { .. } => "level",
            RuleKind::Trend { .. } => "trend",
            RuleKind::Baseline { .. } => "baseline",
            RuleKind::Down => "down",
            RuleKind::Leaked { .. } => "leaked",
        }
    }

    pub fn metric(&self) -> Option<Metric> {
        match self {
            RuleKind::Level { metric, .. }
            | RuleKind::Trend { metric, .. }
            | RuleKind::Baseline { metric, .. } => Some(*metric),
            RuleKind::Leaked { .. } => Some(Metric::Goroutines),
            RuleKind::Down => None,
        }
    }
}

/// What a trend rule asks of the goroutine dumps taken while its metric grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrowthClass {
    /// Counts alone decide (memory, and any rule without dumps).
    #[default]
    Any,
    /// Fire when the dumps show a leak — or cannot be had (no pprof, capture failed): the
    /// growth is then reported unclassified. Quiet while they show load.
    Leak,
    /// Fire only when the dumps show load (a lower-severity "load growth" rule).
    Load,
}

impl GrowthClass {
    pub fn name(self) -> &'static str {
        match self {
            GrowthClass::Any => "any",
            GrowthClass::Leak => "leak",
            GrowthClass::Load => "load",
        }
    }

    pub fn parse(text: &str) -> Option<GrowthClass> {
        [GrowthClass::Any, GrowthClass::Leak, GrowthClass::Load]
            .into_iter()
            .find(|c| c.name() == text)
    }
}

/// What the goroutine dumps said about a target's growth (from the agent's captures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpClass {
    Leak,
    Load,
    /// Growth in the dumps, but spread out: neither clearly.
    Unclear,
    /// The dumps show no growth out of the noise.
    Flat,
    /// No dump could be had (no pprof endpoint, an error, captures turned off).
    Unavailable,
}

/// The verdict of the latest goroutine dumps of a target, handed to the engine by
/// [`RuleEngine::set_verdict`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumpVerdict {
    /// When the newest dump was taken.
    pub at_ms: i64,
    pub class: DumpClass,
    /// A leak seen growing over several snapshots, or old, or proved by the runtime.
    pub confirmed: bool,
    /// One line: `leak confirmed at main.computeQuota (+1130 goroutines there over 3 snapshots; +1180 in all)`.
    pub summary: String,
    /// The leaking function, for leaks.
    pub site: Option<String>,
    /// The top suspects, one line each, best first.
    pub suspects: Vec<String>,
    /// Goroutines Go 1.26's `goroutineleak` profile reported leaked (`None`: not served).
    pub runtime_leaked: Option<u64>,
}

/// One alert rule. Its `id` is stable (it names the alert in messages, silences, the outbox and
/// the engine's saved state) and unique within a rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    #[serde(flatten)]
    pub kind: RuleKind,
    pub severity: Severity,
    /// The condition must hold this long (at every sample) before the rule fires (`for`).
    #[serde(rename = "for", with = "serde_duration")]
    pub hold: Duration,
    /// Percent under the threshold the value must fall before the alert clears.
    pub hysteresis_percent: f64,
    /// Re-announce a firing alert this often; zero never repeats.
    #[serde(with = "serde_duration")]
    pub repeat_interval: Duration,
    /// Whether the end of the alert is notified.
    pub send_resolved: bool,
}

/// Rule defaults shared by the built-in set: repeat every 4 hours, notify the end.
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
/// Level and baseline rules clear 10 % under their threshold.
pub const DEFAULT_HYSTERESIS_PERCENT: f64 = 10.0;
/// Trend rules clear when the growth falls under half the minimum.
pub const DEFAULT_TREND_HYSTERESIS_PERCENT: f64 = 50.0;

impl Rule {
    /// A rule with the common defaults: no `for`, 10 % hysteresis (50 % for trends), repeat
    /// every 4 hours, resolved messages on.
    pub fn new(id: impl Into<String>, kind: RuleKind, severity: Severity) -> Rule {
        let hysteresis_percent = match kind {
            RuleKind::Trend { .. } => DEFAULT_TREND_HYSTERESIS_PERCENT,
            _ => DEFAULT_HYSTERESIS_PERCENT,
        };
        Rule {
            id: id.into(),
            kind,
            severity,
            hold: Duration::ZERO,
            hysteresis_percent,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            send_resolved: true,
        }
    }

    /// Builder: set `for`.
    pub fn hold(mut self, hold: Duration) -> Rule {
        self.hold = hold;
        self
    }

    /// The value under which a firing level (or baseline) alert with this `threshold` clears.
    pub fn clear_below(&self, threshold: f64) -> f64 {
        threshold * (1.0 - self.hysteresis_percent.clamp(0.0, 100.0) / 100.0)
    }
}

/// The built-in rule set, which needs no config at all:
///
/// | id | fires when | severity | `for` |
/// |---|---|---|---|
/// | `goroutines_warning` | goroutines `> levels.warning` (2000) | warning | 1m |
/// | `goroutines_urgent` | goroutines `> levels.urgent` (5000) | urgent | 1m |
/// | `goroutines_critical` | goroutines `> levels.critical` (10000) | critical | 30s |
/// | `memory_warning` | memory `> levels.memory[2]` (3GB) | warning | 5m |
/// | `memory_critical` | memory `> levels.memory[3]` (4GB) | critical | 1m |
/// | `goroutines_growth` | the goroutines grow ≥ 120/h with 99.995 % confidence over the last 60m or 5m — and the goroutine dumps show a leak, or none can be had | warning | 30s |
/// | `memory_growth` | memory grows ≥ 256MB/h with 99.995 % confidence over the last 30m or 10m | warning | 30s |
/// | `goroutines_leaked` | Go 1.26's `goroutineleak` profile reports leaked goroutines | warning | – |
/// | `goroutines_baseline` | `> 20 %` over the baseline, 1h after it was taken | warning | 5m |
/// | `memory_baseline` | likewise for memory | warning | 5m |
/// | `target_down` | down or no samples | urgent | 1m |
///
/// Off by default, turned on with `[alerts.rules.goroutines_load] enabled = true`
/// ([`optional_rules`]): `goroutines_load`, the same growth when the dumps show load.
///
/// Why: `for` 1m is three samples at the guide's 30 s cadence, enough to ignore one burst;
/// L3 waits 30 s (two samples) because it asks for action now; memory warning waits 5m because
/// Go's heap saws up and down with GC. Growth is judged by significance, not straightness: the
/// lower confidence limit of Sen's slope must reach the minimum (see [`growth`] and
/// `docs/statistics.md`), so noise only delays an alert, and a step, a sawtooth or a wave that
/// turned is refused. 120/h is low on purpose: counts alone cannot tell a leak from a load
/// ramp or a daily cycle, so the agent takes goroutine dumps when the counts grow and the
/// leak rule fires only when they show a leak (or cannot be had). The detection matrix in
/// BENCHMARKS.md (`scripts/bench/detect`) measures time-to-detect and false alarms per week.
/// Everything repeats every 4h and sends a resolved message.
pub fn default_rules(levels: &Levels) -> Vec<Rule> {
    const MINUTE: Duration = Duration::from_secs(60);
    let alert = levels.alert;
    let memory = levels.memory.0;
    let level = |metric, above| RuleKind::Level { metric, above };
    let trend =
        |metric, window: Duration, short_window: Duration, min_growth_per_hour, classify| {
            RuleKind::Trend {
                metric,
                window,
                short_window,
                min_points: 9,
                min_growth_per_hour,
                min_r_squared: 0.0,
                confidence: DEFAULT_TREND_CONFIDENCE,
                classify,
            }
        };
    let baseline = |metric| RuleKind::Baseline {
        metric,
        growth_percent: 20.0,
        after: 60 * MINUTE,
    };
    use Metric::{Goroutines, Memory};
    vec![
        Rule::new(
            "goroutines_warning",
            level(Goroutines, alert.warning),
            Severity::Warning,
        )
        .hold(MINUTE),
        Rule::new(
            "goroutines_urgent",
            level(Goroutines, alert.urgent),
            Severity::Urgent,
        )
        .hold(MINUTE),
        Rule::new(
            "goroutines_critical",
            level(Goroutines, alert.critical),
            Severity::Critical,
        )
        .hold(Duration::from_secs(30)),
        Rule::new(
            "memory_warning",
            level(Memory, memory[2]),
            Severity::Warning,
        )
        .hold(5 * MINUTE),
        Rule::new(
            "memory_critical",
            level(Memory, memory[3]),
            Severity::Critical,
        )
        .hold(MINUTE),
        Rule::new(
            "goroutines_growth",
            trend(
                Goroutines,
                60 * MINUTE,
                5 * MINUTE,
                DEFAULT_GOROUTINE_GROWTH,
                GrowthClass::Leak,
            ),
            Severity::Warning,
        )
        .hold(Duration::from_secs(30)),
        Rule::new(
            "memory_growth",
            trend(
                Memory,
                30 * MINUTE,
                10 * MINUTE,
                (256u64 << 20) as f64,
                GrowthClass::Any,
            ),
            Severity::Warning,
        )
        .hold(Duration::from_secs(30)),
        Rule::new(
            "goroutines_baseline",
            baseline(Goroutines),
            Severity::Warning,
        )
        .hold(5 * MINUTE),
        Rule::new("memory_baseline", baseline(Memory), Severity::Warning).hold(5 * MINUTE),
        Rule::new("target_down", RuleKind::Down, Severity::Urgent).hold(MINUTE),
        Rule::new(
            "goroutines_leaked",
            RuleKind::Leaked { min_leaked: 1 },
            Severity::Warning,
        ),
    ]
}

/// Built-in rules that are off unless `[alerts.rules.ID] enabled = true`:
/// `goroutines_load`, the goroutine growth of `goroutines_growth` when the dumps show load
/// (more requests in flight), as a notice.
pub fn optional_rules() -> Vec<Rule> {
    vec![Rule::new(
        "goroutines_load",
        RuleKind::Trend {
            metric: Metric::Goroutines,
            window: Duration::from_secs(3600),
            short_window: Duration::from_secs(300),
            min_points: 9,
            min_growth_per_hour: DEFAULT_GOROUTINE_GROWTH,
            min_r_squared: 0.0,
            confidence: DEFAULT_TREND_CONFIDENCE,
            classify: GrowthClass::Load,
        },
        Severity::Warning,
    )
    .hold(Duration::from_secs(30))]
}

/// Default two-sided confidence of the growth rules' slope interval.
pub const DEFAULT_TREND_CONFIDENCE: f64 = 0.9999;
/// Default minimum goroutine growth per hour (the lower confidence limit must reach it).
pub const DEFAULT_GOROUTINE_GROWTH: f64 = 120.0;

/// A target's saved baseline (GUIDE §10 `baseline.json`): what it measured, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub ts_ms: i64,
    pub goroutines: Option<u64>,
    pub memory_bytes: Option<u64>,
}

impl Baseline {
    pub fn from_sample(sample: &Sample) -> Baseline {
        Baseline {
            ts_ms: sample.ts_ms,
            goroutines: sample.metrics.goroutines,
            memory_bytes: sample.metrics.memory_used_bytes(),
        }
    }

    pub fn value(&self, metric: Metric) -> Option<u64> {
        match metric {
            Metric::Goroutines => self.goroutines,
            Metric::Memory => self.memory_bytes,
        }
    }
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransitionKind {
    /// The alert started (or is announced for the first time: after its silence ended, or when
    /// the higher level that superseded it resolved).
    Firing,
    /// Still firing, `repeat_interval` after the last message.
    Repeat,
    /// The alert ended.
    Resolved,
}

impl TransitionKind {
    pub fn name(self) -> &'static str {
        match self {
            TransitionKind::Firing => "firing",
            TransitionKind::Repeat => "repeat",
            TransitionKind::Resolved => "resolved",
        }
    }
}

/// A fitted trend, as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendEvidence {
    pub metric: Metric,
    pub slope_per_hour: f64,
    /// The lower confidence limit of the slope (trend rules).
    #[serde(default)]
    pub lower_per_hour: Option<f64>,
    pub r_squared: f64,
    pub points: usize,
    pub span_seconds: f64,
}

/// What a human needs to act on an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// One line: `one-api: goroutines 5234 > 5000 (alert urgent) for 1m; growing +1200/h (R² 0.97)`.
    pub summary: String,
    /// How long the condition has held, from its first sample (so `for` included); for a
    /// resolved alert, until it ended.
    pub held_ms: i64,
    /// The latest readings at the transition.
    pub goroutines: Option<u64>,
    pub memory_bytes: Option<u64>,
    /// The trend of the rule's metric (goroutines for `down`) over the rule's window (30m for
    /// other rules), when there are enough samples.
    pub trend: Option<TrendEvidence>,
    /// The baseline compared against (baseline rules).
    pub baseline: Option<Baseline>,
    /// Why the target is down (down rules): the probe's reason, or how long no sample came.
    pub reason: Option<String>,
    /// The top growing call sites; empty here, filled by the agent from goroutine dumps.
    pub top_growing: Vec<String>,
    /// What the goroutine dumps said (trend and level rules, when the agent took them).
    #[serde(default)]
    pub dumps: Option<DumpVerdict>,
}

/// One alert message to deliver (or, when `notify` is false, only to record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub target: String,
    /// The rule's stable id, e.g. `goroutines_urgent`.
    pub rule: String,
    pub rule_kind: String,
    pub metric: Option<Metric>,
    pub severity: Severity,
    pub kind: TransitionKind,
    /// Level and baseline: the reading; trend: the slope per hour; down: seconds down.
    pub value: f64,
    /// Level: `above`; baseline: the baseline plus the allowed growth; trend: the minimum
    /// growth per hour; down: the rule's `for` in seconds.
    pub threshold: f64,
    /// When this transition happened (a sample's time, or `now`).
    pub at_ms: i64,
    /// When the alert started firing.
    pub started_at_ms: i64,
    /// When it ended (resolved only).
    pub ended_at_ms: Option<i64>,
    /// Stable id of this alert instance (target, rule, start): the same for its firing,
    /// repeats and resolved message. 16 hex digits.
    pub fingerprint: String,
    /// Firing and repeat: a silence matched at `now`. Resolved: the alert's firing message was
    /// never sent (it was silenced throughout), so neither is its end.
    pub silenced: bool,
    /// Whether to send it: not silenced, and for resolved messages only when the firing one was
    /// sent and the rule has `send_resolved`.
    pub notify: bool,
    pub evidence: Evidence,
}

impl Transition {
    /// A key unique to this message (alert instance, kind and time), for idempotent delivery.
    pub fn idempotency_key(&self) -> String {
        format!("{}-{}-{}", self.fingerprint, self.kind.name(), self.at_ms)
    }
}

/// FNV-1a 64 of target, rule and start: stable across versions and platforms.
pub fn fingerprint(target: &str, rule: &str, started_at_ms: i64) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let started = started_at_ms.to_string();
    for part in [
        target.as_bytes(),
        b"\0",
        rule.as_bytes(),
        b"\0",
        started.as_bytes(),
    ] {
        for &b in part {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Durations as people write them (`"30s"`, `"4h"`).
mod serde_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::units::human_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        crate::units::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}
