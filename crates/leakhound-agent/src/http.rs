//! The HTTP client every probe (and `analyze URL`) uses: rustls, timeouts, basic/bearer auth,
//! extra headers, a redirect limit, and a hard response-size limit enforced while streaming, so
//! a 50 MB answer costs at most `max_bytes` of memory.

use futures_util::StreamExt;
use leakhound_core::config::Auth;
use std::time::Duration;
use url::Url;

/// Why an HTTP request failed, in words that tell the user what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("connection refused by {0}: is the service running and listening there?")]
    Refused(String),
    #[error("no answer within {0}: the service is hung or overloaded (raise `timeout` if it is just slow)")]
    Timeout(String),
    #[error("too many redirects (redirect loop?) starting at {0}")]
    Redirects(String),
    #[error("HTTP {status} from {url}")]
    Status { status: u16, url: String },
    #[error("response from {url} is larger than the {limit} limit: raise `max_body` or point at a smaller endpoint")]
    TooLarge { url: String, limit: String },
    #[error("request to {url} failed: {detail}")]
    Other { url: String, detail: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Per-target request settings.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Limit for the whole request: connect, headers and body.
    pub timeout: Duration,
    pub auth: Option<Auth>,
    pub headers: Vec<(String, String)>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(10),
            auth: None,
            headers: Vec::new(),
        }
    }
}

/// Redirects followed before a request fails as a loop.
const MAX_REDIRECTS: usize = 5;

/// One connection pool and TLS configuration for the whole process: a thousand targets share
/// it instead of each building its own (which would cost megabytes of root certificates).
pub(crate) fn shared_client() -> Result<reqwest::Client, HttpError> {
    static SHARED: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = SHARED.get() {
        return Ok(c.clone());
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent(concat!("leakhound/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(4)
        .build()
        .map_err(|e| HttpError::Client(e.to_string()))?;
    Ok(SHARED.get_or_init(|| client).clone())
}

/// A client for one target: the shared pool plus that target's timeout, auth and headers.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    options: HttpOptions,
}

impl HttpClient {
    pub fn new(options: &HttpOptions) -> Result<HttpClient, HttpError> {
        Ok(HttpClient {
            inner: shared_client()?,
            options: options.clone(),
        })
    }

    /// GET `url` and read at most `max_bytes` of the body. A non-2xx status is an error that
    /// carries the status (the body is not read).
    pub async fn get_bytes(&self, url: &Url, max_bytes: u64) -> Result<(u16, Vec<u8>), HttpError> {
        self.get_until(url, max_bytes, |_| false).await
    }

    /// Like [`get_bytes`](Self::get_bytes) but stops reading early once `done(body_so_far)` is
    /// true (e.g. after the first line of a pprof profile).
    pub async fn get_until(
        &self,
        url: &Url,
        max_bytes: u64,
        done: impl Fn(&[u8]) -> bool,
    ) -> Result<(u16, Vec<u8>), HttpError> {
        let mut request = self.inner.get(url.clone()).timeout(self.options.timeout);
        match &self.options.auth {
            Some(Auth::Basic { username, password }) => {
                request = request.basic_auth(username, Some(password));
            }
            Some(Auth::Bearer { token }) => request = request.bearer_auth(token),
            None => {}
        }
        for (k, v) in &self.options.headers {
            request = request.header(k, v);
        }
        // A GET is idempotent: when a kept-alive connection turns out to be dead (the service
        // restarted since the last probe), ask once more on a fresh one instead of reporting the
        // service down.
        let retry = request.try_clone();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if is_stale_connection(&e) => match retry {
                Some(again) => again.send().await.map_err(|e| self.classify(url, &e))?,
                None => return Err(self.classify(url, &e)),
            },
            Err(e) => return Err(self.classify(url, &e)),
        };
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(HttpError::Status {
                status,
                url: redact(url),
            });
        }
        let too_large = || HttpError::TooLarge {
            url: redact(url),
            limit: leakhound_core::units::human_bytes(max_bytes),
        };
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.classify(url, &e))?;
            if body.len() as u64 + chunk.len() as u64 > max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
            if done(&body) {
                break;
            }
        }
        Ok((status, body))
    }

    fn classify(&self, url: &Url, e: &reqwest::Error) -> HttpError {
        let shown = redact(url);
        if e.is_timeout() {
            return HttpError::Timeout(leakhound_core::units::human_duration(self.options.timeout));
        }
        if e.is_redirect() {
            return HttpError::Redirects(shown);
        }
        let chain = error_chain(e);
        if e.is_connect() && chain.contains("refused") {
            return HttpError::Refused(host_port(url));
        }
        HttpError::Other {
            url: shown,
            detail: chain,
        }
    }
}

/// Whether a request failed because its pooled connection was already closed by the peer:
/// hyper's "connection closed before message completed" or a reset, before any answer.
fn is_stale_connection(e: &reqwest::Error) -> bool {
    if e.is_timeout() || e.is_connect() || e.is_redirect() || e.is_status() {
        return false;
    }
    let chain = error_chain(e);
    chain.contains("connection closed before message completed")
        || chain.contains("Connection reset by peer")
}

/// The URL without user info or query, fit to print (secrets never reach logs).
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.to_string()
}

fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        _ => redact(url),
    }
}

/// An error and its sources, each said once: `request failed: connection refused`.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: after a service restart, the first probe used a kept-alive connection to the
    /// old process and the target was reported down ("connection closed before message
    /// completed"). The server here answers the first request on a connection, then closes the
    /// connection when the second arrives — as a restarted process does.
    #[tokio::test]
    async fn a_dead_kept_alive_connection_is_retried_on_a_fresh_one() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut connections = 0;
            for stream in listener.incoming().take(2) {
                connections += 1;
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut read_request = || {
                    let mut line = String::new();
                    let mut got = false;
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        got = true;
                        if line == "\r\n" {
                            break;
                        }
                        line.clear();
                    }
                    got
                };
                if !read_request() {
                    continue;
                }
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .unwrap();
                if connections == 1 {
                    // The next request on this connection is read, then the connection dies.
                    read_request();
                }
            }
            connections
        });
        let client = HttpClient::new(&HttpOptions::default()).unwrap();
        let url = Url::parse(&format!("http://{addr}/")).unwrap();
        assert_eq!(client.get_bytes(&url, 100).await.unwrap().1, b"ok");
        assert_eq!(client.get_bytes(&url, 100).await.unwrap().1, b"ok");
        assert_eq!(server.join().unwrap(), 2, "the retry used a new connection");
    }

    #[test]
    fn redact_drops_credentials_and_query() {
        let url = Url::parse("http://user:pw@h:1/p?token=x").unwrap();
        assert_eq!(redact(&url), "http://h:1/p");
    }
}
