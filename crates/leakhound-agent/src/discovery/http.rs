//! `type = "http"`: a Prometheus http_sd endpoint, asked every `refresh_interval`.
//!
//! The GET carries `Accept: application/json`, `X-Prometheus-Refresh-Interval-Seconds` (as
//! Prometheus sends it) and the block's basic or bearer auth, through leakhound's HTTP client
//! (redirects followed with the credentials kept on the endpoint's own origin, the body capped
//! at 16 MiB while streaming). Anything but a 200 with a readable list keeps the last targets.

use super::Publisher;
use leakhound_core::config::{Auth, DiscoveryConfig};
use leakhound_core::discovery::{parse_target_groups, SdFormat, MAX_SD_BODY_BYTES};
use leakhound_http::{redact, HttpClient, HttpOptions};
use std::time::Duration;
use url::Url;

/// The longest one request may take (shorter when the refresh interval is).
const MAX_REQUEST_TIME: Duration = Duration::from_secs(30);

/// The request options for a block: auth, the two headers, a timeout.
pub fn options(refresh_interval: Duration, auth: Option<Auth>) -> HttpOptions {
    HttpOptions {
        timeout: refresh_interval.clamp(Duration::from_secs(1), MAX_REQUEST_TIME),
        auth,
        headers: vec![
            ("Accept".to_string(), "application/json".to_string()),
            (
                "X-Prometheus-Refresh-Interval-Seconds".to_string(),
                refresh_interval.as_secs_f64().to_string(),
            ),
        ],
    }
}

pub(super) async fn run(block: DiscoveryConfig, url: Url, auth: Option<Auth>, mut out: Publisher) {
    let shown = redact(&url);
    let client = match HttpClient::new(&options(block.refresh_interval, auth)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(block = %block.name, "discovery: {shown}: {e}; this block finds no targets");
            return;
        }
    };
    // The last body parsed: an unchanged answer is not parsed (nor its warnings logged) again.
    let mut last_body: Option<Vec<u8>> = None;
    loop {
        let Some(answer) = out.or_stop(client.get_bytes(&url, MAX_SD_BODY_BYTES)).await else {
            return;
        };
        let kept = || format!("the last {} targets stay", out.last_len());
        match answer {
            Ok((200, body)) if last_body.as_ref() == Some(&body) => {}
            Ok((200, body)) => {
                let template = block.template.clone();
                let origin = shown.clone();
                let parse_body = body.clone();
                let parsed = tokio::task::spawn_blocking(move || {
                    parse_target_groups(&parse_body, SdFormat::Json, &origin, &template)
                })
                .await;
                match parsed {
                    Ok(Ok(found)) => {
                        out.warn_all(&found.warnings);
                        last_body = Some(body);
                        if !out.publish(found.targets).await {
                            return;
                        }
                    }
                    Ok(Err(why)) => {
                        tracing::warn!(block = %out.block(), "discovery: {why}; {}", kept());
                    }
                    Err(e) => {
                        tracing::error!(block = %out.block(), "discovery: parsing the answer of {shown} failed ({e}); {}", kept());
                    }
                }
            }
            Ok((status, _)) => {
                tracing::warn!(block = %out.block(), "discovery: {shown} answered HTTP {status}, not 200 with a list of target groups; {}", kept());
            }
            Err(e) => {
                tracing::warn!(block = %out.block(), "discovery: {shown}: {e}; {}", kept());
            }
        }
        if !out.sleep(block.refresh_interval).await {
            return;
        }
    }
}
