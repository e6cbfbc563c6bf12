//! One open leakhound database: the schema (created and migrated on open), the connection, and
//! the `samples` repository (batched inserts, range reads). The other tables' statements live
//! in their own modules as further `impl Store` blocks.
//!
//! The store never deletes or rewrites a file it cannot read: a damaged or foreign file is an
//! error that names the file and the fix, and the file is left as it was.

use crate::indexing::{Layout, Pacer};
use leakhound_core::{Metrics, Sample};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the store failed, with the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database '{path}': {detail}. Check that the directory exists and is writable, or set [agent] database to another path")]
    Open { path: String, detail: String },
    #[error("'{path}' is not a leakhound database or is damaged ({detail}). leakhound left it untouched: move it aside (or restore a backup) and start again")]
    Corrupt { path: String, detail: String },
    #[error("'{path}' was written by a newer leakhound (schema {found}, this one knows {known}): upgrade leakhound or use another database")]
    Newer {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("database '{path}': {detail}")]
    Sql { path: String, detail: String },
}

/// The page size of a new database file (see [`Store::open`]).
const PAGE_SIZE: i64 = 1024;

/// 2: container columns on `samples` (added to older files by `migrate_samples`).
/// 3: `remote_write_sent` (created in older files by the `IF NOT EXISTS` below).
/// 4: `sample_index` and `sample_mark` instead of an index on `samples` and a rollup trigger
///    ([`crate::indexing`]; older files are migrated on open for writing).
const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS targets (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
-- A target's labels ([targets.labels], discovery) as a JSON object; its last ones are kept
-- after it is gone, with its history.
CREATE TABLE IF NOT EXISTS target_labels (
    target_id INTEGER PRIMARY KEY REFERENCES targets(id),
    labels    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    target_id          INTEGER NOT NULL REFERENCES targets(id),
    ts_ms              INTEGER NOT NULL,
    up                 INTEGER NOT NULL,
    error              TEXT,
    latency_ms         REAL NOT NULL,
    source             TEXT NOT NULL,
    goroutines         INTEGER,
    alloc_bytes        INTEGER,
    total_alloc_bytes  INTEGER,
    sys_bytes          INTEGER,
    heap_bytes         INTEGER,
    num_gc             INTEGER,
    threads            INTEGER,
    rss_bytes          INTEGER,
    cpu_percent        REAL,
    open_fds           INTEGER,
    cgroup_memory_bytes       INTEGER,
    cgroup_memory_limit_bytes INTEGER,
    cgroup_cpu_percent        REAL,
    container_net_rx_bytes    INTEGER,
    container_net_tx_bytes    INTEGER,
    container_restarts        INTEGER,
    container_state           TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    id               INTEGER PRIMARY KEY,
    channel          TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_ms       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending',
    last_error       TEXT,
    done_ms          INTEGER,
    UNIQUE(channel, idempotency_key)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(channel, state, next_attempt_ms);
CREATE TABLE IF NOT EXISTS alert_events (
    id           INTEGER PRIMARY KEY,
    at_ms        INTEGER NOT NULL,
    target       TEXT NOT NULL,
    rule         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    severity     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    notified     INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_events_by_target ON alert_events(target, at_ms);
CREATE TABLE IF NOT EXISTS silences (
    id        TEXT PRIMARY KEY,
    until_ms  INTEGER NOT NULL,
    body      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_state (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence_bundles (
    id                 INTEGER PRIMARY KEY,
    target             TEXT NOT NULL,
    incident           TEXT NOT NULL,
    first_of_incident  INTEGER NOT NULL,
    at_ms              INTEGER NOT NULL,
    triggered_by       TEXT NOT NULL,
    dir                TEXT NOT NULL,
    bytes              INTEGER NOT NULL,
    goroutines         INTEGER,
    profile_format     TEXT,
    suspects           TEXT NOT NULL,
    error              TEXT
);
CREATE INDEX IF NOT EXISTS evidence_by_target ON evidence_bundles(target, at_ms);
CREATE TABLE IF NOT EXISTS action_runs (
    id                 INTEGER PRIMARY KEY,
    target             TEXT NOT NULL,
    action             TEXT NOT NULL,
    kind               TEXT NOT NULL,
    triggered_by       TEXT NOT NULL,
    incident           TEXT,
    started_ms         INTEGER NOT NULL,
    duration_ms        INTEGER,
    command            TEXT NOT NULL,
    exit_code          INTEGER,
    output_tail        TEXT,
    error              TEXT,
    dry_run            INTEGER NOT NULL,
    bundle_id          INTEGER,
    before_goroutines  INTEGER,
    after_goroutines   INTEGER,
    outcome            TEXT NOT NULL,
    updated_ms         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS action_runs_by_target ON action_runs(target, started_ms);
CREATE TABLE IF NOT EXISTS remote_write_sent (
    target  TEXT PRIMARY KEY,
    ts_ms   INTEGER NOT NULL
);
";

/// Tables (and indexes) this schema owns; anything else marks a foreign database.
const OWN_OBJECTS: &str =
    "'targets','target_labels','samples','samples_by_target_time','outbox','outbox_due',\
    'alert_events','alert_events_by_target','silences','agent_state',\
    'evidence_bundles','evidence_by_target','action_runs','action_runs_by_target',\
    'sample_rollups','samples_rollup','remote_write_sent','sample_index','sample_mark',\
    'sample_rollups_hourly','hourly_mark'";

const COLUMNS: &str = "ts_ms, up, error, latency_ms, source, goroutines, alloc_bytes, \
    total_alloc_bytes, sys_bytes, heap_bytes, num_gc, threads, rss_bytes, cpu_percent, open_fds, \
    cgroup_memory_bytes, cgroup_memory_limit_bytes, cgroup_cpu_percent";

/// Columns added in schema 2, with their types (`ALTER TABLE … ADD COLUMN` for older files).
const CONTAINER_COLUMNS: [(&str, &str); 4] = [
    ("container_net_rx_bytes", "INTEGER"),
    ("container_net_tx_bytes", "INTEGER"),
    ("container_restarts", "INTEGER"),
    ("container_state", "TEXT"),
];

/// An open store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Whether `samples` has the schema-2 container columns (a schema-1 file opened read-only
    /// does not; its samples read back with those fields empty).
    container_columns: bool,
    /// How samples are found (batched index, or an older file's index when read-only).
    pub(crate) layout: Layout,
    pub(crate) pacer: Pacer,
}

fn u(v: Option<u64>) -> Option<i64> {
    v.map(|x| i64::try_from(x).unwrap_or(i64::MAX))
}

fn back(v: Option<i64>) -> Option<u64> {
    v.and_then(|x| u64::try_from(x).ok())
}

impl Store {
    fn connect(path: &Path, flags: OpenFlags) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            container_columns: false,
            layout: Layout::Batched,
            pacer: Pacer::new(),
        })
    }

    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(StoreError::Open {
                    path: path.display().to_string(),
                    detail: format!("the directory '{}' does not exist", dir.display()),
                });
            }
        }
        let mut store = Self::connect(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        store.init()?;
        Ok(store)
    }

    /// Open an existing database read-only (reports, `check` of history) without creating it.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Open {
                path: path.display().to_string(),
                detail: "no such file (run `leakhound run` first, or pass --db)".into(),
            });
        }
        let mut store = Self::connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        store.check_version()?;
        store.container_columns = store.missing_sample_columns()?.is_empty();
        store.layout = crate::indexing::detect(&store.conn).map_err(|e| store.classify(e))?;
        Ok(store)
    }

    /// The underlying connection, for the other tables of this database (the outbox).
    pub(crate) fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The connection for reads of the other tables (evidence bundles, action runs).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Run statements on the connection, naming this file in an error.
    pub(crate) fn run<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let result = f(&mut self.conn);
        result.map_err(|e| self.classify(e))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn classify(&self, e: rusqlite::Error) -> StoreError {
        let path = self.path.display().to_string();
        let detail = e.to_string();
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt { path, detail }
            }
            Some(
                rusqlite::ErrorCode::ReadOnly
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::PermissionDenied,
            ) => StoreError::Open { path, detail },
            _ => StoreError::Sql { path, detail },
        }
    }

    fn check_version(&self) -> Result<i64, StoreError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.classify(e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path: self.path.display().to_string(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        Ok(version)
    }

    fn init(&mut self) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| self.classify(e))?;
        // Reading the schema first tells a damaged or foreign file apart before anything is written.
        let version = self.check_version()?;
        let has_foreign_tables: bool = version == 0
            && self
                .conn
                .query_row(
                    &format!("SELECT count(*) FROM sqlite_master WHERE name NOT IN ({OWN_OBJECTS}) AND name NOT LIKE 'sqlite_%'"),
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(|e| self.classify(e))?
                > 0;
        if has_foreign_tables {
            return Err(StoreError::Corrupt {
                path: self.path.display().to_string(),
                detail: "it holds tables of another program".into(),
            });
        }
        // 1 KiB pages for a new file (an existing one keeps its size): every batch rewrites one
        // index leaf, one rollup row and one table page per target it holds, and WAL frames
        // are whole pages, so the page size is what each of those writes costs.
        if version == 0 {
            self.conn
                .pragma_update(None, "page_size", PAGE_SIZE)
                .map_err(|e| self.classify(e))?;
        }
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| self.classify(e))?;
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.classify(e))?;
        // Each batch dirties one index leaf and one rollup row per target it holds: with 1000
        // targets the same pages are rewritten every second. A checkpoint every ~40 MiB of WAL
        // (10000 pages of 4 KiB) instead of 1000 pages copies such a page back into the
        // database once, not ten times: 16 % fewer bytes written in a side-by-side run (a
        // larger page cache did not lower the CPU, so it stays at SQLite's 2 MiB).
        let page_size: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| self.classify(e))?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", (40 << 20) / page_size.max(512))
            .map_err(|e| self.classify(e))?;
        self.conn
            .execute_batch(SCHEMA)
            .map_err(|e| self.classify(e))?;
        self.migrate_samples()?;
        let indexed = if version == 0 {
            crate::indexing::create(&self.conn)
        } else {
            crate::indexing::migrate(&mut self.conn)
        };
        indexed.map_err(|e| self.classify(e))?;
        self.conn
            .execute_batch(crate::rollups::HOURLY_TABLES)
            .map_err(|e| self.classify(e))?;
        self.layout = Layout::Batched;
        self.conn
            .pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| self.classify(e))?;
        // What an earlier run left in the tail (or a migrated file's rows) is indexed now.
        self.pass_tail()?;
        Ok(())
    }

    /// The schema-2 container columns `samples` lacks (all of them in a schema-1 file).
    fn missing_sample_columns(&self) -> Result<Vec<(&'static str, &'static str)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM pragma_table_info('samples')")
            .map_err(|e| self.classify(e))?;
        let present = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.classify(e))?;
        Ok(CONTAINER_COLUMNS
            .into_iter()
            .filter(|(name, _)| !present.iter().any(|p| p == name))
            .collect())
    }

    /// Schema 1 → 2: add the container columns to an existing `samples` table, in one
    /// transaction (old rows read back with those fields empty).
    fn migrate_samples(&mut self) -> Result<(), StoreError> {
        let missing = self.missing_sample_columns()?;
        if !missing.is_empty() {
            let sql: String = missing
                .iter()
                .map(|(name, ty)| format!("ALTER TABLE samples ADD COLUMN {name} {ty};"))
                .collect();
            self.conn
                .execute_batch(&format!("BEGIN; {sql} COMMIT;"))
                .map_err(|e| self.classify(e))?;
        }
        self.container_columns = true;
        Ok(())
    }

    pub(crate) fn target_id(tx: &rusqlite::Transaction<'_>, name: &str) -> rusqlite::Result<i64> {
        if let Some(id) = tx
            .query_row("SELECT id FROM targets WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?
        {
            return Ok(id);
        }
        tx.execute("INSERT INTO targets(name) VALUES (?1)", [name])?;
        Ok(tx.last_insert_rowid())
    }

    /// Write samples in one transaction: all of them are stored, or none.
    pub fn insert(&mut self, samples: &[Sample]) -> Result<(), StoreError> {
        let result = (|| -> rusqlite::Result<()> {
            // IMMEDIATE: take the write lock first (waiting up to the busy timeout). A deferred
            // transaction that reads the target ids before writing fails at once with "database
            // is locked" when another connection (the outbox) committed in between.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if let Some(oldest) = samples.iter().map(|s| s.ts_ms).min() {
                crate::indexing::lower_floor(&tx, oldest)?;
            }
            {
                let mut stmt = tx.prepare_cached(&format!(
                    "INSERT INTO samples(target_id, {COLUMNS}, container_net_rx_bytes, \
                     container_net_tx_bytes, container_restarts, container_state) VALUES \
                     (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,\
                     ?20,?21,?22,?23)"
                ))?;
                let mut last: Option<(&str, i64)> = None;
                for s in samples {
                    let id = match last {
                        Some((name, id)) if name == s.target => id,
                        _ => Self::target_id(&tx, &s.target)?,
                    };
                    last = Some((&s.target, id));
                    let m = &s.metrics;
                    stmt.execute(params![
                        id,
                        s.ts_ms,
                        s.up,
                        s.error,
                        s.latency_ms,
                        s.source,
                        u(m.goroutines),
                        u(m.alloc_bytes),
                        u(m.total_alloc_bytes),
                        u(m.sys_bytes),
                        u(m.heap_bytes),
                        u(m.num_gc),
                        u(m.threads),
                        u(m.rss_bytes),
                        m.cpu_percent,
                        u(m.open_fds),
                        u(m.cgroup_memory_bytes),
                        u(m.cgroup_memory_limit_bytes),
                        m.cgroup_cpu_percent,
                        u(m.container_net_rx_bytes),
                        u(m.container_net_tx_bytes),
                        u(m.container_restarts),
                        m.container_state,
                    ])?;
                }
            }
            tx.commit()
        })();
        result.map_err(|e| self.classify(e))?;
        // The samples are stored whatever the pass does; a failed pass is tried again next time.
        if let Err(e) = self.pass_if_due() {
            tracing::warn!("cannot index the newest samples (will try again): {e}");
        }
        Ok(())
    }

    /// Names of all targets with stored samples.
    pub fn targets(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM targets ORDER BY name")
            .map_err(|e| self.classify(e))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>());
        rows.map_err(|e| self.classify(e))
    }

    /// A target's samples with `since_ms <= ts_ms < until_ms`, oldest first.
    pub fn samples(
        &self,
        target: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<Sample>, StoreError> {
        self.samples_in(target, since_ms, until_ms, None)
    }

    /// The id of a stored target.
    pub(crate) fn stored_target_id(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row("SELECT id FROM targets WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.classify(e))
    }

    /// A target's samples with `since_ms <= ts_ms < until_ms`, oldest first; with `newest`,
    /// only the newest that many.
    pub(crate) fn samples_in(
        &self,
        target: &str,
        since_ms: i64,
        until_ms: i64,
        newest: Option<usize>,
    ) -> Result<Vec<Sample>, StoreError> {
        let Some(id) = self.stored_target_id(target)? else {
            return Ok(Vec::new());
        };
        let container = if self.container_columns {
            "container_net_rx_bytes, container_net_tx_bytes, container_restarts, container_state"
        } else {
            "NULL, NULL, NULL, NULL"
        };
        let (sql, limit) = match newest {
            None => (
                format!(
                    "SELECT {COLUMNS}, {container} FROM ({}) ORDER BY ts_ms",
                    self.layout.rows()
                ),
                None,
            ),
            Some(n) => (
                format!(
                    "SELECT {COLUMNS}, {container} FROM ({}) ORDER BY ts_ms DESC LIMIT ?4",
                    self.layout.ends("1", true)
                ),
                Some(i64::try_from(n).unwrap_or(i64::MAX)),
            ),
        };
        let params: Vec<&dyn rusqlite::ToSql> = match &limit {
            None => vec![&id, &since_ms, &until_ms],
            Some(n) => vec![&id, &since_ms, &until_ms, n],
        };
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| self.classify(e))?;
        let rows = stmt
            .query_map(params.as_slice(), |r| {
                Ok(Sample {
                    target: target.to_string(),
                    ts_ms: r.get(0)?,
                    up: r.get(1)?,
                    error: r.get(2)?,
                    latency_ms: r.get(3)?,
                    source: r.get(4)?,
                    metrics: Metrics {
                        goroutines: back(r.get(5)?),
                        alloc_bytes: back(r.get(6)?),
                        total_alloc_bytes: back(r.get(7)?),
                        sys_bytes: back(r.get(8)?),
                        heap_bytes: back(r.get(9)?),
                        num_gc: back(r.get(10)?),
                        threads: back(r.get(11)?),
                        rss_bytes: back(r.get(12)?),
                        cpu_percent: r.get(13)?,
                        open_fds: back(r.get(14)?),
                        cgroup_memory_bytes: back(r.get(15)?),
                        cgroup_memory_limit_bytes: back(r.get(16)?),
                        cgroup_cpu_percent: r.get(17)?,
                        container_net_rx_bytes: back(r.get(18)?),
                        container_net_tx_bytes: back(r.get(19)?),
                        container_restarts: back(r.get(20)?),
                        container_state: r.get(21)?,
                    },
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        let mut rows = rows.map_err(|e| self.classify(e))?;
        if newest.is_some() {
            rows.reverse();
        }
        Ok(rows)
    }

    /// A target's samples with `since_ms <= ts_ms < until_ms`, by the target's id.
    pub(crate) fn count_in(
        &self,
        id: i64,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<u64, StoreError> {
        self.conn
            .prepare_cached(&self.layout.count())
            .and_then(|mut stmt| {
                stmt.query_row(params![id, since_ms, until_ms], |r| r.get::<_, i64>(0))
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| self.classify(e))
    }

    /// Number of stored samples, for one target or all.
    pub fn count(&self, target: Option<&str>) -> Result<u64, StoreError> {
        match target {
            Some(name) => match self.stored_target_id(name)? {
                Some(id) => self.count_in(id, i64::MIN, i64::MAX),
                None => Ok(0),
            },
            None => self
                .conn
                .query_row("SELECT count(*) FROM samples", [], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
                .map_err(|e| self.classify(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(target: &str, ts: i64, g: u64) -> Sample {
        Sample {
            target: target.into(),
            ts_ms: ts,
            up: true,
            error: None,
            latency_ms: 1.5,
            source: "health".into(),
            metrics: Metrics {
                goroutines: Some(g),
                rss_bytes: Some(1 << 20),
                cpu_percent: Some(0.5),
                ..Metrics::default()
            },
        }
    }

    /// The `targets` and `samples` tables exactly as schema 1 (leakhound before container
    /// sources) created them.
    const SCHEMA_V1_SAMPLES: &str = "
        CREATE TABLE targets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
        CREATE TABLE samples (
            target_id INTEGER NOT NULL REFERENCES targets(id), ts_ms INTEGER NOT NULL,
            up INTEGER NOT NULL, error TEXT, latency_ms REAL NOT NULL, source TEXT NOT NULL,
            goroutines INTEGER, alloc_bytes INTEGER, total_alloc_bytes INTEGER, sys_bytes INTEGER,
            heap_bytes INTEGER, num_gc INTEGER, threads INTEGER, rss_bytes INTEGER,
            cpu_percent REAL, open_fds INTEGER, cgroup_memory_bytes INTEGER,
            cgroup_memory_limit_bytes INTEGER, cgroup_cpu_percent REAL);
        CREATE INDEX samples_by_target_time ON samples(target_id, ts_ms);
        INSERT INTO targets(id, name) VALUES (1, 'old');
        INSERT INTO samples(target_id, ts_ms, up, latency_ms, source, goroutines, rss_bytes, cpu_percent)
            VALUES (1, 1, 1, 1.5, 'health', 10, 1048576, 0.5);
        PRAGMA user_version = 1;";

    /// New files get 1 KiB pages (issue 16: each batch rewrites one page per target); a file
    /// made with 4 KiB pages keeps them and its data, and the checkpoint threshold follows the
    /// page size (~40 MiB of WAL either way).
    #[test]
    fn new_files_get_small_pages_and_old_files_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let pragma = |store: &Store, name: &str| -> i64 {
            store
                .conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
        };
        let fresh = Store::open(&dir.path().join("new.db")).unwrap();
        assert_eq!(pragma(&fresh, "page_size"), PAGE_SIZE);
        assert_eq!(pragma(&fresh, "wal_autocheckpoint"), 40 * 1024);

        let path = dir.path().join("old.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("PRAGMA page_size = 4096;").unwrap();
            c.execute_batch(SCHEMA_V1_SAMPLES).unwrap();
        }
        let mut old = Store::open(&path).unwrap();
        assert_eq!(pragma(&old, "page_size"), 4096);
        assert_eq!(pragma(&old, "wal_autocheckpoint"), 10_240);
        old.insert(&[sample("old", 2, 20)]).unwrap();
        assert_eq!(old.samples("old", 0, i64::MAX).unwrap().len(), 2);
    }

    #[test]
    fn a_schema_1_database_gains_the_container_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(SCHEMA_V1_SAMPLES)
            .unwrap();
        // Read-only (a report on an old file): readable, container fields empty, file untouched.
        {
            let store = Store::open_read_only(&path).unwrap();
            assert_eq!(
                store.samples("old", 0, i64::MAX).unwrap(),
                vec![sample("old", 1, 10)]
            );
        }
        let version: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1);
        // Read-write: migrated in place, old rows kept, new fields stored.
        let mut store = Store::open(&path).unwrap();
        let mut s = sample("old", 2, 20);
        s.source = "health+container".into();
        s.metrics.container_net_rx_bytes = Some(1234);
        s.metrics.container_net_tx_bytes = Some(56);
        s.metrics.container_restarts = Some(3);
        s.metrics.container_state = Some("running".into());
        s.metrics.cgroup_memory_bytes = Some(70 << 20);
        store.insert(std::slice::from_ref(&s)).unwrap();
        assert_eq!(
            store.samples("old", 0, i64::MAX).unwrap(),
            vec![sample("old", 1, 10), s.clone()]
        );
        drop(store);
        let version: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        // Opening again is a no-op.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.samples("old", 2, 3).unwrap(), vec![s]);
    }

    #[test]
    fn roundtrip_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        {
            let mut store = Store::open(&path).unwrap();
            store
                .insert(&[sample("a", 1, 10), sample("b", 2, 20), sample("a", 3, 30)])
                .unwrap();
            let mut down = Sample::down("a", 4, 5000.0, "timed out".into());
            down.source = "health".into();
            store.insert(&[down]).unwrap();
        }
        let store = Store::open_read_only(&path).unwrap();
        assert_eq!(store.targets().unwrap(), vec!["a", "b"]);
        let a = store.samples("a", 0, i64::MAX).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[0], sample("a", 1, 10));
        assert!(!a[2].up);
        assert_eq!(a[2].error.as_deref(), Some("timed out"));
        assert_eq!(store.count(None).unwrap(), 4);
        assert_eq!(store.count(Some("b")).unwrap(), 1);
        assert_eq!(store.samples("a", 2, 4).unwrap().len(), 1);
    }

    #[test]
    fn missing_directory_is_a_clear_error() {
        let err = Store::open(Path::new("/nonexistent-dir/x/h.db")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("'/nonexistent-dir/x' does not exist"),
            "{text}"
        );
        assert!(text.contains("[agent] database"), "{text}");
    }

    #[test]
    fn garbage_file_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let garbage = vec![0x42u8; 8192];
        std::fs::write(&path, &garbage).unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("left it untouched"));
        assert_eq!(std::fs::read(&path).unwrap(), garbage);
    }

    #[test]
    fn another_programs_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE invoices(id INTEGER)")
            .unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(err.to_string().contains("another program"), "{err}");
    }
}
