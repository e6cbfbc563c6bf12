//! The state machine: per (target, rule) pending → firing → resolved, with `for`, hysteresis,
//! supersession of lower levels, repeats and silences. See the [module docs](super).

use super::growth::{self, Fit, GrowthTest};
use super::point::Observation;
use super::{
    fingerprint, Baseline, DumpClass, DumpVerdict, Evidence, GrowthClass, Metric, Rule, RuleKind,
    Severity, Silences, Transition, TransitionKind, TrendEvidence,
};
use crate::time::duration_ms as ms;
use crate::trend::Trend;
use crate::units::human_duration;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
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

/// What one rule observed at one time.
struct Obs {
    /// The firing condition holds…
    cond: bool,
    /// …since then (default: the observation time).
    since: Option<i64>,
    /// A firing alert ends.
    clear: bool,
    value: f64,
    threshold: f64,
    reason: Option<String>,
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
        let mut st = self.targets.remove(target).unwrap_or_default();
        st.first_seen_ms.get_or_insert(now_ms);
        let fit_trends = match (self.trend_every_ms(), self.trend_fitted_ms.get(target)) {
            (Some(every), Some(&last)) => now_ms - last >= every || now_ms < last,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if fit_trends {
            self.trend_fitted_ms.insert(target.to_string(), now_ms);
        }
        let out = self.advance(&mut st, now_ms, target, window, fit_trends);
        self.targets.insert(target.to_string(), st);
        out
    }

    fn advance<O: Observation>(
        &self,
        st: &mut TargetState,
        now_ms: i64,
        target: &str,
        window: &[O],
        fit_trends: bool,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        if let Some(gap) = median_gap(window) {
            st.gap_ms = Some(gap);
        }
        let gap = st.gap_ms.unwrap_or(DEFAULT_GAP_MS).max(1);
        // A target seen for the first time starts from enough history to honour `for`, so an
        // agent restarted without its snapshot re-raises what holds without replaying the past.
        let lookback = self
            .rules
            .iter()
            .map(|r| ms(r.hold))
            .max()
            .unwrap_or(0)
            .saturating_add(2 * gap);
        let mut after = st
            .last_ts_ms
            .unwrap_or_else(|| now_ms.saturating_sub(lookback).saturating_sub(1));

        // 1. Sample-driven rules, every unseen sample once, in time order.
        let mut seen: Vec<&O> = window
            .iter()
            .filter(|s| s.ts_ms() > after && s.ts_ms() <= now_ms)
            .collect();
        seen.sort_by_key(|s| s.ts_ms());
        for s in seen {
            let ts = s.ts_ms();
            if ts <= after {
                continue; // a duplicate timestamp
            }
            after = ts;
            st.last_ts_ms = Some(ts);
            if s.up() {
                st.down_since_ms = None;
                st.down_reason = None;
            } else {
                st.down_since_ms.get_or_insert(ts);
                st.down_reason = Some(
                    s.error()
                        .unwrap_or("the probe got no usable answer")
                        .to_string(),
                );
            }
            for &ri in &self.order {
                let rule = &self.rules[ri];
                let obs = match &rule.kind {
                    RuleKind::Level { metric, above } => {
                        let Some(v) = s.value(*metric) else {
                            continue;
                        };
                        let (v, above) = (v as f64, *above as f64);
                        Obs {
                            cond: v > above,
                            since: None,
                            clear: v < rule.clear_below(above),
                            value: v,
                            threshold: above,
                            reason: None,
                        }
                    }
                    RuleKind::Baseline {
                        metric,
                        growth_percent,
                        after: age,
                    } => {
                        let Some(v) = s.value(*metric) else {
                            continue;
                        };
                        match st
                            .baseline
                            .as_ref()
                            .and_then(|b| Some((b.ts_ms, b.value(*metric)?)))
                        {
                            Some((base_ts, base)) if base > 0 => {
                                let v = v as f64;
                                let limit = base as f64 * (1.0 + growth_percent / 100.0);
                                Obs {
                                    cond: ts - base_ts >= ms(*age) && v > limit,
                                    since: None,
                                    clear: v < rule.clear_below(limit),
                                    value: v,
                                    threshold: limit,
                                    reason: None,
                                }
                            }
                            _ => Obs::gone(),
                        }
                    }
                    _ => continue,
                };
                self.apply(st, ri, target, ts, now_ms, obs, window, &mut out);
            }
        }

        // 2. Rules judged at `now`. First, whether the goroutines grow at all (for the dumps).
        let judged: Vec<Option<Judged>> = if fit_trends {
            self.rules
                .iter()
                .map(|r| judge_trend(&r.kind, window, now_ms))
                .collect()
        } else {
            Vec::new()
        };
        if fit_trends {
            let growing = self.rules.iter().zip(&judged).any(|(r, j)| {
                matches!(
                    r.kind,
                    RuleKind::Trend {
                        classify: GrowthClass::Leak | GrowthClass::Load,
                        ..
                    }
                ) && j.as_ref().is_some_and(|j| j.rising)
            });
            if !growing {
                st.growth_since_ms = None;
            } else if st.growth_since_ms.is_none() {
                st.growth_since_ms = Some(now_ms);
            }
        }
        for ri in 0..self.rules.len() {
            let rule = &self.rules[ri];
            let obs = match &rule.kind {
                RuleKind::Trend { .. } if !fit_trends => continue,
                RuleKind::Trend {
                    min_growth_per_hour,
                    classify,
                    ..
                } => {
                    let Some(judged) = judged.get(ri).cloned().flatten() else {
                        continue;
                    };
                    let cond = self.classified(st, *classify, now_ms, &judged);
                    Obs {
                        cond,
                        // `for` counts from when the counts began to grow, not from the verdict.
                        since: st.growth_since_ms.filter(|_| *classify != GrowthClass::Any),
                        clear: judged.fits.iter().all(|f| {
                            f.trend.slope_per_hour < rule.clear_below(*min_growth_per_hour)
                        }),
                        value: judged.chosen.trend.slope_per_hour,
                        threshold: *min_growth_per_hour,
                        reason: None,
                    }
                }
                RuleKind::Leaked { min_leaked } => {
                    let leaked = st.verdict.as_ref().and_then(|v| v.runtime_leaked);
                    match leaked {
                        Some(n) => Obs {
                            cond: n >= *min_leaked,
                            since: None,
                            clear: n < *min_leaked,
                            value: n as f64,
                            threshold: *min_leaked as f64,
                            reason: None,
                        },
                        None => continue,
                    }
                }
                RuleKind::Down => {
                    let last_heard = st.last_ts_ms.or(st.first_seen_ms).unwrap_or(now_ms);
                    let silent_for = now_ms - last_heard;
                    let hold = ms(rule.hold);
                    let (since, reason) = if silent_for > 2 * gap {
                        let since = last_heard + gap;
                        let reason = format!(
                            "no sample for {} (expected one every {})",
                            human_ms(silent_for),
                            human_ms(gap)
                        );
                        match st.down_since_ms {
                            Some(d) => (Some(d.min(since)), reason),
                            None => (Some(since), reason),
                        }
                    } else if let Some(d) = st.down_since_ms {
                        (
                            Some(d),
                            st.down_reason.clone().unwrap_or_else(|| "down".into()),
                        )
                    } else {
                        (None, String::new())
                    };
                    match since {
                        Some(since) => Obs {
                            cond: true,
                            since: Some(since),
                            clear: false,
                            value: (now_ms - since) as f64 / 1000.0,
                            threshold: hold as f64 / 1000.0,
                            reason: Some(reason),
                        },
                        None => Obs::gone(),
                    }
                }
                RuleKind::Baseline { .. } if st.baseline.is_none() => Obs::gone(),
                _ => continue,
            };
            self.apply(st, ri, target, now_ms, now_ms, obs, window, &mut out);
        }

        // 3. Announce what became visible (silence ended, higher level resolved) and repeat.
        for ri in 0..self.rules.len() {
            let rule = &self.rules[ri];
            if self.superseded(st, ri) {
                continue;
            }
            let Some(mut rs) = st.rules.remove(&rule.id) else {
                continue;
            };
            if rs.firing_since_ms.is_some() {
                let silenced = self.silences.silenced(now_ms, target, &rule.id);
                let kind = if !rs.reported || (!rs.announced && !silenced) {
                    Some(TransitionKind::Firing)
                } else if rs.announced
                    && !silenced
                    && !rule.repeat_interval.is_zero()
                    && rs
                        .last_sent_ms
                        .is_some_and(|t| now_ms - t >= ms(rule.repeat_interval))
                {
                    Some(TransitionKind::Repeat)
                } else {
                    None
                };
                if let Some(kind) = kind {
                    rs.reported = true;
                    if !silenced {
                        rs.announced = true;
                        rs.last_sent_ms = Some(now_ms);
                    }
                    out.push(self.transition(
                        st, rule, &rs, target, kind, now_ms, silenced, !silenced, window,
                    ));
                }
            }
            st.rules.insert(rule.id.clone(), rs);
        }
        out
    }

    /// Whether a trend rule of `class` fires: its counts grow by at least the minimum — or,
    /// when the dumps show a leak, by a quarter of it ([`growth::VERIFIED_SHARE`]) — and the
    /// goroutine dumps agree with its class.
    fn classified(&self, st: &TargetState, class: GrowthClass, now_ms: i64, j: &Judged) -> bool {
        let Some(policy) = self.dumps else {
            // Nobody takes dumps: the counts decide, and "load" can never be told.
            return j.growing && class != GrowthClass::Load;
        };
        if class == GrowthClass::Any {
            return j.growing;
        }
        if !j.rising {
            return false;
        }
        let since = st.growth_since_ms.unwrap_or(now_ms);
        let fresh = st
            .verdict
            .as_ref()
            .filter(|v| v.at_ms >= since - 30_000)
            .map(|v| v.class);
        match (class, fresh) {
            (GrowthClass::Load, verdict) => j.growing && verdict == Some(DumpClass::Load),
            (_, Some(DumpClass::Leak)) => true,
            (_, Some(DumpClass::Unavailable)) => j.growing,
            (_, Some(DumpClass::Load | DumpClass::Flat)) => false,
            (_, Some(DumpClass::Unclear)) => j.growing && now_ms - since >= ms(policy.unclear_for),
            (_, None) => j.growing && now_ms - since >= ms(policy.first_verdict_wait),
        }
    }

    /// Feed one observation to one rule's state machine.
    #[allow(clippy::too_many_arguments)] // one call site per rule family; a struct would only rename them
    fn apply<O: Observation>(
        &self,
        st: &mut TargetState,
        ri: usize,
        target: &str,
        at: i64,
        now_ms: i64,
        obs: Obs,
        window: &[O],
        out: &mut Vec<Transition>,
    ) {
        let rule = &self.rules[ri];
        let superseded = self.superseded(st, ri);
        let mut rs = st.rules.remove(&rule.id).unwrap_or_default();
        rs.value = obs.value;
        rs.threshold = obs.threshold;
        if obs.reason.is_some() {
            rs.reason = obs.reason;
        }
        if rs.firing_since_ms.is_some() {
            if obs.clear {
                if rs.reported {
                    let notify = rs.announced && rule.send_resolved;
                    out.push(self.transition(
                        st,
                        rule,
                        &rs,
                        target,
                        TransitionKind::Resolved,
                        at,
                        !rs.announced,
                        notify,
                        window,
                    ));
                }
                rs = RuleState::default();
            }
        } else if obs.cond {
            let since = *rs.pending_since_ms.get_or_insert(obs.since.unwrap_or(at));
            if at - since >= ms(rule.hold) {
                rs.firing_since_ms = Some(at);
                if !superseded {
                    let silenced = self.silences.silenced(now_ms, target, &rule.id);
                    rs.reported = true;
                    rs.announced = !silenced;
                    if !silenced {
                        rs.last_sent_ms = Some(at);
                    }
                    out.push(self.transition(
                        st,
                        rule,
                        &rs,
                        target,
                        TransitionKind::Firing,
                        at,
                        silenced,
                        !silenced,
                        window,
                    ));
                }
            }
        } else {
            rs.pending_since_ms = None;
            rs.reason = None;
        }
        st.rules.insert(rule.id.clone(), rs);
    }

    /// Whether a higher level rule of the same metric is firing for this target.
    fn superseded(&self, st: &TargetState, ri: usize) -> bool {
        let RuleKind::Level { metric, above } = self.rules[ri].kind else {
            return false;
        };
        self.rules.iter().any(|r| match r.kind {
            RuleKind::Level {
                metric: m,
                above: a,
            } if m == metric && a > above => st
                .rules
                .get(&r.id)
                .is_some_and(|s| s.firing_since_ms.is_some()),
            _ => false,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn transition<O: Observation>(
        &self,
        st: &TargetState,
        rule: &Rule,
        rs: &RuleState,
        target: &str,
        kind: TransitionKind,
        at: i64,
        silenced: bool,
        notify: bool,
        window: &[O],
    ) -> Transition {
        let started = rs.firing_since_ms.unwrap_or(at);
        // From when the condition first held (`for` included): how long it was above the
        // threshold, down, growing.
        let held_ms = at - rs.pending_since_ms.unwrap_or(started);
        let latest = window
            .iter()
            .filter(|s| s.ts_ms() <= at)
            .max_by_key(|s| s.ts_ms());
        let trend_metric = rule.kind.metric().unwrap_or(Metric::Goroutines);
        let trend = match rule.kind {
            RuleKind::Trend { .. } => judge_trend(&rule.kind, window, at)
                .map(|j| (j.chosen.trend, Some(j.chosen.interval.lower_per_hour))),
            _ => fit(window, trend_metric, at, EVIDENCE_WINDOW_MS).map(|t| (t, None)),
        }
        .map(|(t, lower)| TrendEvidence {
            metric: trend_metric,
            slope_per_hour: t.slope_per_hour,
            lower_per_hour: lower,
            r_squared: t.r_squared,
            points: t.points,
            span_seconds: t.span_seconds,
        });
        // The dumps' verdict, when it is about this episode (taken since the condition held)
        // and says something: a leak or load for goroutine rules, "no dump" for the rules
        // that waited for one.
        let classifying = matches!(
            rule.kind,
            RuleKind::Trend {
                classify: GrowthClass::Leak | GrowthClass::Load,
                ..
            }
        );
        let goroutine_rule = classifying
            || matches!(
                rule.kind,
                RuleKind::Level {
                    metric: Metric::Goroutines,
                    ..
                } | RuleKind::Leaked { .. }
            );
        let dumps = st
            .verdict
            .clone()
            .filter(|_| goroutine_rule)
            .filter(|v| v.at_ms >= rs.pending_since_ms.unwrap_or(started) - 120_000)
            .filter(|v| match v.class {
                DumpClass::Leak | DumpClass::Load => true,
                DumpClass::Unavailable => classifying,
                DumpClass::Unclear | DumpClass::Flat => false,
            });
        let baseline = match rule.kind {
            RuleKind::Baseline { .. } => st.baseline.clone(),
            _ => None,
        };
        let reason = match rule.kind {
            RuleKind::Down => rs.reason.clone(),
            _ => None,
        };
        let summary = summary(
            rule,
            target,
            kind,
            at,
            rs.value,
            rs.threshold,
            held_ms,
            trend.as_ref(),
            baseline.as_ref(),
            reason.as_deref(),
            dumps.as_ref(),
        );
        Transition {
            target: target.to_string(),
            rule: rule.id.clone(),
            rule_kind: rule.kind.name().to_string(),
            metric: rule.kind.metric(),
            severity: rule.severity,
            kind,
            value: rs.value,
            threshold: rs.threshold,
            at_ms: at,
            started_at_ms: started,
            ended_at_ms: (kind == TransitionKind::Resolved).then_some(at),
            fingerprint: fingerprint(target, &rule.id, started),
            silenced,
            notify,
            evidence: Evidence {
                summary,
                held_ms,
                goroutines: latest.and_then(|s| s.value(Metric::Goroutines)),
                memory_bytes: latest.and_then(|s| s.value(Metric::Memory)),
                trend,
                baseline,
                reason,
                top_growing: dumps
                    .as_ref()
                    .map(|v| v.suspects.clone())
                    .unwrap_or_default(),
                dumps,
            },
        }
    }
}

impl Obs {
    /// The condition's subject is gone (no baseline, target up again): a firing alert ends.
    fn gone() -> Obs {
        Obs {
            cond: false,
            since: None,
            clear: true,
            value: 0.0,
            threshold: 0.0,
            reason: None,
        }
    }
}

/// Median gap between consecutive samples of the window, if it has two.
fn median_gap<O: Observation>(window: &[O]) -> Option<i64> {
    let tail = &window[window.len().saturating_sub(21)..];
    let mut gaps: Vec<i64> = tail
        .windows(2)
        .map(|w| w[1].ts_ms() - w[0].ts_ms())
        .filter(|&g| g > 0)
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

/// What a trend rule's fits say at one time.
#[derive(Clone)]
struct Judged {
    /// The valid fits: over the whole window, and over the short window.
    fits: Vec<Fit>,
    /// The first fit that shows growth, else the first valid one.
    chosen: Fit,
    growing: bool,
    /// A fit shows growth of at least a quarter of the minimum ([`growth::VERIFIED_SHARE`]).
    rising: bool,
}

/// Fit a trend rule's windows at `end` ([`growth::judge`]); `None` when neither has enough
/// history (no verdict).
fn judge_trend<O: Observation>(kind: &RuleKind, window: &[O], end: i64) -> Option<Judged> {
    let RuleKind::Trend {
        metric,
        window: long,
        short_window,
        min_points,
        min_growth_per_hour,
        min_r_squared,
        confidence,
        ..
    } = kind
    else {
        return None;
    };
    let test = GrowthTest {
        metric: *metric,
        window_ms: ms(*long),
        short_window_ms: ms(*short_window),
        min_points: *min_points,
        min_growth_per_hour: *min_growth_per_hour,
        min_r_squared: *min_r_squared,
        z: growth::normal_quantile(0.5 + confidence.clamp(0.5, 0.999_999_999) / 2.0),
    };
    let fits = growth::judge(&test, window, end);
    let growing = fits.iter().find(|f| f.growing);
    let chosen = *growing.or(fits.first())?;
    Some(Judged {
        growing: growing.is_some(),
        rising: fits.iter().any(|f| f.rising),
        fits,
        chosen,
    })
}

/// At most this many points go into an evidence fit (evenly thinned).
const MAX_FIT_POINTS: usize = 80;

/// Theil–Sen fit of `metric` over the samples in `(end - span, end]`.
fn fit<O: Observation>(window: &[O], metric: Metric, end: i64, span: i64) -> Option<Trend> {
    let start = end.saturating_sub(span);
    let points: Vec<(f64, f64)> = window
        .iter()
        .filter(|s| s.ts_ms() > start && s.ts_ms() <= end)
        .filter_map(|s| {
            s.value(metric)
                .map(|v| ((s.ts_ms() - start) as f64 / 1000.0, v as f64))
        })
        .collect();
    let step = points.len().div_ceil(MAX_FIT_POINTS).max(1);
    if step == 1 {
        return Trend::fit(&points);
    }
    // Thin from the newest point back, so the latest reading is always in.
    let mut thinned: Vec<(f64, f64)> = points.iter().rev().step_by(step).copied().collect();
    thinned.reverse();
    Trend::fit(&thinned)
}

#[allow(clippy::too_many_arguments)]
fn summary(
    rule: &Rule,
    target: &str,
    kind: TransitionKind,
    at: i64,
    value: f64,
    threshold: f64,
    held_ms: i64,
    trend: Option<&TrendEvidence>,
    baseline: Option<&Baseline>,
    reason: Option<&str>,
    dumps: Option<&DumpVerdict>,
) -> String {
    let resolved = kind == TransitionKind::Resolved;
    // What the goroutine dumps said, for messages that start or repeat an alert.
    let dumps_note = match dumps {
        Some(v) if !resolved && !v.summary.is_empty() => format!("; {}", v.summary),
        _ => String::new(),
    };
    let trend_note = trend
        .filter(|t| t.points >= 3 && t.r_squared >= 0.5 && t.slope_per_hour.abs() >= 1.0)
        .map(|t| {
            format!(
                "; {} {} (R² {:.2})",
                if t.slope_per_hour > 0.0 {
                    "growing"
                } else {
                    "falling"
                },
                t.metric.format_rate(t.slope_per_hour),
                t.r_squared
            )
        })
        .unwrap_or_default();
    let held = human_ms(held_ms);
    match &rule.kind {
        RuleKind::Level { metric, .. } if resolved => format!(
            "{target}: {metric} back to {} (below {}) after {held} above {}",
            metric.format(value),
            metric.format(rule.clear_below(threshold)),
            metric.format(threshold)
        ),
        RuleKind::Level { metric, .. } => format!(
            "{target}: {metric} {} > {} (alert {}) for {held}{trend_note}{dumps_note}",
            metric.format(value),
            metric.format(threshold),
            rule.severity
        ),
        RuleKind::Trend { metric, .. } => {
            let (r2, span) = trend.map_or((0.0, 0.0), |t| (t.r_squared, t.span_seconds));
            if resolved {
                format!(
                    "{target}: {metric} no longer growing ({}, R² {r2:.2}) after {held}",
                    metric.format_rate(value)
                )
            } else {
                let lower = trend
                    .and_then(|t| t.lower_per_hour)
                    .map(|l| format!("at least {} with confidence, ", metric.format_rate(l)))
                    .unwrap_or_default();
                format!(
                    "{target}: {metric} growing {} ({lower}R² {r2:.2} over {}; the rule's minimum is {}){dumps_note}",
                    metric.format_rate(value),
                    human_ms((span * 1000.0) as i64),
                    metric.format_rate(threshold)
                )
            }
        }
        RuleKind::Leaked { .. } if resolved => {
            format!("{target}: the Go runtime reports no leaked goroutines any more")
        }
        RuleKind::Leaked { .. } => format!(
            "{target}: the Go runtime proved {value:.0} goroutines leaked (blocked forever; goroutineleak profile){}",
            dumps
                .and_then(|v| v.site.as_deref())
                .map(|s| format!(", most at {s}"))
                .unwrap_or_default()
        ),
        RuleKind::Baseline { metric, .. } => {
            let base = baseline.and_then(|b| b.value(*metric)).unwrap_or(0) as f64;
            let growth = if base > 0.0 {
                (value / base - 1.0) * 100.0
            } else {
                0.0
            };
            if resolved {
                format!(
                    "{target}: {metric} back to {} ({growth:+.0}% of the baseline {}) after {held}",
                    metric.format(value),
                    metric.format(base)
                )
            } else {
                let age = baseline.map_or(0, |b| at - b.ts_ms);
                format!(
                    "{target}: {metric} {} is {growth:+.0}% over the baseline {} of {} ago (limit +{:.0}%){trend_note}",
                    metric.format(value),
                    metric.format(base),
                    human_ms(age),
                    (threshold / base.max(1.0) - 1.0) * 100.0
                )
            }
        }
        RuleKind::Down if resolved => format!("{target} is up again after {held}"),
        RuleKind::Down => format!(
            "{target} is down for {held}: {}",
            reason.unwrap_or("no answer")
        ),
    }
}
