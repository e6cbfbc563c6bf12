//! `sample_rollups`: per target and 10-minute bucket, the aggregates a long report needs (count,
//! down count, goroutine count/sum/min/max and band counts of the guide's default ladder, memory
//! count/sum/min/max), summed from the rows by each pass of [`crate::indexing`] (exact for the
//! rows up to the pass's mark; deleting old rows leaves them as they are).

use crate::history::ROLLUP_MS;
use rusqlite::Connection;

/// The columns of a rollup table (one row per target and bucket). Bands are the guide's
/// default ladder (1000 / 2000 / 3000 / 5000 / 10000, each band including its upper bound).
macro_rules! rollup_columns {
    () => {
        "target_id  INTEGER NOT NULL,
    bucket_ms  INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    down       INTEGER NOT NULL,
    first_ms   INTEGER NOT NULL,
    last_ms    INTEGER NOT NULL,
    g_n        INTEGER NOT NULL,
    g_sum      INTEGER NOT NULL,
    g_min      INTEGER,
    g_max      INTEGER,
    b0 INTEGER NOT NULL, b1 INTEGER NOT NULL, b2 INTEGER NOT NULL,
    b3 INTEGER NOT NULL, b4 INTEGER NOT NULL, b5 INTEGER NOT NULL,
    m_n        INTEGER NOT NULL,
    m_sum      INTEGER NOT NULL,
    m_min      INTEGER,
    m_max      INTEGER,
    PRIMARY KEY (target_id, bucket_ms)"
    };
}

/// The rollup table, per 10-minute bucket.
pub(crate) const ROLLUP_TABLE: &str = concat!(
    "CREATE TABLE IF NOT EXISTS sample_rollups (",
    rollup_columns!(),
    ") WITHOUT ROWID;"
);

/// The hourly rollups: the 10-minute rows of each hour summed once the hour is over, so that a
/// month's report reads 720 rows a target instead of 4320. Every pass adds one 10-minute row
/// per target, so a target's rows end up spread over the whole file: read cold, each page is
/// a seek (BENCHMARKS.md, "Hourly rollups"). `hourly_mark.until_ms`: the hours before it are
/// summed (`i64::MIN`: none yet).
pub(crate) const HOURLY_TABLES: &str = concat!(
    "CREATE TABLE IF NOT EXISTS sample_rollups_hourly (",
    rollup_columns!(),
    ") WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hourly_mark (
    id        INTEGER PRIMARY KEY CHECK (id = 0),
    until_ms  INTEGER NOT NULL
);
INSERT OR IGNORE INTO hourly_mark VALUES (0, -9223372036854775808);"
);

/// The width of an hourly rollup.
pub const HOUR_MS: i64 = 3_600_000;
/// The most hours one summing transaction covers (a migrated store catches up in steps).
const SUM_HOURS_PER_STEP: i64 = 24;

/// Columns 2… of a rollup row summed over rollup rows (the `GROUP BY` decides the bucket):
/// how a report reads several buckets as one, and how the hourly rows are made.
pub(crate) const SUMMED: &str = "sum(n), sum(down), min(first_ms), max(last_ms), \
    sum(g_n), sum(g_sum), min(g_min), max(g_max), \
    sum(b0), sum(b1), sum(b2), sum(b3), sum(b4), sum(b5), \
    sum(m_n), sum(m_sum), min(m_min), max(m_max)";

/// In a pass's transaction, after its rows `?1 < rowid <= ?2` were added to the 10-minute
/// rollups: the hours already summed that those rows reached (late rows — a replay, an old
/// batch) are summed again from their 10-minute rows, so the hourly rows stay exact.
pub(crate) fn resum_late_hours(
    tx: &rusqlite::Transaction<'_>,
    lo: i64,
    hi: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        &format!(
            "INSERT OR REPLACE INTO sample_rollups_hourly \
             SELECT r.target_id, l.hour, {SUMMED} \
             FROM (SELECT DISTINCT target_id, ts_ms - (ts_ms % {HOUR_MS}) AS hour FROM samples \
                   WHERE rowid > ?1 AND rowid <= ?2 \
                     AND ts_ms < (SELECT until_ms FROM hourly_mark)) l \
             CROSS JOIN sample_rollups r ON r.target_id = l.target_id \
                 AND r.bucket_ms >= l.hour AND r.bucket_ms < l.hour + {HOUR_MS} \
             GROUP BY r.target_id, l.hour"
        ),
        rusqlite::params![lo, hi],
    )?;
    Ok(())
}

/// One step of summing the hours that are over: from the mark (or the oldest 10-minute row) up
/// to `end_ms` (an hour boundary), at most [`SUM_HOURS_PER_STEP`] hours with rows, in one
/// transaction. Returns whether the mark moved (call again until it does not).
pub(crate) fn sum_hours_step(conn: &mut Connection, end_ms: i64) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mark: i64 = tx.query_row("SELECT until_ms FROM hourly_mark", [], |r| r.get(0))?;
    if mark >= end_ms {
        return Ok(false);
    }
    // The next 10-minute row at or after the mark, one seek per target: a gap of days (the
    // agent was stopped) is stepped over at once.
    let next: Option<i64> = tx.query_row(
        "SELECT min((SELECT min(bucket_ms) FROM sample_rollups \
                     WHERE target_id = t.id AND bucket_ms >= ?1)) FROM targets t",
        [mark],
        |r| r.get(0),
    )?;
    let from = match next {
        Some(b) if b < end_ms => b - b.rem_euclid(HOUR_MS),
        // Nothing (more) to sum before the end.
        _ => end_ms,
    };
    let to = end_ms.min(from.saturating_add(SUM_HOURS_PER_STEP * HOUR_MS));
    if to > from {
        tx.execute(
            &format!(
                "INSERT OR REPLACE INTO sample_rollups_hourly \
                 SELECT r.target_id, r.bucket_ms - (r.bucket_ms % {HOUR_MS}) AS hour, {SUMMED} \
                 FROM targets t CROSS JOIN sample_rollups r ON r.target_id = t.id \
                     AND r.bucket_ms >= ?1 AND r.bucket_ms < ?2 \
                 GROUP BY r.target_id, hour"
            ),
            [from, to],
        )?;
    }
    tx.execute("UPDATE hourly_mark SET until_ms = ?1", [to])?;
    tx.commit()?;
    Ok(true)
}

/// Columns of one row's rollup contribution, over `{s}` (the sample row: `NEW` or `samples`).
fn contribution(s: &str) -> String {
    let m =
        format!("coalesce({s}.rss_bytes, {s}.cgroup_memory_bytes, {s}.sys_bytes, {s}.alloc_bytes)");
    let g = format!("{s}.goroutines");
    format!(
        "{s}.target_id, {s}.ts_ms - ({s}.ts_ms % {ROLLUP_MS}), 1, NOT {s}.up, {s}.ts_ms, {s}.ts_ms, \
         {g} IS NOT NULL, coalesce({g}, 0), {g}, {g}, \
         coalesce({g} < 1000, 0), coalesce({g} >= 1000 AND {g} <= 2000, 0), \
         coalesce({g} > 2000 AND {g} <= 3000, 0), coalesce({g} > 3000 AND {g} <= 5000, 0), \
         coalesce({g} > 5000 AND {g} <= 10000, 0), coalesce({g} > 10000, 0), \
         ({m}) IS NOT NULL, coalesce({m}, 0), {m}, {m}"
    )
}

/// The pass's statement: the rows `?1 < rowid <= ?2` of `samples`, summed per target and
/// bucket and added to `sample_rollups` (a bucket the tail continues is updated, not replaced).
pub(crate) fn add_rows_sql() -> String {
    let pick_min = |c: &str| {
        format!("{c} = CASE WHEN {c} IS NULL OR excluded.{c} < {c} THEN excluded.{c} ELSE {c} END")
    };
    let pick_max = |c: &str| {
        format!("{c} = CASE WHEN {c} IS NULL OR excluded.{c} > {c} THEN excluded.{c} ELSE {c} END")
    };
    // `WHERE true`: SQLite needs it between a SELECT and ON CONFLICT (parsing ambiguity).
    format!(
        "INSERT INTO sample_rollups \
         SELECT target_id, bucket, count(*), sum(d), min(f), max(l), sum(gn), sum(gs), \
                min(gmin), max(gmax), sum(b0), sum(b1), sum(b2), sum(b3), sum(b4), sum(b5), \
                sum(mn), sum(ms), min(mmin), max(mmax) \
         FROM (SELECT {} FROM samples WHERE rowid > ?1 AND rowid <= ?2) WHERE true \
         GROUP BY target_id, bucket \
         ON CONFLICT(target_id, bucket_ms) DO UPDATE SET \
         n = n + excluded.n, down = down + excluded.down, \
         first_ms = min(first_ms, excluded.first_ms), last_ms = max(last_ms, excluded.last_ms), \
         g_n = g_n + excluded.g_n, g_sum = g_sum + excluded.g_sum, {}, {}, \
         b0 = b0 + excluded.b0, b1 = b1 + excluded.b1, b2 = b2 + excluded.b2, \
         b3 = b3 + excluded.b3, b4 = b4 + excluded.b4, b5 = b5 + excluded.b5, \
         m_n = m_n + excluded.m_n, m_sum = m_sum + excluded.m_sum, {}, {}",
        aliased(&contribution("samples")),
        pick_min("g_min"),
        pick_max("g_max"),
        pick_min("m_min"),
        pick_max("m_max"),
    )
}

/// `contribution("samples")` with a name on every column, for the backfill's subquery.
fn aliased(contribution: &str) -> String {
    const NAMES: [&str; 20] = [
        "target_id",
        "bucket",
        "one",
        "d",
        "f",
        "l",
        "gn",
        "gs",
        "gmin",
        "gmax",
        "b0",
        "b1",
        "b2",
        "b3",
        "b4",
        "b5",
        "mn",
        "ms",
        "mmin",
        "mmax",
    ];
    split_top_level(contribution)
        .iter()
        .zip(NAMES)
        .map(|(expr, name)| format!("{expr} AS {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Split on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for ch in text.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_string());
    }
    parts
}
