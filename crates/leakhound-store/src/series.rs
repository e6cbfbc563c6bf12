//! Chart series for the API and the dashboard: a target's stored range, sample counts, and
//! per-step goroutine peaks aggregated by SQLite (no sample is materialised).

use crate::store::{Store, StoreError};
use rusqlite::OptionalExtension;

impl Store {
    /// Per-step goroutine peaks of a target over `[since, until)` for charts: from the rollups
    /// when `rollups` (long spans; the step is rounded up to whole 10-minute buckets), else from
    /// the samples. See [`Store::has_rollups`].
    pub fn peak_series(
        &self,
        target: &str,
        since: i64,
        until: i64,
        step_ms: i64,
        rollups: bool,
    ) -> Result<Vec<(i64, Option<u64>)>, StoreError> {
        let Some(id) = self.stored_target_id(target)? else {
            return Ok(Vec::new());
        };
        // Whole steps up to the newest pass from the rollups, the rest from the rows.
        let width = crate::history::ROLLUP_MS;
        let (step, split) = match self.rollups_until()? {
            Some(complete) if rollups => {
                let step = (step_ms + width - 1) / width * width;
                let split = until.min(complete);
                (step, (split - split.rem_euclid(step)).max(since))
            }
            _ => (step_ms, since),
        };
        let mut points = Vec::new();
        if split > since {
            points = self
                .rollup_peaks_sql(id, since, split, step)
                .map_err(|e| self.classify(e))?;
        }
        if split < until {
            points.extend(
                self.peaks_sql(id, split, until, step)
                    .map_err(|e| self.classify(e))?,
            );
        }
        Ok(points)
    }

    /// Whether this database keeps `sample_rollups` (a file no leakhound with rollups has opened
    /// for writing has none).
    pub fn has_rollups(&self) -> bool {
        matches!(self.rollups_until(), Ok(Some(_)))
    }

    /// The times of a target's first and last stored sample (`None`: it has none).
    pub fn stored_range(&self, target: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let Some(id) = self.stored_target_id(target)? else {
            return Ok(None);
        };
        let end = |newest: bool| -> Result<Option<i64>, StoreError> {
            let sql = format!(
                "SELECT ts_ms FROM ({}) ORDER BY ts_ms {} LIMIT ?4",
                self.layout.ends("1", newest),
                if newest { "DESC" } else { "ASC" }
            );
            self.conn()
                .query_row(&sql, rusqlite::params![id, i64::MIN, i64::MAX, 1], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|e| self.classify(e))
        };
        Ok(end(false)?.zip(end(true)?))
    }

    /// Samples of a target with `since <= ts_ms < until`.
    pub fn count_between(&self, target: &str, since: i64, until: i64) -> Result<u64, StoreError> {
        match self.stored_target_id(target)? {
            Some(id) => self.count_in(id, since, until),
            None => Ok(0),
        }
    }

    /// [`Store::peaks`] from `sample_rollups`: one point per step (rounded up to whole 10-minute rollup
    /// buckets), at the step's last sample, `null` when the target was down in it.
    fn rollup_peaks_sql(
        &self,
        id: i64,
        since: i64,
        until: i64,
        step: i64,
    ) -> rusqlite::Result<Vec<(i64, Option<u64>)>> {
        let width = crate::history::ROLLUP_MS;
        let mut stmt = self.conn().prepare_cached(
            "SELECT bucket_ms / ?4 AS b, max(last_ms), sum(down), max(g_max) FROM sample_rollups \
             WHERE target_id = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3 GROUP BY b ORDER BY b",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![id, since - since.rem_euclid(width), until, step],
            |r| {
                let down: i64 = r.get(2)?;
                let peak: Option<i64> = r.get(3)?;
                Ok((
                    r.get::<_, i64>(1)?,
                    peak.filter(|_| down == 0)
                        .and_then(|g| u64::try_from(g).ok()),
                ))
            },
        )?;
        rows.collect()
    }

    /// `[ts_ms, goroutines]` of a target over `[since, until)`, one point per `step_ms` bucket: the
    /// peak of the bucket, `null` goroutines when the target was down in it (as the API's downsampling
    /// picks them, but aggregated by SQLite: no sample is materialised, so 200 targets' 24 hours
    /// cost one index scan each instead of millions of rows built and thrown away).
    fn peaks_sql(
        &self,
        id: i64,
        since: i64,
        until: i64,
        step_ms: i64,
    ) -> rusqlite::Result<Vec<(i64, Option<u64>)>> {
        // SQLite fills the bare columns (`ts_ms`, `up`, `goroutines`) from the row holding the
        // maximum: down rows rank above up ones, then more goroutines above fewer.
        let stmt = self.conn().prepare_cached(&format!(
            "SELECT ts_ms / ?4 AS bucket, \
                    max((NOT up) * 4611686018427387904 + min(coalesce(goroutines, 0), 4611686018427387903)), \
                    ts_ms, up, goroutines \
             FROM ({}) GROUP BY bucket ORDER BY bucket",
            self.layout.rows()
        ));
        let mut stmt = match stmt {
            Err(e) if e.to_string().contains("no such table") => return Ok(Vec::new()),
            r => r?,
        };
        let rows = stmt.query_map(rusqlite::params![id, since, until, step_ms], |r| {
            let up: bool = r.get(3)?;
            let goroutines: Option<i64> = r.get(4)?;
            Ok((
                r.get::<_, i64>(2)?,
                goroutines
                    .filter(|_| up)
                    .and_then(|g| u64::try_from(g).ok()),
            ))
        })?;
        match rows.collect() {
            Err(e) if e.to_string().contains("no such table") => Ok(Vec::new()),
            r => r,
        }
    }
}
