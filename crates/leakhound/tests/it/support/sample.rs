//! A builder for the `leakhound_core::Sample`s tests store or serve:
//! `sample("api").at(ts_ms).goroutines(120).sys(64 << 20).build()`.
//!
//! Defaults: up, no error, 1 ms latency, source `health`, no metric. Shared by the integration
//! tests of `leakhound` and `leakhound-web` (the latter includes this file by path).

use leakhound_core::{Metrics, Sample};

/// A sample of `target`, at `ts_ms` 0 until [`at`](SampleBuilder::at).
pub fn sample(target: &str) -> SampleBuilder {
    SampleBuilder(Sample {
        target: target.to_string(),
        ts_ms: 0,
        up: true,
        error: None,
        latency_ms: 1.0,
        source: "health".to_string(),
        metrics: Metrics::default(),
    })
}

#[must_use]
#[derive(Debug, Clone)]
pub struct SampleBuilder(Sample);

impl SampleBuilder {
    pub fn at(mut self, ts_ms: i64) -> Self {
        self.0.ts_ms = ts_ms;
        self
    }

    pub fn latency(mut self, ms: f64) -> Self {
        self.0.latency_ms = ms;
        self
    }

    pub fn source(mut self, source: &str) -> Self {
        self.0.source = source.to_string();
        self
    }

    /// Up or down, with no error.
    pub fn up(mut self, up: bool) -> Self {
        self.0.up = up;
        self
    }

    /// Down with `error` (as a failed probe stores it).
    pub fn down(mut self, error: &str) -> Self {
        self.0.up = false;
        self.0.error = Some(error.to_string());
        self
    }

    pub fn goroutines(mut self, n: u64) -> Self {
        self.0.metrics.goroutines = Some(n);
        self
    }

    pub fn alloc(mut self, bytes: u64) -> Self {
        self.0.metrics.alloc_bytes = Some(bytes);
        self
    }

    pub fn total_alloc(mut self, bytes: u64) -> Self {
        self.0.metrics.total_alloc_bytes = Some(bytes);
        self
    }

    pub fn sys(mut self, bytes: u64) -> Self {
        self.0.metrics.sys_bytes = Some(bytes);
        self
    }

    pub fn heap(mut self, bytes: u64) -> Self {
        self.0.metrics.heap_bytes = Some(bytes);
        self
    }

    /// Resident memory; `None` leaves it unknown (as a probe without /proc does).
    pub fn rss(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.0.metrics.rss_bytes = bytes.into();
        self
    }

    pub fn num_gc(mut self, n: u64) -> Self {
        self.0.metrics.num_gc = Some(n);
        self
    }

    /// Any other metric.
    pub fn metrics(mut self, f: impl FnOnce(&mut Metrics)) -> Self {
        f(&mut self.0.metrics);
        self
    }

    pub fn build(self) -> Sample {
        self.0
    }
}

impl From<SampleBuilder> for Sample {
    fn from(b: SampleBuilder) -> Sample {
        b.0
    }
}
