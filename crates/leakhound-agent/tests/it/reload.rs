//! A reload under load (issue 15): twenty targets probed every 100 ms, ten reloads that add,
//! remove and change targets. Every unchanged target keeps its schedule (no sample lost, no
//! gap), its alert is not announced again, and a removed target's alert resolves as "target
//! gone" — once.

use leakhound_agent::agent::Agent;
use leakhound_agent::view::AgentEvent;
use leakhound_core::config::{Config, TargetConfig};
use leakhound_core::rules::TransitionKind;
use leakhound_store::Reader;
use std::time::Duration;

/// A health endpoint answering `goroutines` (above the urgent level for `hot` paths).
async fn service() -> String {
    let app = axum::Router::new().route(
        "/{kind}/api/monitor/health",
        axum::routing::get(
            |axum::extract::Path(kind): axum::extract::Path<String>| async move {
                let n = if kind == "hot" { 6000 } else { 100 };
                axum::Json(serde_json::json!({
                    "status": "ok", "goroutines": n,
                    "memory": {"alloc_mb": 10, "total_alloc_mb": 20, "sys_mb": 30, "num_gc": 4}
                }))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn target(base: &str, name: &str, kind: &str, config: &Config) -> TargetConfig {
    let url = format!("{base}/{kind}/api/monitor/health").parse().ok();
    let mut t = TargetConfig::new(name.into(), url, None, &config.defaults);
    t.interval = Duration::from_millis(100);
    t.timeout = Duration::from_millis(500);
    t.jitter = Duration::ZERO;
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_load_keeps_every_sample_and_announces_nothing_twice() {
    let base = service().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.agent.database = tmp.path().join("lh.db");
    config.actions.evidence.on_alerts = false;
    for rule in &mut config.alerts.rules {
        rule.hold = Duration::ZERO;
    }
    config.targets = (0..20)
        .map(|i| target(&base, &format!("steady-{i}"), "calm", &config))
        .collect();
    config
        .targets
        .push(target(&base, "hot-kept", "hot", &config));
    config
        .targets
        .push(target(&base, "hot-removed", "hot", &config));

    let agent = Agent::start(config.clone()).await.unwrap();
    let mut events = agent.subscribe();
    // Both hot targets fire their urgent alert.
    let mut fired = std::collections::HashMap::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while fired.len() < 2 {
            if let AgentEvent::Transition(t) = events.recv().await.unwrap() {
                if t.rule == "goroutines_urgent" && t.kind == TransitionKind::Firing {
                    fired.insert(t.target.clone(), t.fingerprint.clone());
                }
            }
        }
    })
    .await
    .expect("both urgent alerts within 20 s");

    // Ten reloads, 150 ms apart: targets come and go, one changes its interval, and the
    // last one removes `hot-removed`.
    let reloader = agent.reloader();
    let mut report = None;
    for round in 0..10 {
        let mut next = config.clone();
        next.targets
            .push(target(&base, &format!("new-{round}"), "calm", &config));
        if round % 2 == 0 {
            next.targets
                .push(target(&base, "flapping", "calm", &config));
        }
        let mut changed = target(&base, "changing", "calm", &config);
        changed.interval = Duration::from_millis(100 + 10 * round);
        next.targets.push(changed);
        if round == 9 {
            next.targets.retain(|t| t.name != "hot-removed");
        }
        report = Some(reloader.reload(next).await.unwrap());
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let report = report.unwrap();
    assert_eq!(
        report.changes.removed,
        ["flapping", "hot-removed", "new-8"],
        "{report}"
    );
    assert_eq!(report.changes.added, ["new-9"], "{report}");
    assert_eq!(report.changes.changed, ["changing"], "{report}");
    assert!(report.restart_needed.is_empty(), "{report}");

    // The removed target's alert resolves as gone (the event feed lagged behind 200 samples a
    // second long ago: read the view, then the store).
    tokio::time::timeout(Duration::from_secs(10), async {
        while agent
            .active_alerts()
            .iter()
            .any(|a| a.target == "hot-removed")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the removed target's alert resolves");
    assert!(agent.latest().iter().all(|s| s.target != "hot-removed"));
    assert!(agent.view().targets().iter().all(|t| t != "hot-removed"));
    // A second past the last reload, then stop.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let active = agent.active_alerts();
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0].fingerprint, fired["hot-kept"]);
    agent.stop().await.unwrap();

    let reader = Reader::new(&config.agent.database);
    let history = reader.with(|s| s.alert_events(None, 1000)).unwrap();
    let count = |target: &str, kind: TransitionKind| {
        history
            .iter()
            .filter(|t| t.target == target && t.kind == kind)
            .count()
    };
    let announcements = count("hot-kept", TransitionKind::Firing);
    assert_eq!(
        announcements, 1,
        "hot-kept was announced again: {history:#?}"
    );
    let gone: Vec<_> = history
        .iter()
        .filter(|t| t.target == "hot-removed" && t.kind == TransitionKind::Resolved)
        .collect();
    assert_eq!(gone.len(), 1, "{gone:#?}");
    assert_eq!(gone[0].fingerprint, fired["hot-removed"]);
    assert_eq!(gone[0].evidence.reason.as_deref(), Some("target gone"));
    assert!(gone[0].notify, "its end is announced like any resolve");
    // No sample lost: every target that stayed has a sample every ~100 ms throughout.
    for t in config.targets.iter().filter(|t| t.name != "hot-removed") {
        let samples = reader.with(|s| s.samples(&t.name, 0, i64::MAX)).unwrap();
        let gaps: Vec<i64> = samples
            .windows(2)
            .map(|w| w[1].ts_ms - w[0].ts_ms)
            .collect();
        let worst = gaps.iter().max().copied().unwrap_or(0);
        assert!(samples.len() >= 20, "{}: {} samples", t.name, samples.len());
        // A stopped prober leaves a gap; a busy test machine may delay a probe, not five.
        assert!(
            worst < 500,
            "{}: a {worst} ms gap in its samples (interval 100 ms)",
            t.name
        );
    }
}

/// `[[discovery]] type = "file"` through the whole agent: the file's targets are probed with
/// their labels; one that leaves the file stops, its alert resolves as "target gone", and its
/// history stays in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovered_targets_come_and_go_and_the_gone_resolve_as_gone() {
    let base = service().await;
    let addr = base.trim_start_matches("http://").to_string();
    let tmp = tempfile::tempdir().unwrap();
    let sd = tmp.path().join("targets.json");
    let write_sd = |names: &[&str]| {
        let groups: Vec<serde_json::Value> = names
            .iter()
            .map(|name| {
                let kind = if name.starts_with("hot") {
                    "hot"
                } else {
                    "calm"
                };
                serde_json::json!({
                    "targets": [addr],
                    "labels": {
                        "__leakhound_name__": name,
                        "__metrics_path__": format!("/{kind}/api/monitor/health"),
                        "team": "gateway"
                    }
                })
            })
            .collect();
        let text = serde_json::to_string(&groups).unwrap();
        let tmp_file = sd.with_extension("tmp");
        std::fs::write(&tmp_file, text).unwrap();
        std::fs::rename(&tmp_file, &sd).unwrap(); // as config management writes it
    };
    write_sd(&["hot-a", "calm-b"]);
    let text = format!(
        "[agent]\ndatabase = \"{}\"\n\n[evidence]\non_alerts = false\n\n\
         [[discovery]]\ntype = \"file\"\nfiles = [\"{}\"]\nrefresh_interval = \"100ms\"\n\
         interval = \"100ms\"\ntimeout = \"90ms\"\njitter = \"0s\"\nlabels = {{ env = \"test\" }}\n\n\
         [[notifiers]]\ntype = \"webhook\"\nname = \"nowhere\"\nurl = \"http://127.0.0.1:9/\"\n",
        tmp.path().join("lh.db").display(),
        sd.display()
    );
    let mut config = Config::parse(&text, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    for rule in &mut config.alerts.rules {
        rule.hold = Duration::ZERO;
    }
    let agent = Agent::start(config.clone()).await.unwrap();
    let fired = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(a) = agent
                .active_alerts()
                .into_iter()
                .find(|a| a.target == "hot-a")
            {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the discovered hot target alerts");
    let mut names = agent.view().targets();
    names.sort();
    assert_eq!(names, ["calm-b", "hot-a"]);
    // The file's labels, over the block's: in the view (for /metrics) and the store.
    let labels = std::collections::BTreeMap::from([
        ("env".to_string(), "test".to_string()),
        ("team".to_string(), "gateway".to_string()),
    ]);
    assert_eq!(agent.view().labels()["hot-a"], labels);

    write_sd(&["calm-b", "calm-c"]);
    tokio::time::timeout(Duration::from_secs(20), async {
        while agent.view().targets() != ["calm-b", "calm-c"]
            || agent.latest().iter().all(|s| s.target != "calm-c")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("calm-c probed, hot-a gone");
    assert!(
        agent.active_alerts().is_empty(),
        "{:?}",
        agent.active_alerts()
    );
    agent.stop().await.unwrap();

    let reader = Reader::new(&config.agent.database);
    let history = reader.with(|s| s.alert_events(Some("hot-a"), 10)).unwrap();
    let resolved = history
        .iter()
        .find(|t| t.kind == TransitionKind::Resolved)
        .expect("a resolve");
    assert_eq!(resolved.fingerprint, fired.fingerprint);
    assert_eq!(resolved.evidence.reason.as_deref(), Some("target gone"));
    let kept = reader.with(|s| s.samples("hot-a", 0, i64::MAX)).unwrap();
    assert!(!kept.is_empty(), "hot-a's history stays");
    assert_eq!(reader.with(|s| s.target_labels("hot-a")).unwrap(), labels);
    // The alert's message carries the target's labels (for Alertmanager routing); the
    // webhook is unreachable, so both messages wait in the outbox.
    let queued = reader.with(|s| s.list("pending", 10)).unwrap();
    assert_eq!(queued.len(), 2, "{queued:#?}");
    for item in queued {
        let message: serde_json::Value = serde_json::from_str(&item.payload).unwrap();
        assert_eq!(message["labels"]["team"], "gateway", "{message}");
        assert_eq!(message["labels"]["env"], "test", "{message}");
    }
}
