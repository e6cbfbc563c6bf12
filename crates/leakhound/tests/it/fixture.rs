//! Tests against the real Go fixture (`tests/fixtures/leaky`), run by `scripts/test`:
//! `cargo test -- --include-ignored` with `LEAKHOUND_FIXTURE` set.

use crate::support;

use leakhound_agent::agent::TargetProber;
use leakhound_core::config::{Config, ProcessSelector, TargetConfig};
use leakhound_store::Store;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;
// `near`: the fixture's own goroutines move by a few (HTTP handlers, GC workers) between reads.
use support::{agent, leakhound, near, poll, stderr, stdout, Fixture};

fn probe_once(target: &TargetConfig) -> leakhound_core::Sample {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut prober = TargetProber::new(target).unwrap();
        prober.probe().await
    })
}

fn target_for(spec: &str) -> TargetConfig {
    Config::for_urls(&[spec.to_string()])
        .unwrap()
        .targets
        .remove(0)
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn each_probe_reads_what_the_fixture_reports() {
    let fx = Fixture::start();
    fx.leak("chan", 300, "openai");
    fx.leak("netread", 50, "claude");
    let reported = fx.goroutines();
    assert!(reported >= 350);

    let health = probe_once(&target_for(&format!("{}/api/monitor/health", fx.url())));
    assert!(health.up, "{:?}", health.error);
    assert_eq!(health.source, "health");
    assert!(
        near(health.metrics.goroutines.unwrap(), reported, 10),
        "{health:?} vs {reported}"
    );
    assert!(health.metrics.alloc_bytes.is_some() && health.metrics.sys_bytes.is_some());
    assert!(health.metrics.num_gc.is_some());

    let expvar = probe_once(&target_for(&format!("{}/debug/vars", fx.url())));
    assert_eq!(expvar.source, "expvar");
    assert!(
        near(expvar.metrics.goroutines.unwrap(), reported, 10),
        "{expvar:?}"
    );
    let vars = fx.get_json("/debug/vars");
    let sys = vars["memstats"]["Sys"].as_u64().unwrap();
    assert!(
        near(expvar.metrics.sys_bytes.unwrap(), sys, sys / 5),
        "{expvar:?} vs Sys {sys}"
    );
    // The health JSON's MB figures are the same memstats, rounded down to whole MB.
    assert!(near(
        health.metrics.sys_bytes.unwrap(),
        sys,
        sys / 5 + (1 << 20)
    ));

    let prom = probe_once(&target_for(&format!("{}/metrics", fx.url())));
    assert_eq!(prom.source, "prometheus");
    assert!(
        near(prom.metrics.goroutines.unwrap(), reported, 10),
        "{prom:?}"
    );
    assert!(prom.metrics.threads.unwrap() >= 2);
    let rss = prom.metrics.rss_bytes.unwrap();
    assert!(rss > 1 << 20);
    // 50 leaked connections to the silent upstream, both ends in this process.
    assert!(prom.metrics.open_fds.unwrap() >= 100, "{prom:?}");

    let pprof = probe_once(&target_for(&format!("{}/debug/pprof/goroutine", fx.url())));
    assert_eq!(pprof.source, "pprof");
    assert!(
        near(pprof.metrics.goroutines.unwrap(), reported, 10),
        "{pprof:?}"
    );

    let process = probe_once(&target_for(&format!("pid:{}", fx.pid())));
    assert!(process.up, "{:?}", process.error);
    assert_eq!(process.source, "process");
    let m = &process.metrics;
    assert!(
        near(m.rss_bytes.unwrap(), rss, rss / 2),
        "{m:?} vs prometheus rss {rss}"
    );
    assert!(m.threads.unwrap() >= 2);
    assert!(m.open_fds.unwrap() >= 100);

    // A bare base URL finds the guide's health endpoint first; a URL plus a process joins both.
    let mut both = target_for(&fx.url());
    both.process = Some(ProcessSelector::Pid(fx.pid()));
    let joined = probe_once(&both);
    assert_eq!(joined.source, "health+process");
    assert!(joined.metrics.goroutines.is_some() && joined.metrics.rss_bytes.is_some());
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn check_exit_codes_against_the_fixture() {
    let fx = Fixture::start();
    let out = leakhound(&["check", &fx.url()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("🟢 health excellent"),
        "{}",
        stdout(&out)
    );

    fx.leak("select", 200, "default");
    let out = leakhound(&["check", "--fail-above", "150", &fx.url()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    let addr = fx.url();
    drop(fx);
    let out = leakhound(&["check", &addr]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("connection refused"),
        "{}",
        stdout(&out)
    );
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn bad_answers_are_clear_errors_and_never_crash_the_agent() {
    let good = Fixture::start();
    let err500 = Fixture::start();
    err500.control("/control/health-mode?mode=500");
    let garbage = Fixture::start();
    garbage.control("/control/health-mode?mode=garbage");
    let huge = Fixture::start();
    huge.control("/control/health-mode?mode=huge&mb=50");
    let slow = Fixture::start();
    slow.control("/control/slow?ms=3000");
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let health = |fx: &Fixture| format!("{}/api/monitor/health", fx.url());
    let cases = [
        (
            format!("http://{refused}"),
            format!("connection refused by {refused}"),
        ),
        (health(&err500), "HTTP 500 from".to_string()),
        (health(&garbage), "is not usable: not JSON".to_string()),
        (
            health(&huge),
            "larger than the 10MB limit: raise `max_body`".to_string(),
        ),
        (health(&slow), "no answer within 1s".to_string()),
        (
            format!("{}/redirect-loop", good.url()),
            "too many redirects".to_string(),
        ),
    ];
    for (url, expected) in &cases {
        let out = leakhound(&["check", "--timeout", "1s", "--source", "health", url]);
        assert_eq!(out.status.code(), Some(2), "{url}: {}", stdout(&out));
        assert!(
            stdout(&out).contains(expected.as_str()),
            "{url}: expected {expected:?} in {}",
            stdout(&out)
        );
    }

    // The agent with all of them plus a good target: it runs, stores the good target's
    // samples, stores the bad ones as down with their reason, and exits cleanly.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let mut toml = format!(
        "[agent]\ndatabase = \"{}\"\nflush_interval = \"100ms\"\n",
        db.display()
    );
    let mut all = vec![(good.url(), "good".to_string())];
    all.extend(
        cases
            .iter()
            .enumerate()
            .map(|(i, (u, _))| (u.clone(), format!("bad{i}"))),
    );
    for (url, name) in &all {
        // The source is pinned so that a bad answer is reported rather than detected around.
        toml.push_str(&format!(
            "[[targets]]\nname = \"{name}\"\nurl = \"{url}\"\nsource = \"health\"\ninterval = \"1s\"\ntimeout = \"1s\"\njitter = \"0s\"\n"
        ));
    }
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, toml).unwrap();
    let out = leakhound(&["run", "-c", cfg.to_str().unwrap(), "--duration", "3500ms"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let store = Store::open_read_only(&db).unwrap();
    let good_samples = store.samples("good", 0, i64::MAX).unwrap();
    assert!(
        good_samples.len() >= 3 && good_samples.iter().all(|s| s.up),
        "{good_samples:?}"
    );
    for (i, (_, expected)) in cases.iter().enumerate() {
        let bad = store.samples(&format!("bad{i}"), 0, i64::MAX).unwrap();
        assert!(!bad.is_empty(), "bad{i} stored nothing");
        assert!(bad.iter().all(|s| !s.up), "bad{i}");
        assert!(
            bad[0]
                .error
                .as_deref()
                .unwrap_or("")
                .contains(expected.as_str()),
            "bad{i}: {:?}",
            bad[0].error
        );
    }
}

/// Read stored samples of one target while the agent runs (WAL allows a concurrent reader).
fn stored(db: &Path, target: &str) -> Vec<leakhound_core::Sample> {
    Store::open_read_only(db)
        .and_then(|s| s.samples(target, 0, i64::MAX))
        .unwrap_or_default()
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn agent_follows_a_leak_while_a_hung_target_costs_nothing() {
    let fx = Fixture::start();
    // A peer that accepts connections and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_addr = hung.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let log = dir.path().join("continuous.log");
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ndatabase = \"{}\"\nflush_interval = \"100ms\"\ncontinuous_log = \"{}\"\ncontinuous_log_interval = \"1s\"\n\
             [[targets]]\nname = \"leaky\"\nurl = \"{}\"\ninterval = \"200ms\"\ntimeout = \"200ms\"\njitter = \"0s\"\n\
             [[targets]]\nname = \"hung\"\nurl = \"http://{hung_addr}\"\ninterval = \"10s\"\ntimeout = \"8s\"\njitter = \"0s\"\n",
            db.display(),
            log.display(),
            fx.url()
        ),
    )
    .unwrap();
    let mut agent = agent(&cfg).start();

    // While the hung target's first probe waits out its 8 s timeout, the other target keeps
    // its 200 ms cadence: 10 samples arrive long before the hung probe could even finish.
    let base = poll(
        Duration::from_secs(6),
        "10 samples of the leaky target",
        || {
            let s = stored(&db, "leaky");
            (s.len() >= 10).then(|| {
                s.iter()
                    .filter_map(|s| s.metrics.goroutines)
                    .max()
                    .unwrap_or(0)
            })
        },
    );
    assert!(
        stored(&db, "hung").is_empty(),
        "the hung probe cannot have finished yet"
    );

    fx.leak("chan", 500, "openai");
    poll(
        Duration::from_secs(10),
        "the first leak in the store",
        || {
            stored(&db, "leaky")
                .iter()
                .any(|s| s.metrics.goroutines.unwrap_or(0) >= base + 500)
                .then_some(())
        },
    );
    fx.leak("cond", 1000, "gemini");
    poll(
        Duration::from_secs(10),
        "the second leak in the store",
        || {
            stored(&db, "leaky")
                .iter()
                .any(|s| s.metrics.goroutines.unwrap_or(0) >= base + 1500)
                .then_some(())
        },
    );
    let hung_samples = poll(
        Duration::from_secs(15),
        "the hung target's timeout sample",
        || {
            let s = stored(&db, "hung");
            (!s.is_empty()).then_some(s)
        },
    );
    assert!(!hung_samples[0].up);
    assert!(hung_samples[0]
        .error
        .as_deref()
        .unwrap_or("")
        .contains("no answer within 8s"));

    let status = agent.terminate();
    assert!(status.success(), "{status:?}");

    // The stored series rises with the leak and never dips back below an earlier plateau.
    let series: Vec<u64> = stored(&db, "leaky")
        .iter()
        .filter_map(|s| s.metrics.goroutines)
        .collect();
    let first_high = series.iter().position(|&g| g >= base + 500).unwrap();
    let first_higher = series.iter().position(|&g| g >= base + 1500).unwrap();
    assert!(first_high < first_higher);
    assert!(
        series[first_higher..].iter().all(|&g| g >= base + 1400),
        "{series:?}"
    );

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().any(|l| l.contains("leaky Goroutines: ")),
        "{text}"
    );
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn sigterm_during_a_write_burst_loses_no_acknowledged_sample() {
    let fx = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let cfg = dir.path().join("c.toml");
    let mut toml = format!(
        "[agent]\ndatabase = \"{}\"\nbatch_size = 50\nflush_interval = \"50ms\"\n",
        db.display()
    );
    for i in 0..100 {
        toml.push_str(&format!(
            "[[targets]]\nname = \"t{i}\"\nurl = \"{}/debug/pprof/goroutine\"\ninterval = \"50ms\"\ntimeout = \"50ms\"\njitter = \"10ms\"\n",
            fx.url()
        ));
    }
    std::fs::write(&cfg, toml).unwrap();
    let mut agent = agent(&cfg)
        .json()
        .env("RUST_LOG", "leakhound_agent=debug")
        .pipe_stderr()
        .start();
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let reader = BufReader::new(agent.take_stderr());
    let lines = std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    // Wait for a burst well under way: 1000 samples acknowledged as stored.
    let mut acknowledged = 0;
    while acknowledged < 1000 {
        let event = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("agent log line");
        if event["fields"]["message"] == "stored samples" {
            acknowledged = event["fields"]["total"].as_u64().unwrap();
        }
    }
    let status = agent.terminate();
    assert!(status.success(), "{status:?}");
    lines.join().unwrap();
    let mut reported = None;
    while let Ok(event) = rx.try_recv() {
        if event["fields"]["message"] == "stored samples" {
            acknowledged = acknowledged.max(event["fields"]["total"].as_u64().unwrap());
        }
        if event["fields"]["message"] == "leakhound agent stopped" {
            reported = event["fields"]["samples_stored"].as_u64();
        }
    }
    let in_store = Store::open_read_only(&db).unwrap().count(None).unwrap();
    assert!(
        in_store >= acknowledged,
        "{in_store} stored < {acknowledged} acknowledged"
    );
    assert_eq!(
        reported,
        Some(in_store),
        "the agent's final count must match the store"
    );
}
