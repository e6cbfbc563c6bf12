//! An HA pair of agents behind an Alertmanager cluster (issue 15): two real Alertmanagers
//! (Debian's `prometheus-alertmanager`) gossiping on loopback, each notifying one webhook
//! receiver; two agents watching the same Go fixture, each sending to both Alertmanagers
//! (`urls = [...]`). The pair's alerts carry identical labels, so the cluster notifies once per
//! alert and state; with one agent killed (SIGKILL) the other carries on, and the resolve
//! arrives once. Run by `scripts/test` (`--include-ignored`, `LEAKHOUND_FIXTURE` set).

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{free_port, now_ms, poll, Agent, Fixture, Hook, PeerSlot, Progress};

const ALERTMANAGER: &str = "prometheus-alertmanager";

/// How long an Alertmanager further down the cluster waits for the first one's notification
/// (gossiped through the notification log) before sending its own.
const PEER_TIMEOUT: Duration = Duration::from_secs(3);

/// One Alertmanager of the cluster; killed on drop.
struct Am {
    child: Child,
    web: u16,
    dir: PathBuf,
    _slot: PeerSlot,
}

impl Am {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.web)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("alertmanager.log")).unwrap_or_default()
    }

    /// `GET /api/v2/status`.
    fn status(&self) -> Option<serde_json::Value> {
        support::http_client()
            .get(format!("{}/api/v2/status", self.url()))
            .send()
            .ok()?
            .json()
            .ok()
    }
}

impl Drop for Am {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two Alertmanagers peered with each other, notifying `hook` (group per alert and severity,
/// group_wait 1 s, nothing repeated), ready and settled.
fn cluster(dir: &Path, hook: &str) -> Vec<Am> {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname, target, severity]\n  \
             group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 24h\n\
             receivers:\n  - name: hook\n    webhook_configs:\n      - url: \"{hook}\"\n        \
             send_resolved: true\n"
        ),
    )
    .unwrap();
    let gossip = [free_port(), free_port()];
    let ams: Vec<Am> = (0..2)
        .map(|i| {
            let slot = PeerSlot::take();
            let d = dir.join(format!("am{i}"));
            std::fs::create_dir_all(&d).unwrap();
            let web = free_port();
            let log = std::fs::File::create(d.join("alertmanager.log")).unwrap();
            let child = Command::new(ALERTMANAGER)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", d.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{web}"))
                .arg(format!("--cluster.listen-address=127.0.0.1:{}", gossip[i]))
                .arg(format!(
                    "--cluster.advertise-address=127.0.0.1:{}",
                    gossip[i]
                ))
                .arg(format!("--cluster.peer=127.0.0.1:{}", gossip[1 - i]))
                .arg("--cluster.gossip-interval=100ms")
                .arg("--cluster.pushpull-interval=1s")
                .arg(format!(
                    "--cluster.peer-timeout={}s",
                    PEER_TIMEOUT.as_secs()
                ))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "start {ALERTMANAGER} ({e}): run scripts/test, which installs it \
                         (Debian package 'prometheus-alertmanager')"
                    )
                });
            Am {
                child,
                web,
                dir: d,
                _slot: slot,
            }
        })
        .collect();
    poll(
        Duration::from_secs(60),
        "both Alertmanagers ready, each seeing two peers",
        || {
            ams.iter()
                .all(|am| {
                    am.status().is_some_and(|s| {
                        s["cluster"]["status"] == "ready"
                            && s["cluster"]["peers"]
                                .as_array()
                                .is_some_and(|p| p.len() == 2)
                    })
                })
                .then_some(())
        },
    );
    ams
}

/// An agent on the fixture every 500 ms whose level rules fire at once, notifying both
/// Alertmanagers; its remote-write `replica` label (to an endpoint nobody listens on) must not
/// reach the alerts.
fn start_agent(dir: &Path, replica: &str, fx: &Fixture, ams: &[Am], dead: u16) -> (Agent, PathBuf) {
    let d = dir.join(replica);
    std::fs::create_dir_all(&d).unwrap();
    let db = d.join("leakhound.db");
    let urls: Vec<String> = ams.iter().map(|a| format!("\"{}\"", a.url())).collect();
    let text = format!(
        r#"[agent]
database = "{db}"
flush_interval = "100ms"

[defaults]
interval = "500ms"
timeout = "500ms"
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

[evidence]
on_alerts = false

[remote_write]
url = "http://127.0.0.1:{dead}/api/v1/write"
labels = {{ replica = "{replica}", instance = "leakhound-ha" }}

[[notifiers]]
name = "am"
type = "alertmanager"
urls = [{urls}]
resend_interval = "5s"
"#,
        db = db.display(),
        urls = urls.join(", "),
    );
    let config = support::write_targets_config(&d, text, &[("leaky", fx.url())]);
    (Agent::start(&config, &d.join("agent.log")), db)
}

/// The receiver's notifications of alertname `goroutines`, counted by (severity, status), with
/// every label set seen.
fn notifications(hook: &Hook) -> (BTreeMap<(String, String), usize>, Vec<serde_json::Value>) {
    let mut by = BTreeMap::new();
    let mut labels = Vec::new();
    for body in hook.bodies() {
        for a in body["alerts"].as_array().into_iter().flatten() {
            if a["labels"]["alertname"] != "goroutines" {
                continue;
            }
            let key = (
                a["labels"]["severity"].as_str().unwrap_or("").to_string(),
                body["status"].as_str().unwrap_or("").to_string(),
            );
            *by.entry(key).or_default() += 1;
            labels.push(a["labels"].clone());
        }
    }
    (by, labels)
}

fn count(by: &BTreeMap<(String, String), usize>, severity: &str, status: &str) -> usize {
    by.get(&(severity.to_string(), status.to_string()))
        .copied()
        .unwrap_or(0)
}

/// Wait for the first `severity`/`status` notification, then hold for longer than the
/// cluster's peer timeout: still exactly one.
/// On failure it also prints the survivor's (`db`) own transitions, to tell an agent that fired
/// twice from a cluster that notified twice.
fn exactly_one(hook: &Hook, ams: &[Am], db: &Path, severity: &str, status: &str) {
    let what = format!("a {status} notification of the {severity} alert");
    poll(Duration::from_secs(90), &what, || {
        (count(&notifications(hook).0, severity, status) > 0).then_some(())
    });
    let hold = PEER_TIMEOUT * 2 + Duration::from_secs(2);
    let start = Instant::now();
    let mut ticker = Progress::new(&format!("no second {what}"));
    while start.elapsed() < hold {
        let (by, _) = notifications(hook);
        if count(&by, severity, status) != 1 {
            let transitions: Vec<String> = support::read_store(db)
                .and_then(|mut s| s.alert_events(None, 50).ok())
                .unwrap_or_default()
                .iter()
                .rev()
                .map(|t| format!("{} {} {:?} value {}", t.at_ms, t.rule, t.kind, t.value))
                .collect();
            panic!(
                "{what} arrived {} times: {by:?}\nthe survivor's transitions:\n{}\n{}\n{}",
                count(&by, severity, status),
                transitions.join("\n"),
                ams[0].log(),
                ams[1].log()
            );
        }
        ticker.tick(|| format!("{by:?}"));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs prometheus-alertmanager and the Go fixture; scripts/test runs it"]
fn an_ha_pair_behind_an_alertmanager_cluster_notifies_once_and_survives_losing_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start();
    let ams = cluster(dir.path(), &hook.url());
    let fx = Fixture::start();
    let dead = free_port();
    let (a, db_a) = start_agent(dir.path(), "a", &fx, &ams, dead);
    let (b, db_b) = start_agent(dir.path(), "b", &fx, &ams, dead);

    // Warning on both agents: both deliver it to both Alertmanagers, one notification.
    fx.leak("chan", 2050, "ha");
    poll(
        Duration::from_secs(60),
        "both agents delivering the warning",
        || {
            [&db_a, &db_b]
                .iter()
                .all(|db| {
                    support::read_store(db)
                        .and_then(|mut s| s.counts().ok())
                        .is_some_and(|c| c.sent >= 1)
                })
                .then_some(())
        },
    );
    exactly_one(&hook, &ams, &db_a, "warning", "firing");
    let (_, labels) = notifications(&hook);
    assert!(
        labels.iter().all(|l| l.get("replica").is_none()
            && l.get("transition").is_none()
            && l["target"] == "leaky"),
        "{labels:?}"
    );

    // One agent dies; a new alert still arrives, once.
    b.kill9();
    let killed_ms = now_ms();
    fx.leak("select", 3000, "ha");
    exactly_one(&hook, &ams, &db_a, "urgent", "firing");

    // Everything resolves: each resolve once (the dead agent's last firing alert is
    // overridden by the survivor's resolve of the same alert).
    fx.control("/control/release");
    exactly_one(&hook, &ams, &db_a, "urgent", "resolved");
    exactly_one(&hook, &ams, &db_a, "warning", "resolved");
    let (by, _) = notifications(&hook);
    assert_eq!(
        by,
        BTreeMap::from([
            (("urgent".into(), "firing".into()), 1),
            (("urgent".into(), "resolved".into()), 1),
            (("warning".into(), "firing".into()), 1),
            (("warning".into(), "resolved".into()), 1),
        ])
    );
    eprintln!(
        "resolved {} s after the kill",
        (now_ms() - killed_ms) / 1000
    );
    a.stop();
}
