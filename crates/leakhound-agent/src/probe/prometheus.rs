//! Prometheus text exposition (`/metrics`) from client_golang's Go and process collectors:
//! `go_goroutines`, `go_threads`, `go_memstats_*`, `go_gc_duration_seconds_count`, `process_*`.
//! Parsed with the `prometheus-parse` crate.

use leakhound_core::Metrics;
use prometheus_parse::{Scrape, Value};

/// The families leakhound reads; every other line of a page is skipped before parsing.
const WANTED: [&str; 11] = [
    "go_goroutines",
    "go_threads",
    "go_memstats_alloc_bytes",
    "go_memstats_alloc_bytes_total",
    "go_memstats_sys_bytes",
    "go_memstats_heap_inuse_bytes",
    "go_memstats_heap_alloc_bytes",
    "go_gc_duration_seconds",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_cpu_seconds_total",
];

/// Whether a line of the exposition format belongs to a wanted family. Big services export
/// hundreds of families; filtering first keeps a probe's cost independent of them.
fn wanted(line: &str) -> bool {
    let name = match line.strip_prefix('#') {
        // HELP text is not used; TYPE lines tell counters from gauges.
        Some(comment) if comment.trim_start().starts_with("HELP") => return false,
        Some(comment) => comment.split_whitespace().nth(1).unwrap_or(""),
        None => line.split(['{', ' ', '\t']).next().unwrap_or(""),
    };
    let family = name
        .strip_suffix("_count")
        .or_else(|| name.strip_suffix("_sum"))
        .filter(|f| *f == "go_gc_duration_seconds")
        .unwrap_or(name);
    WANTED.contains(&family)
}

/// The metrics, plus `process_cpu_seconds_total` (the caller turns two of those into a CPU %).
pub fn parse(body: &[u8]) -> Result<(Metrics, Option<f64>), String> {
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8 text".to_string())?;
    let lines = text
        .lines()
        .filter(|l| wanted(l))
        .map(|l| Ok(l.to_string()));
    let scrape = Scrape::parse(lines).map_err(|e| format!("not Prometheus text ({e})"))?;
    let find = |name: &str| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .and_then(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
                Value::Summary(_) | Value::Histogram(_) => None,
            })
    };
    let count = |name: &str| {
        find(name)
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v as u64)
    };
    let gc_count = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "go_gc_duration_seconds_count" || s.metric == "go_gc_duration_seconds"
        })
        .and_then(|s| match &s.value {
            Value::Untyped(v) | Value::Counter(v) => Some(*v as u64),
            Value::Summary(_) => None,
            _ => None,
        });
    let metrics = Metrics {
        goroutines: count("go_goroutines"),
        threads: count("go_threads"),
        alloc_bytes: count("go_memstats_alloc_bytes"),
        total_alloc_bytes: count("go_memstats_alloc_bytes_total"),
        sys_bytes: count("go_memstats_sys_bytes"),
        heap_bytes: count("go_memstats_heap_inuse_bytes").or(count("go_memstats_heap_alloc_bytes")),
        num_gc: gc_count,
        rss_bytes: count("process_resident_memory_bytes"),
        open_fds: count("process_open_fds"),
        ..Metrics::default()
    };
    if metrics.is_empty() {
        return Err(
            "no go_* or process_* metrics: is this a Go service's client_golang /metrics page?"
                .into(),
        );
    }
    Ok((metrics, find("process_cpu_seconds_total")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 57
# TYPE go_threads gauge
go_threads 9
# TYPE go_memstats_alloc_bytes gauge
go_memstats_alloc_bytes 2.5e+06
# TYPE go_memstats_alloc_bytes_total counter
go_memstats_alloc_bytes_total 9.1e+07
# TYPE go_memstats_sys_bytes gauge
go_memstats_sys_bytes 1.2e+07
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile=\"0.5\"} 3.1e-05
go_gc_duration_seconds_sum 0.002
go_gc_duration_seconds_count 12
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 2.1e+07
# TYPE process_open_fds gauge
process_open_fds 11
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.25
";

    #[test]
    fn client_golang_page() {
        let (m, cpu) = parse(PAGE.as_bytes()).unwrap();
        assert_eq!(m.goroutines, Some(57));
        assert_eq!(m.threads, Some(9));
        assert_eq!(m.alloc_bytes, Some(2_500_000));
        assert_eq!(m.total_alloc_bytes, Some(91_000_000));
        assert_eq!(m.rss_bytes, Some(21_000_000));
        assert_eq!(m.open_fds, Some(11));
        assert_eq!(m.num_gc, Some(12));
        assert_eq!(cpu, Some(1.25));
    }

    #[test]
    fn other_families_are_skipped() {
        assert!(wanted("go_goroutines 5"));
        assert!(wanted("# TYPE go_gc_duration_seconds summary"));
        assert!(wanted("go_gc_duration_seconds_count 12"));
        assert!(wanted("go_gc_duration_seconds{quantile=\"0.5\"} 1e-05"));
        assert!(!wanted("http_requests_total{code=\"200\"} 5"));
        assert!(!wanted("go_goroutines_total 5"));
        assert!(!wanted("# HELP http_requests_total Requests."));
        assert!(!wanted("# HELP go_goroutines Number of goroutines."));
    }

    #[test]
    fn not_a_go_page() {
        assert!(parse(b"some_other_metric 1\n")
            .unwrap_err()
            .contains("go_*"));
    }
}
