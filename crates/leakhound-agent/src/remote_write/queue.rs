//! The remote writer's bounded queue: each sample becomes its series' points (interned labels,
//! sorted by name), the oldest dropped when full; [`Queue::take`] makes a request of them.
//!
//! A request never splits a probe's values (a batch may run over `batch_size` by the few values
//! of its last sample), so that once it is acknowledged every sample in it is sent whole: the
//! marks [`Queue::take_batch`] returns (per target, its newest sample in the batch) are what
//! the sender records in the store for the replay after a restart.

use super::proto::{self, Label, TimeSeries, WriteRequest};
use super::Stats;
use leakhound_core::exposition::{self as names, level_number, memory_by_kind};
use leakhound_core::ladder::AlertLevels;
use leakhound_core::Sample;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// One waiting value of one series.
#[derive(Debug, Clone, Copy)]
struct Point {
    series: u32,
    ts_ms: i64,
    value: f64,
    /// The last value of its sample.
    last: bool,
}

/// One request's worth of the queue: the request, its number of samples (values) and, per
/// target, the time of its newest sample in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub request: WriteRequest,
    pub samples: usize,
    pub marks: Vec<(String, i64)>,
}

/// A probe's values: (metric name, kind, value).
type Values = ([(&'static str, &'static str, f64); 13], usize);

struct Inner {
    points: VecDeque<Point>,
    /// Every series' sorted labels, by id.
    series: Vec<Arc<[Label]>>,
    /// Every series' target, by id.
    series_target: Vec<Arc<str>>,
    /// target → (metric name, kind) → series id.
    index: HashMap<Arc<str>, HashMap<(&'static str, &'static str), u32>>,
    /// target → the time of the first sample pushed for it.
    first_ts: HashMap<Arc<str>, i64>,
    /// target → its own labels (`[targets.labels]`, discovery), sorted.
    target_labels: HashMap<String, Vec<(String, String)>>,
    /// Whether the queue is dropping now (logged once per episode).
    dropping: bool,
}

/// The bounded queue between the agent's ingest path and the sender. [`Queue::push`] never
/// blocks for longer than a short lock; when the queue is full the oldest samples go.
pub struct Queue {
    inner: Mutex<Inner>,
    capacity: usize,
    labels: Vec<(String, String)>,
    levels: AlertLevels,
    pub(super) stats: Arc<Stats>,
    pub(super) wake: Notify,
    pub(super) wake_at: usize,
    /// Samples taken by the sender and not yet accepted or refused.
    pub(super) in_flight: std::sync::atomic::AtomicUsize,
}

impl Queue {
    /// A queue of at most `capacity` samples; `labels` go on every series.
    pub fn new(
        capacity: usize,
        labels: Vec<(String, String)>,
        levels: AlertLevels,
        stats: Arc<Stats>,
    ) -> Queue {
        Queue {
            inner: Mutex::new(Inner {
                points: VecDeque::with_capacity(capacity.min(4096)),
                series: Vec::new(),
                series_target: Vec::new(),
                index: HashMap::new(),
                first_ts: HashMap::new(),
                target_labels: HashMap::new(),
                dropping: false,
            }),
            capacity: capacity.max(1),
            labels,
            levels,
            stats,
            wake: Notify::new(),
            wake_at: usize::MAX,
            in_flight: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Samples waiting now.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.points.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The queue's capacity in values.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Per target, the time of the first sample pushed for it.
    pub fn first_pushed(&self) -> HashMap<Arc<str>, i64> {
        self.inner
            .lock()
            .map(|i| i.first_ts.clone())
            .unwrap_or_default()
    }

    /// How many values (points) `sample` becomes.
    pub fn values_of(&self, sample: &Sample) -> usize {
        self.values(sample).1
    }

    fn values(&self, sample: &Sample) -> Values {
        let m = &sample.metrics;
        let mut values: [(&'static str, &'static str, f64); 13] = [("", "", 0.0); 13];
        let mut n = 0;
        let mut add = |name: &'static str, kind: &'static str, v: f64| {
            if n < values.len() {
                values[n] = (name, kind, v);
                n += 1;
            }
        };
        add(names::UP, "", f64::from(u8::from(sample.up)));
        add(
            names::SCRAPE_DURATION_SECONDS,
            "",
            sample.latency_ms / 1000.0,
        );
        if let Some(g) = m.goroutines {
            add(names::GOROUTINES, "", g as f64);
            add(names::LEVEL, "", level_number(self.levels.level(g)) as f64);
        }
        for (kind, value) in memory_by_kind(m) {
            if let Some(v) = value {
                add(names::MEMORY_BYTES, kind, v as f64);
            }
        }
        (values, n)
    }

    /// `target`'s own labels from now on: its next samples go on series with them (a label
    /// named like one leakhound or `[remote_write] labels` sets is left out: those win).
    pub fn set_target_labels(
        &self,
        target: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let own: Vec<(String, String)> = labels
            .iter()
            .filter(|(k, _)| {
                !matches!(k.as_str(), "__name__" | "target" | "kind")
                    && !self.labels.iter().any(|(n, _)| n == *k)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let current = inner
            .target_labels
            .get(target)
            .map_or(&[][..], |l| l.as_slice());
        if current == own.as_slice() {
            return;
        }
        if own.is_empty() {
            inner.target_labels.remove(target);
        } else {
            inner.target_labels.insert(target.to_string(), own);
        }
        // New series from the next sample on; queued points keep theirs.
        inner.index.remove(target);
    }

    /// Queue the series values of one probe result.
    pub fn push(&self, sample: &Sample) {
        let (values, n) = self.values(sample);
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let mut dropped = 0u64;
        for (i, &(name, kind, value)) in values[..n].iter().enumerate() {
            let series = inner.intern(&sample.target, name, kind, &self.labels);
            if i == 0 {
                if let Some(target) = inner.series_target.get(series as usize).cloned() {
                    inner.first_ts.entry(target).or_insert(sample.ts_ms);
                }
            }
            if inner.points.len() >= self.capacity {
                inner.points.pop_front();
                dropped += 1;
            }
            inner.points.push_back(Point {
                series,
                ts_ms: sample.ts_ms,
                value,
                last: i + 1 == n,
            });
        }
        let len = inner.points.len();
        let started_dropping = dropped > 0 && !inner.dropping;
        inner.dropping = dropped > 0;
        drop(inner);
        if dropped > 0 {
            self.stats.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        if started_dropping {
            tracing::warn!(
                capacity = self.capacity,
                "remote write queue is full: dropping the oldest samples (counted in \
                 leakhound_remote_write_dropped_samples_total); the endpoint is down or too slow, \
                 or raise [remote_write] queue_capacity"
            );
        }
        self.stats.pending.store(len as u64, Ordering::Relaxed);
        if len >= self.wake_at {
            self.wake.notify_one();
        }
    }

    /// Take about `max` of the oldest samples as one request (series labels sorted, samples in
    /// timestamp order per series), with the number of samples in it.
    pub fn take(&self, max: usize) -> Option<(WriteRequest, usize)> {
        self.take_batch(max).map(|b| (b.request, b.samples))
    }

    /// Take `max` of the oldest values, or a few more so as not to split a probe's values, as
    /// one request, with the per-target marks of the samples in it.
    pub fn take_batch(&self, max: usize) -> Option<Batch> {
        let (points, labels, marks) = {
            let mut inner = self.inner.lock().ok()?;
            let mut n = inner.points.len().min(max.max(1));
            if n == 0 {
                return None;
            }
            while n < inner.points.len() && !inner.points[n - 1].last {
                n += 1;
            }
            let points: Vec<Point> = inner.points.drain(..n).collect();
            let mut marks: HashMap<Arc<str>, i64> = HashMap::new();
            for p in points.iter().filter(|p| p.last) {
                if let Some(t) = inner.series_target.get(p.series as usize) {
                    let m = marks.entry(t.clone()).or_insert(p.ts_ms);
                    *m = (*m).max(p.ts_ms);
                }
            }
            if inner.points.len() < self.capacity {
                inner.dropping = false;
            }
            self.stats
                .pending
                .store(inner.points.len() as u64, Ordering::Relaxed);
            let mut labels: HashMap<u32, Arc<[Label]>> = HashMap::new();
            for p in &points {
                if let Some(l) = inner.series.get(p.series as usize) {
                    labels.entry(p.series).or_insert_with(|| l.clone());
                }
            }
            (points, labels, marks)
        };
        let count = points.len();
        let mut by_series: HashMap<u32, usize> = HashMap::new();
        let mut timeseries: Vec<TimeSeries> = Vec::new();
        for p in points {
            let i = *by_series.entry(p.series).or_insert_with(|| {
                timeseries.push(TimeSeries {
                    labels: labels
                        .get(&p.series)
                        .map(|l| l.to_vec())
                        .unwrap_or_default(),
                    samples: Vec::new(),
                });
                timeseries.len() - 1
            });
            timeseries[i].samples.push(proto::Sample {
                value: p.value,
                timestamp: p.ts_ms,
            });
        }
        for ts in &mut timeseries {
            // Arrival order is timestamp order per target; a stable sort keeps it so anyway.
            ts.samples.sort_by_key(|s| s.timestamp);
        }
        let mut marks: Vec<(String, i64)> = marks
            .into_iter()
            .map(|(t, ts)| (t.to_string(), ts))
            .collect();
        marks.sort();
        Some(Batch {
            request: WriteRequest { timeseries },
            samples: count,
            marks,
        })
    }
}

impl Inner {
    fn intern(
        &mut self,
        target: &str,
        name: &'static str,
        kind: &'static str,
        extra: &[(String, String)],
    ) -> u32 {
        if let Some(id) = self.index.get(target).and_then(|m| m.get(&(name, kind))) {
            return *id;
        }
        let id = u32::try_from(self.series.len()).unwrap_or(u32::MAX);
        let mut labels = vec![
            Label {
                name: "__name__".into(),
                value: name.into(),
            },
            Label {
                name: "target".into(),
                value: target.into(),
            },
        ];
        if !kind.is_empty() {
            labels.push(Label {
                name: "kind".into(),
                value: kind.into(),
            });
        }
        let own = self
            .target_labels
            .get(target)
            .map_or(&[][..], |l| l.as_slice());
        labels.extend(extra.iter().chain(own).map(|(n, v)| Label {
            name: n.clone(),
            value: v.clone(),
        }));
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        self.series.push(labels.into());
        let target: Arc<str> = self
            .index
            .get_key_value(target)
            .map_or_else(|| target.into(), |(t, _)| t.clone());
        self.series_target.push(target.clone());
        self.index
            .entry(target)
            .or_default()
            .insert((name, kind), id);
        id
    }
}
