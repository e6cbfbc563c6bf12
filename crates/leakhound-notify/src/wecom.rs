//! WeCom (企业微信) group robot, per "群机器人配置说明"
//! (https://developer.work.weixin.qq.com/document/path/91770): `POST
//! https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY` with
//! `{"msgtype":"markdown","markdown":{"content":…}}` (content ≤ 4096 bytes of UTF-8) or
//! `{"msgtype":"text","text":{"content":…,"mentioned_list":[…],"mentioned_mobile_list":[…]}}`
//! (≤ 2048 bytes); the answer `{"errcode":0,"errmsg":"ok"}` is checked. No signing: the key is
//! the secret. A robot takes 20 messages a minute; leakhound keeps to that itself.

use super::limit::{robot_id, RateLimit};
use super::template::{truncate_bytes, Format, DEFAULT_TITLE};
use super::{AlertMessage, Ctx, Delivery, NotifyError, SecretUrl};
use leakhound_core::config::notifiers::{WeComConfig, WeComMsgType};
use serde_json::json;
use std::time::Duration;

pub const DEFAULT_URL: &str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send";
/// Markdown content limit, bytes.
pub const MARKDOWN_MAX_BYTES: usize = 4096;
/// Text content limit, bytes.
pub const TEXT_MAX_BYTES: usize = 2048;

#[derive(Debug)]
pub(crate) struct WeCom {
    pub(crate) ctx: Ctx,
    url: SecretUrl,
    robot: String,
    config: WeComConfig,
}

impl WeCom {
    pub(crate) fn new(config: &WeComConfig, ctx: Ctx) -> Result<WeCom, NotifyError> {
        let format = match config.msgtype {
            WeComMsgType::Markdown => Format::Markdown,
            WeComMsgType::Text => Format::Text,
        };
        let mut ctx = ctx.with_templates(format, DEFAULT_TITLE, None)?;
        let mut url = ctx.url("url", config.url.as_ref(), Some(DEFAULT_URL))?;
        if let Some(key) = &config.key {
            if key.is_empty() {
                return Err(ctx.config_error("`key` is empty: copy the key= of the robot's webhook URL (群机器人 → Webhook 地址)"));
            }
            let others: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "key")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(others)
                .append_pair("key", key.expose());
            ctx.scrub.add(key.expose());
        }
        if !url.query_pairs().any(|(k, v)| k == "key" && !v.is_empty()) {
            return Err(ctx.config_error(
                "no robot key: set `key` to the key= of the robot's webhook URL (群机器人 → Webhook 地址)",
            ));
        }
        Ok(WeCom {
            robot: robot_id(&["wecom", url.as_str()]),
            ctx,
            url: SecretUrl::from_url(url),
            config: config.clone(),
        })
    }

    pub(crate) async fn send(&self, msg: &AlertMessage) -> Result<Delivery, NotifyError> {
        let ctx = &self.ctx;
        let title = ctx.title(msg)?;
        let (payload, truncated) = match self.config.msgtype {
            WeComMsgType::Markdown => {
                let (content, cut) =
                    ctx.body_fitting(msg, &title, MARKDOWN_MAX_BYTES, str::len, truncate_bytes)?;
                (
                    json!({"msgtype": "markdown", "markdown": {"content": content}}),
                    cut,
                )
            }
            WeComMsgType::Text => {
                let (content, cut) =
                    ctx.body_fitting(msg, &title, TEXT_MAX_BYTES, str::len, truncate_bytes)?;
                let mut text = json!({"content": content});
                if !self.config.mentioned_list.is_empty() {
                    text["mentioned_list"] = json!(self.config.mentioned_list);
                }
                if !self.config.mentioned_mobile_list.is_empty() {
                    text["mentioned_mobile_list"] = json!(self.config.mentioned_mobile_list);
                }
                (json!({"msgtype": "text", "text": text}), cut)
            }
        };
        ctx.acquire(
            &self.robot,
            RateLimit::per_minute(self.config.rate_limit_per_minute),
        )?;
        let (answer, code, errmsg) = ctx
            .post_to_robot(
                self.url.url(),
                &payload,
                &["errcode"],
                &["errmsg"],
                "WeCom's webhook address",
            )
            .await?;
        let errmsg = errmsg.as_str();
        match code {
            0 => Ok(ctx.delivered(&answer, truncated)),
            45009 => Err(ctx.rate_limited(
                format!("WeCom errcode 45009 '{errmsg}': the robot's 20 messages/minute are used up"),
                Duration::from_secs(60),
            )),
            -1 => Err(ctx.rejected(&answer, code, errmsg, "WeCom is busy (系统繁忙); will retry", true)),
            93000 => Err(ctx.rejected(
                &answer,
                code,
                errmsg,
                "the robot key is invalid or the robot was removed: copy the key from the group's robot settings (not retried)",
                false,
            )),
            _ => Err(ctx.unknown_code(&answer, code, errmsg, "WeCom refused the message: check the body template and `msgtype` (not retried)")),
        }
    }
}
