//! The JSON routes: the guide's health endpoint for every target, targets, samples, alerts.

use crate::error::{Path, Query};
use crate::wire::{AlertsView, GuideHealth, GuideMemory, SamplesView, TargetView};
use crate::{AppError, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use leakhound_core::Sample;
use leakhound_store::{Reader, Store};
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A range asking for more points than this must set `step`.
pub const MAX_POINTS: usize = 10_000;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/monitor/health", get(health))
        .route("/api/targets", get(targets))
        .route("/api/targets/{name}/samples", get(samples))
        .route("/api/alerts", get(alerts))
}

fn mb(bytes: Option<u64>) -> Option<u64> {
    bytes.map(|b| b / 1024 / 1024)
}

pub(crate) fn unknown_target(state: &AppState, name: &str) -> AppError {
    const SHOWN: usize = 10;
    let names = state.target_names();
    let mut known = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        known.push_str(&format!(
            " and {} more (GET /api/targets lists them)",
            names.len() - SHOWN
        ));
    }
    AppError::NotFound(format!(
        "no target named '{name}'; this agent watches: {known}"
    ))
}

#[derive(Debug, Deserialize)]
struct HealthQuery {
    target: Option<String>,
}

/// GUIDE §1's shape, `{"status":"ok","goroutines":1234,"memory":{"alloc_mb":…,"total_alloc_mb":…,
/// "sys_mb":…,"num_gc":…}}`, for a target's latest sample; a down target answers 503 with
/// `"status":"down"` so uptime checkers see it down.
async fn health(
    State(state): State<AppState>,
    Query(q): Query<HealthQuery>,
) -> Result<Response, AppError> {
    let Some(name) = q.target else {
        return Ok(Json(agent_health(&state)).into_response());
    };
    let Some(sample) = state.latest(&name) else {
        if state.target_names().contains(&name) {
            return Err(AppError::Unavailable(format!(
                "'{name}' has not been probed yet; try again after its first interval"
            )));
        }
        return Err(unknown_target(&state, &name));
    };
    let m = &sample.metrics;
    let body = GuideHealth {
        status: if sample.up { "ok" } else { "down" }.into(),
        goroutines: m.goroutines,
        memory: GuideMemory {
            alloc_mb: mb(m.alloc_bytes),
            total_alloc_mb: mb(m.total_alloc_bytes),
            sys_mb: mb(m.sys_bytes.or(m.memory_used_bytes())),
            num_gc: m.num_gc,
        },
        targets: None,
        targets_down: None,
    };
    let status = if sample.up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(body)).into_response())
}

/// The agent itself in the guide's shape: its live tasks stand for goroutines, its resident
/// memory for the memory fields; `targets` / `targets_down` say how the watch goes.
fn agent_health(state: &AppState) -> GuideHealth {
    let tasks = tokio::runtime::Handle::try_current()
        .map(|h| h.metrics().num_alive_tasks())
        .unwrap_or(0);
    let rss_mb = own_rss_bytes().map(|b| b / 1024 / 1024);
    let names = state.target_names();
    let down = state.all_latest().iter().filter(|s| !s.up).count();
    GuideHealth {
        status: "ok".into(),
        goroutines: Some(tasks as u64),
        memory: GuideMemory {
            alloc_mb: rss_mb,
            total_alloc_mb: rss_mb,
            sys_mb: rss_mb,
            num_gc: Some(0),
        },
        targets: Some(names.len()),
        targets_down: Some(down),
    }
}

fn own_rss_bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        procfs::process::Process::myself()
            .ok()
            .and_then(|p| p.stat().ok())
            .map(|s| s.rss.saturating_mul(procfs::page_size()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Points per target in `/api/targets?history=…` (the dashboard's trend column).
pub const HISTORY_POINTS: i64 = 60;

/// The longest `history` `/api/targets` answers.
const MAX_HISTORY_MS: i64 = 24 * 3_600_000;

#[derive(Debug, Deserialize)]
struct TargetsQuery {
    history: Option<String>,
}

async fn targets(
    State(state): State<AppState>,
    Query(q): Query<TargetsQuery>,
) -> Result<Json<Vec<TargetView>>, AppError> {
    let names = state.target_names();
    let mut views: Vec<TargetView> = names
        .iter()
        .map(|name| {
            let s = state.latest(name);
            target_view(&state, name.clone(), s)
        })
        .collect();
    if let Some(text) = &q.history {
        let span = match leakhound_core::units::parse_duration(text) {
            Ok(d) if !d.is_zero() && d.as_millis() <= MAX_HISTORY_MS as u128 => {
                d.as_millis() as i64
            }
            _ => {
                return Err(AppError::BadRequest(format!(
                    "history='{text}' is not a duration between 1s and 24h; write e.g. history=30m"
                )))
            }
        };
        let db = database(&state)?;
        let _slot = state.heavy_slot().await?;
        let (cancel, _on_drop) = Cancel::new();
        let until = leakhound_agent::agent::now_ms() + 1;
        let since = until - span;
        let step = (span / HISTORY_POINTS).max(1000);
        let histories = blocking(move || {
            // Every target's series from one snapshot, its unindexed tail indexed once.
            db.with(|store| {
                store.with_tail_indexed(|store| {
                    // Long spans read the 10-minute rollups (one row per 10 minutes instead
                    // of every sample), with the step rounded up to whole rollup buckets.
                    let rollups = span >= ROLLUPS_FROM_MS && store.has_rollups();
                    Ok(names
                        .iter()
                        .map(|name| {
                            cancel.check()?;
                            store
                                .peak_series(name, since, until, step, rollups)
                                .map_err(|e| e.to_string())
                        })
                        .collect::<Result<Vec<_>, String>>())
                })
            })
            .map_err(|e| e.to_string())?
        })
        .await?;
        for (view, history) in views.iter_mut().zip(histories) {
            view.history = Some(history);
        }
    }
    Ok(Json(views))
}

/// One target as `/api/targets` (and the live feed, `/api/events`) shows it.
pub(crate) fn target_view(state: &AppState, name: String, s: Option<Sample>) -> TargetView {
    let levels = &state.0.levels;
    let goroutines = s.as_ref().and_then(|s| s.metrics.goroutines);
    TargetView {
        up: s.as_ref().map(|s| s.up),
        ts_ms: s.as_ref().map(|s| s.ts_ms),
        goroutines,
        memory_bytes: s.as_ref().and_then(|s| s.metrics.memory_used_bytes()),
        state: goroutines.map(|n| levels.goroutines.state(n).word().to_string()),
        level: goroutines
            .map(|n| leakhound_core::ladder::level_word(levels.alert.level(n)).to_string()),
        latency_ms: s.as_ref().map(|s| s.latency_ms),
        source: s.as_ref().map(|s| s.source.clone()),
        error: s.and_then(|s| s.error),
        name,
        history: None,
    }
}

#[derive(Debug, Deserialize)]
struct RangeQuery {
    since: Option<String>,
    until: Option<String>,
    step: Option<String>,
}

/// `1700000000000` (Unix ms) or a duration back from now: `90m`, `1h`.
fn parse_time(key: &str, text: &str, now_ms: i64) -> Result<i64, AppError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    leakhound_core::units::parse_duration(text)
        .map(|d| now_ms - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
        .map_err(|_| {
            AppError::BadRequest(format!(
                "{key}='{text}' is neither Unix milliseconds nor a duration back from now; write e.g. {key}=1h or {key}=1700000000000"
            ))
        })
}

async fn samples(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<SamplesView>, AppError> {
    let now = leakhound_agent::agent::now_ms();
    let since = match &q.since {
        Some(t) => parse_time("since", t, now)?,
        None => now - 3_600_000,
    };
    let until = match &q.until {
        Some(t) => parse_time("until", t, now)?,
        None => now + 1,
    };
    if since >= until {
        return Err(AppError::BadRequest(format!(
            "since ({since}) is not before until ({until}); swap them"
        )));
    }
    let step = match &q.step {
        Some(text) => match leakhound_core::units::parse_duration(text) {
            Ok(d) if !d.is_zero() => Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            _ => {
                return Err(AppError::BadRequest(format!(
                    "step='{text}' is not a duration above zero; write e.g. step=1m"
                )))
            }
        },
        None => None,
    };
    if !state.target_names().contains(&name) {
        return Err(unknown_target(&state, &name));
    }
    let db = database(&state)?;
    let _slot = state.heavy_slot().await?;
    let (cancel, _on_drop) = Cancel::new();
    let target = name.clone();
    let step_text = q.step.clone().unwrap_or_default();
    let rows = blocking(move || {
        db.with(|store| {
            Ok(samples_in_range(
                store, &target, since, until, step, &step_text, &cancel,
            ))
        })
        .map_err(|e| e.to_string())?
    })
    .await??;
    if rows.len() > MAX_POINTS {
        return Err(AppError::BadRequest(format!(
            "{} samples in that range, more than {MAX_POINTS}: ask for a shorter range or add a step, e.g. step=1m",
            rows.len()
        )));
    }
    Ok(Json(SamplesView {
        target: name,
        since_ms: since,
        until_ms: until,
        step_ms: step,
        samples: rows,
    }))
}

/// The stored samples of `[since, until)`, downsampled to `step` when given; a request for
/// more than [`MAX_POINTS`] is refused with what would fit.
fn samples_in_range(
    store: &Store,
    target: &str,
    since: i64,
    until: i64,
    step: Option<i64>,
    step_text: &str,
    cancel: &Cancel,
) -> Result<Result<Vec<Sample>, AppError>, String> {
    {
        // Only what is stored can be read: the range shrinks to the target's first and last
        // sample, so an absurd `since` costs nothing.
        let Some((first, last)) = store.stored_range(target).map_err(|e| e.to_string())? else {
            return Ok(Ok(Vec::new()));
        };
        let (lo, hi) = (since.max(first), until.min(last.saturating_add(1)));
        if lo >= hi {
            return Ok(Ok(Vec::new()));
        }
        match step {
            Some(step) => {
                let buckets = (hi - lo).div_euclid(step).saturating_add(1);
                if buckets > MAX_POINTS as i64 {
                    let fit = ((hi - lo) / MAX_POINTS as i64 + 1).max(1);
                    return Ok(Err(AppError::BadRequest(format!(
                        "step='{step_text}' asks for {buckets} points over the stored samples in that range, more than {MAX_POINTS}: use step={}s or more, or a shorter range",
                        (fit + 999) / 1000
                    ))));
                }
                downsample_in_chunks(store, target, lo, hi, step, cancel).map(Ok)
            }
            None => {
                let n = store
                    .count_between(target, lo, hi)
                    .map_err(|e| e.to_string())?;
                if n > MAX_POINTS as u64 {
                    return Ok(Err(AppError::BadRequest(format!(
                        "{n} samples in that range, more than {MAX_POINTS}: ask for a shorter range or add a step, e.g. step=1m"
                    ))));
                }
                store
                    .samples(target, lo, hi)
                    .map(Ok)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Set when the request that started some blocking work is dropped (its client left, or the
/// server is stopping): the work checks it between steps and gives up, so no query outlives
/// its request by more than one step.
#[derive(Debug, Clone)]
pub(crate) struct Cancel(Arc<AtomicBool>);

/// Cancels its [`Cancel`] when dropped (held by the request's future).
#[derive(Debug)]
pub(crate) struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Cancel {
    pub(crate) fn new() -> (Cancel, CancelOnDrop) {
        let flag = Arc::new(AtomicBool::new(false));
        (Cancel(flag.clone()), CancelOnDrop(flag))
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn check(&self) -> Result<(), String> {
        if self.cancelled() {
            Err("the request was cancelled (its client left)".into())
        } else {
            Ok(())
        }
    }
}

/// About a day of samples read at a time when a range is downsampled: a 30-day chart never holds
/// the month's rows in memory at once (86,400 samples at 30 s would be ~40 MB).
const CHUNK_MS: i64 = 86_400_000;

/// [`downsample`] over `[since, until)`, reading the store in chunks that end on bucket
/// boundaries (so no bucket is split between two chunks). Stops early when `cancel` is set.
fn downsample_in_chunks(
    store: &Store,
    target: &str,
    since: i64,
    until: i64,
    step_ms: i64,
    cancel: &Cancel,
) -> Result<Vec<Sample>, String> {
    let buckets_per_chunk = (CHUNK_MS / step_ms).max(1);
    let mut out = Vec::new();
    let mut lo = since;
    while lo < until {
        cancel.check()?;
        let hi = lo
            .div_euclid(step_ms)
            .saturating_add(buckets_per_chunk)
            .saturating_mul(step_ms)
            .min(until);
        let rows = store.samples(target, lo, hi).map_err(|e| e.to_string())?;
        out.extend(downsample(rows, step_ms));
        if out.len() > MAX_POINTS {
            break; // the caller refuses it anyway
        }
        lo = hi;
    }
    Ok(out)
}

/// `/api/targets?history=` spans from this long read the rollups.
const ROLLUPS_FROM_MS: i64 = 12 * 3_600_000;

/// One sample per `step_ms` bucket: the one with the most goroutines (a leak shows in the
/// peaks), the latest of equals; down samples win over up ones so outages stay visible.
fn downsample(rows: Vec<Sample>, step_ms: i64) -> Vec<Sample> {
    let mut out: Vec<Sample> = Vec::new();
    for s in rows {
        let bucket = s.ts_ms.div_euclid(step_ms);
        match out.last_mut() {
            Some(last) if last.ts_ms.div_euclid(step_ms) == bucket => {
                let key = |x: &Sample| (!x.up, x.metrics.goroutines.unwrap_or(0));
                if key(&s) >= key(last) {
                    *last = s;
                }
            }
            _ => out.push(s),
        }
    }
    out
}

#[derive(Debug, Deserialize)]
struct AlertsQuery {
    limit: Option<usize>,
}

async fn alerts(
    State(state): State<AppState>,
    Query(q): Query<AlertsQuery>,
) -> Result<Json<AlertsView>, AppError> {
    let db = database(&state)?;
    let limit = q.limit.unwrap_or(100).min(1000);
    let active = state.0.agent.active_alerts();
    let recent = blocking(move || {
        db.with(|s| s.alert_events(None, limit))
            .map_err(|e| e.to_string())
    })
    .await?;
    Ok(Json(AlertsView { active, recent }))
}

pub(crate) fn database(state: &AppState) -> Result<Reader, AppError> {
    state.0.agent.reader().cloned().ok_or_else(|| {
        AppError::Unavailable("this server has no history; run `leakhound run` for it".into())
    })
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, AppError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(detail)) => Err(AppError::Internal(detail)),
        Err(e) => Err(AppError::Internal(format!("database task failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use axum::body::Body;
    use axum::http::{header, Request};
    use tower::ServiceExt;

    #[test]
    fn a_cancelled_range_stops_before_its_next_chunk() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("lh.db");
        drop(Store::open(&db).unwrap());
        let store = Store::open_read_only(&db).unwrap();
        let (cancel, on_drop) = Cancel::new();
        assert!(downsample_in_chunks(&store, "x", 0, 10 * CHUNK_MS, 1000, &cancel).is_ok());
        drop(on_drop); // the request's future went away
        let r = downsample_in_chunks(&store, "x", i64::MIN / 2, i64::MAX / 2, 1, &cancel);
        assert!(r.unwrap_err().contains("cancelled"));
    }

    #[tokio::test]
    async fn heavy_routes_answer_503_with_retry_after_when_saturated() {
        let config = leakhound_core::config::Config::parse(
            "[[targets]]\nname = \"one-api\"\nurl = \"http://127.0.0.1:3000\"\n",
            &|_| None,
        )
        .unwrap();
        let reader = Reader::new(&config.agent.database);
        let view = leakhound_agent::view::AgentView::new(&config, Some(reader), Vec::new());
        let state = AppState::new(&config, view);
        let held: Vec<_> = (0..crate::HEAVY_SLOTS)
            .map(|_| state.0.heavy.clone().try_acquire_owned().unwrap())
            .collect();
        let response = crate::app(state.clone())
            .oneshot(
                Request::get("/api/targets/one-api/samples?since=1h")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("heavy requests"));
        drop(held);
    }
}
