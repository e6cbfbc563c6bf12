//! Probes: a target's URL (its answer read by [`leakhound_core::parse`]: health JSON, expvar,
//! `/metrics`, pprof), its local process and its container, each into [`Metrics`]; a failure is
//! a [`ProbeError`] that becomes a down sample, never a crash.

pub mod container;
pub mod process;

use leakhound_core::parse::{expvar, health, pprof, prometheus};

use leakhound_core::config::{SourceKind, TargetConfig};
use leakhound_core::Metrics;
use leakhound_http::{HttpClient, HttpError, HttpOptions};
use std::time::Instant;
use url::Url;

/// Why a probe produced no data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{kind} answer from {url} is not usable: {message}")]
    Invalid {
        kind: &'static str,
        url: String,
        message: String,
    },
    #[error("no Go metrics found at {url} (tried {tried}): point the target at the guide's /api/monitor/health, expvar /debug/vars, Prometheus /metrics or /debug/pprof/, or set `source`")]
    Undetected { url: String, tried: String },
    #[error("{0}")]
    Process(String),
    /// A container source gave no resources (daemon or container unreachable, or not running).
    #[error("{0}")]
    Container(String),
}

impl ProbeError {
    pub(crate) fn invalid(kind: SourceKind, url: &Url, message: impl Into<String>) -> ProbeError {
        ProbeError::Invalid {
            kind: kind.name(),
            url: leakhound_http::redact(url),
            // Parsers cap the target's own text they quote; this bounds the whole message.
            message: leakhound_core::text::escape_capped(&message.into(), 1024),
        }
    }
}

/// Reads one target's URL, detecting its source kind on first use when it is `auto`.
#[derive(Debug)]
pub struct UrlProbe {
    client: HttpClient,
    base: Url,
    configured: SourceKind,
    detected: Option<SourceKind>,
    target: TargetConfig,
    /// Previous `process_cpu_seconds_total`, for a CPU % between two scrapes.
    prev_cpu: Option<(Instant, f64)>,
}

impl UrlProbe {
    pub fn new(target: &TargetConfig, base: Url) -> Result<UrlProbe, HttpError> {
        let client = HttpClient::new(&HttpOptions {
            timeout: target.timeout,
            auth: target.auth.clone(),
            headers: target.headers.clone(),
        })?;
        Ok(UrlProbe {
            client,
            base,
            configured: target.source,
            detected: None,
            target: target.clone(),
            prev_cpu: None,
        })
    }

    /// The source in use: configured, or detected, or `auto` before detection.
    pub fn source(&self) -> SourceKind {
        self.detected.unwrap_or(self.configured)
    }

    /// The URL a source kind reads: the target URL itself when its path already names that
    /// source (or a non-auto source was configured with a full URL), else base + default path.
    pub fn endpoint(&self, kind: SourceKind) -> Url {
        let path = self.base.path();
        let names_it = SourceKind::from_path(path) == Some(kind);
        let custom_path = self.configured == kind && !path.trim_end_matches('/').is_empty();
        if names_it || custom_path {
            let mut url = self.base.clone();
            if kind == SourceKind::Pprof && url.query().is_none() {
                url.set_query(Some("debug=1"));
            }
            return url;
        }
        let mut url = self.base.clone();
        let (p, q) = kind
            .default_path()
            .split_once('?')
            .unwrap_or((kind.default_path(), ""));
        url.set_path(&format!("{}{p}", path.trim_end_matches('/')));
        url.set_query((!q.is_empty()).then_some(q));
        url
    }

    pub async fn probe(&mut self) -> Result<Metrics, ProbeError> {
        if let Some(kind) = self.detected.or(match self.configured {
            SourceKind::Auto => None,
            k => Some(k),
        }) {
            let result = self.probe_kind(kind).await;
            // A detected source that vanished (404 after a redeploy) is detected again next time.
            if self.configured == SourceKind::Auto
                && matches!(
                    result,
                    Err(ProbeError::Http(HttpError::Status { status: 404, .. }))
                )
            {
                self.detected = None;
            }
            return result;
        }
        let mut tried = Vec::new();
        let mut first_real_error = None;
        for kind in [
            SourceKind::Health,
            SourceKind::Expvar,
            SourceKind::Prometheus,
            SourceKind::Pprof,
        ] {
            match self.probe_kind(kind).await {
                Ok(m) if m.goroutines.is_some() => {
                    self.detected = Some(kind);
                    return Ok(m);
                }
                Ok(_) => tried.push(format!("{} (no goroutine count)", kind.name())),
                // The service is down or hung: asking the other paths would only multiply the wait.
                Err(e @ ProbeError::Http(HttpError::Refused(_) | HttpError::Timeout(_))) => {
                    return Err(e)
                }
                Err(e) => {
                    tried.push(format!("{}: {e}", self.endpoint(kind).path()));
                    if !matches!(e, ProbeError::Http(HttpError::Status { status: 404, .. })) {
                        first_real_error.get_or_insert(e);
                    }
                }
            }
        }
        Err(first_real_error.unwrap_or_else(|| ProbeError::Undetected {
            url: leakhound_http::redact(&self.base),
            tried: tried.join("; "),
        }))
    }

    async fn probe_kind(&mut self, kind: SourceKind) -> Result<Metrics, ProbeError> {
        let url = self.endpoint(kind);
        let limit = self.target.max_body_bytes;
        match kind {
            SourceKind::Health | SourceKind::Auto => {
                let (_, body) = self.client.get_bytes(&url, limit).await?;
                health::parse(&body, &self.target.fields)
                    .map_err(|m| ProbeError::invalid(kind, &url, m))
            }
            SourceKind::Expvar => {
                let (_, body) = self.client.get_bytes(&url, limit).await?;
                expvar::parse(&body, &self.target.expvar_goroutines)
                    .map_err(|m| ProbeError::invalid(kind, &url, m))
            }
            SourceKind::Prometheus => {
                let (_, body) = self.client.get_bytes(&url, limit).await?;
                let now = Instant::now();
                let (mut metrics, cpu_seconds) =
                    prometheus::parse(&body).map_err(|m| ProbeError::invalid(kind, &url, m))?;
                if let Some(cpu) = cpu_seconds {
                    if let Some((then, before)) = self.prev_cpu {
                        let wall = now.duration_since(then).as_secs_f64();
                        if wall > 0.0 && cpu >= before {
                            metrics.cpu_percent = Some((cpu - before) / wall * 100.0);
                        }
                    }
                    self.prev_cpu = Some((now, cpu));
                }
                Ok(metrics)
            }
            SourceKind::Pprof => {
                let (_, head) = self
                    .client
                    .get_until(&url, limit, |b| b.contains(&b'\n'))
                    .await?;
                pprof::parse_total(&head).map_err(|m| ProbeError::invalid(kind, &url, m))
            }
        }
    }
}
