//! `GET /api/events`: the live feed (Server-Sent Events) the dashboard and other live views read.
//!
//! - `event: snapshot` first — every target as `/api/targets` shows it (a JSON array), so a
//!   client that (re)connects has the whole picture without a race against the next sample;
//! - `event: target` — one target (the `/api/targets` element shape, plus the sample's full
//!   `metrics` as in `/api/targets/{name}/samples`) each time it is probed;
//! - `event: alert` — an alert transition (firing, repeat, resolved; the `/api/alerts` element
//!   shape) recorded after the stream opened, read from the store every [`ALERT_POLL`];
//! - `event: lagged` — `{"missed": N}`: this client read too slowly and N samples went past it;
//!   fetch `/api/targets` (or wait for the next `target` events) to catch up;
//! - a `:` comment every 15 s keeps proxies from closing an idle stream.
//!
//! Bounded on every side: each client reads the agent's broadcast ring (fixed capacity) — a slow
//! client is skipped forward (`lagged`), never buffered for; at most [`MAX_CLIENTS`] streams are
//! open at once (more answer 503); every stream ends when the server stops.
//! `?target=NAME` limits the feed to one target. The `[web]` token and allowlist apply.

use crate::api::{target_view, unknown_target, TargetView};
use crate::error::Query;
use crate::{AppError, AppState};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use leakhound_core::{Metrics, Sample};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch, OwnedSemaphorePermit};

/// Live streams open at once; one more answers 503.
pub const MAX_CLIENTS: usize = 64;

/// How often an idle stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How often a stream looks for new alert transitions in the store.
pub const ALERT_POLL: Duration = Duration::from_secs(2);

/// At most this many alert events per poll (the rest follow at the next one).
const ALERT_BATCH: usize = 100;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/events", get(events))
}

/// A `target` event: the target as `/api/targets` shows it, with every metric of the sample
/// (so live charts can extend the memory breakdown too).
#[derive(Debug, Serialize)]
struct LiveView {
    #[serde(flatten)]
    view: TargetView,
    metrics: Metrics,
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    target: Option<String>,
}

/// What one open stream holds: its place in the broadcast ring, the server's stop signal, and
/// its slot among the [`MAX_CLIENTS`] (given back when the stream is dropped).
struct Feed {
    state: AppState,
    rx: broadcast::Receiver<Sample>,
    stop: watch::Receiver<bool>,
    target: Option<String>,
    /// The last `alert_events` id sent (`None`: no database, no alert events).
    last_alert: Option<i64>,
    alert_tick: tokio::time::Interval,
    /// Alert events read but not sent yet.
    pending: std::collections::VecDeque<Event>,
    _slot: OwnedSemaphorePermit,
}

async fn events(
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let Some(live) = state.0.live.as_ref() else {
        return Err(AppError::Unavailable(
            "this server has no live feed; `leakhound run` serves one".into(),
        ));
    };
    if let Some(name) = &q.target {
        if !state.target_names().contains(name) {
            return Err(unknown_target(&state, name));
        }
    }
    let slot = state
        .0
        .sse_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            AppError::Unavailable(format!(
                "{MAX_CLIENTS} live views are open on this agent already; close one (or poll /api/targets) and retry"
            ))
        })?;
    // Subscribe before the snapshot: a sample taken in between arrives twice, never zero times.
    let rx = live.subscribe();
    let names: Vec<String> = match &q.target {
        Some(name) => vec![name.clone()],
        None => state.target_names(),
    };
    let views: Vec<_> = names
        .into_iter()
        .map(|name| {
            let latest = state.latest(&name);
            target_view(&state, name, latest)
        })
        .collect();
    let snapshot = Event::default()
        .event("snapshot")
        .json_data(&views)
        .map_err(|e| AppError::Internal(format!("live feed snapshot: {e}")))?;
    let last_alert = match state.0.database.clone() {
        Some(db) => Some(db.read(|s| s.newest_alert_event_id()).await.unwrap_or(0)),
        None => None,
    };
    let mut alert_tick = tokio::time::interval(ALERT_POLL);
    alert_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        stop: state.0.stop.subscribe(),
        state: state.clone(),
        rx,
        target: q.target,
        last_alert,
        alert_tick,
        pending: std::collections::VecDeque::new(),
        _slot: slot,
    };
    let stream = stream::once(async move { Ok(snapshot) }).chain(stream::unfold(feed, next));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// The next event of one stream; `None` ends it (the server stops, or the agent is gone).
async fn next(mut feed: Feed) -> Option<(Result<Event, Infallible>, Feed)> {
    loop {
        if let Some(event) = feed.pending.pop_front() {
            return Some((Ok(event), feed));
        }
        let polling = feed.last_alert.is_some();
        let received = tokio::select! {
            biased;
            _ = feed.stop.wait_for(|stopping| *stopping) => return None,
            r = feed.rx.recv() => Some(r),
            _ = feed.alert_tick.tick(), if polling => None,
        };
        let Some(received) = received else {
            poll_alerts(&mut feed).await;
            continue;
        };
        let event = match received {
            Ok(sample) => {
                if feed.target.as_ref().is_some_and(|t| *t != sample.target) {
                    continue;
                }
                let id = sample.ts_ms.to_string();
                let metrics = sample.metrics.clone();
                let view = LiveView {
                    view: target_view(&feed.state, sample.target.clone(), Some(sample)),
                    metrics,
                };
                match Event::default().event("target").json_data(&view) {
                    Ok(event) => event.id(id),
                    Err(e) => {
                        tracing::warn!("live feed: cannot encode a sample: {e}");
                        continue;
                    }
                }
            }
            Err(RecvError::Lagged(missed)) => Event::default()
                .event("lagged")
                .data(format!("{{\"missed\":{missed}}}")),
            Err(RecvError::Closed) => return None,
        };
        return Some((Ok(event), feed));
    }
}

/// Queue the alert transitions recorded since the last poll (of this stream's target only,
/// when it has one).
async fn poll_alerts(feed: &mut Feed) {
    let (Some(after), Some(db)) = (feed.last_alert, feed.state.0.database.clone()) else {
        return;
    };
    let rows = match db
        .read(move |s| s.alert_events_after(after, ALERT_BATCH))
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::debug!("live feed: cannot read alert events: {e}");
            return;
        }
    };
    for (id, body) in rows {
        feed.last_alert = Some(id);
        let Ok(transition) = serde_json::from_str::<leakhound_core::rules::Transition>(&body)
        else {
            continue;
        };
        if feed
            .target
            .as_ref()
            .is_some_and(|t| *t != transition.target)
        {
            continue;
        }
        if let Ok(event) = Event::default().event("alert").json_data(&transition) {
            feed.pending.push_back(event);
        }
    }
}
