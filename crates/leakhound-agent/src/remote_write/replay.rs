//! The replay after a restart: the stored samples the endpoint has not acknowledged go out
//! before the live ones.
//!
//! The store keeps, per target, the time of the newest sample the endpoint took (the *mark*,
//! table `remote_write_sent`), raised after every acknowledged (or refused) request. A request
//! never splits a sample's values and requests go one at a time in queue order, so everything of
//! a target up to its mark has been sent; what follows it in the store has not. On start the
//! sender reads that backlog (at most `max_replay` old and `queue_capacity` values; what is left
//! out is counted and logged), drops any sample the live queue already has (ingest queues a
//! sample before storing it, so a sample of this run in the store is in the live queue too),
//! and sends the rest first, oldest first, so each series stays in timestamp order.

use super::Queue;
use leakhound_core::Sample;
use leakhound_store::{Db, Store, StoreError};
use std::collections::HashMap;
use std::time::Duration;

/// What [`load`] queued and left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Samples (probes) queued for the replay.
    pub samples: usize,
    /// Samples after the marks left out: older than `max_replay`, or over the capacity.
    pub skipped: u64,
}

/// The newest stored samples after each target's mark and at or after `since_ms`, oldest first:
/// at most `limit` samples overall, with the number left out.
pub fn backlog(
    store: &Store,
    since_ms: i64,
    limit: usize,
) -> Result<(Vec<Sample>, u64), StoreError> {
    let marks = store.remote_write_marks()?;
    let mut out: Vec<Sample> = Vec::new();
    let mut skipped = 0u64;
    for target in store.targets()? {
        let b =
            store.remote_write_backlog(&target, marks.get(&target).copied(), since_ms, limit)?;
        skipped += b.skipped;
        out.extend(b.samples);
        // Bounded memory: keep the newest `limit` whenever twice as many are held.
        if out.len() > limit.saturating_mul(2) {
            skipped += keep_newest(&mut out, limit);
        }
    }
    skipped += keep_newest(&mut out, limit);
    Ok((out, skipped))
}

/// Sort by time (stable: a target's samples keep their order) and drop all but the newest
/// `limit`; returns how many went.
fn keep_newest(samples: &mut Vec<Sample>, limit: usize) -> u64 {
    samples.sort_by_key(|s| s.ts_ms);
    let over = samples.len().saturating_sub(limit);
    samples.drain(..over);
    over as u64
}

/// Read the backlog from `db` and queue it on `replay`, minus what `live` already holds.
pub async fn load(db: &Db, max_replay: Duration, live: &Queue, replay: &Queue) -> Replayed {
    if max_replay.is_zero() {
        return Replayed::default();
    }
    let age = i64::try_from(max_replay.as_millis()).unwrap_or(i64::MAX);
    let since_ms = crate::agent::now_ms().saturating_sub(age);
    // A sample is at least two values (up and scrape duration).
    let limit = (replay.capacity() / 2).max(1);
    let (samples, mut skipped) = match db.read(move |s| backlog(s, since_ms, limit)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("remote write: cannot read the unsent samples from the store: {e}");
            return Replayed::default();
        }
    };
    let first_live = live.first_pushed();
    let samples: Vec<Sample> = samples
        .into_iter()
        .filter(|s| {
            first_live
                .get(s.target.as_str())
                .is_none_or(|&f| s.ts_ms < f)
        })
        .collect();
    // Within the queue's capacity in values: the newest first, the older rest skipped.
    let mut room = replay.capacity();
    let mut start = samples.len();
    for s in samples.iter().rev() {
        let n = replay.values_of(s);
        if n > room {
            break;
        }
        room -= n;
        start -= 1;
    }
    skipped += start as u64;
    // Each target's labels as the store last recorded them (the live series have them too).
    let targets: std::collections::BTreeSet<String> =
        samples[start..].iter().map(|s| s.target.clone()).collect();
    let labels = db
        .read(move |s| {
            targets
                .into_iter()
                .map(|t| s.target_labels(&t).map(|l| (t, l)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap_or_default();
    for (target, labels) in &labels {
        replay.set_target_labels(target, labels);
    }
    for s in &samples[start..] {
        replay.push(s);
    }
    let queued = samples.len() - start;
    if queued > 0 || skipped > 0 {
        let by_target = samples[start..]
            .iter()
            .fold(HashMap::<&str, usize>::new(), |mut m, s| {
                *m.entry(s.target.as_str()).or_default() += 1;
                m
            });
        tracing::info!(
            samples = queued,
            targets = by_target.len(),
            skipped,
            "remote write: resending {queued} stored samples the endpoint had not acknowledged \
             before the restart{}",
            if skipped > 0 {
                format!(
                    "; {skipped} older ones are not resent (older than [remote_write] \
                     max_replay = {}, or over queue_capacity)",
                    leakhound_core::units::human_duration(max_replay)
                )
            } else {
                String::new()
            }
        );
    }
    Replayed {
        samples: queued,
        skipped,
    }
}
