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
use std::collections::HashMap;
use std::sync::Arc;
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
    target: Arc<TargetConfig>,
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
        Self::shared(Arc::new(target.clone()))
    }

    /// A prober of a target the fleet holds (no copy of its config).
    pub fn shared(target: Arc<TargetConfig>) -> Result<TargetProber, AgentError> {
        let url =
            match &target.url {
                Some(u) => Some(UrlProbe::new(&target, u.clone()).map_err(|source| {
                    AgentError::Client {
                        target: target.name.clone(),
                        source,
                    }
                })?),
                None => None,
            };
        let container = match &target.container {
            Some(c) => Some(ContainerProbe::new(c).map_err(|source| AgentError::Docker {
                target: target.name.clone(),
                source,
            })?),
            None => None,
        };
        let process = target.process.clone().map(ProcessProbe::new);
        Ok(TargetProber {
            target,
            url,
            process,
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

/// Probes of a large fleet start spread over this much time per target (10 000 targets: 100 s,
/// i.e. the whole interval), so they never come all at once.
const SPREAD_PER_TARGET: Duration = Duration::from_millis(10);
/// Start times are multiples of this (when the spread is at least a second), so the probes due
/// together wake the runtime together.
const TICK: Duration = Duration::from_millis(100);

/// The window a fleet of `targets` spreads its probes over: `jitter` for a few targets (the
/// first samples come quickly), 10 ms per target for many, never more than the interval.
pub(crate) fn spread(targets: usize, jitter: Duration, interval: Duration) -> Duration {
    let by_size = SPREAD_PER_TARGET.saturating_mul(u32::try_from(targets).unwrap_or(u32::MAX));
    jitter.max(by_size).min(interval)
}

/// Where in `window` a target's probes fall: a stable hash of its name (the same after a
/// restart or a reload, as Prometheus places its scrapes), in whole [`TICK`]s for windows of a
/// second or more.
fn phase(name: &str, window: Duration) -> Duration {
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    if window_ms == 0 {
        return Duration::ZERO;
    }
    // FNV-1a: stable across builds, unlike std's hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let tick = u64::try_from(TICK.as_millis()).unwrap_or(100);
    if window_ms >= 10 * tick {
        Duration::from_millis(hash % (window_ms / tick) * tick)
    } else {
        Duration::from_millis(hash % window_ms)
    }
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
///
/// The prober comes boxed: an async fn's argument takes room in its future twice (as the
/// argument and as the local it is moved to), ~1 KB more per target.
async fn run_prober(
    mut prober: Box<TargetProber>,
    spread: Duration,
    tx: mpsc::Sender<Probed>,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = prober.target().interval;
    // The first probe at the target's place in the fleet's spread, then a fixed-rate schedule
    // (`base`): exactly `interval` apart, so the fleet stays spread as it started. (Random
    // jitter per probe made every period a random quarter-jitter longer and un-batched the
    // wake-ups; starting a fleet within the jitter alone sent 10 000 probes in 2 s, every
    // 15 s: 8 200 of them timed out in scripts/bench/fleet, and 300 MB of connections.)
    let mut base = tokio::time::Instant::now() + phase(&prober.target().name, spread);
    let mut next = base;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        // Boxed: the probe's future (an HTTP request) and the send of its sample live only
        // while they run, instead of taking their kilobytes in every sleeping task all the
        // time.
        if !Box::pin(probe_and_send(&mut prober, &tx, &mut shutdown)).await {
            break;
        }
        base = next_slot(base, interval, tokio::time::Instant::now());
        next = base;
    }
}

/// Probe once and hand the sample on; `false` when it is time to stop (shutdown, or the
/// consumer is gone).
async fn probe_and_send(
    prober: &mut TargetProber,
    tx: &mpsc::Sender<Probed>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let sample = tokio::select! {
        s = prober.probe() => s,
        _ = shutdown.changed() => return false,
    };
    let probed = Probed {
        sample,
        at: Instant::now(),
    };
    tx.send(probed).await.is_ok()
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
        let t = prober.target();
        let window = spread(targets.len(), t.jitter, t.interval);
        set.spawn(run_prober(
            Box::new(prober),
            window,
            tx.clone(),
            shutdown.clone(),
        ));
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
    pub fn apply(&mut self, wanted: &[Arc<TargetConfig>]) -> Vec<(String, AgentError)> {
        let keep: HashMap<&str, u64> = wanted
            .iter()
            .map(|t| (t.name.as_str(), crate::fleet::fingerprint(&**t)))
            .collect();
        self.running
            .retain(|name, (hash, _)| keep.get(name.as_str()) == Some(hash));
        let mut failed = Vec::new();
        for t in wanted {
            if self.running.contains_key(&t.name) {
                continue;
            }
            match TargetProber::shared(t.clone()) {
                Ok(prober) => {
                    let window = spread(wanted.len(), t.jitter, t.interval);
                    let task = tokio::spawn(run_prober(
                        Box::new(prober),
                        window,
                        self.tx.clone(),
                        self.shutdown.clone(),
                    ));
                    self.running.insert(
                        t.name.clone(),
                        (crate::fleet::fingerprint(&**t), AbortOnDrop(task)),
                    );
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

    /// Regression: jitter used to be added to the schedule itself, so a 5 s interval with 2 s
    /// jitter averaged 5.25 s (190 samples/s instead of 200 at 1000 targets).
    #[test]
    fn the_schedule_keeps_the_interval_however_late_the_probes_run() {
        let interval = Duration::from_secs(5);
        let start = tokio::time::Instant::now();
        let mut base = start;
        for i in 0..1000u64 {
            // Each probe runs up to 500 ms late (a busy runtime) and takes 30 ms.
            let now = base + Duration::from_millis(i * 7919 % 500 + 30);
            base = next_slot(base, interval, now);
        }
        assert_eq!(base - start, interval * 1000);
    }

    /// A few targets start within `jitter`; a fleet's start spreads over its interval, evenly,
    /// in whole ticks, each target at the same place every time.
    #[test]
    fn a_fleet_spreads_its_probes_over_the_interval() {
        let (jitter, interval) = (Duration::from_secs(1), Duration::from_secs(15));
        assert_eq!(spread(1, jitter, interval), jitter);
        assert_eq!(spread(300, jitter, interval), Duration::from_secs(3));
        assert_eq!(spread(10_000, jitter, interval), interval);
        assert_eq!(spread(5, Duration::from_secs(60), interval), interval);

        let window = spread(10_000, jitter, interval);
        let mut per_second = [0u32; 15];
        for i in 0..10_000 {
            let name = format!("svc-{i:05}");
            let p = phase(&name, window);
            assert!(p < window);
            assert_eq!(p.as_millis() % TICK.as_millis(), 0);
            assert_eq!(p, phase(&name, window), "stable");
            per_second[p.as_secs() as usize] += 1;
        }
        // 667 a second if even; no second more than 15 % off.
        assert!(
            per_second.iter().all(|&n| (567..=767).contains(&n)),
            "{per_second:?}"
        );
        // Short windows (tests, tiny intervals) are not rounded to ticks.
        assert!(phase("a", Duration::from_millis(50)) < Duration::from_millis(50));
        assert_eq!(phase("a", Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_probe_slower_than_the_interval_starts_a_fresh_one() {
        let interval = Duration::from_secs(5);
        let base = tokio::time::Instant::now();
        let now = base + Duration::from_secs(12);
        assert_eq!(next_slot(base, interval, now), now + interval);
    }

    #[test]
    fn a_sleeping_prober_task_stays_small() {
        // 10 000 targets hold 10 000 of these futures all the time: what only a probe needs
        // (the request, the sample on its way) must not live in them (it was 2.9 KB).
        let (tx, _rx) = mpsc::channel(1);
        let (_stop, shutdown) = watch::channel(false);
        let url = "http://127.0.0.1:1/metrics".parse().ok();
        let target = TargetConfig::new(
            "svc".into(),
            url,
            None,
            &leakhound_core::config::Defaults::default(),
        );
        let prober = TargetProber::new(&target).unwrap();
        let task = run_prober(Box::new(prober), Duration::from_secs(1), tx, shutdown);
        assert!(
            std::mem::size_of_val(&task) <= 512,
            "{} bytes",
            std::mem::size_of_val(&task)
        );
    }
}
