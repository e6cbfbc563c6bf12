//! [`Scrubber`] removes every known secret from text that came back from a peer or a library
//! before it goes into an error. The secrets themselves ([`Secret`](leakhound_core::secret::Secret),
//! [`SecretUrl`](leakhound_core::secret::SecretUrl)) are typed by the core's config.

use std::fmt;
use url::Url;

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
