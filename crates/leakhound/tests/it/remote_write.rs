//! `[remote_write]` against a real Prometheus 2.42 started with
//! `--web.enable-remote-write-receiver`: the fixture's series are queryable with the agent's
//! labels, a minute-long outage loses no sample that fits the queue, and neither does a
//! `kill -9` of the agent while its queue holds unsent samples (the restarted agent resends
//! them from its store). The same series reach a real VictoriaMetrics, which keeps one copy of
//! what an HA pair of agents sends when told to drop their `replica` label. `scripts/test`
//! installs Prometheus and VictoriaMetrics (Debian packages `prometheus`, `victoria-metrics`)
//! and builds the Go fixture.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{
    agent, http_client, near, now_ms, poll, Agent, Fixture, Prometheus, VictoriaMetrics,
};

/// Everything Prometheus holds arrives by remote write: no scrape jobs.
const NO_SCRAPES: &str = "global:\n  scrape_interval: 1m\n";

/// A real Prometheus receiving remote write, on a fixed port and data directory so that it can
/// be stopped and started again where it was.
fn receiver(dir: &Path) -> Prometheus {
    Prometheus::start_with(dir, NO_SCRAPES, &["--web.enable-remote-write-receiver"])
}

/// `leakhound run` on the fixture every second with `[remote_write]` and `[web]` as given; its
/// log in `agent.log`.
fn start_agent(dir: &Path, fixture: &Fixture, remote_write: &str, web: &str) -> Agent {
    let cfg = dir.join("leakhound.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ndatabase = \"{}\"\nflush_interval = \"100ms\"\n\n[web]\n{web}\n\n\
             [remote_write]\n{remote_write}\n\n\
             [[targets]]\nname = \"leaky\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"900ms\"\njitter = \"0s\"\n",
            dir.join("leakhound.db").display(),
            fixture.url()
        ),
    )
    .unwrap();
    agent(&cfg).log(&dir.join("agent.log")).start()
}

/// The agent's `/metrics` text (its HTTP address read from the 'HTTP API on' log line).
fn metrics(agent: &Agent) -> Option<String> {
    let addr = agent.try_http_addr()?;
    http_client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .ok()?
        .text()
        .ok()
}

/// Timestamps of the stored samples of target `leaky` with a goroutine count, in a window
/// (`from_ms..=to_ms`), read through the store (WAL mode: safe while the agent writes).
fn stored_timestamps(db: &Path, from_ms: i64, to_ms: i64) -> BTreeSet<i64> {
    let store = support::read_store(db).expect("the agent's database");
    store
        .samples("leaky", from_ms, to_ms.saturating_add(1))
        .unwrap()
        .into_iter()
        .filter(|s| s.metrics.goroutines.is_some())
        .map(|s| s.ts_ms)
        .collect()
}

/// The value of an unlabelled metric in a /metrics text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
#[ignore = "needs prometheus and the Go fixture; scripts/test runs it"]
fn prometheus_receives_the_fixtures_series_by_remote_write() {
    let fx = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let prometheus = receiver(dir.path());
    let agent = start_agent(
        dir.path(),
        &fx,
        &format!(
            "url = \"{}\"\nflush_interval = \"1s\"\nlabels = {{ env = \"test\" }}\n",
            prometheus.write_url()
        ),
        "listen = \"127.0.0.1:0\"",
    );
    fx.leak("chan", 300, "openai");
    let want = fx.goroutines();
    let (labels, got) = poll(
        Duration::from_secs(60),
        "leakhound_goroutines in Prometheus matching the fixture's count",
        || {
            let r = prometheus.query("leakhound_goroutines{target=\"leaky\"}");
            let (labels, value) = r.first()?;
            near(*value as u64, want, 10).then(|| (labels.clone(), *value))
        },
    );
    assert!(got >= 300.0, "{got}");
    // The labels /metrics would carry, plus job/instance and the configured extra one.
    assert_eq!(
        labels,
        serde_json::json!({
            "__name__": "leakhound_goroutines",
            "env": "test",
            "instance": hostname(),
            "job": "leakhound",
            "target": "leaky",
        }),
        "{}",
        prometheus.log()
    );
    assert_eq!(prometheus.query("leakhound_up{target=\"leaky\"}")[0].1, 1.0);
    let alloc = prometheus.query("leakhound_memory_bytes{target=\"leaky\",kind=\"sys\"}");
    assert!(alloc.first().is_some_and(|(_, v)| *v > 0.0), "{alloc:?}");
    let level = prometheus.query("leakhound_level{target=\"leaky\"}");
    assert_eq!(level.first().map(|(_, v)| *v), Some(0.0));
    // The agent's own /metrics counts what it sent, and dropped nothing.
    let text = metrics(&agent).expect("the agent's /metrics");
    let sent = metric(&text, "leakhound_remote_write_sent_samples_total").unwrap_or(0.0);
    assert!(sent >= 4.0, "{text}");
    assert_eq!(
        metric(&text, "leakhound_remote_write_dropped_samples_total"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "leakhound_remote_write_rejected_samples_total"),
        Some(0.0)
    );
}

#[test]
#[ignore = "needs prometheus and the Go fixture; scripts/test runs it"]
fn a_4xx_drops_the_batch_without_retrying_and_says_why() {
    let fx = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    // Without --web.enable-remote-write-receiver, Prometheus answers 404 with the fix.
    let prometheus = Prometheus::start(dir.path(), NO_SCRAPES);
    let agent = start_agent(
        dir.path(),
        &fx,
        &format!(
            "url = \"{}\"\nflush_interval = \"1s\"\n",
            prometheus.write_url()
        ),
        "listen = \"127.0.0.1:0\"",
    );
    poll(
        Duration::from_secs(30),
        "rejected samples on /metrics",
        || {
            let text = metrics(&agent)?;
            (metric(&text, "leakhound_remote_write_rejected_samples_total")? >= 4.0).then_some(())
        },
    );
    let log = agent.log_text();
    assert!(log.contains("refused a batch"), "{log}");
    assert!(log.contains("HTTP 404"), "{log}");
    // Prometheus' own answer, and leakhound's hint.
    assert!(
        log.contains("remote write receiver needs to be enabled"),
        "{log}"
    );
    assert!(log.contains("--web.enable-remote-write-receiver"), "{log}");
    assert!(!log.contains("retrying"), "a 404 is not retried: {log}");
    // Nothing reached the TSDB.
    assert!(prometheus.query("leakhound_up").is_empty());
}

#[test]
#[ignore = "needs prometheus and the Go fixture; scripts/test runs it"]
fn a_minute_long_outage_loses_no_sample_that_fits_the_queue() {
    let fx = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let mut prometheus = receiver(dir.path());
    // Without its HTTP API.
    let agent = start_agent(
        dir.path(),
        &fx,
        &format!(
            "url = \"{}\"\nflush_interval = \"1s\"\nbatch_size = 50\nmax_backoff = \"2s\"\ntimeout = \"2s\"\n",
            prometheus.write_url()
        ),
        "enabled = false",
    );
    let series = "leakhound_goroutines{target=\"leaky\"}";
    poll(
        Duration::from_secs(60),
        "the first samples in Prometheus",
        || (!prometheus.query(series).is_empty()).then_some(()),
    );

    // The outage: Prometheus is stopped for about a minute while the agent polls every second.
    prometheus.stop();
    let down_ms = now_ms();
    let db = dir.path().join("leakhound.db");
    poll(
        Duration::from_secs(90),
        "55 samples stored during the outage",
        || (stored_timestamps(&db, down_ms, now_ms()).len() >= 55).then_some(()),
    );
    assert!(
        agent.log_text().contains("remote write failed, retrying"),
        "{}",
        agent.log_text()
    );
    let restart_ms = now_ms();
    // 55 samples a second apart, all after `down_ms`, span 54 s at least (not 55: the first
    // can be taken just after the stop, and the poll can see the 55th just after it is stored).
    assert!(
        restart_ms - down_ms >= 54_000,
        "{} ms for 55 samples",
        restart_ms - down_ms
    );
    prometheus.restart();

    // Everything the agent stored while Prometheus was away arrives once it is back.
    let during = stored_timestamps(&db, down_ms, restart_ms);
    assert!(during.len() >= 55, "{}", during.len());
    let started = Instant::now();
    let received = poll(
        Duration::from_secs(60),
        "every outage sample in Prometheus",
        || {
            let got = prometheus.timestamps(series, down_ms, restart_ms);
            during.is_subset(&got).then_some(got)
        },
    );
    assert_eq!(
        received,
        during,
        "Prometheus has samples in the outage window that the store does not: {}",
        prometheus.log()
    );
    // The agent said the endpoint was back, and dropped nothing.
    poll(
        Duration::from_secs(10),
        "the 'endpoint is back' log line",
        || {
            agent
                .log_text()
                .contains("remote write endpoint is back")
                .then_some(())
        },
    );
    assert!(
        !agent.log_text().contains("queue is full"),
        "{}",
        agent.log_text()
    );
    eprintln!(
        "{} outage samples delivered {:?} after the restart",
        during.len(),
        started.elapsed()
    );
    agent.stop();
}

#[test]
#[ignore = "needs prometheus and the Go fixture; scripts/test runs it"]
fn samples_queued_when_the_agent_is_killed_are_resent_from_the_store_after_a_restart() {
    let fx = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let mut prometheus = receiver(dir.path());
    let mut agent = start_agent(
        dir.path(),
        &fx,
        &format!(
            "url = \"{}\"\nflush_interval = \"1s\"\nbatch_size = 50\nmax_backoff = \"1s\"\ntimeout = \"2s\"\n",
            prometheus.write_url()
        ),
        "enabled = false",
    );
    let series = "leakhound_goroutines{target=\"leaky\"}";
    let db = dir.path().join("leakhound.db");
    let first_ms = now_ms() - 5_000;
    // Delivered first, so the store has marks: those samples must not be sent again (Prometheus
    // would refuse the whole request as out of order).
    poll(
        Duration::from_secs(60),
        "three samples in Prometheus",
        || (prometheus.timestamps(series, first_ms, now_ms()).len() >= 3).then_some(()),
    );

    // The receiver goes away (its port closed: every request fails at once), the agent goes on
    // storing and queueing, and is killed with the samples still queued.
    prometheus.stop();
    let down_ms = now_ms();
    poll(
        Duration::from_secs(60),
        "8 samples stored while Prometheus is away",
        || (stored_timestamps(&db, down_ms, now_ms()).len() >= 8).then_some(()),
    );
    assert!(
        agent.log_text().contains("remote write failed, retrying"),
        "{}",
        agent.log_text()
    );
    agent.kill9();
    let killed_ms = now_ms();
    let stored = stored_timestamps(&db, first_ms, killed_ms);
    let queued = stored_timestamps(&db, down_ms, killed_ms);

    // Prometheus back, the agent started again on the same database.
    prometheus.restart();
    agent = agent_on(dir.path(), "agent2.log");
    let received = poll(
        Duration::from_secs(60),
        "every stored sample of the first run in Prometheus",
        || {
            let got = prometheus.timestamps(series, first_ms, killed_ms);
            stored.is_subset(&got).then_some(got)
        },
    );
    assert_eq!(received, stored, "no gap, nothing the store does not have");
    let log = agent.log_text();
    // The samples stored while Prometheus was away, and perhaps one or two queued just before.
    let resent: usize = log
        .split("resending ")
        .nth(1)
        .and_then(|t| t.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no 'resending N stored samples' line: {log}"));
    assert!(
        (queued.len()..=queued.len() + 3).contains(&resent),
        "{resent} resent, {} queued while Prometheus was away: {log}",
        queued.len()
    );
    assert!(!log.contains("refused a batch"), "{log}");
    assert!(
        !prometheus.log().contains("Out of order sample"),
        "nothing acknowledged was sent twice: {}",
        prometheus.log()
    );
    // Live samples follow the replay.
    poll(
        Duration::from_secs(30),
        "live samples after the restart",
        || {
            (!prometheus
                .timestamps(series, killed_ms, now_ms())
                .is_empty())
            .then_some(())
        },
    );
    agent.stop();
}

/// Another agent on the config `start_agent` wrote to `dir`, logging to `dir/log`.
fn agent_on(dir: &Path, log: &str) -> Agent {
    agent(&dir.join("leakhound.toml"))
        .log(&dir.join(log))
        .start()
}

#[test]
#[ignore = "needs victoria-metrics and the Go fixture; scripts/test runs it"]
fn victoria_metrics_receives_the_fixtures_series_by_remote_write() {
    let fx = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let vm = VictoriaMetrics::start(dir.path(), &[]);
    let agent = start_agent(
        dir.path(),
        &fx,
        &format!(
            "url = \"{}\"\nflush_interval = \"1s\"\nlabels = {{ env = \"test\" }}\n",
            vm.write_url()
        ),
        "enabled = false",
    );
    fx.leak("chan", 200, "openai");
    let want = fx.goroutines();
    let labels = poll(
        Duration::from_secs(60),
        "leakhound_goroutines in VictoriaMetrics matching the fixture's count",
        || {
            vm.force_flush();
            let r = vm.query("leakhound_goroutines{target=\"leaky\"}");
            let (labels, value) = r.first()?;
            near(*value as u64, want, 10).then(|| labels.clone())
        },
    );
    assert_eq!(
        labels,
        serde_json::json!({
            "__name__": "leakhound_goroutines",
            "env": "test",
            "instance": hostname(),
            "job": "leakhound",
            "target": "leaky",
        }),
        "{}",
        vm.log()
    );
    assert_eq!(vm.query("leakhound_up{target=\"leaky\"}")[0].1, 1.0);
    assert!(!agent.log_text().contains("refused a batch"));
    agent.stop();
}

#[test]
#[ignore = "needs victoria-metrics and the Go fixture; scripts/test runs it"]
fn victoria_metrics_keeps_one_series_of_an_ha_pair_that_drops_its_replica_label() {
    let fx = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    // What docs/config.md tells: drop the replica label on ingestion (-relabelConfig), and keep
    // one sample per interval of each series (-dedup.minScrapeInterval = the probe interval).
    let relabel = dir.path().join("relabel.yml");
    std::fs::write(&relabel, "- action: labeldrop\n  regex: replica\n").unwrap();
    let vm = VictoriaMetrics::start(
        dir.path(),
        &[
            &format!("-relabelConfig={}", relabel.display()),
            "-dedup.minScrapeInterval=1s",
        ],
    );
    let pair: Vec<Agent> = ["a", "b"]
        .iter()
        .map(|replica| {
            let d = dir.path().join(replica);
            std::fs::create_dir(&d).unwrap();
            start_agent(
                &d,
                &fx,
                &format!(
                    "url = \"{}\"\nflush_interval = \"1s\"\n\
                     labels = {{ replica = \"{replica}\", instance = \"leakhound-ha\" }}\n",
                    vm.write_url()
                ),
                "listen = \"127.0.0.1:0\"",
            )
        })
        .collect();
    // Both replicas have stored a dozen samples, and delivered them.
    let started_ms = now_ms();
    poll(
        Duration::from_secs(60),
        "a dozen samples from both agents in VictoriaMetrics",
        || {
            ["a", "b"]
                .iter()
                .all(|r| {
                    let db = dir.path().join(r).join("leakhound.db");
                    db.exists() && stored_timestamps(&db, started_ms, now_ms()).len() >= 12
                })
                .then_some(())?;
            vm.force_flush();
            let n = vm.query("count_over_time(leakhound_up[1m])");
            (n.first()?.1 >= 12.0).then_some(())
        },
    );
    vm.force_flush();
    let series = vm.query("leakhound_goroutines");
    assert_eq!(series.len(), 1, "one series for the pair: {series:?}");
    assert_eq!(
        series[0].0,
        serde_json::json!({
            "__name__": "leakhound_goroutines",
            "instance": "leakhound-ha",
            "job": "leakhound",
            "target": "leaky",
        })
    );
    // Deduplicated: about one sample a second over the last 10 s, not two.
    let n = vm.query("count_over_time(leakhound_up[10s])");
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(
        (8.0..=11.0).contains(&n[0].1),
        "one replica's samples, not both: {n:?}"
    );
    for a in pair {
        assert!(
            !a.log_text().contains("refused a batch"),
            "{}",
            a.log_text()
        );
        a.stop();
    }
}
