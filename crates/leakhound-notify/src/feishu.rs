//! Feishu (飞书) / Lark custom bot with signature verification, per "自定义机器人使用指南"
//! (https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot): `POST
//! https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN` (Lark: `open.larksuite.com`) with a JSON
//! body holding `timestamp` — the current time in **seconds**, as a string — and `sign` = Base64
//! of HMAC-SHA256 whose **key** is `timestamp + "\n" + secret` over an **empty** message (the
//! reverse of DingTalk), and `msg_type` `interactive` (a card, default) or `text`; the answer
//! `{"code":0,"msg":"success"}` is checked. Feishu takes 100 messages a minute per bot.

use super::limit::{robot_id, RateLimit};
use super::template::{truncate_bytes, Format, DEFAULT_TITLE, MARKDOWN_BODY};
use super::{hmac_sha256, now_ms, AlertMessage, Ctx, Delivery, NotifyError, SecretUrl};
use base64::Engine;
use leakhound_core::config::notifiers::{FeishuConfig, FeishuMsgType};
use leakhound_core::Severity;
use serde_json::json;
use std::time::Duration;

/// Card/text content limit leakhound keeps to, bytes (Feishu's request limit is 20 KB).
pub const MAX_BYTES: usize = 18_000;

#[derive(Debug)]
pub(crate) struct Feishu {
    pub(crate) ctx: Ctx,
    url: SecretUrl,
    robot: String,
    config: FeishuConfig,
}

/// Base64(HMAC-SHA256(key = `timestamp\nsecret`, message = empty)).
pub fn sign(timestamp_s: i64, secret: &str) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(key.as_bytes(), b""))
}

/// The card header colour per level.
fn header_colour(msg: &AlertMessage) -> &'static str {
    if msg.is_resolved() {
        return "green";
    }
    match msg.level {
        Severity::Info => "blue",
        Severity::Warning => "yellow",
        Severity::Urgent => "orange",
        Severity::Critical => "red",
    }
}

impl Feishu {
    pub(crate) fn new(config: &FeishuConfig, ctx: Ctx) -> Result<Feishu, NotifyError> {
        let (format, body) = match config.msg_type {
            // The card has the title in its header; the body starts with the facts.
            FeishuMsgType::Interactive => (
                Format::Markdown,
                MARKDOWN_BODY.split_once('\n').map(|(_, rest)| rest),
            ),
            FeishuMsgType::Text => (Format::Text, None),
        };
        let mut ctx = ctx.with_templates(format, DEFAULT_TITLE, body)?;
        let url = ctx.url("url", Some(&config.url), None)?;
        if let Some(secret) = &config.secret {
            ctx.scrub.add(secret.expose());
        }
        Ok(Feishu {
            robot: robot_id(&["feishu", url.as_str()]),
            ctx,
            url: SecretUrl::from_url(url),
            config: config.clone(),
        })
    }

    pub(crate) async fn send(&self, msg: &AlertMessage) -> Result<Delivery, NotifyError> {
        let ctx = &self.ctx;
        let title = ctx.title(msg)?;
        let (body, truncated) =
            ctx.body_fitting(msg, &title, MAX_BYTES, str::len, truncate_bytes)?;
        let mut payload = match self.config.msg_type {
            FeishuMsgType::Interactive => json!({
                "msg_type": "interactive",
                "card": {
                    "config": {"wide_screen_mode": true},
                    "header": {
                        "title": {"tag": "plain_text", "content": title},
                        "template": header_colour(msg),
                    },
                    "elements": [{"tag": "markdown", "content": body}],
                },
            }),
            FeishuMsgType::Text => json!({"msg_type": "text", "content": {"text": body}}),
        };
        if let Some(secret) = &self.config.secret {
            let ts = now_ms() / 1000;
            payload["timestamp"] = json!(ts.to_string());
            payload["sign"] = json!(sign(ts, secret.expose()));
        }
        ctx.acquire(
            &self.robot,
            RateLimit::per_minute(self.config.rate_limit_per_minute),
        )?;
        let (answer, code, errmsg) = ctx
            .post_to_robot(
                self.url.url(),
                &payload,
                &["code", "StatusCode"],
                &["msg", "StatusMessage"],
                "a Feishu/Lark bot hook",
            )
            .await?;
        let errmsg = errmsg.as_str();
        match code {
            0 => Ok(ctx.delivered(&answer, truncated)),
            11232 | 230020 => Err(ctx.rate_limited(
                format!("Feishu code {code} '{errmsg}': the bot's message rate is exceeded"),
                Duration::from_secs(60),
            )),
            19021 => Err(ctx.rejected(
                &answer,
                code,
                errmsg,
                "the signature does not match or the timestamp is off: check `secret` (签名校验) and this host's clock (not retried)",
                false,
            )),
            19022 => Err(ctx.rejected(&answer, code, errmsg, "this host's IP is not in the bot's allowlist (not retried)", false)),
            19024 => Err(ctx.rejected(&answer, code, errmsg, "the bot requires a keyword: put it in title_template/body_template (not retried)", false)),
            _ => Err(ctx.unknown_code(&answer, code, errmsg, "Feishu refused the message: check `url`, `secret` and the templates (not retried)")),
        }
    }
}
