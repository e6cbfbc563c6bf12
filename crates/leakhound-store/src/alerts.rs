//! `alert_events`: the alert history (one row per transition, its JSON body), written in the
//! same transaction as the outbox rows and the rule engine's state.

use crate::store::{Store, StoreError};
use leakhound_core::rules::Transition;
use rusqlite::params;

impl Store {
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

    /// The latest transition of every alert that has not resolved, by target and rule: what was
    /// firing when the agent last wrote (its read model starts from it).
    pub fn active_alert_events(&mut self) -> Result<Vec<Transition>, StoreError> {
        let bodies: Vec<String> = self.run(|c| {
            let mut stmt = match c.prepare_cached(
                "SELECT body FROM alert_events WHERE id IN \
                 (SELECT max(id) FROM alert_events GROUP BY target, rule) \
                 AND kind != 'resolved' ORDER BY target, rule",
            ) {
                Err(e) if e.to_string().contains("no such table") => return Ok(Vec::new()),
                r => r?,
            };
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        Ok(bodies
            .iter()
            .filter_map(|b| serde_json::from_str(b).ok())
            .collect())
    }
}
