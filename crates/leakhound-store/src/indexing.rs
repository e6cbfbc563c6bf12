//! The per-target sample index and the rollups, built in batches.
//!
//! New samples are appended to `samples`, a rowid table with no index: a commit writes only the
//! table's last pages. Every [`PASS_EVERY`] (and when the store opens for writing) the rows
//! appended since the last pass — the *tail* — are sorted by target and time into
//! `sample_index (target_id, ts_ms, row)` and summed into `sample_rollups`, [`PASS_ROWS`] rows
//! per transaction. `sample_mark` holds the last row passed (`row`) and `floor_ms`, a time no
//! tail row is older than (the insert that brings an older row lowers it in its transaction).
//!
//! Why: with an index (or rollup row) per target kept up to date on every commit, each commit
//! rewrites one index leaf and one rollup page per target it holds — a whole page in the WAL,
//! then again at the checkpoint — for one sample each. A pass writes each target's leaf once for
//! all of its samples of the last ten minutes (120 at 5 s). See BENCHMARKS.md, "Issue 16:
//! append, then index in passes".
//!
//! Readers see a target's rows as the indexed ones (through `sample_index`) plus the tail's (a
//! scan of the rows after the mark, skipped when the range ends at or before `floor_ms`): the
//! fragments below. A read of many targets ([`Store::with_tail_indexed`]) sorts the tail once into a
//! temporary index instead, so each target's query looks its tail rows up rather than scanning
//! all of them ([`Layout::Snapshot`]). Rollups are exact for the rows up to the mark; a range's buckets from
//! `floor_ms` on are read from the rows ([`Store::rollups_until`]).
//!
//! A file written before this layout (schema ≤ 3, an index on `samples` and a trigger for the
//! rollups) is migrated when opened for writing; opened read-only it is read the old way
//! ([`Layout::Legacy`]).

use crate::store::{Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::time::{Duration, Instant};

/// How often the tail is indexed while samples are written.
pub const PASS_EVERY: Duration = Duration::from_secs(600);
/// Rows per pass transaction (a longer tail is passed in several).
pub const PASS_ROWS: i64 = 200_000;

pub(crate) const TABLES: &str = "
CREATE TABLE IF NOT EXISTS sample_index (
    target_id  INTEGER NOT NULL,
    ts_ms      INTEGER NOT NULL,
    row        INTEGER NOT NULL,
    PRIMARY KEY (target_id, ts_ms, row)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sample_mark (
    id        INTEGER PRIMARY KEY CHECK (id = 0),
    row       INTEGER NOT NULL,
    floor_ms  INTEGER NOT NULL
);
";

/// How a database's samples are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `sample_index` + the tail after `sample_mark` (schema 4).
    Batched,
    /// [`Layout::Batched`] inside [`Store::with_tail_indexed`]: the tail of this read
    /// transaction's snapshot is indexed in `temp.tail_index`.
    Snapshot,
    /// An older file opened read-only: an index on `samples(target_id, ts_ms)`; `rollups`:
    /// whether the trigger kept `sample_rollups` complete.
    Legacy { rollups: bool },
}

/// The tail's condition on `samples` (unqualified), for target `?1` and `?2 <= ts_ms < ?3`.
const TAIL: &str = "rowid > (SELECT row FROM sample_mark) \
    AND ?3 > (SELECT floor_ms FROM sample_mark) \
    AND target_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3";

/// The tail's entries of target `?1` with `?2 <= ts_ms < ?3` in `temp.tail_index` (alias `t`).
const TAIL_INDEXED: &str = "temp.tail_index t JOIN samples s ON s.rowid = t.row \
    WHERE t.target_id = ?1 AND t.ts_ms >= ?2 AND t.ts_ms < ?3";

/// The temporary index of [`Layout::Snapshot`] (per connection; emptied after each use).
const TAIL_INDEX: &str = "CREATE TEMP TABLE IF NOT EXISTS tail_index (
    target_id  INTEGER NOT NULL,
    ts_ms      INTEGER NOT NULL,
    row        INTEGER NOT NULL,
    PRIMARY KEY (target_id, ts_ms, row)
) WITHOUT ROWID";

impl Layout {
    /// Every column of target `?1`'s samples with `?2 <= ts_ms < ?3`, as a subquery (in no
    /// particular order).
    pub(crate) fn rows(self) -> String {
        match self {
            Layout::Batched => format!(
                "SELECT s.* FROM sample_index i JOIN samples s ON s.rowid = i.row \
                 WHERE i.target_id = ?1 AND i.ts_ms >= ?2 AND i.ts_ms < ?3 \
                 UNION ALL SELECT * FROM samples WHERE {TAIL}"
            ),
            Layout::Snapshot => format!(
                "SELECT s.* FROM sample_index i JOIN samples s ON s.rowid = i.row \
                 WHERE i.target_id = ?1 AND i.ts_ms >= ?2 AND i.ts_ms < ?3 \
                 UNION ALL SELECT s.* FROM {TAIL_INDEXED}"
            ),
            Layout::Legacy { .. } => {
                "SELECT * FROM samples WHERE target_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3".into()
            }
        }
    }

    /// Like [`Layout::rows`], but only the oldest (`newest`: newest) `?4` rows matching `filter`
    /// (a condition on the columns of `samples`) — the caller orders and limits again:
    /// `SELECT … FROM (this) ORDER BY ts_ms [DESC] LIMIT ?4`. The index is read in order and
    /// stops after `?4` rows instead of reading the whole range.
    pub(crate) fn ends(self, filter: &str, newest: bool) -> String {
        let dir = if newest { "DESC" } else { "ASC" };
        match self {
            Layout::Batched => format!(
                "SELECT * FROM (SELECT s.* FROM sample_index i JOIN samples s ON s.rowid = i.row \
                 WHERE i.target_id = ?1 AND i.ts_ms >= ?2 AND i.ts_ms < ?3 AND ({filter}) \
                 ORDER BY i.ts_ms {dir} LIMIT ?4) \
                 UNION ALL SELECT * FROM samples WHERE {TAIL} AND ({filter})"
            ),
            Layout::Snapshot => format!(
                "SELECT * FROM (SELECT s.* FROM sample_index i JOIN samples s ON s.rowid = i.row \
                 WHERE i.target_id = ?1 AND i.ts_ms >= ?2 AND i.ts_ms < ?3 AND ({filter}) \
                 ORDER BY i.ts_ms {dir} LIMIT ?4) \
                 UNION ALL SELECT * FROM (SELECT s.* FROM {TAIL_INDEXED} AND ({filter}) \
                 ORDER BY t.ts_ms {dir} LIMIT ?4)"
            ),
            Layout::Legacy { .. } => format!(
                "SELECT * FROM samples WHERE target_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 \
                 AND ({filter}) ORDER BY ts_ms {dir} LIMIT ?4"
            ),
        }
    }
}

impl Layout {
    /// The number of target `?1`'s samples with `?2 <= ts_ms < ?3`, as a scalar query (index
    /// entries are counted without reading the rows).
    pub(crate) fn count(self) -> String {
        match self {
            Layout::Batched => format!(
                "SELECT (SELECT count(*) FROM sample_index \
                         WHERE target_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3) \
                      + (SELECT count(*) FROM samples WHERE {TAIL})"
            ),
            Layout::Snapshot => "SELECT (SELECT count(*) FROM sample_index \
                         WHERE target_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3) \
                      + (SELECT count(*) FROM temp.tail_index \
                         WHERE target_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3)"
                .into(),
            Layout::Legacy { .. } => "SELECT count(*) FROM samples \
                WHERE target_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3"
                .into(),
        }
    }
}

/// Read the layout of an open file (any schema).
pub(crate) fn detect(conn: &Connection) -> rusqlite::Result<Layout> {
    let has = |kind: &str, name: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = ?1 AND name = ?2",
            [kind, name],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
    };
    if has("table", "sample_mark")? {
        Ok(Layout::Batched)
    } else {
        Ok(Layout::Legacy {
            rollups: has("trigger", "samples_rollup")?,
        })
    }
}

/// Bring a file opened for writing to the batched layout (in one transaction). A schema-3 file
/// (rollups kept by the trigger) gets its index from the old one and its mark after its last
/// row; an older one without rollups is passed from its first row (the rollups are built then).
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    if detect(conn)? == Layout::Batched {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let Layout::Legacy { rollups } = detect(&tx)? else {
        return Ok(());
    };
    tx.execute_batch(TABLES)?;
    tx.execute_batch(crate::rollups::ROLLUP_TABLE)?;
    if rollups {
        tx.execute_batch(
            "INSERT INTO sample_index SELECT target_id, ts_ms, rowid FROM samples \
                 ORDER BY target_id, ts_ms, rowid;
             INSERT INTO sample_mark VALUES (0, coalesce((SELECT max(rowid) FROM samples), 0), \
                 9223372036854775807);",
        )?;
    } else {
        tx.execute_batch(
            "DELETE FROM sample_rollups;
             INSERT INTO sample_mark VALUES (0, 0, \
                 coalesce((SELECT min(ts_ms) FROM samples), 9223372036854775807));",
        )?;
    }
    tx.execute_batch(
        "DROP TRIGGER IF EXISTS samples_rollup; DROP INDEX IF EXISTS samples_by_target_time;",
    )?;
    tx.commit()
}

/// Create the tables of a new file.
pub(crate) fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(TABLES)?;
    conn.execute_batch(crate::rollups::ROLLUP_TABLE)?;
    conn.execute(
        "INSERT OR IGNORE INTO sample_mark VALUES (0, 0, 9223372036854775807)",
        [],
    )?;
    Ok(())
}

/// Lower `floor_ms` to `oldest` (the oldest time of a batch being inserted) if it is older, in
/// the caller's transaction. Costs a page write only when a batch older than the tail arrives.
pub(crate) fn lower_floor(tx: &rusqlite::Transaction<'_>, oldest: i64) -> rusqlite::Result<()> {
    let floor: i64 = tx.query_row("SELECT floor_ms FROM sample_mark", [], |r| r.get(0))?;
    if oldest < floor {
        tx.execute("UPDATE sample_mark SET floor_ms = ?1", [oldest])?;
    }
    Ok(())
}

/// When the store last passed its tail, to pace [`Store::pass_if_due`].
#[derive(Debug)]
pub(crate) struct Pacer {
    last: Instant,
}

impl Pacer {
    pub(crate) fn new() -> Pacer {
        Pacer {
            last: Instant::now(),
        }
    }
}

/// [`Store::with_tail_indexed`] for anything that holds a store (`store_of` finds it): `f` gets
/// the holder while its store reads through the snapshot.
pub(crate) fn in_tail_snapshot<H, T>(
    holder: &mut H,
    store_of: impl Fn(&mut H) -> &mut Store,
    f: impl FnOnce(&mut H) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let began = store_of(holder).begin_tail_snapshot()?;
    let result = f(holder);
    let ended = store_of(holder).end_tail_snapshot(began);
    let value = result?;
    ended?;
    Ok(value)
}

impl Store {
    /// Run `f`, a read of many targets, on one snapshot of the database whose tail (the rows no
    /// pass has indexed yet) is sorted once into a temporary index: each target's query then
    /// looks up its own tail rows instead of scanning the whole tail (1000 targets at 5 s hold
    /// up to 120 000 tail rows; a scan per target and query made a fleet report read hundreds
    /// of millions of rows). Costs one pass over the tail, so single-target reads do without.
    /// Any layout but [`Layout::Batched`] runs `f` as is.
    pub fn with_tail_indexed<T>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        in_tail_snapshot(self, |s| s, f)
    }

    /// The start of [`Store::with_tail_indexed`]: `true` if a snapshot began (then
    /// [`Store::end_tail_snapshot`] must follow). If the temporary index cannot be made (no
    /// room for temporary files), the reads go on without it, only slower.
    fn begin_tail_snapshot(&mut self) -> Result<bool, StoreError> {
        if self.layout != Layout::Batched || !self.conn().is_autocommit() {
            return Ok(false);
        }
        // One read transaction: the tail indexed is the tail every query of `f` sees.
        let made = self.conn().execute_batch(TAIL_INDEX).and_then(|()| {
            self.conn().execute_batch(
                "BEGIN; DELETE FROM temp.tail_index; \
                 INSERT INTO temp.tail_index SELECT target_id, ts_ms, rowid FROM main.samples \
                     WHERE rowid > (SELECT row FROM main.sample_mark) \
                     ORDER BY target_id, ts_ms, rowid;",
            )
        });
        if let Err(e) = made {
            if !self.conn().is_autocommit() {
                let _ = self.conn().execute_batch("ROLLBACK");
            }
            tracing::warn!(
                "{}: cannot index the newest samples for this read ({e}); reading them \
                 target by target instead (slower; is the temporary directory full?)",
                self.path().display()
            );
            return Ok(false);
        }
        self.layout = Layout::Snapshot;
        Ok(true)
    }

    /// End the snapshot [`Store::begin_tail_snapshot`] began; its index is emptied and the
    /// connection's cached pages are handed back (a pooled reader keeps no fleet-sized cache).
    fn end_tail_snapshot(&mut self, began: bool) -> Result<(), StoreError> {
        if !began {
            return Ok(());
        }
        self.layout = Layout::Batched;
        let ended = self
            .run(|c| c.execute_batch("DELETE FROM temp.tail_index; COMMIT; PRAGMA shrink_memory"));
        if ended.is_err() && !self.conn().is_autocommit() {
            let _ = self.conn().execute_batch("ROLLBACK");
        }
        ended
    }

    /// Index the whole tail now (in transactions of [`PASS_ROWS`] rows). Returns the rows passed.
    /// The agent's writer calls it through [`Store::pass_if_due`]; a bulk load calls it once
    /// at the end.
    pub fn pass_tail(&mut self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self.run(pass_once)?;
            if n == 0 {
                break;
            }
            total += n;
        }
        self.sum_hours()?;
        self.pacer.last = Instant::now();
        Ok(total)
    }

    /// Sum the hours that are over into the hourly rollups: every hour before the one ten
    /// minutes before the newest indexed sample (a row of an hour already summed arrives late
    /// and is summed again by its pass).
    fn sum_hours(&mut self) -> Result<(), StoreError> {
        // One seek per target: the last row written may be an old one (a replay).
        let newest: Option<i64> = self.run(|c| {
            c.query_row(
                "SELECT max((SELECT max(ts_ms) FROM sample_index WHERE target_id = t.id)) \
                 FROM targets t",
                [],
                |r| r.get(0),
            )
        })?;
        let Some(newest) = newest else {
            return Ok(());
        };
        let end = newest.saturating_sub(crate::history::ROLLUP_MS);
        let end = end - end.rem_euclid(crate::rollups::HOUR_MS);
        while self.run(|c| crate::rollups::sum_hours_step(c, end))? {}
        Ok(())
    }

    /// [`Store::pass_tail`] when [`PASS_EVERY`] has gone by since the last pass.
    pub fn pass_if_due(&mut self) -> Result<(), StoreError> {
        if self.layout == Layout::Batched && self.pacer.last.elapsed() >= PASS_EVERY {
            // A failing pass (a full disk) is tried again after another PASS_EVERY, not on
            // every batch.
            self.pacer.last = Instant::now();
            let started = Instant::now();
            let rows = self.pass_tail()?;
            tracing::debug!(rows, took = ?started.elapsed(), "indexed the newest samples");
        }
        Ok(())
    }

    /// The end of the hours the hourly rollups hold (`None`: none, or a file without them).
    pub(crate) fn hourly_until(&self) -> Result<Option<i64>, StoreError> {
        let has: bool = self
            .conn()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'hourly_mark'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| self.classify(e))?
            > 0;
        if !has || matches!(self.layout, Layout::Legacy { .. }) {
            return Ok(None);
        }
        let until: Option<i64> = self
            .conn()
            .query_row("SELECT until_ms FROM hourly_mark", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.classify(e))?;
        Ok(until.filter(|&u| u > i64::MIN))
    }

    /// The end of the span the rollups are complete for: buckets starting before this hold
    /// every row of their ten minutes (`i64::MAX`: all of them; `None`: no rollups).
    pub(crate) fn rollups_until(&self) -> Result<Option<i64>, StoreError> {
        match self.layout {
            Layout::Legacy { rollups } => Ok(rollups.then_some(i64::MAX)),
            Layout::Batched | Layout::Snapshot => {
                let floor: Option<i64> = self
                    .conn()
                    .query_row("SELECT floor_ms FROM sample_mark", [], |r| r.get(0))
                    .optional()
                    .map_err(|e| self.classify(e))?;
                let floor = floor.unwrap_or(i64::MAX);
                let width = crate::history::ROLLUP_MS;
                Ok(Some(if floor == i64::MAX {
                    floor
                } else {
                    floor - floor.rem_euclid(width)
                }))
            }
        }
    }
}

/// One pass transaction: up to [`PASS_ROWS`] rows after the mark into the index and the rollups.
fn pass_once(conn: &mut Connection) -> rusqlite::Result<u64> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mark: i64 = tx.query_row("SELECT row FROM sample_mark", [], |r| r.get(0))?;
    let last: i64 = tx.query_row("SELECT coalesce(max(rowid), 0) FROM samples", [], |r| {
        r.get(0)
    })?;
    let hi = last.min(mark.saturating_add(PASS_ROWS));
    if hi <= mark {
        return Ok(0);
    }
    tx.execute(
        "INSERT INTO sample_index SELECT target_id, ts_ms, rowid FROM samples \
         WHERE rowid > ?1 AND rowid <= ?2 ORDER BY target_id, ts_ms, rowid",
        params![mark, hi],
    )?;
    tx.execute(&crate::rollups::add_rows_sql(), params![mark, hi])?;
    crate::rollups::resum_late_hours(&tx, mark, hi)?;
    // The rows still after the mark (none unless this pass was cut at PASS_ROWS) set the floor.
    let floor: Option<i64> = tx.query_row(
        "SELECT min(ts_ms) FROM samples WHERE rowid > ?1",
        [hi],
        |r| r.get(0),
    )?;
    tx.execute(
        "UPDATE sample_mark SET row = ?1, floor_ms = ?2",
        params![hi, floor.unwrap_or(i64::MAX)],
    )?;
    tx.commit()?;
    Ok(u64::try_from(hi - mark).unwrap_or(0).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::ROLLUP_MS;
    use leakhound_core::Sample;

    fn sample(target: &str, ts_ms: i64, goroutines: u64) -> Sample {
        let mut s = Sample::down(target, ts_ms, 1.0, "x".into());
        s.up = true;
        s.error = None;
        s.metrics.goroutines = Some(goroutines);
        s
    }

    fn times(store: &Store, target: &str) -> Vec<i64> {
        store
            .samples(target, i64::MIN, i64::MAX)
            .unwrap()
            .iter()
            .map(|s| s.ts_ms)
            .collect()
    }

    /// Every read sees the tail before its pass, and the same after it.
    #[test]
    fn the_tail_is_read_before_and_after_its_pass() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("lh.db")).unwrap();
        let batch: Vec<Sample> = (0..30)
            .flat_map(|i| {
                [
                    sample("a", i * 60_000, 10 + i as u64),
                    sample("b", i * 60_000, 5),
                ]
            })
            .collect();
        store.insert(&batch[..40]).unwrap();
        store.pass_tail().unwrap();
        store.insert(&batch[40..]).unwrap();
        let tail: i64 = store
            .conn()
            .query_row(
                "SELECT count(*) FROM samples WHERE rowid > (SELECT row FROM sample_mark)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tail, 20);
        // Everything a reader asks of one target.
        let reads = |store: &Store| {
            (
                times(store, "a"),
                store.count(Some("a")).unwrap(),
                store.stored_range("a").unwrap(),
                store
                    .peak_series("a", 0, 30 * 60_000, 300_000, false)
                    .unwrap(),
                store
                    .remote_write_backlog("a", Some(25 * 60_000), 0, 3)
                    .unwrap(),
            )
        };
        let before = reads(&store);
        assert_eq!(before.0, (0..30).map(|i| i * 60_000).collect::<Vec<_>>());
        assert_eq!(before.1, 30);
        assert_eq!(before.2, Some((0, 29 * 60_000)));
        assert_eq!(before.3.last(), Some(&(29 * 60_000, Some(39))));
        assert_eq!(before.4.samples.len(), 3);
        assert_eq!(before.4.samples[2].ts_ms, 29 * 60_000);
        assert_eq!(before.4.skipped, 1);
        // A read-only connection in one snapshot with the tail indexed reads the same.
        let mut reader = Store::open_read_only(&dir.path().join("lh.db")).unwrap();
        let snapshot = reader
            .with_tail_indexed(|s| {
                assert_eq!(s.layout, Layout::Snapshot);
                Ok(reads(s))
            })
            .unwrap();
        assert_eq!(snapshot, before);
        assert_eq!(reader.layout, Layout::Batched);
        store.pass_tail().unwrap();
        let after = reads(&store);
        assert_eq!(before, after);
    }

    /// A store at `path` with 10 samples of "a", 1 s apart, in its tail.
    fn ten_samples(path: &std::path::Path) -> Store {
        let mut store = Store::open(path).unwrap();
        let samples: Vec<Sample> = (0..10).map(|i| sample("a", i * 1_000, 1)).collect();
        store.insert(&samples).unwrap();
        store
    }

    /// A snapshot whose temporary index cannot be made reads the plain way, and leaves no
    /// transaction open behind it.
    #[test]
    fn a_failed_tail_index_falls_back_to_scanning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lh.db");
        let _writer = ten_samples(&path);
        let mut reader = Store::open_read_only(&path).unwrap();
        // A temporary view by that name: the index's DELETE fails.
        reader
            .conn()
            .execute_batch("CREATE TEMP VIEW tail_index AS SELECT 1 AS target_id")
            .unwrap();
        let seen = reader
            .with_tail_indexed(|r| {
                assert_eq!(r.layout, Layout::Batched);
                Ok(times(r, "a"))
            })
            .unwrap();
        assert_eq!(seen, (0..10).map(|i| i * 1_000).collect::<Vec<_>>());
        assert!(reader.conn().is_autocommit());
    }

    /// What is written and passed while a snapshot is open is not in it (its tail index is
    /// the tail of its own start), and is in the next one.
    #[test]
    fn a_tail_snapshot_is_one_consistent_view() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lh.db");
        let mut store = ten_samples(&path);
        store.pass_tail().unwrap();
        store
            .insert(
                &(10..20)
                    .map(|i| sample("a", i * 1_000, 2))
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        let mut reader = Store::open_read_only(&path).unwrap();
        let seen = reader
            .with_tail_indexed(|r| {
                let first = times(r, "a");
                store.insert(&[sample("a", 20_000, 3)]).unwrap();
                store.pass_tail().unwrap();
                store.insert(&[sample("a", 21_000, 4)]).unwrap();
                Ok((first, times(r, "a"), r.count(Some("a")).unwrap()))
            })
            .unwrap();
        let twenty: Vec<i64> = (0..20).map(|i| i * 1_000).collect();
        assert_eq!(seen, (twenty.clone(), twenty, 20));
        let next = reader.with_tail_indexed(|r| Ok(times(r, "a"))).unwrap();
        assert_eq!(next, (0..22).map(|i| i * 1_000).collect::<Vec<_>>());
        assert_eq!(times(&reader, "a").len(), 22);
    }

    /// A batch older than the tail (an import, a late batch) lowers the floor: ranges that end
    /// before the tail began still find it.
    #[test]
    fn a_late_old_row_is_found_before_its_pass() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("lh.db")).unwrap();
        store.insert(&[sample("a", 1_000_000, 1)]).unwrap();
        store.pass_tail().unwrap();
        store.insert(&[sample("a", 2_000_000, 2)]).unwrap();
        store.insert(&[sample("a", 500, 3)]).unwrap();
        assert_eq!(store.samples("a", 0, 1_000).unwrap().len(), 1);
        assert_eq!(store.count_between("a", 0, 1_000).unwrap(), 1);
        assert_eq!(times(&store, "a"), vec![500, 1_000_000, 2_000_000]);
    }

    /// Retention that empties the table must not leave the mark past the next rows' ids.
    #[test]
    fn rows_after_a_full_prune_are_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("lh.db")).unwrap();
        store
            .insert(&(0..10).map(|i| sample("a", i, 1)).collect::<Vec<_>>())
            .unwrap();
        store.pass_tail().unwrap();
        assert_eq!(store.prune_samples(i64::MAX, 100).unwrap(), 10);
        store
            .insert(&[sample("a", 50, 1), sample("a", 60, 2)])
            .unwrap();
        store.pass_tail().unwrap();
        assert_eq!(times(&store, "a"), vec![50, 60]);
        let indexed: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM sample_index", [], |r| r.get(0))
            .unwrap();
        assert_eq!(indexed, 2);
    }

    /// A schema-3 file (an index on `samples`, rollups kept by a trigger): read-only it is read
    /// the old way; opened for writing it is migrated, its rollups kept as they were (including
    /// buckets whose rows retention already removed).
    #[test]
    fn a_schema_3_file_is_read_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE targets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
                 CREATE TABLE samples (
                    target_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL, up INTEGER NOT NULL,
                    error TEXT, latency_ms REAL NOT NULL, source TEXT NOT NULL,
                    goroutines INTEGER, alloc_bytes INTEGER, total_alloc_bytes INTEGER,
                    sys_bytes INTEGER, heap_bytes INTEGER, num_gc INTEGER, threads INTEGER,
                    rss_bytes INTEGER, cpu_percent REAL, open_fds INTEGER,
                    cgroup_memory_bytes INTEGER, cgroup_memory_limit_bytes INTEGER,
                    cgroup_cpu_percent REAL, container_net_rx_bytes INTEGER,
                    container_net_tx_bytes INTEGER, container_restarts INTEGER,
                    container_state TEXT);
                 CREATE INDEX samples_by_target_time ON samples(target_id, ts_ms);
                 INSERT INTO targets VALUES (1, 'old');",
            )
            .unwrap();
            c.execute_batch(crate::rollups::ROLLUP_TABLE).unwrap();
            for i in 0..50i64 {
                c.execute(
                    "INSERT INTO samples(target_id, ts_ms, up, latency_ms, source, goroutines) \
                     VALUES (1, ?1, 1, 1.0, 'health', ?2)",
                    params![10 * ROLLUP_MS + i * 60_000, 100 + i],
                )
                .unwrap();
            }
            c.execute(&crate::rollups::add_rows_sql(), params![0, 50])
                .unwrap();
            // A bucket whose rows are gone (raw retention), and the trigger of schema 3.
            c.execute_batch(
                "INSERT INTO sample_rollups VALUES (1, 0, 5, 0, 0, 4, 5, 50, 10, 10, \
                     5, 0, 0, 0, 0, 0, 0, 0, NULL, NULL);
                 CREATE TRIGGER samples_rollup AFTER INSERT ON samples BEGIN SELECT 1; END;
                 PRAGMA user_version = 3;",
            )
            .unwrap();
        }
        let rollups = |store: &Store| -> Vec<(i64, i64, i64)> {
            let mut stmt = store
                .conn()
                .prepare("SELECT bucket_ms, n, g_max FROM sample_rollups ORDER BY bucket_ms")
                .unwrap();
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        };
        let old = Store::open_read_only(&path).unwrap();
        assert_eq!(old.layout, Layout::Legacy { rollups: true });
        assert_eq!(times(&old, "old").len(), 50);
        assert_eq!(old.stored_range("old").unwrap().unwrap().0, 10 * ROLLUP_MS);
        let before = rollups(&old);
        assert_eq!(before.len(), 6);
        drop(old);

        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.layout, Layout::Batched);
        assert_eq!(rollups(&store), before, "kept, not rebuilt");
        let objects: i64 = store
            .conn()
            .query_row(
                "SELECT count(*) FROM sqlite_master \
                 WHERE name IN ('samples_rollup', 'samples_by_target_time')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(objects, 0);
        store
            .insert(&[sample("old", 10 * ROLLUP_MS + 49 * 60_000 + 30_000, 7)])
            .unwrap();
        store.pass_tail().unwrap();
        assert_eq!(times(&store, "old").len(), 51);
        let after = rollups(&store);
        assert_eq!(after[..5], before[..5]);
        assert_eq!(
            after[5].1,
            before[5].1 + 1,
            "the new row added to its bucket"
        );
    }
}
