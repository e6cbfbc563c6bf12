//! `agent_state`: values the agent keeps across restarts (the rule engine's state, baselines).

use crate::store::{Store, StoreError};
use rusqlite::{params, OptionalExtension};

impl Store {
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
}
