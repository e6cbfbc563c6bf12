//! `leakhound run`'s HTTP API from the outside ([web]: loopback by default, token, public
//! addresses), against the real Go fixture; the exports checked by the real `promtool`, and
//! a real Prometheus scraping the agent. `scripts/test` installs the peers and builds the fixture.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{leakhound, poll, stderr, Fixture};

/// A `leakhound run` child; its stderr lines are collected, its HTTP address read from them.
struct Agent {
    child: Option<Child>,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    fn start(cfg: &Path, extra: &[&str]) -> Agent {
        Self::start_env(cfg, extra, &[])
    }

    fn start_env(cfg: &Path, extra: &[&str], env: &[(&str, &str)]) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_leakhound"))
            .args(["run", "-c", cfg.to_str().unwrap()])
            .args(extra)
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut agent = Agent {
            child: Some(child),
            addr: String::new(),
            log,
        };
        agent.addr = poll(
            Duration::from_secs(20),
            "the agent's 'HTTP API on' line",
            || {
                agent.log.lock().unwrap().iter().find_map(|l| {
                    let rest = l.split("HTTP API on http://").nth(1)?;
                    Some(rest.split(':').take(2).collect::<Vec<_>>().join(":"))
                })
            },
        );
        agent
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> ExitStatus {
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

fn write_config(dir: &Path, web: &str, targets: &str) -> PathBuf {
    let cfg = dir.join("leakhound.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ndatabase = \"{}\"\nflush_interval = \"100ms\"\n\n[web]\n{web}\n\n{targets}",
            dir.join("leakhound.db").display()
        ),
    )
    .unwrap();
    cfg
}

fn fixture_target(fx: &Fixture) -> String {
    format!(
        "[[targets]]\nname = \"leaky\"\nurl = \"{}\"\ninterval = \"200ms\"\ntimeout = \"200ms\"\njitter = \"0s\"\n",
        fx.url()
    )
}

/// A target nobody answers for (nothing listens on port 9 of loopback here).
const DEAD_TARGET: &str =
    "[[targets]]\nname = \"dead\"\nurl = \"http://127.0.0.1:9\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n";

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn near(a: u64, b: u64, slack: u64) -> bool {
    a.abs_diff(b) <= slack
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn run_serves_the_guides_health_and_metrics_for_the_fixture() {
    let fx = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "listen = \"127.0.0.1:0\"\nguide_metrics = true",
        &fixture_target(&fx),
    );
    let agent = Agent::start(&cfg, &[]);
    assert!(agent.addr.starts_with("127.0.0.1:"), "{}", agent.addr);
    let http = client();
    fx.leak("chan", 300, "openai");
    let want = fx.goroutines();
    // The guide's `curl -s …/api/monitor/health | jq .goroutines`, for a service that has the
    // endpoint only through leakhound.
    let health: serde_json::Value = poll(Duration::from_secs(10), "the leak in /health", || {
        let resp = http
            .get(agent.url("/api/monitor/health?target=leaky"))
            .send()
            .ok()?;
        let v: serde_json::Value = resp.json().ok()?;
        near(v["goroutines"].as_u64()?, want, 10).then_some(v)
    });
    assert_eq!(health["status"], "ok");
    let keys: Vec<&String> = health.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{health}");
    for key in ["alloc_mb", "total_alloc_mb", "sys_mb", "num_gc"] {
        assert!(health["memory"][key].is_u64(), "{key} in {health}");
    }

    let metrics = http
        .get(agent.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let value = |name: &str| -> u64 {
        let prefix = format!("{name}{{target=\"leaky\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{metrics}"))
            .parse()
            .unwrap()
    };
    assert!(near(value("leakhound_goroutines"), want, 10));
    assert_eq!(value("oneapi_goroutines"), value("leakhound_goroutines"));
    assert_eq!(value("leakhound_up"), 1);
    assert_eq!(value("leakhound_level"), 0);

    let targets: serde_json::Value = http
        .get(agent.url("/api/targets"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(targets[0]["name"], "leaky");
    let samples: serde_json::Value = poll(Duration::from_secs(5), "stored samples", || {
        let v: serde_json::Value = http
            .get(agent.url("/api/targets/leaky/samples?since=5m"))
            .send()
            .ok()?
            .json()
            .ok()?;
        (v["samples"].as_array()?.len() >= 3).then_some(v)
    });
    assert_eq!(samples["target"], "leaky");

    let status = agent.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_token_guards_every_route_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "listen = \"127.0.0.1:0\"\ntoken = \"${LH_TEST_WEB_TOKEN}\"",
        DEAD_TARGET,
    );
    let token = "t0ken-that-must-not-leak";
    let agent = Agent::start_env(&cfg, &[], &[("LH_TEST_WEB_TOKEN", token)]);
    let http = client();
    for path in [
        "/metrics",
        "/api/monitor/health?target=dead",
        "/api/targets",
    ] {
        let resp = http.get(agent.url(path)).send().unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        assert!(!resp.text().unwrap().contains(token));
        let resp = http
            .get(agent.url(path))
            .bearer_auth("wrong")
            .send()
            .unwrap();
        assert_eq!(resp.status(), 401, "{path}");
    }
    let resp = http
        .get(agent.url("/api/targets"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!resp.text().unwrap().contains(token));
    // The dead target answers 503 with "down" once probed: uptime checkers see it down.
    poll(Duration::from_secs(10), "the dead target's health", || {
        let resp = http
            .get(agent.url("/api/monitor/health?target=dead"))
            .bearer_auth(token)
            .send()
            .ok()?;
        (resp.status() == 503 && resp.text().ok()?.contains("\"status\":\"down\"")).then_some(())
    });
    assert!(!agent.log().contains(token));
    assert!(agent.stop().success());
}

#[test]
fn a_public_address_needs_a_token_or_insecure_public() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "listen = \"0.0.0.0:0\"", DEAD_TARGET);
    let out = leakhound(&["run", "-c", cfg.to_str().unwrap(), "--duration", "1s"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stderr(&out).trim(),
        "error: [web] listen = \"0.0.0.0:0\" is reachable from other machines, but there is no [web] token: set token = \"${LEAKHOUND_WEB_TOKEN}\", listen on 127.0.0.1, or pass --insecure-public to serve it without one"
    );

    let agent = Agent::start(&cfg, &["--insecure-public"]);
    assert!(agent.addr.starts_with("0.0.0.0:"), "{}", agent.addr);
    assert!(
        agent
            .log()
            .contains("--insecure-public: the HTTP API is open to anyone"),
        "{}",
        agent.log()
    );
    assert!(agent.stop().success());
}

#[test]
fn a_busy_configured_address_is_an_error_with_the_fix() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("listen = \"{addr}\""), DEAD_TARGET);
    let out = leakhound(&["run", "-c", cfg.to_str().unwrap(), "--duration", "1s"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("error: cannot listen on {addr}: "))
            && err.contains(
                "Set [web] listen to a free address (e.g. \"127.0.0.1:9467\"), or enabled = false"
            ),
        "{err}"
    );
}

#[test]
fn web_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "enabled = false", DEAD_TARGET);
    let out = leakhound(&["run", "-c", cfg.to_str().unwrap(), "--duration", "500ms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("HTTP API"), "{}", stderr(&out));
}
