//! Alerts that are never lost: every message goes to the `outbox` table first, then a delivery
//! task per channel sends it with retries (exponential backoff with jitter) until it is sent or,
//! after `max_attempts`, dead-lettered — which is itself logged. A channel that hangs or fails
//! delays only itself. After a crash or `kill -9`, pending messages are sent on the next start.
//! A message is unique per (channel, idempotency key): enqueuing it twice stores it once.

use crate::store::{Store, StoreError};
use leakhound_core::rules::{Silence, Transition};
use leakhound_notify::DeliverError;
use rand::Rng;
use rusqlite::{params, OptionalExtension};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// One queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub channel: String,
    pub key: String,
    pub payload: String,
    pub attempts: u32,
    pub created_ms: i64,
    pub state: String,
    pub last_error: Option<String>,
}

/// Counts by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: u64,
    pub sent: u64,
    pub dead: u64,
}

/// The outbox table of a leakhound database, on its own connection.
#[derive(Debug)]
pub struct Outbox {
    store: Store,
}

impl Outbox {
    pub fn open(path: &Path) -> Result<Outbox, StoreError> {
        Ok(Outbox {
            store: Store::open(path)?,
        })
    }

    /// An existing database, read-only (`silence list`): never creates or migrates it.
    pub fn open_read_only(path: &Path) -> Result<Outbox, StoreError> {
        Ok(Outbox {
            store: Store::open_read_only(path)?,
        })
    }

    fn run<T>(
        &mut self,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let result = f(self.store.connection());
        result.map_err(|e| self.store.classify(e))
    }

    /// Queue a message; `false` when (channel, key) was already queued (a duplicate).
    pub fn enqueue(
        &mut self,
        channel: &str,
        key: &str,
        payload: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.run(|c| {
            c.execute(
                "INSERT OR IGNORE INTO outbox(channel, idempotency_key, payload, created_ms, next_attempt_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![channel, key, payload, now_ms],
            )
            .map(|n| n == 1)
        })
    }

    /// Pending messages of a channel due at `now_ms`, oldest first.
    pub fn due(
        &mut self,
        channel: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.query(
            "WHERE channel = ?1 AND state = 'pending' AND next_attempt_ms <= ?2 ORDER BY id LIMIT ?3",
            params![channel, now_ms, limit as i64],
        )
    }

    /// Messages in a state (`pending`, `sent`, `dead`), newest first.
    pub fn list(&mut self, state: &str, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.query(
            "WHERE state = ?1 ORDER BY id DESC LIMIT ?2",
            params![state, limit as i64],
        )
    }

    fn query(
        &mut self,
        filter: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let sql = format!(
            "SELECT id, channel, idempotency_key, payload, attempts, created_ms, state, last_error FROM outbox {filter}"
        );
        self.run(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(args, |r| {
                Ok(OutboxItem {
                    id: r.get(0)?,
                    channel: r.get(1)?,
                    key: r.get(2)?,
                    payload: r.get(3)?,
                    attempts: r.get(4)?,
                    created_ms: r.get(5)?,
                    state: r.get(6)?,
                    last_error: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The soonest `next_attempt_ms` of a channel's pending messages.
    pub fn next_due(&mut self, channel: &str) -> Result<Option<i64>, StoreError> {
        self.run(|c| {
            c.query_row(
                "SELECT min(next_attempt_ms) FROM outbox WHERE channel = ?1 AND state = 'pending'",
                [channel],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
        })
    }

    pub fn mark_sent(&mut self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.run(|c| {
            c.execute(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, done_ms = ?2, last_error = NULL WHERE id = ?1",
                params![id, now_ms],
            )
            .map(|_| ())
        })
    }

    /// Record a failed attempt; the message is retried at `retry_at_ms`.
    pub fn mark_retry(&mut self, id: i64, error: &str, retry_at_ms: i64) -> Result<(), StoreError> {
        self.run(|c| {
            c.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
                params![id, error, retry_at_ms],
            )
            .map(|_| ())
        })
    }

    /// Give up on a message: it stays in the table as `dead` with its last error.
    pub fn mark_dead(&mut self, id: i64, error: &str, now_ms: i64) -> Result<(), StoreError> {
        self.run(|c| {
            c.execute(
                "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?2, done_ms = ?3 WHERE id = ?1",
                params![id, error, now_ms],
            )
            .map(|_| ())
        })
    }

    /// Record alert transitions in the alert history and, for those to notify, queue one
    /// message (`payload`, the notifiers' JSON) per channel — in one transaction, so a crash
    /// leaves both or neither. The transition's idempotency key keys the message. `state`
    /// (key, value) pairs are saved in the same transaction: the rule engine's state after
    /// these transitions, so that after a `kill -9` a restart does not announce them again.
    pub fn record_alerts(
        &mut self,
        events: &[(Transition, String)],
        channels: &[String],
        now_ms: i64,
        state: &[(String, String)],
    ) -> Result<usize, StoreError> {
        let mut queued = 0;
        let bodies: Vec<String> = events
            .iter()
            .map(|(t, _)| serde_json::to_string(t).unwrap_or_default())
            .collect();
        self.run(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for ((t, payload), body) in events.iter().zip(&bodies) {
                tx.execute(
                    "INSERT INTO alert_events(at_ms, target, rule, kind, severity, fingerprint, notified, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![t.at_ms, t.target, t.rule, t.kind.name(), t.severity.name(), t.fingerprint, t.notify, body],
                )?;
                if !t.notify {
                    continue;
                }
                for channel in channels {
                    queued += tx.execute(
                        "INSERT OR IGNORE INTO outbox(channel, idempotency_key, payload, created_ms, next_attempt_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?4)",
                        params![channel, t.idempotency_key(), payload, now_ms],
                    )?;
                }
            }
            for (key, value) in state {
                tx.execute(
                    "INSERT OR REPLACE INTO agent_state(key, value) VALUES (?1, ?2)",
                    params![key, value],
                )?;
            }
            tx.commit()?;
            Ok(queued)
        })
    }

    /// The alert history, newest first (JSON bodies of the transitions).
    pub fn alert_events(
        &mut self,
        target: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Transition>, StoreError> {
        let bodies: Vec<String> = self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT body FROM alert_events WHERE ?1 IS NULL OR target = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![target, limit as i64], |r| r.get(0))?;
            rows.collect()
        })?;
        Ok(bodies
            .iter()
            .filter_map(|b| serde_json::from_str(b).ok())
            .collect())
    }

    /// All stored silences (expired ones included until removed).
    pub fn silences(&mut self) -> Result<Vec<Silence>, StoreError> {
        let bodies: Vec<String> = self.run(|c| {
            let mut stmt = c.prepare_cached("SELECT body FROM silences ORDER BY until_ms")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        Ok(bodies
            .iter()
            .filter_map(|b| serde_json::from_str(b).ok())
            .collect())
    }

    pub fn add_silence(&mut self, silence: &Silence) -> Result<(), StoreError> {
        let body = serde_json::to_string(silence).unwrap_or_default();
        self.run(|c| {
            c.execute(
                "INSERT OR REPLACE INTO silences(id, until_ms, body) VALUES (?1, ?2, ?3)",
                params![silence.id, silence.until_ms, body],
            )
            .map(|_| ())
        })
    }

    /// Remove a silence by id; whether it existed.
    pub fn remove_silence(&mut self, id: &str) -> Result<bool, StoreError> {
        self.run(|c| {
            c.execute("DELETE FROM silences WHERE id = ?1", [id])
                .map(|n| n > 0)
        })
    }

    /// A value the agent keeps across restarts (e.g. the rule engine's state).
    pub fn load_state(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.run(|c| {
            c.query_row("SELECT value FROM agent_state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    /// Every saved value whose key starts with `prefix`, as (key, value).
    pub fn load_states(&mut self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT key, value FROM agent_state WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
            )?;
            let rows = stmt.query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Save `values` (key, value) and, in the same transaction, drop the values whose key
    /// starts with one of `superseded` (e.g. per-target states a whole snapshot now includes).
    pub fn save_states_superseding(
        &mut self,
        values: &[(&str, &str)],
        superseded: &[&str],
    ) -> Result<(), StoreError> {
        self.run(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for prefix in superseded {
                tx.execute(
                    "DELETE FROM agent_state WHERE substr(key, 1, length(?1)) = ?1",
                    [prefix],
                )?;
            }
            for (key, value) in values {
                tx.execute(
                    "INSERT OR REPLACE INTO agent_state(key, value) VALUES (?1, ?2)",
                    params![key, value],
                )?;
            }
            tx.commit()
        })
    }

    pub fn save_state(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.run(|c| {
            c.execute(
                "INSERT OR REPLACE INTO agent_state(key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(|_| ())
        })
    }

    pub fn counts(&mut self) -> Result<OutboxCounts, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached("SELECT state, count(*) FROM outbox GROUP BY state")?;
            let mut counts = OutboxCounts::default();
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (state, n) = row?;
                let n = n.max(0) as u64;
                match state.as_str() {
                    "pending" => counts.pending = n,
                    "sent" => counts.sent = n,
                    _ => counts.dead += n,
                }
            }
            Ok(counts)
        })
    }
}

/// Sends one queued payload on one channel.
pub trait Deliver: Send + Sync + 'static {
    fn deliver(
        &self,
        channel: &str,
        payload: &str,
    ) -> impl Future<Output = Result<(), DeliverError>> + Send;
}

/// Retry schedule: `base × 2^attempt`, capped at `max`, ±20 % jitter; dead after `max_attempts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    pub max_attempts: u32,
    /// One attempt may take this long before it counts as failed (retryable).
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(5),
            max: Duration::from_secs(600),
            max_attempts: 12,
            attempt_timeout: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt number `attempts + 1`, given `attempts` failures so far.
    pub fn delay(&self, attempts: u32, asked: Option<Duration>) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempts.min(30)))
            .min(self.max);
        let jittered = exp.mul_f64(rand::rng().random_range(0.8..=1.2));
        asked.map_or(jittered, |a| a.max(jittered.min(self.max)))
    }
}

fn now_ms() -> i64 {
    crate::agent::now_ms()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One wake-up per delivery channel: [`Wakers::wake_all`] after queuing messages makes every
/// channel look at the outbox now (a wake-up that finds its task busy is kept, not lost).
#[derive(Debug, Clone, Default)]
pub struct Wakers(Vec<(String, Arc<Notify>)>);

impl Wakers {
    pub fn new(channels: &[String]) -> Wakers {
        Wakers(
            channels
                .iter()
                .map(|c| (c.clone(), Arc::new(Notify::new())))
                .collect(),
        )
    }

    pub fn channels(&self) -> Vec<String> {
        self.0.iter().map(|(c, _)| c.clone()).collect()
    }

    pub fn wake_all(&self) {
        for (_, n) in &self.0 {
            n.notify_one();
        }
    }
}

/// Start one delivery task per channel of `wakers`. Each wakes on its waker, on its next retry
/// time, or at least every 5 s; all stop when `shutdown` turns true (pending messages stay
/// queued for the next start).
pub fn spawn_delivery<D: Deliver>(
    db: &Path,
    wakers: &Wakers,
    deliverer: Arc<D>,
    policy: RetryPolicy,
    shutdown: watch::Receiver<bool>,
) -> Result<JoinSet<()>, StoreError> {
    let mut set = JoinSet::new();
    for (channel, wake) in &wakers.0 {
        let outbox = Outbox::open(db)?;
        set.spawn(deliver_channel(
            outbox,
            channel.clone(),
            deliverer.clone(),
            policy,
            wake.clone(),
            shutdown.clone(),
        ));
    }
    Ok(set)
}

async fn blocking<T: Send + 'static>(
    outbox: Outbox,
    f: impl FnOnce(&mut Outbox) -> Result<T, StoreError> + Send + 'static,
) -> (Option<Outbox>, Result<T, StoreError>) {
    match tokio::task::spawn_blocking(move || {
        let mut outbox = outbox;
        let r = f(&mut outbox);
        (outbox, r)
    })
    .await
    {
        Ok((o, r)) => (Some(o), r),
        Err(e) => (
            None,
            Err(StoreError::Sql {
                path: "outbox".into(),
                detail: e.to_string(),
            }),
        ),
    }
}

async fn deliver_channel<D: Deliver>(
    outbox: Outbox,
    channel: String,
    deliverer: Arc<D>,
    policy: RetryPolicy,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let poll = Duration::from_secs(5);
    let mut outbox = Some(outbox);
    while !*shutdown.borrow() {
        let Some(ob) = outbox.take() else { return };
        let ch = channel.clone();
        let (ob, due) = blocking(ob, move |o| o.due(&ch, now_ms(), 50)).await;
        outbox = ob;
        let due = match due {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(channel = %channel, "cannot read the outbox: {e}");
                Vec::new()
            }
        };
        for item in &due {
            if *shutdown.borrow() {
                return;
            }
            let attempt = tokio::time::timeout(
                policy.attempt_timeout,
                deliverer.deliver(&channel, &item.payload),
            );
            let result = tokio::select! {
                r = attempt => r.unwrap_or_else(|_| Err(DeliverError {
                    retryable: true,
                    message: format!("no answer within {}", leakhound_core::units::human_duration(policy.attempt_timeout)),
                    retry_after: None,
                })),
                _ = shutdown.changed() => return,
            };
            let id = item.id;
            let attempts = item.attempts + 1;
            let Some(ob) = outbox.take() else { return };
            let (ob, written) = match result {
                Ok(()) => {
                    tracing::info!(channel = %channel, key = %item.key, "alert delivered");
                    blocking(ob, move |o| o.mark_sent(id, now_ms())).await
                }
                Err(e) if e.retryable && attempts < policy.max_attempts => {
                    let delay = policy.delay(item.attempts, e.retry_after);
                    tracing::warn!(
                        channel = %channel,
                        key = %item.key,
                        attempt = attempts,
                        "delivery failed, retrying in {}: {}",
                        leakhound_core::units::human_duration(delay),
                        e.message
                    );
                    let msg = e.message.clone();
                    blocking(ob, move |o| o.mark_retry(id, &msg, now_ms() + ms(delay))).await
                }
                Err(e) => {
                    tracing::error!(
                        channel = %channel,
                        key = %item.key,
                        attempts,
                        "alert dead-lettered (not delivered): {}",
                        e.message
                    );
                    let msg = e.message.clone();
                    blocking(ob, move |o| o.mark_dead(id, &msg, now_ms())).await
                }
            };
            outbox = ob;
            if let Err(e) = written {
                tracing::error!(channel = %channel, "cannot update the outbox: {e}");
            }
        }
        if due.len() == 50 {
            continue;
        }
        let Some(ob) = outbox.take() else { return };
        let ch = channel.clone();
        let (ob, next) = blocking(ob, move |o| o.next_due(&ch)).await;
        outbox = ob;
        let wait = match next {
            Ok(Some(at)) => {
                Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)).min(poll)
            }
            _ => poll,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[test]
    fn enqueue_is_idempotent_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("o.db");
        {
            let mut o = Outbox::open(&db).unwrap();
            assert!(o.enqueue("mail", "k1", "{}", 10).unwrap());
            assert!(!o.enqueue("mail", "k1", "{}", 11).unwrap());
            assert!(o.enqueue("chat", "k1", "{}", 12).unwrap());
        }
        let mut o = Outbox::open(&db).unwrap();
        assert_eq!(o.counts().unwrap().pending, 2);
        let due = o.due("mail", 100, 10).unwrap();
        assert_eq!(due.len(), 1);
        o.mark_retry(due[0].id, "boom", 500).unwrap();
        assert!(o.due("mail", 100, 10).unwrap().is_empty());
        assert_eq!(o.next_due("mail").unwrap(), Some(500));
        let again = o.due("mail", 500, 10).unwrap();
        assert_eq!(again[0].attempts, 1);
        assert_eq!(again[0].last_error.as_deref(), Some("boom"));
        o.mark_dead(again[0].id, "gave up", 600).unwrap();
        assert_eq!(
            o.counts().unwrap(),
            OutboxCounts {
                pending: 1,
                sent: 0,
                dead: 1
            }
        );
        assert_eq!(o.list("dead", 10).unwrap()[0].key, "k1");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        let d0 = p.delay(0, None);
        assert!(d0 >= Duration::from_secs(4) && d0 <= Duration::from_secs(6));
        let d3 = p.delay(3, None);
        assert!(d3 >= Duration::from_secs(32) && d3 <= Duration::from_secs(48));
        assert!(p.delay(30, None) <= Duration::from_secs(720));
        assert!(p.delay(0, Some(Duration::from_secs(60))) >= Duration::from_secs(60));
    }

    /// A peer that fails a channel's first `fail` attempts, then accepts; records what it got.
    struct Flaky {
        fail: usize,
        permanent: bool,
        seen: Mutex<HashMap<String, Vec<String>>>,
    }

    impl Deliver for Flaky {
        async fn deliver(&self, channel: &str, payload: &str) -> Result<(), DeliverError> {
            let mut seen = self.seen.lock().unwrap();
            let list = seen.entry(channel.to_string()).or_default();
            list.push(payload.to_string());
            if list.len() <= self.fail {
                return Err(DeliverError {
                    retryable: !self.permanent,
                    message: "peer down".into(),
                    retry_after: None,
                });
            }
            Ok(())
        }
    }

    async fn wait_for(db: &Path, f: impl Fn(OutboxCounts) -> bool) -> OutboxCounts {
        let mut o = Outbox::open(db).unwrap();
        for _ in 0..200 {
            let c = o.counts().unwrap();
            if f(c) {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "outbox never reached the expected state: {:?}",
            o.counts().unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn retries_until_delivered_and_dead_letters_permanent_failures() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("o.db");
        {
            let mut o = Outbox::open(&db).unwrap();
            o.enqueue("chat", "a", "first", 1).unwrap();
            o.enqueue("mail", "b", "second", 1).unwrap();
        }
        let policy = RetryPolicy {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
            max_attempts: 10,
            attempt_timeout: Duration::from_secs(1),
        };
        let peer = Arc::new(Flaky {
            fail: 3,
            permanent: false,
            seen: Mutex::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let wakers = Wakers::new(&["chat".to_string(), "mail".to_string()]);
        let mut set = spawn_delivery(&db, &wakers, peer.clone(), policy, stopped).unwrap();
        let c = wait_for(&db, |c| c.sent == 2).await;
        assert_eq!(c.pending + c.dead, 0);
        assert_eq!(peer.seen.lock().unwrap()["chat"], vec!["first"; 4]);
        let _ = stop.send(true);
        while set.join_next().await.is_some() {}

        let mut o = Outbox::open(&db).unwrap();
        o.enqueue("chat", "c", "bad request", 2).unwrap();
        drop(o);
        let peer = Arc::new(Flaky {
            fail: 100,
            permanent: true,
            seen: Mutex::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let wakers = Wakers::new(&["chat".to_string()]);
        let mut set = spawn_delivery(&db, &wakers, peer.clone(), policy, stopped).unwrap();
        let c = wait_for(&db, |c| c.dead == 1).await;
        assert_eq!(c.sent, 2);
        assert_eq!(
            peer.seen.lock().unwrap()["chat"].len(),
            1,
            "a permanent failure is not retried"
        );
        let _ = stop.send(true);
        while set.join_next().await.is_some() {}
    }
}
