//! Remediation: evidence capture and the `[[actions]]` that may restart a service — the
//! guide's L3 auto-restart (GUIDE §9), done so that it never destroys the evidence and cannot
//! restart-loop.
//!
//! The agent's ingest loop hands every sample, with the alert transitions it caused, to one
//! remediation task through a bounded channel ([`spawn`]); when the channel is full the
//! observation is dropped with a warning, so a slow dump or command never stalls probing.
//! The task
//! 1. captures an evidence bundle when an alert starts firing (rate-limited per target), and
//!    sends a follow-up message naming the bundle and its top suspects (the alert itself went
//!    out before the capture finished);
//! 2. runs each action's policy ([`leakhound_core::remediation`]: `for`, cooldown, storm
//!    guard, kill switch, recovery watch) and, when it says run: captures a fresh bundle first
//!    — **no bundle, no run** (unless `require_evidence = false`, and then the failed capture
//!    is recorded) — then runs the action (or, in a dry run, only records what it would run);
//! 3. records every run in the store (`action_runs`) and notifies: action ran, recovered /
//!    did not recover, action failed, and "needs a human" once when the storm guard trips.
//!
//! One module per kind: [`command`] (argv, never a shell), [`container`] (Docker Engine API),
//! [`signal`] (a local PID), [`http`].

pub mod command;
pub mod container;
pub mod http;
pub mod signal;

use crate::evidence::{CaptureRequest, Capturer};
use crate::outbox::Wakers;
use leakhound_core::config::{ActionConfig, ActionKind, Config, TargetConfig};
use leakhound_core::remediation::{Decision, Policy, PolicyState};
use leakhound_core::rules::{ActiveAlert, Transition, TransitionKind};
use leakhound_core::Sample;
use leakhound_core::Severity;
use leakhound_notify::{AlertMessage, AlertStatus};
use leakhound_store::{ActionRun, Bundle, Db, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What one run of an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    pub ok: bool,
    /// The program's exit status (command), the HTTP status (http).
    pub exit_code: Option<i32>,
    /// The end of its output.
    pub output_tail: String,
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl RunResult {
    pub(crate) fn failed(error: String, started: Instant) -> RunResult {
        RunResult {
            ok: false,
            exit_code: None,
            output_tail: String::new(),
            error: Some(error),
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(0),
        }
    }
}

/// Run an action once, now (no policy, no evidence: the caller does those).
pub async fn execute(action: &ActionConfig, target: &TargetConfig) -> RunResult {
    match &action.kind {
        ActionKind::Command { argv, env, cwd } => {
            command::run(argv, env, cwd.as_deref(), action.timeout).await
        }
        ActionKind::Container {
            container,
            docker_host,
        } => container::run(container, docker_host.as_deref(), action.timeout).await,
        ActionKind::Signal {
            signal,
            pid,
            pid_file,
        } => {
            let (signal, pid, pid_file, fallback) = (
                signal.clone(),
                pid.clone(),
                pid_file.clone(),
                target.process.clone(),
            );
            let started = Instant::now();
            tokio::task::spawn_blocking(move || {
                signal::run(
                    &signal,
                    pid.as_ref(),
                    pid_file.as_deref(),
                    fallback.as_ref(),
                )
            })
            .await
            .unwrap_or_else(|e| RunResult::failed(format!("signal task failed: {e}"), started))
        }
        ActionKind::Http { url, method } => http::run(method, url, action.timeout).await,
    }
}

/// How a run ended (the `outcome` column).
pub mod outcome {
    /// Ran; the recovery watch is on.
    pub const RAN: &str = "ran";
    /// Ran and goroutines fell under the mark in time.
    pub const RECOVERED: &str = "recovered";
    /// Ran, but the service did not recover in time (escalated).
    pub const NOT_RECOVERED: &str = "not_recovered";
    /// The action failed (non-zero exit, timeout, error; escalated).
    pub const FAILED: &str = "failed";
    /// Dry run: recorded what would have run.
    pub const DRY_RUN: &str = "dry_run";
    /// Not run: no evidence could be saved and the action requires it (escalated).
    pub const NO_EVIDENCE: &str = "skipped_no_evidence";
    /// Not run: the storm guard tripped (escalated once).
    pub const NEEDS_HUMAN: &str = "needs_human";
}

/// One sample and the alert transitions it caused, from the ingest loop.
#[derive(Debug, Clone)]
pub struct Observation {
    pub sample: Sample,
    pub transitions: Vec<Transition>,
}

/// Capacity of the channel from the ingest loop.
pub const CHANNEL_CAPACITY: usize = 1024;

/// Whether remediation has anything to do for this config (evidence on alerts or actions).
pub fn wanted(config: &Config) -> bool {
    !config.actions.actions.is_empty() || config.actions.evidence.on_alerts
}

/// The run in flight or being watched, per (target, action).
#[derive(Debug, Clone)]
struct Watch {
    run_id: i64,
    before: Option<u64>,
    bundle: Option<Bundle>,
    command: String,
}

/// The remediation task's state.
struct Remediation {
    config: Arc<Config>,
    capturer: Capturer,
    store: Db,
    wakers: Wakers,
    /// Firing alerts per target: rule → (started_at, fingerprint).
    firing: HashMap<String, BTreeMap<String, (i64, String)>>,
    /// Policy per (target, action name).
    policies: HashMap<(String, String), PolicyState>,
    watches: HashMap<(String, String), Watch>,
}

/// Start the remediation task. `active`: the alerts already firing (restored from the store),
/// so an incident that began before an agent restart still triggers its actions. The task
/// ends when every sender is dropped.
pub fn spawn(
    config: Arc<Config>,
    db: Db,
    wakers: Wakers,
    active: Vec<ActiveAlert>,
) -> Result<(mpsc::Sender<Observation>, JoinHandle<()>), StoreError> {
    let capturer = Capturer::new(&config.actions.evidence, &db)?;
    let reader = db.reader();
    let now = crate::agent::now_ms();
    let mut policies = HashMap::new();
    for a in &config.actions.actions {
        let policy = Policy::from_config(a);
        let since = now.saturating_sub(policy.window_ms);
        let history = reader
            .with(|s| s.run_starts(&a.target, &a.name, since))
            .unwrap_or_default();
        policies.insert(
            (a.target.clone(), a.name.clone()),
            PolicyState::new(policy, &history),
        );
    }
    let mut firing: HashMap<String, BTreeMap<String, (i64, String)>> = HashMap::new();
    for a in active {
        firing
            .entry(a.target)
            .or_default()
            .insert(a.rule, (a.started_at_ms, a.fingerprint));
    }
    let mut task = Remediation {
        config,
        capturer,
        store: db,
        wakers,
        firing,
        policies,
        watches: HashMap::new(),
    };
    let (tx, mut rx) = mpsc::channel::<Observation>(CHANNEL_CAPACITY);
    let handle = tokio::spawn(async move {
        task.capturer.load_rate_limits().await;
        while let Some(obs) = rx.recv().await {
            task.observe(obs).await;
        }
    });
    Ok((tx, handle))
}

fn human_ms(ms: i64) -> String {
    leakhound_core::units::human_duration(std::time::Duration::from_millis(
        u64::try_from(ms).unwrap_or(0),
    ))
}

impl Remediation {
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Option<T> {
        match self.store.write(f).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!("remediation store: {e}");
                None
            }
        }
    }

    /// Queue a message on every notifier and wake them.
    async fn notify(&self, message: AlertMessage) {
        let channels = self.wakers.channels();
        if channels.is_empty() {
            return;
        }
        let payload = serde_json::to_string(&message).unwrap_or_default();
        let key = message.idempotency_key.clone();
        let now = crate::agent::now_ms();
        let queued = self
            .store
            .write(move |o| {
                let mut n = 0;
                for c in &channels {
                    match o.enqueue(c, &key, &payload, now) {
                        Ok(true) => n += 1,
                        Ok(false) => {}
                        Err(e) => tracing::error!("cannot queue a remediation message: {e}"),
                    }
                }
                Ok(n)
            })
            .await
            .unwrap_or(0);
        if queued > 0 {
            self.wakers.wake_all();
        }
    }

    async fn observe(&mut self, obs: Observation) {
        let target_name = obs.sample.target.clone();
        let Some(target) = self
            .config
            .targets
            .iter()
            .find(|t| t.name == target_name)
            .cloned()
        else {
            return;
        };
        let now = obs.sample.ts_ms;
        let goroutines = obs.sample.metrics.goroutines;
        for t in &obs.transitions {
            let firing = self.firing.entry(target_name.clone()).or_default();
            match t.kind {
                TransitionKind::Firing | TransitionKind::Repeat => {
                    firing.insert(t.rule.clone(), (t.started_at_ms, t.fingerprint.clone()));
                }
                TransitionKind::Resolved => {
                    firing.remove(&t.rule);
                }
            }
        }
        // Evidence when an alert starts firing: on every target with `on_alerts`, and always on
        // targets with actions (their restart would destroy it).
        let has_actions = self
            .config
            .actions
            .for_target(&target_name)
            .next()
            .is_some();
        if self.config.actions.evidence.on_alerts || has_actions {
            let started: Vec<&Transition> = obs
                .transitions
                .iter()
                .filter(|t| t.kind == TransitionKind::Firing && t.rule_kind != "down")
                .collect();
            if let Some(t) = started.first() {
                let req = CaptureRequest {
                    trigger: format!("alert:{}", t.rule),
                    incident: t.fingerprint.clone(),
                    latest: Some(obs.sample.clone()),
                    automatic: true,
                    now_ms: now,
                };
                match self.capturer.capture(&target, req).await {
                    // The alert's own message named the suspects (from the dump task's
                    // verdict): the bundle is kept, no second message.
                    Ok(_) if !t.evidence.top_growing.is_empty() => {}
                    Ok(bundle) => {
                        let m = self.evidence_message(&bundle, t);
                        self.notify(m).await;
                    }
                    Err(e) => {
                        tracing::info!(target_name = %target_name, "no evidence captured: {e}")
                    }
                }
            }
        }
        // Actions.
        let actions: Vec<ActionConfig> = self
            .config
            .actions
            .for_target(&target_name)
            .cloned()
            .collect();
        for action in actions {
            let key = (target_name.clone(), action.name.clone());
            let trigger = self.firing.get(&target_name).and_then(|f| {
                f.iter()
                    .filter(|(rule, _)| action.trigger_rules.contains(rule))
                    .min_by_key(|(_, (since, _))| *since)
                    .map(|(rule, (since, fp))| (rule.clone(), *since, fp.clone()))
            });
            let Some(state) = self.policies.get_mut(&key) else {
                continue;
            };
            // Act only on a sample that shows the problem: not while the target is down or
            // being restarted (its alert may still be firing from before).
            let decision = state.observe(
                now,
                trigger
                    .as_ref()
                    .filter(|_| goroutines.is_some())
                    .map(|(_, since, _)| *since),
                goroutines,
                self.config.actions.enabled,
            );
            match decision {
                None => {}
                Some(Decision::Run) => {
                    let (rule, _, incident) = trigger.unwrap_or_default();
                    self.run(&target, &action, &rule, &incident, &obs.sample)
                        .await;
                }
                Some(Decision::Recovered { after }) => {
                    self.recovery(&action, &target_name, Some(after), true)
                        .await;
                }
                Some(Decision::NotRecovered { after }) => {
                    self.recovery(&action, &target_name, after, false).await;
                }
                Some(Decision::NeedsHuman { runs }) => {
                    let (rule, _, incident) = trigger.unwrap_or_default();
                    let record = ActionRun {
                        id: 0,
                        target: target_name.clone(),
                        action: action.name.clone(),
                        kind: action.kind.name().to_string(),
                        trigger: format!("alert:{rule}"),
                        incident: Some(incident),
                        started_ms: now,
                        duration_ms: None,
                        command: action.kind.describe(),
                        exit_code: None,
                        output_tail: None,
                        error: Some(format!(
                            "storm guard: {runs} runs within {}; not acting again until a human looks",
                            leakhound_core::units::human_duration(action.window)
                        )),
                        dry_run: self.config.actions.dry_run,
                        bundle_id: None,
                        before_goroutines: goroutines,
                        after_goroutines: None,
                        outcome: outcome::NEEDS_HUMAN.to_string(),
                        updated_ms: now,
                    };
                    let id = self
                        .with_store(move |s| s.insert_run(&record))
                        .await
                        .unwrap_or(0);
                    tracing::error!(
                        target_name = %target_name,
                        action = %action.name,
                        "needs a human: '{}' ran {runs} times within {} and the service keeps leaking; leakhound stops acting on it",
                        action.name,
                        leakhound_core::units::human_duration(action.window)
                    );
                    let m = self.action_message(
                        &action,
                        &target_name,
                        "needs_human",
                        id,
                        goroutines,
                        None,
                        None,
                        vec![format!(
                            "needs a human: '{}' ran {runs} times within {} and {target_name} keeps leaking; leakhound stopped acting on it",
                            action.name,
                            leakhound_core::units::human_duration(action.window)
                        )],
                    );
                    self.notify(m).await;
                }
            }
        }
    }

    /// Capture the evidence, then run (or dry-run) the action, record and notify.
    async fn run(
        &mut self,
        target: &TargetConfig,
        action: &ActionConfig,
        rule: &str,
        incident: &str,
        sample: &Sample,
    ) {
        let key = (target.name.clone(), action.name.clone());
        let before = sample.metrics.goroutines;
        let started_ms = crate::agent::now_ms();
        let dry_run = self.config.actions.dry_run;
        // 1. The evidence, always first.
        let capture = self
            .capturer
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
            let r = record.clone();
            let id = self
                .with_store(move |s| s.insert_run(&r))
                .await
                .unwrap_or(0);
            if let Some(state) = self.policies.get_mut(&key) {
                state.finished(crate::agent::now_ms(), false);
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
            let r = record.clone();
            let id = self
                .with_store(move |s| s.insert_run(&r))
                .await
                .unwrap_or(0);
            if let Some(state) = self.policies.get_mut(&key) {
                state.finished(crate::agent::now_ms(), false);
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
        record.updated_ms = crate::agent::now_ms();
        let r = record.clone();
        let id = self
            .with_store(move |s| s.insert_run(&r))
            .await
            .unwrap_or(0);
        if let Some(state) = self.policies.get_mut(&key) {
            state.finished(crate::agent::now_ms(), result.ok);
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

    async fn recovery(
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
        let now = crate::agent::now_ms();
        let outcome = if recovered {
            outcome::RECOVERED
        } else {
            outcome::NOT_RECOVERED
        };
        let id = watch.run_id;
        self.with_store(move |s| s.finish_run(id, outcome, after, now))
            .await;
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

    fn evidence_message(&self, bundle: &Bundle, t: &Transition) -> AlertMessage {
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
    fn action_message(
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
        let now = crate::agent::now_ms();
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

/// Capture one bundle now (`leakhound capture`): not rate-limited, recorded in the store at
/// `db` under the incident `manual`.
pub async fn capture_now(
    config: &Config,
    target: &TargetConfig,
    db: &Path,
    latest: Option<Sample>,
) -> Result<Bundle, crate::evidence::CaptureError> {
    let db = Db::open(db)?;
    let mut capturer = Capturer::new(&config.actions.evidence, &db)?;
    let now = crate::agent::now_ms();
    capturer
        .capture(
            target,
            CaptureRequest {
                trigger: "manual".into(),
                // One incident for all manual captures of a target: its first is kept, the
                // rest are pruned oldest first like any other bundle.
                incident: "manual".into(),
                latest,
                automatic: false,
                now_ms: now,
            },
        )
        .await
}
