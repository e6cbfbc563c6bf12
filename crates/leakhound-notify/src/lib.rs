//! leakhound's notifiers, one module per channel — [`email`], [`wecom`] (企业微信 group robot),
//! [`dingtalk`] (钉钉 custom robot with 加签), [`feishu`] (飞书/Lark custom bot with signature),
//! [`slack`], [`telegram`], [`webhook`] and [`alertmanager`] (API v2) — each built from its typed
//! `[[notifiers]]` block, read and checked by the core's config
//! ([`leakhound_core::config::NotifierConfig`]).
//!
//! An alert transition reads as an [`AlertMessage`] ([`AlertMessage::for_transition`]). A
//! [`Notifier`] renders it with its templates ([`template`]) and sends it in
//! the peer's documented wire format. [`NotifyError::retryable`] (carried to the outbox as a
//! [`DeliverError`]) tells the outbox whether to try again (network, timeouts, 5xx, 429 and
//! vendor rate-limit or "busy" codes) or to give up (4xx, bad key, bad signature, keyword
//! mismatch, bad config). HTTP goes through `leakhound-http`'s shared client. Secrets never
//! show: config structs print `***` for them ([`leakhound_core::secret`]), and every text that
//! comes back from a peer or a library is scrubbed of them before it goes into an error.
//!
//! ```no_run
//! # async fn demo() -> Result<(), leakhound_notify::NotifyError> {
//! use leakhound_core::config::Config;
//! use leakhound_notify::{AlertMessage, Notifier};
//!
//! let config = Config::parse(r#"
//!     [[notifiers]]
//!     name = "ops-wecom"
//!     type = "wecom"
//!     key = "693axxx6-7aoc-4bc4-97a0-0ec2sifa5aaa"
//! "#, &|_| None).map_err(|e| leakhound_notify::NotifyError::Config {
//!     name: "ops-wecom".into(), message: e.to_string() })?;
//! let notifier = Notifier::from_config(&config.notifiers[0])?;
//! let delivery = notifier.send(&AlertMessage::test_message(0)).await?;
//! println!("sent to {} (HTTP {})", delivery.channel, delivery.status);
//! # Ok(()) }
//! ```

pub mod alertmanager;
mod ctx;
pub mod dingtalk;
pub mod email;
mod error;
pub mod feishu;
pub mod limit;
pub mod message;
pub mod secret;
pub mod slack;
pub mod telegram;
pub mod template;
pub mod webhook;
pub mod wecom;

pub use error::{retryable_status, DeliverError, ErrorClass, NotifyError};
pub use message::{AlertMessage, AlertStatus};
pub use template::{Format, TemplateError, Templates};

pub(crate) use ctx::{hmac_sha256, now_ms, to_json, Ctx};
use leakhound_core::config::{ChannelConfig, NotifierConfig};
use leakhound_core::secret::SecretUrl;
use std::time::Duration;

/// A delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The notifier's name.
    pub channel: String,
    /// HTTP status, or the SMTP reply code.
    pub status: u16,
    /// The peer's id for the message, where it gives one (Telegram `message_id`).
    pub peer_id: Option<String>,
    /// The body was shortened to fit the peer's limit.
    pub truncated: bool,
}

/// A title and body as a channel would send them (for previews and `notify test --dry-run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub title: String,
    pub body: String,
}

/// A notification channel, built from its config once and reused for every message.
#[derive(Debug)]
pub struct Notifier {
    name: String,
    channel: Channel,
}

#[derive(Debug)]
enum Channel {
    Email(email::Email),
    WeCom(wecom::WeCom),
    DingTalk(dingtalk::DingTalk),
    Feishu(feishu::Feishu),
    Slack(slack::Slack),
    Telegram(telegram::Telegram),
    Webhook(webhook::Webhook),
    Alertmanager(alertmanager::Alertmanager),
}

/// Default limit for one send.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl Notifier {
    /// Check the settings, compile the templates, build the transport. Does no IO.
    pub fn from_config(config: &NotifierConfig) -> Result<Notifier, NotifyError> {
        let ctx = Ctx::new(config)?;
        let channel = match &config.channel {
            ChannelConfig::Email(c) => Channel::Email(email::Email::new(c, ctx)?),
            ChannelConfig::WeCom(c) => Channel::WeCom(wecom::WeCom::new(c, ctx)?),
            ChannelConfig::DingTalk(c) => Channel::DingTalk(dingtalk::DingTalk::new(c, ctx)?),
            ChannelConfig::Feishu(c) => Channel::Feishu(feishu::Feishu::new(c, ctx)?),
            ChannelConfig::Slack(c) => Channel::Slack(slack::Slack::new(c, ctx)?),
            ChannelConfig::Telegram(c) => Channel::Telegram(telegram::Telegram::new(c, ctx)?),
            ChannelConfig::Webhook(c) => Channel::Webhook(webhook::Webhook::new(c, ctx)?),
            ChannelConfig::Alertmanager(c) => {
                Channel::Alertmanager(alertmanager::Alertmanager::new(c, ctx)?)
            }
        };
        Ok(Notifier {
            name: config.name.clone(),
            channel,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `type`: `email`, `wecom`, …
    pub fn kind(&self) -> &'static str {
        match &self.channel {
            Channel::Email(_) => "email",
            Channel::WeCom(_) => "wecom",
            Channel::DingTalk(_) => "dingtalk",
            Channel::Feishu(_) => "feishu",
            Channel::Slack(_) => "slack",
            Channel::Telegram(_) => "telegram",
            Channel::Webhook(_) => "webhook",
            Channel::Alertmanager(_) => "alertmanager",
        }
    }

    /// Send one message. Retrying it is safe where the peer supports idempotency keys
    /// (webhook `Idempotency-Key`, email `Message-ID`, Alertmanager's label fingerprint).
    pub async fn send(&self, msg: &AlertMessage) -> Result<Delivery, NotifyError> {
        let msg = &msg.bounded();
        match &self.channel {
            Channel::Email(n) => n.send(msg).await,
            Channel::WeCom(n) => n.send(msg).await,
            Channel::DingTalk(n) => n.send(msg).await,
            Channel::Feishu(n) => n.send(msg).await,
            Channel::Slack(n) => n.send(msg).await,
            Channel::Telegram(n) => n.send(msg).await,
            Channel::Webhook(n) => n.send(msg).await,
            Channel::Alertmanager(n) => n.send(msg).await,
        }
    }

    /// Send a message queued as JSON (an [`AlertMessage`] serialized with serde_json, as the
    /// outbox stores it). A payload that does not parse is a permanent error.
    pub async fn send_json(&self, payload: &str) -> Result<Delivery, NotifyError> {
        let msg: AlertMessage = serde_json::from_str(payload).map_err(|e| NotifyError::Config {
            name: self.name.clone(),
            message: format!("the queued message is not an alert message ({e}); it was written by another leakhound version or edited by hand"),
        })?;
        self.send(&msg).await
    }

    /// Title and body as this channel would send them, without sending.
    pub fn render(&self, msg: &AlertMessage) -> Result<Rendered, NotifyError> {
        let ctx = match &self.channel {
            Channel::Email(n) => &n.ctx,
            Channel::WeCom(n) => &n.ctx,
            Channel::DingTalk(n) => &n.ctx,
            Channel::Feishu(n) => &n.ctx,
            Channel::Slack(n) => &n.ctx,
            Channel::Telegram(n) => &n.ctx,
            Channel::Webhook(n) => &n.ctx,
            Channel::Alertmanager(n) => &n.ctx,
        };
        let title = ctx.title(msg)?;
        let body = ctx.body(msg, &title)?;
        Ok(Rendered { title, body })
    }

    /// How often a still-firing alert must be sent again so the peer does not resolve it by
    /// itself: `Some` for Alertmanager (its `resend_interval`, default 1m), `None` otherwise.
    pub fn resend_interval(&self) -> Option<Duration> {
        match &self.channel {
            Channel::Alertmanager(n) => Some(n.resend_interval()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
