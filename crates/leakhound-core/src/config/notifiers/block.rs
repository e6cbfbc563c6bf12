//! Reading one `[[notifiers]]` block's keys into typed values, with the messages these keys
//! have always had: serde's wording (`missing field `url``, `unknown field `x`, expected one of
//! …`, `invalid type: integer `5`, expected a string`) and, of several mistakes, the one serde
//! met first — the block's own keys in name order, then the channel's, then missing fields.
//! Values that may be secrets are blanked out of every message.

use super::super::walk::expand_env;
use crate::secret::{Secret, SecretUrl};
use std::collections::BTreeMap;
use std::time::Duration;
use toml::de::{DeTable, DeValue};
use toml::Spanned;
use url::Url;

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

/// Path segments shorter than this are words of a URL's path, not keys.
const MIN_PATH_SECRET: usize = 12;

/// One block being read. Every getter records the key as known; a key's first mistake is kept
/// for [`Block::finish`], which also reports keys nobody asked for.
pub(super) struct Block<'t, 'i> {
    table: &'t DeTable<'i>,
    env: &'t dyn Fn(&str) -> Option<String>,
    /// Keys the block's reader knows, in declaration order ("expected one of").
    fields: Vec<&'static str>,
    /// Keys read by an earlier block over the same table (the common keys): not unknown here.
    skip: &'static [&'static str],
    /// (key, message) of each bad value.
    bad: Vec<(String, String)>,
    /// Required keys not written, in declaration order.
    missing: Vec<&'static str>,
}

impl<'t, 'i> Block<'t, 'i> {
    pub(super) fn new(
        table: &'t DeTable<'i>,
        env: &'t dyn Fn(&str) -> Option<String>,
        skip: &'static [&'static str],
    ) -> Self {
        Block {
            table,
            env,
            fields: Vec::new(),
            skip,
            bad: Vec::new(),
            missing: Vec::new(),
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.fields.push(key);
        self.table.get(key)
    }

    fn bad(&mut self, key: &str, message: String) {
        self.bad.push((key.to_string(), message));
    }

    fn invalid_type(&mut self, key: &str, v: &DeValue<'_>, expected: &str) {
        let message = format!("invalid type: {}, expected {expected}", unexpected(v));
        self.bad(key, message);
    }

    /// A string value with `${ENV}` expanded (the block was checked for missing variables).
    fn text(&mut self, key: &str, v: &DeValue<'_>) -> Option<String> {
        match v {
            DeValue::String(s) => Some(expand_env(s, self.env).unwrap_or_else(|_| s.to_string())),
            other => {
                self.invalid_type(key, other, "a string");
                None
            }
        }
    }

    /// An optional string.
    pub(super) fn string(&mut self, key: &'static str) -> Option<String> {
        let v = self.get(key)?;
        self.text(key, v.get_ref())
    }

    /// A required string (`None` when missing or bad; the mistake is reported).
    pub(super) fn required_string(&mut self, key: &'static str) -> Option<String> {
        self.require(key);
        self.string(key)
    }

    pub(super) fn secret(&mut self, key: &'static str) -> Option<Secret> {
        self.string(key).map(Secret::new)
    }

    pub(super) fn required_secret(&mut self, key: &'static str) -> Option<Secret> {
        self.required_string(key).map(Secret::new)
    }

    pub(super) fn url(&mut self, key: &'static str) -> Option<SecretUrl> {
        let text = self.string(key)?;
        SecretUrl::parse(&text)
            .map_err(|message| self.bad(key, message))
            .ok()
    }

    /// An array of URLs; empty when not written or when one is bad (the mistake is reported).
    pub(super) fn urls(&mut self, key: &'static str) -> Vec<SecretUrl> {
        let mut out = Vec::new();
        for text in self.strings(key) {
            match SecretUrl::parse(&text) {
                Ok(u) => out.push(u),
                Err(message) => {
                    self.bad(key, message);
                    return Vec::new();
                }
            }
        }
        out
    }

    /// Report a mistake in `key`'s value.
    pub(super) fn mistake(&mut self, key: &str, message: String) {
        self.bad(key, message);
    }

    /// A required URL (`None` when missing or bad; the mistake is reported).
    pub(super) fn required_url(&mut self, key: &'static str) -> Option<SecretUrl> {
        self.require(key);
        self.url(key)
    }

    /// `true`/`false`; `false` when not written.
    pub(super) fn boolean(&mut self, key: &'static str) -> bool {
        match self.get(key).map(Spanned::get_ref) {
            None => false,
            Some(DeValue::Boolean(b)) => *b,
            Some(other) => {
                self.invalid_type(key, other, "a boolean");
                false
            }
        }
    }

    /// A whole number of type `T` (`ty` is its name for messages: `u16`, `u32`, `i64`).
    pub(super) fn int<T: TryFrom<i64>>(&mut self, key: &'static str, ty: &str) -> Option<T> {
        let v = self.get(key)?.get_ref();
        let Some(n) = integer(v) else {
            self.invalid_type(key, v, ty);
            return None;
        };
        T::try_from(n)
            .map_err(|_| self.bad(key, format!("invalid value: integer `{n}`, expected {ty}")))
            .ok()
    }

    /// One of `names` (as `variants` lists them for messages); the default when not written.
    pub(super) fn choice<T: Copy + Default>(
        &mut self,
        key: &'static str,
        names: &[(&str, T)],
        variants: &[&str],
    ) -> T {
        let Some(v) = self.get(key).map(Spanned::get_ref) else {
            return T::default();
        };
        let DeValue::String(_) = v else {
            self.invalid_type(key, v, "string or map");
            return T::default();
        };
        let text = self.text(key, v).unwrap_or_default();
        match names.iter().find(|(n, _)| *n == text) {
            Some((_, value)) => *value,
            None => {
                let message = format!("unknown variant `{text}`, expected {}", one_of(variants));
                self.bad(key, message);
                T::default()
            }
        }
    }

    /// An array of strings; empty when not written.
    pub(super) fn strings(&mut self, key: &'static str) -> Vec<String> {
        let Some(v) = self.get(key).map(Spanned::get_ref) else {
            return Vec::new();
        };
        let DeValue::Array(items) = v else {
            self.invalid_type(key, v, "a sequence");
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match self.text(key, item.get_ref()) {
                Some(text) => out.push(text),
                None => return Vec::new(),
            }
        }
        out
    }

    /// A table of strings; empty when not written.
    pub(super) fn string_map(&mut self, key: &'static str) -> BTreeMap<String, String> {
        let Some(v) = self.get(key).map(Spanned::get_ref) else {
            return BTreeMap::new();
        };
        let DeValue::Table(t) = v else {
            self.invalid_type(key, v, "a map");
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (k, item) in t.iter() {
            let Some(text) = self.text(key, item.get_ref()) else {
                return BTreeMap::new();
            };
            out.insert(k.get_ref().to_string(), text);
        }
        out
    }

    /// A humantime duration in a string (`"10s"`, `"1m30s"`); `"0s"` is allowed.
    pub(super) fn duration(&mut self, key: &'static str) -> Option<Duration> {
        let text = self.string(key)?;
        humantime::parse_duration(&text)
            .map_err(|e| {
                let message =
                    format!("'{text}' is not a duration ({e}): write it like \"10s\" or \"1m\"");
                self.bad(key, message);
            })
            .ok()
    }

    /// A whole number or a string (`chat_id`); `None` (reported) for anything else.
    pub(super) fn int_or_string(
        &mut self,
        key: &'static str,
        what: &str,
    ) -> Option<Result<i64, String>> {
        let v = self.get(key)?.get_ref();
        match (v, integer(v)) {
            (_, Some(n)) => Some(Ok(n)),
            (DeValue::String(_), _) => self.text(key, v).map(Err),
            _ => {
                let message = format!("data did not match any variant of untagged enum {what}");
                self.bad(key, message);
                None
            }
        }
    }

    /// Mark a key as required: reported missing unless written.
    pub(super) fn require(&mut self, key: &'static str) {
        if self.table.get(key).is_none() {
            self.missing.push(key);
        }
    }

    /// Report the keys nobody asked for (but the [skipped](Block::new) ones), then the first
    /// mistake ([`Block::first_error`]).
    pub(super) fn finish(mut self) -> Result<(), String> {
        let unknown: Vec<String> = self
            .table
            .iter()
            .map(|(k, _)| k.get_ref().to_string())
            .filter(|k| !self.fields.contains(&k.as_str()) && !self.skip.contains(&k.as_str()))
            .collect();
        for key in unknown {
            let message = match self.fields.as_slice() {
                [] => format!("unknown field `{key}`, there are no fields"),
                fields => format!("unknown field `{key}`, expected {}", one_of(fields)),
            };
            self.bad(&key, message);
        }
        self.first_error()
    }

    /// The first mistake as serde met it: a bad or unknown key (in name order), else the
    /// first missing field. Secret values are blanked out.
    pub(super) fn first_error(self) -> Result<(), String> {
        let first = self
            .bad
            .iter()
            .min_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, m)| m.clone())
            .or_else(|| {
                self.missing
                    .first()
                    .map(|key| format!("missing field `{key}`"))
            });
        match first {
            Some(message) => Err(scrub(self.table, self.env, &message)),
            None => Ok(()),
        }
    }
}

/// An integer value as i64 (toml keeps its text: `1_000`, `0x1F`).
fn integer(v: &DeValue<'_>) -> Option<i64> {
    let DeValue::Integer(i) = v else {
        return None;
    };
    let digits = i.as_str().replace('_', "");
    let digits = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0o"))
        .or_else(|| digits.strip_prefix("0b"))
        .unwrap_or(&digits);
    i64::from_str_radix(digits, i.radix()).ok()
}

/// What serde calls a value in "invalid type: …".
fn unexpected(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("string {:?}", &**s),
        DeValue::Integer(_) => match integer(v) {
            Some(n) => format!("integer `{n}`"),
            None => "integer".to_string(),
        },
        DeValue::Float(f) => {
            let x: f64 = f.as_str().replace('_', "").parse().unwrap_or(f64::NAN);
            let mut text = x.to_string();
            if x.is_finite() && !text.contains(['.', 'e', 'E']) {
                text.push_str(".0");
            }
            format!("floating point `{text}`")
        }
        DeValue::Boolean(b) => format!("boolean `{b}`"),
        DeValue::Array(_) => "sequence".to_string(),
        DeValue::Table(_) | DeValue::Datetime(_) => "map".to_string(),
    }
}

/// serde's list of what was expected: `` `a` ``, `` `a` or `b` ``, `` one of `a`, `b`, `c` ``.
fn one_of(names: &[&str]) -> String {
    match names {
        [one] => format!("`{one}`"),
        [a, b] => format!("`{a}` or `{b}`"),
        _ => format!(
            "one of {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `message` with every secret of the block (the values of [`SECRET_KEYS`], everything under
/// them, and the keys in their URLs) replaced by `***`.
fn scrub(table: &DeTable<'_>, env: &dyn Fn(&str) -> Option<String>, message: &str) -> String {
    let mut secrets = Vec::new();
    collect_secrets(table, false, env, &mut secrets);
    secrets.retain(|s| s.len() >= 4);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = message.to_string();
    for s in &secrets {
        out = out.replace(s.as_str(), "***");
    }
    out
}

fn collect_secrets(
    table: &DeTable<'_>,
    all: bool,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut Vec<String>,
) {
    for (k, v) in table.iter() {
        let name: &str = k.get_ref();
        let secret = all || SECRET_KEYS.contains(&name);
        match v.get_ref() {
            DeValue::String(s) if secret => {
                let text = expand_env(s, env).unwrap_or_else(|_| s.to_string());
                if let Ok(url) = Url::parse(&text) {
                    url_secrets(&url, out);
                }
                out.push(text);
            }
            DeValue::Table(t) => collect_secrets(t, secret, env, out),
            _ => {}
        }
    }
}

/// The parts of a URL that may be keys: query values, long path segments, a Telegram
/// `bot<TOKEN>`, the password.
fn url_secrets(url: &Url, out: &mut Vec<String>) {
    if let Some(segments) = url.path_segments() {
        for s in segments {
            match s.strip_prefix("bot").filter(|t| t.contains(':')) {
                Some(token) => out.extend([s.to_string(), token.to_string()]),
                None if s.len() >= MIN_PATH_SECRET => out.push(s.to_string()),
                None => {}
            }
        }
    }
    out.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
    if let Some(p) = url.password() {
        out.push(p.to_string());
    }
}
