//! Live reload of `leakhound run` (issue 15): `SIGHUP` and `POST /-/reload` re-read the config
//! file; a file with mistakes keeps the running config and says why; the route needs the token.

use crate::support::{self, agent, poll};
use std::path::Path;
use std::time::Duration;

const TOKEN: &str = "reload-token-1";

fn write_config(path: &Path, db: &Path, targets: &[&str], extra: &str) {
    let mut text = format!(
        "[agent]\ndatabase = \"{}\"\n\n[web]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\n[defaults]\ninterval = \"200ms\"\ntimeout = \"150ms\"\njitter = \"0s\"\n{extra}\n",
        db.display()
    );
    for name in targets {
        // Nothing listens there: every probe is a stored "down" sample.
        text.push_str(&format!(
            "\n[[targets]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:9/\"\n"
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// `/api/targets` (with the token): every target's latest state.
fn targets_now(client: &reqwest::blocking::Client, url: &str) -> Vec<serde_json::Value> {
    let body: serde_json::Value = client
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    match body {
        serde_json::Value::Array(targets) => targets,
        other => panic!("/api/targets answered {other}"),
    }
}

/// The time of alpha's latest sample.
fn alpha_ts(client: &reqwest::blocking::Client, url: &str) -> i64 {
    targets_now(client, url)
        .iter()
        .find(|t| t["name"] == "alpha")
        .and_then(|t| t["ts_ms"].as_i64())
        .unwrap_or(0)
}

/// Wait until alpha has been probed a few more times (so a stopped prober would show).
fn a_few_probes(client: &reqwest::blocking::Client, url: &str) {
    let since = alpha_ts(client, url);
    poll(
        Duration::from_secs(20),
        "three more probes of alpha",
        || (alpha_ts(client, url) >= since + 600).then_some(()),
    );
}

fn watched(client: &reqwest::blocking::Client, url: &str) -> Vec<String> {
    let mut names: Vec<String> = targets_now(client, url)
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn sighup_and_post_reload_change_the_targets_and_a_bad_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("leakhound.toml");
    let db = dir.path().join("lh.db");
    write_config(&config, &db, &["alpha", "beta"], "");
    let lh = agent(&config).start();
    let client = support::http_client();
    let targets = lh.url("/api/targets");
    poll(Duration::from_secs(20), "both targets watched", || {
        (watched(&client, &targets) == ["alpha", "beta"]).then_some(())
    });
    a_few_probes(&client, &targets);

    // SIGHUP: beta goes, gamma comes; the agent keeps running.
    write_config(&config, &db, &["alpha", "gamma"], "");
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &lh.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    poll(Duration::from_secs(20), "the SIGHUP reload", || {
        (watched(&client, &targets) == ["alpha", "gamma"]).then_some(())
    });
    a_few_probes(&client, &targets);
    assert!(
        lh.log_text().contains(
            "SIGHUP: config reloaded: targets: 1 added (gamma), 1 removed (beta), 1 unchanged"
        ),
        "{}",
        lh.log_text()
    );

    // The route needs the token.
    let reload = lh.url("/-/reload");
    let anonymous = client.post(&reload).send().unwrap();
    assert_eq!(anonymous.status(), 401);

    // A file with a mistake: 400 with the mistake, the running config kept.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("interval = \"200ms\"", "interval = \"fast\""),
    )
    .unwrap();
    let refused = client.post(&reload).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(refused.status(), 400);
    let why: serde_json::Value = refused.json().unwrap();
    let why = why["error"].as_str().unwrap();
    assert!(
        why.contains("leakhound.toml:") && why.contains("'fast'"),
        "{why}"
    );
    assert!(why.contains("the running config is kept"), "{why}");
    assert_eq!(watched(&client, &targets), ["alpha", "gamma"]);
    a_few_probes(&client, &targets);

    // A good file over HTTP: the report says what changed, and what waits for a restart.
    write_config(
        &config,
        &db,
        &["alpha", "beta", "gamma"],
        "\n[levels]\nwarning = 4000\n",
    );
    let done = client.post(&reload).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(done.status(), 200);
    let body: serde_json::Value = done.json().unwrap();
    assert_eq!(body["status"], "reloaded");
    let report = body["report"].as_str().unwrap();
    assert_eq!(
        report, "targets: 1 added (beta), 2 unchanged; alert rules replaced",
        "{body}"
    );
    assert_eq!(watched(&client, &targets), ["alpha", "beta", "gamma"]);
    a_few_probes(&client, &targets);
    let started = std::time::Instant::now();
    let log = lh.log_text();
    lh.stop();
    assert!(started.elapsed() < Duration::from_secs(30));

    // alpha was never stopped: its samples have no hole across the three reloads.
    let samples: Vec<i64> = support::all_samples(&db)
        .into_iter()
        .filter(|s| s.target == "alpha")
        .map(|s| s.ts_ms)
        .collect();
    assert!(
        samples.len() >= 5,
        "{} samples; log:\n{}",
        samples.len(),
        log
    );
    let worst = samples.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        worst < 1000,
        "a {worst} ms hole in alpha's samples (interval 200 ms)"
    );
}
