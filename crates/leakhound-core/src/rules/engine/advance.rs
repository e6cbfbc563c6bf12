//! The state machine proper: each new sample through every rule (level, trend, leaked,
//! baseline, down), `for`, hysteresis, supersession and silences, and the trend fits it judges.

use super::{human_ms, ms, put_back, RuleEngine, RuleState, TargetState, DEFAULT_GAP_MS};
use crate::rules::growth::{self, Fit, GrowthTest};
use crate::rules::point::Observation;
use crate::rules::{DumpClass, GrowthClass, RuleKind, Transition, TransitionKind};
use std::mem::take;

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

impl RuleEngine {
    pub(super) fn advance<O: Observation>(
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
            let Some(rs) = st.rules.get(&rule.id) else {
                continue;
            };
            if rs.firing_since_ms.is_none() || self.superseded(st, ri) {
                continue;
            }
            let silenced = self.silences.silenced(now_ms, target, &rule.id);
            let kind = if !rs.reported || (!rs.announced && !silenced) {
                TransitionKind::Firing
            } else if rs.announced
                && !silenced
                && !rule.repeat_interval.is_zero()
                && rs
                    .last_sent_ms
                    .is_some_and(|t| now_ms - t >= ms(rule.repeat_interval))
            {
                TransitionKind::Repeat
            } else {
                continue;
            };
            let mut rs = st.rules.get_mut(&rule.id).map(take).unwrap_or_default();
            rs.reported = true;
            if !silenced {
                rs.announced = true;
                rs.last_sent_ms = Some(now_ms);
            }
            out.push(self.transition(
                st, rule, &rs, target, kind, now_ms, silenced, !silenced, window,
            ));
            put_back(&mut st.rules, &rule.id, rs);
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
        let mut rs = st.rules.get_mut(&rule.id).map(take).unwrap_or_default();
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
        put_back(&mut st.rules, &rule.id, rs);
    }

    /// Whether a higher level rule of the same metric is firing for this target.
    pub(super) fn superseded(&self, st: &TargetState, ri: usize) -> bool {
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
pub(super) struct Judged {
    /// The valid fits: over the whole window, and over the short window.
    fits: Vec<Fit>,
    /// The first fit that shows growth, else the first valid one.
    pub(super) chosen: Fit,
    growing: bool,
    /// A fit shows growth of at least a quarter of the minimum ([`growth::VERIFIED_SHARE`]).
    rising: bool,
}

/// Fit a trend rule's windows at `end` ([`growth::judge`]); `None` when neither has enough
/// history (no verdict).
pub(super) fn judge_trend<O: Observation>(
    kind: &RuleKind,
    window: &[O],
    end: i64,
) -> Option<Judged> {
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
