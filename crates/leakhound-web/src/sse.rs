//! `GET /api/events`: the live feed (Server-Sent Events) the dashboard and other live views read.
//!
//! - `event: snapshot` first — every target as `/api/targets` shows it (a JSON array), so a
//!   client that (re)connects has the whole picture without a race against the next sample;
//! - `event: target` — one target (the `/api/targets` element shape, plus the sample's full
//!   `metrics` as in `/api/targets/{name}/samples`) each time it is probed;
//! - `event: alert` — an alert transition (firing, repeat, resolved; the `/api/alerts` element
//!   shape), as the agent records it;
//! - `event: dump` — an evidence bundle saved (the `/api/targets/{name}/dumps` element shape);
//! - `event: action` — an `[[actions]]` run (an element of `leakhound actions list --json`);
//! - `event: lagged` — `{"missed": N}`: this client read too slowly and N events went past it;
//!   fetch `/api/targets` (or wait for the next `target` events) to catch up;
//! - a `:` comment every 15 s keeps proxies from closing an idle stream.
//!
//! Every event comes from the agent's read model ([`leakhound_agent::view::AgentView`]), as it
//! happens; nothing is polled. Bounded on every side: each client reads the agent's event ring
//! (fixed capacity) — a slow client is skipped forward (`lagged`), never buffered for; at most
//! [`MAX_CLIENTS`] streams are open at once (more answer 503); every stream ends when the server
//! stops.
//! `?target=NAME` limits the feed to one target. The `[web]` token and allowlist apply.

use crate::api::{target_view, unknown_target};
use crate::error::Query;
use crate::wire::TargetView;
use crate::{AppError, AppState};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use leakhound_agent::view::AgentEvent;
use leakhound_core::Metrics;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch, OwnedSemaphorePermit};

/// Live streams open at once; one more answers 503.
pub const MAX_CLIENTS: usize = 64;

/// How often an idle stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

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

/// What one open stream holds: its place in the agent's event ring, the server's stop signal,
/// and its slot among the [`MAX_CLIENTS`] (given back when the stream is dropped).
struct Feed {
    state: AppState,
    rx: broadcast::Receiver<AgentEvent>,
    stop: watch::Receiver<bool>,
    target: Option<String>,
    _slot: OwnedSemaphorePermit,
}

async fn events(
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
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
    let rx = state.0.agent.subscribe();
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
    let feed = Feed {
        stop: state.0.stop.subscribe(),
        state: state.clone(),
        rx,
        target: q.target,
        _slot: slot,
    };
    let stream = stream::once(async move { Ok(snapshot) }).chain(stream::unfold(feed, next));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// The next event of one stream; `None` ends it (the server stops, or the agent is gone).
async fn next(mut feed: Feed) -> Option<(Result<Event, Infallible>, Feed)> {
    loop {
        let received = tokio::select! {
            biased;
            _ = feed.stop.wait_for(|stopping| *stopping) => return None,
            r = feed.rx.recv() => r,
        };
        let event = match received {
            Ok(event) => match encode(&feed, event) {
                Some(event) => event,
                None => continue,
            },
            Err(RecvError::Lagged(missed)) => Event::default()
                .event("lagged")
                .data(format!("{{\"missed\":{missed}}}")),
            Err(RecvError::Closed) => return None,
        };
        return Some((Ok(event), feed));
    }
}

/// The SSE event for one agent event (`None`: another target's, or it cannot be encoded).
fn encode(feed: &Feed, event: AgentEvent) -> Option<Event> {
    let target = match &event {
        AgentEvent::Sample(s) => &s.target,
        AgentEvent::Transition(t) => &t.target,
        AgentEvent::Bundle(b) => &b.target,
        AgentEvent::ActionRun(r) => &r.target,
    };
    if feed.target.as_ref().is_some_and(|t| t != target) {
        return None;
    }
    let encoded = match event {
        AgentEvent::Sample(sample) => {
            let id = sample.ts_ms.to_string();
            let metrics = sample.metrics.clone();
            let view = LiveView {
                view: target_view(&feed.state, sample.target.clone(), Some(sample)),
                metrics,
            };
            Event::default()
                .event("target")
                .json_data(&view)
                .map(|e| e.id(id))
        }
        AgentEvent::Transition(t) => Event::default().event("alert").json_data(&t),
        AgentEvent::Bundle(b) => Event::default()
            .event("dump")
            .json_data(crate::wire::DumpItem::from(b)),
        AgentEvent::ActionRun(r) => Event::default().event("action").json_data(&r),
    };
    match encoded {
        Ok(event) => Some(event),
        Err(e) => {
            tracing::warn!("live feed: cannot encode an event: {e}");
            None
        }
    }
}
