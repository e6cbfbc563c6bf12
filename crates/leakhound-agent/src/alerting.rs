//! The agent's side of alerting: every sample goes through the rule engine (pure, in the core);
//! its transitions are written to the alert history and queued in the outbox in one
//! transaction, then the delivery tasks are woken. The engine's state and the silences live in
//! the database, so a restart neither re-fires what is firing nor forgets a silence.

use crate::outbox::{Deliver, Wakers};
use leakhound_core::config::{Config, ConfigErrors};
use leakhound_core::rules::{
    EngineSnapshot, Point, Rule, RuleEngine, Silences, Transition, TransitionKind,
};
use leakhound_core::Sample;
use leakhound_notify::{AlertMessage, DeliverError, Notifier};
use leakhound_store::{Db, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const STATE_KEY: &str = "rule_engine";
/// One target's engine state, saved with its transitions (newer than the whole snapshot).
const TARGET_STATE_PREFIX: &str = "rule_engine/";
const FIRING_KEY: &str = "firing_messages";
/// One target's announced firing messages, saved with its transitions.
const TARGET_FIRING_PREFIX: &str = "firing_messages/";
/// Silences added from the CLI while the agent runs are picked up this often.
const SILENCE_RELOAD_MS: i64 = 5_000;
/// The engine's whole state is saved this often (and at shutdown), when it changed. A target's
/// state is saved with each of its transitions anyway, so a crash loses at most this much of
/// what moves between them (a pending rule's start, the values shown): a `for` may start
/// over. With 1000 targets firing the snapshot is ~0.5 MB — every 30 s it was a third of the
/// bytes the agent wrote per sample (BENCHMARKS.md, "bytes written").
const SNAPSHOT_MS: i64 = 300_000;

/// Samples newer than this stay at full resolution. Level, baseline and down rules advance
/// sample by sample and keep their own state, so only the median gap between samples and the
/// trend fits look back; the recent minutes at full resolution serve the gap.
const FULL_RESOLUTION_MS: i64 = 3 * 60_000;
/// Older samples are thinned to this many per rule window: the trend fits use at most 80
/// points, so keeping every 5 s sample of 30 minutes only costs memory and time.
const THINNED_POINTS: i64 = 80;
/// A window's vector grows by this many points when full.
const GROW_POINTS: usize = 16;
/// Thinning runs at most this often per target.
const COMPACT_EVERY_MS: i64 = 60_000;

/// One target's recent samples, as the rules need them: compact [`Point`]s (what the rules read,
/// no strings), full resolution for the last minutes, thinned before that.
#[derive(Debug, Default)]
struct Window {
    points: Vec<Point>,
    last_compact_ms: i64,
}

impl Window {
    fn push(&mut self, sample: &Sample, now: i64, keep_ms: i64) {
        // The engine reads a sample's error once, when it first sees the sample: only the
        // newest point needs it (a fleet that is all down would otherwise keep 30 minutes of
        // error texts per target).
        if let Some(previous) = self.points.last_mut() {
            previous.clear_error();
        }
        // Grown by a few points at a time, not doubled: ten thousand windows at twice their
        // length would waste tens of megabytes.
        if self.points.len() == self.points.capacity() {
            self.points.reserve_exact(GROW_POINTS);
        }
        self.points.push(Point::from(sample));
        if now - self.last_compact_ms >= COMPACT_EVERY_MS {
            // Expiry and thinning together, once a minute: between them the vector only grows
            // at its end, and the rules get a contiguous slice without any copying.
            self.last_compact_ms = now;
            let boundary = now - FULL_RESOLUTION_MS;
            let step = keep_ms / THINNED_POINTS;
            let mut last_kept: Option<i64> = None;
            self.points.retain(|p| {
                if now - p.ts_ms > keep_ms {
                    return false;
                }
                if p.ts_ms >= boundary {
                    return true;
                }
                let keep = last_kept.is_none_or(|t| p.ts_ms - t >= step);
                if keep {
                    last_kept = Some(p.ts_ms);
                }
                keep
            });
            if self.points.capacity() > self.points.len() + 2 * GROW_POINTS {
                self.points.shrink_to(self.points.len() + GROW_POINTS);
            }
        }
    }
}

/// Rules, recent samples per target, and the way to the outbox.
#[derive(Debug)]
pub struct Alerting {
    engine: RuleEngine,
    windows: HashMap<String, Window>,
    keep_ms: i64,
    db: Db,
    wakers: Wakers,
    last_saved_ms: i64,
    /// Hash of the last saved snapshot (engine and firing messages): an unchanged one is not
    /// written again.
    last_saved_hash: Option<u64>,
    last_silences_ms: i64,
    /// The last message of every alert that is firing and was announced, by fingerprint.
    firing: BTreeMap<String, AlertMessage>,
    /// Each watched target's labels (`[targets.labels]`, discovery), added to its alerts'
    /// labels (the alert's own — target, rule, severity… — win).
    target_labels: HashMap<String, BTreeMap<String, String>>,
    /// Channels that must hear firing alerts again and again (Alertmanager resolves an alert
    /// it is not told about within its resolve timeout): name, interval, last time.
    resend: Vec<(String, i64, i64)>,
}

impl Alerting {
    /// Alerting on the database `db`, restoring the engine's saved state.
    pub fn open(db: &Db, rules: Vec<Rule>, wakers: Wakers) -> Result<Alerting, StoreError> {
        Self::open_with_resend(db, rules, wakers, Vec::new())
    }

    /// Like [`open`](Self::open), with channels to re-send firing alerts to every `interval`.
    pub fn open_with_resend(
        db: &Db,
        rules: Vec<Rule>,
        wakers: Wakers,
        resend: Vec<(String, Duration)>,
    ) -> Result<Alerting, StoreError> {
        db.reader()
            .with(|outbox| Self::restore(db, outbox, rules, wakers, resend))
    }

    fn restore(
        db: &Db,
        outbox: &mut Store,
        rules: Vec<Rule>,
        wakers: Wakers,
        resend: Vec<(String, Duration)>,
    ) -> Result<Alerting, StoreError> {
        let mut firing: BTreeMap<String, AlertMessage> = match outbox.load_state(FIRING_KEY)? {
            Some(json) => serde_json::from_str(&json).unwrap_or_default(),
            None => BTreeMap::new(),
        };
        // Targets whose alerts changed after the whole map was saved: theirs are newer.
        for (key, json) in outbox.load_states(TARGET_FIRING_PREFIX)? {
            let target = &key[TARGET_FIRING_PREFIX.len()..];
            firing.retain(|_, m| m.target != target);
            let mine: BTreeMap<String, AlertMessage> =
                serde_json::from_str(&json).unwrap_or_default();
            firing.extend(mine);
        }
        let mut engine = RuleEngine::new(rules);
        let mut restored: Option<EngineSnapshot> = None;
        let whole = outbox
            .load_state(STATE_KEY)?
            .map(|json| (STATE_KEY.to_string(), json));
        for (key, json) in whole
            .into_iter()
            .chain(outbox.load_states(TARGET_STATE_PREFIX)?)
        {
            match serde_json::from_str::<EngineSnapshot>(&json) {
                Ok(snapshot) => match &mut restored {
                    Some(r) => r.merge(snapshot),
                    None => restored = Some(snapshot),
                },
                Err(e) => tracing::warn!(
                    "ignoring the saved alert state '{key}' (it does not parse: {e}); those alerts start afresh"
                ),
            }
        }
        if let Some(snapshot) = restored {
            engine.restore(snapshot);
        }
        engine.set_silences(Silences::new(outbox.silences()?));
        let keep_ms = leakhound_core::time::duration_ms(engine.window_needed());
        Ok(Alerting {
            engine,
            windows: HashMap::new(),
            target_labels: HashMap::new(),
            keep_ms,
            db: db.clone(),
            wakers,
            last_saved_ms: 0,
            last_saved_hash: None,
            last_silences_ms: 0,
            firing,
            resend: resend
                .into_iter()
                .map(|(name, every)| (name, leakhound_core::time::duration_ms(every), 0))
                .collect(),
        })
    }

    /// Run the store work `f` on the database's writer; an error is logged.
    async fn with_outbox<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Option<T> {
        match self.db.write(f).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!("alert store: {e}");
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
        if !self.windows.contains_key(&sample.target) {
            self.windows
                .insert(sample.target.clone(), Window::default());
        }
        let Some(window) = self.windows.get_mut(&sample.target) else {
            return Vec::new();
        };
        window.push(sample, now, self.keep_ms);
        let transitions = self.engine.evaluate(now, &sample.target, &window.points);
        self.record(&sample.target, &transitions, now).await;
        if now - self.last_saved_ms >= SNAPSHOT_MS {
            self.last_saved_ms = now;
            self.save().await;
        }
        transitions
    }

    /// `target` left the watched set: its reported alerts resolve with `reason` (recorded and
    /// queued like any transition), its state and window are dropped.
    pub async fn retire(&mut self, target: &str, now: i64, reason: &str) -> Vec<Transition> {
        self.windows.remove(target);
        let transitions = self.engine.retire(target, now, reason);
        self.record(target, &transitions, now).await;
        self.target_labels.remove(target);
        transitions
    }

    /// `target`'s labels from now on (empty: none).
    pub fn set_target_labels(&mut self, target: &str, labels: BTreeMap<String, String>) {
        if labels.is_empty() {
            self.target_labels.remove(target);
        } else {
            self.target_labels.insert(target.to_string(), labels);
        }
    }

    /// New rules from a reloaded config (see [`RuleEngine::set_rules`]).
    pub fn set_rules(&mut self, rules: Vec<Rule>) {
        self.engine.set_rules(rules);
        self.keep_ms = leakhound_core::time::duration_ms(self.engine.window_needed());
    }

    /// The targets the alert state knows (including ones restored from the store).
    pub fn known_targets(&self) -> Vec<String> {
        self.engine.known_targets().map(str::to_string).collect()
    }

    /// Log `target`'s `transitions`, record them with the target's state in one transaction,
    /// queue their messages and re-send what is due.
    async fn record(&mut self, target: &str, transitions: &[Transition], now: i64) {
        for t in transitions {
            let text = &t.evidence.summary;
            match (t.kind.name(), t.notify) {
                (_, false) => {
                    tracing::info!(rule = %t.rule, "alert {} (not sent: {}): {text}", t.kind.name(), if t.silenced { "silenced" } else { "not announced" })
                }
                ("resolved", true) => tracing::info!(rule = %t.rule, "alert resolved: {text}"),
                _ => tracing::warn!(rule = %t.rule, "alert {}: {text}", t.kind.name()),
            }
        }
        let mut batch = Vec::with_capacity(transitions.len());
        let target_labels = self.target_labels.get(target);
        for t in transitions {
            let mut message = AlertMessage::for_transition(t);
            for (k, v) in target_labels.into_iter().flatten() {
                message.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            match (t.kind, t.notify) {
                (TransitionKind::Resolved, _) => {
                    self.firing.remove(&t.fingerprint);
                }
                (_, true) => {
                    self.firing.insert(t.fingerprint.clone(), message.clone());
                }
                (_, false) => {}
            }
            let payload = serde_json::to_string(&message).unwrap_or_default();
            batch.push((t.clone(), payload));
        }
        let mut queued = 0;
        if !batch.is_empty() {
            let channels = self.wakers.channels();
            // This target's state goes with its transitions: after a crash they are neither
            // lost nor announced again.
            let mut state = Vec::with_capacity(2);
            match serde_json::to_string(&self.engine.snapshot_target(target)) {
                Ok(json) => state.push((format!("{TARGET_STATE_PREFIX}{target}"), json)),
                Err(e) => tracing::error!("cannot serialize the alert state: {e}"),
            }
            let mine: BTreeMap<&String, &AlertMessage> = self
                .firing
                .iter()
                .filter(|(_, m)| m.target == target)
                .collect();
            state.push((
                format!("{TARGET_FIRING_PREFIX}{target}"),
                serde_json::to_string(&mine).unwrap_or_default(),
            ));
            queued += self
                .with_outbox(move |o| o.record_alerts(&batch, &channels, now, &state))
                .await
                .unwrap_or(0);
        }
        queued += self.resend_due(now).await;
        if queued > 0 {
            self.wakers.wake_all();
        }
    }

    /// Queue every announced firing alert again on the channels whose re-send time has come.
    async fn resend_due(&mut self, now: i64) -> usize {
        let mut items = Vec::new();
        for (channel, every, last) in &mut self.resend {
            if now - *last < *every {
                continue;
            }
            *last = now;
            for message in self.firing.values() {
                let mut m = message.clone();
                m.idempotency_key = format!("{}-resend-{now}", m.idempotency_key);
                let key = m.idempotency_key.clone();
                items.push((
                    channel.clone(),
                    key,
                    serde_json::to_string(&m).unwrap_or_default(),
                ));
            }
        }
        if items.is_empty() {
            return 0;
        }
        self.with_outbox(move |o| {
            let mut n = 0;
            for (channel, key, payload) in &items {
                n += usize::from(o.enqueue(channel, key, payload, now)?);
            }
            Ok(n)
        })
        .await
        .unwrap_or(0)
    }

    /// Save the engine's state (call at shutdown).
    pub async fn save(&mut self) {
        let json = match serde_json::to_string(&self.engine.snapshot_ref()) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!("cannot serialize the alert state: {e}");
                return;
            }
        };
        let firing = serde_json::to_string(&self.firing).unwrap_or_default();
        let hash = crate::fleet::fingerprint(&(&json, &firing));
        if self.last_saved_hash == Some(hash) {
            return;
        }
        let saved = self
            .with_outbox(move |o| {
                o.save_states_superseding(
                    &[(STATE_KEY, &json), (FIRING_KEY, &firing)],
                    &[TARGET_STATE_PREFIX, TARGET_FIRING_PREFIX],
                )
            })
            .await;
        if saved.is_some() {
            self.last_saved_hash = Some(hash);
        }
    }

    /// The engine, to hand it what the goroutine dumps said ([`RuleEngine::set_verdict`]) or
    /// turn dump classification on ([`RuleEngine::set_dumps`]).
    pub fn engine_mut(&mut self) -> &mut RuleEngine {
        &mut self.engine
    }

    pub fn engine(&self) -> &RuleEngine {
        &self.engine
    }
}

/// Build a notifier of every `[[notifiers]]` block (typed and checked by the config reader);
/// what only building finds (addresses, signatures, templates) is reported all at once, at the
/// block's line.
pub fn notifiers_from_config(config: &Config) -> Result<Vec<Notifier>, ConfigErrors> {
    let mut notifiers = Vec::new();
    let mut errors = Vec::new();
    for (i, entry) in config.notifiers.iter().enumerate() {
        match Notifier::from_config(entry) {
            Ok(n) => notifiers.push(n),
            Err(e) => errors.push(entry.error(i, e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(notifiers)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// The configured notifiers as the outbox's delivery channels.
#[derive(Debug)]
pub struct Channels(HashMap<String, Notifier>);

impl Channels {
    pub fn new(notifiers: Vec<Notifier>) -> Channels {
        Channels(
            notifiers
                .into_iter()
                .map(|n| (n.name().to_string(), n))
                .collect(),
        )
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.keys().cloned().collect();
        names.sort();
        names
    }

    /// Channels that want firing alerts re-sent, with how often.
    pub fn resend(&self) -> Vec<(String, Duration)> {
        let mut out: Vec<(String, Duration)> = self
            .0
            .values()
            .filter_map(|n| n.resend_interval().map(|d| (n.name().to_string(), d)))
            .collect();
        out.sort();
        out
    }
}

impl Deliver for Channels {
    async fn deliver(&self, channel: &str, payload: &str) -> Result<(), DeliverError> {
        match self.0.get(channel) {
            Some(n) => n.send_json(payload).await.map(|_| ()).map_err(Into::into),
            None => Err(DeliverError {
                retryable: false,
                message: format!("no notifier named '{channel}' in the config any more"),
                retry_after: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_core::config::Levels;
    use leakhound_core::rules::Observation;
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
        let path = dir.path().join("a.db");
        let db = Db::open(&path).unwrap();
        let rules = || default_rules(&Levels::default());
        let wakers = Wakers::new(&["ops".to_string()]);
        let mut a = Alerting::open(&db, rules(), wakers.clone()).unwrap();
        let fired = feed(&mut a, 0, 300, 6000).await;
        assert_eq!(fired.len(), 1, "{fired:#?}");
        assert_eq!(fired[0].rule, "goroutines_urgent");
        a.save().await;
        drop(a);

        let mut outbox = Store::open(&path).unwrap();
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

    /// Regression (found by `tests/alerts.rs`, kill -9 with 100 pending): the engine's state
    /// was only saved every 30 s, so alerts that fired just before a crash fired again, with
    /// new idempotency keys, after the restart.
    #[tokio::test]
    async fn a_crash_right_after_firing_does_not_fire_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let db = Db::open(&path).unwrap();
        let rules = || default_rules(&Levels::default());
        let wakers = Wakers::new(&["ops".to_string()]);
        let mut a = Alerting::open(&db, rules(), wakers.clone()).unwrap();
        // The first sample saves the whole state; the alert fires after it.
        feed(&mut a, 0, 30, 100).await;
        let fired = feed(&mut a, 30, 300, 6000).await;
        assert_eq!(fired.len(), 1, "{fired:#?}");
        drop(a); // no save(): as after kill -9

        let mut a = Alerting::open(&db, rules(), wakers).unwrap();
        assert!(feed(&mut a, 300, 600, 6000).await.is_empty());
        assert_eq!(Store::open(&path).unwrap().counts().unwrap().pending, 1);
        // A whole snapshot supersedes the per-target states.
        a.save().await;
        let mut outbox = Store::open(&path).unwrap();
        assert!(outbox.load_states(TARGET_STATE_PREFIX).unwrap().is_empty());
        let resolved = feed(&mut a, 600, 900, 100).await;
        assert_eq!(resolved.len(), 1);
    }

    /// Likewise for the alerts re-sent to Alertmanager: one that fired just before a crash is
    /// still re-sent after the restart (else Alertmanager resolves it while it fires).
    #[tokio::test]
    async fn a_crash_right_after_firing_keeps_resending_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let db = Db::open(&path).unwrap();
        let rules = || default_rules(&Levels::default());
        let wakers = Wakers::new(&["am".to_string()]);
        let resend = || vec![("am".to_string(), Duration::from_secs(60))];
        let mut a = Alerting::open_with_resend(&db, rules(), wakers.clone(), resend()).unwrap();
        feed(&mut a, 0, 30, 100).await;
        assert_eq!(feed(&mut a, 30, 120, 6000).await.len(), 1);
        drop(a); // no save(): as after kill -9
        let pending = || Store::open(&path).unwrap().counts().unwrap().pending;
        let before = pending();

        let mut a = Alerting::open_with_resend(&db, rules(), wakers, resend()).unwrap();
        assert!(feed(&mut a, 120, 150, 6000).await.is_empty());
        assert_eq!(pending(), before + 1, "the firing alert is re-sent");
    }

    #[test]
    fn windows_thin_old_samples_and_keep_recent_ones() {
        let keep_ms = 30 * 60_000;
        let mut w = Window::default();
        for i in 0..=360 {
            let now = i * 5_000;
            w.push(&sample(now, 1000), now, keep_ms);
        }
        let now = 360 * 5_000;
        let recent = w
            .points
            .iter()
            .filter(|s| s.ts_ms >= now - FULL_RESOLUTION_MS)
            .count();
        assert_eq!(recent, 37, "the last 3 minutes stay at 5 s");
        let old: Vec<i64> = w
            .points
            .iter()
            .filter(|s| s.ts_ms < now - FULL_RESOLUTION_MS)
            .map(|s| s.ts_ms)
            .collect();
        assert!(
            old.windows(2)
                .all(|p| p[1] - p[0] >= keep_ms / THINNED_POINTS),
            "{old:?}"
        );
        assert!(old.len() >= 60 && old.len() <= 80, "{}", old.len());
        assert!(w.points.iter().all(|p| p.error().is_none()));
        assert!(
            w.points.capacity() <= w.points.len() + 2 * GROW_POINTS,
            "capacity {} for {} points",
            w.points.capacity(),
            w.points.len()
        );
    }

    #[tokio::test]
    async fn a_silence_stored_by_the_cli_is_honoured() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let db = Db::open(&path).unwrap();
        let mut outbox = Store::open(&path).unwrap();
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
