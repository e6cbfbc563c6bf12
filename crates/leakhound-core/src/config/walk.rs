//! A small reader over TOML's spanned document that collects every error (with line, column,
//! the bad value and the fix) instead of stopping at the first, and reports unknown keys.

use super::ConfigError;
use std::time::Duration;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Turns byte offsets into 1-based line and column numbers.
pub(crate) struct Lines<'a> {
    text: &'a str,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lines { text }
    }

    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        (line, offset - line_start + 1)
    }
}

/// Collected errors plus the environment lookup used for `${VAR}` expansion.
pub(crate) struct Ctx<'a> {
    pub(crate) lines: Lines<'a>,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
}

impl Ctx<'_> {
    pub(crate) fn error(&mut self, offset: usize, path: &str, message: String) {
        let (line, column) = self.lines.position(offset);
        self.errors.push(ConfigError {
            line,
            column,
            path: path.to_string(),
            message,
        });
    }
}

/// A value as the user wrote it, for error messages.
pub(crate) fn show(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => s.to_string(),
        DeValue::Integer(i) => i.as_str().to_string(),
        DeValue::Float(f) => f.as_str().to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        DeValue::Array(_) => "[…]".to_string(),
        DeValue::Table(_) => "{…}".to_string(),
    }
}

/// One table being read: remembers which keys were used so the rest can be reported.
pub(crate) struct Table<'t, 'i> {
    table: &'t DeTable<'i>,
    path: String,
    used: Vec<&'t str>,
}

impl<'t, 'i> Table<'t, 'i> {
    pub(crate) fn new(table: &'t DeTable<'i>, path: impl Into<String>) -> Self {
        Table {
            table,
            path: path.into(),
            used: Vec::new(),
        }
    }

    pub(crate) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub(crate) fn get(&mut self, key: &'t str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.used.push(key);
        self.table.get(key)
    }

    /// Report every key nobody asked for, suggesting the closest known one.
    pub(crate) fn finish(self, ctx: &mut Ctx<'_>) {
        for (key, _) in self.table.iter() {
            let name: &str = key.get_ref();
            if self.used.contains(&name) {
                continue;
            }
            let hint = self
                .used
                .iter()
                .min_by_key(|known| edit_distance(known, name))
                .filter(|known| edit_distance(known, name) <= 3)
                .map_or_else(
                    || format!("known keys here: {}", self.used.join(", ")),
                    |known| format!("did you mean '{known}'?"),
                );
            ctx.error(
                key.span().start,
                &self.path_of(name),
                format!("unknown key '{name}'; {hint}"),
            );
        }
    }

    fn type_error(&self, ctx: &mut Ctx<'_>, key: &str, v: &Spanned<DeValue<'_>>, want: &str) {
        ctx.error(
            v.span().start,
            &self.path_of(key),
            format!(
                "'{}' is a {}, expected {want}",
                show(v.get_ref()),
                v.get_ref().type_str()
            ),
        );
    }

    /// A `true`/`false` key.
    pub(crate) fn boolean(&mut self, ctx: &mut Ctx<'_>, key: &'t str) -> Option<bool> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.type_error(ctx, key, v, "true or false (without quotes)");
                None
            }
        }
    }

    /// A string, with `${VAR}` expanded from the environment.
    pub(crate) fn string(&mut self, ctx: &mut Ctx<'_>, key: &'t str) -> Option<String> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => match expand_env(s, ctx.env) {
                Ok(expanded) => Some(expanded),
                Err(var) => {
                    ctx.error(
                        v.span().start,
                        &self.path_of(key),
                        format!(
                            "environment variable '{var}' is not set; export it before starting \
                             leakhound, or write the value here"
                        ),
                    );
                    None
                }
            },
            _ => {
                self.type_error(ctx, key, v, "a string in quotes");
                None
            }
        }
    }

    /// A non-negative integer.
    pub(crate) fn uint(&mut self, ctx: &mut Ctx<'_>, key: &'t str) -> Option<u64> {
        let v = self.get(key)?;
        self.uint_value(ctx, key, v)
    }

    pub(crate) fn uint_value(
        &self,
        ctx: &mut Ctx<'_>,
        key: &str,
        v: &Spanned<DeValue<'_>>,
    ) -> Option<u64> {
        match v.get_ref() {
            DeValue::Integer(i) => match u64::from_str_radix(
                &i.as_str()
                    .replace('_', "")
                    .replace("0x", "")
                    .replace("0o", ""),
                i.radix(),
            ) {
                Ok(n) => Some(n),
                Err(_) => {
                    ctx.error(
                        v.span().start,
                        &self.path_of(key),
                        format!("'{}' must be a whole number ≥ 0", i.as_str()),
                    );
                    None
                }
            },
            _ => {
                self.type_error(ctx, key, v, "a whole number without quotes");
                None
            }
        }
    }

    /// A duration: `"30s"`, `"5m"`, or a number of seconds.
    pub(crate) fn duration(&mut self, ctx: &mut Ctx<'_>, key: &'t str) -> Option<Duration> {
        let v = self.get(key)?;
        let parsed = match v.get_ref() {
            DeValue::String(s) => crate::units::parse_duration(s),
            DeValue::Integer(i) => i
                .as_str()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| format!("'{}' is not a number of seconds ≥ 0", i.as_str())),
            _ => Err(format!(
                "'{}' is a {}, expected a duration such as \"30s\"",
                show(v.get_ref()),
                v.get_ref().type_str()
            )),
        };
        match parsed {
            Ok(d) if d.is_zero() => {
                ctx.error(
                    v.span().start,
                    &self.path_of(key),
                    format!("'{}' must be longer than zero", show(v.get_ref())),
                );
                None
            }
            Ok(d) => Some(d),
            Err(msg) => {
                ctx.error(v.span().start, &self.path_of(key), msg);
                None
            }
        }
    }

    /// A size: `"10MB"`, or a number of bytes.
    pub(crate) fn bytes(&mut self, ctx: &mut Ctx<'_>, key: &'t str) -> Option<u64> {
        let v = self.get(key)?;
        self.bytes_value(ctx, key, v)
    }

    pub(crate) fn bytes_value(
        &self,
        ctx: &mut Ctx<'_>,
        key: &str,
        v: &Spanned<DeValue<'_>>,
    ) -> Option<u64> {
        let parsed = match v.get_ref() {
            DeValue::String(s) => crate::units::parse_bytes(s),
            DeValue::Integer(_) => return self.uint_value(ctx, key, v),
            _ => Err(format!(
                "'{}' is a {}, expected a size such as \"10MB\"",
                show(v.get_ref()),
                v.get_ref().type_str()
            )),
        };
        match parsed {
            Ok(n) => Some(n),
            Err(msg) => {
                ctx.error(v.span().start, &self.path_of(key), msg);
                None
            }
        }
    }

    /// A duration where zero means "none" (`for = "0s"`, `repeat_interval = "0s"`).
    pub(crate) fn duration_or_zero(&mut self, ctx: &mut Ctx<'_>, key: &'t str) -> Option<Duration> {
        let v = self.get(key)?;
        let parsed = match v.get_ref() {
            DeValue::String(s) => crate::units::parse_duration(s),
            DeValue::Integer(i) => i
                .as_str()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| format!("'{}' is not a number of seconds ≥ 0", i.as_str())),
            other => Err(format!(
                "'{}' is a {}, expected a duration such as \"1m\" or \"0s\"",
                show(other),
                other.type_str()
            )),
        };
        match parsed {
            Ok(d) => Some(d),
            Err(msg) => {
                ctx.error(v.span().start, &self.path_of(key), msg);
                None
            }
        }
    }

    /// A number, whole or not.
    pub(crate) fn number(&mut self, ctx: &mut Ctx<'_>, key: &'t str) -> Option<f64> {
        let v = self.get(key)?;
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => i.as_str().replace('_', "").parse::<f64>().ok(),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => None,
        };
        match parsed.filter(|n| n.is_finite()) {
            Some(n) => Some(n),
            None => {
                self.type_error(ctx, key, v, "a number without quotes, e.g. 10 or 0.8");
                None
            }
        }
    }

    /// A string that `parse` turns into a value; its error is reported at the key.
    pub(crate) fn parsed<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'t str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.string(ctx, key)?;
        match parse(&text) {
            Ok(value) => Some(value),
            Err(msg) => {
                self.error_at(ctx, key, msg);
                None
            }
        }
    }

    /// One of a set of names: `parse` finds the value; any other name is reported as
    /// "'TEXT' is not WHAT; use ALLOWED".
    pub(crate) fn one_of<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'t str,
        what: &str,
        allowed: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        self.parsed(ctx, key, |text| {
            parse(text).ok_or_else(|| format!("'{text}' is not {what}; use {allowed}"))
        })
    }

    /// `value` (read from `key`) when `ok` accepts it; otherwise `why(value)` is reported at
    /// the key.
    pub(crate) fn valid<T: Copy>(
        &self,
        ctx: &mut Ctx<'_>,
        key: &str,
        value: Option<T>,
        ok: impl FnOnce(T) -> bool,
        why: impl FnOnce(T) -> String,
    ) -> Option<T> {
        let v = value?;
        if ok(v) {
            Some(v)
        } else {
            self.error_at(ctx, key, why(v));
            None
        }
    }

    /// Overwrite `slot` with the key's duration, when it is written and valid.
    pub(crate) fn set_duration(&mut self, ctx: &mut Ctx<'_>, key: &'t str, slot: &mut Duration) {
        if let Some(v) = self.duration(ctx, key) {
            *slot = v;
        }
    }

    /// Overwrite `slot` with the key's whole number, when it is written and valid.
    pub(crate) fn set_uint(&mut self, ctx: &mut Ctx<'_>, key: &'t str, slot: &mut u64) {
        if let Some(v) = self.uint(ctx, key) {
            *slot = v;
        }
    }

    /// Overwrite `slot` with the key's size, when it is written and valid.
    pub(crate) fn set_bytes(&mut self, ctx: &mut Ctx<'_>, key: &'t str, slot: &mut u64) {
        if let Some(v) = self.bytes(ctx, key) {
            *slot = v;
        }
    }

    /// Overwrite `slot` with the key's `true`/`false`, when it is written and valid.
    pub(crate) fn set_bool(&mut self, ctx: &mut Ctx<'_>, key: &'t str, slot: &mut bool) {
        if let Some(v) = self.boolean(ctx, key) {
            *slot = v;
        }
    }

    pub(crate) fn table(&mut self, ctx: &mut Ctx<'_>, key: &'t str) -> Option<Table<'t, 'i>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Table::new(t, self.path_of(key))),
            _ => {
                self.type_error(ctx, key, v, "a table");
                None
            }
        }
    }

    pub(crate) fn array(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'t str,
    ) -> Option<&'t [Spanned<DeValue<'i>>]> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Array(a) => Some(&a[..]),
            _ => {
                self.type_error(ctx, key, v, "an array [ … ]");
                None
            }
        }
    }

    /// The tables of `[[key]]`; an item that is not a table is reported ("write [[key]]").
    pub(crate) fn tables(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'t str,
    ) -> Vec<(Table<'t, 'i>, &'t Spanned<DeValue<'i>>)> {
        let Some(items) = self.array(ctx, key) else {
            return Vec::new();
        };
        let mut tables = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{i}]", self.path_of(key));
            match item.get_ref().as_table() {
                Some(table) => tables.push((Table::new(table, path), item)),
                None => ctx.error(
                    item.span().start,
                    &path,
                    format!("expected a table: write [[{key}]]"),
                ),
            }
        }
        tables
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.table.get(key).is_some()
    }

    /// The span start of a key's value, for errors found after reading.
    pub(crate) fn offset_of(&self, key: &str) -> usize {
        self.table.get(key).map_or(0, |v| v.span().start)
    }

    /// The span start of a key's value, or `block` (where the table starts) when the key is
    /// not written: errors about keys left at their defaults point at the block.
    pub(crate) fn offset_or(&self, key: &str, block: usize) -> usize {
        self.table.get(key).map_or(block, |v| v.span().start)
    }

    /// Report `message` at the key's value (found wrong after reading).
    pub(crate) fn error_at(&self, ctx: &mut Ctx<'_>, key: &str, message: String) {
        ctx.error(self.offset_of(key), &self.path_of(key), message);
    }

    /// Report a required key that is not written, at `block` (where the table starts). A key
    /// that is written but unreadable was reported by its reader already.
    pub(crate) fn require(&self, ctx: &mut Ctx<'_>, key: &str, block: usize, message: String) {
        if !self.has(key) {
            ctx.error(block, &self.path_of(key), message);
        }
    }

    pub(crate) fn entries(
        &self,
    ) -> impl Iterator<
        Item = (
            &'t Spanned<toml::de::DeString<'i>>,
            &'t Spanned<DeValue<'i>>,
        ),
    > {
        self.table.iter()
    }
}

/// Expand `${VAR}` from `env`; `$${` stays a literal `${`. Returns the missing variable's name.
pub fn expand_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(stripped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = stripped;
        } else if let Some(body) = after.strip_prefix("${") {
            match body.find('}') {
                Some(end) => {
                    let name = &body[..end];
                    out.push_str(&env(name).ok_or_else(|| name.to_string())?);
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str(after);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Levenshtein distance, for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion() {
        let env = |k: &str| (k == "PASS").then(|| "s3cret".to_string());
        assert_eq!(expand_env("a${PASS}b", &env).unwrap(), "as3cretb");
        assert_eq!(expand_env("$${PASS}", &env).unwrap(), "${PASS}");
        assert_eq!(expand_env("cost $5", &env).unwrap(), "cost $5");
        assert_eq!(expand_env("${NOPE}", &env).unwrap_err(), "NOPE");
    }

    #[test]
    fn positions() {
        let l = Lines::new("a\nbc\nd");
        assert_eq!(l.position(0), (1, 1));
        assert_eq!(l.position(3), (2, 2));
        assert_eq!(l.position(5), (3, 1));
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("interval", "intervl"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
