//! DingTalk (钉钉) custom robot with 加签 signing, per "自定义机器人安全设置" and "自定义机器人发送
//! 群消息" (https://open.dingtalk.com/document/robots/customize-robot-security-settings,
//! https://open.dingtalk.com/document/robots/custom-robot-access): `POST
//! https://oapi.dingtalk.com/robot/send?access_token=TOKEN&timestamp=MS&sign=SIGN` where `MS` is
//! the current time in **milliseconds** and `SIGN` is the URL-encoded Base64 of
//! HMAC-SHA256(key = secret, message = `MS + "\n" + secret`); body
//! `{"msgtype":"markdown","markdown":{"title":…,"text":…},"at":{…}}` (or `text`); the answer
//! `{"errcode":0,"errmsg":"ok"}` is checked. A robot takes 20 messages a minute (more, and
//! DingTalk throttles it for 10 minutes); leakhound keeps to that itself.

use super::limit::{robot_id, RateLimit};
use super::template::{truncate_bytes, Format, DEFAULT_TITLE};
use super::{hmac_sha256, now_ms, AlertMessage, Ctx, Delivery, NotifyError, SecretUrl};
use base64::Engine;
use leakhound_core::config::notifiers::{DingTalkConfig, DingTalkMsgType};
use serde_json::json;
use std::time::Duration;

pub const DEFAULT_URL: &str = "https://oapi.dingtalk.com/robot/send";
/// Content limit leakhound keeps to, bytes (DingTalk refuses messages around 20 000 bytes).
pub const MAX_BYTES: usize = 18_000;

#[derive(Debug)]
pub(crate) struct DingTalk {
    pub(crate) ctx: Ctx,
    url: SecretUrl,
    robot: String,
    config: DingTalkConfig,
}

/// The 加签 `sign` before URL encoding: Base64(HMAC-SHA256(secret, `timestamp\nsecret`)).
pub fn sign(timestamp_ms: i64, secret: &str) -> String {
    let string_to_sign = format!("{timestamp_ms}\n{secret}");
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(secret.as_bytes(), string_to_sign.as_bytes()))
}

impl DingTalk {
    pub(crate) fn new(config: &DingTalkConfig, ctx: Ctx) -> Result<DingTalk, NotifyError> {
        let format = match config.msgtype {
            DingTalkMsgType::Markdown => Format::DingTalkMarkdown,
            DingTalkMsgType::Text => Format::Text,
        };
        let mut ctx = ctx.with_templates(format, DEFAULT_TITLE, None)?;
        let mut url = ctx.url("url", config.url.as_ref(), Some(DEFAULT_URL))?;
        if let Some(token) = &config.access_token {
            let others: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "access_token")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(others)
                .append_pair("access_token", token.expose());
            ctx.scrub.add(token.expose());
        }
        if !url
            .query_pairs()
            .any(|(k, v)| k == "access_token" && !v.is_empty())
        {
            return Err(ctx.config_error(
                "no access_token: set `access_token` to the access_token= of the robot's webhook URL",
            ));
        }
        if let Some(secret) = &config.secret {
            if !secret.expose().starts_with("SEC") {
                return Err(ctx.config_error(
                    "`secret` does not start with 'SEC': copy the 加签 secret from the robot's security settings",
                ));
            }
            ctx.scrub.add(secret.expose());
        }
        Ok(DingTalk {
            robot: robot_id(&["dingtalk", url.as_str()]),
            ctx,
            url: SecretUrl::from_url(url),
            config: config.clone(),
        })
    }

    pub(crate) async fn send(&self, msg: &AlertMessage) -> Result<Delivery, NotifyError> {
        let ctx = &self.ctx;
        let c = &self.config;
        let title = ctx.title(msg)?;
        let (mut text, truncated) =
            ctx.body_fitting(msg, &title, MAX_BYTES, str::len, truncate_bytes)?;
        if !c.at_mobiles.is_empty() {
            let ats: Vec<String> = c.at_mobiles.iter().map(|m| format!("@{m}")).collect();
            text.push_str(&format!("\n\n{}", ats.join(" ")));
        }
        let at =
            json!({"atMobiles": c.at_mobiles, "atUserIds": c.at_user_ids, "isAtAll": c.at_all});
        let payload = match c.msgtype {
            DingTalkMsgType::Markdown => {
                json!({"msgtype": "markdown", "markdown": {"title": title, "text": text}, "at": at})
            }
            DingTalkMsgType::Text => {
                json!({"msgtype": "text", "text": {"content": text}, "at": at})
            }
        };
        ctx.acquire(&self.robot, RateLimit::per_minute(c.rate_limit_per_minute))?;
        let mut url = self.url.url().clone();
        if let Some(secret) = &c.secret {
            let ts = now_ms();
            url.query_pairs_mut()
                .append_pair("timestamp", &ts.to_string())
                .append_pair("sign", &sign(ts, secret.expose()));
        }
        let (answer, code, errmsg) = ctx
            .post_to_robot(
                &url,
                &payload,
                &["errcode"],
                &["errmsg"],
                "DingTalk's robot address",
            )
            .await?;
        let errmsg = errmsg.as_str();
        match code {
            0 => Ok(ctx.delivered(&answer, truncated)),
            130101 | 410100 => Err(ctx.rate_limited(
                format!("DingTalk errcode {code} '{errmsg}': the robot sent more than 20 messages in a minute and is throttled"),
                Duration::from_secs(600),
            )),
            -1 => Err(ctx.rejected(&answer, code, errmsg, "DingTalk is busy (系统繁忙); will retry", true)),
            310000 => {
                let hint = if errmsg.contains("sign") {
                    "the signature does not match: check `secret` (加签) and that this host's clock is right (not retried)"
                } else if errmsg.contains("keyword") {
                    "the robot requires a keyword: put it in title_template/body_template (not retried)"
                } else if errmsg.contains("ip") {
                    "this host's IP is not in the robot's allowlist (not retried)"
                } else {
                    "the robot's security settings refused the message: check `secret`, keywords and the IP allowlist (not retried)"
                };
                Err(ctx.rejected(&answer, code, errmsg, hint, false))
            }
            300001 | 400013 | 400101 => Err(ctx.rejected(
                &answer,
                code,
                errmsg,
                "the access_token is wrong or the robot/group was removed: copy the webhook URL again (not retried)",
                false,
            )),
            _ => Err(ctx.unknown_code(&answer, code, errmsg, "DingTalk refused the message: check the body template and `msgtype` (not retried)")),
        }
    }
}
