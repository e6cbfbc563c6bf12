//! `[remote_write]`: ship every sample to a Prometheus remote-write 1.0 endpoint (Prometheus
//! with `--web.enable-remote-write-receiver`, Mimir, Thanos Receive, VictoriaMetrics, …).
//!
//! The series are the ones `/metrics` serves (`leakhound_goroutines`, `leakhound_memory_bytes`,
//! `leakhound_up`, …) with a `target` label, plus `job` and `instance` (and any extra `labels`).
//! Samples wait in a bounded in-memory queue while the endpoint is away; when it is full the
//! oldest are dropped and counted (`leakhound_remote_write_dropped_samples_total`). Nothing is
//! spilled to disk: every sample is in the agent's SQLite store anyway, and the store remembers
//! per target the newest sample the endpoint acknowledged; on start the agent resends the stored
//! samples after that mark (at most `max_replay` old and `queue_capacity` samples), so a
//! `kill -9` loses nothing the store has.
//!
//! ```toml
//! [remote_write]
//! url = "http://127.0.0.1:9090/api/v1/write"
//! username = "leakhound"               # basic auth, or bearer_token = "${TOKEN}"
//! password = "${REMOTE_WRITE_PASSWORD}"
//! headers = { "X-Scope-OrgID" = "team-a" }
//! labels = { job = "leakhound", env = "prod" }
//! timeout = "10s"
//! batch_size = 500                      # samples per request
//! flush_interval = "5s"                 # send a partial batch after this long
//! queue_capacity = 200000               # samples held during an outage (~24 bytes each)
//! max_backoff = "5s"
//! max_replay = "1h"                     # on start, resend stored samples not yet acknowledged
//! ```

use super::walk::{Ctx, Table};
use super::{parse_url, Auth};
use serde::Serialize;
use std::fmt;
use std::time::Duration;
use url::Url;

/// Default samples per request (Prometheus' `max_samples_per_send`).
pub const DEFAULT_BATCH_SIZE: usize = 500;
/// Default samples the queue holds while the endpoint is unreachable.
pub const DEFAULT_QUEUE_CAPACITY: usize = 200_000;

/// Headers the sender sets itself; a config may not override them.
const RESERVED_HEADERS: [&str; 4] = [
    "authorization",
    "content-encoding",
    "content-type",
    "x-prometheus-remote-write-version",
];

/// Labels every series carries already.
const RESERVED_LABELS: [&str; 3] = ["__name__", "target", "kind"];

/// The validated `[remote_write]` section.
#[derive(Clone, PartialEq, Serialize)]
pub struct RemoteWriteConfig {
    pub url: Url,
    #[serde(skip)]
    pub auth: Option<Auth>,
    /// Extra request headers (e.g. `X-Scope-OrgID` for Mimir); values are never shown.
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    /// Labels added to every series, sorted by name. `job` defaults to `leakhound` and
    /// `instance` to the agent's host name when not given here (filled in by the agent).
    pub labels: Vec<(String, String)>,
    #[serde(with = "super::human_duration")]
    pub timeout: Duration,
    /// Samples per request at most.
    pub batch_size: usize,
    /// A partial batch is sent after this long.
    #[serde(with = "super::human_duration")]
    pub flush_interval: Duration,
    /// Samples waiting at most; past this the oldest are dropped and counted.
    pub queue_capacity: usize,
    /// Retries back off from 100 ms, doubling, up to this.
    #[serde(with = "super::human_duration")]
    pub max_backoff: Duration,
    /// On start, stored samples not yet acknowledged and at most this old are sent first;
    /// `0s` turns the replay off. Prometheus refuses samples over about an hour older than its
    /// newest one, hence the default.
    #[serde(with = "super::human_duration")]
    pub max_replay: Duration,
}

/// Default age limit of the samples replayed on start.
pub const DEFAULT_MAX_REPLAY: Duration = Duration::from_secs(3600);

impl RemoteWriteConfig {
    /// The defaults for an endpoint.
    pub fn new(url: Url) -> RemoteWriteConfig {
        RemoteWriteConfig {
            url,
            auth: None,
            headers: Vec::new(),
            labels: Vec::new(),
            timeout: Duration::from_secs(10),
            batch_size: DEFAULT_BATCH_SIZE,
            flush_interval: Duration::from_secs(5),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_backoff: Duration::from_secs(5),
            max_replay: DEFAULT_MAX_REPLAY,
        }
    }

    /// The URL without any user:password part, for logs.
    pub fn redacted_url(&self) -> String {
        let mut u = self.url.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.to_string()
    }
}

impl fmt::Debug for RemoteWriteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriteConfig")
            .field("url", &self.redacted_url())
            .field("auth", &self.auth)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| format!("{k}: ***"))
                    .collect::<Vec<_>>(),
            )
            .field("labels", &self.labels)
            .field("timeout", &self.timeout)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_backoff", &self.max_backoff)
            .field("max_replay", &self.max_replay)
            .finish()
    }
}

/// Whether `name` is a valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Read `[remote_write]` from the root table; `None` when the section is absent.
pub(super) fn read_remote_write(
    ctx: &mut Ctx<'_>,
    root: &mut Table<'_, '_>,
) -> Option<RemoteWriteConfig> {
    let mut t = root.table(ctx, "remote_write")?;
    let url = read_url(ctx, &mut t, root.offset_of("remote_write"));
    // Read everything even without a URL, so every mistake is reported at once.
    let Ok(placeholder) = Url::parse("http://127.0.0.1/") else {
        return None;
    };
    let mut config = RemoteWriteConfig::new(url.clone().unwrap_or(placeholder));
    config.auth = read_auth(ctx, &mut t);
    if let Some(headers) = t.table(ctx, "headers") {
        config.headers = read_headers(ctx, &headers);
    }
    if let Some(labels) = t.table(ctx, "labels") {
        config.labels = read_labels(ctx, &labels);
    }
    read_limits(ctx, &mut t, &mut config);
    t.finish(ctx);
    url.map(|url| RemoteWriteConfig { url, ..config })
}

/// `url`, required; `section` is where `[remote_write]` starts.
fn read_url(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, section: usize) -> Option<Url> {
    let url = t.parsed(ctx, "url", |text| {
        parse_url(text).map_err(|msg| {
            msg.replace(
                "e.g. 'http://127.0.0.1:3000'",
                "e.g. 'http://127.0.0.1:9090/api/v1/write'",
            )
        })
    });
    if url.is_none() {
        t.require(
            ctx,
            "url",
            section,
            "[remote_write] needs a 'url', e.g. url = \"http://127.0.0.1:9090/api/v1/write\" \
             (Prometheus started with --web.enable-remote-write-receiver)"
                .into(),
        );
    }
    url
}

/// `username`/`password` (basic auth) or a non-empty `bearer_token`.
fn read_auth(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>) -> Option<Auth> {
    let username = t.string(ctx, "username");
    let password = t.string(ctx, "password");
    let token = t.string(ctx, "bearer_token");
    match (username, password, token) {
        (Some(_), _, Some(_)) => {
            t.error_at(
                ctx,
                "bearer_token",
                "give either basic auth (username/password) or 'bearer_token', not both".into(),
            );
            None
        }
        (Some(username), password, None) => Some(Auth::Basic {
            username,
            password: password.unwrap_or_default(),
        }),
        (None, Some(_), _) => {
            t.error_at(ctx, "password", "a 'password' needs a 'username'".into());
            None
        }
        (None, None, Some(token)) if token.trim().is_empty() => {
            t.error_at(
                ctx,
                "bearer_token",
                "the token is empty; set it (e.g. \"${REMOTE_WRITE_TOKEN}\") or remove the key"
                    .into(),
            );
            None
        }
        (None, None, Some(token)) => Some(Auth::Bearer { token }),
        (None, None, None) => None,
    }
}

/// `headers = { "X-Scope-OrgID" = "team-a" }`: extra request headers, `${VAR}` expanded; not
/// the ones the sender sets itself.
fn read_headers(ctx: &mut Ctx<'_>, headers: &Table<'_, '_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in headers.entries() {
        let name: &str = key.get_ref();
        let path = headers.path_of(name);
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            ctx.error(
                key.span().start,
                &path,
                format!(
                    "'{name}' is set by leakhound itself; remove it (for credentials use \
                     username/password or bearer_token)"
                ),
            );
            continue;
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            ctx.error(
                key.span().start,
                &path,
                format!("'{name}' is not a header name; write e.g. \"X-Scope-OrgID\""),
            );
            continue;
        }
        match value.get_ref().as_str() {
            Some(v) => match super::expand_env(v, ctx.env) {
                Ok(v) => out.push((name.to_string(), v)),
                Err(var) => ctx.error(
                    value.span().start,
                    &path,
                    format!(
                        "environment variable '{var}' is not set; export it or write the value"
                    ),
                ),
            },
            None => ctx.error(
                value.span().start,
                &path,
                "a header value must be a string in quotes".into(),
            ),
        }
    }
    out
}

/// `labels = { env = "prod" }`: added to every series, sorted by name; not the ones every
/// series carries already.
fn read_labels(ctx: &mut Ctx<'_>, labels: &Table<'_, '_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in labels.entries() {
        let name: &str = key.get_ref();
        let path = labels.path_of(name);
        if let Err(why) = super::check_label_name(name) {
            ctx.error(key.span().start, &path, why);
            continue;
        }
        if RESERVED_LABELS.contains(&name) {
            ctx.error(
                key.span().start,
                &path,
                format!("'{name}' is set by leakhound on every series; pick another name"),
            );
            continue;
        }
        match value.get_ref().as_str() {
            Some(v) => match super::expand_env(v, ctx.env) {
                Ok(v) if v.is_empty() => ctx.error(
                    value.span().start,
                    &path,
                    "an empty value drops the label in Prometheus; write a value or remove it"
                        .into(),
                ),
                Ok(v) => out.push((name.to_string(), v)),
                Err(var) => ctx.error(
                    value.span().start,
                    &path,
                    format!(
                        "environment variable '{var}' is not set; export it or write the value"
                    ),
                ),
            },
            None => ctx.error(
                value.span().start,
                &path,
                "a label value must be a string in quotes".into(),
            ),
        }
    }
    out.sort();
    out
}

/// `timeout`, `batch_size`, `flush_interval`, `queue_capacity`, `max_backoff` and `max_replay`.
fn read_limits(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, config: &mut RemoteWriteConfig) {
    t.set_duration(ctx, "timeout", &mut config.timeout);
    if let Some(v) = t.uint(ctx, "batch_size") {
        match usize::try_from(v) {
            Ok(n) if (1..=100_000).contains(&n) => config.batch_size = n,
            _ => t.error_at(
                ctx,
                "batch_size",
                format!("'{v}' must be between 1 and 100000 samples (Prometheus sends 500)"),
            ),
        }
    }
    t.set_duration(ctx, "flush_interval", &mut config.flush_interval);
    if let Some(v) = t.uint(ctx, "queue_capacity") {
        match usize::try_from(v) {
            Ok(n) if n >= config.batch_size && n <= 100_000_000 => config.queue_capacity = n,
            _ => t.error_at(
                ctx,
                "queue_capacity",
                format!(
                    "'{v}' must be at least batch_size ({}) and at most 100000000 samples; \
                     each waiting sample takes about 24 bytes",
                    config.batch_size
                ),
            ),
        }
    }
    t.set_duration(ctx, "max_backoff", &mut config.max_backoff);
    if let Some(d) = t.duration_or_zero(ctx, "max_replay") {
        config.max_replay = d;
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Auth, Config, ConfigErrors};
    use std::time::Duration;

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(text, &|name| (name == "PASS").then(|| "s3cret".to_string()))
    }

    #[test]
    fn absent_means_off() {
        assert!(parse("").unwrap().remote_write.is_none());
    }

    #[test]
    fn a_url_alone_gets_the_defaults() {
        let rw = parse("[remote_write]\nurl = \"http://127.0.0.1:9090/api/v1/write\"\n")
            .unwrap()
            .remote_write
            .unwrap();
        assert_eq!(rw.url.as_str(), "http://127.0.0.1:9090/api/v1/write");
        assert_eq!(rw.batch_size, 500);
        assert_eq!(rw.flush_interval, Duration::from_secs(5));
        assert_eq!(rw.queue_capacity, 200_000);
        assert_eq!(rw.max_replay, Duration::from_secs(3600));
        assert!(rw.auth.is_none() && rw.headers.is_empty() && rw.labels.is_empty());
    }

    #[test]
    fn a_full_section_parses_and_hides_secrets() {
        let rw = parse(
            "[remote_write]\nurl = \"https://mimir.example:443/api/v1/push\"\nusername = \"lh\"\npassword = \"${PASS}\"\n\
             headers = { \"X-Scope-OrgID\" = \"${PASS}\" }\nlabels = { region = \"eu\", job = \"lh\" }\n\
             timeout = \"3s\"\nbatch_size = 100\nflush_interval = \"1s\"\nqueue_capacity = 1000\nmax_backoff = \"2s\"\n",
        )
        .unwrap()
        .remote_write
        .unwrap();
        assert_eq!(
            rw.auth,
            Some(Auth::Basic {
                username: "lh".into(),
                password: "s3cret".into()
            })
        );
        assert_eq!(
            rw.headers,
            [("X-Scope-OrgID".to_string(), "s3cret".to_string())]
        );
        // Sorted by name.
        assert_eq!(
            rw.labels,
            [
                ("job".to_string(), "lh".to_string()),
                ("region".to_string(), "eu".to_string())
            ]
        );
        assert_eq!(
            (
                rw.timeout,
                rw.batch_size,
                rw.flush_interval,
                rw.queue_capacity,
                rw.max_backoff
            ),
            (
                Duration::from_secs(3),
                100,
                Duration::from_secs(1),
                1000,
                Duration::from_secs(2)
            )
        );
        let shown = format!("{rw:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("X-Scope-OrgID: ***"), "{shown}");
        // The serialized form carries no secret either.
        let serialized = toml::to_string(&rw).unwrap();
        assert!(!serialized.contains("s3cret"), "{serialized}");
        assert!(serialized.contains("mimir.example"), "{serialized}");
    }

    #[test]
    fn every_mistake_is_reported_with_line_and_fix() {
        let errors = parse(
            "[remote_write]\nurl = \"ftp://x\"\nusername = \"a\"\nbearer_token = \"t\"\n\
             headers = { \"Content-Type\" = \"text/plain\", \"X-Ok\" = 5 }\n\
             labels = { target = \"x\", \"1bad\" = \"y\", env = \"\" }\n\
             batch_size = 0\nqueue_capacity = 10\ntimeout = \"soon\"\nbatchsize = 1\n",
        )
        .unwrap_err()
        .0;
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let find = |prefix: &str| {
            shown
                .iter()
                .find(|s| s.starts_with(prefix))
                .unwrap_or_else(|| panic!("no error starting {prefix:?} in {shown:#?}"))
                .clone()
        };
        assert!(find("2:7: remote_write.url: 'ftp://x' uses 'ftp'").contains("/api/v1/write"));
        assert!(
            find("4:16: remote_write.bearer_token: give either basic auth").contains("not both")
        );
        assert!(find(
            "5:13: remote_write.headers.Content-Type: 'Content-Type' is set by leakhound"
        )
        .contains("remove it"));
        assert!(
            find("5:53: remote_write.headers.X-Ok: a header value must be a string")
                .contains("quotes")
        );
        assert!(
            find("6:12: remote_write.labels.target: 'target' is set by leakhound")
                .contains("another name")
        );
        assert!(
            find("6:26: remote_write.labels.1bad: '1bad' is not a label name").contains("digit")
        );
        assert!(find("6:46: remote_write.labels.env: an empty value").contains("remove it"));
        assert!(
            find("7:14: remote_write.batch_size: '0' must be between 1 and 100000").contains("500")
        );
        assert!(
            find("8:18: remote_write.queue_capacity: '10' must be at least batch_size")
                .contains("24 bytes")
        );
        assert!(find("9:11: remote_write.timeout:").contains("'soon'"));
        assert!(find(
            "10:1: remote_write.batchsize: unknown key 'batchsize'; did you mean 'batch_size'?"
        )
        .contains("batch_size"));
        assert_eq!(shown.len(), 11, "{shown:#?}");
    }

    #[test]
    fn a_section_without_url_says_what_to_write() {
        let errors = parse("[remote_write]\nbatch_size = 10\n").unwrap_err().0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "remote_write.url");
        assert!(errors[0]
            .message
            .contains("--web.enable-remote-write-receiver"));
    }

    #[test]
    fn the_init_examples_block_parses_when_uncommented() {
        let text = crate::config::example_uncommented("[remote_write]");
        let config = Config::parse(&text, &|name| {
            (name == "REMOTE_WRITE_TOKEN").then(|| "t0ken".to_string())
        })
        .unwrap();
        let rw = config.remote_write.unwrap();
        assert_eq!(rw.url.as_str(), "http://127.0.0.1:9090/api/v1/write");
        assert_eq!(
            rw.auth,
            Some(Auth::Bearer {
                token: "t0ken".into()
            })
        );
        assert_eq!(rw.labels, [("env".to_string(), "prod".to_string())]);
    }

    #[test]
    fn label_names_follow_prometheus() {
        assert!(super::is_label_name("env"));
        assert!(super::is_label_name("_x9"));
        assert!(!super::is_label_name("9x"));
        assert!(!super::is_label_name("a-b"));
        assert!(!super::is_label_name(""));
    }
}
