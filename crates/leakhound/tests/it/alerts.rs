//! End-to-end alert tests (issue 5): the real `leakhound` binary against the real Go fixture,
//! delivering to a local webhook receiver (axum on loopback) that records every request with
//! its arrival time, headers and raw body. The receiver checks the documented contract
//! (`docs/webhook.md`): body fields, `Idempotency-Key`, `X-Leakhound-Event`, and the
//! `X-Leakhound-Signature` HMAC, recomputed independently with the `openssl` CLI.
//! Run by `scripts/test` (`--include-ignored`, `LEAKHOUND_FIXTURE` set).

use crate::support;

use leakhound_store::{OutboxCounts, OutboxItem};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{free_port, leakhound, now_ms, poll, stderr, stdout, Agent, Fixture, Hit, Hook};

const SECRET: &str = "whsec-e2e-Zq9+x/y=";

/// HMAC-SHA256 of `body` keyed with `secret`, by `openssl` (independent of leakhound's code).
fn openssl_hmac(secret: &str, body: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret, "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl is installed (scripts/test installs it)");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().to_string()
}

/// Check one delivered request against docs/webhook.md; return its body.
fn check_contract(hit: &Hit) -> serde_json::Value {
    let body = hit.json();
    assert_eq!(
        hit.header("x-leakhound-signature"),
        format!("sha256={}", openssl_hmac(SECRET, &hit.body)),
        "signature of {body}"
    );
    assert!(hit.header("content-type").starts_with("application/json"));
    assert!(hit.header("user-agent").starts_with("leakhound/"));
    assert_eq!(body["version"], 1);
    assert_eq!(body["source"], "leakhound");
    let key = body["idempotency_key"].as_str().unwrap();
    assert!(!key.is_empty());
    assert_eq!(hit.header("idempotency-key"), key);
    let status = body["status"].as_str().unwrap();
    assert!(status == "firing" || status == "resolved", "{body}");
    assert_eq!(hit.header("x-leakhound-event"), status);
    assert!(!body["title"].as_str().unwrap().is_empty());
    assert!(!body["text"].as_str().unwrap().is_empty());
    assert!(body["sent_at"].as_str().unwrap().ends_with('Z'));
    let a = &body["alert"];
    assert_eq!(a["status"], status);
    assert!(a["started_at_ms"].as_i64().unwrap() > 0);
    assert!(a["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(a["evidence"].is_array() && a["suspects"].is_array() && a["labels"].is_object());
    if status == "firing" {
        assert!(a["ended_at_ms"].is_null(), "{body}");
    } else {
        assert!(
            a["ended_at_ms"].as_i64().unwrap() >= a["started_at_ms"].as_i64().unwrap(),
            "{body}"
        );
    }
    body
}

/// Every message in the agent's outbox, any state (none until the database exists).
fn outbox(db: &Path) -> Vec<OutboxItem> {
    let Some(mut store) = support::read_store(db) else {
        return Vec::new();
    };
    ["pending", "sent", "dead"]
        .iter()
        .flat_map(|state| store.list(state, 100_000).unwrap_or_default())
        .collect()
}

/// The agent's outbox, counted by state.
fn outbox_counts(db: &Path) -> OutboxCounts {
    support::read_store(db)
        .and_then(|mut s| s.counts().ok())
        .unwrap_or_default()
}

/// A config for `targets` (name, URL) delivering to a webhook with [`SECRET`]: level rules fire
/// at the first sample, the growth rules (which a step leak also trips) are off.
fn write_config(
    dir: &Path,
    db: &Path,
    interval: &str,
    targets: &[(String, String)],
    hook_url: &str,
) -> PathBuf {
    let text = format!(
        r#"[agent]
database = "{db}"
flush_interval = "100ms"

[defaults]
interval = "{interval}"
timeout = "{interval}"
jitter = "0s"

[alerts.rules.goroutines_warning]
for = "0s"
[alerts.rules.goroutines_urgent]
for = "0s"
[alerts.rules.goroutines_critical]
for = "0s"
[alerts.rules.goroutines_growth]
enabled = false
[alerts.rules.memory_growth]
enabled = false

# These tests count the level rules' own messages: no alert-time evidence follow-ups.
[evidence]
on_alerts = false

[[notifiers]]
name = "hook"
type = "webhook"
url = "{hook_url}"
secret = "{SECRET}"
"#,
        db = db.display()
    );
    support::write_targets_config(dir, text, targets)
}

fn one_target(fx: &Fixture) -> Vec<(String, String)> {
    vec![(
        "leaky".to_string(),
        format!("{}/api/monitor/health", fx.url()),
    )]
}

/// Messages received so far, contract-checked, as (rule, status) → count.
fn tally(hook: &Hook) -> (Vec<serde_json::Value>, BTreeMap<(String, String), usize>) {
    let bodies: Vec<serde_json::Value> = hook.hits().iter().map(check_contract).collect();
    let mut by = BTreeMap::new();
    for b in &bodies {
        let key = (
            b["alert"]["rule"].as_str().unwrap().to_string(),
            b["status"].as_str().unwrap().to_string(),
        );
        *by.entry(key).or_insert(0) += 1;
    }
    (bodies, by)
}

fn count(by: &BTreeMap<(String, String), usize>, rule: &str, status: &str) -> usize {
    by.get(&(rule.to_string(), status.to_string()))
        .copied()
        .unwrap_or(0)
}

fn wait_for_message(hook: &Hook, rule: &str, status: &str, agent: &Agent) {
    let what = format!("a {status} {rule} message");
    let start = std::time::Instant::now();
    loop {
        if count(&tally(hook).1, rule, status) > 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}; got {:?}\nagent log:\n{}",
            tally(hook).1,
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until the agent has stored `n` more samples whose goroutines match `cond` (described
/// by `what`), taken after `since_ms`.
fn wait_for_samples(db: &Path, since_ms: i64, what: &str, cond: fn(u64) -> bool, n: usize) {
    poll(
        Duration::from_secs(60),
        &format!("{n} samples with {what} after {since_ms}"),
        || {
            let matching = support::all_samples(db)
                .iter()
                .filter(|s| s.ts_ms > since_ms && s.metrics.goroutines.is_some_and(cond))
                .count();
            (matching >= n).then_some(())
        },
    );
}

/// Every delivered message is unique by idempotency key, and no message is left pending.
fn assert_no_duplicates(hook: &Hook, db: &Path) {
    poll(Duration::from_secs(30), "an empty outbox", || {
        let c = outbox_counts(db);
        (c.pending + c.dead == 0).then_some(())
    });
    let hits = hook.hits();
    let keys: HashSet<String> = hits
        .iter()
        .map(|h| h.json()["idempotency_key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), hits.len(), "a message was delivered twice");
}

/// GUIDE §9 end to end: the fixture climbs through L1 (> 2000), L2 (> 5000) and L3 (> 10000),
/// holds, then releases everything. The webhook hears exactly one firing and one resolved
/// message per level, each in the documented shape and correctly signed, none twice.
#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn fixture_through_l1_l2_l3_and_back_fires_and_resolves_each_level_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let fx = Fixture::start();
    let hook = Hook::start();
    let config = write_config(dir.path(), &db, "200ms", &one_target(&fx), &hook.url());
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    wait_for_samples(&db, 0, "goroutines < 100", |g| g < 100, 2);
    assert!(hook.hits().is_empty(), "nothing fires at rest");

    fx.leak("chan", 2050, "e2e");
    fx.leak("netread", 50, "e2e");
    wait_for_message(&hook, "goroutines_warning", "firing", &agent);
    fx.leak("select", 3000, "e2e");
    wait_for_message(&hook, "goroutines_urgent", "firing", &agent);
    fx.leak("cond", 2500, "e2e");
    fx.leak("mutex", 2500, "e2e");
    assert!(fx.goroutines() > 10_000);
    wait_for_message(&hook, "goroutines_critical", "firing", &agent);
    // Hold L3 for a while: nothing is repeated or re-announced.
    wait_for_samples(&db, now_ms(), "goroutines > 10000", |g| g > 10_000, 10);
    let (_, held) = tally(&hook);
    assert_eq!(held.values().sum::<usize>(), 3, "{held:?}");

    fx.control("/control/release");
    for rule in [
        "goroutines_warning",
        "goroutines_urgent",
        "goroutines_critical",
    ] {
        wait_for_message(&hook, rule, "resolved", &agent);
    }
    // Back to normal for a while longer: nothing else arrives.
    wait_for_samples(&db, now_ms(), "goroutines < 100", |g| g < 100, 10);
    assert_no_duplicates(&hook, &db);
    let (bodies, by) = tally(&hook);
    for (rule, level, threshold) in [
        ("goroutines_warning", "warning", 2000.0),
        ("goroutines_urgent", "urgent", 5000.0),
        ("goroutines_critical", "critical", 10000.0),
    ] {
        assert_eq!(count(&by, rule, "firing"), 1, "{rule}: {by:?}");
        assert_eq!(count(&by, rule, "resolved"), 1, "{rule}: {by:?}");
        for b in bodies.iter().filter(|b| b["alert"]["rule"] == rule) {
            let a = &b["alert"];
            assert_eq!(a["level"], level);
            assert_eq!(a["target"], "leaky");
            assert_eq!(a["metric"], "goroutines");
            assert_eq!(a["rule_kind"], "level");
            assert_eq!(b["headline"], "High Goroutine Count");
            assert_eq!(a["threshold"].as_f64().unwrap(), threshold);
            let value = a["value"].as_f64().unwrap();
            if b["status"] == "firing" {
                assert!(value > threshold, "{b}");
            } else {
                assert!(value < threshold * 0.9, "{b}");
            }
        }
    }
    assert_eq!(bodies.len(), 6, "{by:?}");
    // Firing messages come in the order of the climb.
    let firing: Vec<&str> = bodies
        .iter()
        .filter(|b| b["status"] == "firing")
        .map(|b| b["alert"]["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        firing,
        [
            "goroutines_warning",
            "goroutines_urgent",
            "goroutines_critical"
        ]
    );
    agent.stop();
}

/// GUIDE §9 L2 with hysteresis: a count bouncing between ~4950 and ~5050 fires urgent once and
/// does not resolve; it resolves once when it drops below 4500 (5000 − 10 %).
#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn a_count_bouncing_around_5000_does_not_flap() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let fx = Fixture::start();
    let hook = Hook::start();
    let config = write_config(dir.path(), &db, "200ms", &one_target(&fx), &hook.url());
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    wait_for_samples(&db, 0, "goroutines < 100", |g| g < 100, 1);

    fx.leak("chan", 4400, "base");
    let g = fx.goroutines();
    fx.leak("cond", 4950 - g, "top");
    let low = fx.goroutines();
    assert!((4920..4980).contains(&low), "{low}");
    wait_for_message(&hook, "goroutines_warning", "firing", &agent);
    for round in 0..4 {
        let t = now_ms();
        fx.leak("select", 100, "bounce");
        assert!(fx.goroutines() > 5020, "round {round}");
        wait_for_samples(&db, t, "goroutines > 5000", |g| g > 5000, 3);
        if round == 0 {
            wait_for_message(&hook, "goroutines_urgent", "firing", &agent);
        }
        let t = now_ms();
        fx.control("/control/release?site=select");
        assert!(fx.goroutines() < 4980, "round {round}");
        wait_for_samples(
            &db,
            t,
            "goroutines in 4500..=5000",
            |g| (4500..=5000).contains(&g),
            3,
        );
    }
    let (_, by) = tally(&hook);
    assert_eq!(count(&by, "goroutines_urgent", "firing"), 1, "{by:?}");
    assert_eq!(count(&by, "goroutines_urgent", "resolved"), 0, "{by:?}");

    // Below the hysteresis mark (4500): L2 resolves, once; L1 still holds and stays quiet.
    let t = now_ms();
    fx.control("/control/release?site=cond");
    wait_for_message(&hook, "goroutines_urgent", "resolved", &agent);
    wait_for_samples(
        &db,
        t,
        "goroutines in 2000..=4500",
        |g| (2000..=4500).contains(&g),
        10,
    );
    assert_no_duplicates(&hook, &db);
    let (bodies, by) = tally(&hook);
    assert_eq!(count(&by, "goroutines_urgent", "firing"), 1, "{by:?}");
    assert_eq!(count(&by, "goroutines_urgent", "resolved"), 1, "{by:?}");
    assert_eq!(count(&by, "goroutines_warning", "firing"), 1, "{by:?}");
    assert_eq!(count(&by, "goroutines_warning", "resolved"), 0, "{by:?}");
    assert_eq!(bodies.len(), 3, "{by:?}");
    agent.stop();
}

/// Issue 5 "delivery that loses nothing": 100 targets cross L1 at once while the webhook peer
/// is down, so 100 messages wait in the outbox; the agent is killed with SIGKILL; the peer
/// comes back; the restarted agent (same database) delivers all 100, none twice, and does not
/// announce the still-firing alerts again.
#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn kill_9_with_100_pending_then_restart_delivers_each_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let fx = Fixture::start();
    fx.leak("chan", 2100, "e2e");
    let port = free_port();
    let hook_url = format!("http://127.0.0.1:{port}/hook");
    let targets: Vec<(String, String)> = (0..100)
        .map(|i| {
            (
                format!("t{i:03}"),
                format!("{}/api/monitor/health", fx.url()),
            )
        })
        .collect();
    let config = write_config(dir.path(), &db, "1s", &targets, &hook_url);
    let log = dir.path().join("agent.log");

    let agent = Agent::start(&config, &log);
    // All 100 queued and each tried once against the closed port.
    poll(Duration::from_secs(60), "100 failed attempts", || {
        let tried = outbox(&db)
            .iter()
            .filter(|m| m.state == "pending" && m.attempts >= 1)
            .count();
        (tried == 100).then_some(())
    });
    let queued: HashSet<String> = outbox(&db).into_iter().map(|m| m.key).collect();
    assert_eq!(queued.len(), 100);
    agent.kill9();
    assert_eq!(outbox_counts(&db).pending, 100);

    let hook = Hook::start_on(format!("127.0.0.1:{port}").parse().unwrap());
    let agent = Agent::start(&config, &log);
    poll(Duration::from_secs(90), "100 deliveries", || {
        (hook.hits().len() >= 100).then_some(())
    });
    // Keep running a few rounds of samples: nothing is sent again or re-announced.
    wait_for_samples(&db, now_ms(), "goroutines > 2000", |g| g > 2000, 300);
    assert_no_duplicates(&hook, &db);
    let hits = hook.hits();
    let bodies: Vec<serde_json::Value> = hits.iter().map(check_contract).collect();
    let targets: HashSet<&str> = bodies
        .iter()
        .map(|b| b["alert"]["target"].as_str().unwrap())
        .collect();
    let keys: HashSet<String> = bodies
        .iter()
        .map(|b| b["idempotency_key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        hits.len(),
        100,
        "extra: {:?}",
        keys.difference(&queued).collect::<Vec<_>>()
    );
    assert_eq!(targets.len(), 100);
    assert_eq!(keys, queued, "the queued messages, and only those");
    assert!(bodies
        .iter()
        .all(|b| b["alert"]["rule"] == "goroutines_warning" && b["status"] == "firing"));
    agent.stop();
}

/// GUIDE-operator secrets in every channel, each pointed at a dead loopback port.
struct Secrets {
    webhook: &'static str,
    dingtalk_secret: &'static str,
    dingtalk_token: &'static str,
    wecom_key: &'static str,
    smtp_password: &'static str,
    telegram_token: &'static str,
}

const SECRETS: Secrets = Secrets {
    webhook: "wh-sig+Key/1=",
    dingtalk_secret: "SECdt0a1b2c3d4e5f+/=",
    dingtalk_token: "dt-access-7f3a9c",
    wecom_key: "wecom-key-693a91f6-7xx",
    smtp_password: "smtp-pw S3cr3t&?#",
    telegram_token: "123456789:AAtg-Bot_Token+x",
};

fn url_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn secrets_config(dir: &Path, fx: &Fixture, dead: u16, extra: &str) -> PathBuf {
    let s = &SECRETS;
    let text = format!(
        r#"[agent]
database = "{db}"
flush_interval = "100ms"

[defaults]
interval = "250ms"
timeout = "250ms"
jitter = "0s"

[alerts.rules.goroutines_warning]
for = "0s"

[evidence]
on_alerts = false

[[targets]]
name = "leaky"
url = "{fixture}/api/monitor/health"

[[notifiers]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:{dead}/hook"
secret = "{webhook}"
{extra}
[[notifiers]]
name = "ding"
type = "dingtalk"
url = "http://127.0.0.1:{dead}/robot/send"
access_token = "{dt_token}"
secret = "{dt_secret}"

[[notifiers]]
name = "wecom"
type = "wecom"
url = "http://127.0.0.1:{dead}/cgi-bin/webhook/send"
key = "{wecom}"

[[notifiers]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = {dead}
tls = "none"
username = "alerts"
password = "{smtp}"
from = "leakhound <alerts@example.com>"
to = ["ops@example.com"]

[[notifiers]]
name = "tg"
type = "telegram"
api_base = "http://127.0.0.1:{dead}"
bot_token = "{tg}"
chat_id = -1001234567890
"#,
        db = dir.join("s.db").display(),
        fixture = fx.url(),
        webhook = s.webhook,
        dt_token = s.dingtalk_token,
        dt_secret = s.dingtalk_secret,
        wecom = s.wecom_key,
        smtp = s.smtp_password,
        tg = s.telegram_token,
    );
    let path = dir.join(if extra.is_empty() {
        "s.toml"
    } else {
        "bad.toml"
    });
    std::fs::write(&path, text).unwrap();
    path
}

fn assert_no_secret(what: &str, text: &str) {
    let s = &SECRETS;
    for secret in [
        s.webhook,
        s.dingtalk_secret,
        s.dingtalk_token,
        s.wecom_key,
        s.smtp_password,
        s.telegram_token,
    ] {
        for form in [secret.to_string(), url_encoded(secret)] {
            assert!(
                !text.contains(&form),
                "{what} shows the secret {form:?}:\n{text}"
            );
        }
    }
    // The Telegram token's secret half alone, and DingTalk's secret without its prefix.
    assert!(!text.contains("AAtg-Bot_Token"), "{what}:\n{text}");
    assert!(!text.contains("dt0a1b2c3d4e5f"), "{what}:\n{text}");
}

/// House rule 8: secrets never appear in logs, errors or output — `config check` (a good file
/// and one with a mistake next to the secrets), `notify test` on every channel failing against
/// a dead port (text and JSON logs), and the agent failing to deliver a real alert on all five.
#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn secrets_never_appear_in_logs_errors_or_output() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::start();
    let dead = free_port();
    let good = secrets_config(dir.path(), &fx, dead, "");
    let bad = secrets_config(dir.path(), &fx, dead, "sekret = \"x\"\n");
    let good_s = good.to_str().unwrap();

    let out = leakhound(&["config", "check", good_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("hook (webhook)"), "{}", stdout(&out));
    assert_no_secret("config check", &(stdout(&out) + &stderr(&out)));
    let out = leakhound(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("sekret"), "{}", stderr(&out));
    assert_no_secret(
        "config check of a bad file",
        &(stdout(&out) + &stderr(&out)),
    );

    for name in ["hook", "ding", "wecom", "mail", "tg"] {
        for format in ["text", "json"] {
            let out = leakhound(&[
                "--log-format",
                format,
                "--debug",
                "notify",
                "test",
                name,
                "-c",
                good_s,
            ]);
            let all = stdout(&out) + &stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{name}: {all}");
            assert!(all.contains("failed"), "{name}: {all}");
            assert_no_secret(&format!("notify test {name} ({format})"), &all);
        }
    }

    fx.leak("chan", 2100, "secrets");
    for format in ["text", "json"] {
        let out = leakhound(&[
            "--log-format",
            format,
            "--debug",
            "run",
            "-c",
            good_s,
            "--duration",
            "4s",
        ]);
        let all = stdout(&out) + &stderr(&out);
        assert!(out.status.success(), "{all}");
        for channel in ["hook", "ding", "wecom", "mail", "tg"] {
            assert!(
                all.lines()
                    .any(|l| l.contains("delivery failed") && l.contains(channel)),
                "{channel} never failed a delivery ({format}):\n{all}"
            );
        }
        assert_no_secret(&format!("the agent's {format} log"), &all);
    }
    let db = dir.path().join("s.db");
    let errors: String = outbox(&db)
        .iter()
        .map(|m| match &m.last_error {
            Some(e) => format!("{}: {e}\n", m.channel),
            None => "\n".to_string(),
        })
        .collect();
    assert!(errors.lines().count() >= 5, "{errors}");
    assert_no_secret("the outbox's stored errors", &errors);
}

/// `leakhound notify test NAME`: exit 0 when the peer takes it (and it is signed), exit 2 with
/// the reason when the peer is down, exit 3 listing the known names for an unknown one.
#[test]
fn notify_test_exit_codes_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start();
    let dead = free_port();
    let path = dir.path().join("n.toml");
    std::fs::write(
        &path,
        format!(
            r#"[[targets]]
url = "http://127.0.0.1:{dead}"

[[notifiers]]
name = "hook"
type = "webhook"
url = "{url}"
secret = "{SECRET}"

[[notifiers]]
name = "down"
type = "webhook"
url = "http://127.0.0.1:{dead}/hook"
"#,
            url = hook.url()
        ),
    )
    .unwrap();
    let cfg = path.to_str().unwrap();

    let out = leakhound(&["notify", "test", "hook", "-c", cfg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sent a test message through 'hook' (webhook)"),
        "{}",
        stdout(&out)
    );
    let hits = hook.hits();
    assert_eq!(hits.len(), 1);
    check_contract(&hits[0]);

    let out = leakhound(&["notify", "test", "down", "-c", cfg]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the test message through 'down' (webhook) failed"),
        "{err}"
    );
    assert!(err.contains(&format!("127.0.0.1:{dead}")), "{err}");
    assert!(err.contains("temporary; the agent would retry"), "{err}");

    let out = leakhound(&["notify", "test", "pager", "-c", cfg]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no notifier named 'pager'"), "{err}");
    assert!(
        err.contains("hook, down") || err.contains("down, hook"),
        "{err}"
    );
    assert_eq!(hook.hits().len(), 1, "only the first test reached the peer");
}
