//! Prometheus text exposition (`/metrics`) from client_golang's Go and process collectors:
//! `go_goroutines`, `go_threads`, `go_memstats_*`, `go_gc_duration_seconds_count`, `process_*`.
//!
//! Every family leakhound reads is a single unlabelled sample (`name value [timestamp]`), so the
//! page is scanned line by line for those names and nothing else is parsed: this runs for every
//! target on every probe, and a general parser (labels, escapes, histograms) cost more than the
//! rest of a probe together. Lines of other families, comments and labelled samples are skipped
//! without being split.

use crate::Metrics;

/// The families leakhound reads, in the order of the slots in [`Found`].
const WANTED: [&str; 11] = [
    "go_goroutines",
    "go_threads",
    "go_memstats_alloc_bytes",
    "go_memstats_alloc_bytes_total",
    "go_memstats_sys_bytes",
    "go_memstats_heap_inuse_bytes",
    "go_memstats_heap_alloc_bytes",
    "go_gc_duration_seconds_count",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_cpu_seconds_total",
];

/// The value of each wanted family (first occurrence wins), by its index in [`WANTED`].
type Found = [Option<f64>; WANTED.len()];

/// The sample of one exposition line, if it is an unlabelled sample of a wanted family.
fn sample(line: &str) -> Option<(usize, f64)> {
    let line = line.trim_start();
    if !(line.starts_with("go_") || line.starts_with("process_")) {
        return None; // comments, other families
    }
    let (name, rest) = line.split_once([' ', '\t'])?;
    let slot = WANTED.iter().position(|w| *w == name)?;
    let value = rest.split_ascii_whitespace().next()?;
    // Go writes +Inf, -Inf and NaN; Rust's f64 parser reads "inf"/"NaN" too, so map them first.
    let v = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => value.parse::<f64>().ok()?,
    };
    Some((slot, v))
}

fn scan(text: &str) -> Found {
    let mut found: Found = [None; WANTED.len()];
    for line in text.lines() {
        if let Some((slot, v)) = sample(line) {
            found[slot].get_or_insert(v);
        }
    }
    found
}

/// The metrics, plus `process_cpu_seconds_total` (the caller turns two of those into a CPU %).
pub fn parse(body: &[u8]) -> Result<(Metrics, Option<f64>), String> {
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8 text".to_string())?;
    let found = scan(text);
    let get = |name: &str| {
        WANTED
            .iter()
            .position(|w| *w == name)
            .and_then(|i| found[i])
    };
    let count = |name: &str| {
        get(name)
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v as u64)
    };
    let metrics = Metrics {
        goroutines: count("go_goroutines"),
        threads: count("go_threads"),
        alloc_bytes: count("go_memstats_alloc_bytes"),
        total_alloc_bytes: count("go_memstats_alloc_bytes_total"),
        sys_bytes: count("go_memstats_sys_bytes"),
        heap_bytes: count("go_memstats_heap_inuse_bytes").or(count("go_memstats_heap_alloc_bytes")),
        num_gc: count("go_gc_duration_seconds_count"),
        rss_bytes: count("process_resident_memory_bytes"),
        open_fds: count("process_open_fds"),
        ..Metrics::default()
    };
    if metrics.is_empty() {
        return Err(
            if text
                .lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#') && !looks_like_sample(l))
            {
                "not Prometheus text: a line is neither a comment nor 'name value'".into()
            } else {
                "no go_* or process_* metrics: is this a Go service's client_golang /metrics page?"
                    .into()
            },
        );
    }
    Ok((
        metrics,
        get("process_cpu_seconds_total").filter(|v| v.is_finite()),
    ))
}

/// Whether a line has the shape of a sample: a metric name (with optional labels) and a value.
fn looks_like_sample(line: &str) -> bool {
    let line = line.trim();
    let (head, value) = match line.rfind('}') {
        Some(i) => (&line[..=i], line[i + 1..].trim()),
        None => match line.split_once([' ', '\t']) {
            Some((h, v)) => (h, v.trim()),
            None => return false,
        },
    };
    let name = head.split('{').next().unwrap_or("");
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    let v = value.split_ascii_whitespace().next().unwrap_or("");
    name_ok && (matches!(v, "+Inf" | "-Inf" | "NaN") || v.parse::<f64>().is_ok())
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
    fn only_unlabelled_samples_of_wanted_families_count() {
        assert_eq!(sample("go_goroutines 5"), Some((0, 5.0)));
        assert_eq!(sample("go_goroutines\t5 1700000000000"), Some((0, 5.0)));
        assert_eq!(sample("go_gc_duration_seconds_count 12"), Some((7, 12.0)));
        assert_eq!(
            sample("process_cpu_seconds_total +Inf"),
            Some((10, f64::INFINITY))
        );
        assert_eq!(
            sample("go_gc_duration_seconds{quantile=\"0.5\"} 1e-05"),
            None
        );
        assert_eq!(sample("http_requests_total{code=\"200\"} 5"), None);
        assert_eq!(sample("go_goroutines_total 5"), None);
        assert_eq!(sample("# TYPE go_goroutines gauge"), None);
        assert_eq!(sample("go_goroutines five"), None);
    }

    #[test]
    fn first_sample_of_a_family_wins_and_garbage_is_named() {
        let (m, _) = parse(b"go_goroutines 7\ngo_goroutines 9\n").unwrap();
        assert_eq!(m.goroutines, Some(7));
        assert!(parse(b"<html>hello</html>\n")
            .unwrap_err()
            .contains("not Prometheus text"));
        assert!(parse(b"\xff\xfe").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn not_a_go_page() {
        assert!(parse(b"some_other_metric 1\n")
            .unwrap_err()
            .contains("go_*"));
    }
}
