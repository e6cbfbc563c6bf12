//! Issue 13 (hostile clients): malformed queries answer the documented JSON, the bearer scheme
//! is case-insensitive, absurd sample ranges are clamped or refused quickly, heavy routes are
//! limited, and a dump is parsed once.

use crate::support::{call, get, sample};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use leakhound_core::config::Config;
use leakhound_web::AppState;
use serde_json::Value;

fn config(extra: &str) -> Config {
    let text = format!(
        "[agent]\ndatabase = \"unused.db\"\n{extra}\n[[targets]]\nname = \"one-api\"\nurl = \"http://127.0.0.1:3000\"\n"
    );
    Config::parse(&text, &|name| {
        (name == "WEB_TOKEN").then(|| "s3cret-token".into())
    })
    .unwrap()
}

#[tokio::test]
async fn query_parse_errors_answer_json() {
    let state = || crate::support::no_database(&config(""), Vec::new());
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
    let state =
        || crate::support::no_database(&config("[web]\ntoken = \"${WEB_TOKEN}\"\n"), Vec::new());
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

/// A database with 10 minutes of one-api samples, every 30 s.
fn with_samples(dir: &tempfile::TempDir) -> AppState {
    use leakhound_core::Sample;
    let db = dir.path().join("leakhound.db");
    let start = leakhound_agent::agent::now_ms() - 600_000;
    let samples: Vec<Sample> = (0..20)
        .map(|i| {
            sample("one-api")
                .at(start + i * 30_000)
                .goroutines(100 + i as u64)
                .build()
        })
        .collect();
    leakhound_store::Store::open(&db)
        .unwrap()
        .insert(&samples)
        .unwrap();
    let mut config = config("");
    config.agent.database = db;
    crate::support::with_database(&config, Vec::new())
}

/// Issue 13 item 2: `since=-9000000000000000000&step=1ms` walked 1e11 one-day chunks (~25 days
/// of CPU). The range is now clamped to the stored samples and the step to at most 10,000
/// points; the answer is immediate. (Before the fix this test never finished: the timeout
/// below is a bound for a hang, not a speed threshold.)
#[tokio::test]
async fn an_absurd_range_is_clamped_to_the_stored_samples() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_samples(&dir);
    let bounded = |uri: &'static str| {
        let state = state.clone();
        async move {
            tokio::time::timeout(std::time::Duration::from_secs(120), get(state, uri))
                .await
                .expect("the request finished")
        }
    };
    let (status, content_type, body) =
        bounded("/api/targets/one-api/samples?since=-9000000000000000000&step=1ms").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(content_type, "application/json");
    assert!(body.contains("step='1ms'"), "{body}");
    assert!(body.contains("use step="), "{body}");

    let (status, _, body) = bounded(
        "/api/targets/one-api/samples?since=-9000000000000000000&until=9000000000000000000&step=1m",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        (10..=11).contains(&v["samples"].as_array().unwrap().len()),
        "{body}"
    );

    let (status, _, body) =
        bounded("/api/targets/one-api/samples?since=-9000000000000000000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["samples"].as_array().unwrap().len(), 20);
}

/// `/api/targets?history=24h` reads the 10-minute rollups: the peak of each step, as the
/// short spans give it from the samples.
#[tokio::test]
async fn a_long_history_comes_from_the_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_samples(&dir);
    for span in ["24h", "30m"] {
        let (status, _, body) = get(state.clone(), &format!("/api/targets?history={span}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let history = v[0]["history"].as_array().unwrap();
        assert!(!history.is_empty(), "{span}: {body}");
        let peak = history.iter().filter_map(|p| p[1].as_u64()).max();
        assert_eq!(peak, Some(119), "{span}: {body}");
    }
}

/// A dump is parsed once: after the first request the bundle's profile file is not read again
/// (here it is removed, and the second answer still has the buckets).
#[tokio::test]
async fn a_dump_is_parsed_once() {
    use leakhound_store::Bundle;
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("lh.db");
    let dir = tmp.path().join("b1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("goroutine.txt"),
        "goroutine profile: total 7\n7 @ 0x1 0x2\n#\t0x1\tapp.(*Relay).wait+0x1\t/src/relay.go:35\n\n",
    )
    .unwrap();
    let mut store = leakhound_store::Store::open(&db).unwrap();
    let (id, _) = store
        .insert_bundle(&Bundle {
            id: 0,
            target: "one-api".into(),
            incident: "x".into(),
            first_of_incident: false,
            at_ms: 1_700_000_000_000,
            trigger: "manual".into(),
            dir: dir.clone(),
            bytes: 100,
            goroutines: Some(7),
            profile_format: Some("debug=1".into()),
            suspects: vec![],
            error: None,
        })
        .unwrap();
    drop(store);
    let mut config = config("");
    config.agent.database = db;
    let state = crate::support::with_database(&config, Vec::new());
    let uri = format!("/api/targets/one-api/dumps/{id}");
    let (status, _, first) = get(state.clone(), &uri).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let v: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["total"], 7, "{first}");
    assert!(v["error"].is_null(), "{first}");
    std::fs::remove_file(dir.join("goroutine.txt")).unwrap();
    let (status, _, second) = get(state, &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first, second);
}

/// A profile that does not parse is a clean JSON error in the dump's view, not a failure.
#[tokio::test]
async fn an_unparsable_dump_is_a_json_error() {
    use leakhound_store::Bundle;
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("lh.db");
    let dir = tmp.path().join("b1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("goroutine.txt"), b"\x1f\x8b\x08garbage").unwrap();
    let mut store = leakhound_store::Store::open(&db).unwrap();
    let (id, _) = store
        .insert_bundle(&Bundle {
            id: 0,
            target: "one-api".into(),
            incident: "x".into(),
            first_of_incident: false,
            at_ms: 1_700_000_000_000,
            trigger: "manual".into(),
            dir: dir.clone(),
            bytes: 100,
            goroutines: Some(7),
            profile_format: Some("debug=1".into()),
            suspects: vec![],
            error: None,
        })
        .unwrap();
    drop(store);
    let mut config = config("");
    config.agent.database = db;
    let state = crate::support::with_database(&config, Vec::new());
    let (status, content_type, body) =
        get(state, &format!("/api/targets/one-api/dumps/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/json");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("does not parse"),
        "{body}"
    );
    // A diff with that dump is 422 naming it (503 would tell the client to come back).
    let (status, content_type, body) = get(
        crate::support::with_database(&config, Vec::new()),
        &format!("/api/targets/one-api/dumps/diff?from={id}&to={id}"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(content_type, "application/json");
    let v: Value = serde_json::from_str(&body).unwrap();
    let error = v["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("dump {id}:")) && error.contains("does not parse"),
        "{body}"
    );
}

/// Issue 13 item 10 (web side): every URL the dashboard builds from a target name
/// percent-encodes it, and no target text reaches the HTML parser (nodes and text only).
#[test]
fn the_dashboard_encodes_target_names_in_every_url() {
    let js = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/app.js"));
    for (i, line) in js.lines().enumerate() {
        for needle in [
            "'/api/targets/' + ",
            "'/targets/' + ",
            "target=' + ",
            "'/api/events?",
        ] {
            let mut rest = line;
            while let Some(at) = rest.find(needle) {
                let after = &rest[at + needle.len()..];
                assert!(
                    after.starts_with("encodeURIComponent("),
                    "app.js:{}: a URL built from a name without encodeURIComponent: {line}",
                    i + 1
                );
                rest = after;
            }
        }
        for banned in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
        ] {
            assert!(!line.contains(banned), "app.js:{}: {banned}", i + 1);
        }
    }
}

/// A target whose name needs percent-encoding (`/`, space, `?`, `#`) is reachable at every
/// route by its encoded name.
#[tokio::test]
async fn an_encoded_target_name_reaches_its_routes() {
    let name = "a/b c?#";
    let state = crate::support::no_database(
        &config(""),
        vec![leakhound_core::Sample::down(
            name,
            1_700_000_000_000,
            1.0,
            "x".into(),
        )],
    );
    let encoded = "a%2Fb%20c%3F%23";
    let (status, _, body) = get(
        state.clone(),
        &format!("/api/monitor/health?target={encoded}"),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("\"status\":\"down\""), "{body}");
    // Known by its decoded name: no database here (503), not an unknown target (404).
    for route in ["samples", "dumps"] {
        let (status, _, body) =
            get(state.clone(), &format!("/api/targets/{encoded}/{route}")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{route}: {body}");
    }
    let (status, content_type, _) = get(state, &format!("/targets/{encoded}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"));
}

/// Measurement (not a test; `--ignored --nocapture`): `/api/targets?history=24h` over 200
/// targets with 24 h of samples every 30 s, against the old way (every row of every target
/// read into a `Sample`, then downsampled).
#[tokio::test]
#[ignore]
async fn measure_targets_history_24h() {
    use leakhound_core::Sample;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lh.db");
    let now = leakhound_agent::agent::now_ms();
    let names: Vec<String> = (0..200).map(|i| format!("t{i:03}")).collect();
    {
        let mut store = leakhound_store::Store::open(&db).unwrap();
        for step in 0..2880i64 {
            let batch: Vec<Sample> = names
                .iter()
                .map(|n| {
                    sample(n)
                        .at(now - 86_400_000 + step * 30_000)
                        .goroutines(100 + (step % 50) as u64)
                        .alloc(1 << 20)
                        .build()
                })
                .collect();
            store.insert(&batch).unwrap();
        }
    }
    let mut text = String::from("[agent]\ndatabase = \"x.db\"\n");
    for n in &names {
        text.push_str(&format!(
            "[[targets]]\nname = \"{n}\"\nurl = \"http://127.0.0.1:1\"\n"
        ));
    }
    let mut config = Config::parse(&text, &|_| None).unwrap();
    config.agent.database = db.clone();
    let state = crate::support::with_database(&config, Vec::new());
    let t = std::time::Instant::now();
    let (status, _, body) = get(state, "/api/targets?history=24h").await;
    let new = t.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert!(body.len() > 10_000);
    let t = std::time::Instant::now();
    let store = leakhound_store::Store::open_read_only(&db).unwrap();
    let mut rows = 0;
    for n in &names {
        rows += store.samples(n, now - 86_400_000, now + 1).unwrap().len();
    }
    let old = t.elapsed();
    println!("200 targets x 24 h every 30 s ({rows} rows): /api/targets?history=24h {new:?}; the old per-row read alone {old:?}");
}
