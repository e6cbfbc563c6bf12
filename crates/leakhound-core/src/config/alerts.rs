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

use super::walk::{boolean, show, Ctx, Table};
use super::Levels;
use crate::rules::{
    default_rules, optional_rules, GrowthClass, Metric, Rule, RuleKind, Severity,
    DEFAULT_GOROUTINE_GROWTH, DEFAULT_TREND_CONFIDENCE,
};
use serde::Serialize;
use std::time::Duration;
use toml::de::DeValue;
use toml::Spanned;

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
    if let Some(v) = boolean(ctx, &mut t, "enabled") {
        config.enabled = v;
    }
    let repeat = duration_or_zero(ctx, &mut t, "repeat_interval");
    let send_resolved = boolean(ctx, &mut t, "send_resolved");
    for rule in &mut config.rules {
        if let Some(v) = repeat {
            rule.repeat_interval = v;
        }
        if let Some(v) = send_resolved {
            rule.send_resolved = v;
        }
    }
    if let Some(rules) = t.table(ctx, "rules") {
        let builtin: Vec<String> = config
            .rules
            .iter()
            .chain(&optional_rules())
            .map(|r| r.id.clone())
            .collect();
        for (key, value) in rules.entries() {
            let id: &str = key.get_ref();
            let path = rules.path_of(id);
            match value.get_ref() {
                DeValue::Table(table) => {
                    let mut rt = Table::new(table, path.clone());
                    read_rule(
                        ctx,
                        &mut rt,
                        (id, &path, key.span().start),
                        &builtin,
                        &mut config.rules,
                        (repeat, send_resolved),
                    );
                    rt.finish(ctx);
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
    t.finish(ctx);
    config
}

fn read_rule(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    (id, path, offset): (&str, &str, usize),
    builtin: &[String],
    rules: &mut Vec<Rule>,
    (repeat, send_resolved): (Option<Duration>, Option<bool>),
) {
    let kind_text = t.string(ctx, "kind");
    let metric_text = t.string(ctx, "metric");
    let metric = metric_text.as_deref().and_then(|m| {
        let parsed = Metric::parse(m);
        if parsed.is_none() {
            ctx.error(
                t.offset_of("metric"),
                &t.path_of("metric"),
                format!("'{m}' is not a metric; use goroutines or memory"),
            );
        }
        parsed
    });
    let existing = rules.iter().position(|r| r.id == id);
    // A built-in rule that is off by default is turned on by its table.
    let optional = existing
        .is_none()
        .then(|| optional_rules().into_iter().find(|r| r.id == id))
        .flatten()
        .map(|mut rule| {
            if let Some(v) = repeat {
                rule.repeat_interval = v;
            }
            if let Some(v) = send_resolved {
                rule.send_resolved = v;
            }
            rule
        });
    let mut rule = match existing.map(|i| rules[i].clone()).or(optional) {
        Some(rule) => {
            if let Some(k) = kind_text.as_deref().filter(|&k| k != rule.kind.name()) {
                ctx.error(
                    t.offset_of("kind"),
                    &t.path_of("kind"),
                    format!(
                        "'{k}' would change the built-in rule '{id}', which is a {} rule; give your rule another id, e.g. [alerts.rules.my_{k}]",
                        rule.kind.name()
                    ),
                );
            }
            if let (Some(m), Some(have)) = (metric, rule.kind.metric()) {
                if m != have {
                    ctx.error(
                        t.offset_of("metric"),
                        &t.path_of("metric"),
                        format!(
                            "'{m}' would change the built-in rule '{id}', which watches {have}; give your rule another id"
                        ),
                    );
                }
            }
            rule
        }
        None => {
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
                let hint =
                    closest(id, builtin).map_or(String::new(), |b| format!("did you mean '{b}'? "));
                ctx.error(
                    offset,
                    path,
                    format!(
                        "'{id}' is not a built-in rule; {hint}to add a rule, give it a 'kind' (level, trend, baseline, down or leaked); built-in rules: {}",
                        builtin.join(", ")
                    ),
                );
                return;
            };
            let metric = metric.unwrap_or(Metric::Goroutines);
            let new_kind = match kind.as_str() {
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
                other => {
                    ctx.error(
                        t.offset_of("kind"),
                        &t.path_of("kind"),
                        format!("'{other}' is not a rule kind; use level, trend, baseline, down or leaked"),
                    );
                    return;
                }
            };
            if matches!(new_kind, RuleKind::Level { .. }) && !t.has("above") {
                ctx.error(
                    offset,
                    &t.path_of("above"),
                    format!("the level rule '{id}' needs 'above', e.g. above = 8000 (or \"3GB\" for memory)"),
                );
            }
            let mut rule = Rule::new(id, new_kind, Severity::Warning);
            if let Some(v) = repeat {
                rule.repeat_interval = v;
            }
            if let Some(v) = send_resolved {
                rule.send_resolved = v;
            }
            rule
        }
    };

    let enabled = boolean(ctx, t, "enabled").unwrap_or(true);
    if let Some(text) = t.string(ctx, "severity") {
        match Severity::parse(&text) {
            Some(s) => rule.severity = s,
            None => ctx.error(
                t.offset_of("severity"),
                &t.path_of("severity"),
                format!("'{text}' is not a severity; use warning, urgent or critical (the guide's L1, L2, L3)"),
            ),
        }
    }
    if let Some(v) = duration_or_zero(ctx, t, "for") {
        rule.hold = v;
    }
    if let Some(v) = duration_or_zero(ctx, t, "repeat_interval") {
        rule.repeat_interval = v;
    }
    if let Some(v) = boolean(ctx, t, "send_resolved") {
        rule.send_resolved = v;
    }
    if let Some(v) = number(ctx, t, "hysteresis") {
        if (0.0..100.0).contains(&v) {
            rule.hysteresis_percent = v;
        } else {
            ctx.error(
                t.offset_of("hysteresis"),
                &t.path_of("hysteresis"),
                format!("'{v}' is not a percentage from 0 to under 100; e.g. hysteresis = 10 clears 10 % under the threshold"),
            );
        }
    }

    match &mut rule.kind {
        RuleKind::Level { metric, above } => {
            let value = match metric {
                Metric::Goroutines => t.uint(ctx, "above"),
                Metric::Memory => t.bytes(ctx, "above"),
            };
            match value {
                Some(0) => ctx.error(
                    t.offset_of("above"),
                    &t.path_of("above"),
                    "'0' would always fire; write a threshold above zero, e.g. 5000".into(),
                ),
                Some(v) => *above = v,
                None => {}
            }
        }
        RuleKind::Trend {
            metric,
            window,
            short_window,
            min_points,
            min_growth_per_hour,
            min_r_squared,
            confidence,
            classify,
        } => {
            if let Some(v) = t.duration(ctx, "window") {
                *window = v;
            }
            if let Some(v) = t.duration(ctx, "short_window") {
                *short_window = v;
            }
            if let Some(v) = t.uint(ctx, "min_points") {
                if v < 3 {
                    ctx.error(
                        t.offset_of("min_points"),
                        &t.path_of("min_points"),
                        format!("'{v}' points can't show a trend; use at least 3 (default 9)"),
                    );
                }
                *min_points = usize::try_from(v).unwrap_or(usize::MAX).max(3);
            }
            let growth = match metric {
                Metric::Goroutines => number(ctx, t, "min_growth_per_hour"),
                Metric::Memory => t.bytes(ctx, "min_growth_per_hour").map(|b| b as f64),
            };
            match growth {
                Some(v) if v > 0.0 => *min_growth_per_hour = v,
                Some(v) => ctx.error(
                    t.offset_of("min_growth_per_hour"),
                    &t.path_of("min_growth_per_hour"),
                    format!("'{v}' would call a flat series growing; write a growth above zero, e.g. 600 goroutines per hour"),
                ),
                None => {}
            }
            if let Some(v) = number(ctx, t, "min_r_squared") {
                if (0.0..=1.0).contains(&v) {
                    *min_r_squared = v;
                } else {
                    ctx.error(
                        t.offset_of("min_r_squared"),
                        &t.path_of("min_r_squared"),
                        format!("'{v}' is not an R² between 0 and 1; e.g. 0.8"),
                    );
                }
            }
            if let Some(v) = number(ctx, t, "confidence") {
                if v > 0.5 && v < 1.0 {
                    *confidence = v;
                } else {
                    ctx.error(
                        t.offset_of("confidence"),
                        &t.path_of("confidence"),
                        format!("'{v}' is not a confidence between 0.5 and 1 (exclusive); e.g. 0.9999 — higher waits for more evidence"),
                    );
                }
            }
            if let Some(text) = t.string(ctx, "classify") {
                match GrowthClass::parse(&text) {
                    Some(c) => *classify = c,
                    None => ctx.error(
                        t.offset_of("classify"),
                        &t.path_of("classify"),
                        format!("'{text}' is not a growth class; use leak (fire when the goroutine dumps show a leak), load (when they show load) or any (counts alone)"),
                    ),
                }
            }
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
        RuleKind::Baseline {
            growth_percent,
            after,
            ..
        } => {
            match number(ctx, t, "growth_percent") {
                Some(v) if v > 0.0 => *growth_percent = v,
                Some(v) => ctx.error(
                    t.offset_of("growth_percent"),
                    &t.path_of("growth_percent"),
                    format!("'{v}' must be above zero; the guide calls < 20 % normal: growth_percent = 20"),
                ),
                None => {}
            }
            if let Some(v) = duration_or_zero(ctx, t, "after") {
                *after = v;
            }
        }
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

fn get<'t, 'i>(t: &mut Table<'t, 'i>, key: &'t str) -> Option<&'t Spanned<DeValue<'i>>> {
    t.get(key)
}

/// A number, whole or not.
fn number(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, key: &'static str) -> Option<f64> {
    let v = get(t, key)?;
    let parsed = match v.get_ref() {
        DeValue::Integer(i) => i.as_str().replace('_', "").parse::<f64>().ok(),
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        _ => None,
    };
    match parsed.filter(|n| n.is_finite()) {
        Some(n) => Some(n),
        None => {
            ctx.error(
                v.span().start,
                &t.path_of(key),
                format!(
                    "'{}' is a {}, expected a number without quotes, e.g. 10 or 0.8",
                    show(v.get_ref()),
                    v.get_ref().type_str()
                ),
            );
            None
        }
    }
}

/// A duration where zero means "none" (`for = "0s"`, `repeat_interval = "0s"`).
pub(super) fn duration_or_zero(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    key: &'static str,
) -> Option<Duration> {
    let v = get(t, key)?;
    let parsed = match v.get_ref() {
        DeValue::String(s) => crate::units::parse_duration(s),
        DeValue::Integer(i) => i
            .as_str()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("'{}' is not a number of seconds ≥ 0", i.as_str())),
        other => Err(format!(
            "'{}' is a {}, expected a duration such as \"1m\" or \"0s\"",
            show(other),
            other.type_str()
        )),
    };
    match parsed {
        Ok(d) => Some(d),
        Err(msg) => {
            ctx.error(v.span().start, &t.path_of(key), msg);
            None
        }
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
mod tests {
    use super::super::{Config, ConfigErrors, EXAMPLE};
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(text, &|_| None)
    }

    #[test]
    fn no_section_and_the_example_give_the_built_in_rules() {
        assert_eq!(parse("").unwrap().alerts, AlertsConfig::default());
        assert_eq!(parse(EXAMPLE).unwrap().alerts, AlertsConfig::default());
        let defaults = AlertsConfig::default();
        let ids: Vec<&str> = defaults.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "goroutines_warning",
                "goroutines_urgent",
                "goroutines_critical",
                "memory_warning",
                "memory_critical",
                "goroutines_growth",
                "memory_growth",
                "goroutines_baseline",
                "memory_baseline",
                "target_down",
                "goroutines_leaked"
            ]
        );
    }

    #[test]
    fn level_rules_follow_the_levels_section() {
        let config =
            parse("[levels]\nurgent = 6000\nmemory = [\"1GB\", \"2GB\", \"6GB\", \"8GB\"]\n")
                .unwrap();
        let above = |id: &str| match config.alerts.rule(id).unwrap().kind {
            RuleKind::Level { above, .. } => above,
            _ => panic!("{id} is not a level rule"),
        };
        assert_eq!(above("goroutines_urgent"), 6000);
        assert_eq!(above("memory_warning"), 6 << 30);
    }

    #[test]
    fn overrides_disabling_and_new_rules() {
        let config = parse(
            r#"
[alerts]
repeat_interval = "1h"
send_resolved = false

[alerts.rules.goroutines_urgent]
for = "2m"
hysteresis = 5
repeat_interval = "0s"

[alerts.rules.memory_growth]
enabled = false

[alerts.rules.goroutines_growth]
window = "1h"
short_window = "10m"
min_growth_per_hour = 100
min_r_squared = 0.9

[alerts.rules.goroutines_8k]
kind = "level"
above = 8000
severity = "urgent"

[alerts.rules.rss_fast]
kind = "trend"
metric = "memory"
min_growth_per_hour = "1GB"
"#,
        )
        .unwrap();
        let a = &config.alerts;
        let urgent = a.rule("goroutines_urgent").unwrap();
        assert_eq!(urgent.hold, Duration::from_secs(120));
        assert_eq!(urgent.hysteresis_percent, 5.0);
        assert!(urgent.repeat_interval.is_zero());
        assert!(!urgent.send_resolved);
        assert_eq!(
            a.rule("goroutines_warning").unwrap().repeat_interval,
            Duration::from_secs(3600)
        );
        assert!(a.rule("memory_growth").is_none());
        assert_eq!(
            a.rule("goroutines_growth").unwrap().kind,
            RuleKind::Trend {
                metric: Metric::Goroutines,
                window: Duration::from_secs(3600),
                short_window: Duration::from_secs(600),
                min_points: 9,
                min_growth_per_hour: 100.0,
                min_r_squared: 0.9,
                confidence: DEFAULT_TREND_CONFIDENCE,
                classify: GrowthClass::Leak,
            }
        );
        let custom = a.rule("goroutines_8k").unwrap();
        assert_eq!(custom.severity, Severity::Urgent);
        assert_eq!(
            custom.kind,
            RuleKind::Level {
                metric: Metric::Goroutines,
                above: 8000
            }
        );
        assert!(matches!(
            a.rule("rss_fast").unwrap().kind,
            RuleKind::Trend { metric: Metric::Memory, min_growth_per_hour, .. } if min_growth_per_hour == (1u64 << 30) as f64
        ));
        let disabled = parse("[alerts]\nenabled = false\n").unwrap().alerts;
        assert!(disabled.active_rules().is_empty());
    }

    #[test]
    fn every_alerts_mistake_is_reported_with_its_line() {
        let text = r#"[alerts]
repeat_intervall = "4h"
send_resolved = "yes"

[alerts.rules.goroutines_urgnt]
for = "1m"

[alerts.rules.goroutines_warning]
kind = "trend"
hysteresis = 150
for = "soon"

[alerts.rules.mine]
kind = "level"
severity = "fatal"

[alerts.rules.slope]
kind = "trend"
window = "5m"
short_window = "10m"
min_r_squared = 2
min_points = 1
"#;
        let errs = parse(text).unwrap_err().0;
        let find = |path: &str| {
            errs.iter()
                .find(|e| e.path == path)
                .unwrap_or_else(|| panic!("no error for {path}: {errs:#?}"))
                .clone()
        };
        let e = find("alerts.repeat_intervall");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("did you mean 'repeat_interval'"), "{e}");
        let e = find("alerts.send_resolved");
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("'yes'") && e.message.contains("true or false"),
            "{e}"
        );
        let e = find("alerts.rules.goroutines_urgnt");
        assert_eq!(e.line, 5);
        assert!(
            e.message.contains("did you mean 'goroutines_urgent'"),
            "{e}"
        );
        let e = find("alerts.rules.goroutines_warning.kind");
        assert_eq!(e.line, 9);
        assert!(
            e.message.contains("'trend'") && e.message.contains("another id"),
            "{e}"
        );
        let e = find("alerts.rules.goroutines_warning.hysteresis");
        assert_eq!(e.line, 10);
        assert!(e.message.contains("'150'"), "{e}");
        let e = find("alerts.rules.goroutines_warning.for");
        assert_eq!(e.line, 11);
        assert!(
            e.message.contains("'soon'") && e.message.contains("'5m'"),
            "{e}"
        );
        let e = find("alerts.rules.mine.above");
        assert!(e.message.contains("needs 'above'"), "{e}");
        let e = find("alerts.rules.mine.severity");
        assert_eq!(e.line, 15);
        assert!(
            e.message.contains("'fatal'") && e.message.contains("urgent"),
            "{e}"
        );
        let e = find("alerts.rules.slope.short_window");
        assert!(
            e.message.contains("'10m'") && e.message.contains("'5m'"),
            "{e}"
        );
        assert_eq!(find("alerts.rules.slope.min_r_squared").line, 21);
        assert_eq!(find("alerts.rules.slope.min_points").line, 22);
        assert!(errs.len() >= 11, "{errs:#?}");
        // Reported in file order.
        assert!(errs.windows(2).all(|w| w[0].line <= w[1].line));
    }
}
