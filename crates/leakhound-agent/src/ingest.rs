//! The agent's ingest loop state: every sample goes through the alert rules, the guide's log
//! lines, the dump and remediation tasks, remote write and the store writer, in that order;
//! and the watched set changes here (discovery, reload), so a target that leaves is retired
//! between two samples, never in the middle of one.

use crate::actions::Observation;
use crate::agent::AgentError;
use crate::alerting::Alerting;
use crate::clock::Clock;
use crate::dump_task::{DumpRequest, DumpState};
use crate::fleet::{Changes, Fleet, Sources};
use crate::guide_log::GuideLog;
use crate::probers::{Probed, ProberPool};
use crate::remote_write::Queue;
use crate::view::{AgentEvent, AgentView};
use leakhound_core::config::Config;
use leakhound_core::rules::Transition;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Why a retired target's alerts end.
pub const TARGET_GONE: &str = "target gone";

/// What a reload did (logged, and the answer of `POST /-/reload`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReloadReport {
    pub changes: Changes,
    /// Sections that changed but only take effect after a restart.
    pub restart_needed: Vec<&'static str>,
    /// Whether the alert rules (`[levels]`, `[alerts]`) were replaced.
    pub rules_replaced: bool,
    /// Targets that could not be started, with why.
    pub failed: Vec<String>,
}

impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.changes)?;
        if self.rules_replaced {
            write!(f, "; alert rules replaced")?;
        }
        if !self.failed.is_empty() {
            write!(f, "; not started: {}", self.failed.join("; "))?;
        }
        if !self.restart_needed.is_empty() {
            write!(
                f,
                "; changed but kept until a restart: {}",
                self.restart_needed.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The sections a running agent cannot change (everything but its targets, shard, discovery,
/// levels and alert rules), by name, that differ between `old` and `new`.
fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut agent = new.agent.clone();
    agent.shard = old.agent.shard;
    [
        ("[agent]", old.agent != agent),
        ("[[notifiers]]", old.notifiers != new.notifiers),
        ("[web]", old.web != new.web),
        ("[evidence]/[[actions]]", old.actions != new.actions),
        ("[remote_write]", old.remote_write != new.remote_write),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}

/// Everything the ingest loop owns.
pub(crate) struct Ingest {
    pub config: Config,
    pub alerting: Alerting,
    pub guide_log: GuideLog,
    pub view: AgentView,
    pub clock: Clock,
    pub dump_tx: Option<mpsc::Sender<DumpRequest>>,
    pub dump_state: HashMap<String, DumpState>,
    pub remedy_tx: Option<mpsc::Sender<Observation>>,
    /// Targets with `[[actions]]`: their plain samples matter to remediation too.
    pub action_targets: HashSet<String>,
    pub remote_queue: Option<Arc<Queue>>,
    pub store_tx: mpsc::Sender<Probed>,
    pub db: leakhound_store::Db,
    pub sources: Sources,
    pub fleet: Fleet,
    /// `None` once the agent is stopping.
    pub pool: Option<ProberPool>,
}

impl Ingest {
    /// One sample through everything. `false`: the store writer is gone.
    pub async fn sample(&mut self, probed: Probed) -> bool {
        self.guide_log.observe(&probed.sample);
        let transitions = self.alerting.observe(&probed.sample).await;
        // The sample, then the alert changes it caused (already in the store).
        self.view.publish(AgentEvent::Sample(probed.sample.clone()));
        self.publish(&transitions);
        if let Some(tx) = &self.dump_tx {
            let state = self
                .dump_state
                .entry(probed.sample.target.clone())
                .or_default();
            if let Some(req) = state.next(self.alerting.engine(), &probed.sample) {
                // A full queue drops the request; the engine asks again.
                let _ = tx.try_send(req);
            }
        }
        let for_remedy =
            !transitions.is_empty() || self.action_targets.contains(probed.sample.target.as_str());
        if let Some(tx) = self.remedy_tx.as_ref().filter(|_| for_remedy) {
            let obs = Observation {
                sample: probed.sample.clone(),
                transitions,
            };
            if let Err(mpsc::error::TrySendError::Full(obs)) = tx.try_send(obs) {
                if obs.transitions.is_empty() {
                    tracing::warn!(
                        target_name = %obs.sample.target,
                        "remediation is busy (a capture or an action is running); this sample is not checked for actions"
                    );
                } else {
                    // An alert changed: it must not be lost, and ingest must not wait.
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(obs).await;
                    });
                }
            }
        }
        if let Some(queue) = &self.remote_queue {
            queue.push(&probed.sample); // never blocks: a full queue drops its oldest
        }
        if self.store_tx.send(probed).await.is_err() {
            tracing::error!("the store writer stopped; samples can no longer be stored");
            return false;
        }
        true
    }

    fn publish(&self, transitions: &[Transition]) {
        for t in transitions {
            self.view.publish(AgentEvent::Transition(t.clone()));
        }
    }

    /// Watch what the sources want now: start, stop and restart probers, and — once every
    /// source has reported — retire every target the alert state knows that is not wanted
    /// (its alerts resolve as "target gone"; its history stays in the store).
    pub async fn reconcile(&mut self) -> (Changes, Vec<(String, AgentError)>) {
        let Some(pool) = self.pool.as_mut() else {
            return (Changes::default(), Vec::new());
        };
        let wanted = self.sources.wanted();
        for (name, block) in &wanted.duplicates {
            tracing::debug!(
                "discovery '{block}' also lists '{name}', which an earlier source names; kept the first"
            );
        }
        let old = self.fleet.current();
        let changes = Changes::between(&old, &wanted.targets);
        let failed = pool.apply(&wanted.targets);
        let started: Vec<_> = wanted
            .targets
            .into_iter()
            .filter(|t| !failed.iter().any(|(n, _)| *n == t.name))
            .collect();
        self.view.set_targets(&started, &changes.removed);
        // Labels of new and changed targets: into the alerts and the store (the store keeps
        // a removed target's last labels with its history).
        // A set: at start every one of (maybe 10 000) targets is new.
        let touched: HashSet<&str> = changes
            .added
            .iter()
            .chain(&changes.changed)
            .map(String::as_str)
            .collect();
        let relabelled: Vec<(String, std::collections::BTreeMap<String, String>)> = started
            .iter()
            .filter(|t| touched.contains(t.name.as_str()))
            .map(|t| (t.name.clone(), t.labels.clone()))
            .collect();
        for (name, labels) in &relabelled {
            self.alerting.set_target_labels(name, labels.clone());
            if let Some(queue) = &self.remote_queue {
                queue.set_target_labels(name, labels);
            }
        }
        let stored: Vec<_> = relabelled
            .into_iter()
            .filter(|(_, l)| !l.is_empty())
            .collect();
        if !stored.is_empty() {
            if let Err(e) = self.db.write(move |s| s.set_target_labels(&stored)).await {
                tracing::error!("cannot store the targets' labels: {e}");
            }
        }
        self.fleet.set(started);
        if self.sources.complete() {
            let keep: HashSet<String> = self
                .fleet
                .current()
                .iter()
                .map(|t| t.name.clone())
                .collect();
            let gone: Vec<String> = self
                .alerting
                .known_targets()
                .into_iter()
                .filter(|t| !keep.contains(t))
                .collect();
            let now = self.clock.now_ms();
            for name in gone {
                let transitions = self.alerting.retire(&name, now, TARGET_GONE).await;
                self.publish(&transitions);
                self.dump_state.remove(&name);
                if let Some(tx) = self.dump_tx.clone() {
                    // Not lost (the task would keep the target's dumps), and ingest does not
                    // wait for room in its queue.
                    tokio::spawn(async move {
                        let _ = tx.send(DumpRequest::Gone { target: name }).await;
                    });
                }
            }
        }
        if !changes.is_empty() {
            match self.config.agent.shard {
                Some(shard) => tracing::info!(
                    total = wanted.total,
                    shard = %shard,
                    "{changes} (this agent's share of {} targets)",
                    wanted.total
                ),
                None => tracing::info!(total = wanted.total, "{changes}"),
            }
        }
        for (name, e) in &failed {
            tracing::error!(target_name = %name, "cannot watch this target: {e}");
        }
        (changes, failed)
    }

    /// Apply `new` (already validated): targets, shard and discovery at once, the alert rules
    /// with their state kept; anything else is reported as needing a restart.
    pub async fn reload(&mut self, new: Config, blocks: Vec<String>) -> ReloadReport {
        let mut report = ReloadReport {
            restart_needed: restart_needed(&self.config, &new),
            ..ReloadReport::default()
        };
        if new.levels != self.config.levels || new.alerts != self.config.alerts {
            self.alerting.set_rules(new.alerts.active_rules());
            report.rules_replaced = true;
        }
        self.sources.reconfigure(&new, blocks);
        self.config = new;
        let (changes, failed) = self.reconcile().await;
        report.changes = changes;
        report.failed = failed
            .into_iter()
            .map(|(name, e)| format!("{name}: {e}"))
            .collect();
        report
    }
}
