//! Each channel's own settings (`type = "…"`), and a small reader per type. The notifiers crate
//! checks what needs its libraries (addresses, signatures, templates) when it builds them.

use super::block::Block;
use crate::secret::{Secret, SecretUrl};
use std::collections::BTreeMap;
use std::time::Duration;

/// `type = "email"`.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// The SMTP server, e.g. `smtp.example.com`.
    pub host: String,
    /// Default: 25 (`none`), 587 (`starttls`), 465 (`tls`).
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS) or `none` (plain, trusted relays only).
    pub tls: EmailTls,
    /// Login; none when unset.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `leakhound <alerts@example.com>` or a bare address.
    pub from: String,
    /// One or more recipients.
    pub to: Vec<String>,
    /// Accept a self-signed server certificate (internal relays only).
    pub accept_invalid_certs: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EmailTls {
    None,
    #[default]
    Starttls,
    Tls,
}

pub(super) fn read_email(b: &mut Block<'_, '_>) -> Option<EmailConfig> {
    let host = b.required_string("host");
    let port = b.int("port", "u16");
    let tls = b.choice(
        "tls",
        &[
            ("none", EmailTls::None),
            ("starttls", EmailTls::Starttls),
            ("tls", EmailTls::Tls),
        ],
        &["none", "starttls", "tls"],
    );
    let username = b.string("username");
    let password = b.secret("password");
    let from = b.required_string("from");
    b.require("to");
    let to = b.strings("to");
    let accept_invalid_certs = b.boolean("accept_invalid_certs");
    Some(EmailConfig {
        host: host?,
        port,
        tls,
        username,
        password,
        from: from?,
        to,
        accept_invalid_certs,
    })
}

/// `type = "wecom"`.
#[derive(Debug, Clone, PartialEq)]
pub struct WeComConfig {
    /// The robot's key: the `key=` of its webhook URL. Optional when `url` carries it.
    pub key: Option<Secret>,
    /// Default `https://qyapi.weixin.qq.com/cgi-bin/webhook/send`; the whole webhook URL
    /// (with `?key=`) also works.
    pub url: Option<SecretUrl>,
    /// `markdown` (default) or `text` (plain text, which WeCom can @-mention people in).
    pub msgtype: WeComMsgType,
    /// User ids to @ (text only; `@all` for everyone).
    pub mentioned_list: Vec<String>,
    /// Phone numbers to @ (text only).
    pub mentioned_mobile_list: Vec<String>,
    /// Messages per minute per robot (WeCom's limit: 20).
    pub rate_limit_per_minute: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WeComMsgType {
    #[default]
    Markdown,
    Text,
}

pub(super) fn read_wecom(b: &mut Block<'_, '_>) -> Option<WeComConfig> {
    Some(WeComConfig {
        key: b.secret("key"),
        url: b.url("url"),
        msgtype: b.choice(
            "msgtype",
            &[
                ("markdown", WeComMsgType::Markdown),
                ("text", WeComMsgType::Text),
            ],
            &["markdown", "text"],
        ),
        mentioned_list: b.strings("mentioned_list"),
        mentioned_mobile_list: b.strings("mentioned_mobile_list"),
        rate_limit_per_minute: b.int("rate_limit_per_minute", "u32").unwrap_or(20),
    })
}

/// `type = "dingtalk"`.
#[derive(Debug, Clone, PartialEq)]
pub struct DingTalkConfig {
    /// The robot's `access_token` (from its webhook URL). Optional when `url` carries it.
    pub access_token: Option<Secret>,
    /// The 加签 secret (`SEC…`). Without it the robot must use a keyword or IP allowlist.
    pub secret: Option<Secret>,
    /// Default `https://oapi.dingtalk.com/robot/send`; the whole webhook URL also works.
    pub url: Option<SecretUrl>,
    /// `markdown` (default) or `text`.
    pub msgtype: DingTalkMsgType,
    /// Phone numbers to @ (added to the text too, as DingTalk requires).
    pub at_mobiles: Vec<String>,
    /// DingTalk user ids to @.
    pub at_user_ids: Vec<String>,
    pub at_all: bool,
    /// Messages per minute per robot (DingTalk's limit: 20).
    pub rate_limit_per_minute: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DingTalkMsgType {
    #[default]
    Markdown,
    Text,
}

pub(super) fn read_dingtalk(b: &mut Block<'_, '_>) -> Option<DingTalkConfig> {
    Some(DingTalkConfig {
        access_token: b.secret("access_token"),
        secret: b.secret("secret"),
        url: b.url("url"),
        msgtype: b.choice(
            "msgtype",
            &[
                ("markdown", DingTalkMsgType::Markdown),
                ("text", DingTalkMsgType::Text),
            ],
            &["markdown", "text"],
        ),
        at_mobiles: b.strings("at_mobiles"),
        at_user_ids: b.strings("at_user_ids"),
        at_all: b.boolean("at_all"),
        rate_limit_per_minute: b.int("rate_limit_per_minute", "u32").unwrap_or(20),
    })
}

/// `type = "feishu"` (Lark too: set `url` to the open.larksuite.com hook).
#[derive(Debug, Clone, PartialEq)]
pub struct FeishuConfig {
    /// The bot's webhook URL, `https://open.feishu.cn/open-apis/bot/v2/hook/…`.
    pub url: SecretUrl,
    /// The signing secret (签名校验). Without it the bot must use keywords or an IP allowlist.
    pub secret: Option<Secret>,
    /// `interactive` (a card, default) or `text`.
    pub msg_type: FeishuMsgType,
    /// Messages per minute per bot (Feishu's limit: 100).
    pub rate_limit_per_minute: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FeishuMsgType {
    #[default]
    Interactive,
    Text,
}

pub(super) fn read_feishu(b: &mut Block<'_, '_>) -> Option<FeishuConfig> {
    let url = b.required_url("url");
    let secret = b.secret("secret");
    let msg_type = b.choice(
        "msg_type",
        &[
            ("interactive", FeishuMsgType::Interactive),
            ("text", FeishuMsgType::Text),
        ],
        &["interactive", "text"],
    );
    let rate_limit_per_minute = b.int("rate_limit_per_minute", "u32").unwrap_or(100);
    Some(FeishuConfig {
        url: url?,
        secret,
        msg_type,
        rate_limit_per_minute,
    })
}

/// `type = "slack"`.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    /// The incoming webhook URL, `https://hooks.slack.com/services/T…/B…/…` (a secret).
    pub url: SecretUrl,
}

pub(super) fn read_slack(b: &mut Block<'_, '_>) -> Option<SlackConfig> {
    Some(SlackConfig {
        url: b.required_url("url")?,
    })
}

/// `type = "telegram"`.
#[derive(Debug, Clone, PartialEq)]
pub struct TelegramConfig {
    /// The token from @BotFather, `123456:ABC-…`.
    pub bot_token: Secret,
    /// A chat id (`-1001234567890`) or `@channelusername`.
    pub chat_id: ChatId,
    /// Default `https://api.telegram.org` (a local Bot API server works too).
    pub api_base: Option<SecretUrl>,
    /// `HTML` (default) or `text` (no parse_mode: plain text).
    pub parse_mode: TelegramParseMode,
    /// A forum topic of the chat.
    pub message_thread_id: Option<i64>,
    /// Deliver silently.
    pub disable_notification: bool,
}

/// `chat_id`: an integer or a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatId {
    Id(i64),
    Name(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TelegramParseMode {
    #[default]
    HTML,
    Text,
}

pub(super) fn read_telegram(b: &mut Block<'_, '_>) -> Option<TelegramConfig> {
    let bot_token = b.required_secret("bot_token");
    b.require("chat_id");
    let chat_id = b
        .int_or_string("chat_id", "ChatId")
        .map(|id| id.map_or_else(ChatId::Name, ChatId::Id));
    let api_base = b.url("api_base");
    let parse_mode = b.choice(
        "parse_mode",
        &[
            ("HTML", TelegramParseMode::HTML),
            ("html", TelegramParseMode::HTML),
            ("Text", TelegramParseMode::Text),
            ("none", TelegramParseMode::Text),
            ("text", TelegramParseMode::Text),
        ],
        &["HTML", "html", "Text", "none", "text"],
    );
    let message_thread_id = b.int("message_thread_id", "i64");
    let disable_notification = b.boolean("disable_notification");
    Some(TelegramConfig {
        bot_token: bot_token?,
        chat_id: chat_id?,
        api_base,
        parse_mode,
        message_thread_id,
        disable_notification,
    })
}

/// `type = "webhook"`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: SecretUrl,
    /// Key of the `X-Leakhound-Signature` HMAC; no signature without it.
    pub secret: Option<Secret>,
    /// Extra headers, e.g. `Authorization = "Bearer ${TOKEN}"` (values are secrets).
    pub headers: BTreeMap<String, Secret>,
}

pub(super) fn read_webhook(b: &mut Block<'_, '_>) -> Option<WebhookConfig> {
    let url = b.required_url("url");
    let secret = b.secret("secret");
    let headers = b.string_map("headers");
    Some(WebhookConfig {
        url: url?,
        secret,
        headers: headers
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
    })
}

/// `type = "alertmanager"`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL, e.g. `http://alertmanager:9093` (the first of `urls`).
    pub url: SecretUrl,
    /// Every Alertmanager of a cluster (`urls = [...]`, or just `url`): each alert goes to all
    /// of them, as Prometheus does; a delivery counts when one of them takes it.
    pub urls: Vec<SecretUrl>,
    /// Labels added to every alert (e.g. `env = "prod"`).
    pub labels: BTreeMap<String, String>,
    /// A fixed `alertname` instead of the rule's.
    pub alertname: Option<String>,
    /// How often firing alerts are re-sent (default 1m); keep it well under Alertmanager's
    /// `resolve_timeout`.
    pub resend_interval: Option<Duration>,
    /// Basic auth in front of Alertmanager.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Bearer token in front of Alertmanager.
    pub bearer_token: Option<Secret>,
}

pub(super) fn read_alertmanager(b: &mut Block<'_, '_>) -> Option<AlertmanagerConfig> {
    let urls = b.urls("urls");
    let url = if urls.is_empty() {
        b.required_url("url")
    } else {
        if b.url("url").is_some() {
            b.mistake(
                "urls",
                "give either `url` or `urls` (every Alertmanager of the cluster), not both".into(),
            );
        }
        urls.first().cloned()
    };
    let urls = if urls.is_empty() {
        url.iter().cloned().collect()
    } else {
        urls
    };
    Some(AlertmanagerConfig {
        urls,
        labels: b.string_map("labels"),
        alertname: b.string("alertname"),
        resend_interval: b.duration("resend_interval"),
        username: b.string("username"),
        password: b.secret("password"),
        bearer_token: b.secret("bearer_token"),
        url: url?,
    })
}
