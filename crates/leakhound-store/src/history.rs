//! History queries for reports and fix verification, fast on months of samples.
//!
//! A report never loads a range's rows: it asks SQLite for aggregates. Long ranges read
//! `sample_rollups` — per target and 10-minute bucket: count, down count, goroutine
//! count/sum/min/max and band counts (the guide's default ladder), memory count/sum/min/max —
//! summed by the passes of [`crate::indexing`] — and, for steps of whole hours, the hourly
//! sums of those rows in `sample_rollups_hourly` (a month is 720 rows a target, not 4320). The
//! partial buckets at the two ends of a range, and the newest buckets no pass has summed yet,
//! come from the rows themselves, so every figure equals the same SQL over the raw rows. Ranges
//! shorter than 12 hours, a ladder other than the default, or an old file without rollups opened
//! read-only read the rows directly.
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use leakhound_store::History;
//! use leakhound_core::ladder::GoroutineLadder;
//!
//! let mut history = History::open(std::path::Path::new("leakhound.db"))?;
//! let now = 1_760_000_000_000;
//! let report = history.report("one-api", now - 3_600_000, now, &GoroutineLadder::default(), 100.0)?;
//! println!("{:?} samples, peak {:?}", report.map(|r| r.totals.samples), ());
//! # Ok(()) }
//! ```

use crate::rollups::{HOUR_MS, SUMMED};
use crate::store::{Store, StoreError};
use leakhound_core::ladder::GoroutineLadder;
use leakhound_core::report::{
    Aggregate, At, Current, RecentAverage, ReportInputs, Stat, TargetReport,
};
use leakhound_core::rules::Transition;
use leakhound_core::verify::Point;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// Width of a rollup bucket.
pub const ROLLUP_MS: i64 = 600_000;
/// The rollup tables a long range reads.
const TENS: &str = "sample_rollups";
const HOURS: &str = "sample_rollups_hourly";
/// Ranges at least this long read the rollups.
const ROLLUP_FROM_MS: i64 = 12 * 3_600_000;
/// Buckets a report's series aims for (charts and trend fits).
pub const SERIES_POINTS: i64 = 400;

/// The memory figure of a row, as [`leakhound_core::Metrics::memory_used_bytes`] picks it.
const MEMORY: &str = "coalesce(rss_bytes, cgroup_memory_bytes, sys_bytes, alloc_bytes)";

/// Reports of many targets, read by up to `threads` connections at once (each target's queries
/// are independent; SQLite readers do not block each other in WAL mode). In `targets` order;
/// `None` for a target the database does not know.
pub fn reports(
    path: &Path,
    targets: &[String],
    since_ms: i64,
    until_ms: i64,
    ladder: &GoroutineLadder,
    min_growth_per_hour: f64,
    threads: usize,
) -> Result<Vec<Option<TargetReport>>, StoreError> {
    let threads = threads.clamp(1, targets.len().max(1));
    let chunk = targets.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Option<TargetReport>>, StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = targets
            .chunks(chunk)
            .map(|names| {
                scope.spawn(move || {
                    let mut history = History::open(path)?;
                    history.with_tail_indexed(|history| {
                        names
                            .iter()
                            .map(|n| {
                                history.report(n, since_ms, until_ms, ladder, min_growth_per_hour)
                            })
                            .collect()
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(StoreError::Sql {
                        path: path.display().to_string(),
                        detail: "a report thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(targets.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// Read access to a leakhound database for reports and `verify`.
#[derive(Debug)]
pub struct History {
    store: Store,
    rollups: bool,
}

fn u(v: Option<i64>) -> Option<u64> {
    v.and_then(|x| u64::try_from(x).ok())
}

impl History {
    /// Open an existing database read-only.
    pub fn open(path: &Path) -> Result<History, StoreError> {
        let store = Store::open_read_only(path)?;
        let rollups = store.rollups_until()?.is_some();
        Ok(History { store, rollups })
    }

    /// Whether long ranges can use the rollups (false for a file no leakhound with rollups has
    /// opened for writing yet).
    pub fn has_rollups(&self) -> bool {
        self.rollups
    }

    fn run<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.store.run(|c| f(c))
    }

    /// Run `f`, a read of many targets, on one snapshot whose unindexed tail is indexed once
    /// (see [`Store::with_tail_indexed`]).
    pub fn with_tail_indexed<T>(
        &mut self,
        f: impl FnOnce(&mut History) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        crate::indexing::in_tail_snapshot(self, |h| &mut h.store, f)
    }

    /// Names of all targets with stored samples.
    pub fn targets(&self) -> Result<Vec<String>, StoreError> {
        self.store.targets()
    }

    pub fn target_id(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        self.store.stored_target_id(name)
    }

    /// The time of a target's first sample.
    pub fn first_sample_ms(&mut self, target_id: i64) -> Result<Option<i64>, StoreError> {
        let sql = format!(
            "SELECT ts_ms FROM ({}) ORDER BY ts_ms LIMIT ?4",
            self.store.layout.ends("1", false)
        );
        self.run(|c| {
            c.query_row(&sql, params![target_id, i64::MIN, i64::MAX, 1], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    /// Aggregates of `since_ms <= ts_ms < until_ms` in buckets of `step_ms` (aligned to
    /// multiples of `step_ms`), oldest first; empty buckets are left out.
    pub fn buckets(
        &mut self,
        target_id: i64,
        since_ms: i64,
        until_ms: i64,
        step_ms: i64,
        ladder: &GoroutineLadder,
    ) -> Result<Vec<Aggregate>, StoreError> {
        let step_ms = step_ms.max(1);
        let use_rollups = self.rollups
            && *ladder == GoroutineLadder::default()
            && until_ms - since_ms >= ROLLUP_FROM_MS
            && step_ms % ROLLUP_MS == 0;
        if !use_rollups {
            return self.raw_buckets(target_id, since_ms, until_ms, step_ms, ladder);
        }
        let inner_start = since_ms + (ROLLUP_MS - since_ms.rem_euclid(ROLLUP_MS)) % ROLLUP_MS;
        // Buckets the newest pass has not summed yet are read from the rows.
        let complete = self.store.rollups_until()?.unwrap_or(i64::MIN);
        let inner_end = (until_ms - until_ms.rem_euclid(ROLLUP_MS)).min(complete);
        if inner_end <= inner_start {
            return self.raw_buckets(target_id, since_ms, until_ms, step_ms, ladder);
        }
        // Whole hours the hourly rollups hold are read from them, when the step is whole hours.
        let hourly_until = match step_ms % HOUR_MS {
            0 => self.store.hourly_until()?,
            _ => None,
        };
        let hour_start = inner_start + (HOUR_MS - inner_start.rem_euclid(HOUR_MS)) % HOUR_MS;
        let hour_end = hourly_until.map_or(i64::MIN, |h| {
            (inner_end - inner_end.rem_euclid(HOUR_MS)).min(h)
        });
        let mut parts = self.raw_buckets(target_id, since_ms, inner_start, step_ms, ladder)?;
        if hour_end > hour_start {
            parts.extend(self.rollup_buckets(TENS, target_id, inner_start, hour_start, step_ms)?);
            parts.extend(self.rollup_buckets(HOURS, target_id, hour_start, hour_end, step_ms)?);
            parts.extend(self.rollup_buckets(TENS, target_id, hour_end, inner_end, step_ms)?);
        } else {
            parts.extend(self.rollup_buckets(TENS, target_id, inner_start, inner_end, step_ms)?);
        }
        parts.extend(self.raw_buckets(target_id, inner_end, until_ms, step_ms, ladder)?);
        // Merge neighbours that fall in the same step bucket (the edges and the rollups).
        let mut merged: Vec<(i64, Aggregate)> = Vec::with_capacity(parts.len());
        for a in parts {
            let key = a.first_ms.div_euclid(step_ms);
            match merged.last_mut() {
                Some((k, last)) if *k == key => last.merge(&a),
                _ => merged.push((key, a)),
            }
        }
        Ok(merged.into_iter().map(|(_, a)| a).collect())
    }

    fn raw_buckets(
        &mut self,
        target_id: i64,
        since_ms: i64,
        until_ms: i64,
        step_ms: i64,
        ladder: &GoroutineLadder,
    ) -> Result<Vec<Aggregate>, StoreError> {
        if until_ms <= since_ms {
            return Ok(Vec::new());
        }
        let b = ladder.0.map(|x| i64::try_from(x).unwrap_or(i64::MAX));
        let sql = format!(
            "SELECT ts_ms / ?4 AS bucket, count(*), total(NOT up), min(ts_ms), max(ts_ms), \
                    count(goroutines), sum(goroutines), min(goroutines), max(goroutines), \
                    total(goroutines < ?5), total(goroutines >= ?5 AND goroutines <= ?6), \
                    total(goroutines > ?6 AND goroutines <= ?7), total(goroutines > ?7 AND goroutines <= ?8), \
                    total(goroutines > ?8 AND goroutines <= ?9), total(goroutines > ?9), \
                    count({MEMORY}), sum({MEMORY}), min({MEMORY}), max({MEMORY}) \
             FROM ({}) GROUP BY bucket ORDER BY bucket",
            self.store.layout.rows()
        );
        self.run(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![target_id, since_ms, until_ms, step_ms, b[0], b[1], b[2], b[3], b[4]],
                |r| {
                    let band =
                        |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, f64>(9 + i)? as u64) };
                    Ok(Aggregate {
                        samples: r.get::<_, i64>(1)? as u64,
                        down: r.get::<_, f64>(2)? as u64,
                        first_ms: r.get(3)?,
                        last_ms: r.get(4)?,
                        goroutines: Stat {
                            n: r.get::<_, i64>(5)? as u64,
                            sum: i128::from(r.get::<_, Option<i64>>(6)?.unwrap_or(0)),
                            min: u(r.get(7)?),
                            max: u(r.get(8)?),
                        },
                        bands: [band(0)?, band(1)?, band(2)?, band(3)?, band(4)?, band(5)?],
                        memory: Stat {
                            n: r.get::<_, i64>(15)? as u64,
                            sum: i128::from(r.get::<_, Option<i64>>(16)?.unwrap_or(0)),
                            min: u(r.get(17)?),
                            max: u(r.get(18)?),
                        },
                    })
                },
            )?;
            rows.collect()
        })
    }

    /// The buckets of `[since_ms, until_ms)` from the rollup table `table` ([`TENS`] or
    /// [`HOURS`]).
    fn rollup_buckets(
        &mut self,
        table: &str,
        target_id: i64,
        since_ms: i64,
        until_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<Aggregate>, StoreError> {
        if until_ms <= since_ms {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT bucket_ms / ?4 AS bucket, {SUMMED} FROM {table} \
             WHERE target_id = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3 \
             GROUP BY bucket ORDER BY bucket"
        );
        self.run(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![target_id, since_ms, until_ms, step_ms], |r| {
                let n =
                    |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
                Ok(Aggregate {
                    samples: n(1)?,
                    down: n(2)?,
                    first_ms: r.get(3)?,
                    last_ms: r.get(4)?,
                    goroutines: Stat {
                        n: n(5)?,
                        sum: i128::from(r.get::<_, i64>(6)?),
                        min: u(r.get(7)?),
                        max: u(r.get(8)?),
                    },
                    bands: [n(9)?, n(10)?, n(11)?, n(12)?, n(13)?, n(14)?],
                    memory: Stat {
                        n: n(15)?,
                        sum: i128::from(r.get::<_, i64>(16)?),
                        min: u(r.get(17)?),
                        max: u(r.get(18)?),
                    },
                })
            })?;
            rows.collect()
        })
    }

    /// The step a range's series uses: about [`SERIES_POINTS`] buckets; for long ranges a
    /// multiple of the rollup width, and of an hour once it is longer than one (a month: 2 h).
    pub fn step_for(since_ms: i64, until_ms: i64) -> i64 {
        let range = (until_ms - since_ms).max(1);
        let step = (range + SERIES_POINTS - 1) / SERIES_POINTS;
        if range >= ROLLUP_FROM_MS {
            // Whole hours once a step is longer than one, so the hourly rollups serve it.
            let width = if step > HOUR_MS { HOUR_MS } else { ROLLUP_MS };
            (step + width - 1) / width * width
        } else {
            step.max(1)
        }
    }

    /// The newest sample at or before `until_ms`.
    pub fn current(
        &mut self,
        target_id: i64,
        until_ms: i64,
    ) -> Result<Option<Current>, StoreError> {
        let sql = format!(
            "SELECT ts_ms, up, error, goroutines, {MEMORY} FROM ({}) \
             ORDER BY ts_ms DESC LIMIT ?4",
            self.store.layout.ends("1", true)
        );
        self.run(|c| {
            c.query_row(&sql, params![target_id, i64::MIN, until_ms, 1], |r| {
                Ok(Current {
                    ts_ms: r.get(0)?,
                    up: r.get(1)?,
                    error: r.get(2)?,
                    goroutines: u(r.get(3)?),
                    memory_bytes: u(r.get(4)?),
                })
            })
            .optional()
        })
    }

    /// The newest `n` goroutine counts before `until_ms`, oldest first, with their times.
    pub fn last_goroutines(
        &mut self,
        target_id: i64,
        until_ms: i64,
        n: usize,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let sql = format!(
            "SELECT ts_ms, goroutines FROM ({}) ORDER BY ts_ms DESC LIMIT ?4",
            self.store.layout.ends("goroutines IS NOT NULL", true)
        );
        let mut rows: Vec<(i64, u64)> = self.run(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![target_id, i64::MIN, until_ms, n as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })?;
            rows.collect()
        })?;
        rows.reverse();
        Ok(rows)
    }

    /// When `value` was first seen as the goroutine count in `[since, until)`. With rollups, the
    /// 10-minute bucket that holds it is found first, so only its rows are read.
    fn when(
        &mut self,
        target_id: i64,
        since_ms: i64,
        until_ms: i64,
        value: u64,
        column: &str,
    ) -> Result<Option<i64>, StoreError> {
        let (mut lo_ms, mut hi_ms) = (since_ms, until_ms);
        if self.rollups && until_ms - since_ms > 2 * ROLLUP_MS {
            let sql = format!(
                "SELECT bucket_ms FROM sample_rollups WHERE target_id = ?1 AND bucket_ms >= ?2 \
                 AND bucket_ms < ?3 AND {column} = ?4 ORDER BY bucket_ms LIMIT 1"
            );
            let lo = since_ms - since_ms.rem_euclid(ROLLUP_MS);
            let bucket: Option<i64> = self.run(|c| {
                c.query_row(&sql, params![target_id, lo, until_ms, value as i64], |r| {
                    r.get(0)
                })
                .optional()
            })?;
            if let Some(b) = bucket {
                lo_ms = since_ms.max(b);
                hi_ms = until_ms.min(b + ROLLUP_MS);
            }
        }
        let sql = format!(
            "SELECT ts_ms FROM ({}) ORDER BY ts_ms LIMIT ?4",
            self.store.layout.ends("goroutines = ?5", false)
        );
        let mut find = |lo: i64, hi: i64| {
            self.run(|c| {
                c.query_row(&sql, params![target_id, lo, hi, 1, value as i64], |r| {
                    r.get(0)
                })
                .optional()
            })
        };
        match find(lo_ms, hi_ms)? {
            Some(ts) => Ok(Some(ts)),
            // The bucket found reaches outside the range (its value was seen there): search all.
            None if (lo_ms, hi_ms) != (since_ms, until_ms) => find(since_ms, until_ms),
            None => Ok(None),
        }
    }

    /// The whole report of one target over `[since_ms, until_ms)`; `None` for an unknown target.
    pub fn report(
        &mut self,
        target: &str,
        since_ms: i64,
        until_ms: i64,
        ladder: &GoroutineLadder,
        min_growth_per_hour: f64,
    ) -> Result<Option<TargetReport>, StoreError> {
        let Some(id) = self.target_id(target)? else {
            return Ok(None);
        };
        let step = Self::step_for(since_ms, until_ms);
        let buckets = self.buckets(id, since_ms, until_ms, step, ladder)?;
        // Peak and trough: the first bucket that holds them, then the first sample there with
        // the value — the first time it was seen, whatever the step. (`max_by_key` gives the
        // last of equal maxima: the peak's time moved with the chart's step.)
        let mut peak = None;
        let mut trough = None;
        if let Some(b) = buckets
            .iter()
            .filter(|b| b.goroutines.max.is_some())
            .reduce(|best, b| match b.goroutines.max > best.goroutines.max {
                true => b,
                false => best,
            })
        {
            if let Some(v) = b.goroutines.max {
                let ts = self.when(id, b.first_ms, b.last_ms + 1, v, "g_max")?;
                peak = ts.map(|ts_ms| At { value: v, ts_ms });
            }
        }
        if let Some(b) = buckets
            .iter()
            .filter(|b| b.goroutines.min.is_some())
            .min_by_key(|b| b.goroutines.min)
        {
            if let Some(v) = b.goroutines.min {
                let ts = self.when(id, b.first_ms, b.last_ms + 1, v, "g_min")?;
                trough = ts.map(|ts_ms| At { value: v, ts_ms });
            }
        }
        let last_1000 = self.last_goroutines(id, until_ms, 1000)?;
        let recent = match (last_1000.first(), last_1000.last()) {
            (Some(first), Some(last)) => Some(RecentAverage {
                samples: last_1000.len() as u64,
                average: last_1000.iter().map(|p| p.1 as f64).sum::<f64>() / last_1000.len() as f64,
                first_ms: first.0,
                last_ms: last.0,
            }),
            _ => None,
        };
        let last_100 = last_1000
            .iter()
            .skip(last_1000.len().saturating_sub(100))
            .map(|p| p.1)
            .collect();
        let current = self.current(id, until_ms)?;
        Ok(Some(TargetReport::build(
            ReportInputs {
                target: target.to_string(),
                since_ms,
                until_ms,
                buckets,
                current,
                peak,
                trough,
                last_1000: recent,
                last_100,
            },
            ladder,
            min_growth_per_hour,
        )))
    }

    /// Raw points of `[since, until)` for short windows (the verify plan's first two hours).
    pub fn points(
        &mut self,
        target_id: i64,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<Point>, StoreError> {
        let sql = format!(
            "SELECT ts_ms, goroutines, {MEMORY} FROM ({}) ORDER BY ts_ms",
            self.store.layout.rows()
        );
        self.run(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![target_id, since_ms, until_ms], |r| {
                Ok(Point {
                    ts_ms: r.get(0)?,
                    goroutines: u(r.get(1)?),
                    memory_bytes: u(r.get(2)?),
                })
            })?;
            rows.collect()
        })
    }

    /// A target's whole samples in `[since, until)`, oldest first (short windows only: the
    /// baseline's few minutes).
    pub fn samples(
        &self,
        target: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<leakhound_core::Sample>, StoreError> {
        self.store.samples(target, since_ms, until_ms)
    }

    /// The alert history of a target since `since_ms`, newest first.
    pub fn alerts(
        &mut self,
        target: &str,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<Transition>, StoreError> {
        let bodies: Vec<String> = self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT body FROM alert_events WHERE target = ?1 AND at_ms >= ?2 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![target, since_ms, limit as i64], |r| r.get(0))?;
            rows.collect()
        })?;
        Ok(bodies
            .iter()
            .filter_map(|b| serde_json::from_str(b).ok())
            .collect())
    }

    /// Whether the database has a table (e.g. the evidence tables of newer versions).
    pub fn has_table(&mut self, name: &str) -> Result<bool, StoreError> {
        self.run(|c| {
            c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        })
    }

    /// The newest evidence bundle of a target, with its suspects (`None` also for databases
    /// from before evidence bundles).
    pub fn latest_bundle(
        &self,
        target: &str,
    ) -> Result<Option<crate::bundles::Bundle>, StoreError> {
        self.store.latest_bundle(target)
    }

    /// A value from `agent_state` (e.g. a saved baseline).
    pub fn state(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.run(|c| {
            c.query_row("SELECT value FROM agent_state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_core::{Metrics, Sample};

    fn sample(target: &str, ts: i64, g: Option<u64>, rss: Option<u64>) -> Sample {
        Sample {
            target: target.into(),
            ts_ms: ts,
            up: g.is_some(),
            error: None,
            latency_ms: 1.0,
            source: "health".into(),
            metrics: Metrics {
                goroutines: g,
                rss_bytes: rss,
                sys_bytes: Some(7),
                ..Metrics::default()
            },
        }
    }

    /// A day and a half of samples every 30 s with a saw-tooth and some down samples.
    fn samples(target: &str) -> Vec<Sample> {
        (0..4320)
            .map(|i: i64| {
                let g = (i % 13 != 0).then(|| (300 + (i * 7919) % 12_000) as u64);
                let rss = (i % 5 != 0).then(|| (100 + i % 50) as u64 * 1_000_000);
                sample(target, 1_700_000_123_000 + i * 30_000, g, rss)
            })
            .collect()
    }

    #[test]
    fn rollups_equal_raw_sql_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let all = samples("a");
        let mut store = Store::open(&path).unwrap();
        // Two thirds passed (indexed, summed), the rest still in the tail.
        store.insert(&all[..3000]).unwrap();
        store.insert(&samples("b")[..10]).unwrap();
        store.pass_tail().unwrap();
        store.insert(&all[3000..]).unwrap();
        let since = all[17].ts_ms + 1234;
        let until = all[4000].ts_ms - 777;
        let step = History::step_for(since, until);
        assert_eq!(step % ROLLUP_MS, 0);
        let ladder = GoroutineLadder::default();
        let check = |path: &Path| {
            let mut h = History::open(path).unwrap();
            assert!(h.has_rollups());
            let id = h.target_id("a").unwrap().unwrap();
            let fast = Aggregate::total(&h.buckets(id, since, until, step, &ladder).unwrap());
            let raw = Aggregate::total(&h.raw_buckets(id, since, until, 60_000, &ladder).unwrap());
            assert_eq!(fast, raw);
            assert!(fast.samples > 3900 && fast.down > 100, "{fast:?}");
            (h, id, fast)
        };
        check(&path);
        drop(store);
        drop(Store::open(&path).unwrap()); // passes the tail
        let (mut h, id, fast) = check(&path);
        let expected: u64 = all
            .iter()
            .filter(|s| s.ts_ms >= since && s.ts_ms < until)
            .filter_map(|s| s.metrics.goroutines)
            .max()
            .unwrap();
        assert_eq!(fast.goroutines.max, Some(expected));
        // A non-default ladder reads the rows.
        let other = GoroutineLadder([10, 20, 30, 40, 50]);
        let bands = Aggregate::total(&h.buckets(id, since, until, step, &other).unwrap()).bands;
        assert_eq!(bands[5], fast.goroutines.n);
    }

    /// Every 10-minute sum of an hour, summed: what each hourly row must hold.
    const HOURS_FROM_TENS: &str = "SELECT target_id, bucket_ms - (bucket_ms % 3600000) AS h, \
        sum(n), sum(down), min(first_ms), max(last_ms), sum(g_n), sum(g_sum), min(g_min), \
        max(g_max), sum(b0), sum(b5), sum(m_n), sum(m_sum), min(m_min), max(m_max) \
        FROM sample_rollups WHERE bucket_ms < (SELECT until_ms FROM hourly_mark) \
        GROUP BY target_id, h ORDER BY target_id, h";
    const HOURLY_ROWS: &str = "SELECT target_id, bucket_ms, n, down, first_ms, last_ms, g_n, \
        g_sum, g_min, g_max, b0, b5, m_n, m_sum, m_min, m_max \
        FROM sample_rollups_hourly ORDER BY target_id, bucket_ms";

    fn table(store: &Store, sql: &str) -> Vec<Vec<Option<i64>>> {
        let mut stmt = store.conn().prepare(sql).unwrap();
        let width = stmt.column_count();
        stmt.query_map([], |r| (0..width).map(|i| r.get(i)).collect())
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Three days a minute apart: the hourly rollups hold the sums of their 10-minute rows —
    /// after passes, a late batch into hours already summed, and a file that had none (an
    /// older agent's) — and a month-style step reads per bucket what the rows give.
    #[test]
    fn hourly_rollups_are_the_sums_of_their_hours_and_read_like_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let start = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS;
        let minute = |target: &str, i: i64| {
            let g = (i % 17 != 0).then(|| (200 + (i * 7919) % 11_000) as u64);
            sample(
                target,
                start + i * 60_000 + 7_000,
                g,
                Some(1_000_000 + i as u64),
            )
        };
        let day = 1440;
        let mut store = Store::open(&path).unwrap();
        for part in 0..3 {
            let batch: Vec<Sample> = (part * day..(part + 1) * day)
                .flat_map(|i| [minute("a", i), minute("b", i)])
                .collect();
            store.insert(&batch).unwrap();
            store.pass_tail().unwrap();
        }
        let until = store.hourly_until().unwrap().unwrap();
        assert_eq!(
            until,
            start + 3 * day * 60_000 - HOUR_MS,
            "all but the newest hour"
        );
        assert_eq!(table(&store, HOURLY_ROWS).len(), 2 * 71);
        assert_eq!(table(&store, HOURS_FROM_TENS), table(&store, HOURLY_ROWS));

        // Late rows into hours already summed (a replay) are summed again by their pass.
        let late: Vec<Sample> = (0..30)
            .map(|i| {
                sample(
                    "a",
                    start + 5 * HOUR_MS + i * 61_000 + 1,
                    Some(50_000),
                    None,
                )
            })
            .collect();
        store.insert(&late).unwrap();
        store.pass_tail().unwrap();
        assert_eq!(table(&store, HOURS_FROM_TENS), table(&store, HOURLY_ROWS));

        let check = |path: &Path| {
            let mut h = History::open(path).unwrap();
            let id = h.target_id("a").unwrap().unwrap();
            let (since, end) = (start + 1234, start + 3 * day * 60_000 - 777);
            let step = 2 * HOUR_MS;
            let ladder = GoroutineLadder::default();
            let fast = h.buckets(id, since, end, step, &ladder).unwrap();
            let raw = h.raw_buckets(id, since, end, step, &ladder).unwrap();
            assert_eq!(fast.len(), 36);
            assert_eq!(fast, raw, "bucket by bucket");
            assert_eq!(Aggregate::total(&fast).goroutines.max, Some(50_000));
        };
        check(&path);

        // A file written before the hourly rollups: they are summed when it is next opened.
        store
            .conn()
            .execute_batch("DROP TABLE sample_rollups_hourly; DROP TABLE hourly_mark;")
            .unwrap();
        drop(store);
        let mut reader = History::open(&path).unwrap();
        let id = reader.target_id("a").unwrap().unwrap();
        let (since, end) = (start, start + 3 * day * 60_000);
        let without = reader.buckets(id, since, end, 2 * HOUR_MS, &GoroutineLadder::default());
        drop(reader);
        let store = Store::open(&path).unwrap();
        assert_eq!(table(&store, HOURLY_ROWS).len(), 2 * 71);
        assert_eq!(table(&store, HOURS_FROM_TENS), table(&store, HOURLY_ROWS));
        check(&path);
        let mut h = History::open(&path).unwrap();
        let with = h.buckets(id, since, end, 2 * HOUR_MS, &GoroutineLadder::default());
        assert_eq!(
            with.unwrap(),
            without.unwrap(),
            "read without them, the same"
        );
    }

    /// A peak reached twice is reported at its first time, whatever the range's step (the
    /// last bucket holding it was taken: the time moved with the chart's step).
    #[test]
    fn a_repeated_peak_is_reported_at_its_first_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let start = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS;
        let peak_at = |i: i64| i == 130 || i == 2000 || i == 3900;
        let batch: Vec<Sample> = (0..4320)
            .map(|i| {
                let g = if peak_at(i) {
                    900
                } else {
                    100 + (i % 7) as u64
                };
                sample("a", start + i * 60_000, Some(g), None)
            })
            .collect();
        let mut store = Store::open(&path).unwrap();
        store.insert(&batch).unwrap();
        store.pass_tail().unwrap();
        let mut h = History::open(&path).unwrap();
        let ladder = GoroutineLadder::default();
        for days in [1, 2, 3] {
            let until = start + days * 1440 * 60_000;
            let r = h
                .report("a", start, until, &ladder, 100.0)
                .unwrap()
                .unwrap();
            let peak = r.peak.unwrap();
            assert_eq!(
                (peak.value, peak.ts_ms),
                (900, start + 130 * 60_000),
                "{days} d"
            );
        }
    }

    /// Retention drops the hourly rows of the hours that ended before the cutoff.
    #[test]
    fn pruned_rollups_take_their_hours_along() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("h.db")).unwrap();
        let start = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS;
        let batch: Vec<Sample> = (0..600)
            .map(|i| sample("a", start + i * 60_000, Some(300), None))
            .collect();
        store.insert(&batch).unwrap();
        store.pass_tail().unwrap();
        assert_eq!(table(&store, HOURLY_ROWS).len(), 9);
        store
            .prune_rollups(start + 3 * HOUR_MS + 30 * 60_000)
            .unwrap();
        let hours: Vec<Option<i64>> = table(&store, HOURLY_ROWS).iter().map(|r| r[1]).collect();
        assert_eq!(
            hours.first(),
            Some(&Some(start + 3 * HOUR_MS)),
            "the hour cut in two stays"
        );
        assert_eq!(hours.len(), 6);
    }

    #[test]
    fn report_of_an_unknown_target_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        Store::open(&path)
            .unwrap()
            .insert(&samples("a")[..5])
            .unwrap();
        let mut h = History::open(&path).unwrap();
        assert!(h
            .report("nope", 0, i64::MAX, &GoroutineLadder::default(), 100.0)
            .unwrap()
            .is_none());
        let r = h
            .report("a", 0, i64::MAX / 2, &GoroutineLadder::default(), 100.0)
            .unwrap()
            .unwrap();
        assert_eq!(r.totals.samples, 5);
        assert_eq!(r.last_100.len(), 4);
    }
}
