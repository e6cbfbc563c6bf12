//! `kind = "http"`: call an endpoint of the service (e.g. an admin "drain and restart"); a 2xx
//! answer is success, anything else (or no answer within the timeout) a failure.

use super::RunResult;
use std::time::{Duration, Instant};
use url::Url;

/// `method url`, for at most `timeout`; the start of the answer is kept for the record.
pub async fn run(method: &str, url: &Url, timeout: Duration) -> RunResult {
    let started = Instant::now();
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
    {
        Ok(c) => c,
        Err(e) => return RunResult::failed(format!("cannot build the HTTP client: {e}"), started),
    };
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let shown = crate::http::redact(url);
    let result = client.request(method.clone(), url.clone()).send().await;
    let duration_ms = || i64::try_from(started.elapsed().as_millis()).unwrap_or(0);
    match result {
        Ok(resp) => {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            let mut tail: String = body.chars().take(super::command::TAIL_BYTES).collect();
            if !tail.is_empty() && !tail.ends_with('\n') {
                tail.push('\n');
            }
            RunResult {
                ok: status.is_success(),
                exit_code: Some(i32::from(status.as_u16())),
                output_tail: format!("{method} {shown} -> {status}\n{tail}"),
                error: (!status.is_success())
                    .then(|| format!("{method} {shown} answered {status}")),
                duration_ms: duration_ms(),
            }
        }
        Err(e) => {
            let why = if e.is_timeout() {
                format!(
                    "no answer within {}",
                    leakhound_core::units::human_duration(timeout)
                )
            } else if e.is_connect() {
                "connection failed (is it listening?)".to_string()
            } else {
                "request failed".to_string()
            };
            RunResult::failed(format!("{method} {shown}: {why}"), started)
        }
    }
}
