//! `remote_write_sent`: per target, the time of the newest sample the remote-write endpoint has
//! acknowledged (or refused for good), so that a restarted agent resends from the store only
//! the samples after it. One row per target, raised (never lowered) after each request.

use crate::store::{Store, StoreError};
use leakhound_core::Sample;
use rusqlite::params;
use std::collections::HashMap;

/// The stored samples of one target a restarted agent still has to send.
#[derive(Debug, Default, PartialEq)]
pub struct Backlog {
    /// Oldest first.
    pub samples: Vec<Sample>,
    /// Samples after the mark left out: older than `since_ms`, or beyond `limit`.
    pub skipped: u64,
}

impl Store {
    /// Every target's mark: the time of its newest sample the endpoint has taken.
    pub fn remote_write_marks(&self) -> Result<HashMap<String, i64>, StoreError> {
        let rows = (|| {
            let mut stmt = self
                .conn()
                .prepare_cached("SELECT target, ts_ms FROM remote_write_sent")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<HashMap<String, i64>>>()
        })();
        rows.map_err(|e| self.classify(e))
    }

    /// Raise the marks of these targets to these times (a mark never goes back), in one
    /// transaction.
    pub fn mark_remote_written(&mut self, marks: &[(String, i64)]) -> Result<(), StoreError> {
        if marks.is_empty() {
            return Ok(());
        }
        self.run(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO remote_write_sent(target, ts_ms) VALUES (?1, ?2) \
                     ON CONFLICT(target) DO UPDATE SET ts_ms = max(ts_ms, excluded.ts_ms)",
                )?;
                for (target, ts) in marks {
                    stmt.execute(params![target, ts])?;
                }
            }
            tx.commit()
        })
    }

    /// `target`'s samples after `mark_ms` (all of them when `None`) and at or after `since_ms`:
    /// the newest `limit` of them, oldest first, with the number left out.
    pub fn remote_write_backlog(
        &self,
        target: &str,
        mark_ms: Option<i64>,
        since_ms: i64,
        limit: usize,
    ) -> Result<Backlog, StoreError> {
        let after = mark_ms.map_or(i64::MIN, |m| m.saturating_add(1));
        let from = after.max(since_ms);
        let Some(id) = self.stored_target_id(target)? else {
            return Ok(Backlog {
                samples: Vec::new(),
                skipped: 0,
            });
        };
        let count = |lo: i64, hi: i64| self.count_in(id, lo, hi);
        let too_old = if after < from { count(after, from)? } else { 0 };
        let samples = self.samples_in(target, from, i64::MAX, Some(limit))?;
        let over = if samples.len() == limit {
            count(from, i64::MAX)?.saturating_sub(limit as u64)
        } else {
            0
        };
        Ok(Backlog {
            samples,
            skipped: too_old + over,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_core::Metrics;

    fn sample(target: &str, ts: i64) -> Sample {
        Sample {
            target: target.into(),
            ts_ms: ts,
            up: true,
            error: None,
            latency_ms: 1.0,
            source: "health".into(),
            metrics: Metrics {
                goroutines: Some(ts as u64),
                ..Metrics::default()
            },
        }
    }

    fn stamps(b: &Backlog) -> Vec<i64> {
        b.samples.iter().map(|s| s.ts_ms).collect()
    }

    #[test]
    fn marks_only_go_up_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rw.db");
        {
            let mut store = Store::open(&path).unwrap();
            assert!(store.remote_write_marks().unwrap().is_empty());
            store
                .mark_remote_written(&[("a".into(), 10), ("b".into(), 5)])
                .unwrap();
            store
                .mark_remote_written(&[("a".into(), 7), ("b".into(), 9)])
                .unwrap();
        }
        let store = Store::open_read_only(&path).unwrap();
        let marks = store.remote_write_marks().unwrap();
        assert_eq!(marks, HashMap::from([("a".into(), 10), ("b".into(), 9)]));
    }

    #[test]
    fn the_backlog_is_what_follows_the_mark_bounded_by_age_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("rw.db")).unwrap();
        let all: Vec<Sample> = (1..=10).map(|t| sample("a", t * 100)).collect();
        store.insert(&all).unwrap();
        store.insert(&[sample("b", 150)]).unwrap();
        // No mark: everything since `since_ms`.
        let b = store.remote_write_backlog("a", None, 0, 100).unwrap();
        assert_eq!(stamps(&b), (1..=10).map(|t| t * 100).collect::<Vec<_>>());
        assert_eq!(b.skipped, 0);
        // After the mark, exclusive.
        let b = store.remote_write_backlog("a", Some(700), 0, 100).unwrap();
        assert_eq!(stamps(&b), [800, 900, 1000]);
        // Older than since_ms: counted as skipped.
        let b = store
            .remote_write_backlog("a", Some(200), 600, 100)
            .unwrap();
        assert_eq!(stamps(&b), [600, 700, 800, 900, 1000]);
        assert_eq!(b.skipped, 3); // 300, 400, 500
                                  // Over the limit: the newest kept, the rest counted.
        let b = store.remote_write_backlog("a", None, 0, 4).unwrap();
        assert_eq!(stamps(&b), [700, 800, 900, 1000]);
        assert_eq!(b.skipped, 6);
        // Another target's samples are not mixed in; an unknown target has none.
        assert_eq!(
            stamps(&store.remote_write_backlog("b", None, 0, 10).unwrap()),
            [150]
        );
        assert_eq!(
            store.remote_write_backlog("c", None, 0, 10).unwrap(),
            Backlog::default()
        );
    }
}
