//! `[alerts]`: which alert rules run. Without the section the built-in set runs
//! ([`default_rules`]), with thresholds from `[levels]`; `[alerts.rules.ID]` changes one
//! built-in rule or, with a `kind`, adds a new one.
//!
//! ```toml
//! [alerts]
//! repeat_interval = "4h"
//!
//! [alerts.rules.goroutines_urgent]
//! for = "2m"
//!
//! [alerts.rules.memory_growth]
//! enabled = false
//!
//! [alerts.rules.goroutines_8k]
//! kind = "level"
//! above = 8000
//! severity = "urgent"
//! ```

use super::walk::{show, Ctx, Table};
use super::Levels;
use crate::rules::{
    default_rules, optional_rules, GrowthClass, Metric, Rule, RuleKind, DEFAULT_GOROUTINE_GROWTH,
    DEFAULT_TREND_CONFIDENCE,
};
use crate::severity::Severity;
use serde::Serialize;
use std::time::Duration;
use toml::de::DeValue;

/// The validated `[alerts]` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertsConfig {
    /// `false` turns every alert off.
    pub enabled: bool,
    /// Every rule, built-in ones first (minus those with `enabled = false`).
    pub rules: Vec<Rule>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig::from_levels(&Levels::default())
    }
}

impl AlertsConfig {
    /// The built-in rules with the thresholds of `levels`.
    pub fn from_levels(levels: &Levels) -> AlertsConfig {
        AlertsConfig {
            enabled: true,
            rules: default_rules(levels),
        }
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The rules to run: none when alerts are disabled.
    pub fn active_rules(&self) -> Vec<Rule> {
        if self.enabled {
            self.rules.clone()
        } else {
            Vec::new()
        }
    }
}

/// Read `[alerts]` from the root table (after `[levels]`, whose thresholds it starts from).
pub(super) fn read_alerts(
    ctx: &mut Ctx<'_>,
    root: &mut Table<'_, '_>,
    levels: &Levels,
) -> AlertsConfig {
    let mut config = AlertsConfig::from_levels(levels);
    let Some(mut t) = root.table(ctx, "alerts") else {
        return config;
    };
    t.set_bool(ctx, "enabled", &mut config.enabled);
    let inherited = Inherited {
        repeat: t.duration_or_zero(ctx, "repeat_interval"),
        send_resolved: t.boolean(ctx, "send_resolved"),
    };
    for rule in &mut config.rules {
        inherited.apply(rule);
    }
    if let Some(rules) = t.table(ctx, "rules") {
        read_rules(ctx, &rules, inherited, &mut config.rules);
    }
    t.finish(ctx);
    config
}

/// `[alerts] repeat_interval` and `send_resolved`: the defaults of every rule.
#[derive(Clone, Copy)]
struct Inherited {
    repeat: Option<Duration>,
    send_resolved: Option<bool>,
}

impl Inherited {
    fn apply(self, rule: &mut Rule) {
        if let Some(v) = self.repeat {
            rule.repeat_interval = v;
        }
        if let Some(v) = self.send_resolved {
            rule.send_resolved = v;
        }
    }
}

/// Where a rule's table is: its id, its path and the offset of its header.
#[derive(Clone, Copy)]
struct RuleAt<'a> {
    id: &'a str,
    path: &'a str,
    offset: usize,
}

/// Every `[alerts.rules.ID]` table: changes to the built-in rules, and new rules.
fn read_rules(
    ctx: &mut Ctx<'_>,
    tables: &Table<'_, '_>,
    inherited: Inherited,
    rules: &mut Vec<Rule>,
) {
    let builtin: Vec<String> = rules
        .iter()
        .chain(&optional_rules())
        .map(|r| r.id.clone())
        .collect();
    for (key, value) in tables.entries() {
        let id: &str = key.get_ref();
        let path = tables.path_of(id);
        match value.get_ref() {
            DeValue::Table(table) => {
                let mut t = Table::new(table, path.clone());
                let at = RuleAt {
                    id,
                    path: &path,
                    offset: key.span().start,
                };
                read_rule(ctx, &mut t, at, &builtin, rules, inherited);
                t.finish(ctx);
            }
            _ => ctx.error(
                value.span().start,
                &path,
                format!(
                    "'{}' is not a table; write the rule as [alerts.rules.{id}] with its keys below",
                    show(value.get_ref())
                ),
            ),
        }
    }
}

/// One `[alerts.rules.ID]`: starts from the built-in rule of that id (turning on an optional
/// one), or adds a new rule of its `kind`; `enabled = false` removes it.
fn read_rule(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    at: RuleAt<'_>,
    builtin: &[String],
    rules: &mut Vec<Rule>,
    inherited: Inherited,
) {
    let kind_text = t.string(ctx, "kind");
    let metric = t.one_of(
        ctx,
        "metric",
        "a metric",
        "goroutines or memory",
        Metric::parse,
    );
    let existing = rules.iter().position(|r| r.id == at.id);
    // A built-in rule that is off by default is turned on by its table.
    let optional = existing
        .is_none()
        .then(|| optional_rules().into_iter().find(|r| r.id == at.id))
        .flatten()
        .map(|mut rule| {
            inherited.apply(&mut rule);
            rule
        });
    let mut rule = match existing.map(|i| rules[i].clone()).or(optional) {
        Some(rule) => {
            check_builtin_kept(ctx, t, at.id, &rule, kind_text.as_deref(), metric);
            rule
        }
        None => {
            let Some(mut rule) = new_rule(ctx, t, at, builtin, kind_text, metric) else {
                return;
            };
            inherited.apply(&mut rule);
            rule
        }
    };
    let enabled = t.boolean(ctx, "enabled").unwrap_or(true);
    read_common(ctx, t, &mut rule);
    match &mut rule.kind {
        RuleKind::Level { metric, above } => read_level(ctx, t, *metric, above),
        RuleKind::Trend { .. } => read_trend(ctx, t, &mut rule.kind),
        RuleKind::Baseline {
            growth_percent,
            after,
            ..
        } => read_baseline(ctx, t, growth_percent, after),
        RuleKind::Leaked { min_leaked } => {
            if let Some(v) = t.uint(ctx, "min_leaked") {
                *min_leaked = v.max(1);
            }
        }
        RuleKind::Down => {}
    }
    match (existing, enabled) {
        (Some(i), true) => rules[i] = rule,
        (Some(i), false) => {
            rules.remove(i);
        }
        (None, true) => rules.push(rule),
        (None, false) => {}
    }
}

/// A built-in rule's table may tune it but not change its `kind` or `metric`.
fn check_builtin_kept(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    id: &str,
    rule: &Rule,
    kind_text: Option<&str>,
    metric: Option<Metric>,
) {
    if let Some(k) = kind_text.filter(|&k| k != rule.kind.name()) {
        t.error_at(
            ctx,
            "kind",
            format!(
                "'{k}' would change the built-in rule '{id}', which is a {} rule; give your rule another id, e.g. [alerts.rules.my_{k}]",
                rule.kind.name()
            ),
        );
    }
    if let (Some(m), Some(have)) = (metric, rule.kind.metric()) {
        if m != have {
            t.error_at(
                ctx,
                "metric",
                format!(
                    "'{m}' would change the built-in rule '{id}', which watches {have}; give your rule another id"
                ),
            );
        }
    }
}

/// A rule that is not built in: it needs a good id and a `kind`.
fn new_rule(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    RuleAt { id, path, offset }: RuleAt<'_>,
    builtin: &[String],
    kind_text: Option<String>,
    metric: Option<Metric>,
) -> Option<Rule> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        ctx.error(
            offset,
            path,
            format!("'{id}' is not a good rule id; use lower-case letters, digits, '_' and '-', e.g. 'goroutines_8k'"),
        );
    }
    let Some(kind) = kind_text else {
        let hint = closest(id, builtin).map_or(String::new(), |b| format!("did you mean '{b}'? "));
        ctx.error(
            offset,
            path,
            format!(
                "'{id}' is not a built-in rule; {hint}to add a rule, give it a 'kind' (level, trend, baseline, down or leaked); built-in rules: {}",
                builtin.join(", ")
            ),
        );
        return None;
    };
    let Some(new_kind) = new_rule_kind(&kind, metric.unwrap_or(Metric::Goroutines)) else {
        t.error_at(
            ctx,
            "kind",
            format!("'{kind}' is not a rule kind; use level, trend, baseline, down or leaked"),
        );
        return None;
    };
    if matches!(new_kind, RuleKind::Level { .. }) {
        t.require(
            ctx,
            "above",
            offset,
            format!(
                "the level rule '{id}' needs 'above', e.g. above = 8000 (or \"3GB\" for memory)"
            ),
        );
    }
    Some(Rule::new(id, new_kind, Severity::Warning))
}

/// A new rule of the kind named `kind`, with that kind's defaults.
fn new_rule_kind(kind: &str, metric: Metric) -> Option<RuleKind> {
    Some(match kind {
        "level" => RuleKind::Level { metric, above: 0 },
        "trend" => RuleKind::Trend {
            metric,
            window: Duration::from_secs(30 * 60),
            short_window: Duration::from_secs(5 * 60),
            min_points: 9,
            min_growth_per_hour: match metric {
                Metric::Goroutines => DEFAULT_GOROUTINE_GROWTH,
                Metric::Memory => (256u64 << 20) as f64,
            },
            min_r_squared: 0.0,
            confidence: DEFAULT_TREND_CONFIDENCE,
            classify: GrowthClass::Any,
        },
        "leaked" => RuleKind::Leaked { min_leaked: 1 },
        "baseline" => RuleKind::Baseline {
            metric,
            growth_percent: 20.0,
            after: Duration::from_secs(3600),
        },
        "down" => RuleKind::Down,
        _ => return None,
    })
}

/// The keys every kind of rule has.
fn read_common(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, rule: &mut Rule) {
    if let Some(s) = t.one_of(
        ctx,
        "severity",
        "a severity",
        "warning, urgent or critical (the guide's L1, L2, L3)",
        Severity::parse_alert_level,
    ) {
        rule.severity = s;
    }
    if let Some(v) = t.duration_or_zero(ctx, "for") {
        rule.hold = v;
    }
    if let Some(v) = t.duration_or_zero(ctx, "repeat_interval") {
        rule.repeat_interval = v;
    }
    t.set_bool(ctx, "send_resolved", &mut rule.send_resolved);
    let hysteresis = t.number(ctx, "hysteresis");
    if let Some(v) = t.valid(
        ctx,
        "hysteresis",
        hysteresis,
        |v| (0.0..100.0).contains(&v),
        |v| format!("'{v}' is not a percentage from 0 to under 100; e.g. hysteresis = 10 clears 10 % under the threshold"),
    ) {
        rule.hysteresis_percent = v;
    }
}

/// `kind = "level"`: `above`, a count or (memory) a size.
fn read_level(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, metric: Metric, above: &mut u64) {
    let value = match metric {
        Metric::Goroutines => t.uint(ctx, "above"),
        Metric::Memory => t.bytes(ctx, "above"),
    };
    if let Some(v) = t.valid(
        ctx,
        "above",
        value,
        |v| v != 0,
        |_| "'0' would always fire; write a threshold above zero, e.g. 5000".into(),
    ) {
        *above = v;
    }
}

/// `kind = "trend"`: the fit's windows and the growth it must show.
fn read_trend(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, kind: &mut RuleKind) {
    let RuleKind::Trend {
        metric,
        window,
        short_window,
        min_points,
        min_growth_per_hour,
        min_r_squared,
        confidence,
        classify,
    } = kind
    else {
        return;
    };
    t.set_duration(ctx, "window", window);
    t.set_duration(ctx, "short_window", short_window);
    if let Some(v) = t.uint(ctx, "min_points") {
        if v < 3 {
            t.error_at(
                ctx,
                "min_points",
                format!("'{v}' points can't show a trend; use at least 3 (default 9)"),
            );
        }
        *min_points = usize::try_from(v).unwrap_or(usize::MAX).max(3);
    }
    let growth = match metric {
        Metric::Goroutines => t.number(ctx, "min_growth_per_hour"),
        Metric::Memory => t.bytes(ctx, "min_growth_per_hour").map(|b| b as f64),
    };
    if let Some(v) = t.valid(
        ctx,
        "min_growth_per_hour",
        growth,
        |v| v > 0.0,
        |v| format!("'{v}' would call a flat series growing; write a growth above zero, e.g. 600 goroutines per hour"),
    ) {
        *min_growth_per_hour = v;
    }
    read_trend_evidence(ctx, t, min_r_squared, confidence, classify);
    if *short_window > *window {
        ctx.error(
            t.offset_of("short_window").max(t.offset_of("window")),
            &t.path_of("short_window"),
            format!(
                "'{}' is longer than the window '{}'; short_window must fit inside window: lower short_window or raise window",
                crate::units::human_duration(*short_window),
                crate::units::human_duration(*window)
            ),
        );
    }
}

/// A trend rule's `min_r_squared`, `confidence` and `classify`: how sure the growth must be.
fn read_trend_evidence(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    min_r_squared: &mut f64,
    confidence: &mut f64,
    classify: &mut GrowthClass,
) {
    let r_squared = t.number(ctx, "min_r_squared");
    if let Some(v) = t.valid(
        ctx,
        "min_r_squared",
        r_squared,
        |v| (0.0..=1.0).contains(&v),
        |v| format!("'{v}' is not an R² between 0 and 1; e.g. 0.8"),
    ) {
        *min_r_squared = v;
    }
    let conf = t.number(ctx, "confidence");
    if let Some(v) = t.valid(
        ctx,
        "confidence",
        conf,
        |v| v > 0.5 && v < 1.0,
        |v| format!("'{v}' is not a confidence between 0.5 and 1 (exclusive); e.g. 0.9999 — higher waits for more evidence"),
    ) {
        *confidence = v;
    }
    if let Some(c) = t.one_of(
        ctx,
        "classify",
        "a growth class",
        "leak (fire when the goroutine dumps show a leak), load (when they show load) or any (counts alone)",
        GrowthClass::parse,
    ) {
        *classify = c;
    }
}

/// `kind = "baseline"`: the growth over the first hour's level, and how long to wait for it.
fn read_baseline(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    growth_percent: &mut f64,
    after: &mut Duration,
) {
    let growth = t.number(ctx, "growth_percent");
    if let Some(v) = t.valid(
        ctx,
        "growth_percent",
        growth,
        |v| v > 0.0,
        |v| format!("'{v}' must be above zero; the guide calls < 20 % normal: growth_percent = 20"),
    ) {
        *growth_percent = v;
    }
    if let Some(v) = t.duration_or_zero(ctx, "after") {
        *after = v;
    }
}

/// The candidate nearest to `name` by edit distance, if it is close.
fn closest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (super::walk::edit_distance(name, c), c))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

#[cfg(test)]
mod tests;
