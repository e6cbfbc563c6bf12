//! Alerts that are never lost: every message goes to the store's `outbox` table first, then a delivery
//! task per channel sends it with retries (exponential backoff with jitter) until it is sent or,
//! after `max_attempts`, dead-lettered — which is itself logged. A channel that hangs or fails
//! delays only itself. After a crash or `kill -9`, pending messages are sent on the next start.
//! A message is unique per (channel, idempotency key): enqueuing it twice stores it once.

use crate::clock::Clock;
use leakhound_core::time::UnixMs;
use leakhound_notify::DeliverError;
use leakhound_store::{Db, StoreError};
use rand::Rng;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

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
/// time (by `clock`), or at least every 5 s; all stop when `shutdown` turns true (pending
/// messages stay queued for the next start).
pub fn spawn_delivery<D: Deliver>(
    db: &Db,
    wakers: &Wakers,
    deliverer: Arc<D>,
    policy: RetryPolicy,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) -> Result<JoinSet<()>, StoreError> {
    let mut set = JoinSet::new();
    for (channel, wake) in &wakers.0 {
        set.spawn(deliver_channel(
            db.clone(),
            channel.clone(),
            deliverer.clone(),
            policy,
            clock.clone(),
            wake.clone(),
            shutdown.clone(),
        ));
    }
    Ok(set)
}

async fn deliver_channel<D: Deliver>(
    db: Db,
    channel: String,
    deliverer: Arc<D>,
    policy: RetryPolicy,
    clock: Clock,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let poll = Duration::from_secs(5);
    while !*shutdown.borrow() {
        let ch = channel.clone();
        let now = clock.now_ms();
        let due = match db.read(move |s| s.due(&ch, now, 50)).await {
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
            let written = match result {
                Ok(()) => {
                    tracing::info!(channel = %channel, key = %item.key, "alert delivered");
                    let now = clock.now_ms();
                    db.write(move |s| s.mark_sent(id, now)).await
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
                    let at = (clock.now() + delay).as_i64();
                    db.write(move |s| s.mark_retry(id, &msg, at)).await
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
                    let now = clock.now_ms();
                    db.write(move |s| s.mark_dead(id, &msg, now)).await
                }
            };
            if let Err(e) = written {
                tracing::error!(channel = %channel, "cannot update the outbox: {e}");
            }
        }
        if due.len() == 50 {
            continue;
        }
        let ch = channel.clone();
        let wait = match db.read(move |s| s.next_due(&ch)).await {
            Ok(Some(at)) => UnixMs(at).since(clock.now()).min(poll),
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
    use leakhound_store::OutboxCounts;
    use std::collections::HashMap;
    use std::sync::Mutex;

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

    async fn wait_for(db: &Db, f: impl Fn(OutboxCounts) -> bool) -> OutboxCounts {
        for _ in 0..200 {
            let c = db.read(|o| o.counts()).await.unwrap();
            if f(c) {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "outbox never reached the expected state: {:?}",
            db.read(|o| o.counts()).await.unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn retries_until_delivered_and_dead_letters_permanent_failures() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("o.db")).unwrap();
        db.write(|o| {
            o.enqueue("chat", "a", "first", 1)?;
            o.enqueue("mail", "b", "second", 1)
        })
        .await
        .unwrap();
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
        let mut set =
            spawn_delivery(&db, &wakers, peer.clone(), policy, Clock::system(), stopped).unwrap();
        let c = wait_for(&db, |c| c.sent == 2).await;
        assert_eq!(c.pending + c.dead, 0);
        assert_eq!(peer.seen.lock().unwrap()["chat"], vec!["first"; 4]);
        let _ = stop.send(true);
        while set.join_next().await.is_some() {}

        db.write(|o| o.enqueue("chat", "c", "bad request", 2))
            .await
            .unwrap();
        let peer = Arc::new(Flaky {
            fail: 100,
            permanent: true,
            seen: Mutex::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let wakers = Wakers::new(&["chat".to_string()]);
        let mut set =
            spawn_delivery(&db, &wakers, peer.clone(), policy, Clock::system(), stopped).unwrap();
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

    /// A retry is due by the agent's clock: an hour's backoff is tested without waiting an hour.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_retry_waits_for_its_time_on_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("o.db")).unwrap();
        let clock = Clock::manual(UnixMs(1_700_000_000_000));
        let now = clock.now_ms();
        db.write(move |o| o.enqueue("chat", "a", "first", now))
            .await
            .unwrap();
        let policy = RetryPolicy {
            base: Duration::from_secs(3600),
            ..RetryPolicy::default()
        };
        let peer = Arc::new(Flaky {
            fail: 1,
            permanent: false,
            seen: Mutex::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let wakers = Wakers::new(&["chat".to_string()]);
        let mut set =
            spawn_delivery(&db, &wakers, peer.clone(), policy, clock.clone(), stopped).unwrap();
        let attempts = || peer.seen.lock().unwrap().get("chat").map_or(0, Vec::len);
        for _ in 0..200 {
            if attempts() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // Woken again, it finds nothing due: the retry is 48-72 minutes away on the clock.
        tokio::time::sleep(Duration::from_millis(200)).await;
        wakers.wake_all();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(attempts(), 1);
        assert_eq!(db.read(|o| o.counts()).await.unwrap().pending, 1);
        clock.advance(Duration::from_secs(73 * 60));
        wakers.wake_all();
        wait_for(&db, |c| c.sent == 1).await;
        assert_eq!(attempts(), 2);
        let _ = stop.send(true);
        while set.join_next().await.is_some() {}
    }
}
