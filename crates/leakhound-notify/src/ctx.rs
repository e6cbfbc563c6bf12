//! What every channel shares ([`Ctx`]): its name, templates, timeout and secret scrubber; the
//! HTTP exchange with a peer and the verdicts on its answer (status, vendor codes, rate
//! limits); JSON, HMAC and the clock the channels sign with.

use crate::limit;
use crate::secret::Scrubber;
use crate::template;
use crate::{
    retryable_status, AlertMessage, Delivery, Format, NotifierConfig, NotifyError, TemplateError,
    Templates, DEFAULT_TIMEOUT,
};
use leakhound_core::secret::SecretUrl;
use leakhound_core::units::human_duration;
use leakhound_http::error_chain;
use std::time::Duration;
use url::Url;

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
    pub(crate) fn new(config: &NotifierConfig) -> Result<Ctx, NotifyError> {
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
        let peer = leakhound_core::secret::shown(url);
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
