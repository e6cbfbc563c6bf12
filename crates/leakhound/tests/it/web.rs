//! `leakhound run`'s HTTP API from the outside ([web]: loopback by default, token, public
//! addresses), against the real Go fixture; the exports checked by the real `promtool`, and
//! a real Prometheus scraping the agent. `scripts/test` installs the peers and builds the fixture.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{http_client as client, leakhound, near, poll, stderr, Fixture, Prometheus};

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
    let agent = support::agent(&cfg).start();
    assert!(
        agent.http_addr().starts_with("127.0.0.1:"),
        "{}",
        agent.http_addr()
    );
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

    agent.stop();
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
    let agent = support::agent(&cfg).env("LH_TEST_WEB_TOKEN", token).start();
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
    assert!(!agent.log_text().contains(token));
    agent.stop();
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

    let agent = support::agent(&cfg).args(&["--insecure-public"]).start();
    assert!(
        agent.http_addr().starts_with("0.0.0.0:"),
        "{}",
        agent.http_addr()
    );
    assert!(
        agent
            .log_text()
            .contains("--insecure-public: the HTTP API is open to anyone"),
        "{}",
        agent.log_text()
    );
    agent.stop();
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
fn an_address_outside_the_allowlist_gets_403() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "listen = \"127.0.0.1:0\"\nallow = [\"10.0.0.0/8\"]",
        DEAD_TARGET,
    );
    let agent = support::agent(&cfg).start();
    let resp = client().get(agent.url("/metrics")).send().unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.text().unwrap(),
        r#"{"error":"your address is not in the agent's [web] allow list"}"#
    );
    drop(agent);

    let cfg = write_config(
        dir.path(),
        "listen = \"127.0.0.1:0\"\nallow = [\"10.0.0.0/8\", \"127.0.0.1\"]",
        DEAD_TARGET,
    );
    let agent = support::agent(&cfg).start();
    let resp = client().get(agent.url("/metrics")).send().unwrap();
    assert_eq!(resp.status(), 200);
    agent.stop();
}

#[test]
fn web_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "enabled = false", DEAD_TARGET);
    let out = leakhound(&["run", "-c", cfg.to_str().unwrap(), "--duration", "500ms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("HTTP API"), "{}", stderr(&out));
}

/// Debian's `prometheus` package's promtool; a test that needs it fails with the fix without it.
fn promtool() -> &'static str {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "promtool is missing: run scripts/test, which installs it (Debian package 'prometheus'), \
         or `apt-get install prometheus`"
    );
    "promtool"
}

fn export(args: &[&str]) -> String {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let out = leakhound(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    support::stdout(&out)
}

/// `promtool check rules FILE`: its stdout, after asserting success.
fn check_rules(path: &Path) -> String {
    let out = Command::new(promtool())
        .args(["check", "rules", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check rules failed:\n{text}");
    text
}

const CUSTOM_ALERTS: &str = "[levels]\nwarning = 1500\nurgent = 4000\ncritical = 8000\n\n\
    [alerts.rules.memory_growth]\nenabled = false\n\n\
    [alerts.rules.goroutines_urgent]\nfor = \"2m\"\n\n\
    [alerts.rules.goroutines_3k]\nkind = \"level\"\nabove = 3000\nfor = \"10m\"\nseverity = \"warning\"\n";

#[test]
#[ignore = "needs promtool: run scripts/test"]
fn exported_rules_pass_promtool_check_rules() {
    let dir = tempfile::tempdir().unwrap();
    let default_rules = dir.path().join("default.yml");
    std::fs::write(&default_rules, export(&["prometheus-rules"])).unwrap();
    // 5 recording rules + the 10 built-in alert rules.
    assert!(
        check_rules(&default_rules).contains("SUCCESS: 15 rules found"),
        "{}",
        check_rules(&default_rules)
    );

    // A config's own levels, `for`s, extra and disabled rules are what gets exported.
    let cfg = dir.path().join("custom.toml");
    std::fs::write(&cfg, CUSTOM_ALERTS).unwrap();
    let out = dir.path().join("custom.yml");
    let printed = export(&[
        "prometheus-rules",
        "-c",
        cfg.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(printed, "");
    assert!(check_rules(&out).contains("SUCCESS: 15 rules found"));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains(
        "      - alert: LeakhoundGoroutinesUrgent\n        expr: \"leakhound_goroutines > 4000\"\n        for: 2m\n"
    ));
    assert!(text.contains(
        "      - alert: LeakhoundGoroutines3k\n        expr: \"leakhound_goroutines > 3000\"\n        for: 10m\n"
    ));
    assert!(!text.contains("LeakhoundMemoryGrowth"));

    // Alerts off: only the recording rules.
    std::fs::write(&cfg, "[alerts]\nenabled = false\n").unwrap();
    std::fs::write(
        &out,
        export(&["prometheus-rules", "-c", cfg.to_str().unwrap()]),
    )
    .unwrap();
    assert!(check_rules(&out).contains("SUCCESS: 5 rules found"));
}

#[test]
#[ignore = "needs promtool: run scripts/test"]
fn promtool_sees_the_urgent_alert_fire_above_5000() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), export(&["prometheus-rules"])).unwrap();
    // 5000 for 3 minutes (not above 5000), then 5234 (the guide's "High goroutine count
    // detected: 5234"): pending at 3m30s, firing once it held the rule's `for` of 1m.
    let test = r#"rule_files:
  - rules.yml
evaluation_interval: 30s
tests:
  - interval: 30s
    input_series:
      - series: 'leakhound_goroutines{target="one-api"}'
        values: '5000x6 5234x6'
    alert_rule_test:
      - eval_time: 3m
        alertname: LeakhoundGoroutinesUrgent
        exp_alerts: []
      - eval_time: 4m
        alertname: LeakhoundGoroutinesUrgent
        exp_alerts: []
      - eval_time: 4m30s
        alertname: LeakhoundGoroutinesUrgent
        exp_alerts:
          - exp_labels:
              severity: urgent
              leakhound_rule: goroutines_urgent
              target: one-api
            exp_annotations:
              summary: "one-api: goroutines 5234 > 5000 (alert urgent) for 1m"
              description: "leakhound rule 'goroutines_urgent' (level), exported from its [alerts] config"
      - eval_time: 4m30s
        alertname: LeakhoundGoroutinesCritical
        exp_alerts: []
"#;
    let test_file = dir.path().join("urgent_test.yml");
    std::fs::write(&test_file, test).unwrap();
    let out = Command::new(promtool())
        .args(["test", "rules", test_file.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool test rules failed:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
#[ignore = "needs promtool: run scripts/test"]
fn grafana_dashboard_has_the_guides_bands_and_valid_queries() {
    let dir = tempfile::tempdir().unwrap();
    let text = export(&["grafana"]);
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "leakhound");
    let vars = dashboard["templating"]["list"].as_array().unwrap();
    assert_eq!(vars[0]["type"], "datasource");
    assert_eq!(vars[0]["query"], "prometheus");
    let panels = dashboard["panels"].as_array().unwrap();
    for p in panels {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
    }
    let goroutines = panels
        .iter()
        .find(|p| p["title"] == "Goroutine Count")
        .unwrap();
    let bands: Vec<u64> = goroutines["fieldConfig"]["defaults"]["thresholds"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["value"].as_u64())
        .collect();
    assert_eq!(bands, [2000, 5000, 10000]);
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"Memory used") && titles.contains(&"Up"),
        "{titles:?}"
    );

    // Every query of the dashboard parses as PromQL: promtool checks them as recording rules.
    let queries = leakhound_core::export::dashboard_queries(&dashboard);
    assert!(queries.len() >= 6, "{queries:?}");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, q) in queries.iter().enumerate() {
        let q = q.replace("$target", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(&q).unwrap()
        ));
    }
    let file = dir.path().join("dashboard_queries.yml");
    std::fs::write(&file, rules).unwrap();
    check_rules(&file);

    // A config's levels move the bands.
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, CUSTOM_ALERTS).unwrap();
    let custom: serde_json::Value =
        serde_json::from_str(&export(&["grafana", "-c", cfg.to_str().unwrap()])).unwrap();
    let steps = &custom["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"];
    assert_eq!(steps[1]["value"], 1500);
    assert_eq!(steps[3]["value"], 8000);
}

#[test]
#[ignore = "needs the Go fixture and Prometheus: run scripts/test"]
fn prometheus_scrapes_the_agent_and_sees_the_fixtures_goroutines() {
    let fx = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "listen = \"127.0.0.1:0\"", &fixture_target(&fx));
    let agent = support::agent(&cfg).start();
    std::fs::write(dir.path().join("rules.yml"), export(&["prometheus-rules"])).unwrap();
    let prometheus = Prometheus::start(
        dir.path(),
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: leakhound\n    static_configs:\n      - targets: ['{}']\n",
            dir.path().join("rules.yml").display(),
            agent.http_addr()
        ),
    );
    fx.leak("chan", 400, "openai");
    let want = fx.goroutines();
    let got = poll(
        Duration::from_secs(30),
        "leakhound_goroutines in Prometheus matching the fixture",
        || {
            let r = prometheus.query("leakhound_goroutines{target=\"leaky\"}");
            let (labels, value) = r.first()?;
            near(*value as u64, want, 10).then(|| (labels.clone(), *value))
        },
    );
    assert_eq!(got.0["job"], "leakhound", "{}", prometheus.log());
    assert_eq!(got.0["instance"], agent.http_addr().as_str());
    let up = prometheus.query("up{job=\"leakhound\"}");
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].1, 1.0);
    assert_eq!(prometheus.query("leakhound_up{target=\"leaky\"}")[0].1, 1.0);
    // The exported recording rules run on the real series.
    poll(Duration::from_secs(15), "the memory recording rule", || {
        let r = prometheus.query("leakhound:memory_used_bytes{target=\"leaky\"}");
        (r.first()?.1 > 0.0).then_some(())
    });
    // The agent stops promptly while Prometheus still holds its scrape connection open.
    let started = std::time::Instant::now();
    agent.stop();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stopping took {:?}",
        started.elapsed()
    );
    drop(prometheus);
}
