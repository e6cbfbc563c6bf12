//! Secrets that cannot leak by accident: [`Secret`] prints `***` in `Debug`, has no `Display`
//! and no `Serialize`; [`SecretUrl`] prints only the scheme and host of a URL whose path or
//! query carries a key (WeCom `key=`, DingTalk `access_token=`, a Slack or Feishu hook path,
//! Telegram's `bot<TOKEN>`); [`Scrubber`] removes every known secret from text that came back
//! from a peer or a library before it goes into an error.

use serde::{Deserialize, Deserializer};
use std::fmt;
use url::Url;

/// A secret string (password, token, key, signing secret). `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself: only for building a request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A URL that may carry a secret in its path or query. `Debug` and [`SecretUrl::shown`] print
/// `scheme://host[:port]/…` only.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    pub fn parse(text: &str) -> Result<SecretUrl, String> {
        let url = Url::parse(text).map_err(|e| {
            format!(
                "'{}' is not a URL ({e}): write it as https://host/path",
                shown_str(text)
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "'{}' is not an http(s) URL: write it as https://host/path",
                shown(&url)
            ));
        }
        Ok(SecretUrl(url))
    }

    /// Wrap a URL that is already checked.
    pub fn from_url(url: Url) -> SecretUrl {
        SecretUrl(url)
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    /// What may be printed: scheme, host and port.
    pub fn shown(&self) -> String {
        shown(&self.0)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SecretUrl, D::Error> {
        let text = String::deserialize(d)?;
        SecretUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `scheme://host[:port]/…` of a URL: never its user info, path or query.
pub fn shown(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}/…", url.scheme()),
        None => format!("{}://{host}/…", url.scheme()),
    }
}

/// The same for a string that did not parse as a URL: everything up to the first `/`, `?`
/// or `#` after the scheme.
fn shown_str(text: &str) -> String {
    let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
    let host: String = rest
        .chars()
        .take_while(|c| !matches!(c, '/' | '?' | '#' | '@'))
        .collect();
    if scheme.is_empty() {
        "…".to_string()
    } else {
        format!("{scheme}://{host}/…")
    }
}

/// Replaces every known secret (and its URL-encoded form) with `***` in text from outside.
#[derive(Clone, Default)]
pub struct Scrubber(Vec<String>);

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} secrets)", self.0.len())
    }
}

/// Path segments shorter than this are words of the path, not keys.
const MIN_PATH_SECRET: usize = 12;

impl Scrubber {
    /// Add a secret; short ones (under 4 characters) are ignored, they would blank out words.
    pub fn add(&mut self, secret: &str) {
        if secret.len() < 4 {
            return;
        }
        let encoded =
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        for s in [secret.to_string(), encoded] {
            if !self.0.contains(&s) {
                self.0.push(s);
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        self.0.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Every query value of a secret URL counts as a secret, and so does every path segment long
    /// enough to be a key (a Slack or Feishu hook id, a Telegram `bot<TOKEN>`): words of a path
    /// such as `send` or `webhook` stay readable in errors.
    pub fn add_url(&mut self, url: &Url) {
        if let Some(segments) = url.path_segments() {
            for s in segments {
                // A Telegram token `<id>:<key>` follows `bot`, whatever its length.
                match s.strip_prefix("bot").filter(|t| t.contains(':')) {
                    Some(token) => {
                        self.add(s);
                        self.add(token);
                    }
                    None if s.len() >= MIN_PATH_SECRET => self.add(s),
                    None => {}
                }
            }
        }
        for (_, v) in url.query_pairs() {
            self.add(&v);
        }
        if let Some(p) = url.password() {
            self.add(p);
        }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.0 {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_stars() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn secret_url_shows_host_only() {
        let u = SecretUrl::parse("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcd-1234")
            .unwrap();
        assert_eq!(format!("{u:?}"), "https://qyapi.weixin.qq.com/…");
        let u = SecretUrl::parse("http://127.0.0.1:8080/botTOKEN123/sendMessage").unwrap();
        assert_eq!(u.shown(), "http://127.0.0.1:8080/…");
        let err = SecretUrl::parse("htp:/bad?key=SECRETKEY").unwrap_err();
        assert!(!err.contains("SECRETKEY"), "{err}");
        let err = SecretUrl::parse("ftp://host/x?key=SECRETKEY").unwrap_err();
        assert!(!err.contains("SECRETKEY"), "{err}");
    }

    #[test]
    fn path_words_stay_readable_keys_do_not() {
        let mut s = Scrubber::default();
        s.add_url(
            &Url::parse("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx")
                .unwrap(),
        );
        s.add_url(
            &Url::parse(
                "https://open.feishu.cn/open-apis/bot/v2/hook/2f1e4c5a-0000-4c1d-9a11-0123456789ab",
            )
            .unwrap(),
        );
        s.add_url(&Url::parse("http://127.0.0.1:1/bot123456:ABCdefGHIjkl/sendMessage").unwrap());
        let text = "error sending request to /cgi-bin/webhook/send?key=693a91f6-7xxx, \
                    /open-apis/bot/v2/hook/2f1e4c5a-0000-4c1d-9a11-0123456789ab, 123456:ABCdefGHIjkl";
        assert_eq!(
            s.scrub(text),
            "error sending request to /cgi-bin/webhook/send?key=***, /open-apis/bot/v2/hook/***, ***"
        );
    }

    #[test]
    fn scrubber_removes_plain_and_encoded() {
        let mut s = Scrubber::default();
        s.add("a+b/c=secret");
        let url = Url::parse("https://h/bot123:ABC/sendMessage?key=k3y-value").unwrap();
        s.add_url(&url);
        let text = "x a+b/c=secret y a%2Bb%2Fc%3Dsecret z 123:ABC k3y-value";
        assert_eq!(s.scrub(text), "x *** y *** z *** ***");
    }
}
