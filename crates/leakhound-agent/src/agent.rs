//! The agent: one task per target probes on its own interval (with jitter), an ingest task
//! evaluates the alert rules, writes the guide's log lines and publishes what happened to the
//! read model ([`AgentView`]), and a writer stores samples in SQLite in batches. Shutdown stops
//! the probers, then drains every sample already produced into the store.
//!
//! ```text
//! probers ──(bounded mpsc)──▶ ingest ──(bounded mpsc)──▶ writer ──▶ SQLite
//!                               └──▶ AgentView (latest, firing alerts, events for live views)
//! ```
//!
//! [`Agent::start`] runs it and hands back an [`AgentHandle`]: the view for readers, and
//! [`AgentHandle::stop`] / [`AgentHandle::run_until`] to end it.

use crate::alerting::{notifiers_from_config, Alerting, Channels};
use crate::clock::Clock;
use crate::discovery::Discovered;
use crate::docker::DockerError;
use crate::fleet::{Fleet, Sources};
use crate::guide_log::GuideLog;
use crate::ingest::Ingest;
pub use crate::ingest::ReloadReport;
use crate::outbox::{spawn_delivery, RetryPolicy, Wakers};
use crate::probers::{Probed, ProberPool};
use crate::view::{AgentEvent, AgentView};
use leakhound_core::config::{Config, ConfigErrors};
use leakhound_core::Sample;
use leakhound_http::HttpError;
use leakhound_store::{Db, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

pub use crate::probers::{spawn_probers, TargetProber};

/// Why the agent could not start or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("target '{target}': {source}")]
    Client { target: String, source: HttpError },
    #[error("target '{target}': {source}")]
    Docker { target: String, source: DockerError },
    #[error("cannot open the continuous log '{path}': {detail}. Check the directory exists and is writable, or change [agent] continuous_log")]
    ContinuousLog { path: String, detail: String },
    #[error("no targets to watch: add a [[targets]] or [[discovery]] block to the config (see `leakhound init`)")]
    NoTargets,
    #[error("{0}")]
    Config(ConfigErrors),
    #[error("[agent] shard = \"{shard}\" owns none of the {targets} targets; use fewer shards, or add targets")]
    EmptyShard { shard: String, targets: usize },
    #[error("the agent stopped unexpectedly: {0}")]
    Crashed(String),
}

/// Milliseconds since the Unix epoch, from the system clock (for the commands; the agent's
/// parts are handed a [`Clock`]).
pub fn now_ms() -> i64 {
    Clock::system().now_ms()
}

/// Probe-to-store latency, in a fixed histogram: 1 ms buckets up to 1 s, 10 ms up to 10 s,
/// 100 ms up to 60 s (2 400 counters instead of 60 000 — half a megabyte less).
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    buckets: Vec<u64>,
    count: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: vec![0; LatencyHistogram::bucket(60_000) + 1],
            count: 0,
        }
    }
}

impl LatencyHistogram {
    /// The bucket of a latency of `ms` milliseconds (`ms` ≤ 60 000).
    fn bucket(ms: u64) -> usize {
        let b = match ms {
            0..=999 => ms,
            1_000..=9_999 => 1_000 + (ms - 1_000) / 10,
            _ => 1_900 + (ms - 10_000) / 100,
        };
        b as usize
    }

    /// The upper edge of bucket `b`, in milliseconds.
    fn upper_ms(b: usize) -> u64 {
        let b = b as u64;
        match b {
            0..=999 => b + 1,
            1_000..=1_899 => 1_000 + (b - 1_000 + 1) * 10,
            _ => 10_000 + (b - 1_900 + 1) * 100,
        }
    }

    pub fn record(&mut self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(60_000);
        self.buckets[Self::bucket(ms)] += 1;
        self.count += 1;
    }

    /// The `q` quantile (0..=1) in milliseconds (upper edge of its bucket).
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Self::upper_ms(b));
            }
        }
        Some(60_100)
    }
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub samples_stored: u64,
    pub store_errors: u64,
    pub latency: LatencyHistogram,
    pub elapsed: Duration,
}

/// Starts agents (see [`Agent::start`]).
#[derive(Debug)]
pub struct Agent;

impl Agent {
    /// Open the store, check the notifiers, start probing every target of `config`. Errors
    /// come back before anything runs; from then on the agent runs until
    /// [`AgentHandle::stop`] (or until the handle is dropped).
    pub async fn start(config: Config) -> Result<AgentHandle, AgentError> {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = oneshot::channel::<AgentView>();
        let (control_tx, control_rx) = mpsc::channel::<Control>(4);
        let task = tokio::spawn(async move {
            // A dropped handle stops the agent too.
            let stop = async move {
                let _ = stop_rx.await;
            };
            run(&config, stop, ready_tx, control_rx).await
        });
        match ready_rx.await {
            Ok(view) => Ok(AgentHandle {
                view,
                reloader: Reloader(control_tx),
                stop: Some(stop_tx),
                task,
            }),
            // It ended before it was ready: the error says why.
            Err(_) => match finished(task.await) {
                Err(e) => Err(e),
                Ok(_) => Err(AgentError::Crashed("it stopped while starting".into())),
            },
        }
    }
}

/// A running agent: its read model, and the way to stop it.
#[derive(Debug)]
pub struct AgentHandle {
    view: AgentView,
    reloader: Reloader,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<RunSummary, AgentError>>,
}

fn finished(
    joined: Result<Result<RunSummary, AgentError>, tokio::task::JoinError>,
) -> Result<RunSummary, AgentError> {
    joined.unwrap_or_else(|e| Err(AgentError::Crashed(e.to_string())))
}

impl AgentHandle {
    /// The agent's read model (a clone shares it).
    pub fn view(&self) -> AgentView {
        self.view.clone()
    }

    /// The way to reload this agent's config (see [`Reloader::reload`]).
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// The latest sample of every target probed so far.
    pub fn latest(&self) -> Vec<Sample> {
        self.view.all_latest()
    }

    /// Every event from now on (see [`AgentView::subscribe`]).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<AgentEvent> {
        self.view.subscribe()
    }

    /// The alerts firing now.
    pub fn active_alerts(&self) -> Vec<leakhound_core::rules::Transition> {
        self.view.active_alerts()
    }

    /// Stop: the probers stop, every sample taken is stored, queued messages are tried once
    /// more. Returns what the run did.
    pub async fn stop(mut self) -> Result<RunSummary, AgentError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        finished((&mut self.task).await)
    }

    /// Run until `shutdown` resolves (then [`stop`](Self::stop)), or until the agent ends on
    /// its own (its store writer failed).
    pub async fn run_until(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<RunSummary, AgentError> {
        tokio::select! {
            done = &mut self.task => return finished(done),
            _ = shutdown => {}
        }
        self.stop().await
    }
}

/// What the ingest loop is told besides samples.
#[derive(Debug)]
enum Control {
    /// Apply a new (already valid) config.
    Reload {
        config: Box<Config>,
        reply: oneshot::Sender<ReloadReport>,
    },
}

/// Reloads a running agent's config; cheap to clone (for a signal handler, the web API).
#[derive(Debug, Clone)]
pub struct Reloader(mpsc::Sender<Control>);

impl Reloader {
    /// Apply `config` (validated by whoever read it): new targets start, removed ones stop
    /// (their alerts resolve as "target gone"), changed ones restart, the rest keep their
    /// schedule, windows and alerts; `[levels]`/`[alerts]` apply with the alert state kept.
    /// Sections a running agent cannot change are listed in the report.
    pub async fn reload(&self, config: Config) -> Result<ReloadReport, AgentError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || AgentError::Crashed("the agent is stopping; not reloaded".into());
        self.0
            .send(Control::Reload {
                config: Box::new(config),
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())
    }
}

/// The names of `config`'s discovery blocks, in order.
fn discovery_blocks(config: &Config) -> Vec<String> {
    config.discovery.iter().map(|d| d.name.clone()).collect()
}

/// Run the agent until `shutdown` resolves, then drain and return. Every sample a prober
/// produced before shutdown is in the store when this returns `Ok`. `ready` gets the view once
/// everything has started (it is dropped unsent when starting fails).
async fn run(
    config: &Config,
    shutdown: impl std::future::Future<Output = ()>,
    ready: oneshot::Sender<AgentView>,
    mut control: mpsc::Receiver<Control>,
) -> Result<RunSummary, AgentError> {
    if config.targets.is_empty() && config.discovery.is_empty() {
        return Err(AgentError::NoTargets);
    }
    let sources = Sources::new(config, discovery_blocks(config));
    let first = sources.wanted();
    // With discovery, the share fills as targets are found.
    if first.targets.is_empty() && config.discovery.is_empty() {
        if let Some(shard) = config.agent.shard {
            return Err(AgentError::EmptyShard {
                shard: shard.to_string(),
                targets: first.total,
            });
        }
    }
    if let Some(shard) = config.agent.shard.filter(|_| config.discovery.is_empty()) {
        tracing::info!(
            shard = %shard,
            "watching {} of the {} targets (this agent's share)",
            first.targets.len(),
            first.total
        );
    }
    let started = Instant::now();
    // `[agent] keep_alive`: whether the probers made below keep their connections.
    leakhound_http::keep_connections(config.agent.keep_alive);
    // A kept connection per host (and in-flight probes) take files; lift the soft open-files
    // limit to the hard one (as Go does).
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!("cannot raise the open-files limit: {e}");
    }
    // The one connection that writes (a writer thread) and the read pool every part shares.
    let db = Db::open(&config.agent.database)?;
    let clock = Clock::system();
    // The read model starts from what the store last recorded as firing (one read, at start).
    let view = AgentView::of_database(config, db.reader());
    let fleet = Fleet::default();
    let channels = Arc::new(Channels::new(
        notifiers_from_config(config).map_err(AgentError::Config)?,
    ));
    let wakers = Wakers::new(&channels.names());
    let mut alerting = Alerting::open_with_resend(
        &db,
        config.alerts.active_rules(),
        wakers.clone(),
        channels.resend(),
    )?;
    // Log lines name their target unless there is only ever one.
    let named = if config.discovery.is_empty() {
        config.targets.len()
    } else {
        usize::MAX
    };
    let guide_log = GuideLog::new(&config.agent, &config.levels, named)?;
    // Goroutine dumps tell a leak from load ([evidence] on_alerts, on by default): the engine
    // waits for their verdict before a growth alert and names the suspects in its first message.
    let (dump_tx, mut verdict_rx, dump_task) = if config.actions.evidence.on_alerts {
        alerting
            .engine_mut()
            .set_dumps(Some(leakhound_core::rules::DumpPolicy::default()));
        let (tx, rx, task) = crate::dump_task::spawn(Arc::new(config.clone()), fleet.clone());
        (Some(tx), Some(rx), Some(task))
    } else {
        (None, None, None)
    };
    // Evidence capture and [[actions]] run in their own task: a slow dump or command never
    // stalls probing (observations are dropped, with a warning, when its queue is full).
    let (remedy_tx, remedy_task) = if crate::actions::wanted(config) {
        let (tx, task) = crate::actions::spawn(
            Arc::new(config.clone()),
            db.clone(),
            wakers.clone(),
            alerting.engine().active(),
            clock.clone(),
            view.clone(),
            fleet.clone(),
        )?;
        (Some(tx), Some(task))
    } else {
        (None, None)
    };

    let capacity = if config.discovery.is_empty() {
        first.total.clamp(64, 8192)
    } else {
        8192
    };
    let (probe_tx, mut probe_rx) = mpsc::channel::<Probed>(capacity);
    let (store_tx, store_rx) = mpsc::channel::<Probed>(capacity);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut pool = ProberPool::new(probe_tx, stop_rx.clone());
    // At start a target that cannot be probed is a mistake to fix, not to skip.
    if let Some((_, e)) = pool.apply(&first.targets).into_iter().next() {
        return Err(e);
    }
    // [[discovery]]: each block sends its whole list when it changes; a reload restarts them.
    let (found_tx, mut found_rx) = mpsc::channel::<Discovered>(64);
    let mut discovery = crate::discovery::spawn(config, found_tx.clone(), stop_rx.clone());
    // Messages left pending by an earlier run (a crash, a kill -9) go out now too.
    let mut delivery = spawn_delivery(
        &db,
        &wakers,
        channels,
        RetryPolicy::default(),
        clock.clone(),
        stop_rx.clone(),
    )?;
    // [remote_write]: a bounded queue fed below without blocking; flushed on shutdown.
    let remote = match &config.remote_write {
        Some(rw) => Some(
            crate::remote_write::spawn(rw, config.levels.alert, &db).map_err(|source| {
                AgentError::Client {
                    target: "remote_write".into(),
                    source,
                }
            })?,
        ),
        None => None,
    };
    // [agent] raw_retention / retention: old rows go while the agent runs.
    let retention = crate::retention::spawn(
        db.clone(),
        config.agent.raw_retention,
        config.agent.retention,
        clock.clone(),
        stop_rx.clone(),
    );
    let writer = tokio::spawn(write_batches(
        db.clone(),
        store_rx,
        config.agent.batch_size,
        config.agent.flush_interval,
    ));
    tracing::info!(
        targets = first.targets.len(),
        database = %config.agent.database.display(),
        "leakhound agent started; monitoring endpoints enabled"
    );
    let mut ingest = Ingest {
        config: config.clone(),
        alerting,
        guide_log,
        view: view.clone(),
        clock,
        dump_tx,
        dump_state: HashMap::new(),
        remedy_tx,
        action_targets: config
            .actions
            .actions
            .iter()
            .map(|a| a.target.clone())
            .collect(),
        remote_queue: remote.as_ref().map(|r| r.queue()),
        store_tx,
        db: db.clone(),
        sources,
        fleet,
        pool: Some(pool),
    };
    // The first reconcile publishes the watched set and retires the targets the store still
    // had alert state for but the config no longer lists.
    ingest.reconcile().await;
    let _ = ready.send(view.clone());

    tokio::pin!(shutdown);
    loop {
        // Verdicts first: a growth alert waits for them.
        tokio::select! {
            biased;
            Some((target, verdict)) = async {
                match verdict_rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                ingest.alerting.engine_mut().set_verdict(&target, verdict);
            }
            _ = &mut shutdown, if ingest.pool.is_some() => {
                tracing::info!("stopping: finishing in-flight work and storing every sample taken");
                let _ = stop_tx.send(true);
                // The probers end on their own; the loop drains what they sent until the last
                // one is gone.
                if let Some(pool) = ingest.pool.take() {
                    tokio::spawn(pool.join());
                }
                discovery.abort_all();
            }
            Some(found) = found_rx.recv(), if ingest.pool.is_some() => {
                if ingest.sources.discovered(&found.block, found.targets) {
                    ingest.reconcile().await;
                }
            }
            Some(Control::Reload { config: new, reply }) = control.recv(), if ingest.pool.is_some() => {
                if new.discovery != ingest.config.discovery {
                    // Blocks that keep their name keep their targets until they report again.
                    discovery.abort_all();
                    discovery = crate::discovery::spawn(&new, found_tx.clone(), stop_rx.clone());
                }
                let blocks = discovery_blocks(&new);
                let report = ingest.reload(*new, blocks).await;
                tracing::info!("config reloaded: {report}");
                let _ = reply.send(report);
            }
            probed = probe_rx.recv() => match probed {
                Some(p) => {
                    if !ingest.sample(p).await {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    let Ingest {
        mut alerting,
        store_tx,
        remedy_tx,
        dump_tx,
        pool,
        ..
    } = ingest;
    if pool.is_some() {
        // The store writer stopped: stop probing too (dropping the pool aborts its probers).
        let _ = stop_tx.send(true);
        drop(pool);
    }
    drop(store_tx);
    drop(remedy_tx);
    drop(dump_tx);
    alerting.save().await;
    if let Some(task) = dump_task {
        // Its dumps live in memory only: stop it now rather than wait for a slow target's
        // profile (up to [evidence] timeout per queued request).
        task.abort();
        let _ = task.await;
    }
    if let Some(task) = remedy_task {
        // A running action ends within its timeout; its messages are queued before delivery stops.
        if let Err(e) = task.await {
            tracing::error!("remediation task failed: {e}");
        }
    }
    let _ = stop_tx.send(true);
    let _ = retention.await;
    while delivery.join_next().await.is_some() {}
    if let Some(remote) = remote {
        remote.shutdown(Duration::from_secs(5)).await;
    }
    let (stored, store_errors, latency) = match writer.await {
        Ok(result) => result?,
        Err(e) => {
            tracing::error!("store writer panicked: {e}");
            (0, 1, LatencyHistogram::default())
        }
    };
    let summary = RunSummary {
        samples_stored: stored,
        store_errors,
        latency,
        elapsed: started.elapsed(),
    };
    tracing::info!(
        samples_stored = summary.samples_stored,
        probe_to_store_p50_ms = summary.latency.quantile_ms(0.5).unwrap_or(0),
        probe_to_store_p99_ms = summary.latency.quantile_ms(0.99).unwrap_or(0),
        "leakhound agent stopped"
    );
    Ok(summary)
}

/// Store samples in batches of `batch_size` or every `flush_interval`, whichever comes first.
/// A failed write is retried with backoff; the batch is kept (bounded) so nothing is dropped
/// while the database is briefly unavailable.
async fn write_batches(
    db: Db,
    mut rx: mpsc::Receiver<Probed>,
    batch_size: usize,
    flush_interval: Duration,
) -> Result<(u64, u64, LatencyHistogram), AgentError> {
    let mut batch: Vec<Probed> = Vec::with_capacity(batch_size);
    let mut stored = 0u64;
    let mut errors = 0u64;
    let mut latency = LatencyHistogram::default();
    let mut deadline = tokio::time::Instant::now() + flush_interval;
    let mut open = true;
    while open || !batch.is_empty() {
        if open {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(p) => {
                        if batch.is_empty() {
                            deadline = tokio::time::Instant::now() + flush_interval;
                        }
                        batch.push(p);
                        if batch.len() < batch_size {
                            continue;
                        }
                    }
                    None => open = false,
                },
                _ = tokio::time::sleep_until(deadline), if !batch.is_empty() => {}
            }
        }
        if batch.is_empty() {
            continue;
        }
        // The samples go to the writer thread and come back (a failed batch is retried).
        let (samples, at): (Vec<Sample>, Vec<Instant>) =
            batch.drain(..).map(|p| (p.sample, p.at)).unzip();
        let n = samples.len();
        let written = db
            .write(move |store| {
                let r = store.insert(&samples);
                // Large probe bodies come and go on the runtime; give their freed pages back.
                crate::memory::release_free_memory_every(Duration::from_secs(30));
                Ok((r, samples))
            })
            .await;
        let (result, samples) = match written {
            Ok(pair) => pair,
            Err(e) => {
                // The writer thread is gone (it only ends after this task): nothing can store them.
                tracing::error!("cannot store {n} samples: {e}");
                return Err(e.into());
            }
        };
        batch.extend(
            samples
                .into_iter()
                .zip(at)
                .map(|(sample, at)| Probed { sample, at }),
        );
        match result {
            Ok(()) => {
                let now = Instant::now();
                for p in &batch {
                    latency.record(now.duration_since(p.at));
                }
                stored += batch.len() as u64;
                tracing::debug!(batch = batch.len(), total = stored, "stored samples");
                batch.clear();
            }
            Err(e) => {
                errors += 1;
                tracing::error!("cannot store {} samples (will retry): {e}", batch.len());
                if errors > 20 && !open {
                    return Err(e.into());
                }
                tokio::time::sleep(Duration::from_millis(200 * errors.min(25))).await;
            }
        }
    }
    Ok((stored, errors, latency))
}

#[cfg(test)]
mod tests {
    use super::LatencyHistogram;
    use std::time::Duration;

    #[test]
    fn latency_quantiles_keep_their_precision() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.quantile_ms(0.5), None);
        for ms in [3, 3, 999, 1_000, 1_234, 9_999, 10_000, 59_999, 600_000] {
            h.record(Duration::from_millis(ms));
        }
        // Upper edges: 1 ms, then 10 ms, then 100 ms; beyond 60 s everything is one bucket.
        let edges: Vec<u64> = (1..=9)
            .map(|k| h.quantile_ms(k as f64 / 9.0).unwrap())
            .collect();
        assert_eq!(
            edges,
            vec![4, 4, 1_000, 1_010, 1_240, 10_000, 10_100, 60_000, 60_100]
        );
    }
}
