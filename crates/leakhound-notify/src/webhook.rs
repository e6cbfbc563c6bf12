//! A generic JSON webhook, leakhound's own format (documented in `docs/webhook.md`): `POST url`
//! with a versioned JSON body, an `Idempotency-Key` header (the same on every retry of a
//! message), an `X-Leakhound-Event` header (`firing`/`resolved`), and — when `secret` is set —
//! `X-Leakhound-Signature: sha256=<hex HMAC-SHA256 of the raw body, key = secret>`.
//! 2xx is delivered, and so is 409 (the receiver already has this idempotency key); 408, 429
//! and 5xx are retried; other 4xx are not.

use super::template::{utc_text, Format, DEFAULT_TITLE};
use super::{hmac_sha256, now_ms, to_json, AlertMessage, Ctx, Delivery, NotifyError, SecretUrl};
use leakhound_core::config::notifiers::WebhookConfig;
use serde_json::json;

/// The body's `version`.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug)]
pub(crate) struct Webhook {
    pub(crate) ctx: Ctx,
    url: SecretUrl,
    config: WebhookConfig,
}

/// `sha256=<hex>` of `body` with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    )
}

impl Webhook {
    pub(crate) fn new(config: &WebhookConfig, ctx: Ctx) -> Result<Webhook, NotifyError> {
        let mut ctx = ctx.with_templates(Format::Text, DEFAULT_TITLE, None)?;
        let url = ctx.url("url", Some(&config.url), None)?;
        if let Some(s) = &config.secret {
            if s.is_empty() {
                return Err(
                    ctx.config_error("`secret` is empty: remove it or set a signing secret")
                );
            }
            ctx.scrub.add(s.expose());
        }
        for (k, v) in &config.headers {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                return Err(ctx.config_error(format!("headers: '{k}' is not a valid header name")));
            }
            if reqwest::header::HeaderValue::from_str(v.expose()).is_err() {
                return Err(ctx.config_error(format!(
                    "headers: the value of '{k}' is not a valid header value"
                )));
            }
            ctx.scrub.add(v.expose());
            if let Some((_, token)) = v.expose().split_once(' ') {
                ctx.scrub.add(token);
            }
        }
        Ok(Webhook {
            ctx,
            url: SecretUrl::from_url(url),
            config: config.clone(),
        })
    }

    /// The body, as `docs/webhook.md` documents it.
    pub(crate) fn payload(
        &self,
        msg: &AlertMessage,
        sent_at_ms: i64,
    ) -> Result<serde_json::Value, NotifyError> {
        let title = self.ctx.title(msg)?;
        let text = self.ctx.body(msg, &title)?;
        Ok(json!({
            "version": SCHEMA_VERSION,
            "source": "leakhound",
            "idempotency_key": msg.idempotency_key,
            "status": msg.status.name(),
            "title": title,
            "text": text,
            "headline": msg.headline(),
            "sent_at": utc_rfc3339(sent_at_ms),
            "alert": {
                "status": msg.status.name(),
                "rule": msg.rule,
                "rule_kind": msg.rule_kind,
                "level": msg.level.name(),
                "target": msg.target,
                "metric": msg.metric,
                "value": msg.value,
                "threshold": msg.threshold,
                "value_text": msg.value_shown(),
                "threshold_text": msg.threshold_shown(),
                "started_at": utc_rfc3339(msg.started_at_ms),
                "started_at_ms": msg.started_at_ms,
                "ended_at": msg.ended_at_ms.map(utc_rfc3339),
                "ended_at_ms": msg.ended_at_ms,
                "held_ms": msg.held_ms,
                "trend": msg.trend,
                "evidence": msg.evidence,
                "suspects": msg.suspects,
                "labels": msg.labels,
                "generator_url": msg.generator_url,
            },
        }))
    }

    pub(crate) async fn send(&self, msg: &AlertMessage) -> Result<Delivery, NotifyError> {
        let ctx = &self.ctx;
        let body = to_json(ctx, &self.payload(msg, now_ms())?)?;
        let mut headers: Vec<(&str, String)> = vec![
            ("Idempotency-Key", msg.idempotency_key.clone()),
            ("X-Leakhound-Event", msg.status.name().to_string()),
        ];
        if let Some(secret) = &self.config.secret {
            headers.push(("X-Leakhound-Signature", signature(secret.expose(), &body)));
        }
        for (k, v) in &self.config.headers {
            headers.push((k.as_str(), v.expose().to_string()));
        }
        let answer = ctx
            .post(self.url.url(), "application/json", body, &headers)
            .await?;
        if answer.status == 409 {
            return Ok(ctx.delivered(&answer, false));
        }
        ctx.check_status(&answer)?;
        Ok(ctx.delivered(&answer, false))
    }
}

/// RFC 3339 in UTC with milliseconds, `2026-11-25T21:00:00.000Z`.
pub fn utc_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| utc_text(ms))
}
