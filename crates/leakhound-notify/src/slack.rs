//! Slack incoming webhook, per "Sending messages using incoming webhooks"
//! (https://api.slack.com/messaging/webhooks) and the Block Kit reference: `POST` the webhook
//! URL with `{"text": …, "blocks": [header, section (mrkdwn), context]}`; `text` is the
//! notification fallback. Slack answers `200 ok`, or an HTTP error with a plain-text reason
//! (`invalid_payload`, `no_service`, `channel_is_archived`, …; 429 with `Retry-After`).

use super::template::{slack_escape, truncate_chars, Format, DEFAULT_TITLE};
use super::{to_json, AlertMessage, Ctx, Delivery, NotifyError, SecretUrl};
use leakhound_core::config::notifiers::SlackConfig;
use serde_json::json;

/// Section text limit, characters (Block Kit).
pub const SECTION_MAX_CHARS: usize = 3000;
/// Header text limit, characters (Block Kit).
pub const HEADER_MAX_CHARS: usize = 150;

#[derive(Debug)]
pub(crate) struct Slack {
    pub(crate) ctx: Ctx,
    url: SecretUrl,
}

impl Slack {
    pub(crate) fn new(config: &SlackConfig, ctx: Ctx) -> Result<Slack, NotifyError> {
        let mut ctx = ctx.with_templates(Format::Slack, DEFAULT_TITLE, None)?;
        let url = ctx.url("url", Some(&config.url), None)?;
        Ok(Slack {
            ctx,
            url: SecretUrl::from_url(url),
        })
    }

    pub(crate) async fn send(&self, msg: &AlertMessage) -> Result<Delivery, NotifyError> {
        let ctx = &self.ctx;
        let title = ctx.title(msg)?;
        let count = |s: &str| s.chars().count();
        let (body, truncated) =
            ctx.body_fitting(msg, &title, SECTION_MAX_CHARS, count, truncate_chars)?;
        let context = slack_escape(&format!(
            "leakhound · {} · {}",
            msg.rule, msg.idempotency_key
        ));
        let payload = json!({
            "text": slack_escape(&title),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": truncate_chars(&title, HEADER_MAX_CHARS), "emoji": true}},
                {"type": "section", "text": {"type": "mrkdwn", "text": body}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            ],
        });
        let answer = ctx
            .post(
                self.url.url(),
                "application/json",
                to_json(ctx, &payload)?,
                &[],
            )
            .await?;
        ctx.check_status(&answer)?;
        Ok(ctx.delivered(&answer, truncated))
    }
}
