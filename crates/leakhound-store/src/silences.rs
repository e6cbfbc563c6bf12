//! `silences`: alert silences (`leakhound silence add`), kept until removed.

use crate::store::{Store, StoreError};
use leakhound_core::rules::Silence;
use rusqlite::params;

impl Store {
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
}
