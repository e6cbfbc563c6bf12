//! The names leakhound exports samples under, shared by the agent's `/metrics` page and its
//! Prometheus remote write, so both speak the same series.
//!
//! ```
//! use leakhound_core::exposition::{memory_by_kind, GOROUTINES};
//! use leakhound_core::Metrics;
//!
//! assert_eq!(GOROUTINES, "leakhound_goroutines");
//! let m = Metrics { rss_bytes: Some(10), ..Metrics::default() };
//! let kinds: Vec<_> = memory_by_kind(&m).into_iter().filter(|(_, v)| v.is_some()).collect();
//! assert_eq!(kinds, [("rss", Some(10)), ("used", Some(10))]);
//! ```

use crate::severity::Severity;
use crate::Metrics;

/// Goroutines of a target at a sample (`runtime.NumGoroutine`), label `target`.
pub const GOROUTINES: &str = "leakhound_goroutines";
/// Memory of a target by `kind` (see [`memory_by_kind`]), labels `target`, `kind`.
pub const MEMORY_BYTES: &str = "leakhound_memory_bytes";
/// 1 when the probe answered, 0 when it failed, label `target`.
pub const UP: &str = "leakhound_up";
/// The guide's alert level of the goroutine count (see [`level_number`]), label `target`.
pub const LEVEL: &str = "leakhound_level";
/// How long the probe took, label `target`.
pub const SCRAPE_DURATION_SECONDS: &str = "leakhound_scrape_duration_seconds";
/// Unix time of a target's latest sample (`/metrics` only: remote write carries timestamps).
pub const LAST_SAMPLE_TIMESTAMP_SECONDS: &str = "leakhound_last_sample_timestamp_seconds";
/// 1 for every alert firing now, labels `target`, `rule`, `severity` (`/metrics` only).
pub const ALERT_FIRING: &str = "leakhound_alert_firing";
/// `1` per watched target with labels (`[targets.labels]`, discovery): `target` and its labels,
/// to join onto the other series (`* on(target) group_left(team) leakhound_target_info`).
pub const TARGET_INFO: &str = "leakhound_target_info";
/// Remote-write samples dropped because the queue was full (prometheus-client adds `_total`).
pub const REMOTE_WRITE_DROPPED_SAMPLES: &str = "leakhound_remote_write_dropped_samples";
/// Remote-write samples the endpoint accepted (prometheus-client adds `_total`).
pub const REMOTE_WRITE_SENT_SAMPLES: &str = "leakhound_remote_write_sent_samples";
/// Remote-write samples the endpoint refused with a 4xx (not retried, as Prometheus does).
pub const REMOTE_WRITE_REJECTED_SAMPLES: &str = "leakhound_remote_write_rejected_samples";
/// Remote-write samples waiting in the queue now.
pub const REMOTE_WRITE_PENDING_SAMPLES: &str = "leakhound_remote_write_pending_samples";

/// Every memory figure of a sample by its `kind` label value, in a fixed order: the Go
/// runtime's alloc, total_alloc, sys, heap; the process rss; the container's cgroup and
/// cgroup_limit; and `used` (what the guide's memory table rates).
pub fn memory_by_kind(m: &Metrics) -> [(&'static str, Option<u64>); 8] {
    [
        ("alloc", m.alloc_bytes),
        ("total_alloc", m.total_alloc_bytes),
        ("sys", m.sys_bytes),
        ("heap", m.heap_bytes),
        ("rss", m.rss_bytes),
        ("cgroup", m.cgroup_memory_bytes),
        ("cgroup_limit", m.cgroup_memory_limit_bytes),
        ("used", m.memory_used_bytes()),
    ]
}

/// A level (see [`AlertLevels::level`](crate::ladder::AlertLevels::level)) as a number: 0 none,
/// 1 warning, 2 urgent, 3 critical (GUIDE §9).
pub fn level_number(level: Option<Severity>) -> i64 {
    match level {
        None | Some(Severity::Info) => 0,
        Some(Severity::Warning) => 1,
        Some(Severity::Urgent) => 2,
        Some(Severity::Critical) => 3,
    }
}
