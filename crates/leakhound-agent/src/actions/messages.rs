//! The messages remediation queues for the notifiers: evidence saved for an alert, and each
//! action event (ran, dry run, failed, recovered, not recovered, not run, needs a human).

use super::task::Remediation;
use leakhound_core::config::ActionConfig;
use leakhound_core::rules::Transition;
use leakhound_notify::{AlertLevel, AlertMessage, AlertStatus};
use leakhound_store::Bundle;
use std::collections::BTreeMap;

impl Remediation {
    pub(super) fn evidence_message(&self, bundle: &Bundle, t: &Transition) -> AlertMessage {
        let mut evidence = vec![format!(
            "evidence for alert {} ({}) saved in {}",
            t.rule,
            t.evidence.summary,
            bundle.dir.display()
        )];
        if let Some(e) = &bundle.error {
            evidence.push(format!("capture problems: {e}"));
        }
        let mut labels = BTreeMap::new();
        labels.insert("event".to_string(), "evidence_captured".to_string());
        labels.insert("bundle".to_string(), bundle.dir.display().to_string());
        labels.insert("alert_fingerprint".to_string(), t.fingerprint.clone());
        AlertMessage {
            status: AlertStatus::Firing,
            rule: t.rule.clone(),
            rule_kind: t.rule_kind.clone(),
            level: AlertLevel::Info,
            target: bundle.target.clone(),
            metric: "goroutines".into(),
            value: bundle.goroutines.unwrap_or(0) as f64,
            threshold: t.threshold,
            value_text: bundle.goroutines.map(|g| g.to_string()),
            // The alert's threshold on its own scale: a growth rule's is a rate (+600/h).
            threshold_text: match (t.rule_kind.as_str(), t.metric) {
                ("trend", Some(m)) => Some(m.format_rate(t.threshold)),
                (_, Some(m)) => Some(m.format(t.threshold)),
                _ => None,
            },
            started_at_ms: t.started_at_ms,
            ended_at_ms: None,
            held_ms: t.evidence.held_ms,
            trend: None,
            evidence,
            suspects: bundle.suspects.iter().map(|s| s.line()).collect(),
            labels,
            idempotency_key: format!("evidence-{}-{}", bundle.target, bundle.id),
            generator_url: None,
        }
    }

    #[allow(clippy::too_many_arguments)] // one message builder for every remediation event
    pub(super) fn action_message(
        &self,
        action: &ActionConfig,
        target: &str,
        event: &str,
        run_id: i64,
        before: Option<u64>,
        after: Option<u64>,
        bundle: Option<&Bundle>,
        mut evidence: Vec<String>,
    ) -> AlertMessage {
        let now = self.clock.now_ms();
        if let Some(b) = before {
            evidence.push(format!("goroutines before: {b}"));
        }
        if let Some(a) = after {
            evidence.push(format!("goroutines after: {a}"));
        }
        match bundle {
            Some(b) => evidence.push(format!("evidence bundle: {}", b.dir.display())),
            None => evidence.push("evidence bundle: none".to_string()),
        }
        let level = match event {
            "recovered" | "dry_run" => AlertLevel::Info,
            "action_ran" => AlertLevel::Warning,
            _ => AlertLevel::Critical,
        };
        let mut labels = BTreeMap::new();
        labels.insert("event".to_string(), event.to_string());
        labels.insert("action".to_string(), action.name.clone());
        labels.insert("action_kind".to_string(), action.kind.name().to_string());
        labels.insert("run_id".to_string(), run_id.to_string());
        if let Some(b) = before {
            labels.insert("before_goroutines".to_string(), b.to_string());
        }
        if let Some(a) = after {
            labels.insert("after_goroutines".to_string(), a.to_string());
        }
        if let Some(b) = bundle {
            labels.insert("bundle".to_string(), b.dir.display().to_string());
        }
        AlertMessage {
            status: if event == "recovered" {
                AlertStatus::Resolved
            } else {
                AlertStatus::Firing
            },
            rule: format!("action:{}", action.name),
            rule_kind: "level".into(),
            level,
            target: target.to_string(),
            metric: "goroutines".into(),
            value: after.or(before).unwrap_or(0) as f64,
            threshold: action.recover_below as f64,
            value_text: None,
            threshold_text: None,
            started_at_ms: now,
            ended_at_ms: (event == "recovered").then_some(now),
            held_ms: 0,
            trend: None,
            evidence,
            suspects: bundle
                .map(|b| b.suspects.iter().map(|s| s.line()).collect())
                .unwrap_or_default(),
            labels,
            idempotency_key: format!("{event}-{target}-{}-{run_id}-{now}", action.name),
            generator_url: None,
        }
    }
}
