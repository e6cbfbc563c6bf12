//! The state machine: per (target, rule) pending → firing → resolved, with `for`, hysteresis,
//! supersession of lower levels, repeats and silences. See the [module docs](super).
//!
//! Here: the engine, its persisted state and its public API (evaluate, baselines, silences,
//! snapshots, dump policy); `advance` runs new samples through the rules, `evidence` builds
//! what a transition carries and its summary line.

mod advance;
mod evidence;

use super::point::Observation;
use super::{
    fingerprint, Baseline, DumpClass, DumpVerdict, Metric, Rule, RuleKind, Silences, Transition,
};
use crate::severity::Severity;
use crate::time::duration_ms as ms;
use crate::units::human_duration;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::mem::take;
use std::time::Duration;

/// The gap between samples assumed until a target has sent two (the guide's 30 s).
const DEFAULT_GAP_MS: i64 = 30_000;
/// Window of the trend shown as evidence for rules that are not trend rules.
const EVIDENCE_WINDOW_MS: i64 = 30 * 60_000;
const SNAPSHOT_VERSION: u32 = 1;

fn human_ms(ms: i64) -> String {
    // Whole seconds read better in messages than `1m 30s 250ms`.
    human_duration(Duration::from_secs((ms.max(0) / 1000) as u64))
}

/// Where one (target, rule) stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct RuleState {
    /// The condition has held since then (kept while firing).
    pending_since_ms: Option<i64>,
    /// Firing since then.
    firing_since_ms: Option<i64>,
    /// A firing transition was reported for this alert (silenced or not).
    reported: bool,
    /// A firing transition was reported unsilenced: receivers know of the alert.
    announced: bool,
    /// Time of the last unsilenced firing/repeat message.
    last_sent_ms: Option<i64>,
    value: f64,
    threshold: f64,
    reason: Option<String>,
}

impl RuleState {
    /// Nothing pending, firing or announced: the state a rule starts from.
    fn is_idle(&self) -> bool {
        self.pending_since_ms.is_none()
            && self.firing_since_ms.is_none()
            && !self.reported
            && !self.announced
            && self.last_sent_ms.is_none()
    }
}

fn save_busy_rules<S: serde::Serializer>(
    rules: &BTreeMap<String, RuleState>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(rules.iter().filter(|(_, r)| !r.is_idle()))
}

/// Where one target stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct TargetState {
    /// First `evaluate` for this target: "no data" counts from here until a sample arrives.
    first_seen_ms: Option<i64>,
    /// Newest sample already processed; older ones are never processed again.
    last_ts_ms: Option<i64>,
    /// Since when the samples have been down (`up = false`), and why.
    down_since_ms: Option<i64>,
    down_reason: Option<String>,
    /// Median gap between samples, learnt from the window.
    gap_ms: Option<i64>,
    baseline: Option<Baseline>,
    /// Idle rules (nothing pending, firing or sent) are not saved: they hold nothing a restart
    /// needs (their reading comes back with the next sample), and a healthy fleet's state is
    /// then a tenth of the size the agent writes every 30 s.
    #[serde(serialize_with = "save_busy_rules")]
    rules: BTreeMap<String, RuleState>,
    /// Since when the goroutine counts grow (any classifying trend rule), for the dumps.
    growth_since_ms: Option<i64>,
    /// What the newest goroutine dumps said.
    verdict: Option<DumpVerdict>,
}

/// The engine's whole state, to persist across restarts (serde) so that a restart neither
/// re-fires nor forgets what is firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineSnapshot {
    pub version: u32,
    targets: BTreeMap<String, TargetState>,
}

/// The engine's whole state borrowed, serialized exactly like an [`EngineSnapshot`]: the agent
/// saves it every few minutes, and a copy of 10 000 targets' states cost ~20 MB each time.
#[derive(Debug, Serialize)]
pub struct SnapshotRef<'a> {
    version: u32,
    targets: &'a BTreeMap<String, TargetState>,
}

impl EngineSnapshot {
    /// Take the targets of a newer snapshot (e.g. one of [`RuleEngine::snapshot_target`]) over
    /// this one's.
    pub fn merge(&mut self, newer: EngineSnapshot) {
        self.targets.extend(newer.targets);
    }
}

/// A firing alert, for views.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveAlert {
    pub target: String,
    pub rule: String,
    pub severity: Severity,
    pub started_at_ms: i64,
    pub value: f64,
    pub threshold: f64,
    pub fingerprint: String,
    /// Hidden by a firing higher level of the same metric.
    pub superseded: bool,
}

/// Evaluates rules for any number of targets. See the [module docs](super).
#[derive(Debug, Clone)]
pub struct RuleEngine {
    rules: Vec<Rule>,
    /// Rule indices in evaluation order: level rules of one metric from the highest threshold
    /// down, so a lower level sees whether a higher one fires at the same sample.
    order: Vec<usize>,
    targets: BTreeMap<String, TargetState>,
    silences: Silences,
    /// When each target's trend rules were last fitted (not persisted: after a restart the
    /// first evaluation fits at once).
    trend_fitted_ms: HashMap<String, i64>,
    /// Whether the agent classifies growth from goroutine dumps ([`RuleEngine::with_dumps`]).
    dumps: Option<DumpPolicy>,
}

/// How the engine waits for, and asks for, goroutine dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpPolicy {
    /// A classifying rule whose counts grow waits this long for a first verdict, then fires
    /// unclassified (a capture that never answers must not hide a leak).
    pub first_verdict_wait: Duration,
    /// While the dumps stay unclear, fire unclassified after the counts grew this long.
    pub unclear_for: Duration,
    /// Ask for a new dump this often while a growth is unconfirmed (or looks like load).
    pub every: Duration,
}

impl Default for DumpPolicy {
    fn default() -> Self {
        DumpPolicy {
            first_verdict_wait: Duration::from_secs(60),
            unclear_for: Duration::from_secs(2 * 3600),
            every: Duration::from_secs(120),
        }
    }
}

/// Trend rules are fitted at most this often per target, as a fraction of the shortest trend
/// window (5 min → every 30 s). A fit over minutes of history barely moves from one 5 s sample
/// to the next, and fitting on every sample was most of the agent's CPU with 1000 targets.
const TREND_FITS_PER_SHORT_WINDOW: u32 = 10;

impl RuleEngine {
    /// An engine for `rules`. Ids should be unique; of duplicates the first is kept.
    pub fn new(rules: Vec<Rule>) -> RuleEngine {
        let mut unique: Vec<Rule> = Vec::with_capacity(rules.len());
        for rule in rules {
            if !unique.iter().any(|r| r.id == rule.id) {
                unique.push(rule);
            }
        }
        let mut order: Vec<usize> = (0..unique.len()).collect();
        order.sort_by_key(|&i| match unique[i].kind {
            RuleKind::Level { metric, above } => (0, Some(metric), u64::MAX - above),
            _ => (1, None, i as u64),
        });
        RuleEngine {
            rules: unique,
            order,
            targets: BTreeMap::new(),
            silences: Silences::default(),
            trend_fitted_ms: HashMap::new(),
            dumps: None,
        }
    }

    /// Classify growth by goroutine dumps: classifying trend rules (`classify = "leak"` or
    /// `"load"`) wait for [`RuleEngine::set_verdict`] as `policy` says, and
    /// [`RuleEngine::capture_wanted`] says when a dump is due.
    pub fn with_dumps(mut self, policy: DumpPolicy) -> RuleEngine {
        self.dumps = Some(policy);
        self
    }

    /// Like [`RuleEngine::with_dumps`] on an existing engine (`None`: counts alone decide).
    pub fn set_dumps(&mut self, policy: Option<DumpPolicy>) {
        self.dumps = policy;
    }

    /// What the newest goroutine dumps of `target` said. The target's trend rules are fitted
    /// again at the next evaluation.
    pub fn set_verdict(&mut self, target: &str, verdict: DumpVerdict) {
        self.targets.entry(target.to_string()).or_default().verdict = Some(verdict);
        self.trend_fitted_ms.remove(target);
    }

    /// Since when `target`'s goroutines grow, by the classifying trend rules' counts.
    pub fn growth_since(&self, target: &str) -> Option<i64> {
        self.targets.get(target).and_then(|t| t.growth_since_ms)
    }

    pub fn verdict(&self, target: &str) -> Option<&DumpVerdict> {
        self.targets.get(target).and_then(|t| t.verdict.as_ref())
    }

    /// Whether a goroutine dump of `target` is due at `now`, and why: its goroutines grow and the
    /// dumps have not confirmed a leak yet (one every `every`), or a goroutine level alert is
    /// about to fire (so its first message can name the suspects).
    pub fn capture_wanted(&self, target: &str, now_ms: i64) -> Option<&'static str> {
        let policy = self.dumps?;
        let st = self.targets.get(target)?;
        let last = st.verdict.as_ref().map(|v| v.at_ms);
        let due = |since: i64| match last {
            None => true,
            Some(at) if at < since - 30_000 => true,
            Some(at) => now_ms - at >= ms(policy.every),
        };
        if let Some(since) = st.growth_since_ms {
            let settled = st.verdict.as_ref().is_some_and(|v| {
                v.at_ms >= since - 30_000 && (v.confirmed || v.class == DumpClass::Unavailable)
            });
            if !settled && due(since) {
                return Some("growth");
            }
        }
        let level_pending = self.rules.iter().find_map(|r| match r.kind {
            RuleKind::Level {
                metric: Metric::Goroutines,
                ..
            } => st
                .rules
                .get(&r.id)
                .filter(|rs| rs.firing_since_ms.is_none())
                .and_then(|rs| rs.pending_since_ms),
            _ => None,
        });
        match (level_pending, last) {
            (Some(_), None) => Some("level"),
            (Some(since), Some(at)) if at < since - 30_000 => Some("level"),
            _ => None,
        }
    }

    /// How often trend rules are fitted: a tenth of the shortest trend window.
    fn trend_every_ms(&self) -> Option<i64> {
        self.rules
            .iter()
            .filter_map(|r| match r.kind {
                RuleKind::Trend {
                    window,
                    short_window,
                    ..
                } => Some(ms(window.min(short_window)) / i64::from(TREND_FITS_PER_SHORT_WINDOW)),
                _ => None,
            })
            .min()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn silences(&self) -> &Silences {
        &self.silences
    }

    pub fn silences_mut(&mut self) -> &mut Silences {
        &mut self.silences
    }

    pub fn set_silences(&mut self, silences: Silences) {
        self.silences = silences;
    }

    /// Save (or replace) a target's baseline for the baseline rules.
    pub fn set_baseline(&mut self, target: &str, baseline: Baseline) {
        self.targets.entry(target.to_string()).or_default().baseline = Some(baseline);
    }

    /// Drop a target's baseline; its firing baseline alerts resolve at the next evaluation.
    pub fn clear_baseline(&mut self, target: &str) {
        if let Some(t) = self.targets.get_mut(target) {
            t.baseline = None;
        }
    }

    pub fn baseline(&self, target: &str) -> Option<&Baseline> {
        self.targets.get(target).and_then(|t| t.baseline.as_ref())
    }

    /// A target left the watched set (removed from the config, gone from discovery): every
    /// alert of it that was reported resolves now with `reason` (e.g. "target gone") — not as
    /// a recovery, and not as "down" — and the target is forgotten. A later target of the same
    /// name starts fresh.
    pub fn retire(&mut self, target: &str, now_ms: i64, reason: &str) -> Vec<Transition> {
        let mut out = Vec::new();
        if let Some(st) = self.targets.get(target) {
            for rule in &self.rules {
                let Some(rs) = st.rules.get(&rule.id) else {
                    continue;
                };
                if rs.firing_since_ms.is_none() || !rs.reported {
                    continue;
                }
                let notify = rs.announced && rule.send_resolved;
                let mut t = self.transition::<crate::Sample>(
                    st,
                    rule,
                    rs,
                    target,
                    super::TransitionKind::Resolved,
                    now_ms,
                    !rs.announced,
                    notify,
                    &[],
                );
                t.evidence.summary = format!("{target}: {} ended: {reason}", rule.id);
                t.evidence.reason = Some(reason.to_string());
                out.push(t);
            }
        }
        self.forget(target);
        out
    }

    /// Replace the rules (a reloaded config): alerts of rules that keep their id keep their
    /// state (firing stays firing, no new message); removed rules' state is dropped without a
    /// message; new rules start fresh.
    pub fn set_rules(&mut self, rules: Vec<Rule>) {
        let fresh = RuleEngine::new(rules);
        self.rules = fresh.rules;
        self.order = fresh.order;
        for state in self.targets.values_mut() {
            state
                .rules
                .retain(|id, _| self.rules.iter().any(|r| &r.id == id));
        }
        self.trend_fitted_ms.clear();
    }

    /// The targets the engine holds state for (alerting or not).
    pub fn known_targets(&self) -> impl Iterator<Item = &str> {
        self.targets.keys().map(String::as_str)
    }

    /// Forget a target (removed from the config). Its alerts end without messages.
    pub fn forget(&mut self, target: &str) {
        self.targets.remove(target);
        self.trend_fitted_ms.remove(target);
    }

    /// How much history `evaluate` should be given: the longest trend window (at least the
    /// 30 minutes of trend evidence).
    pub fn window_needed(&self) -> Duration {
        let longest = self
            .rules
            .iter()
            .filter_map(|r| match r.kind {
                RuleKind::Trend { window, .. } => Some(window),
                _ => None,
            })
            .max()
            .unwrap_or_default();
        longest.max(Duration::from_millis(EVIDENCE_WINDOW_MS as u64))
    }

    pub fn snapshot(&self) -> EngineSnapshot {
        EngineSnapshot {
            version: SNAPSHOT_VERSION,
            targets: self.targets.clone(),
        }
    }

    /// The whole state, borrowed for serializing (no copy).
    pub fn snapshot_ref(&self) -> SnapshotRef<'_> {
        SnapshotRef {
            version: SNAPSHOT_VERSION,
            targets: &self.targets,
        }
    }

    /// The state of `target` alone (empty if unknown): the agent saves it together with the
    /// target's transitions, so a crash right after an alert fired does not fire it again.
    pub fn snapshot_target(&self, target: &str) -> EngineSnapshot {
        EngineSnapshot {
            version: SNAPSHOT_VERSION,
            targets: self
                .targets
                .get(target)
                .map(|state| (target.to_string(), state.clone()))
                .into_iter()
                .collect(),
        }
    }

    /// Continue from a snapshot. State of rules that no longer exist is dropped; new rules
    /// start fresh. Silences are not part of the snapshot.
    pub fn restore(&mut self, snapshot: EngineSnapshot) {
        let mut targets = snapshot.targets;
        for state in targets.values_mut() {
            state
                .rules
                .retain(|id, _| self.rules.iter().any(|r| &r.id == id));
        }
        self.targets = targets;
    }

    /// Every firing alert, by target and rule.
    pub fn active(&self) -> Vec<ActiveAlert> {
        let mut out = Vec::new();
        for (target, state) in &self.targets {
            for (i, rule) in self.rules.iter().enumerate() {
                let Some(rs) = state.rules.get(&rule.id) else {
                    continue;
                };
                if let Some(since) = rs.firing_since_ms {
                    out.push(ActiveAlert {
                        target: target.clone(),
                        rule: rule.id.clone(),
                        severity: rule.severity,
                        started_at_ms: since,
                        value: rs.value,
                        threshold: rs.threshold,
                        fingerprint: fingerprint(target, &rule.id, since),
                        superseded: self.superseded(state, i),
                    });
                }
            }
        }
        out
    }

    /// Advance `target`'s alerts to `now_ms` with its recent samples (oldest first; samples
    /// already seen are skipped, so overlapping windows are fine). Returns what changed.
    pub fn evaluate<O: Observation>(
        &mut self,
        now_ms: i64,
        target: &str,
        window: &[O],
    ) -> Vec<Transition> {
        // Taken out and put back in place: removing and re-inserting cost a copy of the name
        // and a rebalancing of the map per sample (BENCHMARKS.md, "The climb, measured again
        // with frame pointers").
        let mut st = self.targets.get_mut(target).map(take).unwrap_or_default();
        st.first_seen_ms.get_or_insert(now_ms);
        let fit_trends = match (self.trend_every_ms(), self.trend_fitted_ms.get_mut(target)) {
            (Some(every), Some(last)) => {
                let due = now_ms - *last >= every || now_ms < *last;
                if due {
                    *last = now_ms;
                }
                due
            }
            (Some(_), None) => {
                self.trend_fitted_ms.insert(target.to_string(), now_ms);
                true
            }
            (None, _) => false,
        };
        let out = self.advance(&mut st, now_ms, target, window, fit_trends);
        put_back(&mut self.targets, target, st);
        out
    }
}

/// Put `value` back under `key` (taken out with `get_mut` and [`take`]): in place when the key
/// is there, inserted (the key copied) only the first time.
pub(super) fn put_back<V>(map: &mut BTreeMap<String, V>, key: &str, value: V) {
    match map.get_mut(key) {
        Some(slot) => *slot = value,
        None => {
            map.insert(key.to_string(), value);
        }
    }
}
