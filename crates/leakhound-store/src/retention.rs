//! Retention: raw samples older than `[agent] raw_retention` and rollups older than
//! `retention` are deleted while the agent runs, in short transactions (one per call, at most
//! `limit` rows), so probes' batches are never held up for long. Deleting samples does not
//! touch the rollups (each pass adds the rows it indexes to them once): they stay exact.

use crate::history::ROLLUP_MS;
use crate::rollups::HOUR_MS;
use crate::store::{Store, StoreError};
use rusqlite::params;

impl Store {
    /// Delete up to `limit` samples older than `cutoff_ms` (through the per-target index, the
    /// oldest of each target first). Returns how many went: fewer than `limit` means none older
    /// is left.
    pub fn prune_samples(&mut self, cutoff_ms: i64, limit: usize) -> Result<u64, StoreError> {
        self.run(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let targets: Vec<i64> = {
                let mut stmt = tx.prepare_cached("SELECT id FROM targets ORDER BY id")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut left = limit as i64;
            let mut deleted = 0u64;
            {
                // Through the index, oldest first; rows still in the tail wait for the next pass.
                let mut oldest = tx.prepare_cached(
                    "SELECT ts_ms, row FROM sample_index WHERE target_id = ?1 AND ts_ms < ?2 \
                     ORDER BY ts_ms, row LIMIT ?3",
                )?;
                let mut drop_row = tx.prepare_cached("DELETE FROM samples WHERE rowid = ?1")?;
                let mut drop_entries = tx.prepare_cached(
                    "DELETE FROM sample_index WHERE target_id = ?1 AND (ts_ms, row) <= (?2, ?3)",
                )?;
                for id in targets {
                    if left <= 0 {
                        break;
                    }
                    let doomed: Vec<(i64, i64)> = oldest
                        .query_map(params![id, cutoff_ms, left], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<Result<_, _>>()?;
                    let Some(&(last_ts, last_row)) = doomed.last() else {
                        continue;
                    };
                    for (_, row) in &doomed {
                        drop_row.execute([row])?;
                    }
                    drop_entries.execute(params![id, last_ts, last_row])?;
                    left -= doomed.len() as i64;
                    deleted += doomed.len() as u64;
                }
            }
            // New rows take the rowid after the largest left: a mark past it would hide them.
            tx.execute(
                "UPDATE sample_mark SET row = min(row, (SELECT coalesce(max(rowid), 0) FROM samples))",
                [],
            )?;
            tx.commit()?;
            Ok(deleted)
        })
    }

    /// Delete the rollup buckets (10-minute and hourly) that ended before `cutoff_ms`. Returns
    /// how many 10-minute buckets went.
    pub fn prune_rollups(&mut self, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.run(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "DELETE FROM sample_rollups WHERE bucket_ms + ?2 <= ?1",
                params![cutoff_ms, ROLLUP_MS],
            )?;
            tx.execute(
                "DELETE FROM sample_rollups_hourly WHERE bucket_ms + ?2 <= ?1",
                params![cutoff_ms, HOUR_MS],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::history::ROLLUP_MS;
    use crate::Store;
    use leakhound_core::Sample;

    /// Every rollup row of `target`: (bucket, n, goroutine sum, min, max).
    fn rollup_rows(store: &mut Store, target: &str) -> Vec<(i64, i64, i64, i64, i64)> {
        store
            .run(|c| {
                let mut stmt = c.prepare(
                    "SELECT bucket_ms, n, g_sum, g_min, g_max FROM sample_rollups r \
                     JOIN targets t ON t.id = r.target_id WHERE t.name = ?1 ORDER BY bucket_ms",
                )?;
                let rows = stmt.query_map([target], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?;
                rows.collect()
            })
            .unwrap()
    }

    fn sample(target: &str, ts_ms: i64, goroutines: u64) -> Sample {
        let mut s = Sample::down(target, ts_ms, 1.0, "x".into());
        s.up = true;
        s.error = None;
        s.metrics.goroutines = Some(goroutines);
        s
    }

    #[test]
    fn old_samples_go_in_chunks_and_the_rollups_stay_exact() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("lh.db")).unwrap();
        // Two targets, one sample a minute for 3 hours.
        let samples: Vec<Sample> = (0..180)
            .flat_map(|i| {
                let ts = i * 60_000;
                [sample("a", ts, 100 + i as u64), sample("b", ts, 7)]
            })
            .collect();
        store.insert(&samples).unwrap();
        // Only indexed rows are pruned: the tail waits for its pass.
        assert_eq!(store.prune_samples(i64::MAX, 1000).unwrap(), 0);
        store.pass_tail().unwrap();
        let rollups_before = rollup_rows(&mut store, "a");
        // Keep the last hour: 2 × 120 rows go, 25 at a time.
        let cutoff = 120 * 60_000;
        let mut calls = 0;
        let mut total = 0;
        loop {
            let n = store.prune_samples(cutoff, 25).unwrap();
            calls += 1;
            total += n;
            if n < 25 {
                break;
            }
        }
        assert_eq!(total, 240);
        assert_eq!(calls, 10, "240 rows in chunks of 25: 9 full, one short");
        assert_eq!(store.count_between("a", 0, i64::MAX).unwrap(), 60);
        assert_eq!(store.count_between("b", 0, i64::MAX).unwrap(), 60);
        assert!(store
            .samples("a", 0, i64::MAX)
            .unwrap()
            .iter()
            .all(|s| s.ts_ms >= cutoff));
        let rollups_after = rollup_rows(&mut store, "a");
        assert_eq!(
            rollups_before, rollups_after,
            "rollups untouched, still exact"
        );
        assert_eq!(rollups_after.len(), 18);

        // Rollups: the buckets that ended before the cutoff go.
        let gone = store.prune_rollups(6 * ROLLUP_MS).unwrap();
        assert_eq!(gone, 2 * 6);
        let left = rollup_rows(&mut store, "a");
        assert_eq!(left, rollups_before[6..]);
    }
}
