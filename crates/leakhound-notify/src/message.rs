//! The message every notifier sends: one alert transition, with the evidence a human needs.
//! The agent maps the rule engine's transitions onto it; it is stored as JSON in the outbox.

use leakhound_core::rules::{Metric, Transition, TransitionKind};
use leakhound_core::units::human_duration;
use leakhound_core::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Firing (also a repeat while still firing) or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn name(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// One alert message. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertMessage {
    pub status: AlertStatus,
    /// The rule's stable id, e.g. `goroutines_critical`.
    pub rule: String,
    /// `level`, `trend`, `baseline` or `down`.
    #[serde(default = "default_rule_kind")]
    pub rule_kind: String,
    /// How bad it is: the guide's L1–L3, or `info` (tests, notices).
    pub level: Severity,
    /// The target's name, e.g. `one-api`.
    pub target: String,
    /// What was measured: `goroutines`, `memory`, … (shown after the value).
    #[serde(default = "default_metric")]
    pub metric: String,
    pub value: f64,
    pub threshold: f64,
    /// The value as people should read it (`3.2 GB`, `+1200/h`); default: the number.
    #[serde(default)]
    pub value_text: Option<String>,
    /// The threshold likewise.
    #[serde(default)]
    pub threshold_text: Option<String>,
    pub started_at_ms: i64,
    /// When it resolved (resolved messages).
    #[serde(default)]
    pub ended_at_ms: Option<i64>,
    /// How long the condition held (firing) or the alert fired (resolved).
    #[serde(default)]
    pub held_ms: i64,
    /// One line about the trend, e.g. `+1200/h over 30m (R² 0.97)`.
    #[serde(default)]
    pub trend: Option<String>,
    /// Evidence lines, most important first.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// The top growing call sites from goroutine dumps.
    #[serde(default)]
    pub suspects: Vec<String>,
    /// Extra labels (sent as Alertmanager labels, listed in chat messages' JSON payloads).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Unique per message: a retry of the same message carries the same key.
    pub idempotency_key: String,
    /// A link back to the dashboard page of this alert.
    #[serde(default)]
    pub generator_url: Option<String>,
}

/// Characters kept of one free-text line of an alert message (see [`AlertMessage::bounded`]):
/// a down reason (itself capped at 2048 by the agent) keeps its first 1024.
pub const MESSAGE_LINE_MAX: usize = 1024;
/// Evidence lines, suspects and labels kept per message.
pub const MESSAGE_LINES_MAX: usize = 100;

fn default_rule_kind() -> String {
    "level".to_string()
}

fn default_metric() -> String {
    "goroutines".to_string()
}

impl AlertMessage {
    /// The message every notifier sends for an alert transition.
    pub fn for_transition(t: &Transition) -> AlertMessage {
        let (value_text, threshold_text) = match (t.rule_kind.as_str(), t.metric) {
            ("trend", Some(m)) => (m.format_rate(t.value), m.format_rate(t.threshold)),
            ("down", _) => (
                format!(
                    "down {}",
                    human_duration(Duration::from_secs_f64(t.value.max(0.0)))
                ),
                format!(
                    "for {}",
                    human_duration(Duration::from_secs_f64(t.threshold.max(0.0)))
                ),
            ),
            (_, Some(m)) => (m.format(t.value), m.format(t.threshold)),
            (_, None) => (format!("{}", t.value), format!("{}", t.threshold)),
        };
        let trend = t.evidence.trend.as_ref().map(|tr| {
            format!(
                "{} over {} (R² {:.2}, {} points)",
                tr.metric.format_rate(tr.slope_per_hour),
                human_duration(Duration::from_secs_f64(tr.span_seconds.max(0.0))),
                tr.r_squared,
                tr.points
            )
        });
        let mut evidence = vec![t.evidence.summary.clone()];
        evidence.extend(t.evidence.reason.iter().map(|r| format!("reason: {r}")));
        if let (Some(b), Some(m)) = (&t.evidence.baseline, t.metric) {
            if let Some(v) = b.value(m) {
                evidence.push(format!(
                    "baseline {} taken {}",
                    m.format(v as f64),
                    crate::template::local_time(b.ts_ms)
                ));
            }
        }
        let mut labels = BTreeMap::new();
        labels.insert("rule_kind".to_string(), t.rule_kind.clone());
        labels.insert("transition".to_string(), t.kind.name().to_string());
        AlertMessage {
            status: if t.kind == TransitionKind::Resolved {
                AlertStatus::Resolved
            } else {
                AlertStatus::Firing
            },
            rule: t.rule.clone(),
            rule_kind: t.rule_kind.clone(),
            level: t.severity,
            target: t.target.clone(),
            metric: t.metric.map_or("availability", Metric::name).to_string(),
            value: t.value,
            threshold: t.threshold,
            value_text: Some(value_text),
            threshold_text: Some(threshold_text),
            started_at_ms: t.started_at_ms,
            ended_at_ms: t.ended_at_ms,
            held_ms: t.evidence.held_ms,
            trend,
            evidence,
            suspects: t.evidence.top_growing.clone(),
            labels,
            idempotency_key: t.idempotency_key(),
            generator_url: None,
        }
    }

    /// The message with every free-text field escaped and capped (each line at
    /// [`MESSAGE_LINE_MAX`] characters, at most [`MESSAGE_LINES_MAX`] evidence and suspect lines):
    /// parts of them come from the target (probe errors, pprof function names and labels), and a
    /// hostile target must not send a 2 MB alert or break a chat message's layout.
    pub fn bounded(&self) -> AlertMessage {
        let line = |s: &String| leakhound_core::text::escape_capped(s, MESSAGE_LINE_MAX);
        let lines = |v: &Vec<String>| v.iter().take(MESSAGE_LINES_MAX).map(line).collect();
        AlertMessage {
            value_text: self.value_text.as_ref().map(line),
            threshold_text: self.threshold_text.as_ref().map(line),
            trend: self.trend.as_ref().map(line),
            evidence: lines(&self.evidence),
            suspects: lines(&self.suspects),
            labels: self
                .labels
                .iter()
                .take(MESSAGE_LINES_MAX)
                .map(|(k, v)| (line(k), line(v)))
                .collect(),
            ..self.clone()
        }
    }

    pub fn is_resolved(&self) -> bool {
        self.status == AlertStatus::Resolved
    }

    /// The guide's name for the problem: "High Goroutine Count" (GUIDE §6), "High Memory
    /// Usage", "Goroutine Growth", "Target Down", …
    pub fn headline(&self) -> String {
        let metric = self.metric.as_str();
        match (self.rule_kind.as_str(), metric) {
            ("down", _) => "Target Down".to_string(),
            ("trend" | "baseline", "goroutines") => "Goroutine Growth".to_string(),
            ("trend" | "baseline", "memory") => "Memory Growth".to_string(),
            ("trend" | "baseline", m) => format!("{} Growth", title_case(m)),
            (_, "goroutines") => "High Goroutine Count".to_string(),
            (_, "memory") => "High Memory Usage".to_string(),
            (_, m) => format!("High {}", title_case(m)),
        }
    }

    /// The value as shown: `value_text`, or the number without needless decimals.
    pub fn value_shown(&self) -> String {
        self.value_text
            .clone()
            .unwrap_or_else(|| number(self.value))
    }

    pub fn threshold_shown(&self) -> String {
        self.threshold_text
            .clone()
            .unwrap_or_else(|| number(self.threshold))
    }

    /// A message for `leakhound notify test NAME`: info level, marked as a test.
    pub fn test_message(now_ms: i64) -> AlertMessage {
        AlertMessage {
            status: AlertStatus::Firing,
            rule: "leakhound_test".to_string(),
            rule_kind: "level".to_string(),
            level: Severity::Info,
            target: "leakhound".to_string(),
            metric: "goroutines".to_string(),
            value: 0.0,
            threshold: 0.0,
            value_text: Some("test".to_string()),
            threshold_text: Some("-".to_string()),
            started_at_ms: now_ms,
            ended_at_ms: None,
            held_ms: 0,
            trend: None,
            evidence: vec![
                "这是一条测试消息 This is a test message from `leakhound notify test`.".to_string(),
            ],
            suspects: Vec::new(),
            labels: BTreeMap::new(),
            idempotency_key: format!("test-{now_ms}"),
            generator_url: None,
        }
    }
}

fn title_case(s: &str) -> String {
    s.split(['_', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `12034`, `0.5`, `1234.57`: integers without `.0`, others with up to two decimals.
pub fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_headlines() {
        assert_eq!(number(12034.0), "12034");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(1234.567), "1234.57");
        let mut m = AlertMessage::test_message(0);
        assert_eq!(m.headline(), "High Goroutine Count");
        m.metric = "memory".into();
        assert_eq!(m.headline(), "High Memory Usage");
        m.rule_kind = "trend".into();
        assert_eq!(m.headline(), "Memory Growth");
        m.metric = "open_fds".into();
        assert_eq!(m.headline(), "Open Fds Growth");
        m.rule_kind = "down".into();
        assert_eq!(m.headline(), "Target Down");
    }

    #[test]
    fn json_round_trip_with_defaults() {
        let m = AlertMessage::test_message(5);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<AlertMessage>(&json).unwrap(), m);
        let minimal: AlertMessage = serde_json::from_str(
            r#"{"status":"resolved","rule":"r","level":"critical","target":"t","value":1,
                "threshold":2,"started_at_ms":0,"idempotency_key":"k"}"#,
        )
        .unwrap();
        assert_eq!(minimal.metric, "goroutines");
        assert!(minimal.is_resolved());
    }
}
