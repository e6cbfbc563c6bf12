//! `GET /metrics`: every target's latest sample as Prometheus gauges (OpenMetrics text, made
//! with the prometheus-client crate), the alerts firing now, and the agent's own process.

use crate::{AppError, AppState};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use leakhound_core::Sample;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// The content type Prometheus negotiates for the OpenMetrics text this route writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemoryLabels {
    target: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    target: String,
    rule: String,
    severity: String,
}

type IntGauges<L> = Family<L, Gauge>;
type FloatGauges<L> = Family<L, Gauge<f64, AtomicU64>>;

use leakhound_core::exposition as names;
use leakhound_core::exposition::level_number;

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let firing = state.0.agent.active_alerts();
    let mut samples = state.all_latest();
    samples.sort_by(|a, b| a.target.cmp(&b.target));
    let text = render(&state, &samples, &firing)
        .map_err(|e| AppError::Internal(format!("cannot encode /metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text))
}

fn render(
    state: &AppState,
    samples: &[Sample],
    firing: &[leakhound_core::rules::Transition],
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    let goroutines = IntGauges::<TargetLabels>::default();
    let memory = IntGauges::<MemoryLabels>::default();
    let up = IntGauges::<TargetLabels>::default();
    let level = IntGauges::<TargetLabels>::default();
    let duration = FloatGauges::<TargetLabels>::default();
    let last = FloatGauges::<TargetLabels>::default();
    let alerts = IntGauges::<AlertLabels>::default();
    registry.register(
        names::GOROUTINES,
        "Goroutines of the target at its latest sample (runtime.NumGoroutine)",
        goroutines.clone(),
    );
    registry.register(
        names::MEMORY_BYTES,
        "Memory of the target by kind: alloc, total_alloc, sys, heap (Go runtime), rss, cgroup, cgroup_limit (process/container), used (what the guide's memory table rates)",
        memory.clone(),
    );
    registry.register(
        names::UP,
        "1 when the latest probe of the target answered, 0 when it failed",
        up.clone(),
    );
    registry.register(
        names::LEVEL,
        "The guide's alert level of the latest goroutine count: 0 none, 1 warning (>2000), 2 urgent (>5000), 3 critical (>10000)",
        level.clone(),
    );
    registry.register(
        names::SCRAPE_DURATION_SECONDS,
        "How long the latest probe of the target took",
        duration.clone(),
    );
    registry.register(
        names::LAST_SAMPLE_TIMESTAMP_SECONDS,
        "Unix time of the target's latest sample",
        last.clone(),
    );
    registry.register(
        names::ALERT_FIRING,
        "1 for every alert firing now, by target, rule and severity",
        alerts.clone(),
    );
    let guide = state.0.web.guide_metrics.then(|| {
        let g = IntGauges::<TargetLabels>::default();
        let m = FloatGauges::<TargetLabels>::default();
        registry.register(
            "oneapi_goroutines",
            "The guide's goroutine gauge (GUIDE §5), same value as leakhound_goroutines",
            g.clone(),
        );
        registry.register(
            "oneapi_memory_mb",
            "The guide's memory gauge in MB (GUIDE §5): the Go heap Alloc, else the memory used",
            m.clone(),
        );
        (g, m)
    });

    for s in samples {
        let t = TargetLabels {
            target: s.target.clone(),
        };
        up.get_or_create(&t).set(i64::from(s.up));
        duration.get_or_create(&t).set(s.latency_ms / 1000.0);
        last.get_or_create(&t).set(s.ts_ms as f64 / 1000.0);
        let m = &s.metrics;
        if let Some(n) = m.goroutines {
            goroutines.get_or_create(&t).set(int(n));
            level
                .get_or_create(&t)
                .set(level_number(state.0.levels.alert.level(n)));
            if let Some((g, _)) = &guide {
                g.get_or_create(&t).set(int(n));
            }
        }
        if let Some((_, mb)) = &guide {
            if let Some(bytes) = m.alloc_bytes.or(m.memory_used_bytes()) {
                mb.get_or_create(&t).set(bytes as f64 / 1048576.0);
            }
        }
        for (kind, value) in names::memory_by_kind(m) {
            if let Some(v) = value {
                memory
                    .get_or_create(&MemoryLabels {
                        target: s.target.clone(),
                        kind: kind.to_string(),
                    })
                    .set(int(v));
            }
        }
    }
    // Target labels go on one info series per target (the Prometheus idiom): a label named
    // like one of ours (`kind`, `rule`…) cannot clash, and the gauges keep their cardinality.
    let info = IntGauges::<Vec<(String, String)>>::default();
    registry.register(
        names::TARGET_INFO,
        "1 per watched target with labels ([targets.labels], discovery): join with * on(target) group_left(LABEL)",
        info.clone(),
    );
    let mut labelled: Vec<_> = state.0.agent.labels().into_iter().collect();
    labelled.sort();
    for (target, labels) in labelled {
        let mut set = vec![("target".to_string(), target)];
        set.extend(labels.into_iter().filter(|(k, _)| k != "target"));
        info.get_or_create(&set).set(1);
    }
    for a in firing {
        alerts
            .get_or_create(&AlertLabels {
                target: a.target.clone(),
                rule: a.rule.clone(),
                severity: a.severity.name().to_string(),
            })
            .set(1);
    }
    register_process(&mut registry, state.0.agent.started_ms());
    register_remote_write(&mut registry);
    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(text)
}

/// The remote writer's counters, when `[remote_write]` runs in this process.
fn register_remote_write(registry: &mut Registry) {
    let Some(stats) = leakhound_agent::remote_write::process_stats() else {
        return;
    };
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    for (name, help, value) in [
        (
            names::REMOTE_WRITE_SENT_SAMPLES,
            "Samples the remote write endpoint accepted",
            load(&stats.sent),
        ),
        (
            names::REMOTE_WRITE_DROPPED_SAMPLES,
            "Samples dropped because the remote write queue was full (oldest first)",
            load(&stats.dropped),
        ),
        (
            names::REMOTE_WRITE_REJECTED_SAMPLES,
            "Samples the remote write endpoint refused with a 4xx (not retried)",
            load(&stats.rejected),
        ),
    ] {
        let c: Counter = Counter::default();
        c.inc_by(value);
        registry.register(name, help, c);
    }
    let pending: Gauge = Gauge::default();
    pending.set(int(load(&stats.pending)));
    registry.register(
        names::REMOTE_WRITE_PENDING_SAMPLES,
        "Samples waiting in the remote write queue",
        pending,
    );
}

/// The agent's own process, under the names every exporter uses.
fn register_process(registry: &mut Registry, started_ms: i64) {
    let start = Gauge::<f64, AtomicU64>::default();
    start.set(started_ms as f64 / 1000.0);
    registry.register(
        "process_start_time_seconds",
        "Start time of the leakhound agent since the Unix epoch",
        start,
    );
    #[cfg(target_os = "linux")]
    if let Ok(me) = procfs::process::Process::myself() {
        if let Ok(stat) = me.stat() {
            let cpu = Counter::<f64, AtomicU64>::default();
            cpu.inc_by((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64);
            registry.register(
                "process_cpu_seconds",
                "CPU time of the leakhound agent (user + system)",
                cpu,
            );
            let rss: Gauge = Gauge::default();
            rss.set(int(stat.rss.saturating_mul(procfs::page_size())));
            registry.register(
                "process_resident_memory_bytes",
                "Resident memory of the leakhound agent",
                rss,
            );
            let threads: Gauge = Gauge::default();
            threads.set(stat.num_threads);
            registry.register(
                "process_threads",
                "OS threads of the leakhound agent",
                threads,
            );
        }
        if let Ok(n) = me.fd_count() {
            let fds: Gauge = Gauge::default();
            fds.set(i64::try_from(n).unwrap_or(i64::MAX));
            registry.register(
                "process_open_fds",
                "Open file descriptors of the leakhound agent",
                fds,
            );
        }
    }
}
