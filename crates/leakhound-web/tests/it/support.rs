//! What the modules share: calling the router in-process, and the sample builder of the
//! `leakhound` crate's integration tests (one definition, included by path).

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use leakhound_agent::view::{AgentEvent, AgentView};
use leakhound_core::config::Config;
use leakhound_core::Sample;
use leakhound_store::Reader;
use leakhound_web::{app, AppState};
use tower::ServiceExt;

#[allow(dead_code)] // not every builder method is used here
#[path = "../../../leakhound/tests/it/support/sample.rs"]
mod sample;

pub use sample::sample;

/// A state without a database whose agent has published `samples` (history routes answer 503).
pub fn no_database(config: &Config, samples: Vec<Sample>) -> AppState {
    let view = AgentView::new(config, None, Vec::new());
    publish(&view, samples);
    AppState::new(config, view)
}

/// A state over `config`'s database as a starting agent has it (the alerts firing read from
/// the store), whose agent has published `samples`.
pub fn with_database(config: &Config, samples: Vec<Sample>) -> AppState {
    let view = AgentView::of_database(config, Reader::new(&config.agent.database));
    publish(&view, samples);
    AppState::new(config, view)
}

/// Publish `samples` as the agent does after each probe.
pub fn publish(view: &AgentView, samples: Vec<Sample>) {
    for s in samples {
        view.publish(AgentEvent::Sample(s));
    }
}

/// One request through the router: status, content type and body (at most 16 MiB).
pub async fn call(state: AppState, request: Request<Body>) -> (StatusCode, String, String) {
    let response = app(state).oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// `GET uri` through the router (see [`call`]).
pub async fn get(state: AppState, uri: &str) -> (StatusCode, String, String) {
    call(state, Request::get(uri).body(Body::empty()).unwrap()).await
}
