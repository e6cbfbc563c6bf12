//! `[agent] raw_retention` and `retention` while the agent runs: at start and every
//! [`EVERY`], raw samples older than `raw_retention` and rollups older than `retention` are
//! deleted through the store's writer in chunks of [`CHUNK`] rows, each its own short
//! transaction, so the probes' batches go in between and never wait long.

use crate::clock::Clock;
use leakhound_core::time::duration_ms;
use leakhound_store::Db;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often retention runs.
pub const EVERY: Duration = Duration::from_secs(600);
/// Rows deleted per transaction (tens of milliseconds on the writer).
pub const CHUNK: usize = 20_000;

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub samples: u64,
    pub rollups: u64,
}

/// Run retention until `shutdown` turns true.
pub fn spawn(
    db: Db,
    raw_retention: Duration,
    retention: Duration,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            prune(&db, raw_retention, retention, &clock, &shutdown).await;
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = shutdown.changed() => break,
            }
        }
    })
}

/// One pass: everything older than the retentions goes (stops early when `shutdown` turns
/// true; the next pass goes on).
pub async fn prune(
    db: &Db,
    raw_retention: Duration,
    retention: Duration,
    clock: &Clock,
    shutdown: &watch::Receiver<bool>,
) -> Pruned {
    let now = clock.now_ms();
    let raw_cutoff = now.saturating_sub(duration_ms(raw_retention));
    let rollup_cutoff = now.saturating_sub(duration_ms(retention));
    let mut pruned = Pruned::default();
    while !*shutdown.borrow() {
        match db.write(move |s| s.prune_samples(raw_cutoff, CHUNK)).await {
            Ok(n) => {
                pruned.samples += n;
                if n < CHUNK as u64 {
                    break;
                }
            }
            Err(e) => {
                tracing::error!(
                    "retention: cannot delete old samples (next try in 10 minutes): {e}"
                );
                break;
            }
        }
    }
    match db.write(move |s| s.prune_rollups(rollup_cutoff)).await {
        Ok(n) => pruned.rollups = n,
        Err(e) => tracing::error!("retention: cannot delete old rollups: {e}"),
    }
    if pruned != Pruned::default() {
        tracing::info!(
            samples = pruned.samples,
            rollups = pruned.rollups,
            "retention: deleted raw samples older than {} and rollups older than {}",
            leakhound_core::units::human_duration(raw_retention),
            leakhound_core::units::human_duration(retention)
        );
    }
    pruned
}
