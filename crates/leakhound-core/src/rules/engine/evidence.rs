//! What a transition carries: the evidence of an alert (trend, baseline, dumps' verdict, down
//! reason) and the one-line summary people read.

use super::advance::judge_trend;
use super::{human_ms, RuleEngine, RuleState, TargetState, EVIDENCE_WINDOW_MS};
use crate::rules::point::Observation;
use crate::rules::{
    fingerprint, Baseline, DumpClass, DumpVerdict, Evidence, GrowthClass, Metric, Rule, RuleKind,
    Transition, TransitionKind, TrendEvidence,
};
use crate::trend::Trend;

impl RuleEngine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transition<O: Observation>(
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
