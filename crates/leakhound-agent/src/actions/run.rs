//! Running an action: the evidence first (no bundle, no run, unless the action allows it), then
//! the action or, in a dry run, only its record; every run recorded and announced. The end of a
//! run's recovery watch (recovered or not), and the messages remediation queues.

use super::task::{Remediation, Watch};
use super::{execute, outcome};
use crate::evidence::CaptureRequest;
use crate::view::AgentEvent;
use leakhound_core::config::{ActionConfig, TargetConfig};
use leakhound_core::rules::Transition;
use leakhound_core::Sample;
use leakhound_core::Severity;
use leakhound_notify::{AlertMessage, AlertStatus};
use leakhound_store::{ActionRun, Bundle};
use std::collections::BTreeMap;

fn human_ms(ms: i64) -> String {
    leakhound_core::units::human_duration(std::time::Duration::from_millis(
        u64::try_from(ms).unwrap_or(0),
    ))
}

impl Remediation {
    /// Capture the evidence, then run (or dry-run) the action, record and notify.
    pub(super) async fn run(
        &mut self,
        target: &TargetConfig,
        action: &ActionConfig,
        rule: &str,
        incident: &str,
        sample: &Sample,
    ) {
        let key = (target.name.clone(), action.name.clone());
        let before = sample.metrics.goroutines;
        let started_ms = self.clock.now_ms();
        let dry_run = self.config.actions.dry_run;
        // 1. The evidence, always first.
        let capture = self
            .capture(
                target,
                CaptureRequest {
                    trigger: format!("action:{}", action.name),
                    incident: incident.to_string(),
                    latest: Some(sample.clone()),
                    automatic: false,
                    now_ms: started_ms,
                },
            )
            .await;
        let (bundle, evidence_error) = match capture {
            Ok(b) if b.has_profile() => (Some(b), None),
            Ok(b) => {
                let why = b
                    .error
                    .clone()
                    .unwrap_or_else(|| "no goroutine profile".into());
                (Some(b), Some(why))
            }
            Err(e) => (None, Some(e.to_string())),
        };
        let mut record = ActionRun {
            id: 0,
            target: target.name.clone(),
            action: action.name.clone(),
            kind: action.kind.name().to_string(),
            trigger: format!("alert:{rule}"),
            incident: Some(incident.to_string()),
            started_ms,
            duration_ms: None,
            command: action.kind.describe(),
            exit_code: None,
            output_tail: None,
            error: None,
            dry_run,
            bundle_id: bundle.as_ref().map(|b| b.id),
            before_goroutines: before,
            after_goroutines: None,
            outcome: String::new(),
            updated_ms: started_ms,
        };
        if let (Some(why), true) = (&evidence_error, action.require_evidence) {
            record.outcome = outcome::NO_EVIDENCE.to_string();
            record.error = Some(format!(
                "not run: the evidence could not be saved ({why}) and the action has require_evidence = true"
            ));
            let id = self.record_run(record.clone()).await;
            if let Some(state) = self.policies.get_mut(&key) {
                state.finished(self.clock.now_ms(), false);
            }
            tracing::error!(target_name = %target.name, action = %action.name, "{}", record.error.clone().unwrap_or_default());
            let m = self.action_message(
                action,
                &target.name,
                "not_run_no_evidence",
                id,
                before,
                None,
                bundle.as_ref(),
                vec![record.error.unwrap_or_default()],
            );
            self.notify(m).await;
            return;
        }
        // 2. The action.
        if dry_run {
            record.outcome = outcome::DRY_RUN.to_string();
            record.duration_ms = Some(0);
            record.error = evidence_error.clone();
            let id = self.record_run(record.clone()).await;
            if let Some(state) = self.policies.get_mut(&key) {
                state.finished(self.clock.now_ms(), false);
            }
            tracing::warn!(target_name = %target.name, action = %action.name, "dry run: would run {} (goroutines {})", record.command, before.unwrap_or(0));
            let m = self.action_message(
                action,
                &target.name,
                "dry_run",
                id,
                before,
                None,
                bundle.as_ref(),
                vec![format!(
                    "dry run: would have run '{}' {}",
                    action.name, record.command
                )],
            );
            self.notify(m).await;
            return;
        }
        tracing::warn!(target_name = %target.name, action = %action.name, "running {} (goroutines {}, evidence {})", record.command, before.unwrap_or(0), bundle.as_ref().map_or("none".to_string(), |b| b.dir.display().to_string()));
        let result = execute(action, target).await;
        record.duration_ms = Some(result.duration_ms);
        record.exit_code = result.exit_code;
        record.output_tail = (!result.output_tail.is_empty()).then(|| result.output_tail.clone());
        record.error = match (&result.error, &evidence_error) {
            (Some(e), Some(ev)) => Some(format!("{e}; evidence: {ev}")),
            (Some(e), None) => Some(e.clone()),
            (None, Some(ev)) => Some(format!("ran without evidence: {ev}")),
            (None, None) => None,
        };
        record.outcome = if result.ok {
            outcome::RAN
        } else {
            outcome::FAILED
        }
        .to_string();
        record.updated_ms = self.clock.now_ms();
        let id = self.record_run(record.clone()).await;
        if let Some(state) = self.policies.get_mut(&key) {
            state.finished(self.clock.now_ms(), result.ok);
        }
        if result.ok {
            tracing::warn!(target_name = %target.name, action = %action.name, "ran {} in {}", record.command, human_ms(result.duration_ms));
            self.watches.insert(
                key,
                Watch {
                    run_id: id,
                    before,
                    bundle: bundle.clone(),
                    command: record.command.clone(),
                },
            );
            let m = self.action_message(
                action,
                &target.name,
                "action_ran",
                id,
                before,
                None,
                bundle.as_ref(),
                vec![format!(
                    "ran '{}' {} in {}; watching for goroutines under {} within {}",
                    action.name,
                    record.command,
                    human_ms(result.duration_ms),
                    action.recover_below,
                    leakhound_core::units::human_duration(action.recover_within)
                )],
            );
            self.notify(m).await;
        } else {
            let error = record.error.clone().unwrap_or_default();
            tracing::error!(target_name = %target.name, action = %action.name, "{} failed: {error}", record.command);
            let mut lines = vec![format!(
                "'{}' {} failed: {error}",
                action.name, record.command
            )];
            if let Some(tail) = &record.output_tail {
                lines.push(format!("output: {}", tail.trim_end()));
            }
            let m = self.action_message(
                action,
                &target.name,
                "action_failed",
                id,
                before,
                None,
                bundle.as_ref(),
                lines,
            );
            self.notify(m).await;
        }
    }

    pub(super) async fn recovery(
        &mut self,
        action: &ActionConfig,
        target: &str,
        after: Option<u64>,
        recovered: bool,
    ) {
        let key = (target.to_string(), action.name.clone());
        let Some(watch) = self.watches.remove(&key) else {
            return;
        };
        let now = self.clock.now_ms();
        let outcome = if recovered {
            outcome::RECOVERED
        } else {
            outcome::NOT_RECOVERED
        };
        let id = watch.run_id;
        if let Some(Some(run)) = self
            .with_store(move |s| s.finish_run(id, outcome, after, now))
            .await
        {
            self.view.publish(AgentEvent::ActionRun(run));
        }
        let before = watch.before.map_or("?".to_string(), |b| b.to_string());
        let after_text = after.map_or("?".to_string(), |a| a.to_string());
        let (event, line) = if recovered {
            tracing::info!(target_name = %target, action = %action.name, "recovered after {}: goroutines {before} → {after_text}", watch.command);
            (
                "recovered",
                format!(
                    "recovered: goroutines {before} before '{}', {after_text} after (under {})",
                    action.name, action.recover_below
                ),
            )
        } else {
            tracing::error!(target_name = %target, action = %action.name, "did not recover within {} after {}: goroutines {before} → {after_text}", leakhound_core::units::human_duration(action.recover_within), watch.command);
            (
                "not_recovered",
                format!(
                    "did not recover: goroutines {before} before '{}', still {after_text} {} later (mark {}); look at it now",
                    action.name,
                    leakhound_core::units::human_duration(action.recover_within),
                    action.recover_below
                ),
            )
        };
        let m = self.action_message(
            action,
            target,
            event,
            id,
            watch.before,
            after,
            watch.bundle.as_ref(),
            vec![line],
        );
        self.notify(m).await;
    }

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
            level: Severity::Info,
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
            suspects: bundle
                .suspects
                .iter()
                .map(crate::evidence::suspect_line)
                .collect(),
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
            "recovered" | "dry_run" => Severity::Info,
            "action_ran" => Severity::Warning,
            _ => Severity::Critical,
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
                .map(|b| {
                    b.suspects
                        .iter()
                        .map(crate::evidence::suspect_line)
                        .collect()
                })
                .unwrap_or_default(),
            labels,
            idempotency_key: format!("{event}-{target}-{}-{run_id}-{now}", action.name),
            generator_url: None,
        }
    }
}
