//! What the modules share: calling the router in-process, and the sample builder of the
//! `leakhound` crate's integration tests (one definition, included by path).

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use leakhound_web::{app, AppState};
use tower::ServiceExt;

#[allow(dead_code)] // not every builder method is used here
#[path = "../../../leakhound/tests/it/support/sample.rs"]
mod sample;

pub use sample::sample;

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
