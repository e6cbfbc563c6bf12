//! Chart series for the API and the dashboard: a target's stored range, sample counts, and
//! per-step goroutine peaks aggregated by SQLite (no sample is materialised).

use crate::store::{Store, StoreError};

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
        let r = if rollups {
            self.rollup_peaks_sql(target, since, until, step_ms)
        } else {
            self.peaks_sql(target, since, until, step_ms)
        };
        r.map_err(|e| self.classify(e))
    }

    /// Whether this database keeps `sample_rollups` (a file no leakhound with rollups has opened
    /// for writing has none).
    pub fn has_rollups(&self) -> bool {
        crate::rollups::has_trigger(self.conn()).unwrap_or(false)
    }

    /// The times of a target's first and last stored sample (`None`: it has none).
    pub fn stored_range(&self, target: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let range = self.conn().query_row(
            "SELECT min(ts_ms), max(ts_ms) FROM samples \
             WHERE target_id = (SELECT id FROM targets WHERE name = ?1)",
            [target],
            |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?)),
        );
        match range {
            Ok((Some(a), Some(b))) => Ok(Some((a, b))),
            Ok(_) => Ok(None),
            Err(e) if e.to_string().contains("no such table") => Ok(None),
            Err(e) => Err(self.classify(e)),
        }
    }

    /// Samples of a target with `since <= ts_ms < until`.
    pub fn count_between(&self, target: &str, since: i64, until: i64) -> Result<u64, StoreError> {
        self.conn()
            .query_row(
                "SELECT count(*) FROM samples WHERE target_id = (SELECT id FROM targets WHERE name = ?1) \
                 AND ts_ms >= ?2 AND ts_ms < ?3",
                rusqlite::params![target, since, until],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| self.classify(e))
    }

    /// [`Store::peaks`] from `sample_rollups`: one point per step (rounded up to whole 10-minute rollup
    /// buckets), at the step's last sample, `null` when the target was down in it.
    fn rollup_peaks_sql(
        &self,
        target: &str,
        since: i64,
        until: i64,
        step_ms: i64,
    ) -> rusqlite::Result<Vec<(i64, Option<u64>)>> {
        let width = crate::history::ROLLUP_MS;
        let step = (step_ms + width - 1) / width * width;
        let mut stmt = self.conn().prepare_cached(
            "SELECT bucket_ms / ?4 AS b, max(last_ms), sum(down), max(g_max) FROM sample_rollups \
             WHERE target_id = (SELECT id FROM targets WHERE name = ?1) \
             AND bucket_ms >= ?2 AND bucket_ms < ?3 GROUP BY b ORDER BY b",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![target, since - since.rem_euclid(width), until, step],
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
        target: &str,
        since: i64,
        until: i64,
        step_ms: i64,
    ) -> rusqlite::Result<Vec<(i64, Option<u64>)>> {
        // SQLite fills the bare columns (`ts_ms`, `up`, `goroutines`) from the row holding the
        // maximum: down rows rank above up ones, then more goroutines above fewer.
        let stmt = self.conn().prepare_cached(
            "SELECT ts_ms / ?4 AS bucket, \
                    max((NOT up) * 4611686018427387904 + min(coalesce(goroutines, 0), 4611686018427387903)), \
                    ts_ms, up, goroutines \
             FROM samples WHERE target_id = (SELECT id FROM targets WHERE name = ?1) \
             AND ts_ms >= ?2 AND ts_ms < ?3 GROUP BY bucket ORDER BY bucket",
        );
        let mut stmt = match stmt {
            Err(e) if e.to_string().contains("no such table") => return Ok(Vec::new()),
            r => r?,
        };
        let rows = stmt.query_map(rusqlite::params![target, since, until, step_ms], |r| {
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
