//! `action_runs`: every remediation run (real or dry), its command, outcome and the goroutines
//! before and after. Reads work on databases from before the table: they return nothing.

use crate::store::{Store, StoreError};
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// One recorded run (a row of `action_runs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRun {
    pub id: i64,
    pub target: String,
    pub action: String,
    pub kind: String,
    /// `alert:goroutines_critical` and the like.
    pub trigger: String,
    /// The alert fingerprint of the incident.
    pub incident: Option<String>,
    pub started_ms: i64,
    pub duration_ms: Option<i64>,
    /// What ran: the argv as a list, `docker restart NAME`, `kill -TERM PID`, `POST URL`.
    pub command: String,
    pub exit_code: Option<i32>,
    pub output_tail: Option<String>,
    pub error: Option<String>,
    pub dry_run: bool,
    /// The evidence bundle saved before it.
    pub bundle_id: Option<i64>,
    pub before_goroutines: Option<u64>,
    pub after_goroutines: Option<u64>,
    /// `leakhound_agent::actions::outcome` names them.
    pub outcome: String,
    pub updated_ms: i64,
}

const RUN_COLUMNS: &str = "id, target, action, kind, triggered_by, incident, started_ms, duration_ms, \
    command, exit_code, output_tail, error, dry_run, bundle_id, before_goroutines, after_goroutines, \
    outcome, updated_ms";

fn to_i64(v: Option<u64>) -> Option<i64> {
    v.map(|x| i64::try_from(x).unwrap_or(i64::MAX))
}

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ActionRun> {
    let u = |v: Option<i64>| v.and_then(|x| u64::try_from(x).ok());
    Ok(ActionRun {
        id: r.get(0)?,
        target: r.get(1)?,
        action: r.get(2)?,
        kind: r.get(3)?,
        trigger: r.get(4)?,
        incident: r.get(5)?,
        started_ms: r.get(6)?,
        duration_ms: r.get(7)?,
        command: r.get(8)?,
        exit_code: r.get(9)?,
        output_tail: r.get(10)?,
        error: r.get(11)?,
        dry_run: r.get(12)?,
        bundle_id: r.get(13)?,
        before_goroutines: u(r.get(14)?),
        after_goroutines: u(r.get(15)?),
        outcome: r.get(16)?,
        updated_ms: r.get(17)?,
    })
}

/// Action runs in the store. Reads work on databases without the table: they return nothing.
impl Store {
    /// Record a run; returns its id (the `id` field is ignored).
    pub fn insert_run(&mut self, run: &ActionRun) -> Result<i64, StoreError> {
        let result = self.connection().execute(
            "INSERT INTO action_runs(target, action, kind, triggered_by, incident, started_ms, duration_ms, \
             command, exit_code, output_tail, error, dry_run, bundle_id, before_goroutines, \
             after_goroutines, outcome, updated_ms) \
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)",
            params![
                run.target,
                run.action,
                run.kind,
                run.trigger,
                run.incident,
                run.started_ms,
                run.duration_ms,
                run.command,
                run.exit_code,
                run.output_tail,
                run.error,
                run.dry_run,
                run.bundle_id,
                to_i64(run.before_goroutines),
                to_i64(run.after_goroutines),
                run.outcome,
                run.updated_ms,
            ],
        );
        match result {
            Ok(_) => Ok(self.connection().last_insert_rowid()),
            Err(e) => Err(self.classify(e)),
        }
    }

    /// Set a run's outcome after the recovery watch; the run as it now stands (`None`: no run
    /// `id`).
    pub fn finish_run(
        &mut self,
        id: i64,
        outcome: &str,
        after_goroutines: Option<u64>,
        now_ms: i64,
    ) -> Result<Option<ActionRun>, StoreError> {
        let result = (|| -> rusqlite::Result<Option<ActionRun>> {
            let conn = self.connection();
            conn.execute(
                "UPDATE action_runs SET outcome = ?2, after_goroutines = ?3, updated_ms = ?4 WHERE id = ?1",
                params![id, outcome, to_i64(after_goroutines), now_ms],
            )?;
            let mut stmt = conn.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM action_runs WHERE id = ?1"
            ))?;
            let mut rows = stmt.query_map(params![id], run_row)?;
            rows.next().transpose()
        })();
        result.map_err(|e| self.classify(e))
    }

    /// Runs, newest first: of one target (or all), at most `limit`.
    pub fn runs(&self, target: Option<&str>, limit: usize) -> Result<Vec<ActionRun>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let result = (|| -> rusqlite::Result<Vec<ActionRun>> {
            let mut stmt = self.conn().prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM action_runs WHERE (?1 IS NULL OR target = ?1) \
                 ORDER BY started_ms DESC, id DESC LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![target, limit], run_row)?;
            rows.collect()
        })();
        match result {
            Err(e) if e.to_string().contains("no such table") => Ok(Vec::new()),
            r => r.map_err(|e| self.classify(e)),
        }
    }

    /// Start times of the real and dry runs of one action since `since_ms` (for the cooldown
    /// and the storm guard after an agent restart).
    pub fn run_starts(
        &self,
        target: &str,
        action: &str,
        since_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let result = (|| -> rusqlite::Result<Vec<i64>> {
            let mut stmt = self.conn().prepare(
                "SELECT started_ms FROM action_runs WHERE target = ?1 AND action = ?2 \
                 AND started_ms >= ?3 AND outcome NOT IN ('needs_human', 'skipped_no_evidence') \
                 ORDER BY started_ms",
            )?;
            let rows = stmt.query_map(params![target, action, since_ms], |r| r.get(0))?;
            rows.collect()
        })();
        match result {
            Err(e) if e.to_string().contains("no such table") => Ok(Vec::new()),
            r => r.map_err(|e| self.classify(e)),
        }
    }
}
