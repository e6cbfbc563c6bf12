//! leakhound's notifiers, one module per channel — [`email`], [`wecom`] (企业微信 group robot),
//! [`dingtalk`] (钉钉 custom robot with 加签), [`feishu`] (飞书/Lark custom bot with signature),
//! [`slack`], [`telegram`], [`webhook`] and [`alertmanager`] (API v2) — each with a serde config
//! struct, picked by the `type` of a `[[notifiers]]` block ([`ChannelConfig`]).
//!
//! A [`Notifier`] renders an [`AlertMessage`] with its templates ([`template`]) and sends it in
//! the peer's documented wire format. [`NotifyError::retryable`] (carried to the outbox as a
//! [`DeliverError`]) tells the outbox whether to try again (network, timeouts, 5xx, 429 and
//! vendor rate-limit or "busy" codes) or to give up (4xx, bad key, bad signature, keyword
//! mismatch, bad config). HTTP goes through `leakhound-http`'s shared client. Secrets never
//! show: config structs print `***` for them ([`Secret`], [`SecretUrl`]), and every text that
//! comes back from a peer or a library is scrubbed of them before it goes into an error.
//!
//! ```no_run
//! # async fn demo() -> Result<(), leakhound_notify::NotifyError> {
//! use leakhound_notify::{AlertMessage, Notifier, NotifierConfig};
//!
//! let table: toml::Table = toml::from_str(r#"
//!     name = "ops-wecom"
//!     type = "wecom"
//!     key = "693axxx6-7aoc-4bc4-97a0-0ec2sifa5aaa"
//! "#).map_err(|e| leakhound_notify::NotifyError::Config {
//!     name: "ops-wecom".into(), message: e.to_string() })?;
//! let config = NotifierConfig::from_toml(&table)?;
//! let notifier = Notifier::from_config(&config)?;
//! let delivery = notifier.send(&AlertMessage::test_message(0)).await?;
//! println!("sent to {} (HTTP {})", delivery.channel, delivery.status);
//! # Ok(()) }
//! ```

pub mod alertmanager;
pub mod dingtalk;
pub mod email;
pub mod feishu;
pub mod limit;
pub mod message;
pub mod secret;
pub mod slack;
pub mod telegram;
pub mod template;
pub mod webhook;
pub mod wecom;

pub use message::{AlertLevel, AlertMessage, AlertStatus};
pub use secret::{Secret, SecretUrl};
pub use template::{Format, TemplateError, Templates};

use leakhound_core::units::human_duration;
use leakhound_http::error_chain;
use secret::Scrubber;
use serde::{Deserialize, Deserializer};
use std::time::Duration;
use url::Url;

/// One `[[notifiers]]` block: the fields every channel has, and the channel's own settings
/// picked by `type`.
#[derive(Debug, Clone, Deserialize)]
pub struct NotifierConfig {
    /// Unique name, used in logs, the outbox and `leakhound notify test NAME`.
    pub name: String,
    /// Overrides the default title (minijinja; see [`template`]).
    #[serde(default)]
    pub title_template: Option<String>,
    /// Overrides the default body.
    #[serde(default)]
    pub body_template: Option<String>,
    /// Limit for one send (connect, request, answer). Default 10s.
    #[serde(default, deserialize_with = "de_duration")]
    pub timeout: Option<Duration>,
    #[serde(flatten)]
    pub channel: ChannelConfig,
}

/// The channel's own settings, by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ChannelConfig {
    Email(email::EmailConfig),
    WeCom(wecom::WeComConfig),
    DingTalk(dingtalk::DingTalkConfig),
    Feishu(feishu::FeishuConfig),
    Slack(slack::SlackConfig),
    Telegram(telegram::TelegramConfig),
    Webhook(webhook::WebhookConfig),
    Alertmanager(alertmanager::AlertmanagerConfig),
}

impl ChannelConfig {
    /// The `type` as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelConfig::Email(_) => "email",
            ChannelConfig::WeCom(_) => "wecom",
            ChannelConfig::DingTalk(_) => "dingtalk",
            ChannelConfig::Feishu(_) => "feishu",
            ChannelConfig::Slack(_) => "slack",
            ChannelConfig::Telegram(_) => "telegram",
            ChannelConfig::Webhook(_) => "webhook",
            ChannelConfig::Alertmanager(_) => "alertmanager",
        }
    }
}

/// Keys whose values are secrets (or may hold one): never echoed in a config error.
const SECRET_KEYS: [&str; 8] = [
    "password",
    "key",
    "secret",
    "bot_token",
    "access_token",
    "url",
    "bearer_token",
    "headers",
];

impl NotifierConfig {
    /// Read one `[[notifiers]]` block (as the config loader hands it over: every key, `${ENV}`
    /// expanded). The error names the block and the bad key, never a secret's value.
    pub fn from_toml(table: &toml::Table) -> Result<NotifierConfig, NotifyError> {
        let name = table
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string();
        toml::Value::Table(table.clone())
            .try_into::<NotifierConfig>()
            .map_err(|e| {
                let mut scrub = Scrubber::default();
                collect_secrets(table, false, &mut scrub);
                let message = scrub.scrub(e.message());
                NotifyError::Config {
                    name,
                    message: format!("{message} (types: email, wecom, dingtalk, feishu, slack, telegram, webhook, alertmanager; see README 'Notification channels')"),
                }
            })
    }
}

fn collect_secrets(table: &toml::Table, all: bool, scrub: &mut Scrubber) {
    for (k, v) in table {
        let secret = all || SECRET_KEYS.contains(&k.as_str());
        match v {
            toml::Value::String(s) if secret => {
                scrub.add(s);
                if let Ok(url) = Url::parse(s) {
                    scrub.add_url(&url);
                }
            }
            toml::Value::Table(t) => collect_secrets(t, secret, scrub),
            _ => {}
        }
    }
}

/// `"10s"`, `"1m30s"` (humantime).
pub(crate) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map(Some).map_err(|e| {
        serde::de::Error::custom(format!(
            "'{text}' is not a duration ({e}): write it like \"10s\" or \"1m\""
        ))
    })
}

/// Retryable or not: what the outbox needs to know about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Network, timeout, 5xx, 429, vendor rate-limit or "busy" codes: try again later.
    Retryable,
    /// 4xx, bad key or signature, keyword mismatch, bad config or template: trying again
    /// cannot help; dead-letter it and tell someone.
    Permanent,
}

/// Why a notifier could not be built or a message not delivered. Messages name the notifier,
/// the peer (host only) and the fix; they never contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Bad settings (permanent).
    #[error("notifier '{name}': {message}")]
    Config { name: String, message: String },
    /// A template that does not compile or render (permanent).
    #[error("notifier '{name}': {source}")]
    Template {
        name: String,
        #[source]
        source: TemplateError,
    },
    /// Could not connect or the connection broke (retryable).
    #[error("notifier '{name}': cannot reach {peer}: {detail}; check the URL and the network (will retry)")]
    Network {
        name: String,
        peer: String,
        detail: String,
    },
    /// No answer in time (retryable).
    #[error("notifier '{name}': no answer from {peer} within {after}; the peer is slow or down (will retry; raise `timeout` if it is just slow)")]
    Timeout {
        name: String,
        peer: String,
        after: String,
    },
    /// An HTTP status that is not success: 408 and 5xx retryable, other 4xx permanent.
    #[error("notifier '{name}': HTTP {status} from {peer}: {detail}")]
    Http {
        name: String,
        peer: String,
        status: u16,
        detail: String,
    },
    /// Too many messages: our own per-robot limit, HTTP 429, or the vendor's rate-limit code
    /// (retryable after `retry_after`).
    #[error("notifier '{name}': rate limited: {detail}; next try in {}", human_duration(*.retry_after))]
    RateLimited {
        name: String,
        detail: String,
        retry_after: Duration,
    },
    /// The peer answered with an error code in its JSON (`errcode`, `code`, `ok: false`);
    /// retryable only for "busy" codes.
    #[error("notifier '{name}': {peer} refused the message: code {code} '{detail}'; {hint}")]
    Rejected {
        name: String,
        peer: String,
        code: i64,
        detail: String,
        hint: String,
        retryable: bool,
    },
    /// The SMTP conversation failed: 4xx replies and connection problems retryable, 5xx
    /// replies (bad credentials, refused recipient) permanent.
    #[error("notifier '{name}': SMTP: {detail}")]
    Smtp {
        name: String,
        detail: String,
        retryable: bool,
    },
}

impl NotifyError {
    pub fn class(&self) -> ErrorClass {
        if self.retryable() {
            ErrorClass::Retryable
        } else {
            ErrorClass::Permanent
        }
    }

    pub fn retryable(&self) -> bool {
        match self {
            NotifyError::Config { .. } | NotifyError::Template { .. } => false,
            NotifyError::Network { .. }
            | NotifyError::Timeout { .. }
            | NotifyError::RateLimited { .. } => true,
            NotifyError::Http { status, .. } => retryable_status(*status),
            NotifyError::Rejected { retryable, .. } | NotifyError::Smtp { retryable, .. } => {
                *retryable
            }
        }
    }

    /// How long the peer (or our own limit) asked to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NotifyError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// 408, 425, 429 and 5xx are worth retrying.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429) || status >= 500
}

/// Why one delivery attempt failed: what the outbox needs to decide between retrying and
/// dead-lettering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverError {
    /// Worth trying again (network, timeout, 5xx, rate limit); `false` dead-letters at once.
    pub retryable: bool,
    pub message: String,
    /// The peer asked to wait this long (e.g. Telegram's `retry_after`).
    pub retry_after: Option<Duration>,
}

impl From<NotifyError> for DeliverError {
    fn from(e: NotifyError) -> Self {
        DeliverError {
            retryable: e.retryable(),
            retry_after: e.retry_after(),
            message: e.to_string(),
        }
    }
}

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

/// What every channel needs: its name, templates, timeout, the HTTP pool and the scrubber.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub name: String,
    title_template: Option<String>,
    body_template: Option<String>,
    templates: Option<Templates>,
    pub timeout: Duration,
    pub scrub: Scrubber,
}

impl Ctx {
    fn new(config: &NotifierConfig) -> Result<Ctx, NotifyError> {
        if config.name.trim().is_empty() {
            return Err(NotifyError::Config {
                name: config.name.clone(),
                message: "'name' is empty: give every notifier a unique name".into(),
            });
        }
        Ok(Ctx {
            name: config.name.clone(),
            title_template: config.title_template.clone(),
            body_template: config.body_template.clone(),
            templates: None,
            timeout: config.timeout.unwrap_or(DEFAULT_TIMEOUT),
            scrub: Scrubber::default(),
        })
    }

    /// Compile the templates with this channel's defaults.
    pub(crate) fn with_templates(
        mut self,
        format: Format,
        default_title: &str,
        default_body: Option<&str>,
    ) -> Result<Ctx, NotifyError> {
        let body = self
            .body_template
            .as_deref()
            .or(default_body)
            .map(str::to_string);
        let templates = Templates::new(
            format,
            default_title,
            self.title_template.as_deref(),
            body.as_deref(),
        )
        .map_err(|source| NotifyError::Template {
            name: self.name.clone(),
            source,
        })?;
        self.templates = Some(templates);
        Ok(self)
    }

    pub(crate) fn config_error(&self, message: impl Into<String>) -> NotifyError {
        NotifyError::Config {
            name: self.name.clone(),
            message: message.into(),
        }
    }

    fn templates(&self) -> Result<&Templates, NotifyError> {
        self.templates
            .as_ref()
            .ok_or_else(|| self.config_error("templates were not compiled (a bug in leakhound)"))
    }

    fn template_error(&self, source: TemplateError) -> NotifyError {
        NotifyError::Template {
            name: self.name.clone(),
            source,
        }
    }

    pub(crate) fn title(&self, msg: &AlertMessage) -> Result<String, NotifyError> {
        self.templates()?
            .title(msg)
            .map_err(|e| self.template_error(e))
    }

    pub(crate) fn body(&self, msg: &AlertMessage, title: &str) -> Result<String, NotifyError> {
        self.templates()?
            .body(msg, title)
            .map_err(|e| self.template_error(e))
    }

    pub(crate) fn body_fitting(
        &self,
        msg: &AlertMessage,
        title: &str,
        limit: usize,
        measure: impl Fn(&str) -> usize,
        cut: impl Fn(&str, usize) -> String,
    ) -> Result<(String, bool), NotifyError> {
        self.templates()?
            .body_fitting(msg, title, limit, measure, cut)
            .map_err(|e| self.template_error(e))
    }

    /// Parse a URL setting (or its default), remembering its secrets for scrubbing.
    pub(crate) fn url(
        &mut self,
        key: &str,
        given: Option<&SecretUrl>,
        default: Option<&str>,
    ) -> Result<Url, NotifyError> {
        let url = match (given, default) {
            (Some(u), _) => u.url().clone(),
            (None, Some(d)) => SecretUrl::parse(d)
                .map_err(|e| self.config_error(format!("`{key}`: {e}")))?
                .url()
                .clone(),
            (None, None) => {
                return Err(self.config_error(format!(
                    "`{key}` is missing: copy the webhook URL from the peer's settings"
                )))
            }
        };
        self.scrub.add_url(&url);
        Ok(url)
    }

    fn scrubbed(&self, text: &str) -> String {
        self.scrub.scrub(text)
    }

    /// POST `body` with `headers` and this notifier's timeout; read at most 64 KiB of the answer.
    pub(crate) async fn post(
        &self,
        url: &Url,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> Result<Answer, NotifyError> {
        let peer = secret::shown(url);
        let client = leakhound_http::shared_client().map_err(|e| NotifyError::Network {
            name: self.name.clone(),
            peer: peer.clone(),
            detail: self.scrubbed(&e.to_string()),
        })?;
        let mut request = client
            .post(url.clone())
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, v.as_str());
        }
        let send_error = |e: reqwest::Error| {
            if e.is_timeout() {
                NotifyError::Timeout {
                    name: self.name.clone(),
                    peer: peer.clone(),
                    after: human_duration(self.timeout),
                }
            } else {
                NotifyError::Network {
                    name: self.name.clone(),
                    peer: peer.clone(),
                    detail: self.scrubbed(&error_chain(&e.without_url())),
                }
            }
        };
        let mut response = request.send().await.map_err(send_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(send_error)? {
            let room = MAX_ANSWER.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_ANSWER {
                break;
            }
        }
        Ok(Answer {
            peer,
            status,
            retry_after,
            body,
        })
    }

    /// The generic HTTP verdict: 2xx fine; 429 rate limited (its `Retry-After`, else 60 s);
    /// 408 and 5xx retryable; other 4xx permanent with a hint to check the URL or token.
    pub(crate) fn check_status(&self, answer: &Answer) -> Result<(), NotifyError> {
        if (200..300).contains(&answer.status) {
            return Ok(());
        }
        let text = self.scrubbed(&answer.text_snippet());
        if answer.status == 429 {
            return Err(NotifyError::RateLimited {
                name: self.name.clone(),
                detail: format!("HTTP 429 from {}: {text}", answer.peer),
                retry_after: answer.retry_after.unwrap_or(Duration::from_secs(60)),
            });
        }
        let detail = if retryable_status(answer.status) {
            format!("'{text}' (the peer is failing; will retry)")
        } else {
            format!("'{text}' (not retried: check the URL, token or key, and the message template)")
        };
        Err(NotifyError::Http {
            name: self.name.clone(),
            peer: answer.peer.clone(),
            status: answer.status,
            detail,
        })
    }

    /// An error code in the peer's JSON answer.
    pub(crate) fn rejected(
        &self,
        answer: &Answer,
        code: i64,
        detail: &str,
        hint: &str,
        retryable: bool,
    ) -> NotifyError {
        NotifyError::Rejected {
            name: self.name.clone(),
            peer: answer.peer.clone(),
            code,
            detail: self.scrubbed(detail),
            hint: hint.to_string(),
            retryable,
        }
    }

    pub(crate) fn rate_limited(&self, detail: String, retry_after: Duration) -> NotifyError {
        NotifyError::RateLimited {
            name: self.name.clone(),
            detail: self.scrubbed(&detail),
            retry_after,
        }
    }

    /// POST a chat robot's JSON `payload` to `url` and read its reply code and message (see
    /// [`vendor_reply`](Self::vendor_reply)): the one exchange WeCom, DingTalk and Feishu share.
    pub(crate) async fn post_to_robot(
        &self,
        url: &url::Url,
        payload: &serde_json::Value,
        code_keys: &[&str],
        msg_keys: &[&str],
        what: &str,
    ) -> Result<(Answer, i64, String), NotifyError> {
        let answer = self
            .post(url, "application/json", to_json(self, payload)?, &[])
            .await?;
        let (code, msg) = self.vendor_reply(&answer, code_keys, msg_keys, what)?;
        Ok((answer, code, msg))
    }

    /// A chat robot's answer: its error code and message from the JSON body (`code_keys`,
    /// `msg_keys`, first found), whatever the HTTP status — vendors send rate-limit codes with
    /// HTTP 400. Without a code, the HTTP status decides; a 2xx without one is refused as not
    /// the vendor's (`what` names the expected peer).
    pub(crate) fn vendor_reply(
        &self,
        answer: &Answer,
        code_keys: &[&str],
        msg_keys: &[&str],
        what: &str,
    ) -> Result<(i64, String), NotifyError> {
        let reply: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
        let code = reply
            .as_ref()
            .and_then(|r| code_keys.iter().find_map(|k| r.get(*k)?.as_i64()));
        let Some(code) = code else {
            self.check_status(answer)?;
            return Err(self.rejected(
                answer,
                i64::from(answer.status),
                &answer.text_snippet(),
                &format!("the answer has no error code: is `url` {what}? (not retried)"),
                false,
            ));
        };
        if code == 0 {
            self.check_status(answer)?;
        }
        let msg = reply
            .as_ref()
            .and_then(|r| msg_keys.iter().find_map(|k| r.get(*k)?.as_str()))
            .unwrap_or("")
            .to_string();
        Ok((code, msg))
    }

    /// A vendor code leakhound has no rule for: the HTTP status decides if it says retry
    /// (429, 5xx), else it is permanent with `hint`.
    pub(crate) fn unknown_code(
        &self,
        answer: &Answer,
        code: i64,
        msg: &str,
        hint: &str,
    ) -> NotifyError {
        if retryable_status(answer.status) {
            if let Err(e) = self.check_status(answer) {
                return e;
            }
        }
        self.rejected(answer, code, msg, hint, false)
    }

    /// Take a slot of a robot's send limit, or fail with the wait.
    pub(crate) fn acquire(&self, robot: &str, limit: limit::RateLimit) -> Result<(), NotifyError> {
        limit::acquire(robot, limit, std::time::Instant::now()).map_err(|wait| {
            self.rate_limited(
                format!(
                    "this robot accepts {} messages per {}; leakhound holds the rest back",
                    limit.max,
                    human_duration(limit.window)
                ),
                wait,
            )
        })
    }

    pub(crate) fn delivered(&self, answer: &Answer, truncated: bool) -> Delivery {
        Delivery {
            channel: self.name.clone(),
            status: answer.status,
            peer_id: None,
            truncated,
        }
    }
}

const MAX_ANSWER: usize = 64 * 1024;

/// A peer's answer: status, `Retry-After` (seconds form), and the start of the body.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub peer: String,
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Answer {
    /// At most 300 characters of the body, on one line.
    pub fn text_snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        template::truncate_chars(&one_line, 300)
    }
}

/// JSON bytes of a value (serializing our own types cannot fail; if it did, say so).
pub(crate) fn to_json(ctx: &Ctx, value: &serde_json::Value) -> Result<Vec<u8>, NotifyError> {
    serde_json::to_vec(value)
        .map_err(|e| ctx.config_error(format!("cannot encode the message: {e}")))
}

/// HMAC-SHA256 of `msg` with `key`.
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use hmac::{Mac, SimpleHmac};
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    match SimpleHmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Milliseconds since the Unix epoch (signatures, `startsAt`). Private to the notifiers until
/// the workspace has one clock to pass in.
pub(crate) fn now_ms() -> i64 {
    leakhound_core::time::UnixMs::from(std::time::SystemTime::now()).as_i64()
}

#[cfg(test)]
mod tests;
