//! `[[notifiers]]` blocks: read here only as far as every notifier needs (a unique `name`, a
//! `type`, `${ENV}` expanded in every string); the agent turns each into its typed notifier
//! config with serde and reports mistakes at the block's line.

use super::walk::{Ctx, Table};
use super::ConfigError;
use serde::Serialize;
use toml::de::DeValue;
use toml::Spanned;

/// One notification channel as written in the config file. Its `Debug` omits the settings,
/// which hold secrets.
#[derive(Clone, PartialEq, Serialize)]
pub struct NotifierEntry {
    pub name: String,
    /// `email`, `wecom`, `dingtalk`, `feishu`, `slack`, `telegram`, `webhook`, `alertmanager`.
    pub kind: String,
    /// Where the block starts, for errors found later.
    pub line: usize,
    /// Every key of the block (name and type included), secrets expanded. Never printed.
    #[serde(skip)]
    pub settings: toml::Table,
}

impl std::fmt::Debug for NotifierEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierEntry")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl NotifierEntry {
    /// An error about this block, for the agent's typed validation.
    pub fn error(&self, index: usize, message: String) -> ConfigError {
        ConfigError {
            line: self.line,
            column: 1,
            path: format!("notifiers[{index}]"),
            message,
        }
    }
}

/// Owned TOML with `${ENV}` expanded in strings; `None` (after reporting) when a variable is missing.
fn owned(ctx: &mut Ctx<'_>, path: &str, v: &Spanned<DeValue<'_>>) -> Option<toml::Value> {
    Some(match v.get_ref() {
        DeValue::String(s) => match super::expand_env(s, ctx.env) {
            Ok(text) => toml::Value::String(text),
            Err(var) => {
                ctx.error(
                    v.span().start,
                    path,
                    format!("environment variable '{var}' is not set; export it before starting leakhound, or write the value here"),
                );
                return None;
            }
        },
        DeValue::Integer(i) => match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
            Ok(n) => toml::Value::Integer(n),
            Err(_) => {
                ctx.error(
                    v.span().start,
                    path,
                    format!("'{}' is not a whole number", i.as_str()),
                );
                return None;
            }
        },
        DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
            Ok(x) => toml::Value::Float(x),
            Err(_) => {
                ctx.error(
                    v.span().start,
                    path,
                    format!("'{}' is not a number", f.as_str()),
                );
                return None;
            }
        },
        DeValue::Boolean(b) => toml::Value::Boolean(*b),
        DeValue::Datetime(d) => toml::Value::Datetime(*d),
        DeValue::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(owned(ctx, &format!("{path}[{i}]"), item)?);
            }
            toml::Value::Array(out)
        }
        DeValue::Table(t) => {
            let mut out = toml::Table::new();
            for (k, item) in t.iter() {
                let key: &str = k.get_ref();
                out.insert(key.to_string(), owned(ctx, &format!("{path}.{key}"), item)?);
            }
            toml::Value::Table(out)
        }
    })
}

pub(crate) fn read_notifiers(ctx: &mut Ctx<'_>, root: &mut Table<'_, '_>) -> Vec<NotifierEntry> {
    let mut entries: Vec<NotifierEntry> = Vec::new();
    let Some(items) = root.array(ctx, "notifiers") else {
        return entries;
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
        let Some(toml::Value::Table(settings)) = owned(ctx, &path, item) else {
            continue;
        };
        let (Some(name), Some(kind)) = (name, kind) else {
            ctx.error(
                item.span().start,
                &path,
                "a notifier needs a 'name' and a 'type' (email, wecom, dingtalk, feishu, slack, telegram, webhook or alertmanager)".into(),
            );
            continue;
        };
        if entries.iter().any(|e| e.name == name) {
            ctx.error(
                t.offset_of("name"),
                &t.path_of("name"),
                format!("'{name}' is already the name of another notifier; names must be unique"),
            );
        }
        let (line, _) = ctx.lines.position(item.span().start);
        entries.push(NotifierEntry {
            name,
            kind,
            line,
            settings,
        });
    }
    entries
}
