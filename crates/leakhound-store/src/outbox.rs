//! The `outbox` table: every alert message is queued here first (unique per channel and
//! idempotency key), then sent by a delivery task with retries until it is `sent` or `dead`.

use crate::store::{Store, StoreError};
use rusqlite::{params, OptionalExtension};

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

impl Store {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn enqueue_is_idempotent_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("o.db");
        {
            let mut o = Store::open(&db).unwrap();
            assert!(o.enqueue("mail", "k1", "{}", 10).unwrap());
            assert!(!o.enqueue("mail", "k1", "{}", 11).unwrap());
            assert!(o.enqueue("chat", "k1", "{}", 12).unwrap());
        }
        let mut o = Store::open(&db).unwrap();
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
}
