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
    let shown = leakhound_http::redact(url);
    let result = client.request(method.clone(), url.clone()).send().await;
    let duration_ms = || leakhound_core::time::duration_ms(started.elapsed());
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn server(status: u16) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/admin/restart",
            axum::routing::post(move || async move {
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    "restarting\n",
                )
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Url::parse(&format!("http://{addr}/admin/restart")).unwrap()
    }

    #[tokio::test]
    async fn a_2xx_is_success_anything_else_a_failure() {
        let url = server(202).await;
        let r = run("POST", &url, Duration::from_secs(5)).await;
        assert!(r.ok, "{r:?}");
        assert_eq!(r.exit_code, Some(202));
        assert!(
            r.output_tail.ends_with("202 Accepted\nrestarting\n"),
            "{r:?}"
        );

        let url = server(503).await;
        let r = run("POST", &url, Duration::from_secs(5)).await;
        assert!(!r.ok);
        assert!(r
            .error
            .unwrap()
            .ends_with("answered 503 Service Unavailable"));

        let r = run("GET", &url, Duration::from_secs(5)).await; // wrong method: 405
        assert_eq!(r.exit_code, Some(405));
        let dead = Url::parse("http://127.0.0.1:9/x").unwrap();
        let r = run("POST", &dead, Duration::from_secs(2)).await;
        assert!(r.error.unwrap().contains("connection failed"), "refused");
    }
}
