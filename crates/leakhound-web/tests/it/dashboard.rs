//! The dashboard's server side, called in-process: the pages and assets (headers, no token
//! needed, allowlist still applies), the live feed `/api/events` (snapshot, samples, lagging,
//! the client limit, ending on stop), and the dumps routes over a real store and bundle files.
//! The page itself runs in a real Chromium in `crates/leakhound/tests/it/dashboard.rs`.

use crate::support::{no_database, publish, sample, with_database};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use futures_util::StreamExt;
use leakhound_agent::view::{AgentEvent, AgentView, RING_MIN};
use leakhound_core::config::Config;
use leakhound_core::Sample;
use leakhound_store::{Bundle, BundleSuspect, Store};
use leakhound_web::{app, AppState};
use serde_json::Value;
use std::time::Duration;
use tower::ServiceExt;

fn config(extra: &str, db: &str) -> Config {
    let text = format!(
        "[agent]\ndatabase = \"{db}\"\n{extra}\n[[targets]]\nname = \"one-api\"\nurl = \"http://127.0.0.1:3000\"\n\n[[targets]]\nname = \"backup\"\nurl = \"http://127.0.0.1:3001\"\n"
    );
    Config::parse(&text, &|name| {
        (name == "WEB_TOKEN").then(|| "s3cret-token".into())
    })
    .unwrap()
}

/// Up, 64 MB of memory.
fn sample_of(target: &str, ts_ms: i64, goroutines: u64) -> Sample {
    sample(target)
        .at(ts_ms)
        .latency(2.0)
        .goroutines(goroutines)
        .sys(64 << 20)
        .build()
}

fn latest() -> Vec<Sample> {
    vec![sample_of("one-api", 1_700_000_000_000, 6000)]
}

/// A state without a database, and the agent view feeding it (to publish to its live feed).
fn live() -> (AppState, AgentView) {
    let config = config("", "unused.db");
    let view = AgentView::new(&config, None, Vec::new());
    publish(&view, latest());
    (AppState::new(&config, view.clone()), view)
}

async fn get(state: AppState, uri: &str) -> axum::response::Response {
    app(state)
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn text(response: axum::response::Response) -> String {
    let body = axum::body::to_bytes(response.into_body(), 4 << 20)
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

fn header_of(r: &axum::response::Response, name: header::HeaderName) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn pages_and_assets_are_served_with_their_headers() {
    let state = no_database(&config("", "unused.db"), latest());
    for (uri, content_type, needle) in [
        ("/", "text/html; charset=utf-8", "/assets/app.js"),
        (
            "/targets/one-api",
            "text/html; charset=utf-8",
            "/assets/app.js",
        ),
        (
            "/assets/app.js",
            "text/javascript; charset=utf-8",
            "textContent",
        ),
        ("/assets/app.css", "text/css; charset=utf-8", ".badge"),
        (
            "/assets/vendor/uPlot.iife.min.js",
            "text/javascript; charset=utf-8",
            "uPlot",
        ),
        (
            "/assets/vendor/uPlot.min.css",
            "text/css; charset=utf-8",
            ".uplot",
        ),
        ("/assets/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let r = get(state.clone(), uri).await;
        assert_eq!(r.status(), StatusCode::OK, "{uri}");
        assert_eq!(header_of(&r, header::CONTENT_TYPE), content_type, "{uri}");
        assert!(header_of(&r, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
        assert_eq!(header_of(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(text(r).await.contains(needle), "{uri} lacks {needle}");
    }
    let r = get(state.clone(), "/assets/../Cargo.toml").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = get(state, "/assets/nope.js").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(text(r).await.contains("no asset named 'nope.js'"));
}

#[tokio::test]
async fn no_script_is_inline_and_no_data_is_parsed_as_html() {
    // The CSP allows scripts from files only; the script never hands data to the HTML parser.
    let html = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/index.html"));
    assert!(!html.contains("<script>"), "inline script in index.html");
    let js = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/app.js"));
    for banned in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!js.contains(banned), "app.js uses {banned}");
    }
}

#[tokio::test]
async fn pages_need_no_token_but_data_does_and_the_allowlist_covers_both() {
    let state = no_database(
        &config("[web]\ntoken = \"${WEB_TOKEN}\"", "unused.db"),
        latest(),
    );
    assert_eq!(get(state.clone(), "/").await.status(), StatusCode::OK);
    assert_eq!(
        get(state.clone(), "/assets/app.js").await.status(),
        StatusCode::OK
    );
    for uri in ["/api/targets", "/api/events", "/api/targets/one-api/dumps"] {
        assert_eq!(
            get(state.clone(), uri).await.status(),
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
    }
    let state = no_database(
        &config("[web]\nallow = [\"10.0.0.0/8\"]", "unused.db"),
        latest(),
    );
    // No peer address known (oneshot): refused, pages included.
    assert_eq!(get(state, "/").await.status(), StatusCode::FORBIDDEN);
}

/// The next SSE event (`event:` name, parsed `data:`) from a body stream, within 5 s.
async fn next_event(body: &mut axum::body::BodyDataStream, buf: &mut String) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.into();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if name.is_empty() {
                    continue; // a keep-alive comment
                }
                return (name, serde_json::from_str(&data).unwrap());
            }
            let chunk = body.next().await.expect("stream open").unwrap();
            buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await
    .expect("an event within 5 s")
}

#[tokio::test]
async fn the_live_feed_sends_a_snapshot_then_every_sample_and_ends_on_stop() {
    let (state, view) = live();
    let r = get(state.clone(), "/api/events").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header_of(&r, header::CONTENT_TYPE), "text/event-stream");
    let mut body = r.into_body().into_data_stream();
    let mut buf = String::new();
    let (name, snapshot) = next_event(&mut body, &mut buf).await;
    assert_eq!(name, "snapshot");
    assert_eq!(snapshot[0]["name"], "one-api");
    assert_eq!(snapshot[0]["goroutines"], 6000);
    assert_eq!(snapshot[0]["level"], "urgent");
    assert_eq!(snapshot[1]["name"], "backup");
    assert_eq!(snapshot[1]["up"], Value::Null);

    view.publish(AgentEvent::Sample(sample_of(
        "backup",
        1_700_000_001_000,
        2500,
    )));
    let (name, v) = next_event(&mut body, &mut buf).await;
    assert_eq!(name, "target");
    assert_eq!(v["name"], "backup");
    assert_eq!(v["goroutines"], 2500);
    assert_eq!(v["state"], "notice");
    assert_eq!(v["level"], "warning");
    assert_eq!(v["metrics"]["sys_bytes"], 64 << 20);

    // ?target= filters.
    let r = get(state.clone(), "/api/events?target=one-api").await;
    let mut one = r.into_body().into_data_stream();
    let mut one_buf = String::new();
    let (_, snapshot) = next_event(&mut one, &mut one_buf).await;
    assert_eq!(snapshot.as_array().unwrap().len(), 1);
    view.publish(AgentEvent::Sample(sample_of(
        "backup",
        1_700_000_002_000,
        2600,
    )));
    view.publish(AgentEvent::Sample(sample_of(
        "one-api",
        1_700_000_002_000,
        6100,
    )));
    let (_, v) = next_event(&mut one, &mut one_buf).await;
    assert_eq!(
        (v["name"].as_str(), v["goroutines"].as_u64()),
        (Some("one-api"), Some(6100))
    );

    // Stopping the server ends every stream.
    state.stop_streams();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body.next().await {
            chunk.unwrap();
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end after stop_streams");

    let r = get(state.clone(), "/api/events?target=nope").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_slow_client_is_told_it_lagged_instead_of_being_buffered_for() {
    let (state, view) = live();
    let r = get(state, "/api/events").await;
    let mut body = r.into_body().into_data_stream();
    let mut buf = String::new();
    let (name, _) = next_event(&mut body, &mut buf).await;
    assert_eq!(name, "snapshot");
    // Twice the ring while the client reads nothing: it keeps the newest RING_MIN.
    let n = 2 * RING_MIN as i64;
    for i in 0..n {
        view.publish(AgentEvent::Sample(sample_of(
            "one-api",
            1_700_000_000_000 + i,
            6000 + i as u64,
        )));
    }
    let (name, v) = next_event(&mut body, &mut buf).await;
    assert_eq!(name, "lagged");
    assert_eq!(v["missed"], RING_MIN);
    let (name, v) = next_event(&mut body, &mut buf).await;
    assert_eq!(name, "target");
    assert_eq!(v["goroutines"], 6000 + RING_MIN as u64);
}

#[tokio::test]
async fn at_most_max_clients_streams() {
    let (state, _view) = live();
    let mut open = Vec::new();
    for _ in 0..leakhound_web::sse::MAX_CLIENTS {
        let r = get(state.clone(), "/api/events").await;
        assert_eq!(r.status(), StatusCode::OK);
        open.push(r);
    }
    let r = get(state.clone(), "/api/events").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(text(r)
        .await
        .contains("live views are open on this agent already"));
    open.pop(); // a closed stream frees its slot
    assert_eq!(get(state, "/api/events").await.status(), StatusCode::OK);
}

/// A debug=1 goroutine profile: `relay` goroutines waiting at one site, 3 at another.
fn profile(relay: u64) -> String {
    format!(
        "goroutine profile: total {}\n\
         {relay} @ 0x43b576 0x407e5b 0x662174 0x46c0e1\n\
         # labels: {{\"site\":\"chan\"}}\n\
         #\t0x662173\tleaky/internal/leaks.(*Relay).waitReply+0x73\t/src/leaks/sites.go:35\n\
         \n\
         3 @ 0x43b576 0x44b41c 0x66246a 0x46c0e1\n\
         #\t0x662469\tleaky/internal/leaks.(*StreamForwarder).awaitChunk+0xa9\t/src/leaks/sites.go:61\n\
         \n",
        relay + 3
    )
}

fn bundle(dir: &std::path::Path, at_ms: i64, relay: u64) -> Bundle {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("goroutine.txt"), profile(relay)).unwrap();
    Bundle {
        id: 0,
        target: "one-api".into(),
        incident: "abc".into(),
        first_of_incident: false,
        at_ms,
        trigger: "alert:goroutines_urgent".into(),
        dir: dir.to_path_buf(),
        bytes: 100,
        goroutines: Some(relay + 3),
        profile_format: Some("debug=1".into()),
        suspects: vec![BundleSuspect {
            function: "leaky/internal/leaks.(*Relay).waitReply".into(),
            location: "sites.go:35".into(),
            count: relay,
            delta: None,
            basis: "largest".into(),
            blocking: "chan receive".into(),
            labels: vec!["site=chan".into()],
        }],
        error: None,
    }
}

#[tokio::test]
async fn dumps_list_buckets_and_diff_from_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("lh.db");
    let mut store = Store::open(&db).unwrap();
    let (first, _) = store
        .insert_bundle(&bundle(&tmp.path().join("b1"), 1_700_000_000_000, 20))
        .unwrap();
    let (second, _) = store
        .insert_bundle(&bundle(&tmp.path().join("b2"), 1_700_000_600_000, 520))
        .unwrap();
    let mut broken = bundle(&tmp.path().join("b3"), 1_700_000_700_000, 1);
    broken.profile_format = None;
    broken.error = Some("GET /debug/pprof/goroutine: timed out after 10s".into());
    let (third, _) = store.insert_bundle(&broken).unwrap();
    drop(store);
    let state = with_database(&config("", db.to_str().unwrap()), latest());

    let r = get(state.clone(), "/api/targets/one-api/dumps").await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    let ids: Vec<i64> = v["dumps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![third, second, first], "newest first");
    assert_eq!(v["dumps"][1]["suspects"][0]["count"], 520);
    // Each suspect also in the line messages print.
    assert_eq!(
        v["dumps"][1]["suspect_lines"][0],
        "leaky/internal/leaks.(*Relay).waitReply (sites.go:35): 520 goroutines, chan receive, labels site=chan"
    );

    let r = get(
        state.clone(),
        &format!("/api/targets/one-api/dumps/{second}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    assert_eq!(v["total"], 523);
    assert_eq!(v["buckets"][0]["count"], 520);
    assert_eq!(
        v["buckets"][0]["top_frame"]["function"],
        "leaky/internal/leaks.(*Relay).waitReply"
    );
    assert_eq!(v["buckets"][0]["labels"][0]["value"], "chan");
    assert_eq!(v["more_buckets"], 0);

    let r = get(
        state.clone(),
        &format!("/api/targets/one-api/dumps/{second}?top=1"),
    )
    .await;
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    assert_eq!(
        (
            v["buckets"].as_array().unwrap().len(),
            v["more_buckets"].as_u64()
        ),
        (1, Some(1))
    );

    let r = get(
        state.clone(),
        &format!("/api/targets/one-api/dumps/{third}"),
    )
    .await;
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("timed out after 10s"),
        "{v}"
    );

    let r = get(
        state.clone(),
        &format!("/api/targets/one-api/dumps/diff?from={first}&to={second}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    assert_eq!(
        (
            v["diff"]["before_total"].as_u64(),
            v["diff"]["after_total"].as_u64()
        ),
        (Some(23), Some(523))
    );
    let top = &v["diff"]["entries"][0];
    assert_eq!(
        (top["change"].as_str(), top["delta"].as_i64()),
        (Some("grew"), Some(500))
    );
    assert_eq!(top["top_frame"]["line"], 35);

    // Mistakes name the fix.
    for (uri, status, needle) in [
        (
            "/api/targets/one-api/dumps/diff?from=1",
            StatusCode::BAD_REQUEST,
            "?from=ID&to=ID",
        ),
        (
            "/api/targets/one-api/dumps/x1",
            StatusCode::BAD_REQUEST,
            "'x1' is not a dump id",
        ),
        (
            "/api/targets/one-api/dumps/999",
            StatusCode::NOT_FOUND,
            "has no dump 999",
        ),
        (
            "/api/targets/backup/dumps/1",
            StatusCode::NOT_FOUND,
            "'backup' has no dump 1",
        ),
        (
            "/api/targets/nope/dumps",
            StatusCode::NOT_FOUND,
            "no target named 'nope'",
        ),
    ] {
        let r = get(state.clone(), uri).await;
        assert_eq!(r.status(), status, "{uri}");
        assert!(text(r).await.contains(needle), "{uri}");
    }
    let r = get(
        state,
        &format!("/api/targets/one-api/dumps/diff?from={first}&to={third}"),
    )
    .await;
    // Not a passing state to retry (503) but a dump that cannot be diffed (422).
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(r).await.contains("no goroutine profile"));
}

#[tokio::test]
async fn targets_with_history_carry_their_recent_goroutines() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("lh.db");
    let now = leakhound_agent::agent::now_ms();
    let mut rows: Vec<Sample> = (0..120)
        .map(|i| sample_of("one-api", now - (120 - i) * 30_000, 1000 + i as u64))
        .collect();
    rows[119].up = false;
    Store::open(&db).unwrap().insert(&rows).unwrap();
    let state = with_database(&config("", db.to_str().unwrap()), latest());

    let r = get(state.clone(), "/api/targets?history=30m").await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    let history = v[0]["history"].as_array().unwrap();
    assert!((55..=61).contains(&history.len()), "{}", history.len());
    let first = history[0][0].as_i64().unwrap();
    assert!(first >= now - 30 * 60_000, "older than 30 min: {first}");
    assert_eq!(
        history[history.len() - 1][1],
        Value::Null,
        "the down sample"
    );
    assert_eq!(history[history.len() - 2][1], 1118);
    assert_eq!(v[1]["history"], serde_json::json!([]), "backup has none");

    let r = get(state.clone(), "/api/targets").await;
    let v: Value = serde_json::from_str(&text(r).await).unwrap();
    assert!(v[0].get("history").is_none());
    let r = get(state, "/api/targets?history=2d").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(r)
        .await
        .contains("history='2d' is not a duration between 1s and 24h"));
}

#[tokio::test]
async fn alert_transitions_published_after_connecting_arrive_on_the_feed() {
    use leakhound_core::config::Levels;
    use leakhound_core::rules::{default_rules, RuleEngine};
    let start = leakhound_agent::agent::now_ms() - 600_000;
    let samples: Vec<Sample> = (0..20)
        .map(|i| sample_of("one-api", start + i * 30_000, 4000 + 200 * i as u64))
        .collect();
    let mut engine = RuleEngine::new(default_rules(&Levels::default()));
    let mut events = Vec::new();
    for i in 0..samples.len() {
        events.extend(engine.evaluate(samples[i].ts_ms, "one-api", &samples[..=i]));
    }
    let (state, view) = live();
    // One transition from before the stream opened: not replayed (but firing, in /api/alerts).
    view.publish(AgentEvent::Transition(events[0].clone()));
    let r = get(state.clone(), "/api/events").await;
    let mut body = r.into_body().into_data_stream();
    let mut buf = String::new();
    assert_eq!(next_event(&mut body, &mut buf).await.0, "snapshot");
    let last = events.last().unwrap();
    view.publish(AgentEvent::Transition(last.clone()));
    let (name, v) = next_event(&mut body, &mut buf).await;
    assert_eq!(name, "alert");
    assert_eq!(v["rule"], last.rule.as_str());
    assert_eq!(v["fingerprint"], last.fingerprint.as_str());
    assert_eq!(v["target"], "one-api");

    // A stream of another target does not get it: the next event there is its own sample.
    let r = get(state, "/api/events?target=backup").await;
    let mut other = r.into_body().into_data_stream();
    let mut other_buf = String::new();
    assert_eq!(next_event(&mut other, &mut other_buf).await.0, "snapshot");
    view.publish(AgentEvent::Transition(last.clone()));
    view.publish(AgentEvent::Sample(sample_of("backup", start, 10)));
    let (name, v) = next_event(&mut other, &mut other_buf).await;
    assert_eq!(
        (name.as_str(), v["name"].as_str()),
        ("target", Some("backup"))
    );
}
