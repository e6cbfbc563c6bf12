//! What the rules read of a sample, and a compact form of it for long windows.

use super::Metric;
use crate::sample::Sample;

/// The parts of a sample the rule engine reads: when, whether it answered (and why not), and
/// the watched metrics. Implemented by [`Sample`] and by the compact [`Point`].
pub trait Observation {
    fn ts_ms(&self) -> i64;
    fn up(&self) -> bool;
    fn error(&self) -> Option<&str>;
    fn value(&self, metric: Metric) -> Option<u64>;
}

impl Observation for Sample {
    fn ts_ms(&self) -> i64 {
        self.ts_ms
    }
    fn up(&self) -> bool {
        self.up
    }
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    fn value(&self, metric: Metric) -> Option<u64> {
        metric.read(&self.metrics)
    }
}

/// A sample reduced to what the rules read, in 40 bytes instead of a [`Sample`]'s 300 and
/// more: the agent keeps 30 minutes of them for every target (10 000 targets × ~100 points).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub ts_ms: i64,
    /// [`NONE`] when the sample had none (a count of `u64::MAX` is kept as `u64::MAX - 1`).
    goroutines: u64,
    memory_bytes: u64,
    /// Why the target was down; `None` when up. A thin box: 8 bytes, not 16.
    error: Option<Box<Box<str>>>,
    up: bool,
}

/// The stored form of a missing value.
const NONE: u64 = u64::MAX;

fn pack(v: Option<u64>) -> u64 {
    v.map_or(NONE, |v| v.min(NONE - 1))
}

impl Point {
    /// A target that answered at `ts_ms` with these values.
    pub fn up(ts_ms: i64, goroutines: Option<u64>, memory_bytes: Option<u64>) -> Point {
        Point {
            ts_ms,
            goroutines: pack(goroutines),
            memory_bytes: pack(memory_bytes),
            error: None,
            up: true,
        }
    }

    /// Forget the error text (the engine reads it once, from the newest point).
    pub fn clear_error(&mut self) {
        self.error = None;
    }
}

impl From<&Sample> for Point {
    fn from(s: &Sample) -> Point {
        // A down sample keeps what the other probes read (a process's or container's memory
        // when the URL failed): the rules see it as they see the sample.
        Point {
            ts_ms: s.ts_ms,
            goroutines: pack(s.metrics.goroutines),
            memory_bytes: pack(s.metrics.memory_used_bytes()),
            error: if s.up {
                None
            } else {
                s.error.as_deref().map(|e| Box::new(Box::from(e)))
            },
            up: s.up,
        }
    }
}

impl Observation for Point {
    fn ts_ms(&self) -> i64 {
        self.ts_ms
    }
    fn up(&self) -> bool {
        self.up
    }
    fn error(&self) -> Option<&str> {
        self.error.as_deref().map(|e| &**e)
    }
    fn value(&self, metric: Metric) -> Option<u64> {
        let v = match metric {
            Metric::Goroutines => self.goroutines,
            Metric::Memory => self.memory_bytes,
        };
        (v != NONE).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metrics;

    #[test]
    fn a_point_reads_like_its_sample() {
        let mut s = Sample::down("svc", 42, 1.0, "connection refused".into());
        let p = Point::from(&s);
        assert_eq!(
            (p.ts_ms(), p.up(), p.error()),
            (42, false, Some("connection refused"))
        );
        s.metrics.rss_bytes = Some(300);
        assert!(s.value(Metric::Memory).is_some());
        assert_eq!(
            Point::from(&s).value(Metric::Memory),
            s.value(Metric::Memory),
            "a down sample keeps what other probes read"
        );
        s.up = true;
        s.metrics = Metrics {
            goroutines: Some(7),
            sys_bytes: Some(100),
            rss_bytes: Some(300),
            ..Metrics::default()
        };
        let p = Point::from(&s);
        for m in Metric::ALL {
            assert_eq!(p.value(m), s.value(m));
        }
        assert_eq!(p.error(), None, "an up sample carries no error");
        assert_eq!(std::mem::size_of::<Point>(), 40);
        // The one value that cannot be stored reads as the largest that can.
        let huge = Point::up(1, Some(u64::MAX), Some(0));
        assert_eq!(huge.value(Metric::Goroutines), Some(u64::MAX - 1));
        assert_eq!(huge.value(Metric::Memory), Some(0));
    }
}
