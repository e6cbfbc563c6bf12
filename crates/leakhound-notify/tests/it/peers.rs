//! The real peers, where they can run here: Alertmanager and an SMTP server (`#[ignore]`d; run by
//! `scripts/test`).

use crate::fake::*;
use leakhound_notify::{AlertStatus, ErrorClass};
use serde_json::Value;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Real peers.

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 10s");
}

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// Real Alertmanager 0.25 (Debian `prometheus-alertmanager`): a firing alert, then its resolve,
/// checked through Alertmanager's own `GET /api/v2/alerts`.
#[tokio::test]
#[ignore = "needs the real peer: run scripts/test"]
async fn alertmanager_real_peer_firing_then_resolved() {
    assert!(
        std::path::Path::new(ALERTMANAGER).exists(),
        "{ALERTMANAGER} is missing: apt-get install prometheus-alertmanager (scripts/test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: blackhole\n  group_wait: 1h\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let port = free_port();
    let child = std::process::Command::new(ALERTMANAGER)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("am.log")).unwrap())
        .spawn()
        .unwrap();
    let _child = Child(child);
    wait_for_port(port, "alertmanager").await;
    let base = format!("http://127.0.0.1:{port}");
    let n = notifier(&format!(
        "name = \"am\"\ntype = \"alertmanager\"\nurl = \"{base}\"\nlabels = {{ env = \"test\" }}"
    ));
    assert_eq!(n.resend_interval(), Some(Duration::from_secs(60)));
    let mut m = critical();
    m.generator_url = Some("http://leakhound.local:9090/alerts/1".into());
    let client = reqwest::Client::new();
    let alerts = |filter: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let bytes = client
                .get(format!("{base}/api/v2/alerts?{filter}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            v.as_array().unwrap().clone()
        }
    };
    let d = n.send(&m).await.unwrap();
    assert_eq!(d.status, 200);
    let mut found = Vec::new();
    for _ in 0..50 {
        found = alerts("active=true").await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 1, "{found:#?}");
    let a = &found[0];
    assert_eq!(a["labels"]["alertname"], "goroutines");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["labels"]["target"], "one-api");
    assert_eq!(a["labels"]["rule"], "goroutines_critical");
    assert_eq!(a["labels"]["env"], "test");
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(a["generatorURL"], "http://leakhound.local:9090/alerts/1");
    assert!(
        a["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("one-api: 12034 goroutines"),
        "{a:#?}"
    );
    assert!(a["annotations"]["description"]
        .as_str()
        .unwrap()
        .contains("目标 Target: one-api"));
    // Alertmanager keeps our startsAt, and the firing alert's endsAt is 4 × resend_interval ahead.
    let starts = chrono::DateTime::parse_from_rfc3339(a["startsAt"].as_str().unwrap()).unwrap();
    assert_eq!(starts.timestamp_millis(), m.started_at_ms);
    let ends = chrono::DateTime::parse_from_rfc3339(a["endsAt"].as_str().unwrap()).unwrap();
    let ahead = ends.timestamp_millis() - now_ms();
    assert!(
        (230_000..=240_000).contains(&ahead),
        "endsAt {ahead} ms ahead"
    );

    // Resolved: endsAt = the resolve time (in the past), so it is no longer active.
    m.status = AlertStatus::Resolved;
    m.ended_at_ms = Some(now_ms() - 1000);
    m.idempotency_key = "0123456789abcdef-resolved-2".into();
    n.send(&m).await.unwrap();
    let mut active = alerts("active=true").await;
    for _ in 0..50 {
        if active.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        active = alerts("active=true").await;
    }
    assert!(
        active.is_empty(),
        "still active after the resolve: {active:#?}"
    );
    // Alertmanager's API leaves out alerts whose endsAt has passed, in every state.
    let any = alerts("active=true&silenced=true&inhibited=true&unprocessed=true").await;
    assert!(any.is_empty(), "{any:#?}");

    // A bad request (400) is permanent: an empty label name is invalid.
    let bad = notifier(&format!(
        "name = \"am\"\ntype = \"alertmanager\"\nurl = \"{base}\"\nlabels = {{ \"\" = \"x\" }}"
    ));
    let err = bad.send(&critical()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
}

fn python_with_aiosmtpd() -> String {
    let python = std::env::var("LEAKHOUND_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let ok = std::process::Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{python} cannot import aiosmtpd: apt-get install python3-aiosmtpd (scripts/test does), or set LEAKHOUND_PYTHON");
    python
}

fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "openssl is missing: apt-get install openssl");
    (cert, key)
}

/// Start aiosmtpd with the Mailbox handler (a maildir) and `extra` arguments.
async fn aiosmtpd(
    python: &str,
    dir: &std::path::Path,
    port: u16,
    extra: &[&std::ffi::OsStr],
) -> Child {
    let child = std::process::Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(dir.join("maildir"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = Child(child);
    wait_for_port(port, "aiosmtpd").await;
    child
}

fn received(dir: &std::path::Path) -> Vec<String> {
    let new = dir.join("maildir").join("new");
    let mut mails = Vec::new();
    for entry in std::fs::read_dir(new).into_iter().flatten().flatten() {
        mails.push(std::fs::read_to_string(entry.path()).unwrap());
    }
    mails
}

fn decoded_subject(mail: &str) -> String {
    // lettre encodes non-ASCII subjects as RFC 2047 words; Python decodes them for us.
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import sys,email,email.header;m=email.message_from_string(sys.stdin.read());print(str(email.header.make_header(email.header.decode_header(m['Subject']))));print(m.get_payload(decode=True).decode('utf-8'))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(mail.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// Real SMTP server (Debian `python3-aiosmtpd`), plain, STARTTLS and implicit TLS: the mail
/// arrives with the guide's subject, every recipient, and the bilingual body.
#[tokio::test]
#[ignore = "needs the real peer: run scripts/test"]
async fn smtp_real_peer_receives_the_mail() {
    let python = python_with_aiosmtpd();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let modes: [(&str, Vec<&std::ffi::OsStr>); 3] = [
        ("none", vec![]),
        (
            "starttls",
            vec![
                "--tlscert".as_ref(),
                cert.as_os_str(),
                "--tlskey".as_ref(),
                key.as_os_str(),
            ],
        ),
        (
            "tls",
            vec![
                "--smtpscert".as_ref(),
                cert.as_os_str(),
                "--smtpskey".as_ref(),
                key.as_os_str(),
            ],
        ),
    ];
    for (i, (mode, extra)) in modes.iter().enumerate() {
        let mail_dir = dir.path().join(mode);
        std::fs::create_dir_all(&mail_dir).unwrap();
        let port = free_port();
        let _server = aiosmtpd(&python, &mail_dir, port, extra).await;
        let n = notifier(&format!(
            "name = \"mail\"\ntype = \"email\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"{mode}\"\naccept_invalid_certs = true\nfrom = \"leakhound <alerts@example.com>\"\nto = [\"ops@example.com\", \"oncall@example.com\"]"
        ));
        let mut m = critical();
        m.idempotency_key = format!("0123456789abcdef-firing-{i}");
        let d = n.send(&m).await.unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(d.status, 250, "{mode}");
        let mut mails = received(&mail_dir);
        for _ in 0..50 {
            if !mails.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            mails = received(&mail_dir);
        }
        assert_eq!(mails.len(), 1, "{mode}: {mails:?}");
        let mail = &mails[0];
        eprintln!("--- {mode} ---\n{mail}");
        assert!(
            mail.contains("To: ops@example.com, oncall@example.com"),
            "{mode}: {mail}"
        );
        assert!(
            mail.contains(&format!(
                "Message-ID: <0123456789abcdef-firing-{i}@leakhound>"
            )),
            "{mode}: {mail}"
        );
        let decoded = decoded_subject(mail);
        assert!(
            decoded.starts_with(
                "leakhound alert: High Goroutine Count — one-api (CRITICAL, 12034 goroutines)\n"
            ),
            "{mode}: {decoded}"
        );
        assert!(
            decoded.contains("目标 Target: one-api"),
            "{mode}: {decoded}"
        );
        assert!(
            decoded.contains("main.(*Relay).stream <-chan & select (relay.go:88) +5012"),
            "{mode}: {decoded}"
        );
    }

    // Nobody listening: retryable, and the password never shows.
    let port = free_port();
    let n = notifier(&format!(
        "name = \"mail\"\ntype = \"email\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nusername = \"u\"\npassword = \"smtp-pass-0123456789\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\ntimeout = \"2s\""
    ));
    let err = n.send(&critical()).await.unwrap_err();
    assert!(err.retryable(), "{err}");
    assert_clean(&err, &["smtp-pass-0123456789"]);
}

/// aiosmtpd's Controller with a login check and STARTTLS required before AUTH (what port 587
/// relays do); the CLI has no authentication options.
const SMTP_AUTH_SERVER: &str = r#"
import ssl, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
port, maildir, cert, key, user, password = sys.argv[1:7]
tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)
def check(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == password.encode()
    return AuthResult(success=ok, handled=False)
c = Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port), authenticator=check,
               auth_require_tls=True, tls_context=tls, require_starttls=True)
c.start()
threading.Event().wait()
"#;

/// Real SMTP server (Debian `python3-aiosmtpd`) that requires STARTTLS and a login: the right
/// password delivers, a wrong one is a permanent error that does not show the password.
#[tokio::test]
#[ignore = "needs the real peer: run scripts/test"]
async fn smtp_real_peer_with_login() {
    let python = python_with_aiosmtpd();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let port = free_port();
    let child = std::process::Command::new(&python)
        .args(["-c", SMTP_AUTH_SERVER])
        .arg(port.to_string())
        .arg(dir.path().join("maildir"))
        .arg(&cert)
        .arg(&key)
        .args(["alerts@example.com", "right-pass-0123456789"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _server = Child(child);
    wait_for_port(port, "aiosmtpd (login)").await;
    let config = |password: &str| {
        format!(
            "name = \"mail\"\ntype = \"email\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"starttls\"\naccept_invalid_certs = true\nusername = \"alerts@example.com\"\npassword = \"{password}\"\nfrom = \"alerts@example.com\"\nto = [\"ops@example.com\"]"
        )
    };
    let n = notifier(&config("right-pass-0123456789"));
    assert_eq!(n.send(&critical()).await.unwrap().status, 250);
    let n = notifier(&config("wrong-pass-0123456789"));
    let err = n.send(&critical()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(
        err.to_string().contains("check `username`/`password`"),
        "{err}"
    );
    assert_clean(&err, &["wrong-pass-0123456789", "right-pass-0123456789"]);
    let mut mails = received(dir.path());
    for _ in 0..50 {
        if !mails.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        mails = received(dir.path());
    }
    assert_eq!(mails.len(), 1, "only the logged-in send arrives");
}
