//! The HTTP client for untrusted peers, which every probe (and `analyze URL`) uses: rustls,
//! timeouts, basic/bearer auth, extra headers, a redirect limit, and a hard response-size limit
//! enforced while streaming, so a 50 MB answer costs at most `max_bytes` of memory. Every URL in
//! an error is redacted ([`redact`]): no user info, no query values. The notifiers send through
//! [`shared_client`], the process-wide connection pool.
//!
//! ```no_run
//! # async fn demo() -> Result<(), leakhound_http::HttpError> {
//! use leakhound_http::{HttpClient, HttpOptions};
//! use url::Url;
//!
//! let client = HttpClient::new(&HttpOptions::default())?;
//! let url = Url::parse("http://127.0.0.1:3000/api/monitor/health?token=s3cret")
//!     .map_err(|e| leakhound_http::HttpError::Client(e.to_string()))?;
//! let (status, body) = client.get_bytes(&url, 64 * 1024).await?; // at most 64 KiB read
//! println!("HTTP {status} from {}: {} bytes", leakhound_http::redact(&url), body.len());
//! # Ok(()) }
//! ```

use futures_util::StreamExt;
use leakhound_core::config::Auth;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use url::Url;

/// Why an HTTP request failed, in words that tell the user what to check. Every URL in here is
/// redacted ([`redact`]) and every piece of third-party text escaped and capped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("connection refused by {0}: is the service running and listening there?")]
    Refused(String),
    #[error("no answer within {0}: the service is hung or overloaded (raise `timeout` if it is just slow)")]
    Timeout(String),
    #[error("cannot resolve host \"{host}\" — check the target URL ({detail})")]
    Dns { host: String, detail: String },
    #[error("TLS handshake with {host_port} failed ({detail}) — is it really https? Use http:// for a plain-HTTP port, or give the service a certificate this host trusts")]
    Tls { host_port: String, detail: String },
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
/// The most of a body's announced length reserved before any of it arrives.
const START_CAPACITY: u64 = 64 << 10;

/// `idle_per_host`: connections kept open per host for the next request (0: each is closed
/// once its answer is read).
fn build_client(
    policy: reqwest::redirect::Policy,
    idle_per_host: usize,
) -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder()
        .redirect(policy)
        .user_agent(concat!("leakhound/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(idle_per_host)
        .build()
        .map_err(|e| HttpError::Client(error_chain(&e)))
}

/// One connection pool and TLS configuration for the whole process: a thousand targets share
/// it instead of each building its own (which would cost megabytes of root certificates).
pub fn shared_client() -> Result<reqwest::Client, HttpError> {
    static SHARED: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = SHARED.get() {
        return Ok(c.clone());
    }
    let client = build_client(reqwest::redirect::Policy::limited(MAX_REDIRECTS), 4)?;
    Ok(SHARED.get_or_init(|| client).clone())
}

/// Whether the [`HttpClient`]s made from now on keep connections open (see
/// [`keep_connections`]).
static KEEP_CONNECTIONS: AtomicBool = AtomicBool::new(true);

/// Whether the [`HttpClient`]s made from now on keep a connection to each host open for the
/// next request (the default: right for commands that ask one service again and again) or
/// close it once the answer is read: the agent's `[agent] keep_alive`, set before its probers
/// are made. A kept connection idles between probes with hyper's read and write buffers (~40 KB,
/// measured) and a file descriptor, per host: with 10 000 hosts that is 400 MB of a 256 MB
/// budget; a closed one costs a TCP (and TLS) handshake per probe instead.
pub fn keep_connections(keep: bool) {
    KEEP_CONNECTIONS.store(keep, Ordering::Relaxed);
}

/// The client of [`HttpClient`]: follows no redirect itself, so that [`HttpClient`] can follow
/// them and decide per hop which credentials go along (a target's custom headers and auth
/// only ever go to the target's own origin). Two pools: one that keeps connections (up to 4 per
/// host) and one that keeps none.
fn probe_client(keep: bool) -> Result<reqwest::Client, HttpError> {
    static KEEP: OnceLock<reqwest::Client> = OnceLock::new();
    static CLOSE: OnceLock<reqwest::Client> = OnceLock::new();
    let (pool, idle) = match keep {
        true => (&KEEP, 4),
        false => (&CLOSE, 0),
    };
    if let Some(c) = pool.get() {
        return Ok(c.clone());
    }
    let client = build_client(reqwest::redirect::Policy::none(), idle)?;
    Ok(pool.get_or_init(|| client).clone())
}

/// Whether two URLs share an origin (scheme, host and port), as browsers and curl judge
/// whether credentials may follow a redirect.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A client for one target: the shared pool plus that target's timeout, auth and headers.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    options: HttpOptions,
    /// On the pool that keeps connections: a request may meet a kept one the peer has closed.
    keeps: bool,
}

impl HttpClient {
    /// A client on the pool [`keep_connections`] chose.
    pub fn new(options: &HttpOptions) -> Result<HttpClient, HttpError> {
        Self::on_pool(options, KEEP_CONNECTIONS.load(Ordering::Relaxed))
    }

    fn on_pool(options: &HttpOptions, keep: bool) -> Result<HttpClient, HttpError> {
        Ok(HttpClient {
            inner: probe_client(keep)?,
            options: options.clone(),
            keeps: keep,
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
        // Redirects are followed here, not by reqwest: the target's auth and custom headers
        // (an `x-api-key`) go along only while the hop stays on the target's origin.
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        let mut current = url.clone();
        let mut hops = 0;
        let response = loop {
            let response = self.send_once(url, &current, deadline).await?;
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            let next = match (response.status().is_redirection(), location) {
                (true, Some(l)) => current.join(&l).ok(),
                _ => None,
            };
            let Some(next) = next.filter(|n| matches!(n.scheme(), "http" | "https")) else {
                break response;
            };
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(HttpError::Redirects(redact(url)));
            }
            current = next;
        };
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(HttpError::Status {
                status,
                url: redact(&current),
            });
        }
        let too_large = || HttpError::TooLarge {
            url: redact(&current),
            limit: leakhound_core::units::human_bytes(max_bytes),
        };
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(too_large());
        }
        // Sized once from the announced length (a /metrics page is ~10 KB: growing by
        // doubling copied it four times), but never more than a small start on a target's
        // word alone — the limit above holds for what is actually sent.
        let announced = response.content_length().unwrap_or(0).min(max_bytes);
        let mut body = Vec::with_capacity(announced.min(START_CAPACITY) as usize);
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.classify(&current, &e))?;
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

    /// One GET of `current` (a hop of a request for `origin`), with auth and custom headers
    /// only when `current` is on `origin`'s origin.
    async fn send_once(
        &self,
        origin: &Url,
        current: &Url,
        deadline: tokio::time::Instant,
    ) -> Result<reqwest::Response, HttpError> {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(HttpError::Timeout(leakhound_core::units::human_duration(
                self.options.timeout,
            )));
        }
        let mut request = self.inner.get(current.clone()).timeout(left);
        if same_origin(origin, current) {
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
        }
        // A GET is idempotent: when a kept-alive connection turns out to be dead (the service
        // restarted since the last probe), ask once more on a fresh one instead of reporting the
        // service down. Without kept connections every request has a fresh one: no copy (it
        // was the largest allocation of a probe: BENCHMARKS.md, "The climb, measured again with
        // frame pointers").
        let retry = if self.keeps {
            request.try_clone()
        } else {
            None
        };
        match request.send().await {
            Ok(r) => Ok(r),
            Err(e) if is_stale_connection(&e) => match retry {
                Some(again) => again.send().await.map_err(|e| self.classify(current, &e)),
                None => Err(self.classify(current, &e)),
            },
            Err(e) => Err(self.classify(current, &e)),
        }
    }

    /// A reqwest error in words: refused, timeout, DNS and TLS failures get a short message with
    /// the fix; anything else the error's own chain — without its URL (reqwest repeats the full
    /// URL, query secrets included), redacted again in case a source quotes it, and escaped.
    fn classify(&self, url: &Url, e: &reqwest::Error) -> HttpError {
        let shown = redact(url);
        if e.is_timeout() {
            return HttpError::Timeout(leakhound_core::units::human_duration(self.options.timeout));
        }
        if e.is_redirect() {
            return HttpError::Redirects(shown);
        }
        let raw = match std::error::Error::source(e) {
            Some(source) => error_chain(source),
            None => error_chain(e),
        };
        let chain = leakhound_core::text::target_text(&leakhound_core::text::redact_in(&raw, url));
        if e.is_connect() && chain.contains("refused") {
            return HttpError::Refused(host_port(url));
        }
        if chain.contains("dns error") || chain.contains("failed to lookup address") {
            return HttpError::Dns {
                host: url.host_str().unwrap_or_default().to_string(),
                detail: last_cause(&chain),
            };
        }
        let tls_words = [
            "tls",
            "TLS",
            "certificate",
            "Certificate",
            "handshake",
            "corrupt message",
            "InvalidContentType",
            "rustls",
        ];
        if url.scheme() == "https" && e.is_connect() && tls_words.iter().any(|w| chain.contains(w))
        {
            return HttpError::Tls {
                host_port: host_port(url),
                detail: last_cause(&chain),
            };
        }
        HttpError::Other {
            url: shown,
            detail: chain,
        }
    }
}

/// The innermost cause of an error chain (`a: b: c` → `c`), the part that names the problem.
fn last_cause(chain: &str) -> String {
    chain.rsplit(": ").next().unwrap_or(chain).to_string()
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

/// The URL fit to print: no user info, query values `REDACTED` (secrets never reach logs, the
/// store, messages or the API). See [`leakhound_core::text::redact_url`].
pub fn redact(url: &Url) -> String {
    leakhound_core::text::redact_url(url)
}

fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        _ => redact(url),
    }
}

/// An error and its sources, each said once: `request failed: connection refused`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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

    /// `[agent] keep_alive`: a kept connection serves the next request; with `false` each
    /// request has its own connection, closed once the answer is read.
    #[tokio::test]
    async fn connections_are_kept_or_closed_as_asked() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        if line == "\r\n" {
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if stream.write_all(answer).is_err() {
                                return;
                            }
                        }
                        line.clear();
                    }
                });
            }
        });
        let url = Url::parse(&format!("http://{addr}/")).unwrap();
        for (keep, connections) in [(true, 1), (false, 3)] {
            accepted.store(0, Ordering::SeqCst);
            let client = HttpClient::on_pool(&HttpOptions::default(), keep).unwrap();
            for _ in 0..3 {
                assert_eq!(client.get_bytes(&url, 100).await.unwrap().1, b"ok");
            }
            assert_eq!(
                accepted.load(Ordering::SeqCst),
                connections,
                "keep_alive = {keep}: connections for 3 requests"
            );
        }
    }

    /// A loopback server answering each request with `answer(path)` and recording every
    /// request head (lower-cased).
    fn recording_server(
        answer: impl Fn(&str) -> String + Send + 'static,
    ) -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    head.push_str(&line.to_ascii_lowercase());
                    line.clear();
                }
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                record.lock().unwrap().push(head);
                let _ = stream.write_all(answer(&path).as_bytes());
            }
        });
        (addr, seen)
    }

    /// Issue 13: a target's custom headers (an API key) and auth followed a redirect to another
    /// origin. Like browsers and curl, they now go only to the target's own origin.
    #[tokio::test]
    async fn custom_headers_stay_on_the_targets_origin() {
        let ok = |_: &str| {
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_string()
        };
        let (b, b_seen) = recording_server(ok);
        let (a, a_seen) = recording_server(move |path| {
            let to = match path {
                "/away" => format!("http://{b}/landed"),
                "/same" => "/final".to_string(),
                _ => return ok(path),
            };
            format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        });
        let client = HttpClient::new(&HttpOptions {
            headers: vec![("x-api-key".into(), "k-123".into())],
            auth: Some(Auth::Bearer {
                token: "tok-456".into(),
            }),
            ..HttpOptions::default()
        })
        .unwrap();
        let away = Url::parse(&format!("http://{a}/away")).unwrap();
        assert_eq!(client.get_bytes(&away, 100).await.unwrap().1, b"ok");
        let b_heads = b_seen.lock().unwrap().clone();
        assert_eq!(b_heads.len(), 1);
        assert!(!b_heads[0].contains("x-api-key"), "{}", b_heads[0]);
        assert!(!b_heads[0].contains("authorization"), "{}", b_heads[0]);
        assert!(a_seen.lock().unwrap()[0].contains("x-api-key: k-123"));

        let same = Url::parse(&format!("http://{a}/same")).unwrap();
        assert_eq!(client.get_bytes(&same, 100).await.unwrap().1, b"ok");
        let a_heads = a_seen.lock().unwrap().clone();
        let last = a_heads.last().unwrap();
        assert!(last.starts_with("get /final"), "{last}");
        assert!(
            last.contains("x-api-key: k-123") && last.contains("authorization: bearer tok-456"),
            "{last}"
        );

        // A redirect loop still ends.
        let (l, _) = recording_server(|_| {
            "HTTP/1.1 302 Found\r\nlocation: /again\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
        });
        let looped = Url::parse(&format!("http://{l}/x?token=SECRET123")).unwrap();
        let e = client.get_bytes(&looped, 100).await.unwrap_err();
        assert!(matches!(e, HttpError::Redirects(_)), "{e}");
        assert!(!e.to_string().contains("SECRET123"), "{e}");
    }

    /// Issue 13: reqwest's error text repeats the whole URL (query secrets included); a DNS
    /// failure printed the raw chain with no hint.
    #[tokio::test]
    async fn errors_name_no_secret_and_give_the_fix() {
        let client = HttpClient::new(&HttpOptions::default()).unwrap();
        let url = Url::parse("http://me:SECRET123@nonexistent.invalid/h?token=SECRET123").unwrap();
        let e = client.get_bytes(&url, 100).await.unwrap_err().to_string();
        assert!(!e.contains("SECRET123"), "{e}");
        assert!(
            e.starts_with("cannot resolve host \"nonexistent.invalid\" — check the target URL"),
            "{e}"
        );
    }

    #[test]
    fn redact_drops_credentials_and_query() {
        let url = Url::parse("http://user:pw@h:1/p?token=x").unwrap();
        assert_eq!(redact(&url), "http://h:1/p?token=REDACTED");
    }
}
