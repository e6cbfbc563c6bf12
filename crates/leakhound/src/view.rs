//! Line output of `check` and `watch --plain`, and the text sparkline: pure functions from
//! samples to text. No IO here. (The full-screen view is in `tui`.)

use leakhound_core::config::Levels;
use leakhound_core::units::mb;
use leakhound_core::Sample;
use serde_json::json;

pub use leakhound_core::report::sparkline;

/// `1 sample`, `2 samples`, `0 samples`: a count with its noun in the right number.
pub fn plural(n: impl Into<u128>, noun: &str) -> String {
    let n = n.into();
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// One line of `check` output, e.g.
/// `127.0.0.1:3000  goroutines 1234 🟢 health good, action none  memory 512MB 🟢 health normal  via health in 3ms`.
/// "health" is the scale of GUIDE §7's tables (excellent … danger), never the alert severity
/// (warning/urgent/critical), which alerts name as `alert warning`.
pub fn check_line(sample: &Sample, levels: &Levels) -> String {
    if !sample.up {
        return format!(
            "{}  DOWN  {}",
            sample.target,
            sample.error.as_deref().unwrap_or("no answer")
        );
    }
    let mut out = format!("{}  ", sample.target);
    match sample.metrics.goroutines {
        Some(g) => {
            let s = levels.goroutines.state(g);
            out.push_str(&format!(
                "goroutines {g} {} health {}, action {}",
                s.emoji(),
                s.word(),
                s.action()
            ));
        }
        None => out.push_str("goroutines ?"),
    }
    if let Some(b) = sample.metrics.memory_used_bytes() {
        let s = levels.memory.state(b);
        out.push_str(&format!(
            "  memory {}MB {} health {}",
            mb(b),
            s.emoji(),
            s.word()
        ));
    }
    if let Some(c) = container_summary(&sample.metrics) {
        out.push_str(&format!("  {c}"));
    }
    out.push_str(&format!(
        "  via {} in {:.0}ms",
        sample.source, sample.latency_ms
    ));
    if let Some(e) = &sample.error {
        out.push_str(&format!("  (warning: {e})"));
    }
    out
}

/// `check --json`: one object per target.
pub fn check_json(sample: &Sample, levels: &Levels) -> serde_json::Value {
    let m = &sample.metrics;
    let memory = m.memory_used_bytes();
    json!({
        "target": sample.target,
        "up": sample.up,
        "error": sample.error,
        "source": sample.source,
        "latency_ms": (sample.latency_ms * 10.0).round() / 10.0,
        "goroutines": m.goroutines,
        "state": m.goroutines.map(|g| levels.goroutines.state(g)),
        "level": m.goroutines.map(|g| leakhound_core::ladder::level_word(levels.alert.level(g))),
        "memory_bytes": memory,
        "memory_state": memory.map(|b| levels.memory.state(b)),
        "memory": {
            "alloc_mb": m.alloc_bytes.map(mb),
            "total_alloc_mb": m.total_alloc_bytes.map(mb),
            "sys_mb": m.sys_bytes.map(mb),
            "num_gc": m.num_gc,
        },
        "process": {
            "rss_bytes": m.rss_bytes,
            "cpu_percent": m.cpu_percent,
            "threads": m.threads,
            "open_fds": m.open_fds,
            "cgroup_memory_bytes": m.cgroup_memory_bytes,
            "cgroup_memory_limit_bytes": m.cgroup_memory_limit_bytes,
        },
        "container": m.container_state.as_ref().map(|state| json!({
            "state": state,
            "restarts": m.container_restarts,
            "cpu_percent": m.cgroup_cpu_percent.map(|c| (c * 100.0).round() / 100.0),
            "memory_bytes": m.cgroup_memory_bytes,
            "memory_limit_bytes": m.cgroup_memory_limit_bytes,
            "memory_percent": memory_percent(m),
            "net_rx_bytes": m.container_net_rx_bytes,
            "net_tx_bytes": m.container_net_tx_bytes,
        })),
        "ts_ms": sample.ts_ms,
    })
}

fn memory_percent(m: &leakhound_core::Metrics) -> Option<f64> {
    match (m.cgroup_memory_bytes, m.cgroup_memory_limit_bytes) {
        (Some(used), Some(limit)) if limit > 0 => {
            Some((used as f64 / limit as f64 * 10_000.0).round() / 100.0)
        }
        _ => None,
    }
}

/// A container source's reading the way `docker stats` shows it:
/// `container running, CPU 2.86%, mem 69.3MiB / 23.5GiB (0.29%), restarts 0`.
pub fn container_summary(m: &leakhound_core::Metrics) -> Option<String> {
    let state = m.container_state.as_deref()?;
    let mut out = format!("container {state}");
    if let Some(cpu) = m.cgroup_cpu_percent {
        out.push_str(&format!(", CPU {cpu:.2}%"));
    }
    if let Some(used) = m.cgroup_memory_bytes {
        out.push_str(&format!(", mem {}", mib(used)));
        if let Some(limit) = m.cgroup_memory_limit_bytes {
            out.push_str(&format!(" / {}", mib(limit)));
        }
        if let Some(p) = memory_percent(m) {
            out.push_str(&format!(" ({p:.2}%)"));
        }
    }
    if let (Some(rx), Some(tx)) = (m.container_net_rx_bytes, m.container_net_tx_bytes) {
        out.push_str(&format!(", net {} / {}", mib(rx), mib(tx)));
    }
    if let Some(r) = m.container_restarts {
        out.push_str(&format!(", restarts {r}"));
    }
    Some(out)
}

/// Bytes in docker's binary units (`69.3MiB`, `23.5GiB`).
fn mib(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1}GiB", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.1}MiB", b / (1u64 << 20) as f64)
    } else if b >= 1024.0 {
        format!("{:.1}KiB", b / 1024.0)
    } else {
        format!("{bytes}B")
    }
}

/// One line per sample for `watch --plain`, the guide's `[time] Goroutines: N, Memory: MMB` plus state.
pub fn plain_line(sample: &Sample, levels: &Levels, time: &str) -> String {
    if !sample.up {
        return format!(
            "[{time}] {} DOWN: {}",
            sample.target,
            sample.error.as_deref().unwrap_or("no answer")
        );
    }
    let g = sample
        .metrics
        .goroutines
        .map_or_else(|| "?".into(), |g| g.to_string());
    let state = sample
        .metrics
        .goroutines
        .map_or("?", |g| levels.goroutines.state(g).word());
    let memory = sample
        .metrics
        .memory_used_bytes()
        .map_or_else(|| "?".into(), |b| mb(b).to_string());
    format!(
        "[{time}] {} Goroutines: {g}, Memory: {memory}MB (health {state})",
        sample.target
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_core::Metrics;

    fn sample(g: u64) -> Sample {
        Sample {
            target: "one-api".into(),
            ts_ms: 0,
            up: true,
            error: None,
            latency_ms: 3.2,
            source: "health".into(),
            metrics: Metrics {
                goroutines: Some(g),
                sys_bytes: Some(512 << 20),
                ..Metrics::default()
            },
        }
    }

    #[test]
    fn container_fields_show_like_docker_stats() {
        let mut s = sample(8);
        s.source = "health+container".into();
        s.metrics.container_state = Some("running".into());
        s.metrics.container_restarts = Some(1);
        s.metrics.cgroup_cpu_percent = Some(2.857);
        s.metrics.cgroup_memory_bytes = Some(72_708_096);
        s.metrics.cgroup_memory_limit_bytes = Some(25_276_063_744);
        let line = check_line(&s, &Levels::default());
        assert!(
            line.contains(
                "container running, CPU 2.86%, mem 69.3MiB / 23.5GiB (0.29%), restarts 1"
            ),
            "{line}"
        );
        let j = check_json(&s, &Levels::default());
        assert_eq!(j["container"]["state"], "running");
        assert_eq!(j["container"]["restarts"], 1);
        assert_eq!(j["container"]["cpu_percent"], 2.86);
        assert_eq!(j["container"]["memory_percent"], 0.29);
        assert!(j["container"]["net_rx_bytes"].is_null());
        // No container source: no container key content.
        assert!(check_json(&sample(8), &Levels::default())["container"].is_null());
    }

    #[test]
    fn plural_says_one_sample() {
        assert_eq!(plural(1u64, "sample"), "1 sample");
        assert_eq!(plural(0u64, "sample"), "0 samples");
        assert_eq!(plural(2u64, "sample"), "2 samples");
    }

    #[test]
    fn sparkline_scales() {
        assert_eq!(sparkline(&[1, 2, 3, 4, 5, 6, 7, 8]), "▁▂▃▄▅▆▇█");
        assert_eq!(sparkline(&[5, 5]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn check_line_reads_like_the_guide() {
        let levels = Levels::default();
        assert_eq!(
            check_line(&sample(1234), &levels),
            "one-api  goroutines 1234 🟢 health good, action none  memory 512MB 🟢 health normal  via health in 3ms"
        );
        // Issue 13: the sample line's words are the health table's, marked as such, so
        // "notice" here is not confused with an alert's "warning".
        assert_eq!(
            plain_line(&sample(2500), &levels, "10:30:00"),
            "[10:30:00] one-api Goroutines: 2500, Memory: 512MB (health notice)"
        );
        let mut down = sample(0);
        down.up = false;
        down.error = Some("connection refused".into());
        assert_eq!(
            check_line(&down, &levels),
            "one-api  DOWN  connection refused"
        );
    }
}
