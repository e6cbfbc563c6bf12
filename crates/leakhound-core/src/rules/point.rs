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

/// A sample reduced to what the rules read: 56 bytes instead of a [`Sample`]'s 300 and more,
/// for the windows the agent keeps of every target (1000 targets × 30 minutes).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub ts_ms: i64,
    pub goroutines: Option<u64>,
    pub memory_bytes: Option<u64>,
    /// Why the target was down; `None` when up.
    pub error: Option<Box<str>>,
    pub up: bool,
}

impl From<&Sample> for Point {
    fn from(s: &Sample) -> Point {
        Point {
            ts_ms: s.ts_ms,
            goroutines: s.metrics.goroutines,
            memory_bytes: s.metrics.memory_used_bytes(),
            error: if s.up {
                None
            } else {
                s.error.as_deref().map(Box::from)
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
        self.error.as_deref()
    }
    fn value(&self, metric: Metric) -> Option<u64> {
        match metric {
            Metric::Goroutines => self.goroutines,
            Metric::Memory => self.memory_bytes,
        }
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
        assert!(std::mem::size_of::<Point>() <= 64);
    }
}
