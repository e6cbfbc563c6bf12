//! `evidence_bundles`: one row per saved evidence bundle (its directory, size, goroutine total
//! and suspects). Reads work on databases from before the table: they return nothing.

use crate::store::{Store, StoreError};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One leak suspect of a bundle: a call site and how many goroutines wait there (ranked by the
/// dump crate; `leakhound_agent::evidence::suspect_row` shows it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleSuspect {
    /// Fully qualified function, e.g. `leaky/internal/leaks.(*Relay).waitReply`.
    pub function: String,
    /// `file.go:123`.
    pub location: String,
    /// Goroutines at this site in this bundle.
    pub count: u64,
    /// Growth since the previous bundle of the target (`None`: no previous bundle had it
    /// measured, the suspect is only among the largest).
    pub delta: Option<i64>,
    /// `grew` (more than in the previous bundle), `leaked` (marked by the runtime) or `largest`
    /// (among the biggest user buckets).
    pub basis: String,
    /// What they block on (`chan receive`, `select`, …).
    pub blocking: String,
    /// pprof labels carried by most of them, `key=value`.
    pub labels: Vec<String>,
}

/// A recorded evidence bundle (a row of `evidence_bundles`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub id: i64,
    pub target: String,
    /// The incident it belongs to: the alert's fingerprint, or `manual`.
    pub incident: String,
    /// The first bundle of its incident (never pruned).
    pub first_of_incident: bool,
    pub at_ms: i64,
    /// What asked for it: `alert:goroutines_critical`, `action:restart`, `manual`.
    pub trigger: String,
    /// The bundle's directory.
    pub dir: PathBuf,
    /// Bytes on disk.
    pub bytes: u64,
    /// Goroutines in the profile.
    pub goroutines: Option<u64>,
    /// `debug=1` when the goroutine profile was saved; `None` when it could not be fetched.
    pub profile_format: Option<String>,
    /// Best first.
    pub suspects: Vec<BundleSuspect>,
    /// Why (part of) the capture failed.
    pub error: Option<String>,
}

impl Bundle {
    /// Whether the goroutine profile is in it (the evidence a restart would destroy).
    pub fn has_profile(&self) -> bool {
        self.profile_format.is_some()
    }
}

fn is_missing_table(e: &rusqlite::Error) -> bool {
    e.to_string().contains("no such table")
}

const BUNDLE_COLUMNS: &str = "id, target, incident, first_of_incident, at_ms, triggered_by, dir, \
    bytes, goroutines, profile_format, suspects, error";

fn bundle_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Bundle> {
    let suspects: String = r.get(10)?;
    Ok(Bundle {
        id: r.get(0)?,
        target: r.get(1)?,
        incident: r.get(2)?,
        first_of_incident: r.get(3)?,
        at_ms: r.get(4)?,
        trigger: r.get(5)?,
        dir: PathBuf::from(r.get::<_, String>(6)?),
        bytes: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
        goroutines: r
            .get::<_, Option<i64>>(8)?
            .and_then(|g| u64::try_from(g).ok()),
        profile_format: r.get(9)?,
        suspects: serde_json::from_str(&suspects).unwrap_or_default(),
        error: r.get(11)?,
    })
}

/// Evidence bundles in the store. Reads work on databases without the table (older files):
/// they return nothing.
impl Store {
    /// Record a bundle; its `id` is ignored and the new one returned. `first_of_incident` is
    /// worked out here: true when no bundle of the same target and incident exists.
    pub fn insert_bundle(&mut self, b: &Bundle) -> Result<(i64, bool), StoreError> {
        let result = (|| -> rusqlite::Result<(i64, bool)> {
            // IMMEDIATE: the count below and the insert see the same database, and a writer
            // that committed in between makes this wait (busy timeout) instead of failing.
            let tx = self
                .connection()
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let earlier: i64 = tx.query_row(
                "SELECT count(*) FROM evidence_bundles WHERE target = ?1 AND incident = ?2",
                params![b.target, b.incident],
                |r| r.get(0),
            )?;
            let first = earlier == 0;
            tx.execute(
                "INSERT INTO evidence_bundles(target, incident, first_of_incident, at_ms, triggered_by, \
                 dir, bytes, goroutines, profile_format, suspects, error) \
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
                params![
                    b.target,
                    b.incident,
                    first,
                    b.at_ms,
                    b.trigger,
                    b.dir.display().to_string(),
                    i64::try_from(b.bytes).unwrap_or(i64::MAX),
                    b.goroutines.map(|g| i64::try_from(g).unwrap_or(i64::MAX)),
                    b.profile_format,
                    serde_json::to_string(&b.suspects).unwrap_or_else(|_| "[]".into()),
                    b.error,
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok((id, first))
        })();
        result.map_err(|e| self.classify(e))
    }

    /// Bundles, newest first: of one target (or all), at most `limit`.
    pub fn bundles(&self, target: Option<&str>, limit: usize) -> Result<Vec<Bundle>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let result = (|| -> rusqlite::Result<Vec<Bundle>> {
            let mut stmt = self.conn().prepare(&format!(
                "SELECT {BUNDLE_COLUMNS} FROM evidence_bundles \
                 WHERE (?1 IS NULL OR target = ?1) ORDER BY at_ms DESC, id DESC LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![target, limit], bundle_row)?;
            rows.collect()
        })();
        match result {
            Err(e) if is_missing_table(&e) => Ok(Vec::new()),
            r => r.map_err(|e| self.classify(e)),
        }
    }

    /// The newest bundle of a target, with its suspects.
    pub fn latest_bundle(&self, target: &str) -> Result<Option<Bundle>, StoreError> {
        Ok(self.bundles(Some(target), 1)?.into_iter().next())
    }

    /// One bundle by id.
    pub fn bundle(&self, id: i64) -> Result<Option<Bundle>, StoreError> {
        let result = self
            .conn()
            .query_row(
                &format!("SELECT {BUNDLE_COLUMNS} FROM evidence_bundles WHERE id = ?1"),
                [id],
                bundle_row,
            )
            .optional();
        match result {
            Err(e) if is_missing_table(&e) => Ok(None),
            r => r.map_err(|e| self.classify(e)),
        }
    }

    /// Bytes of all recorded bundles.
    pub fn evidence_bytes(&self) -> Result<u64, StoreError> {
        let result = self.conn().query_row(
            "SELECT coalesce(sum(bytes), 0) FROM evidence_bundles",
            [],
            |r| r.get::<_, i64>(0),
        );
        match result {
            Err(e) if is_missing_table(&e) => Ok(0),
            r => r
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(|e| self.classify(e)),
        }
    }

    /// Forget the bundles `ids`, in one transaction, and return those that were recorded (their
    /// directories are the caller's to remove, after this).
    pub fn delete_bundles(&mut self, ids: &[i64]) -> Result<Vec<Bundle>, StoreError> {
        self.run(|c| {
            let tx = c.transaction()?;
            let mut deleted = Vec::with_capacity(ids.len());
            for &id in ids {
                let row = tx
                    .query_row(
                        &format!("SELECT {BUNDLE_COLUMNS} FROM evidence_bundles WHERE id = ?1"),
                        [id],
                        bundle_row,
                    )
                    .optional()?;
                if let Some(b) = row {
                    tx.execute("DELETE FROM evidence_bundles WHERE id = ?1", [id])?;
                    deleted.push(b);
                }
            }
            tx.commit()?;
            Ok(deleted)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn deleting_bundles_returns_those_that_were_there() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("b.db")).unwrap();
        let bundle = |at_ms| Bundle {
            id: 0,
            target: "api".into(),
            incident: "inc".into(),
            first_of_incident: false,
            at_ms,
            trigger: "manual".into(),
            dir: dir.path().join(format!("b{at_ms}")),
            bytes: 10,
            goroutines: None,
            profile_format: None,
            suspects: vec![],
            error: None,
        };
        let (a, _) = store.insert_bundle(&bundle(1)).unwrap();
        let (b, _) = store.insert_bundle(&bundle(2)).unwrap();
        let deleted = store.delete_bundles(&[b, 999, b]).unwrap();
        assert_eq!(deleted.len(), 1);
        assert_eq!((deleted[0].id, deleted[0].at_ms), (b, 2));
        assert_eq!(store.evidence_bytes().unwrap(), 10);
        assert!(store.bundle(a).unwrap().is_some());
    }
}
