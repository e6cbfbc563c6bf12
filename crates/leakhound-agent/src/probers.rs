//! The probers: one task per target on a fixed-rate schedule (jitter per probe, never added
//! to the schedule), each a [`TargetProber`] that merges a target's URL, local process and
//! container readings into one sample.

use crate::agent::AgentError;
use crate::clock::Clock;
use crate::docker::DockerError;
use crate::probe::container::ContainerProbe;
use crate::probe::process::ProcessProbe;
use crate::probe::{ProbeError, UrlProbe};
use leakhound_core::config::TargetConfig;
use leakhound_core::{Metrics, Sample};
use leakhound_http::HttpError;
use rand::Rng;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// A sample plus the instant it was produced (for probe-to-store latency).
#[derive(Debug, Clone)]
pub struct Probed {
    pub sample: Sample,
    pub at: Instant,
}

/// Probes one target: its URL (if any), its local process (if any) and its container (if any),
/// merged into one sample.
#[derive(Debug)]
pub struct TargetProber {
    target: TargetConfig,
    url: Option<UrlProbe>,
    process: Option<ProcessProbe>,
    container: Option<ContainerProbe>,
    clock: Clock,
}

/// A spawned task aborted when dropped (a prober dropped mid-probe leaves nothing running).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl TargetProber {
    pub fn new(target: &TargetConfig) -> Result<TargetProber, AgentError> {
        let url = match &target.url {
            Some(u) => {
                Some(
                    UrlProbe::new(target, u.clone()).map_err(|source| AgentError::Client {
                        target: target.name.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let container = match &target.container {
            Some(c) => Some(ContainerProbe::new(c).map_err(|source| AgentError::Docker {
                target: target.name.clone(),
                source,
            })?),
            None => None,
        };
        Ok(TargetProber {
            target: target.clone(),
            url,
            process: target.process.clone().map(ProcessProbe::new),
            container,
            clock: Clock::system(),
        })
    }

    /// Stamp samples with `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> TargetProber {
        self.clock = clock;
        self
    }

    pub fn target(&self) -> &TargetConfig {
        &self.target
    }

    /// Probe once. Never fails: a failure is a sample with `up = false` and the reason.
    pub async fn probe(&mut self) -> Sample {
        let started = Instant::now();
        let ts_ms = self.clock.now_ms();
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        let mut metrics = Metrics::default();
        let mut up = true;
        // A container reading takes about a second (the daemon waits for a second CPU
        // reading): it runs beside the URL probe and does not count in the latency.
        let container_task = self
            .container
            .as_ref()
            .map(|c| AbortOnDrop(tokio::spawn(c.read())));
        let mut url_latency = None;
        if let Some(probe) = &mut self.url {
            // reqwest enforces the timeout; this guard also bounds anything around it.
            let guard = self.target.timeout + Duration::from_millis(500);
            let result = match tokio::time::timeout(guard, probe.probe()).await {
                Ok(r) => r,
                Err(_) => Err(ProbeError::Http(HttpError::Timeout(
                    leakhound_core::units::human_duration(self.target.timeout),
                ))),
            };
            match result {
                Ok(m) => {
                    metrics = m;
                    sources.push(probe.source().name());
                }
                Err(e) => {
                    up = false;
                    errors.push(e.to_string());
                }
            }
            url_latency = Some(started.elapsed());
        }
        if let (Some(container), Some(mut task)) = (&mut self.container, container_task) {
            let reading = match (&mut task.0).await {
                Ok(reading) => reading,
                Err(e) => Err(DockerError::Other {
                    container: container.name().to_string(),
                    what: "stats",
                    path: container.docker().socket().to_path_buf(),
                    detail: format!("the reading task failed: {e}"),
                }),
            };
            let (m, problem) = container.apply(reading);
            // The container's own numbers win over the process probe's cgroup guess.
            metrics.cgroup_cpu_percent = m.cgroup_cpu_percent.or(metrics.cgroup_cpu_percent);
            metrics.cgroup_memory_bytes = m.cgroup_memory_bytes.or(metrics.cgroup_memory_bytes);
            metrics.cgroup_memory_limit_bytes = m
                .cgroup_memory_limit_bytes
                .or(metrics.cgroup_memory_limit_bytes);
            metrics.fill_from(&m);
            if m.container_state.is_some() {
                sources.push("container");
            }
            if let Some(problem) = problem {
                if self.url.is_none() {
                    up = false;
                }
                errors.push(problem.to_string());
            }
        }
        if let Some(process) = &mut self.process {
            // A handful of small procfs reads: cheap enough to do inline.
            match process.probe() {
                Ok(m) => {
                    metrics.fill_from(&m);
                    sources.push("process");
                }
                Err(e) => {
                    if self.url.is_none() {
                        up = false;
                    }
                    errors.push(e.to_string());
                }
            }
        }
        // One ceiling for every source (issue 13): an impossible reading is dropped with the
        // reason; the target did answer, so the sample stays up (no down alert, no level alert).
        if let Some(reason) = metrics.reject_impossible() {
            errors.push(reason);
        }
        Sample {
            target: self.target.name.clone(),
            ts_ms,
            up,
            error: (!errors.is_empty()).then(|| {
                leakhound_core::text::escape_capped(
                    &errors.join("; "),
                    leakhound_core::text::ERROR_MAX,
                )
            }),
            latency_ms: url_latency
                .unwrap_or_else(|| started.elapsed())
                .as_secs_f64()
                * 1000.0,
            source: sources.join("+"),
            metrics,
        }
    }
}

fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=ms))
}

/// The next slot of a fixed-rate schedule: one interval after the last, or — after a probe
/// slower than the interval — one interval from now. Jitter is added per probe, never to the
/// schedule, so a target is probed exactly every `interval` on average.
fn next_slot(
    base: tokio::time::Instant,
    interval: Duration,
    now: tokio::time::Instant,
) -> tokio::time::Instant {
    let next = base + interval;
    if next < now {
        now + interval
    } else {
        next
    }
}

/// Probe with `prober` on its schedule until `shutdown` turns true or the consumer is gone.
async fn run_prober(
    mut prober: TargetProber,
    tx: mpsc::Sender<Probed>,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = prober.target().interval;
    let jitter_max = prober.target().jitter.min(interval / 2);
    // Spread the first probes of many targets over the jitter window, then keep each target on
    // a fixed-rate schedule (`base`) with a small jitter per probe. Adding the jitter to the
    // schedule itself made every period a random quarter-jitter longer (5.25 s instead of 5 s
    // on average) and slowly spread a fleet's probes out.
    let mut base = tokio::time::Instant::now() + jitter(jitter_max);
    let mut next = base;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        // Boxed: the probe's future (an HTTP request) lives only while it runs, instead of
        // taking its several kilobytes in every sleeping task all the time (1000 targets:
        // ~4 MB less resident memory).
        let sample = tokio::select! {
            s = Box::pin(prober.probe()) => s,
            _ = shutdown.changed() => break,
        };
        let probed = Probed {
            sample,
            at: Instant::now(),
        };
        if tx.send(probed).await.is_err() {
            break;
        }
        base = next_slot(base, interval, tokio::time::Instant::now());
        next = base + jitter(jitter_max) / 4;
    }
}

fn config_hash(target: &TargetConfig) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    target.hash(&mut h);
    h.finish()
}

/// Start one probing task per target. Each stops when `shutdown` turns true; when all have
/// stopped, `tx` is dropped and the consumer sees the end of the stream.
pub fn spawn_probers(
    targets: &[TargetConfig],
    tx: mpsc::Sender<Probed>,
    shutdown: watch::Receiver<bool>,
) -> Result<JoinSet<()>, AgentError> {
    let mut probers = Vec::with_capacity(targets.len());
    for t in targets {
        probers.push(TargetProber::new(t)?);
    }
    let mut set = JoinSet::new();
    for prober in probers {
        set.spawn(run_prober(prober, tx.clone(), shutdown.clone()));
    }
    Ok(set)
}

/// The probing tasks of a changing set of targets, by name: [`ProberPool::apply`] starts the
/// new ones, stops the removed ones, restarts the changed ones and leaves the rest alone (their
/// schedule goes on).
pub struct ProberPool {
    tx: mpsc::Sender<Probed>,
    shutdown: watch::Receiver<bool>,
    /// By name: a hash of the target's config (to tell a changed one; not a copy of it — a
    /// thousand copies cost a megabyte) and its task.
    running: HashMap<String, (u64, AbortOnDrop<()>)>,
}

impl std::fmt::Debug for ProberPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProberPool")
            .field("running", &self.running.len())
            .finish_non_exhaustive()
    }
}

impl ProberPool {
    /// An empty pool whose probers send to `tx` and stop when `shutdown` turns true.
    pub fn new(tx: mpsc::Sender<Probed>, shutdown: watch::Receiver<bool>) -> ProberPool {
        ProberPool {
            tx,
            shutdown,
            running: HashMap::new(),
        }
    }

    /// Probe exactly `wanted`. A target whose prober cannot be made (e.g. a malformed Docker
    /// host) is not started; its error comes back with its name. A removed target's probe in
    /// flight is abandoned.
    pub fn apply(&mut self, wanted: &[TargetConfig]) -> Vec<(String, AgentError)> {
        let keep: HashMap<&str, u64> = wanted
            .iter()
            .map(|t| (t.name.as_str(), config_hash(t)))
            .collect();
        self.running
            .retain(|name, (hash, _)| keep.get(name.as_str()) == Some(hash));
        let mut failed = Vec::new();
        for t in wanted {
            if self.running.contains_key(&t.name) {
                continue;
            }
            match TargetProber::new(t) {
                Ok(prober) => {
                    let task =
                        tokio::spawn(run_prober(prober, self.tx.clone(), self.shutdown.clone()));
                    self.running
                        .insert(t.name.clone(), (config_hash(t), AbortOnDrop(task)));
                }
                Err(e) => failed.push((t.name.clone(), e)),
            }
        }
        failed
    }

    /// How many targets are being probed.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Wait for every prober to end (after `shutdown` turned true); the consumer then sees
    /// the end of the stream.
    pub async fn join(self) {
        let ProberPool { running, tx, .. } = self;
        drop(tx);
        for (_, (_, mut task)) in running {
            let _ = (&mut task.0).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the per-probe jitter used to be added to the schedule itself, so a 5 s
    /// interval with 2 s jitter averaged 5.25 s (190 samples/s instead of 200 at 1000 targets).
    #[test]
    fn the_schedule_keeps_the_interval_whatever_the_jitter() {
        let interval = Duration::from_secs(5);
        let start = tokio::time::Instant::now();
        let mut base = start;
        for _ in 0..1000 {
            // Each probe starts up to 500 ms late (jitter) and takes 30 ms.
            let now = base + jitter(Duration::from_millis(500)) + Duration::from_millis(30);
            base = next_slot(base, interval, now);
        }
        assert_eq!(base - start, interval * 1000);
    }

    #[test]
    fn a_probe_slower_than_the_interval_starts_a_fresh_one() {
        let interval = Duration::from_secs(5);
        let base = tokio::time::Instant::now();
        let now = base + Duration::from_secs(12);
        assert_eq!(next_slot(base, interval, now), now + interval);
    }
}
