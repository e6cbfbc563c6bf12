//! Issue 13 (hostile clients): malformed queries answer the documented JSON, the bearer scheme
//! is case-insensitive, absurd sample ranges are clamped or refused quickly, heavy routes are
//! limited, and a dump is parsed once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use leakhound_agent::agent::Latest;
use leakhound_core::config::Config;
use leakhound_web::{app, AppState};
use serde_json::Value;
use tower::ServiceExt;

fn config(extra: &str) -> Config {
    let text = format!(
        "[agent]\ndatabase = \"unused.db\"\n{extra}\n[[targets]]\nname = \"one-api\"\nurl = \"http://127.0.0.1:3000\"\n"
    );
    Config::parse(&text, &|name| {
        (name == "WEB_TOKEN").then(|| "s3cret-token".into())
    })
    .unwrap()
}

async fn call(state: AppState, request: Request<Body>) -> (StatusCode, String, String) {
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

async fn get(state: AppState, uri: &str) -> (StatusCode, String, String) {
    call(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn query_parse_errors_answer_json() {
    let state = || AppState::without_database(&config(""), Latest::default());
    for uri in [
        "/api/alerts?limit=abc",
        "/api/targets/one-api/dumps?limit=-1",
        "/api/targets/one-api/dumps/1?top=x",
        "/api/targets/one-api/samples?since=1h&since=2h",
        "/api/targets/%FF/samples",
    ] {
        let (status, content_type, body) = get(state(), uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(content_type, "application/json", "{uri}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let error = v["error"].as_str().unwrap();
        assert!(
            error.contains("docs/api.md") || error.contains("percent-encode"),
            "{uri}: {body}"
        );
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let state = || {
        AppState::without_database(
            &config("[web]\ntoken = \"${WEB_TOKEN}\"\n"),
            Latest::default(),
        )
    };
    for auth in [
        "Bearer s3cret-token",
        "bearer s3cret-token",
        "BEARER s3cret-token",
    ] {
        let request = Request::get("/api/monitor/health")
            .header(header::AUTHORIZATION, auth)
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = call(state(), request).await;
        assert_eq!(status, StatusCode::OK, "{auth}: {body}");
    }
    let request = Request::get("/api/monitor/health")
        .header(header::AUTHORIZATION, "bearer wrong")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(state(), request).await.0, StatusCode::UNAUTHORIZED);
}
