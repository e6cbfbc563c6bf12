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
use crate::docker::DockerError;
use crate::dump_task::DumpState;
use crate::guide_log::GuideLog;
use crate::outbox::{spawn_delivery, RetryPolicy, Wakers};
use crate::probers::Probed;
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
    #[error("no targets to watch: add a [[targets]] block to the config (see `leakhound init`)")]
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

/// Probe-to-store latency, in a fixed histogram of 1 ms buckets up to 60 s.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    buckets: Vec<u64>,
    count: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: vec![0; 60_001],
            count: 0,
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, d: Duration) {
        let ms = usize::try_from(d.as_millis())
            .unwrap_or(usize::MAX)
            .min(60_000);
        self.buckets[ms] += 1;
        self.count += 1;
    }

    /// The `q` quantile (0..=1) in milliseconds (upper edge of its bucket).
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(ms as u64 + 1);
            }
        }
        Some(60_001)
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
        let task = tokio::spawn(async move {
            // A dropped handle stops the agent too.
            let stop = async move {
                let _ = stop_rx.await;
            };
            run(&config, stop, ready_tx).await
        });
        match ready_rx.await {
            Ok(view) => Ok(AgentHandle {
                view,
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

/// `config` with only the targets of its `[agent] shard`.
fn own_share(config: &Config) -> Result<Config, AgentError> {
    let mut mine = config.clone();
    if let Some(shard) = config.agent.shard {
        mine.targets.retain(|t| shard.owns(&t.name));
        if mine.targets.is_empty() {
            return Err(AgentError::EmptyShard {
                shard: shard.to_string(),
                targets: config.targets.len(),
            });
        }
        tracing::info!(
            shard = %shard,
            "watching {} of the {} targets (this agent's share)",
            mine.targets.len(),
            config.targets.len()
        );
    }
    Ok(mine)
}

/// Run the agent until `shutdown` resolves, then drain and return. Every sample a prober
/// produced before shutdown is in the store when this returns `Ok`. `ready` gets the view once
/// everything has started (it is dropped unsent when starting fails).
async fn run(
    config: &Config,
    shutdown: impl std::future::Future<Output = ()>,
    ready: oneshot::Sender<AgentView>,
) -> Result<RunSummary, AgentError> {
    if config.targets.is_empty() {
        return Err(AgentError::NoTargets);
    }
    let sharded = config.agent.shard.map(|_| own_share(config)).transpose()?;
    let config = sharded.as_ref().unwrap_or(config);
    let started = Instant::now();
    // Each target holds a connection; lift the soft open-files limit to the hard one (as Go does).
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!("cannot raise the open-files limit: {e}");
    }
    // The one connection that writes (a writer thread) and the read pool every part shares.
    let db = Db::open(&config.agent.database)?;
    let clock = Clock::system();
    // The read model starts from what the store last recorded as firing (one read, at start).
    let view = AgentView::of_database(config, db.reader());
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
    let mut guide_log = GuideLog::new(&config.agent, &config.levels, config.targets.len())?;
    // Goroutine dumps tell a leak from load ([evidence] on_alerts, on by default): the engine
    // waits for their verdict before a growth alert and names the suspects in its first message.
    let (dump_tx, mut verdict_rx, dump_task) = if config.actions.evidence.on_alerts {
        alerting
            .engine_mut()
            .set_dumps(Some(leakhound_core::rules::DumpPolicy::default()));
        let (tx, rx, task) = crate::dump_task::spawn(Arc::new(config.clone()));
        (Some(tx), Some(rx), Some(task))
    } else {
        (None, None, None)
    };
    let mut dump_state: HashMap<String, DumpState> = HashMap::new();
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
        )?;
        (Some(tx), Some(task))
    } else {
        (None, None)
    };

    // Only these targets' plain samples matter to remediation (their actions' `for` and recovery
    // watch); other targets reach it only with an alert change.
    let action_targets: std::collections::HashSet<&str> = config
        .actions
        .actions
        .iter()
        .map(|a| a.target.as_str())
        .collect();

    let capacity = config.targets.len().clamp(64, 8192);
    let (probe_tx, mut probe_rx) = mpsc::channel::<Probed>(capacity);
    let (store_tx, store_rx) = mpsc::channel::<Probed>(capacity);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut probers = spawn_probers(&config.targets, probe_tx, stop_rx.clone())?;
    // Messages left pending by an earlier run (a crash, a kill -9) go out now too.
    let mut delivery = spawn_delivery(
        &db,
        &wakers,
        channels,
        RetryPolicy::default(),
        clock,
        stop_rx,
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
    let remote_queue = remote.as_ref().map(|r| r.queue());
    let writer = tokio::spawn(write_batches(
        db.clone(),
        store_rx,
        config.agent.batch_size,
        config.agent.flush_interval,
    ));
    tracing::info!(
        targets = config.targets.len(),
        database = %config.agent.database.display(),
        "leakhound agent started; monitoring endpoints enabled"
    );
    let _ = ready.send(view.clone());

    let ingest = async {
        loop {
            // Verdicts first: a growth alert waits for them.
            let probed = tokio::select! {
                biased;
                Some((target, verdict)) = async {
                    match verdict_rx.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    alerting.engine_mut().set_verdict(&target, verdict);
                    continue;
                }
                probed = probe_rx.recv() => match probed {
                    Some(p) => p,
                    None => break,
                },
            };
            guide_log.observe(&probed.sample);
            let transitions = alerting.observe(&probed.sample).await;
            // The sample, then the alert changes it caused (already in the store).
            view.publish(AgentEvent::Sample(probed.sample.clone()));
            for t in &transitions {
                view.publish(AgentEvent::Transition(t.clone()));
            }
            if let Some(tx) = &dump_tx {
                let state = dump_state.entry(probed.sample.target.clone()).or_default();
                if let Some(req) = state.next(alerting.engine(), &probed.sample) {
                    // A full queue drops the request; the engine asks again.
                    let _ = tx.try_send(req);
                }
            }
            let for_remedy =
                !transitions.is_empty() || action_targets.contains(probed.sample.target.as_str());
            if let Some(tx) = remedy_tx.as_ref().filter(|_| for_remedy) {
                let obs = crate::actions::Observation {
                    sample: probed.sample.clone(),
                    transitions,
                };
                if let Err(mpsc::error::TrySendError::Full(obs)) = tx.try_send(obs) {
                    if obs.transitions.is_empty() {
                        tracing::warn!(
                            target_name = %obs.sample.target,
                            "remediation is busy (a capture or an action is running); this sample is not checked for actions"
                        );
                    } else {
                        // An alert changed: it must not be lost, and ingest must not wait.
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let _ = tx.send(obs).await;
                        });
                    }
                }
            }
            if let Some(queue) = &remote_queue {
                queue.push(&probed.sample); // never blocks: a full queue drops its oldest
            }
            if store_tx.send(probed).await.is_err() {
                tracing::error!("the store writer stopped; samples can no longer be stored");
                break;
            }
        }
        drop(store_tx);
        drop(remedy_tx);
        drop(dump_tx);
        alerting.save().await;
    };
    tokio::pin!(ingest);
    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut ingest => {}
        _ = &mut shutdown => {
            tracing::info!("stopping: finishing in-flight work and storing every sample taken");
            let _ = stop_tx.send(true);
            while probers.join_next().await.is_some() {}
            ingest.await;
        }
    }
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
        let samples: Vec<Sample> = batch.iter().map(|p| p.sample.clone()).collect();
        let result = db
            .write(move |store| {
                let r = store.insert(&samples);
                drop(samples);
                // Large probe bodies come and go on the runtime; give their freed pages back.
                crate::memory::release_free_memory_every(Duration::from_secs(30));
                r
            })
            .await;
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
