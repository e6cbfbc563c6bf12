//! `[remote_write]` against a real Prometheus 2.42 started with
//! `--web.enable-remote-write-receiver`: the fixture's series are queryable with the agent's
//! labels, and a minute-long outage loses no sample that fits the queue. `scripts/test`
//! installs Prometheus (Debian package `prometheus`) and builds the Go fixture.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{poll, Fixture};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real Prometheus receiving remote write on a fixed port and data directory, so it can be
/// stopped and started again where it was. Killed on drop.
struct Prometheus {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    receiver: bool,
}

impl Prometheus {
    fn start(dir: &Path) -> Prometheus {
        Self::start_with(dir, true)
    }

    /// `receiver: false` leaves out `--web.enable-remote-write-receiver` (a common mistake).
    fn start_with(dir: &Path, receiver: bool) -> Prometheus {
        let found = Command::new("prometheus")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "prometheus is missing: run scripts/test, which installs it (Debian package \
             'prometheus'), or `apt-get install prometheus`"
        );
        // No scrape jobs: everything it holds arrives by remote write.
        std::fs::write(
            dir.join("prometheus.yml"),
            "global:\n  scrape_interval: 1m\n",
        )
        .unwrap();
        let mut p = Prometheus {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            receiver,
        };
        p.restart();
        p
    }

    /// (Re)start on the same port and data directory, and wait until it is ready.
    fn restart(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("prometheus.log"))
            .unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                self.dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .args(
                self.receiver
                    .then_some("--web.enable-remote-write-receiver"),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let http = client();
        let ready = format!("{}/-/ready", self.url());
        poll(Duration::from_secs(60), "Prometheus to be ready", || {
            let resp = http.get(&ready).send().ok()?;
            resp.status().is_success().then_some(())
        });
    }

    /// SIGTERM by PID, and wait for it to exit.
    fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap();
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// The `result` of an instant query at `time` (now when `None`).
    fn query_at(&self, promql: &str, time: Option<f64>) -> Vec<serde_json::Value> {
        let mut params = vec![("query", promql.to_string())];
        if let Some(t) = time {
            params.push(("time", format!("{t:.3}")));
        }
        let v: serde_json::Value = client()
            .get(format!("{}/api/v1/query", self.url()))
            .query(&params)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(v["status"], "success", "{promql}: {v}");
        v["data"]["result"].as_array().unwrap().clone()
    }

    /// An instant vector's values with their labels.
    fn query(&self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        self.query_at(promql, None)
            .iter()
            .map(|r| {
                let value = r["value"][1].as_str().unwrap().parse().unwrap();
                (r["metric"].clone(), value)
            })
            .collect()
    }

    /// The raw sample timestamps (ms) of one series between `from_ms` and `to_ms`.
    fn timestamps(&self, selector: &str, from_ms: i64, to_ms: i64) -> BTreeSet<i64> {
        let range_s = (to_ms - from_ms) / 1000 + 1;
        let result = self.query_at(
            &format!("{selector}[{range_s}s]"),
            Some(to_ms as f64 / 1000.0),
        );
        result
            .first()
            .map(|series| {
                series["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| (v[0].as_f64().unwrap() * 1000.0).round() as i64)
                    .filter(|ts| *ts >= from_ms)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `leakhound run -c CONFIG` child with its log in a file; killed on drop.
struct Agent {
    child: Option<Child>,
    log: PathBuf,
}

impl Agent {
    /// An agent without its HTTP API.
    fn start(dir: &Path, fixture: &Fixture, remote_write: &str) -> Agent {
        Self::start_web(dir, fixture, remote_write, "enabled = false")
    }

    fn start_web(dir: &Path, fixture: &Fixture, remote_write: &str, web: &str) -> Agent {
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
        let log = dir.join("agent.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_leakhound"))
            .args(["run", "-c", cfg.to_str().unwrap()])
            .env_remove("RUST_LOG")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Agent {
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The agent's `/metrics` text (its HTTP address read from the 'HTTP API on' log line).
    fn metrics(&self) -> Option<String> {
        let log = self.log();
        let rest = log.split("HTTP API on http://").nth(1)?;
        let addr = rest.split(':').take(2).collect::<Vec<_>>().join(":");
        client()
            .get(format!("http://{addr}/metrics"))
            .send()
            .ok()?
            .text()
            .ok()
    }

    /// SIGTERM, and the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Timestamps of the stored samples of target `leaky` with a goroutine count, in a window,
/// read through the `sqlite3` CLI (the store is in WAL mode: safe while the agent writes).
fn stored_timestamps(db: &Path, from_ms: i64, to_ms: i64) -> BTreeSet<i64> {
    let out = Command::new("sqlite3")
        .arg("-readonly")
        .arg(db)
        .arg(format!(
            "SELECT s.ts_ms FROM samples s JOIN targets t ON t.id = s.target_id \
             WHERE t.name = 'leaky' AND s.goroutines IS NOT NULL \
             AND s.ts_ms >= {from_ms} AND s.ts_ms <= {to_ms} ORDER BY s.ts_ms"
        ))
        .output()
        .expect("sqlite3 is installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The value of an unlabelled metric in a /metrics text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn near(a: u64, b: u64, slack: u64) -> bool {
    a.abs_diff(b) <= slack
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
    let prometheus = Prometheus::start(dir.path());
    let agent = Agent::start_web(
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
    let text = agent.metrics().expect("the agent's /metrics");
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
    let prometheus = Prometheus::start_with(dir.path(), false);
    let agent = Agent::start_web(
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
            let text = agent.metrics()?;
            (metric(&text, "leakhound_remote_write_rejected_samples_total")? >= 4.0).then_some(())
        },
    );
    let log = agent.log();
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
    let mut prometheus = Prometheus::start(dir.path());
    let mut agent = Agent::start(
        dir.path(),
        &fx,
        &format!(
            "url = \"{}\"\nflush_interval = \"1s\"\nbatch_size = 50\nmax_backoff = \"2s\"\ntimeout = \"2s\"\n",
            prometheus.write_url()
        ),
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
        agent.log().contains("remote write failed, retrying"),
        "{}",
        agent.log()
    );
    let restart_ms = now_ms();
    assert!(restart_ms - down_ms >= 55_000);
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
                .log()
                .contains("remote write endpoint is back")
                .then_some(())
        },
    );
    assert!(!agent.log().contains("queue is full"), "{}", agent.log());
    eprintln!(
        "{} outage samples delivered {:?} after the restart",
        during.len(),
        started.elapsed()
    );
    assert!(agent.stop().success(), "{}", agent.log());
}
