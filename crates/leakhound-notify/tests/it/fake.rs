//! The fake peer (records every request, answers from a script) and the helpers every module
//! shares.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use hmac::{Mac, SimpleHmac};
use leakhound_core::config::Config;
use leakhound_core::Severity;
use leakhound_notify::{AlertMessage, Notifier, NotifyError};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// The fake peer: records every request, answers from a script (the last answer repeats).

#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Seen {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) delay: Duration,
}

pub(crate) fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        body: body.to_string(),
        headers: Vec::new(),
        delay: Duration::ZERO,
    }
}

#[derive(Clone, Default)]
pub(crate) struct FakeState {
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    pub(crate) replies: Arc<Mutex<Vec<Reply>>>,
}

pub(crate) struct Fake {
    pub(crate) base: String,
    pub(crate) state: FakeState,
}

impl Fake {
    pub(crate) async fn start(replies: Vec<Reply>) -> Fake {
        let state = FakeState {
            seen: Arc::default(),
            replies: Arc::new(Mutex::new(replies)),
        };
        let app = Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Fake {
            base: format!("http://{addr}"),
            state,
        }
    }
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
    pub(crate) fn only(&self) -> Seen {
        let seen = self.seen();
        assert_eq!(seen.len(), 1, "{seen:#?}");
        seen[0].clone()
    }
}

pub(crate) async fn record(State(state): State<FakeState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    state.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
    });
    let r = {
        let mut replies = state.replies.lock().unwrap();
        if replies.len() > 1 {
            replies.remove(0)
        } else {
            replies[0].clone()
        }
    };
    tokio::time::sleep(r.delay).await;
    let mut response = (StatusCode::from_u16(r.status).unwrap(), r.body).into_response();
    for (k, v) in r.headers {
        response.headers_mut().insert(k, v.parse().unwrap());
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The notifier of one `[[notifiers]]` block's keys, read by the config as `leakhound run` does.
pub(crate) fn notifier(toml_text: &str) -> Notifier {
    let config = Config::parse(&format!("[[notifiers]]\n{toml_text}"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    Notifier::from_config(&config.notifiers[0]).unwrap()
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The guide's L3 alert on one-api, with a call site that needs escaping everywhere.
pub(crate) fn critical() -> AlertMessage {
    critical_at(now_ms() - 330_000)
}

/// [`critical`], started at `started_at_ms` (a fixed time for snapshots).
pub(crate) fn critical_at(started_at_ms: i64) -> AlertMessage {
    let mut m = AlertMessage::test_message(started_at_ms);
    m.rule = "goroutines_critical".into();
    m.level = Severity::Critical;
    m.target = "one-api".into();
    m.value = 12034.0;
    m.threshold = 10000.0;
    m.value_text = None;
    m.threshold_text = None;
    m.held_ms = 330_000;
    m.trend = Some("+1200/h over 30m (R² 0.97)".into());
    m.evidence = vec!["goroutines 12034 > 10000 for 5m30s".into()];
    m.suspects = vec![
        "main.(*Relay).stream <-chan & select (relay.go:88) +5012".into(),
        "net/http.(*persistConn).readLoop (transport.go:2205) +3000".into(),
    ];
    m.idempotency_key = "0123456789abcdef-firing-1".into();
    m
}

pub(crate) fn huge() -> AlertMessage {
    let mut m = critical();
    m.suspects = (0..400)
        .map(|i| format!("渠道 channel{i}.(*Relay).stream <-chan (relay.go:{i}) +{i}"))
        .collect();
    m.evidence = (0..100)
        .map(|i| format!("证据 evidence line {i} — 目标 one-api"))
        .collect();
    m
}

pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// No secret in the error's Display or Debug.
pub(crate) fn assert_clean(err: &NotifyError, secrets: &[&str]) {
    let shown = format!("{err} {err:?}");
    for s in secrets {
        assert!(!shown.contains(s), "secret '{s}' in: {shown}");
    }
}
