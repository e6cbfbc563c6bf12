//! Why a notifier could not be built or a message not delivered ([`NotifyError`]), and what
//! the outbox needs of it: retry or dead-letter ([`ErrorClass`], [`DeliverError`]).

use crate::TemplateError;
use leakhound_core::units::human_duration;
use std::time::Duration;

/// Retryable or not: what the outbox needs to know about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Network, timeout, 5xx, 429, vendor rate-limit or "busy" codes: try again later.
    Retryable,
    /// 4xx, bad key or signature, keyword mismatch, bad config or template: trying again
    /// cannot help; dead-letter it and tell someone.
    Permanent,
}

/// Why a notifier could not be built or a message not delivered. Messages name the notifier,
/// the peer (host only) and the fix; they never contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Bad settings (permanent).
    #[error("notifier '{name}': {message}")]
    Config { name: String, message: String },
    /// A template that does not compile or render (permanent).
    #[error("notifier '{name}': {source}")]
    Template {
        name: String,
        #[source]
        source: TemplateError,
    },
    /// Could not connect or the connection broke (retryable).
    #[error("notifier '{name}': cannot reach {peer}: {detail}; check the URL and the network (will retry)")]
    Network {
        name: String,
        peer: String,
        detail: String,
    },
    /// No answer in time (retryable).
    #[error("notifier '{name}': no answer from {peer} within {after}; the peer is slow or down (will retry; raise `timeout` if it is just slow)")]
    Timeout {
        name: String,
        peer: String,
        after: String,
    },
    /// An HTTP status that is not success: 408 and 5xx retryable, other 4xx permanent.
    #[error("notifier '{name}': HTTP {status} from {peer}: {detail}")]
    Http {
        name: String,
        peer: String,
        status: u16,
        detail: String,
    },
    /// Too many messages: our own per-robot limit, HTTP 429, or the vendor's rate-limit code
    /// (retryable after `retry_after`).
    #[error("notifier '{name}': rate limited: {detail}; next try in {}", human_duration(*.retry_after))]
    RateLimited {
        name: String,
        detail: String,
        retry_after: Duration,
    },
    /// The peer answered with an error code in its JSON (`errcode`, `code`, `ok: false`);
    /// retryable only for "busy" codes.
    #[error("notifier '{name}': {peer} refused the message: code {code} '{detail}'; {hint}")]
    Rejected {
        name: String,
        peer: String,
        code: i64,
        detail: String,
        hint: String,
        retryable: bool,
    },
    /// The SMTP conversation failed: 4xx replies and connection problems retryable, 5xx
    /// replies (bad credentials, refused recipient) permanent.
    #[error("notifier '{name}': SMTP: {detail}")]
    Smtp {
        name: String,
        detail: String,
        retryable: bool,
    },
}

impl NotifyError {
    pub fn class(&self) -> ErrorClass {
        if self.retryable() {
            ErrorClass::Retryable
        } else {
            ErrorClass::Permanent
        }
    }

    pub fn retryable(&self) -> bool {
        match self {
            NotifyError::Config { .. } | NotifyError::Template { .. } => false,
            NotifyError::Network { .. }
            | NotifyError::Timeout { .. }
            | NotifyError::RateLimited { .. } => true,
            NotifyError::Http { status, .. } => retryable_status(*status),
            NotifyError::Rejected { retryable, .. } | NotifyError::Smtp { retryable, .. } => {
                *retryable
            }
        }
    }

    /// How long the peer (or our own limit) asked to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NotifyError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// 408, 425, 429 and 5xx are worth retrying.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429) || status >= 500
}

/// Why one delivery attempt failed: what the outbox needs to decide between retrying and
/// dead-lettering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverError {
    /// Worth trying again (network, timeout, 5xx, rate limit); `false` dead-letters at once.
    pub retryable: bool,
    pub message: String,
    /// The peer asked to wait this long (e.g. Telegram's `retry_after`).
    pub retry_after: Option<Duration>,
}

impl From<NotifyError> for DeliverError {
    fn from(e: NotifyError) -> Self {
        DeliverError {
            retryable: e.retryable(),
            retry_after: e.retry_after(),
            message: e.to_string(),
        }
    }
}
