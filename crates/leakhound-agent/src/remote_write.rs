//! Prometheus remote write 1.0: every sample the agent takes, shipped as protobuf + snappy to
//! any compatible endpoint (Prometheus with `--web.enable-remote-write-receiver`, Mimir, Thanos
//! Receive, VictoriaMetrics, Cortex).
//!
//! ```text
//! ingest ──push (never blocks)──▶ bounded queue ──▶ sender: batches of batch_size or every
//!                                 (drop oldest)      flush_interval, one request at a time,
//!                                                    retried with backoff on 5xx/429/network
//! ```
//!
//! The series are the ones `/metrics` serves (names from [`leakhound_core::exposition`]), each
//! with `target`, `job` and `instance` labels (plus `kind` for memory and the configured extra
//! labels), sorted by name; a series' samples go out in timestamp order, and one request is in
//! flight at a time, so a receiver never sees them out of order. While the endpoint is away the
//! queue holds up to `queue_capacity` samples (about 24 bytes each); past that the oldest are
//! dropped, counted in `leakhound_remote_write_dropped_samples_total` and logged. A 4xx other
//! than 429 drops the batch and logs the endpoint's answer, as Prometheus does. On shutdown the
//! sender flushes what it can within a deadline.
//!
//! Nothing is lost to a crash either: after each acknowledged (or refused) request the sender
//! raises, per target, the store's mark of the newest sample sent, and on start it resends the
//! stored samples after the marks before the live ones (see [`replay`]).
//!
//! The protobuf messages are written out here from Prometheus' `prompb/remote.proto` and
//! `prompb/types.proto` (only the fields remote write 1.0 sends), so no protoc runs at build time.
//!
//! ```
//! use leakhound_agent::remote_write::{decode, Queue, Stats};
//! use leakhound_core::{Metrics, Sample};
//! use std::sync::Arc;
//!
//! let queue = Queue::new(1000, vec![("job".into(), "leakhound".into())], Default::default(), Arc::new(Stats::default()));
//! queue.push(&Sample {
//!     target: "api".into(), ts_ms: 1_700_000_000_000, up: true, error: None,
//!     latency_ms: 3.0, source: "health".into(),
//!     metrics: Metrics { goroutines: Some(42), ..Metrics::default() },
//! });
//! let (request, n) = queue.take(500).unwrap();
//! assert_eq!(n, 4); // up, scrape duration, goroutines, level
//! let body = leakhound_agent::remote_write::encode(&request);
//! assert_eq!(decode(&body).unwrap(), request);
//! ```

use leakhound_core::config::{Auth, RemoteWriteConfig};
use leakhound_core::ladder::AlertLevels;
use leakhound_core::Sample;
use leakhound_http::{shared_client, HttpError};
use leakhound_store::Db;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The remote write 1.0 messages (`prometheus.WriteRequest` and what it holds).
pub mod proto {
    /// `prometheus.WriteRequest`: field 2 is reserved, field 3 (metadata) is not sent.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// `prometheus.TimeSeries`: labels sorted by name, samples in timestamp order.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    /// `prometheus.Label`.
    #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `prometheus.Sample`: a value at a Unix time in milliseconds.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

use proto::WriteRequest;

mod queue;
pub mod replay;
pub use queue::{Batch, Queue};

/// The version header remote write 1.0 senders set.
pub const VERSION_HEADER: (&str, &str) = ("X-Prometheus-Remote-Write-Version", "0.1.0");

/// What the sender has done, for `/metrics` and logs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Samples the endpoint accepted.
    pub sent: AtomicU64,
    /// Samples dropped because the queue was full (the oldest go first).
    pub dropped: AtomicU64,
    /// Samples the endpoint refused with a 4xx other than 429 (not retried).
    pub rejected: AtomicU64,
    /// Samples left unsent when the shutdown deadline passed.
    pub unsent_at_shutdown: AtomicU64,
    /// Requests that failed and were tried again.
    pub retries: AtomicU64,
    /// Samples waiting now.
    pub pending: AtomicU64,
}

static PROCESS_STATS: OnceLock<Arc<Stats>> = OnceLock::new();

/// The counters of this process's remote writer, once [`spawn`] has started one.
pub fn process_stats() -> Option<Arc<Stats>> {
    PROCESS_STATS.get().cloned()
}

/// A request's body: protobuf, snappy block format (not the framed stream format).
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(request);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// The inverse of [`encode`], for tests and for checking a payload by hand.
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("not snappy block data: {e}"))?;
    <WriteRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| format!("not a remote write request: {e}"))
}

/// The labels every series carries beyond `__name__`, `target` and `kind`: the configured
/// ones, plus `job="leakhound"` and `instance="<host name>"` unless configured.
pub fn series_labels(config: &RemoteWriteConfig, hostname: &str) -> Vec<(String, String)> {
    let mut labels = config.labels.clone();
    if !labels.iter().any(|(n, _)| n == "job") {
        labels.push(("job".into(), "leakhound".into()));
    }
    if !labels.iter().any(|(n, _)| n == "instance") {
        labels.push(("instance".into(), hostname.to_string()));
    }
    labels.sort();
    labels
}

/// This machine's host name (for the `instance` label), or `leakhound` when unknown.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "leakhound".into())
}

/// A running remote writer: [`RemoteWriter::offer`] from the ingest path, then
/// [`RemoteWriter::shutdown`].
pub struct RemoteWriter {
    queue: Arc<Queue>,
    replay: Arc<Queue>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RemoteWriter {
    /// Queue one sample's series; never blocks, never fails (a full queue drops the oldest).
    pub fn offer(&self, sample: &Sample) {
        self.queue.push(sample);
    }

    /// The queue [`RemoteWriter::offer`] pushes to, for a producer that outlives a borrow.
    pub fn queue(&self) -> Arc<Queue> {
        self.queue.clone()
    }

    /// Flush what is queued within `deadline`, then stop. Samples still unsent are counted and
    /// logged.
    pub async fn shutdown(self, deadline: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(deadline, &mut task).await.is_err() {
            task.abort();
            let left =
                self.queue.len() + self.replay.len() + self.queue.in_flight.load(Ordering::Relaxed);
            self.queue
                .stats
                .unsent_at_shutdown
                .store(left as u64, Ordering::Relaxed);
            tracing::warn!(
                unsent = left,
                "remote write: shutdown deadline passed; {left} queued samples were not sent \
                 (they are in the local store, and the next start sends them)"
            );
        }
    }
}

/// Why a request failed, and whether it is worth trying again.
#[derive(Debug)]
enum SendError {
    /// 5xx, 429, or no answer: retry with backoff.
    Retry(String),
    /// Any other 4xx: the endpoint will never take this batch.
    Reject(String),
}

/// Start the sender for `config`. Samples the agent offers go to `config.url`, after the ones
/// in `db` the endpoint has not acknowledged yet.
pub fn spawn(
    config: &RemoteWriteConfig,
    levels: AlertLevels,
    db: &Db,
) -> Result<RemoteWriter, HttpError> {
    let stats = PROCESS_STATS
        .get_or_init(|| Arc::new(Stats::default()))
        .clone();
    spawn_with(config, levels, stats, &hostname(), Some(db.clone()))
}

/// [`spawn`] with its own counters and host name (tests run several in one process); without a
/// database nothing is replayed or marked.
pub fn spawn_with(
    config: &RemoteWriteConfig,
    levels: AlertLevels,
    stats: Arc<Stats>,
    hostname: &str,
    db: Option<Db>,
) -> Result<RemoteWriter, HttpError> {
    let client = shared_client()?;
    let mut queue = Queue::new(
        config.queue_capacity,
        series_labels(config, hostname),
        levels,
        stats.clone(),
    );
    queue.wake_at = config.batch_size;
    let queue = Arc::new(queue);
    // Its own counters: the gauge of waiting samples is the live queue's.
    let replay = Arc::new(Queue::new(
        config.queue_capacity,
        series_labels(config, hostname),
        levels,
        Arc::new(Stats::default()),
    ));
    let (stop, stop_rx) = watch::channel(false);
    let sender = Sender {
        client,
        config: config.clone(),
        queue: queue.clone(),
        replay: replay.clone(),
        db,
        stats,
        url: config.redacted_url(),
    };
    tracing::info!(
        url = %sender.url,
        batch_size = config.batch_size,
        queue_capacity = config.queue_capacity,
        "remote write enabled"
    );
    let task = tokio::spawn(sender.run(stop_rx));
    Ok(RemoteWriter {
        queue,
        replay,
        stop,
        task,
    })
}

struct Sender {
    client: reqwest::Client,
    config: RemoteWriteConfig,
    queue: Arc<Queue>,
    /// The stored samples not acknowledged before a restart, sent before `queue`.
    replay: Arc<Queue>,
    /// Where the marks of what was sent are kept (and the replay read from).
    db: Option<Db>,
    stats: Arc<Stats>,
    /// The URL without credentials, for logs.
    url: String,
}

impl Sender {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut stopping = false;
        if let Some(db) = &self.db {
            replay::load(db, self.config.max_replay, &self.queue, &self.replay).await;
        }
        while let Some(batch) = self.replay.take_batch(self.config.batch_size) {
            self.queue.in_flight.store(batch.samples, Ordering::Relaxed);
            stopping = stopping || *stop.borrow();
            self.deliver(&batch, &mut stop, stopping).await;
            self.queue.in_flight.store(0, Ordering::Relaxed);
        }
        loop {
            if !stopping && self.queue.len() < self.config.batch_size {
                let wait = tokio::time::sleep(self.config.flush_interval);
                tokio::select! {
                    _ = wait => {}
                    _ = self.queue.wake.notified() => {}
                    _ = stop.changed() => stopping = true,
                }
            }
            stopping = stopping || *stop.borrow();
            while let Some(batch) = self.queue.take_batch(self.config.batch_size) {
                self.queue.in_flight.store(batch.samples, Ordering::Relaxed);
                self.deliver(&batch, &mut stop, stopping).await;
                self.queue.in_flight.store(0, Ordering::Relaxed);
                stopping = stopping || *stop.borrow();
                if !stopping && self.queue.len() < self.config.batch_size {
                    break;
                }
            }
            if stopping && self.queue.is_empty() {
                return;
            }
        }
    }

    /// Send one batch until it is accepted or refused; retries back off from 100 ms to
    /// `max_backoff`. Never gives up on a retryable error: the caller's deadline bounds shutdown,
    /// and the queue (not this batch) absorbs what arrives meanwhile.
    async fn deliver(&self, batch: &Batch, stop: &mut watch::Receiver<bool>, stopping: bool) {
        let n = batch.samples;
        let body = encode(&batch.request);
        let mut backoff = Duration::from_millis(100);
        let mut failures = 0u32;
        loop {
            match self.post(body.clone()).await {
                Ok(()) => {
                    self.stats.sent.fetch_add(n as u64, Ordering::Relaxed);
                    if failures > 0 {
                        tracing::info!(
                            url = %self.url,
                            after_failures = failures,
                            "remote write endpoint is back; sending the queued samples"
                        );
                    }
                    self.mark(&batch.marks).await;
                    return;
                }
                Err(SendError::Reject(why)) => {
                    self.stats.rejected.fetch_add(n as u64, Ordering::Relaxed);
                    tracing::error!(
                        url = %self.url,
                        samples = n,
                        "remote write: the endpoint refused a batch; dropping it (not retried): {why}"
                    );
                    self.mark(&batch.marks).await;
                    return;
                }
                Err(SendError::Retry(why)) => {
                    failures += 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    // Log the first failure and then every tenth, not every retry.
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(
                            url = %self.url,
                            attempt = failures,
                            queued = self.queue.len() + n,
                            dropped = self.stats.dropped.load(Ordering::Relaxed),
                            "remote write failed, retrying in {}: {why}",
                            leakhound_core::units::human_duration(backoff)
                        );
                    }
                    if stopping {
                        tokio::time::sleep(backoff).await;
                    } else {
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            // Shutdown starts: retry at once, the deadline is running.
                            _ = stop.changed() => {}
                        }
                    }
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    /// Raise the store's marks past a batch the endpoint has answered for good, before the
    /// next request goes out (one small write per request).
    async fn mark(&self, marks: &[(String, i64)]) {
        let Some(db) = &self.db else { return };
        if marks.is_empty() {
            return;
        }
        let marks = marks.to_vec();
        if let Err(e) = db.write(move |s| s.mark_remote_written(&marks)).await {
            tracing::warn!(
                "remote write: cannot record what was sent in the store ({e}); after a restart \
                 some samples may be sent twice"
            );
        }
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), SendError> {
        let mut req = self
            .client
            .post(self.config.url.clone())
            .timeout(self.config.timeout)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header(VERSION_HEADER.0, VERSION_HEADER.1)
            .body(body);
        req = match &self.config.auth {
            Some(Auth::Basic { username, password }) => req.basic_auth(username, Some(password)),
            Some(Auth::Bearer { token }) => req.bearer_auth(token),
            None => req,
        };
        for (name, value) in &self.config.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let resp = req.send().await.map_err(|e| {
            let kind = if e.is_timeout() {
                format!(
                    "no answer within {}",
                    leakhound_core::units::human_duration(self.config.timeout)
                )
            } else if e.is_connect() {
                "cannot connect (is it running and listening there?)".to_string()
            } else {
                "the request failed".to_string()
            };
            // reqwest's text can carry the URL; say what happened without it.
            SendError::Retry(kind)
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let text: String = text.trim().chars().take(300).collect();
        let mut why = format!("HTTP {}: {text}", status.as_u16());
        match status.as_u16() {
            404 => why.push_str(
                " (check the URL: Prometheus takes /api/v1/write when started with \
                 --web.enable-remote-write-receiver, Mimir /api/v1/push, Thanos Receive \
                 /api/v1/receive)",
            ),
            401 | 403 => {
                why.push_str(" (check [remote_write] username/password, bearer_token or headers)")
            }
            _ => {}
        }
        if status.is_server_error() || status.as_u16() == 429 {
            Err(SendError::Retry(why))
        } else {
            Err(SendError::Reject(why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_core::Metrics;
    use proto::TimeSeries;

    fn sample(target: &str, ts_ms: i64, goroutines: u64) -> Sample {
        Sample {
            target: target.into(),
            ts_ms,
            up: true,
            error: None,
            latency_ms: 12.0,
            source: "health".into(),
            metrics: Metrics {
                goroutines: Some(goroutines),
                alloc_bytes: Some(1 << 20),
                rss_bytes: Some(3 << 20),
                ..Metrics::default()
            },
        }
    }

    fn labels(ts: &TimeSeries) -> Vec<(String, String)> {
        ts.labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    }

    fn value_of<'a>(ts: &'a TimeSeries, name: &str) -> Option<&'a str> {
        ts.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    #[test]
    fn our_payload_decodes_with_sorted_labels_and_ordered_samples() {
        let stats = Arc::new(Stats::default());
        let config = RemoteWriteConfig {
            labels: vec![("env".into(), "prod".into())],
            ..RemoteWriteConfig::new("http://127.0.0.1:9090/api/v1/write".parse().unwrap())
        };
        let queue = Queue::new(
            10_000,
            series_labels(&config, "box-1"),
            AlertLevels::default(),
            stats.clone(),
        );
        for i in 0..3 {
            queue.push(&sample("api", 1_000 + i * 1_000, 100 + i as u64));
            queue.push(&sample("worker", 1_500 + i * 1_000, 6_000));
        }
        queue.push(&Sample::down("api", 5_000, 2.0, "refused".into()));
        let (request, n) = queue.take(500).unwrap();
        assert!(queue.take(500).is_none());
        // Per up sample: up, duration, goroutines, level, alloc, rss, used = 7; the down one: 2.
        assert_eq!(n, 6 * 7 + 2);

        let body = encode(&request);
        // Snappy block format, not the framed stream (which starts with ff 06 00 00 "sNaPpY").
        assert_ne!(body.first(), Some(&0xff));
        let decoded = decode(&body).unwrap();
        assert_eq!(decoded, request);
        let count: usize = decoded.timeseries.iter().map(|t| t.samples.len()).sum();
        assert_eq!(count, n);

        for ts in &decoded.timeseries {
            let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            assert_eq!(names, sorted, "labels sorted by name");
            assert!(ts
                .samples
                .windows(2)
                .all(|w| w[0].timestamp < w[1].timestamp));
            assert_eq!(value_of(ts, "job"), Some("leakhound"));
            assert_eq!(value_of(ts, "instance"), Some("box-1"));
            assert_eq!(value_of(ts, "env"), Some("prod"));
        }
        let series = |name: &str, target: &str| {
            decoded
                .timeseries
                .iter()
                .find(|t| {
                    value_of(t, "__name__") == Some(name)
                        && value_of(t, "target") == Some(target)
                        && value_of(t, "kind").is_none_or(|k| k == "rss")
                })
                .unwrap_or_else(|| panic!("no {name}{{target={target}}}"))
        };
        let g = series("leakhound_goroutines", "api");
        assert_eq!(
            labels(g),
            [
                ("__name__".to_string(), "leakhound_goroutines".to_string()),
                ("env".into(), "prod".into()),
                ("instance".into(), "box-1".into()),
                ("job".into(), "leakhound".into()),
                ("target".into(), "api".into()),
            ]
        );
        let points: Vec<(i64, f64)> = g.samples.iter().map(|s| (s.timestamp, s.value)).collect();
        assert_eq!(points, [(1_000, 100.0), (2_000, 101.0), (3_000, 102.0)]);
        let up: Vec<f64> = series("leakhound_up", "api")
            .samples
            .iter()
            .map(|s| s.value)
            .collect();
        assert_eq!(up, [1.0, 1.0, 1.0, 0.0]);
        // 6000 goroutines is the guide's "urgent" (2).
        assert_eq!(series("leakhound_level", "worker").samples[0].value, 2.0);
        let rss = series("leakhound_memory_bytes", "worker");
        assert_eq!(value_of(rss, "kind"), Some("rss"));
        assert_eq!(rss.samples[0].value, (3 << 20) as f64);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
    }

    /// Target labels (issue 15) go on the target's series; leakhound's and the configured
    /// ones win; a change makes new series from the next sample on.
    #[test]
    fn target_labels_go_on_the_targets_series() {
        let config = RemoteWriteConfig {
            labels: vec![("env".into(), "prod".into())],
            ..RemoteWriteConfig::new("http://127.0.0.1:9090/api/v1/write".parse().unwrap())
        };
        let queue = Queue::new(
            10_000,
            series_labels(&config, "box-1"),
            AlertLevels::default(),
            Arc::new(Stats::default()),
        );
        let labels = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        queue.set_target_labels(
            "api",
            &labels(&[("team", "gateway"), ("env", "dev"), ("target", "x")]),
        );
        queue.push(&sample("api", 1_000, 100));
        queue.push(&sample("worker", 1_000, 100));
        queue.set_target_labels("api", &labels(&[("team", "edge")]));
        queue.push(&sample("api", 2_000, 100));
        let (request, _) = queue.take(500).unwrap();
        let goroutines: Vec<&TimeSeries> = request
            .timeseries
            .iter()
            .filter(|t| value_of(t, "__name__") == Some("leakhound_goroutines"))
            .collect();
        let of = |target: &str, team: Option<&str>| {
            goroutines
                .iter()
                .find(|t| value_of(t, "target") == Some(target) && value_of(t, "team") == team)
                .unwrap_or_else(|| panic!("{target} team={team:?}: {goroutines:#?}"))
        };
        let first = of("api", Some("gateway"));
        assert_eq!(
            value_of(first, "env"),
            Some("prod"),
            "the configured label wins"
        );
        assert_eq!(first.samples.len(), 1);
        assert_eq!(of("api", Some("edge")).samples[0].timestamp, 2_000);
        assert!(of("worker", None).labels.iter().all(|l| l.name != "team"));
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_them() {
        let stats = Arc::new(Stats::default());
        let queue = Queue::new(10, Vec::new(), AlertLevels::default(), stats.clone());
        let down = |ts| Sample::down("api", ts, 1.0, "refused".into()); // 2 values each
        for ts in 0..8 {
            queue.push(&down(ts));
        }
        assert_eq!(queue.len(), 10);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 6);
        assert_eq!(stats.pending.load(Ordering::Relaxed), 10);
        let (request, n) = queue.take(100).unwrap();
        assert_eq!(n, 10);
        // The newest five probes survive, in order.
        for ts in &request.timeseries {
            let stamps: Vec<i64> = ts.samples.iter().map(|s| s.timestamp).collect();
            assert_eq!(stamps, [3, 4, 5, 6, 7]);
        }
        // Taking frees room: nothing more is dropped until it fills again.
        queue.push(&down(8));
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 6);
        assert_eq!(stats.pending.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn batches_are_bounded_and_keep_order_across_takes() {
        let queue = queue(1000);
        for ts in 0..10 {
            queue.push(&Sample::down("api", ts, 1.0, "x".into()));
        }
        let mut seen = Vec::new();
        while let Some((req, n)) = queue.take(3) {
            // Whole probes of 2 values each: 3 rounds up to 4.
            assert_eq!(n % 2, 0);
            assert!(n <= 4);
            for ts in req.timeseries {
                if value_of(&ts, "__name__") == Some("leakhound_up") {
                    seen.extend(ts.samples.iter().map(|s| s.timestamp));
                }
            }
        }
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_batch_never_splits_a_sample_and_marks_each_targets_newest() {
        let queue = queue(1000);
        // 7 values each (see above): a batch of 10 runs on to the end of the second sample.
        queue.push(&sample("api", 1_000, 1));
        queue.push(&sample("worker", 1_000, 1));
        queue.push(&sample("api", 2_000, 1));
        let b = queue.take_batch(10).unwrap();
        assert_eq!(b.samples, 14);
        assert_eq!(b.marks, [("api".into(), 1_000), ("worker".into(), 1_000)]);
        let b = queue.take_batch(10).unwrap();
        assert_eq!(b.samples, 7);
        assert_eq!(b.marks, [("api".to_string(), 2_000)]);
        assert!(queue.take_batch(10).is_none());
        assert_eq!(queue.first_pushed().get("api"), Some(&1_000));
    }

    /// A receiver that records each request's (target, timestamp) pairs of `leakhound_up`.
    async fn receiver() -> (url::Url, Arc<std::sync::Mutex<Vec<(String, i64)>>>) {
        let got: Arc<std::sync::Mutex<Vec<(String, i64)>>> = Arc::default();
        let seen = got.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/api/v1/write",
            axum::routing::post(move |body: axum::body::Bytes| async move {
                let req = decode(&body).unwrap();
                let mut seen = seen.lock().unwrap();
                for ts in req.timeseries {
                    if value_of(&ts, "__name__") == Some("leakhound_up") {
                        let target = value_of(&ts, "target").unwrap().to_string();
                        seen.extend(ts.samples.iter().map(|s| (target.clone(), s.timestamp)));
                    }
                }
                axum::http::StatusCode::NO_CONTENT
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = format!("http://{addr}/api/v1/write").parse().unwrap();
        (url, got)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_samples_are_marked_and_only_the_rest_is_replayed_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("rw.db")).unwrap();
        let (url, got) = receiver().await;
        let config = RemoteWriteConfig {
            batch_size: 10,
            flush_interval: Duration::from_millis(20),
            ..RemoteWriteConfig::new(url)
        };
        let now = crate::agent::now_ms();
        let t = |i: i64| now - 60_000 + i * 1_000;
        // A first run sends 0..5 of both targets; the store has them too.
        let first = spawn_with(
            &config,
            AlertLevels::default(),
            Arc::new(Stats::default()),
            "box",
            Some(db.clone()),
        )
        .unwrap();
        for i in 0..5 {
            for target in ["api", "worker"] {
                let s = sample(target, t(i), 1);
                first.offer(&s);
                db.write(move |st| st.insert(&[s])).await.unwrap();
            }
        }
        first.shutdown(Duration::from_secs(5)).await;
        let marks = db.read(|s| s.remote_write_marks()).await.unwrap();
        assert_eq!(
            marks,
            std::collections::HashMap::from([("api".into(), t(4)), ("worker".into(), t(4))])
        );
        assert_eq!(got.lock().unwrap().len(), 10);
        got.lock().unwrap().clear();

        // Samples stored but never sent (the agent died with them queued) and one too old to
        // replay; then a sample of the next run, queued and stored in ingest's order (queue,
        // then store), so whether the replay reads the store before or after it is stored, it
        // goes out once (the filter itself: `the_replay_leaves_out_what_the_live_queue_has`).
        let too_old = sample("api", now - 7_200_000, 1);
        let unsent: Vec<Sample> = (5..8)
            .flat_map(|i| [sample("api", t(i), 1), sample("worker", t(i), 1)])
            .collect();
        let live = sample("api", t(8), 1);
        let mut stored = vec![too_old];
        stored.extend(unsent.clone());
        db.write(move |st| st.insert(&stored)).await.unwrap();
        let second = spawn_with(
            &config,
            AlertLevels::default(),
            Arc::new(Stats::default()),
            "box",
            Some(db.clone()),
        )
        .unwrap();
        second.offer(&live);
        let l = live.clone();
        db.write(move |st| st.insert(&[l])).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while got.lock().unwrap().len() < 7 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        second.shutdown(Duration::from_secs(5)).await;
        let got = got.lock().unwrap().clone();
        let mut want: Vec<(String, i64)> =
            unsent.iter().map(|s| (s.target.clone(), s.ts_ms)).collect();
        want.push(("api".into(), t(8)));
        // Each once, the replay (in time order) before the live sample.
        assert_eq!(got.len(), want.len(), "{got:?}");
        assert_eq!(got.last(), Some(&("api".to_string(), t(8))));
        let mut sorted = got.clone();
        sorted.sort_by_key(|(target, ts)| (*ts, target.clone()));
        assert_eq!(sorted, got, "in time order");
        let mut a = got.clone();
        a.sort();
        want.sort();
        assert_eq!(a, want);
        let marks = db.read(|s| s.remote_write_marks()).await.unwrap();
        assert_eq!(marks.get("api"), Some(&t(8)));
        assert_eq!(marks.get("worker"), Some(&t(7)));
    }

    /// A bare queue of `capacity` values (no extra labels, its own counters).
    fn queue(capacity: usize) -> Queue {
        Queue::new(
            capacity,
            Vec::new(),
            AlertLevels::default(),
            Arc::new(Stats::default()),
        )
    }

    #[tokio::test]
    async fn the_replay_is_bounded_by_the_queue_capacity_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("rw.db")).unwrap();
        let now = crate::agent::now_ms();
        let samples: Vec<Sample> = (0..10)
            .map(|i| sample("api", now - 10_000 + i, 1))
            .collect();
        db.write(move |st| st.insert(&samples)).await.unwrap();
        db.write(move |st| st.mark_remote_written(&[("api".into(), now - 10_000 + 1)]))
            .await
            .unwrap();
        let q = || queue(21);
        let (live, replayed) = (q(), q());
        // 8 samples after the mark, 7 values each: the newest 3 fit in 21.
        let r = replay::load(&db, Duration::from_secs(3600), &live, &replayed).await;
        assert_eq!(
            r,
            replay::Replayed {
                samples: 3,
                skipped: 5
            }
        );
        let b = replayed.take_batch(100).unwrap();
        assert_eq!(b.marks, [("api".to_string(), now - 10_000 + 9)]);
        // max_replay = 0s: nothing.
        let r = replay::load(&db, Duration::ZERO, &live, &q()).await;
        assert_eq!(r, replay::Replayed::default());
    }

    #[tokio::test]
    async fn the_replay_leaves_out_what_the_live_queue_has() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("rw.db")).unwrap();
        let now = crate::agent::now_ms();
        let t = |i: i64| now - 10_000 + i * 1_000;
        // Nothing marked: every stored sample is unsent. Ingest queued `api` from t(3) and
        // `worker` from t(1) before the replay read the store (a sample is queued, then stored).
        let stored: Vec<Sample> = (0..5)
            .flat_map(|i| [sample("api", t(i), 1), sample("worker", t(i), 1)])
            .collect();
        db.write(move |st| st.insert(&stored)).await.unwrap();
        let q = || queue(1_000);
        let (live, replayed) = (q(), q());
        for i in 3..5 {
            live.push(&sample("api", t(i), 1));
        }
        for i in 1..5 {
            live.push(&sample("worker", t(i), 1));
        }
        let r = replay::load(&db, Duration::from_secs(3600), &live, &replayed).await;
        assert_eq!(
            r,
            replay::Replayed {
                samples: 4,
                skipped: 0
            }
        );
        let b = replayed.take_batch(100).unwrap();
        let mut marks = b.marks.clone();
        marks.sort();
        assert_eq!(
            marks,
            [("api".to_string(), t(2)), ("worker".to_string(), t(0))]
        );
        assert!(replayed.take_batch(100).is_none());
    }
}
