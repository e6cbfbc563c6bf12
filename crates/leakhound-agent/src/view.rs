//! The agent's read model: what views (the web API, its live feed, `/metrics`, `watch --agent`
//! through the API, the demo's terminal view) read while the agent runs.
//!
//! One [`AgentView`] per agent, fed only by the agent: every sample, alert transition, evidence
//! bundle and action run is [`publish`](AgentView::publish)ed once; the view keeps the latest
//! sample of every target and the alerts firing now, and passes each event to its subscribers
//! through a fixed ring (a slow subscriber skips ahead, the agent never waits for it).
//! History (ranges of samples, past alerts, dumps) is read from the store through
//! [`AgentView::reader`], the agent's own read pool.
//!
//! ```text
//! agent ──publish──▶ AgentView ──▶ latest(), active_alerts()
//!                              └──▶ subscribe(): Sample | Transition | Bundle | ActionRun
//! ```
//!
//! `tests/it/handle.rs` runs an agent against a live service and reads all of it through its
//! handle.

use leakhound_core::config::{Config, TargetConfig};
use leakhound_core::rules::{Transition, TransitionKind};
use leakhound_core::Sample;
use leakhound_store::{ActionRun, Bundle, Reader};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// Events the ring keeps for subscribers: one per target, at least this many…
pub const RING_MIN: usize = 256;
/// …and at most this many. A subscriber that falls further behind is told how many it missed.
pub const RING_MAX: usize = 4096;

/// One thing the agent did, in the order it did it.
#[derive(Debug, Clone)]
pub enum AgentEvent {
    /// A target was probed.
    Sample(Sample),
    /// An alert fired, repeated or resolved (recorded in the store before it is published).
    Transition(Transition),
    /// An evidence bundle was saved.
    Bundle(Bundle),
    /// An `[[actions]]` entry ran (or was refused by its guards).
    ActionRun(ActionRun),
}

/// The agent's read model; cheap to clone (all clones are the same view).
#[derive(Clone)]
pub struct AgentView(Arc<Inner>);

struct Inner {
    /// The watched targets, in order (config first, then discovery).
    targets: RwLock<Vec<String>>,
    /// The labels of the watched targets that have any.
    labels: RwLock<HashMap<String, BTreeMap<String, String>>>,
    latest: RwLock<HashMap<String, Sample>>,
    /// The latest transition of every alert that has not resolved, by (target, rule).
    active: RwLock<BTreeMap<(String, String), Transition>>,
    events: broadcast::Sender<AgentEvent>,
    reader: Option<Reader>,
    started_ms: i64,
}

impl std::fmt::Debug for AgentView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentView")
            .field("targets", &self.targets().len())
            .finish_non_exhaustive()
    }
}

impl AgentView {
    /// An empty view of `config`'s targets, reading history through `reader` (`None`: a view
    /// without history, e.g. for tests of live routes). `active`: the alerts firing when the
    /// agent starts (restored from the store).
    pub fn new(config: &Config, reader: Option<Reader>, active: Vec<Transition>) -> AgentView {
        let (events, _) = broadcast::channel(config.targets.len().clamp(RING_MIN, RING_MAX));
        AgentView(Arc::new(Inner {
            targets: RwLock::new(config.targets.iter().map(|t| t.name.clone()).collect()),
            labels: RwLock::new(
                config
                    .targets
                    .iter()
                    .filter(|t| !t.labels.is_empty())
                    .map(|t| (t.name.clone(), t.labels.clone()))
                    .collect(),
            ),
            latest: RwLock::new(HashMap::new()),
            active: RwLock::new(
                active
                    .into_iter()
                    .map(|t| ((t.target.clone(), t.rule.clone()), t))
                    .collect(),
            ),
            events,
            reader,
            started_ms: crate::agent::now_ms(),
        }))
    }

    /// A view of the database at `reader`, seeded with the alerts firing when it was last
    /// written (the agent's store keeps every transition). An unreadable database seeds none
    /// (with a warning); its history routes then answer the error.
    pub fn of_database(config: &Config, reader: Reader) -> AgentView {
        let active = reader
            .with(|s| s.active_alert_events())
            .unwrap_or_else(|e| {
                tracing::warn!("cannot read the alerts firing from the store: {e}");
                Vec::new()
            });
        AgentView::new(config, Some(reader), active)
    }

    /// Record what the agent did and tell every subscriber. Only the agent (and tests standing
    /// in for it) publish.
    pub fn publish(&self, event: AgentEvent) {
        match &event {
            AgentEvent::Sample(s) => {
                if let Ok(mut map) = self.0.latest.write() {
                    // In place: the slot's strings are reused (200 samples a second at 1000
                    // targets; a fresh clone was three allocations each).
                    match map.get_mut(&s.target) {
                        Some(slot) => slot.clone_from(s),
                        None => {
                            map.insert(s.target.clone(), s.clone());
                        }
                    }
                }
            }
            AgentEvent::Transition(t) => {
                if let Ok(mut active) = self.0.active.write() {
                    let key = (t.target.clone(), t.rule.clone());
                    if t.kind == TransitionKind::Resolved {
                        active.remove(&key);
                    } else {
                        active.insert(key, t.clone());
                    }
                }
            }
            AgentEvent::Bundle(_) | AgentEvent::ActionRun(_) => {}
        }
        // Nobody listening is fine.
        let _ = self.0.events.send(event);
    }

    /// Every event published from now on. A subscriber that falls a whole ring behind gets
    /// `Lagged(n)` and continues with the newest events.
    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.0.events.subscribe()
    }

    /// The latest sample of `target` (`None` before its first probe).
    pub fn latest(&self, target: &str) -> Option<Sample> {
        self.0.latest.read().ok()?.get(target).cloned()
    }

    /// The latest sample of every target probed so far.
    pub fn all_latest(&self) -> Vec<Sample> {
        self.0
            .latest
            .read()
            .map(|map| map.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The latest transition of every alert firing now, by target and rule.
    pub fn active_alerts(&self) -> Vec<Transition> {
        self.0
            .active
            .read()
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The watched targets, in order (config first, then discovery).
    pub fn targets(&self) -> Vec<String> {
        self.0.targets.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// The labels of every watched target that has any, by name.
    pub fn labels(&self) -> HashMap<String, BTreeMap<String, String>> {
        self.0.labels.read().map(|l| l.clone()).unwrap_or_default()
    }

    /// The watched set changed: `targets` are watched now, with their labels; the latest
    /// samples of `removed` are dropped (their history stays in the store). Only the agent
    /// calls this.
    pub fn set_targets<T: std::ops::Deref<Target = TargetConfig>>(
        &self,
        targets: &[T],
        removed: &[String],
    ) {
        if let Ok(mut slot) = self.0.targets.write() {
            *slot = targets.iter().map(|t| t.name.clone()).collect();
        }
        if let Ok(mut slot) = self.0.labels.write() {
            *slot = targets
                .iter()
                .filter(|t| !t.labels.is_empty())
                .map(|t| (t.name.clone(), t.labels.clone()))
                .collect();
        }
        if let Ok(mut map) = self.0.latest.write() {
            for name in removed {
                map.remove(name);
            }
        }
    }

    /// The agent's read pool over its database (`None`: no history).
    pub fn reader(&self) -> Option<&Reader> {
        self.0.reader.as_ref()
    }

    /// When this view (the agent) started, Unix ms.
    pub fn started_ms(&self) -> i64 {
        self.0.started_ms
    }
}
