//! The router called in-process with `tower::ServiceExt::oneshot`: every route, its status
//! codes, the exact health JSON, the metric lines, and the token / allowlist checks.

use crate::support::{call, get, no_database, sample, with_database};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use leakhound_agent::agent::now_ms;
use leakhound_core::config::{Config, Levels};
use leakhound_core::rules::{default_rules, RuleEngine};
use leakhound_core::Sample;
use leakhound_store::Store;
use leakhound_web::AppState;
use serde_json::Value;
use std::net::SocketAddr;
use tower::ServiceExt;

/// Up, with the guide's example memory figures.
fn sample_of(target: &str, ts_ms: i64, goroutines: u64) -> Sample {
    sample(target)
        .at(ts_ms)
        .latency(12.5)
        .goroutines(goroutines)
        .alloc(256 << 20)
        .total_alloc(1024 << 20)
        .sys(512 << 20)
        .num_gc(45)
        .build()
}

fn config(extra: &str) -> Config {
    let text = format!(
        "[agent]\ndatabase = \"unused.db\"\n{extra}\n[[targets]]\nname = \"one-api\"\nurl = \"http://127.0.0.1:3000\"\n\n[[targets]]\nname = \"backup\"\nurl = \"http://127.0.0.1:3001\"\n\n[[targets]]\nname = \"fresh\"\nurl = \"http://127.0.0.1:3002\"\n"
    );
    Config::parse(&text, &|name| {
        (name == "WEB_TOKEN").then(|| "s3cret-token".into())
    })
    .unwrap()
}

/// one-api up at 6000 goroutines (urgent), backup down, fresh not probed yet.
fn latest() -> Vec<Sample> {
    vec![
        sample_of("one-api", 1_700_000_000_000, 6000),
        Sample::down(
            "backup",
            1_700_000_000_000,
            5000.0,
            "timed out after 5s".into(),
        ),
    ]
}

fn no_db(extra: &str) -> AppState {
    no_database(&config(extra), latest())
}

#[tokio::test]
async fn health_has_the_guides_exact_shape() {
    let (status, content_type, body) = get(no_db(""), "/api/monitor/health?target=one-api").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    // Byte for byte the guide's example, keys in its order.
    assert_eq!(
        body,
        r#"{"status":"ok","goroutines":6000,"memory":{"alloc_mb":256,"total_alloc_mb":1024,"sys_mb":512,"num_gc":45}}"#
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    // The guide's `jq .goroutines` and Uptime Kuma's `$.goroutines > 5000` read this field.
    assert_eq!(v["goroutines"].as_u64(), Some(6000));
}

#[tokio::test]
async fn health_of_a_down_unknown_or_unprobed_target() {
    let (status, _, body) = get(no_db(""), "/api/monitor/health?target=backup").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "down"
    );

    let (status, _, body) = get(no_db(""), "/api/monitor/health?target=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        r#"{"error":"no target named 'nope'; this agent watches: one-api, backup, fresh"}"#
    );

    let (status, _, body) = get(no_db(""), "/api/monitor/health?target=fresh").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("has not been probed yet"), "{body}");
}

#[tokio::test]
async fn health_without_a_target_is_the_agent_itself() {
    let (status, _, body) = get(no_db(""), "/api/monitor/health").await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ok");
    assert!(v["goroutines"].is_u64());
    assert!(v["memory"]["sys_mb"].is_u64());
    assert_eq!(v["targets"], 3);
    assert_eq!(v["targets_down"], 1);
}

/// Target labels (issue 15) go on one info series per labelled target, not on every gauge.
#[tokio::test]
async fn target_labels_are_an_info_series() {
    let mut config = config("");
    config.targets[0].labels = [("team", "gateway"), ("kind", "edge")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (status, _, text) = get(no_database(&config, latest()), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let info: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("leakhound_target_info{"))
        .collect();
    assert_eq!(
        info,
        ["leakhound_target_info{target=\"one-api\",kind=\"edge\",team=\"gateway\"} 1"]
    );
    assert!(
        text.contains("leakhound_goroutines{target=\"one-api\"} 6000"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_show_every_target() {
    let (status, content_type, text) = get(no_db(""), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("application/openmetrics-text"));
    for line in [
        "# TYPE leakhound_goroutines gauge",
        "leakhound_goroutines{target=\"one-api\"} 6000",
        "leakhound_level{target=\"one-api\"} 2",
        "leakhound_up{target=\"one-api\"} 1",
        "leakhound_up{target=\"backup\"} 0",
        "leakhound_memory_bytes{target=\"one-api\",kind=\"alloc\"} 268435456",
        "leakhound_memory_bytes{target=\"one-api\",kind=\"sys\"} 536870912",
        "leakhound_memory_bytes{target=\"one-api\",kind=\"used\"} 536870912",
        "leakhound_scrape_duration_seconds{target=\"one-api\"} 0.0125",
        "leakhound_scrape_duration_seconds{target=\"backup\"} 5.0",
        "leakhound_last_sample_timestamp_seconds{target=\"one-api\"} 1700000000.0",
        "# TYPE process_cpu_seconds counter",
        "# TYPE process_resident_memory_bytes gauge",
        "# EOF",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing line {line:?} in:\n{text}"
        );
    }
    // A down target has no goroutine count, and the guide's names are off by default.
    assert!(!text.contains("leakhound_goroutines{target=\"backup\"}"));
    assert!(!text.contains("oneapi_"));
}

#[tokio::test]
async fn guide_metric_names_behind_a_switch() {
    let (_, _, text) = get(no_db("[web]\nguide_metrics = true\n"), "/metrics").await;
    assert!(text
        .lines()
        .any(|l| l == "oneapi_goroutines{target=\"one-api\"} 6000"));
    assert!(text
        .lines()
        .any(|l| l == "oneapi_memory_mb{target=\"one-api\"} 256.0"));
}

#[tokio::test]
async fn targets_list_the_latest_state() {
    let (status, _, body) = get(no_db(""), "/api/targets").await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["one-api", "backup", "fresh"]);
    assert_eq!(v[0]["goroutines"], 6000);
    assert_eq!(v[0]["level"], "urgent");
    assert_eq!(v[0]["state"], "alert");
    assert_eq!(v[1]["up"], false);
    assert_eq!(v[1]["error"], "timed out after 5s");
    assert_eq!(v[2]["up"], Value::Null);
}

/// A database with 10 minutes of one-api samples (every 30 s, climbing past 5000) and the
/// alerts the built-in rules raised on them.
fn database(dir: &tempfile::TempDir) -> Config {
    let db = dir.path().join("leakhound.db");
    let start = now_ms() - 600_000;
    let samples: Vec<Sample> = (0..20)
        .map(|i| sample_of("one-api", start + i * 30_000, 4000 + 200 * i as u64))
        .collect();
    Store::open(&db).unwrap().insert(&samples).unwrap();
    let mut engine = RuleEngine::new(default_rules(&Levels::default()));
    let mut events = Vec::new();
    for i in 0..samples.len() {
        for t in engine.evaluate(samples[i].ts_ms, "one-api", &samples[..=i]) {
            events.push(t);
        }
    }
    assert!(!events.is_empty());
    // The agent's alert history, recorded as the agent records it (no notifier channels).
    let batch: Vec<_> = events.iter().map(|t| (t.clone(), String::new())).collect();
    Store::open(&db)
        .unwrap()
        .record_alerts(&batch, &[], now_ms(), &[])
        .unwrap();
    let mut config = config("");
    config.agent.database = db;
    config
}

#[tokio::test]
async fn samples_over_a_range_downsampled_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_database(&database(&dir), latest());
    let (status, _, body) = get(state.clone(), "/api/targets/one-api/samples?since=1h").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["samples"].as_array().unwrap().len(), 20);
    assert_eq!(v["samples"][19]["metrics"]["goroutines"], 7800);

    let (_, _, body) = get(
        state.clone(),
        "/api/targets/one-api/samples?since=1h&step=5m",
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let points = v["samples"].as_array().unwrap();
    assert!((2..=3).contains(&points.len()), "{points:?}");
    assert_eq!(points.last().unwrap()["metrics"]["goroutines"], 7800);

    let (status, _, body) = get(state.clone(), "/api/targets/one-api/samples?since=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("since='soon' is neither Unix milliseconds nor a duration"));
    let (status, _, _) = get(state.clone(), "/api/targets/one-api/samples?step=0s").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = get(state, "/api/targets/nope/samples").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, body) = get(no_db(""), "/api/targets/one-api/samples").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test]
async fn alerts_firing_now_and_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_database(&database(&dir), latest());
    let (status, _, body) = get(state.clone(), "/api/alerts").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let active: Vec<&str> = v["active"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert!(active.contains(&"goroutines_urgent"), "{active:?}");
    assert!(!v["recent"].as_array().unwrap().is_empty());

    let (_, _, text) = get(state, "/metrics").await;
    assert!(
        text.lines().any(|l| l
            == "leakhound_alert_firing{target=\"one-api\",rule=\"goroutines_urgent\",severity=\"urgent\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_database_error_does_not_leak_its_path() {
    let mut config = config("");
    config.agent.database = "/nonexistent/secret-dir/leakhound.db".into();
    let (status, _, body) = get(with_database(&config, latest()), "/api/alerts").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        r#"{"error":"internal error; the agent's log has the details"}"#
    );
}

#[tokio::test]
async fn a_token_is_required_when_configured() {
    let state = || no_db("[web]\ntoken = \"${WEB_TOKEN}\"\n");
    let (status, _, body) = get(state(), "/metrics").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.contains("s3cret"));
    let request = |auth: &str| {
        Request::get("/api/monitor/health?target=one-api")
            .header(header::AUTHORIZATION, auth)
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = call(state(), request("Bearer wrong-token!")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.contains("s3cret"), "{body}");
    let (status, _, _) = call(state(), request("Basic czNjcmV0LXRva2Vu")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(state(), request("Bearer s3cret-token")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("s3cret"));
}

#[tokio::test]
async fn the_allowlist_refuses_other_addresses() {
    let state = || no_db("[web]\nallow = [\"10.0.0.0/8\"]\n");
    let from = |ip: &str| {
        let mut r = Request::get("/api/targets").body(Body::empty()).unwrap();
        let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
        r.extensions_mut().insert(ConnectInfo(addr));
        r
    };
    let (status, _, body) = call(state(), from("192.168.1.5")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        r#"{"error":"your address is not in the agent's [web] allow list"}"#
    );
    let (status, _, _) = call(state(), from("10.20.30.40")).await;
    assert_eq!(status, StatusCode::OK);
    // No peer address known: refused, not waved through.
    let (status, _, _) = get(state(), "/api/targets").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_unknown_target_among_many_names_ten_of_them() {
    let mut text = String::new();
    for i in 0..25 {
        text.push_str(&format!(
            "[[targets]]\nname = \"svc-{i:02}\"\nurl = \"http://127.0.0.1:{}\"\n",
            3000 + i
        ));
    }
    let config = Config::parse(&text, &|_| None).unwrap();
    let state = no_database(&config, Vec::new());
    let (status, _, body) = get(state, "/api/monitor/health?target=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        r#"{"error":"no target named 'nope'; this agent watches: svc-00, svc-01, svc-02, svc-03, svc-04, svc-05, svc-06, svc-07, svc-08, svc-09 and 15 more (GET /api/targets lists them)"}"#
    );
}

/// `ROUTES` is what the router serves (every `.route(` in the sources is listed, every listed
/// one answers) and exactly what `docs/api.md` documents (one `### GET /route` heading each).
#[tokio::test]
async fn every_route_is_served_and_documented() {
    let sources = [
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/api.rs")),
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/metrics.rs")),
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/sse.rs")),
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/dashboard.rs")),
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/dumps.rs")),
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/reload.rs")),
    ];
    let mut served: Vec<&str> = sources
        .iter()
        .flat_map(|s| s.split(".route(\"").skip(1))
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    served.sort_unstable();
    let mut listed = leakhound_web::ROUTES.to_vec();
    listed.sort_unstable();
    assert_eq!(served, listed);

    let reference = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md"));
    let mut documented: Vec<&str> = reference
        .lines()
        .filter_map(|l| {
            l.strip_prefix("### `GET ")
                .or_else(|| l.strip_prefix("### `POST "))
        })
        .map(|r| r.trim_end_matches('`'))
        .collect();
    documented.sort_unstable();
    assert_eq!(documented, listed, "the `### GET` headings of docs/api.md");

    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
    let section = readme
        .split("## Prometheus, Grafana and the health endpoint")
        .nth(1)
        .expect("the README section");
    assert!(
        section.contains("docs/api.md"),
        "the README links the API reference"
    );
    for route in leakhound_web::ROUTES {
        let uri = route
            .replace("{name}", "one-api")
            .replace("{id}", "1")
            .replace("{*file}", "app.js");
        let method = if route == "/-/reload" { "POST" } else { "GET" };
        // The status only: the live feed's body never ends.
        let response = leakhound_web::app(no_db(""))
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(&uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_ne!(response.status(), StatusCode::NOT_FOUND, "{uri}");
    }
}
