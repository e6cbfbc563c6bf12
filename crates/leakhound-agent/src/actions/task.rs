//! The remediation task: what it remembers (firing alerts, each action's policy, the runs being
//! watched) and what it decides on each observation — capture evidence for a new alert, run an
//! action, end a recovery watch, or call for a human.

use super::{outcome, Observation, CHANNEL_CAPACITY};
use crate::clock::Clock;
use crate::evidence::{CaptureError, CaptureRequest, Capturer};
use crate::fleet::Fleet;
use crate::outbox::Wakers;
use crate::view::{AgentEvent, AgentView};
use leakhound_core::config::{ActionConfig, Config, TargetConfig};
use leakhound_core::remediation::{Decision, Policy, PolicyState};
use leakhound_core::rules::{ActiveAlert, Transition, TransitionKind};
use leakhound_notify::AlertMessage;
use leakhound_store::{ActionRun, Bundle, Db, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The run in flight or being watched, per (target, action).
#[derive(Debug, Clone)]
pub(super) struct Watch {
    pub(super) run_id: i64,
    pub(super) before: Option<u64>,
    pub(super) bundle: Option<Bundle>,
    pub(super) command: String,
}

/// The remediation task's state.
pub(super) struct Remediation {
    pub(super) config: Arc<Config>,
    pub(super) capturer: Capturer,
    pub(super) store: Db,
    pub(super) wakers: Wakers,
    pub(super) clock: Clock,
    /// Where bundles and runs are published for live views.
    pub(super) view: AgentView,
    /// The watched targets, to look a target up by name.
    pub(super) fleet: Fleet,
    /// Firing alerts per target: rule → (started_at, fingerprint).
    pub(super) firing: HashMap<String, BTreeMap<String, (i64, String)>>,
    /// Policy per (target, action name).
    pub(super) policies: HashMap<(String, String), PolicyState>,
    pub(super) watches: HashMap<(String, String), Watch>,
}

/// Start the remediation task. `active`: the alerts already firing (restored from the store),
/// so an incident that began before an agent restart still triggers its actions. The task
/// ends when every sender is dropped.
pub fn spawn(
    config: Arc<Config>,
    db: Db,
    wakers: Wakers,
    active: Vec<ActiveAlert>,
    clock: Clock,
    view: AgentView,
    fleet: Fleet,
) -> Result<(mpsc::Sender<Observation>, JoinHandle<()>), StoreError> {
    let capturer = Capturer::new(&config.actions.evidence, &db)?;
    let reader = db.reader();
    let now = clock.now_ms();
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
        clock,
        view,
        fleet,
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

impl Remediation {
    /// Capture an evidence bundle and publish it.
    pub(super) async fn capture(
        &mut self,
        target: &TargetConfig,
        req: CaptureRequest,
    ) -> Result<Bundle, CaptureError> {
        let bundle = self.capturer.capture(target, req).await?;
        self.view.publish(AgentEvent::Bundle(bundle.clone()));
        Ok(bundle)
    }

    /// Record a run and publish it; its id (0 when the store failed, which is logged).
    pub(super) async fn record_run(&self, mut record: ActionRun) -> i64 {
        let r = record.clone();
        let id = self
            .with_store(move |s| s.insert_run(&r))
            .await
            .unwrap_or(0);
        record.id = id;
        self.view.publish(AgentEvent::ActionRun(record));
        id
    }

    pub(super) async fn with_store<T: Send + 'static>(
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
    pub(super) async fn notify(&self, message: AlertMessage) {
        let channels = self.wakers.channels();
        if channels.is_empty() {
            return;
        }
        let payload = serde_json::to_string(&message).unwrap_or_default();
        let key = message.idempotency_key.clone();
        let now = self.clock.now_ms();
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
        let Some(target) = self.fleet.get(&target_name) else {
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
                match self.capture(&target, req).await {
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
                    let id = self.record_run(record).await;
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
}
