//! The agent's side of alerting: every sample goes through the rule engine (pure, in the core);
//! its transitions are written to the alert history and queued in the outbox in one
//! transaction, then the delivery tasks are woken. The engine's state and the silences live in
//! the database, so a restart neither re-fires what is firing nor forgets a silence.

use crate::outbox::{Outbox, Wakers};
use crate::store::StoreError;
use leakhound_core::rules::{EngineSnapshot, Rule, RuleEngine, Silences, Transition};
use leakhound_core::Sample;
use std::collections::{HashMap, VecDeque};
use std::path::Path;

const STATE_KEY: &str = "rule_engine";
/// Silences added from the CLI while the agent runs are picked up this often.
const SILENCE_RELOAD_MS: i64 = 5_000;
/// The engine's state is saved this often (and at shutdown).
const SNAPSHOT_MS: i64 = 30_000;

/// Rules, recent samples per target, and the way to the outbox.
#[derive(Debug)]
pub struct Alerting {
    engine: RuleEngine,
    windows: HashMap<String, VecDeque<Sample>>,
    keep_ms: i64,
    outbox: Option<Outbox>,
    wakers: Wakers,
    last_saved_ms: i64,
    last_silences_ms: i64,
}

impl Alerting {
    /// Open the alert tables of the database at `db`, restoring the engine's saved state.
    pub fn open(db: &Path, rules: Vec<Rule>, wakers: Wakers) -> Result<Alerting, StoreError> {
        let mut outbox = Outbox::open(db)?;
        let mut engine = RuleEngine::new(rules);
        if let Some(json) = outbox.load_state(STATE_KEY)? {
            match serde_json::from_str::<EngineSnapshot>(&json) {
                Ok(snapshot) => engine.restore(snapshot),
                Err(e) => tracing::warn!(
                    "ignoring the saved alert state (it does not parse: {e}); alerts start afresh"
                ),
            }
        }
        engine.set_silences(Silences::new(outbox.silences()?));
        let keep_ms = i64::try_from(engine.window_needed().as_millis()).unwrap_or(i64::MAX);
        Ok(Alerting {
            engine,
            windows: HashMap::new(),
            keep_ms,
            outbox: Some(outbox),
            wakers,
            last_saved_ms: 0,
            last_silences_ms: 0,
        })
    }

    /// Run the outbox work `f` on a blocking thread.
    async fn with_outbox<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Outbox) -> Result<T, StoreError> + Send + 'static,
    ) -> Option<T> {
        let mut outbox = self.outbox.take()?;
        match tokio::task::spawn_blocking(move || {
            let r = f(&mut outbox);
            (outbox, r)
        })
        .await
        {
            Ok((outbox, result)) => {
                self.outbox = Some(outbox);
                match result {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::error!("alert store: {e}");
                        None
                    }
                }
            }
            Err(e) => {
                tracing::error!("alert store task failed: {e}");
                None
            }
        }
    }

    /// Evaluate the rules after `sample`; record and queue what changed.
    pub async fn observe(&mut self, sample: &Sample) -> Vec<Transition> {
        let now = sample.ts_ms;
        if now - self.last_silences_ms >= SILENCE_RELOAD_MS {
            self.last_silences_ms = now;
            if let Some(list) = self.with_outbox(|o| o.silences()).await {
                self.engine.set_silences(Silences::new(list));
            }
        }
        let window = self.windows.entry(sample.target.clone()).or_default();
        window.push_back(sample.clone());
        while window.front().is_some_and(|s| now - s.ts_ms > self.keep_ms) {
            window.pop_front();
        }
        let transitions = self
            .engine
            .evaluate(now, &sample.target, window.make_contiguous());
        for t in &transitions {
            let text = &t.evidence.summary;
            match (t.kind.name(), t.notify) {
                (_, false) => {
                    tracing::info!(rule = %t.rule, "alert {} (not sent: {}): {text}", t.kind.name(), if t.silenced { "silenced" } else { "not announced" })
                }
                ("resolved", true) => tracing::info!(rule = %t.rule, "alert resolved: {text}"),
                _ => tracing::warn!(rule = %t.rule, "alert {}: {text}", t.kind.name()),
            }
        }
        if !transitions.is_empty() {
            let batch = transitions.clone();
            let channels = self.wakers.channels();
            if self
                .with_outbox(move |o| o.record_alerts(&batch, &channels, now))
                .await
                .is_some_and(|queued| queued > 0)
            {
                self.wakers.wake_all();
            }
        }
        if now - self.last_saved_ms >= SNAPSHOT_MS {
            self.last_saved_ms = now;
            self.save().await;
        }
        transitions
    }

    /// Save the engine's state (call at shutdown).
    pub async fn save(&mut self) {
        let json = match serde_json::to_string(&self.engine.snapshot()) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!("cannot serialize the alert state: {e}");
                return;
            }
        };
        self.with_outbox(move |o| o.save_state(STATE_KEY, &json))
            .await;
    }

    pub fn engine(&self) -> &RuleEngine {
        &self.engine
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_core::config::Levels;
    use leakhound_core::rules::{default_rules, Silence, TransitionKind};
    use leakhound_core::Metrics;

    fn sample(ts_ms: i64, goroutines: u64) -> Sample {
        Sample {
            target: "one-api".into(),
            ts_ms,
            up: true,
            error: None,
            latency_ms: 1.0,
            source: "health".into(),
            metrics: Metrics {
                goroutines: Some(goroutines),
                ..Metrics::default()
            },
        }
    }

    async fn feed(a: &mut Alerting, from_s: i64, to_s: i64, goroutines: u64) -> Vec<Transition> {
        let mut out = Vec::new();
        for t in (from_s..to_s).step_by(30) {
            out.extend(a.observe(&sample(t * 1000, goroutines)).await);
        }
        out
    }

    #[tokio::test]
    async fn transitions_are_recorded_queued_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let rules = || default_rules(&Levels::default());
        let wakers = Wakers::new(&["ops".to_string()]);
        let mut a = Alerting::open(&db, rules(), wakers.clone()).unwrap();
        let fired = feed(&mut a, 0, 300, 6000).await;
        assert_eq!(fired.len(), 1, "{fired:#?}");
        assert_eq!(fired[0].rule, "goroutines_urgent");
        a.save().await;
        drop(a);

        let mut outbox = Outbox::open(&db).unwrap();
        assert_eq!(outbox.counts().unwrap().pending, 1);
        assert_eq!(outbox.alert_events(Some("one-api"), 10).unwrap().len(), 1);

        // After a restart the firing alert is remembered: no second firing, and it resolves once.
        let mut a = Alerting::open(&db, rules(), wakers).unwrap();
        assert!(feed(&mut a, 300, 600, 6000).await.is_empty());
        let resolved = feed(&mut a, 600, 900, 100).await;
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].kind, TransitionKind::Resolved);
        assert_eq!(outbox.counts().unwrap().pending, 2);
    }

    #[tokio::test]
    async fn a_silence_stored_by_the_cli_is_honoured() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let mut outbox = Outbox::open(&db).unwrap();
        outbox
            .add_silence(&Silence {
                id: "s1".into(),
                target: Some("one-*".into()),
                rule: None,
                until_ms: 10_000_000,
                comment: "deploying".into(),
                created_ms: 0,
            })
            .unwrap();
        let mut a = Alerting::open(
            &db,
            default_rules(&Levels::default()),
            Wakers::new(&["ops".into()]),
        )
        .unwrap();
        let fired = feed(&mut a, 0, 300, 6000).await;
        assert!(fired.iter().all(|t| t.silenced && !t.notify), "{fired:#?}");
        assert_eq!(outbox.counts().unwrap().pending, 0);
        assert!(outbox.remove_silence("s1").unwrap());
        assert!(!outbox.remove_silence("s1").unwrap());
    }
}
