//! Issue 13, hostile targets against the real `leakhound` binary, with tiny loopback servers
//! instead of the Go fixture (no peers needed): secrets in target URLs never leave the process,
//! target text is capped and escaped everywhere it goes, absurd readings are rejected without
//! an alert or an action, and a dead log reader does not stop the agent.

use crate::support;

use leakhound_core::rules::Transition;
use leakhound_core::Sample;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::{agent, free_port, leakhound, poll, stderr, stdout, Hook};

const SECRET: &str = "SECRET123";

/// One request as a tiny server saw it (its body is read and dropped).
#[derive(Debug, Clone)]
struct Request {
    head: String,
}

/// Read one HTTP/1.1 request (head, and a body of `content-length` bytes).
fn read_request(stream: &mut TcpStream) -> Option<Request> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            // Not HTTP (a TLS ClientHello): hand back what came.
            return (!buf.is_empty()).then(|| Request {
                head: String::from_utf8_lossy(&buf).into_owned(),
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 4 && buf[0] == 0x16 {
            // A TLS handshake record: answer at once.
            return Some(Request {
                head: String::new(),
            });
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request { head })
}

/// A loopback HTTP server answering every request with `answer(request)` (a whole response).
/// Runs until the test process exits.
fn serve(answer: impl Fn(&Request) -> Vec<u8> + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                if let Some(req) = read_request(&mut stream) {
                    let _ = stream.write_all(&answer(&req));
                }
            });
        }
    });
    addr
}

fn response(status: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    free_port()
}

/// The stored samples of `target`, oldest first (none until the database exists).
fn samples_of(db: &Path, target: &str) -> Vec<Sample> {
    support::read_store(db)
        .and_then(|s| s.samples(target, i64::MIN, i64::MAX).ok())
        .unwrap_or_default()
}

/// The alert history, newest first (none until the database exists).
fn alert_events(db: &Path) -> Vec<Transition> {
    support::read_store(db)
        .and_then(|mut s| s.alert_events(None, 100_000).ok())
        .unwrap_or_default()
}

/// Issue 13 items 3, 4 and 8 through the real agent: six hostile targets, a webhook receiver,
/// the HTTP API; then no trace of the secret anywhere, no forged log line, bounded errors, and
/// no alert or action from an absurd reading.
#[test]
fn hostile_targets_leak_no_secret_forge_no_line_and_fire_nothing_absurd() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = dir.join("lh.db");
    let log = dir.join("agent.log");
    let restarted = dir.join("restarted");

    // A plain-HTTP server: 500 for the secret URL (and nonsense for a TLS handshake), the
    // hostile health answers on their own paths.
    let big = "x".repeat(1 << 20);
    let plain = serve(move |req| {
        let path = req.head.split_whitespace().nth(1).unwrap_or("");
        if path.starts_with("/forged") {
            let body =
                format!(r#"{{"status":"ok","goroutines":"1\nERROR FAKE: injected line {big}"}}"#);
            response("200 OK", body.as_bytes())
        } else if path.starts_with("/absurd") {
            response("200 OK", br#"{"status":"ok","goroutines":1e308}"#)
        } else {
            response(
                "500 Internal Server Error",
                format!("internal error at {path}").as_bytes(),
            )
        }
    });
    let hook = Hook::start();
    let web = free_port();
    let secret_targets = [
        (
            "refused",
            format!(
                "http://127.0.0.1:{}/api/monitor/health?token={SECRET}",
                closed_port()
            ),
        ),
        (
            "dns",
            format!("http://nonexistent.invalid/api/monitor/health?token={SECRET}"),
        ),
        (
            "tls",
            format!(
                "https://127.0.0.1:{}/api/monitor/health?token={SECRET}",
                plain.port()
            ),
        ),
        (
            "err500",
            format!(
                "http://user:{SECRET}@127.0.0.1:{}/api/monitor/health?token={SECRET}",
                plain.port()
            ),
        ),
    ];
    let mut config = format!(
        r#"[agent]
database = "{db}"
flush_interval = "100ms"
log_interval = "200ms"

[web]
listen = "127.0.0.1:{web}"

[defaults]
interval = "300ms"
timeout = "300ms"
jitter = "0s"

[alerts.rules.target_down]
for = "0s"
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

[[notifiers]]
name = "hook"
type = "webhook"
url = "{hook_url}"

[[actions]]
name = "restart"
target = "absurd"
kind = "command"
argv = ["/bin/sh", "-c", "touch {restarted}"]
on = "goroutines_critical"
for = "0s"
"#,
        db = db.display(),
        restarted = restarted.display(),
        hook_url = hook.url(),
    );
    for (name, url) in &secret_targets {
        config.push_str(&format!(
            "\n[[targets]]\nname = \"{name}\"\nurl = \"{url}\"\nsource = \"health\"\n"
        ));
    }
    for name in ["forged", "absurd"] {
        config.push_str(&format!(
            "\n[[targets]]\nname = \"{name}\"\nurl = \"http://{plain}/{name}\"\nsource = \"health\"\n"
        ));
    }
    let config_path = dir.join("leakhound.toml");
    std::fs::write(&config_path, &config).unwrap();
    let checked = leakhound(&["config", "check", config_path.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", stderr(&checked));

    // Text logs (the default format): the one where a raw newline forges a line.
    let mut agent = agent(&config_path).debug().log(&log).start();

    // Every secret target and the forged one are reported down to the webhook, and the absurd
    // target has been read a few times.
    let down_targets = ["refused", "dns", "tls", "err500", "forged"];
    poll(Duration::from_secs(60), "the down alerts", || {
        let down: HashSet<String> = alert_events(&db)
            .into_iter()
            .filter(|t| t.rule == "target_down")
            .map(|t| t.target)
            .collect();
        let absurd = samples_of(&db, "absurd").len();
        let delivered = hook.hits().len();
        (down.len() == down_targets.len() && absurd >= 3 && delivered >= down_targets.len())
            .then_some(())
    });

    let client = reqwest::blocking::Client::new();
    let api = |path: &str| {
        client
            .get(format!("http://127.0.0.1:{web}{path}"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let targets = api("/api/targets");
    let alerts = api("/api/alerts");
    assert!(targets.contains("err500"), "{targets}");

    let status = agent.terminate();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "agent exit {status:?}:\n{log_text}");

    let urls: Vec<&str> = secret_targets.iter().map(|(_, u)| u.as_str()).collect();
    let mut args = vec!["check", "--timeout", "2s", "--source", "health"];
    args.extend(&urls);
    let check = leakhound(&args);
    let check_text = format!("{}{}", stdout(&check), stderr(&check));

    // Item 3: the secret is nowhere.
    let db_bytes = {
        let mut bytes = std::fs::read(&db).unwrap();
        for ext in ["-wal", "-shm"] {
            bytes.extend(std::fs::read(format!("{}{ext}", db.display())).unwrap_or_default());
        }
        bytes
    };
    let hook_bodies: Vec<String> = hook
        .hits()
        .iter()
        .map(|h| String::from_utf8_lossy(&h.body).into_owned())
        .collect();
    for (what, text) in [
        ("the log", log_text.clone()),
        (
            "the database",
            String::from_utf8_lossy(&db_bytes).into_owned(),
        ),
        ("a webhook payload", hook_bodies.join("\n")),
        ("/api/targets", targets.clone()),
        ("/api/alerts", alerts.clone()),
        ("check", check_text.clone()),
    ] {
        assert!(!text.contains(SECRET), "{SECRET} in {what}:\n{text}");
    }
    // The careless user's DNS failure: a short message with the fix.
    assert!(
        check_text.contains("cannot resolve host \"nonexistent.invalid\" — check the target URL"),
        "{check_text}"
    );
    assert!(check_text.contains("TLS handshake"), "{check_text}");
    assert!(check_text.contains("token=REDACTED"), "{check_text}");

    // Item 4: target text is capped in the store, the payloads and the log, and forges no line.
    let longest = support::all_samples(&db)
        .iter()
        .filter_map(|s| s.error.as_ref().map(|e| e.chars().count()))
        .max()
        .unwrap_or(0);
    assert!(longest <= 2100, "a stored error of {longest} chars");
    // An event is stored as its transition's JSON.
    let longest_event = alert_events(&db)
        .iter()
        .map(|t| serde_json::to_string(t).unwrap().len())
        .max()
        .unwrap_or(0);
    assert!(
        longest_event < 16_000,
        "an alert event of {longest_event} bytes"
    );
    for body in &hook_bodies {
        assert!(
            body.len() < 16_000,
            "a webhook payload of {} bytes",
            body.len()
        );
    }
    assert!(
        !log_text
            .lines()
            .any(|l| l.trim_start().starts_with("ERROR FAKE")),
        "a forged log line:\n{log_text}"
    );
    assert!(
        log_text.len() < 2_000_000,
        "log of {} bytes",
        log_text.len()
    );

    // Item 8: 1e308 goroutines is a bad sample with its reason; no alert, no action.
    let critical = alert_events(&db)
        .iter()
        .filter(|t| t.target == "absurd")
        .count();
    assert_eq!(critical, 0, "alerts from an absurd reading");
    let runs = support::read_store(&db)
        .and_then(|s| s.runs(None, 1000).ok())
        .unwrap_or_default();
    assert_eq!(runs.len(), 0, "actions from an absurd reading");
    assert!(!restarted.exists(), "the restart ran");
    let absurd = samples_of(&db, "absurd");
    let stored_max = absurd.iter().filter_map(|s| s.metrics.goroutines).max();
    assert_eq!(stored_max, None, "an absurd count was stored");
    let reasons = absurd
        .iter()
        .filter(|s| {
            s.up && s
                .error
                .as_deref()
                .is_some_and(|e| e.contains("reading out of range: goroutines="))
        })
        .count();
    assert!(reasons >= 3, "absurd samples without their reason");
    assert!(
        !hook_bodies.iter().any(|b| b.contains("\"absurd\"")),
        "a message about the absurd target"
    );
}

/// Issue 13 item 6: `leakhound run … 2>&1 | head -c 10` panicked at the next log line ("failed
/// printing to stderr: Broken pipe", exit 101). The agent must go on sampling and exit cleanly.
#[test]
fn a_dead_log_reader_does_not_stop_the_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("lh.db");
    let target = serve(|_| response("200 OK", br#"{"status":"ok","goroutines":12}"#));
    let config = tmp.path().join("leakhound.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\ndatabase = \"{}\"\nflush_interval = \"100ms\"\nlog_interval = \"100ms\"\n\n\
             [web]\nenabled = false\n\n\
             [[targets]]\nname = \"svc\"\nurl = \"http://{target}/api/monitor/health\"\n\
             interval = \"100ms\"\ntimeout = \"100ms\"\njitter = \"0s\"\n",
            db.display()
        ),
    )
    .unwrap();
    let checked = leakhound(&["config", "check", config.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", stderr(&checked));
    let mut agent = agent(&config).debug().pipe_stderr().start();
    let mut err = agent.take_stderr();
    let mut first = [0u8; 10];
    err.read_exact(&mut first).unwrap();
    drop(err); // `head -c 10` exits: every later write gets EPIPE.

    let count = || samples_of(&db, "svc").len();
    let before = count();
    poll(
        Duration::from_secs(30),
        "samples after the reader left",
        || {
            assert!(
                agent.try_wait().is_none(),
                "the agent died when its log reader left"
            );
            (count() >= before + 10).then_some(())
        },
    );
    assert!(agent.try_wait().is_none());
    let status = agent.terminate();
    assert!(status.success(), "exit {status:?} after SIGTERM");
}
