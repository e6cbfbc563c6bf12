//! Secrets that cannot leak by accident: [`Secret`] prints `***` in `Debug`, has no `Display`
//! and no `Serialize`; [`SecretUrl`] prints only the scheme and host of a URL whose path or
//! query carries a key (WeCom `key=`, DingTalk `access_token=`, a Slack or Feishu hook path,
//! Telegram's `bot<TOKEN>`). The typed `[[notifiers]]` config holds its secrets in them.

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
}
