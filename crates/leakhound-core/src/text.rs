//! Making untrusted text safe to show: target-supplied text is escaped (no control character
//! reaches a log line, a terminal or a message) and capped; URLs are redacted before they
//! leave the process (no query value, no user info).
//!
//! ```
//! use leakhound_core::text::{target_text, redact_url};
//! assert_eq!(target_text("ok\nERROR FAKE"), "ok\\nERROR FAKE");
//! let url = url::Url::parse("http://u:pw@h:1/health?token=s3cret").unwrap();
//! assert_eq!(redact_url(&url), "http://h:1/health?token=REDACTED");
//! ```

use url::Url;

/// Characters of target-supplied text kept in an error, a status or a label: enough for any
/// real message ("'abc' at '/goroutines' is not a number"), small enough that a 1 MB string in a
/// health answer costs 256 characters per sample in the store and in every alert.
pub const TARGET_TEXT_MAX: usize = 256;

/// Characters kept of a whole probe error (several sources' reasons joined, each with its own
/// capped target text and leakhound's hint).
pub const ERROR_MAX: usize = 2048;

/// What replaces a secret.
pub const REDACTED: &str = "REDACTED";

/// Escape control characters (`\n`, `\r`, `\t`, ESC, … → `\n`, `\r`, `\t`, `\x1b`) and keep at
/// most `max` characters of the result, cut on a character boundary and marked with `…`.
pub fn escape_capped(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max.saturating_mul(4)) + 4);
    let mut chars = 0usize;
    for c in text.chars() {
        let escaped: Option<String> = match c {
            '\n' => Some("\\n".into()),
            '\r' => Some("\\r".into()),
            '\t' => Some("\\t".into()),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => Some(format!("\\x{:02x}", c as u32)),
            // C1 controls, line/paragraph separators and bidi overrides also rewrite what a
            // terminal or a log viewer shows.
            c if ('\u{80}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                Some(format!("\\u{{{:x}}}", c as u32))
            }
            _ => None,
        };
        let len = escaped.as_ref().map_or(1, |e| e.chars().count());
        if chars + len > max {
            out.push('…');
            return out;
        }
        chars += len;
        match escaped {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    out
}

/// Target-supplied text fit for an error, a status, a label, a log line or a message:
/// escaped and capped at [`TARGET_TEXT_MAX`] characters.
pub fn target_text(text: &str) -> String {
    escape_capped(text, TARGET_TEXT_MAX)
}

/// Like [`target_text`] for raw bytes (decoded lossily; only the bytes that can be shown are read).
pub fn target_bytes(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(TARGET_TEXT_MAX * 4)];
    target_text(&String::from_utf8_lossy(head))
}

/// Query parameters whose values are leakhound's own (never secrets) and are shown as they are.
const PLAIN_QUERY_KEYS: [&str; 2] = ["debug", "seconds"];

/// A URL fit to show anywhere (logs, the store, messages, the API): no user info (a user name
/// may be a token too), every query value but leakhound's own `debug`/`seconds` replaced by
/// `REDACTED`, no fragment.
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_fragment(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if PLAIN_QUERY_KEYS.contains(&k.as_ref()) {
                    v.into_owned()
                } else {
                    REDACTED.to_string()
                };
                (k.into_owned(), v)
            })
            .collect();
        if pairs.is_empty() {
            shown.set_query(None);
        } else {
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    shown.to_string()
}

/// The secret parts of a URL (password, user name, query values not in the plain list), in
/// their raw and decoded spellings, longest first.
fn secrets(url: &Url) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    // Shorter values are only redacted as part of the whole URL: replacing "1" or "me"
    // everywhere would garble the text without protecting anything.
    let mut add = |s: &str| {
        if s.chars().count() >= 4 && !found.iter().any(|f| f == s) {
            found.push(s.to_string());
        }
    };
    add(url.username());
    if let Some(p) = url.password() {
        add(p);
        if let Ok(d) = percent_decode(p) {
            add(&d);
        }
    }
    if let Some(q) = url.query() {
        for raw in q.split('&') {
            let (k, v) = raw.split_once('=').unwrap_or((raw, ""));
            if PLAIN_QUERY_KEYS.contains(&k) {
                continue;
            }
            add(v);
        }
        for (k, v) in url.query_pairs() {
            if !PLAIN_QUERY_KEYS.contains(&k.as_ref()) {
                add(&v);
            }
        }
    }
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found
}

fn percent_decode(s: &str) -> Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// `text` (e.g. a third-party error chain) with every spelling of `url` replaced by its
/// redacted form and every secret part of it (password, user name, query values) by
/// `REDACTED`, wherever it appears.
pub fn redact_in(text: &str, url: &Url) -> String {
    let mut out = text.replace(url.as_str(), &redact_url(url));
    for secret in secrets(url) {
        out = out.replace(&secret, REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_capped() {
        assert_eq!(
            target_text("a\nERROR FAKE: injected line\r\t\x1b[31m\u{7}"),
            "a\\nERROR FAKE: injected line\\r\\t\\x1b[31m\\x07"
        );
        assert_eq!(target_text("\u{2028}x\u{202e}"), "\\u{2028}x\\u{202e}");
        let big = "é".repeat(1 << 20);
        let shown = target_text(&big);
        assert_eq!(shown.chars().count(), TARGET_TEXT_MAX + 1);
        assert!(shown.ends_with('…'));
        // An escape is never cut in half.
        let shown = escape_capped("abc\n", 4);
        assert_eq!(shown, "abc…");
        assert_eq!(escape_capped("short", 10), "short");
        assert!(target_bytes(&[b'x'; 1 << 20]).chars().count() <= TARGET_TEXT_MAX + 1);
        assert_eq!(target_bytes(b"\xff\n"), "\u{fffd}\\n");
    }

    #[test]
    fn urls_lose_user_info_and_query_values() {
        let u = Url::parse("https://me:pa%24s@h:8443/p?token=SECRET123&debug=1#frag").unwrap();
        assert_eq!(redact_url(&u), "https://h:8443/p?token=REDACTED&debug=1");
        let u = Url::parse("http://h/p").unwrap();
        assert_eq!(redact_url(&u), "http://h/p");
    }

    #[test]
    fn secrets_are_redacted_inside_foreign_text() {
        let u = Url::parse("http://me:pa%24s@h:1/health?token=SECRET%20123&k=v2").unwrap();
        let chain = format!(
            "error sending request for url ({u}): dns error for SECRET 123 and pa$s and pa%24s"
        );
        let shown = redact_in(&chain, &u);
        for secret in ["SECRET", "pa$s", "pa%24s", "me:", "v2"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("http://h:1/health?token=REDACTED&k=REDACTED"),
            "{shown}"
        );
    }
}
