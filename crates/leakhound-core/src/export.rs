//! What `leakhound export` writes, made from a config and the metric names `/metrics` serves:
//! a Prometheus rule file equal to the config's alert rules, and a Grafana dashboard.
//!
//! Rules map one to one: a level rule is `metric > above` with its `for`; a trend rule is
//! `deriv(metric[window]) * 3600 >= min_growth_per_hour` over its long or its short window
//! (Prometheus has no R², so a noisy series can fire there where leakhound would wait for a
//! straight climb); a baseline rule compares with the value `after` ago (`offset`), GUIDE §10's
//! "compare an hour later"; down is `leakhound_up == 0` or no sample for three intervals.
//! Recording rules give the memory the guide rates, growth per hour and a 4-hour
//! `predict_linear` forecast for dashboards.

use crate::config::Config;
use crate::rules::{Metric, Rule, RuleKind};
use serde_json::{json, Value};
use std::fmt::Write;
use std::time::Duration;

/// The memory series the guide's memory table rates (`kind="used"`), without the `kind` label.
pub const MEMORY_USED: &str = "leakhound:memory_used_bytes";

/// A PromQL duration: `30m`, `1h`, `90s`, `500ms`.
pub fn prom_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s > 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// `goroutines_urgent` → `LeakhoundGoroutinesUrgent`.
pub fn alert_name(rule_id: &str) -> String {
    let mut name = String::from("Leakhound");
    for part in rule_id.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    name
}

fn series(metric: Metric) -> &'static str {
    match metric {
        Metric::Goroutines => "leakhound_goroutines",
        Metric::Memory => MEMORY_USED,
    }
}

/// How a metric's value shows in an annotation.
fn shown_value(metric: Metric) -> &'static str {
    match metric {
        Metric::Goroutines => "{{ $value }}",
        Metric::Memory => "{{ $value | humanize1024 }}B",
    }
}

/// The PromQL expression and summary of one rule; `no_data_after` bounds "no samples".
pub fn rule_expr(rule: &Rule, no_data_after: Duration) -> (String, String) {
    let hold = if rule.hold.is_zero() {
        String::new()
    } else {
        format!(" for {}", prom_duration(rule.hold))
    };
    match &rule.kind {
        RuleKind::Level { metric, above } => (
            format!("{} > {above}", series(*metric)),
            format!(
                "{{{{ $labels.target }}}}: {metric} {} > {} (alert {}){hold}",
                shown_value(*metric),
                metric.format(*above as f64),
                rule.severity
            ),
        ),
        RuleKind::Trend {
            metric,
            window,
            short_window,
            min_growth_per_hour,
            ..
        } => {
            let s = series(*metric);
            let fit = |w: Duration| {
                format!(
                    "deriv({s}[{}]) * 3600 >= {min_growth_per_hour}",
                    prom_duration(w)
                )
            };
            let expr = if window == short_window {
                fit(*window)
            } else {
                format!("({}) or ({})", fit(*window), fit(*short_window))
            };
            let rate = match metric {
                Metric::Goroutines => "{{ $value | printf \"%.0f\" }}",
                Metric::Memory => "{{ $value | humanize1024 }}B",
            };
            (
                expr,
                format!(
                    "{{{{ $labels.target }}}}: {metric} growing {rate}/h (at least {}) over {} or {}",
                    metric.format_rate(*min_growth_per_hour),
                    prom_duration(*window),
                    prom_duration(*short_window)
                ),
            )
        }
        RuleKind::Baseline {
            metric,
            growth_percent,
            after,
        } => {
            let s = series(*metric);
            let factor = 1.0 + growth_percent / 100.0;
            (
                format!("{s} > {factor} * ({s} offset {})", prom_duration(*after)),
                format!(
                    "{{{{ $labels.target }}}}: {metric} {} is more than {growth_percent}% above {} ago{hold}",
                    shown_value(*metric),
                    prom_duration(*after)
                ),
            )
        }
        RuleKind::Leaked { min_leaked } => (
            format!("leakhound_runtime_leaked_goroutines >= {min_leaked}"),
            format!("{{{{ $labels.target }}}}: the Go runtime proved goroutines leaked{hold}"),
        ),
        RuleKind::Down => (
            format!(
                "leakhound_up == 0 or (time() - leakhound_last_sample_timestamp_seconds > {})",
                no_data_after.as_secs().max(1)
            ),
            format!("{{{{ $labels.target }}}} is down or sends no samples{hold}"),
        ),
    }
}

fn q(text: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::to_string(text).unwrap_or_default()
}

/// "No samples" for the down rule: three times the longest probe interval, at least 90 s.
fn no_data_after(config: &Config) -> Duration {
    let longest = config
        .targets
        .iter()
        .map(|t| t.interval)
        .max()
        .unwrap_or(config.defaults.interval);
    (longest * 3).max(Duration::from_secs(90))
}

/// The Prometheus rule file (YAML) for `config`: recording rules, then one alerting rule per
/// active leakhound alert rule (none when `[alerts] enabled = false`).
pub fn prometheus_rules(config: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated by `leakhound export prometheus-rules` from leakhound's [alerts] rules.\n\
         # Check it with `promtool check rules FILE`; load it with rule_files in prometheus.yml.\n\
         groups:\n  - name: leakhound.recording\n    rules:"
    );
    let mut record = |name: &str, expr: &str| {
        let _ = writeln!(out, "      - record: {name}\n        expr: {}", q(expr));
    };
    record(
        MEMORY_USED,
        "max without (kind) (leakhound_memory_bytes{kind=\"used\"})",
    );
    for (metric, s) in [
        ("goroutines", "leakhound_goroutines"),
        ("memory_used_bytes", MEMORY_USED),
    ] {
        record(
            &format!("leakhound:{metric}:deriv_per_hour_30m"),
            &format!("deriv({s}[30m]) * 3600"),
        );
        record(
            &format!("leakhound:{metric}:predict_linear_4h"),
            &format!("predict_linear({s}[30m], 4 * 3600)"),
        );
    }
    let rules = config.alerts.active_rules();
    if rules.is_empty() {
        return out;
    }
    let _ = writeln!(out, "  - name: leakhound.alerts\n    rules:");
    let no_data = no_data_after(config);
    // The runtime's leak proof comes from goroutine profiles the agent reads, not from a series
    // Prometheus has: that rule stays with the agent.
    for rule in rules
        .iter()
        .filter(|r| !matches!(r.kind, RuleKind::Leaked { .. }))
    {
        let (expr, summary) = rule_expr(rule, no_data);
        let _ = writeln!(
            out,
            "      - alert: {}\n        expr: {}",
            alert_name(&rule.id),
            q(&expr)
        );
        if !rule.hold.is_zero() {
            let _ = writeln!(out, "        for: {}", prom_duration(rule.hold));
        }
        let _ = writeln!(
            out,
            "        labels:\n          severity: {}\n          leakhound_rule: {}\n        annotations:\n          summary: {}\n          description: {}",
            q(rule.severity.name()),
            q(&rule.id),
            q(&summary),
            q(&format!(
                "leakhound rule '{}' ({}), exported from its [alerts] config",
                rule.id,
                rule.kind.name()
            ))
        );
    }
    out
}

/// Every PromQL expression the dashboard queries, with `$target` as a regex variable.
pub fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |v: &Value| {
        if let Some(e) = v.get("expr").and_then(Value::as_str) {
            out.push(e.to_string());
        }
    };
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            push(t);
        }
    }
    for a in dashboard["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        push(a);
    }
    out
}

/// A Grafana dashboard (JSON model) for `config`: goroutines per target with the guide's alert
/// levels as threshold bands (2000/5000/10000 by default), memory with the memory ladder, up,
/// the alert level, growth per hour, and firing alerts as annotations. The Prometheus
/// datasource is a dashboard variable, so it imports as-is.
pub fn grafana_dashboard(config: &Config) -> Value {
    let ds = json!({"type": "prometheus", "uid": "${datasource}"});
    let alert = config.levels.alert;
    let memory = config.levels.memory.0;
    let grid = |x: u32, y: u32, w: u32, h: u32| json!({"x": x, "y": y, "w": w, "h": h});
    let target = |expr: &str, legend: &str| json!({"refId": "A", "datasource": ds, "expr": expr, "legendFormat": legend});
    let steps = |values: &[(u64, &str)]| -> Value {
        let mut steps = vec![json!({"color": "green", "value": null})];
        steps.extend(
            values
                .iter()
                .map(|(v, color)| json!({"color": color, "value": v})),
        );
        Value::Array(steps)
    };
    let timeseries = |id: u32,
                      title: &str,
                      pos: Value,
                      expr: &str,
                      unit: &str,
                      thresholds: Value|
     -> Value {
        json!({
            "id": id,
            "type": "timeseries",
            "title": title,
            "datasource": ds,
            "gridPos": pos,
            "targets": [target(expr, "{{target}}")],
            "fieldConfig": {
                "defaults": {
                    "unit": unit,
                    "min": 0,
                    "color": {"mode": "palette-classic"},
                    "custom": {"thresholdsStyle": {"mode": "line+area"}, "fillOpacity": 10},
                    "thresholds": {"mode": "absolute", "steps": thresholds}
                },
                "overrides": []
            },
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}
        })
    };
    let goroutine_bands = steps(&[
        (alert.warning, "yellow"),
        (alert.urgent, "orange"),
        (alert.critical, "red"),
    ]);
    let panels = vec![
        timeseries(
            1,
            "Goroutine Count",
            grid(0, 0, 16, 9),
            "leakhound_goroutines{target=~\"$target\"}",
            "short",
            goroutine_bands.clone(),
        ),
        json!({
            "id": 2,
            "type": "stat",
            "title": "Alert level",
            "description": "The guide's levels: 0 none, 1 warning, 2 urgent, 3 critical",
            "datasource": ds,
            "gridPos": grid(16, 0, 8, 9),
            "targets": [target("leakhound_level{target=~\"$target\"}", "{{target}}")],
            "fieldConfig": {
                "defaults": {
                    "thresholds": {"mode": "absolute", "steps": steps(&[(1, "yellow"), (2, "orange"), (3, "red")])},
                    "mappings": [{"type": "value", "options": {
                        "0": {"text": "normal"}, "1": {"text": "L1 warning"},
                        "2": {"text": "L2 urgent"}, "3": {"text": "L3 critical"}}}]
                },
                "overrides": []
            },
            "options": {"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}}
        }),
        timeseries(
            3,
            "Memory used",
            grid(0, 9, 12, 8),
            "max without (kind) (leakhound_memory_bytes{kind=\"used\",target=~\"$target\"})",
            "bytes",
            steps(&[
                (memory[1], "yellow"),
                (memory[2], "orange"),
                (memory[3], "red"),
            ]),
        ),
        timeseries(
            4,
            "Goroutine growth per hour (30m fit)",
            grid(12, 9, 12, 8),
            "deriv(leakhound_goroutines{target=~\"$target\"}[30m]) * 3600",
            "short",
            steps(&[(600, "orange")]),
        ),
        json!({
            "id": 5,
            "type": "state-timeline",
            "title": "Up",
            "datasource": ds,
            "gridPos": grid(0, 17, 24, 6),
            "targets": [target("leakhound_up{target=~\"$target\"}", "{{target}}")],
            "fieldConfig": {
                "defaults": {
                    "thresholds": {"mode": "absolute", "steps": [{"color": "red", "value": null}, {"color": "green", "value": 1}]},
                    "mappings": [{"type": "value", "options": {"0": {"text": "down", "color": "red"}, "1": {"text": "up", "color": "green"}}}]
                },
                "overrides": []
            },
            "options": {"showValue": "never"}
        }),
    ];
    json!({
        "title": "leakhound — goroutines and memory",
        "uid": "leakhound",
        "tags": ["leakhound", "go", "goroutines"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0
            },
            {
                "name": "target",
                "label": "Target",
                "type": "query",
                "datasource": ds,
                "query": {"query": "label_values(leakhound_goroutines, target)", "refId": "targets"},
                "definition": "label_values(leakhound_goroutines, target)",
                "refresh": 2,
                "multi": true,
                "includeAll": true,
                "allValue": ".*",
                "current": {"text": "All", "value": "$__all"},
                "sort": 1
            }
        ]},
        "annotations": {"list": [
            {
                "name": "Alerts firing",
                "datasource": ds,
                "enable": true,
                "iconColor": "red",
                "expr": "leakhound_alert_firing{target=~\"$target\"} == 1",
                "step": "60s",
                "titleFormat": "{{rule}} ({{severity}})",
                "textFormat": "{{target}}",
                "tagKeys": "target,severity"
            }
        ]},
        "panels": panels
    })
}
