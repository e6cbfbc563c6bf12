//! `target_labels`: each target's labels (`[targets.labels]`, discovery), kept with its history
//! after it is gone.

use crate::store::{Store, StoreError};
use rusqlite::OptionalExtension;
use std::collections::BTreeMap;

impl Store {
    /// Record the labels of targets (`(name, labels)`), creating unknown targets; in one
    /// transaction.
    pub fn set_target_labels(
        &mut self,
        targets: &[(String, BTreeMap<String, String>)],
    ) -> Result<(), StoreError> {
        self.run(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for (name, labels) in targets {
                let id = Store::target_id(&tx, name)?;
                let json = serde_json::to_string(labels).unwrap_or_else(|_| "{}".into());
                tx.execute(
                    "INSERT INTO target_labels(target_id, labels) VALUES (?1, ?2)
                     ON CONFLICT(target_id) DO UPDATE SET labels = excluded.labels",
                    rusqlite::params![id, json],
                )?;
            }
            tx.commit()
        })
    }

    /// The labels last recorded for `target` (empty when none).
    pub fn target_labels(&mut self, target: &str) -> Result<BTreeMap<String, String>, StoreError> {
        let json: Option<String> = self.run(|c| {
            c.query_row(
                "SELECT l.labels FROM target_labels l JOIN targets t ON t.id = l.target_id WHERE t.name = ?1",
                [target],
                |r| r.get(0),
            )
            .optional()
        })?;
        Ok(json
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;
    use std::collections::BTreeMap;

    #[test]
    fn labels_are_kept_per_target_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("lh.db")).unwrap();
        let team = |v: &str| BTreeMap::from([("team".to_string(), v.to_string())]);
        store
            .set_target_labels(&[("a".into(), team("gateway")), ("b".into(), team("billing"))])
            .unwrap();
        store
            .set_target_labels(&[("a".into(), team("edge"))])
            .unwrap();
        assert_eq!(store.target_labels("a").unwrap(), team("edge"));
        assert_eq!(store.target_labels("b").unwrap(), team("billing"));
        assert!(store.target_labels("c").unwrap().is_empty());
        assert_eq!(store.targets().unwrap(), ["a", "b"]);
    }
}
