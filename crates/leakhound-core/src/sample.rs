//! One observation of one target.

use serde::{Deserialize, Serialize};

/// What a probe measured. Every field is optional: each source fills what it can, and the
/// scheduler merges the readings of a target's sources (URL + local process) into one sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub goroutines: Option<u64>,
    /// Go heap bytes allocated and still in use (`runtime.MemStats.Alloc`).
    pub alloc_bytes: Option<u64>,
    /// Cumulative bytes allocated (`TotalAlloc`).
    pub total_alloc_bytes: Option<u64>,
    /// Bytes obtained from the OS by the Go runtime (`Sys`).
    pub sys_bytes: Option<u64>,
    /// Heap bytes in use (`HeapInuse`, or `HeapAlloc` where that is all the source has).
    pub heap_bytes: Option<u64>,
    pub num_gc: Option<u64>,
    pub threads: Option<u64>,
    pub rss_bytes: Option<u64>,
    /// CPU use of the process in percent of one core over the last probe interval.
    pub cpu_percent: Option<f64>,
    pub open_fds: Option<u64>,
    pub cgroup_memory_bytes: Option<u64>,
    pub cgroup_memory_limit_bytes: Option<u64>,
    /// CPU use of the process's cgroup in percent of one core.
    pub cgroup_cpu_percent: Option<f64>,
    /// A container source's network bytes received / sent since it started (summed over its
    /// networks; `None` with `--network=host`, where the container has no counters of its own).
    pub container_net_rx_bytes: Option<u64>,
    pub container_net_tx_bytes: Option<u64>,
    /// Restarts of a container source: the daemon's `RestartCount` when first seen, plus every
    /// start seen since (a new `StartedAt`), `docker restart` included. Only ever grows.
    pub container_restarts: Option<u64>,
    /// A container source's state as the daemon reports it (running, exited, restarting, …).
    pub container_state: Option<String>,
}

impl Metrics {
    /// Fill every field that is `None` here from `other`; fields already present win.
    pub fn fill_from(&mut self, other: &Metrics) {
        macro_rules! fill {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = other.$f; } )* };
        }
        fill!(
            goroutines,
            alloc_bytes,
            total_alloc_bytes,
            sys_bytes,
            heap_bytes,
            num_gc,
            threads,
            rss_bytes,
            cpu_percent,
            open_fds,
            cgroup_memory_bytes,
            cgroup_memory_limit_bytes,
            cgroup_cpu_percent,
            container_net_rx_bytes,
            container_net_tx_bytes,
            container_restarts
        );
        if self.container_state.is_none() {
            self.container_state.clone_from(&other.container_state);
        }
    }

    /// The memory figure the guide's memory table is about ("process/container usage"):
    /// the process RSS when known, else the container's cgroup usage, else the Go runtime's
    /// `Sys` (what the health JSON calls `sys_mb`), else the heap `Alloc`.
    pub fn memory_used_bytes(&self) -> Option<u64> {
        self.rss_bytes
            .or(self.cgroup_memory_bytes)
            .or(self.sys_bytes)
            .or(self.alloc_bytes)
    }

    /// Drop every reading no real process can have (see [`CEILINGS`]) and say which, e.g.
    /// `reading out of range: goroutines=18446744073709551615 (max 100000000)`. A target that
    /// sends `1e308` goroutines is broken or hostile: the reading must not fire a level rule
    /// (or the restart behind it). `None` when every reading is plausible.
    pub fn reject_impossible(&mut self) -> Option<String> {
        let mut bad = Vec::new();
        macro_rules! check {
            ($($f:ident),*) => { $(
                if let Some(v) = self.$f {
                    let max = ceiling(stringify!($f));
                    if v > max {
                        bad.push(format!("{}={v} (max {max})", stringify!($f)));
                        self.$f = None;
                    }
                }
            )* };
        }
        check!(
            goroutines,
            alloc_bytes,
            total_alloc_bytes,
            sys_bytes,
            heap_bytes,
            num_gc,
            threads,
            rss_bytes,
            open_fds,
            cgroup_memory_bytes,
            cgroup_memory_limit_bytes,
            container_net_rx_bytes,
            container_net_tx_bytes,
            container_restarts
        );
        for (name, field) in [
            ("cpu_percent", &mut self.cpu_percent),
            ("cgroup_cpu_percent", &mut self.cgroup_cpu_percent),
        ] {
            if let Some(v) = *field {
                if !(v.is_finite() && (0.0..=MAX_CPU_PERCENT).contains(&v)) {
                    bad.push(format!("{name}={v} (max {MAX_CPU_PERCENT})"));
                    *field = None;
                }
            }
        }
        (!bad.is_empty()).then(|| format!("reading out of range: {}", bad.join(", ")))
    }

    pub fn is_empty(&self) -> bool {
        *self == Metrics::default()
    }
}

/// The most goroutines a reading may claim: 100 million goroutines need at least 200 GB of
/// stacks (2 KiB each); no service leakhound watches comes near, and a reading above is a broken
/// or hostile answer (`1e308`, `2^64`), not a leak.
pub const MAX_GOROUTINES: u64 = 100_000_000;
/// Threads: Linux's largest `pid_max` (every thread takes a PID).
pub const MAX_THREADS: u64 = 4_194_304;
/// Open file descriptors: Linux's largest `fs.nr_open`.
pub const MAX_OPEN_FDS: u64 = 1 << 30;
/// Byte gauges (heap, RSS, cgroup memory): 1 PiB, beyond any single machine.
pub const MAX_BYTES: u64 = 1 << 50;
/// Cumulative counters (bytes allocated, GC cycles, network bytes, restarts): what the store
/// keeps (an SQLite integer), so a stored value is never a clamped one.
pub const MAX_COUNTER: u64 = i64::MAX as u64;
/// CPU in percent of one core: 10,000 cores busy.
pub const MAX_CPU_PERCENT: f64 = 1_000_000.0;

/// The ceiling of one [`Metrics`] field (by name); see the `MAX_*` constants.
pub fn ceiling(field: &str) -> u64 {
    match field {
        "goroutines" => MAX_GOROUTINES,
        "threads" => MAX_THREADS,
        "open_fds" => MAX_OPEN_FDS,
        "alloc_bytes" | "sys_bytes" | "heap_bytes" | "rss_bytes" | "cgroup_memory_bytes" => {
            MAX_BYTES
        }
        _ => MAX_COUNTER,
    }
}

/// A probe result: the target, when (Unix milliseconds, from the caller's clock), whether it
/// answered, why not, how long it took, which sources answered, and what they measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub target: String,
    pub ts_ms: i64,
    pub up: bool,
    /// Why the target is down (or partially down), in words a human can act on.
    pub error: Option<String>,
    /// Wall time the probe took, in milliseconds.
    pub latency_ms: f64,
    /// The sources that answered, joined by `+` (e.g. `health+process`).
    pub source: String,
    pub metrics: Metrics,
}

impl Sample {
    pub fn down(target: &str, ts_ms: i64, latency_ms: f64, error: String) -> Sample {
        Sample {
            target: target.to_string(),
            ts_ms,
            up: false,
            error: Some(error),
            latency_ms,
            source: String::new(),
            metrics: Metrics::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_keeps_present_fields() {
        let mut a = Metrics {
            goroutines: Some(5),
            ..Metrics::default()
        };
        let b = Metrics {
            goroutines: Some(9),
            rss_bytes: Some(100),
            ..Metrics::default()
        };
        a.fill_from(&b);
        assert_eq!(a.goroutines, Some(5));
        assert_eq!(a.rss_bytes, Some(100));
        assert_eq!(a.memory_used_bytes(), Some(100));
    }

    #[test]
    fn impossible_readings_are_dropped_with_a_reason() {
        let mut m = Metrics {
            goroutines: Some(u64::MAX),
            rss_bytes: Some(100),
            cpu_percent: Some(f64::NAN),
            ..Metrics::default()
        };
        let reason = m.reject_impossible().unwrap();
        assert_eq!(
            reason,
            "reading out of range: goroutines=18446744073709551615 (max 100000000), cpu_percent=NaN (max 1000000)"
        );
        assert_eq!(
            (m.goroutines, m.rss_bytes, m.cpu_percent),
            (None, Some(100), None)
        );
        let mut fine = Metrics {
            goroutines: Some(MAX_GOROUTINES),
            cgroup_memory_limit_bytes: Some(i64::MAX as u64),
            ..Metrics::default()
        };
        assert_eq!(fine.reject_impossible(), None);
    }

    #[test]
    fn memory_prefers_rss_then_cgroup_then_sys() {
        let m = Metrics {
            sys_bytes: Some(3),
            alloc_bytes: Some(1),
            ..Metrics::default()
        };
        assert_eq!(m.memory_used_bytes(), Some(3));
        let m = Metrics {
            cgroup_memory_bytes: Some(7),
            ..m
        };
        assert_eq!(m.memory_used_bytes(), Some(7));
    }
}
