//! Telegram bot, per the Bot API's `sendMessage` (https://core.telegram.org/bots/api#sendmessage):
//! `POST {api_base}/bot<TOKEN>/sendMessage` with `chat_id` (integer id or `@channel`), `text`
//! (1–4096 characters after entity parsing), `parse_mode` (`HTML` by default, with values
//! escaped as the "HTML style" section says: `&lt;` `&gt;` `&amp;` `&quot;`), optional
//! `message_thread_id` (forum topics); the answer's `ok` is checked, and a 429's
//! `parameters.retry_after` is honoured.

use super::template::{html_escape, Format, DEFAULT_TITLE};
use super::{to_json, AlertMessage, Ctx, Delivery, NotifyError, SecretUrl};
use leakhound_core::config::notifiers::{ChatId, TelegramConfig, TelegramParseMode};
use serde_json::{json, Value};
use std::time::Duration;

pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
/// `text` limit (counted here in UTF-16 code units, as Telegram counts entities: never more
/// than its characters).
pub const MAX_CHARS: usize = 4096;

#[derive(Debug)]
pub(crate) struct Telegram {
    pub(crate) ctx: Ctx,
    url: SecretUrl,
    config: TelegramConfig,
}

/// Characters a reader sees in Telegram HTML, in UTF-16 units: tags count 0, an entity 1.
pub fn html_visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '<' => {
                for d in chars.by_ref() {
                    if d == '>' {
                        break;
                    }
                }
            }
            '&' => {
                n += 1;
                let rest = chars.as_str();
                if let Some(end) = rest.find(';').filter(|&e| e <= 10) {
                    chars = rest[end + 1..].chars();
                }
            }
            c => n += c.len_utf16(),
        }
    }
    n
}

/// The text of Telegram HTML: tags dropped, the four named entities and numeric ones decoded.
pub fn html_to_text(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            rest = rest.find('>').map_or("", |e| &rest[e + 1..]);
            continue;
        }
        if c == '&' {
            if let Some(end) = rest.find(';').filter(|&e| e <= 10) {
                let entity = &rest[1..end];
                let decoded = match entity {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "quot" => Some('"'),
                    e if e.starts_with("#x") || e.starts_with("#X") => {
                        u32::from_str_radix(&e[2..], 16)
                            .ok()
                            .and_then(char::from_u32)
                    }
                    e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
                    _ => None,
                };
                if let Some(d) = decoded {
                    out.push(d);
                    rest = &rest[end + 1..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// At most `max` UTF-16 units, `…` at the end when cut.
fn truncate_utf16(s: &str, max: usize) -> String {
    if utf16_len(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut n = 0;
    for c in s.chars() {
        if n + c.len_utf16() > max.saturating_sub(1) {
            break;
        }
        n += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

impl Telegram {
    pub(crate) fn new(config: &TelegramConfig, ctx: Ctx) -> Result<Telegram, NotifyError> {
        let format = match config.parse_mode {
            TelegramParseMode::HTML => Format::Html,
            TelegramParseMode::Text => Format::Text,
        };
        let mut ctx = ctx.with_templates(format, DEFAULT_TITLE, None)?;
        let token = config.bot_token.expose();
        if token.is_empty() || !token.contains(':') || token.contains('/') {
            return Err(ctx.config_error(
                "`bot_token` does not look like a bot token (123456:ABC…): copy it from @BotFather",
            ));
        }
        ctx.scrub.add(token);
        let base = ctx.url("api_base", config.api_base.as_ref(), Some(DEFAULT_API_BASE))?;
        let path = format!(
            "{}/bot{token}/sendMessage",
            base.path().trim_end_matches('/')
        );
        let mut url = base;
        url.set_path(&path);
        if let ChatId::Name(name) = &config.chat_id {
            if name.is_empty() {
                return Err(ctx.config_error(
                    "`chat_id` is empty: write the chat's id (-100…) or @channelusername",
                ));
            }
        }
        Ok(Telegram {
            ctx,
            url: SecretUrl::from_url(url),
            config: config.clone(),
        })
    }

    pub(crate) async fn send(&self, msg: &AlertMessage) -> Result<Delivery, NotifyError> {
        let ctx = &self.ctx;
        let c = &self.config;
        let title = ctx.title(msg)?;
        let (text, truncated) = match c.parse_mode {
            TelegramParseMode::HTML => {
                ctx.body_fitting(msg, &title, MAX_CHARS, html_visible_len, |s, max| {
                    html_escape(&truncate_utf16(&html_to_text(s), max))
                })?
            }
            TelegramParseMode::Text => {
                ctx.body_fitting(msg, &title, MAX_CHARS, utf16_len, truncate_utf16)?
            }
        };
        let chat_id = match &c.chat_id {
            ChatId::Id(id) => json!(id),
            ChatId::Name(name) => match name.parse::<i64>() {
                Ok(id) => json!(id),
                Err(_) => json!(name),
            },
        };
        let mut payload = json!({
            "chat_id": chat_id,
            "text": text,
            "link_preview_options": {"is_disabled": true},
        });
        if c.parse_mode == TelegramParseMode::HTML {
            payload["parse_mode"] = json!("HTML");
        }
        if let Some(thread) = c.message_thread_id {
            payload["message_thread_id"] = json!(thread);
        }
        if c.disable_notification {
            payload["disable_notification"] = json!(true);
        }
        let answer = ctx
            .post(
                self.url.url(),
                "application/json",
                to_json(ctx, &payload)?,
                &[],
            )
            .await?;
        let Ok(reply) = serde_json::from_slice::<Value>(&answer.body) else {
            ctx.check_status(&answer)?;
            return Err(ctx.rejected(
                &answer,
                i64::from(answer.status),
                &answer.text_snippet(),
                "the answer is not Bot API JSON: check `api_base` (not retried)",
                false,
            ));
        };
        if reply.get("ok").and_then(Value::as_bool) == Some(true) {
            let mut delivery = ctx.delivered(&answer, truncated);
            delivery.peer_id = reply
                .pointer("/result/message_id")
                .and_then(Value::as_i64)
                .map(|id| id.to_string());
            return Ok(delivery);
        }
        let code = reply
            .get("error_code")
            .and_then(Value::as_i64)
            .unwrap_or(i64::from(answer.status));
        let description = reply
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Some(after) = reply
            .pointer("/parameters/retry_after")
            .and_then(Value::as_u64)
        {
            return Err(ctx.rate_limited(
                format!("Telegram {code} '{description}'"),
                Duration::from_secs(after.max(1)),
            ));
        }
        if let Some(new_id) = reply
            .pointer("/parameters/migrate_to_chat_id")
            .and_then(Value::as_i64)
        {
            return Err(ctx.rejected(
                &answer,
                code,
                description,
                &format!("the group became a supergroup: set chat_id = {new_id} (not retried)"),
                false,
            ));
        }
        let (hint, retryable) = match code {
            429 => ("Telegram rate limit; will retry", true),
            c if c >= 500 => ("Telegram is failing; will retry", true),
            401 | 404 => ("the bot token is wrong or revoked: copy it from @BotFather (not retried)", false),
            403 => ("the bot is not in the chat or was blocked: add it to the chat (not retried)", false),
            _ if description.contains("parse entities") => (
                "Telegram cannot parse the HTML: check body_template (tags Telegram supports: b, i, u, s, code, pre, a) (not retried)",
                false,
            ),
            _ if description.contains("chat not found") => (
                "check `chat_id` and that the bot was added to the chat (not retried)",
                false,
            ),
            _ => ("Telegram refused the message (not retried)", false),
        };
        Err(ctx.rejected(&answer, code, description, hint, retryable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_length_and_text() {
        assert_eq!(html_visible_len("<b>a&lt;b</b> 🔴"), 6);
        assert_eq!(html_to_text("<b>a&lt;b&amp;&#x2f;</b>"), "a<b&/");
        assert_eq!(truncate_utf16("🔴🔴🔴", 5), "🔴🔴…");
    }
}
