//! `[[notifiers]]` blocks, typed here once: the keys every channel has (a unique `name`, a
//! `type`, `timeout`, templates; `${ENV}` expanded in every string) and each type's own
//! settings (`kinds`: [`EmailConfig`], [`WeComConfig`], …). Mistakes are reported with the rest of the file: the block's own keys
//! (name, type, a missing variable) at the key, a channel setting at the block's line, worded
//! as always. The notifiers crate builds a notifier from a [`NotifierConfig`].

mod block;
mod kinds;

use super::walk::{Ctx, Table};
use super::ConfigError;
use block::Block;
use kinds::{
    read_alertmanager, read_dingtalk, read_email, read_feishu, read_slack, read_telegram,
    read_webhook, read_wecom,
};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use std::time::Duration;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub use kinds::{
    AlertmanagerConfig, ChatId, DingTalkConfig, DingTalkMsgType, EmailConfig, EmailTls,
    FeishuConfig, FeishuMsgType, SlackConfig, TelegramConfig, TelegramParseMode, WeComConfig,
    WeComMsgType, WebhookConfig,
};

/// One `[[notifiers]]` block: the fields every channel has, and the channel's own settings
/// picked by `type`. `Debug` shows secrets as `***`; `Serialize` gives only name, type and line.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    /// Unique name, used in logs, the outbox and `leakhound notify test NAME`.
    pub name: String,
    /// Overrides the default title (minijinja).
    pub title_template: Option<String>,
    /// Overrides the default body.
    pub body_template: Option<String>,
    /// Limit for one send (connect, request, answer). Default 10s.
    pub timeout: Option<Duration>,
    pub channel: ChannelConfig,
    /// Where the block starts, for errors found when the notifier is built.
    pub line: usize,
}

/// The channel's own settings, by `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelConfig {
    Email(EmailConfig),
    WeCom(WeComConfig),
    DingTalk(DingTalkConfig),
    Feishu(FeishuConfig),
    Slack(SlackConfig),
    Telegram(TelegramConfig),
    Webhook(WebhookConfig),
    Alertmanager(AlertmanagerConfig),
}

/// Every `type`, as written in the config.
pub const TYPES: [&str; 8] = [
    "email",
    "wecom",
    "dingtalk",
    "feishu",
    "slack",
    "telegram",
    "webhook",
    "alertmanager",
];

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

impl NotifierConfig {
    /// The `type`: `email`, `wecom`, …
    pub fn kind(&self) -> &'static str {
        self.channel.kind()
    }

    /// An error about this block (the `index`th), found when the notifier is built.
    pub fn error(&self, index: usize, message: String) -> ConfigError {
        ConfigError {
            line: self.line,
            column: 1,
            path: format!("notifiers[{index}]"),
            message,
        }
    }
}

impl Serialize for NotifierConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("NotifierConfig", 3)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("kind", self.kind())?;
        st.serialize_field("line", &self.line)?;
        st.end()
    }
}

/// Whether every string of a block has its `${ENV}` variables set and every number reads;
/// `false` (after reporting it at the value) at the first that does not.
fn checked(ctx: &mut Ctx<'_>, path: &str, v: &Spanned<DeValue<'_>>) -> bool {
    let problem = match v.get_ref() {
        DeValue::String(s) => super::expand_env(s, ctx.env).err().map(|var| {
            format!("environment variable '{var}' is not set; export it before starting leakhound, or write the value here")
        }),
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
            .err()
            .map(|_| format!("'{}' is not a whole number", i.as_str())),
        DeValue::Float(f) => f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .err()
            .map(|_| format!("'{}' is not a number", f.as_str())),
        DeValue::Boolean(_) | DeValue::Datetime(_) => None,
        DeValue::Array(items) => {
            return items
                .iter()
                .enumerate()
                .all(|(i, item)| checked(ctx, &format!("{path}[{i}]"), item));
        }
        DeValue::Table(t) => {
            return t.iter().all(|(k, item)| {
                let key: &str = k.get_ref();
                checked(ctx, &format!("{path}.{key}"), item)
            });
        }
    };
    match problem {
        Some(message) => {
            ctx.error(v.span().start, path, message);
            false
        }
        None => true,
    }
}

/// Keys every notifier has, read before the channel's own.
const COMMON: [&str; 5] = ["name", "type", "title_template", "body_template", "timeout"];

/// The typed block of a `name` and `type` already read, or the first mistake in its keys.
fn typed(
    table: &DeTable<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    name: String,
    kind: &str,
    line: usize,
) -> Result<NotifierConfig, String> {
    let mut common = Block::new(table, env, &COMMON);
    let title_template = common.string("title_template");
    let body_template = common.string("body_template");
    let timeout = common.duration("timeout");
    common.first_error()?;
    let mut b = Block::new(table, env, &COMMON);
    let channel = match kind {
        "email" => read_email(&mut b).map(ChannelConfig::Email),
        "wecom" => read_wecom(&mut b).map(ChannelConfig::WeCom),
        "dingtalk" => read_dingtalk(&mut b).map(ChannelConfig::DingTalk),
        "feishu" => read_feishu(&mut b).map(ChannelConfig::Feishu),
        "slack" => read_slack(&mut b).map(ChannelConfig::Slack),
        "telegram" => read_telegram(&mut b).map(ChannelConfig::Telegram),
        "webhook" => read_webhook(&mut b).map(ChannelConfig::Webhook),
        "alertmanager" => read_alertmanager(&mut b).map(ChannelConfig::Alertmanager),
        other => {
            let expected: Vec<String> = TYPES.iter().map(|t| format!("`{t}`")).collect();
            return Err(format!(
                "unknown variant `{other}`, expected one of {}",
                expected.join(", ")
            ));
        }
    };
    b.finish()?;
    Ok(NotifierConfig {
        name,
        title_template,
        body_template,
        timeout,
        channel: channel.ok_or("the settings could not be read (a bug in leakhound)")?,
        line,
    })
}

pub(crate) fn read_notifiers(ctx: &mut Ctx<'_>, root: &mut Table<'_, '_>) -> Vec<NotifierConfig> {
    let mut notifiers: Vec<NotifierConfig> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let Some(items) = root.array(ctx, "notifiers") else {
        return notifiers;
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("notifiers[{i}]");
        let Some(table) = item.get_ref().as_table() else {
            ctx.error(
                item.span().start,
                &path,
                "expected a table: write [[notifiers]]".into(),
            );
            continue;
        };
        let mut t = Table::new(table, path.clone());
        let name = t.string(ctx, "name");
        let kind = t.string(ctx, "type");
        if !checked(ctx, &path, item) {
            continue;
        }
        let (Some(name), Some(kind)) = (name, kind) else {
            ctx.error(
                item.span().start,
                &path,
                "a notifier needs a 'name' and a 'type' (email, wecom, dingtalk, feishu, slack, telegram, webhook or alertmanager)".into(),
            );
            continue;
        };
        if names.contains(&name) {
            ctx.error(
                t.offset_of("name"),
                &t.path_of("name"),
                format!("'{name}' is already the name of another notifier; names must be unique"),
            );
        }
        names.push(name.clone());
        let (line, _) = ctx.lines.position(item.span().start);
        match typed(table, ctx.env, name.clone(), &kind, line) {
            Ok(notifier) => notifiers.push(notifier),
            Err(message) => ctx.errors.push(ConfigError {
                line,
                column: 1,
                path,
                message: format!(
                    "notifier '{name}': {message} (types: {}; see README 'Notification channels')",
                    TYPES.join(", ")
                ),
            }),
        }
    }
    notifiers
}

#[cfg(test)]
mod tests;
