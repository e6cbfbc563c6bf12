//! The agent's read model end to end: `Agent::start` against a live service (a small axum
//! server speaking the guide's health JSON), its `AgentHandle` publishing samples and the alert
//! they raise, `active_alerts()` agreeing with the store, and `stop()` draining into the store.

use leakhound_agent::agent::Agent;
use leakhound_agent::view::AgentEvent;
use leakhound_core::config::Config;
use leakhound_core::rules::TransitionKind;
use leakhound_store::Reader;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Serve the guide's health JSON with `goroutines` from the shared counter.
async fn service(goroutines: Arc<AtomicU64>) -> String {
    let app = axum::Router::new().route(
        "/api/monitor/health",
        axum::routing::get(move || {
            let n = goroutines.load(Ordering::SeqCst);
            async move {
                axum::Json(serde_json::json!({
                    "status": "ok", "goroutines": n,
                    "memory": {"alloc_mb": 10, "total_alloc_mb": 20, "sys_mb": 30, "num_gc": 4}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/api/monitor/health")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handle_publishes_samples_and_alerts_and_stop_drains_them() {
    let goroutines = Arc::new(AtomicU64::new(6000)); // above the guide's urgent level
    let url = service(goroutines.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = Config::for_urls(&[url]).unwrap();
    config.agent.database = tmp.path().join("lh.db");
    config.actions.evidence.on_alerts = false;
    for rule in &mut config.alerts.rules {
        rule.hold = Duration::ZERO;
    }
    for t in &mut config.targets {
        t.interval = Duration::from_millis(200);
        t.timeout = Duration::from_millis(200);
        t.jitter = Duration::ZERO;
    }
    let target = config.targets[0].name.clone();

    let agent = Agent::start(config.clone()).await.unwrap();
    let mut events = agent.subscribe();
    // Bounded: a sample, then the urgent alert it raises, within 20 s.
    let (mut samples, mut fired) = (0, None);
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while fired.is_none() {
            match events.recv().await.unwrap() {
                AgentEvent::Sample(s) => {
                    assert_eq!(s.target, target);
                    samples += 1;
                }
                AgentEvent::Transition(t) if t.rule == "goroutines_urgent" => {
                    assert_eq!(t.kind, TransitionKind::Firing);
                    assert!(samples > 0, "the sample comes before the alert it raised");
                    fired = Some(t);
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "no urgent alert within 20 s ({samples} samples)"
    );
    let fired = fired.unwrap();
    assert_eq!(agent.latest().len(), 1);
    assert_eq!(agent.latest()[0].metrics.goroutines, Some(6000));
    let active = agent.active_alerts();
    assert!(
        active.iter().any(|a| a.fingerprint == fired.fingerprint),
        "{active:?}"
    );

    // The store agrees with the read model (it recorded the transition before it was published).
    let reader = Reader::new(&config.agent.database);
    let stored = reader.with(|s| s.active_alert_events()).unwrap();
    assert!(stored.iter().any(|a| a.fingerprint == fired.fingerprint));

    // Back to normal: the alert resolves in the view.
    goroutines.store(100, Ordering::SeqCst);
    let resolved = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let AgentEvent::Transition(t) = events.recv().await.unwrap() {
                if t.fingerprint == fired.fingerprint && t.kind == TransitionKind::Resolved {
                    return;
                }
            }
        }
    })
    .await;
    assert!(resolved.is_ok(), "the alert did not resolve within 20 s");
    assert!(agent
        .active_alerts()
        .iter()
        .all(|a| a.fingerprint != fired.fingerprint));

    let summary = agent.stop().await.unwrap();
    assert!(summary.samples_stored >= 2, "{summary:?}");
    let stored = reader
        .with(|s| s.count_between(&target, 0, i64::MAX))
        .unwrap();
    assert_eq!(stored, summary.samples_stored);
}

#[tokio::test]
async fn a_start_that_cannot_open_its_store_says_why() {
    let mut config = Config::for_urls(&["http://127.0.0.1:1".to_string()]).unwrap();
    config.agent.database = "/nonexistent/dir/lh.db".into();
    let err = Agent::start(config).await.unwrap_err().to_string();
    assert!(err.contains("/nonexistent/dir/lh.db"), "{err}");
}
