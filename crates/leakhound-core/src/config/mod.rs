//! leakhound's configuration: one TOML file, `${ENV}` expansion for secrets, and validation
//! that reports every mistake at once with line, column, the bad value and the fix.
//!
//! Every number has the guide's default, so a bare URL needs no file at all
//! ([`Config::for_urls`]). [`EXAMPLE`] is the commented file `leakhound init` writes.

mod actions;
mod alerts;
mod discovery;
pub mod notifiers;
mod remote_write;
mod sections;
mod shard;
pub use shard::{Shard, MAX_SHARDS};
mod targets;
mod verify;
mod walk;
mod web;

pub use actions::{ActionConfig, ActionKind, ActionsConfig, EvidenceConfig, Trigger, SIGNALS};
pub use alerts::AlertsConfig;
pub use discovery::{
    check_metrics_path, check_scheme, check_sd_path, DiscoveryConfig, DiscoveryKind,
    TargetTemplate, DEFAULT_DOCKER_LABEL, DEFAULT_DOCKER_REFRESH, DEFAULT_FILE_REFRESH,
    DEFAULT_HTTP_REFRESH,
};
pub use notifiers::{ChannelConfig, NotifierConfig};
pub use remote_write::{is_label_name, RemoteWriteConfig};
pub use verify::VerifyConfig;
pub use walk::expand_env;
pub use web::{IpNet, WebConfig, DEFAULT_LISTEN};

use crate::ladder::{AlertLevels, GoroutineLadder, LogThresholds, MemoryLadder};
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;
use walk::{Ctx, Lines, Table};

/// The commented configuration `leakhound init` writes. It parses to the defaults plus one target.
pub const EXAMPLE: &str = include_str!("example.toml");

/// [`EXAMPLE`] with the commented block that starts at the line `# {header}` uncommented (up to
/// the next empty line): the tests check that what `init` suggests parses.
#[cfg(test)]
pub(crate) fn example_uncommented(header: &str) -> String {
    let mut inside = false;
    EXAMPLE
        .lines()
        .map(|l| {
            if l.strip_prefix("# ") == Some(header) {
                inside = true;
            }
            if l.is_empty() {
                inside = false;
            }
            match l.strip_prefix("# ") {
                Some(rest) if inside => format!("{rest}\n"),
                _ => format!("{l}\n"),
            }
        })
        .collect()
}

/// One mistake in a config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    pub line: usize,
    pub column: usize,
    /// Dotted path of the key, e.g. `targets[1].interval`.
    pub path: String,
    /// What is wrong, quoting the bad value, and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.line, self.column, self.path, self.message
        )
    }
}

/// All mistakes found in one file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Which endpoint a target's goroutine count comes from.
#[derive(Debug, Clone, Copy, PartialEq, Hash, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Try the known paths in order (health, expvar, prometheus, pprof); keep the first that answers.
    Auto,
    /// The guide's `/api/monitor/health` JSON (or a look-alike via `fields`).
    Health,
    /// expvar `/debug/vars`.
    Expvar,
    /// Prometheus text `/metrics`.
    Prometheus,
    /// `/debug/pprof/goroutine?debug=1`, total line only.
    Pprof,
}

impl SourceKind {
    pub const ALL: [SourceKind; 5] = [
        SourceKind::Auto,
        SourceKind::Health,
        SourceKind::Expvar,
        SourceKind::Prometheus,
        SourceKind::Pprof,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Auto => "auto",
            SourceKind::Health => "health",
            SourceKind::Expvar => "expvar",
            SourceKind::Prometheus => "prometheus",
            SourceKind::Pprof => "pprof",
        }
    }

    /// The path this source reads, relative to the target's base URL.
    pub fn default_path(self) -> &'static str {
        match self {
            SourceKind::Auto => "",
            SourceKind::Health => "/api/monitor/health",
            SourceKind::Expvar => "/debug/vars",
            SourceKind::Prometheus => "/metrics",
            SourceKind::Pprof => "/debug/pprof/goroutine?debug=1",
        }
    }

    pub fn parse(text: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.name() == text)
    }

    /// The source a URL's path names, if it names one (`…/debug/vars` is expvar).
    pub fn from_path(path: &str) -> Option<SourceKind> {
        let path = path.trim_end_matches('/');
        [
            SourceKind::Health,
            SourceKind::Expvar,
            SourceKind::Prometheus,
        ]
        .into_iter()
        .find(|k| path.ends_with(k.default_path()))
        .or_else(|| {
            path.ends_with("/debug/pprof/goroutine")
                .then_some(SourceKind::Pprof)
        })
    }
}

/// A local process to read from procfs.
#[derive(Debug, Clone, PartialEq, Hash, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessSelector {
    Pid(u32),
    /// The process whose name (comm) or executable base name equals this.
    Name(String),
}

/// A container to read through the Docker Engine API (`docker stats` + `docker inspect`).
#[derive(Debug, Clone, PartialEq, Hash, Eq, Serialize)]
pub struct ContainerSource {
    /// The container's name or id, as `docker ps` shows it.
    pub name: String,
    /// `[agent] docker_host` (`unix:///path/docker.sock`); `None`: `$DOCKER_HOST`, else
    /// `unix:///var/run/docker.sock` (resolved by the agent).
    pub docker_host: Option<String>,
}

/// Credentials sent with every request to a target.
#[derive(Clone, PartialEq, Hash, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    Basic {
        username: String,
        #[serde(skip)]
        password: String,
    },
    Bearer {
        #[serde(skip)]
        token: String,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username}:***)"),
            Auth::Bearer { .. } => write!(f, "Bearer(***)"),
        }
    }
}

/// JSON pointers (RFC 6901) into a health-like JSON body. Defaults are the guide's shape.
#[derive(Debug, Clone, PartialEq, Hash, Eq, Serialize)]
pub struct FieldMap {
    pub goroutines: String,
    pub alloc_mb: String,
    pub total_alloc_mb: String,
    pub sys_mb: String,
    pub num_gc: String,
}

impl Default for FieldMap {
    fn default() -> Self {
        FieldMap {
            goroutines: "/goroutines".into(),
            alloc_mb: "/memory/alloc_mb".into(),
            total_alloc_mb: "/memory/total_alloc_mb".into(),
            sys_mb: "/memory/sys_mb".into(),
            num_gc: "/memory/num_gc".into(),
        }
    }
}

/// How one target is probed.
#[derive(Debug, Clone, PartialEq, Hash, Serialize)]
pub struct TargetConfig {
    pub name: String,
    pub url: Option<Url>,
    pub source: SourceKind,
    pub process: Option<ProcessSelector>,
    /// A container whose resources join this target's samples (`container = "one-api"`).
    pub container: Option<ContainerSource>,
    #[serde(with = "human_duration")]
    pub interval: Duration,
    #[serde(with = "human_duration")]
    pub timeout: Duration,
    #[serde(with = "human_duration")]
    pub jitter: Duration,
    pub max_body_bytes: u64,
    pub auth: Option<Auth>,
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    pub fields: FieldMap,
    /// Name of the expvar variable holding the goroutine count.
    pub expvar_goroutines: String,
    /// Labels of the target (`[targets.labels]`, or from discovery): carried into the store,
    /// `/metrics`, alerts and remote write.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Per-target defaults, overridable per target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Defaults {
    #[serde(with = "human_duration")]
    pub interval: Duration,
    #[serde(with = "human_duration")]
    pub timeout: Duration,
    #[serde(with = "human_duration")]
    pub jitter: Duration,
    pub max_body_bytes: u64,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            jitter: Duration::from_secs(1),
            max_body_bytes: 10 << 20,
        }
    }
}

/// The agent process itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentConfig {
    pub database: PathBuf,
    /// Cadence of the guide's per-target log lines (GUIDE §2: 30 s).
    #[serde(with = "human_duration")]
    pub log_interval: Duration,
    /// GUIDE §8 `continuous_monitor`: append `[time] Goroutines: N, Memory: MMB` lines here.
    pub continuous_log: Option<PathBuf>,
    #[serde(with = "human_duration")]
    pub continuous_log_interval: Duration,
    /// Samples are written in one transaction per batch of this many, or per flush interval.
    pub batch_size: usize,
    #[serde(with = "human_duration")]
    pub flush_interval: Duration,
    /// The Docker (or Podman) API socket for container targets, `unix:///path/docker.sock`;
    /// `None`: `$DOCKER_HOST`, else `unix:///var/run/docker.sock`.
    pub docker_host: Option<String>,
    /// `shard = "K/N"`: watch only the K-th of N shares of the targets (see [`Shard`]).
    pub shard: Option<Shard>,
    /// Raw samples older than this are deleted while the agent runs (the 10-minute rollups
    /// keep their aggregates).
    #[serde(with = "human_duration")]
    pub raw_retention: Duration,
    /// Rollups older than this are deleted too.
    #[serde(with = "human_duration")]
    pub retention: Duration,
    /// Keep each target's connection open between probes (`false`: close it once the answer
    /// is read, so memory and open files do not grow with the number of hosts).
    pub keep_alive: bool,
}

/// `[agent] raw_retention` by default: 15 days of raw samples.
pub const DEFAULT_RAW_RETENTION: Duration = Duration::from_secs(15 * 86_400);
/// `[agent] retention` by default: 400 days of rollups.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(400 * 86_400);
/// Neither may be shorter: the rules look back 30 minutes and reports an hour.
pub const MIN_RETENTION: Duration = Duration::from_secs(3_600);

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            database: PathBuf::from("leakhound.db"),
            log_interval: Duration::from_secs(30),
            continuous_log: None,
            continuous_log_interval: Duration::from_secs(60),
            batch_size: 500,
            flush_interval: Duration::from_secs(1),
            docker_host: None,
            shard: None,
            raw_retention: DEFAULT_RAW_RETENTION,
            retention: DEFAULT_RETENTION,
            keep_alive: false,
        }
    }
}

/// The guide's thresholds; every one configurable.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Levels {
    pub goroutines: GoroutineLadder,
    pub memory: MemoryLadder,
    pub log: LogThresholds,
    pub alert: AlertLevels,
}

/// A whole, validated configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    pub agent: AgentConfig,
    pub defaults: Defaults,
    pub levels: Levels,
    pub targets: Vec<TargetConfig>,
    /// Service discovery (`[[discovery]]`): blocks that find more targets while the agent runs.
    pub discovery: Vec<DiscoveryConfig>,
    /// Alert rules (`[alerts]`); the built-in set, with `levels`' thresholds, when absent.
    pub alerts: AlertsConfig,
    /// Notification channels (`[[notifiers]]`).
    pub notifiers: Vec<NotifierConfig>,
    /// The agent's HTTP server (`[web]`).
    pub web: WebConfig,
    /// Thresholds of `leakhound verify` (`[verify]`, GUIDE §10).
    pub verify: VerifyConfig,
    /// Evidence capture (`[evidence]`), remediation (`[[actions]]`) and its kill switch.
    pub actions: ActionsConfig,
    /// Where samples are shipped with Prometheus remote write (`[remote_write]`), if anywhere.
    pub remote_write: Option<RemoteWriteConfig>,
}

mod human_duration {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::units::human_duration(*d))
    }
}

/// The container named by a command-line spec `container:NAME`, if it is one.
pub fn parse_container_spec(spec: &str) -> Option<Result<String, String>> {
    let name = spec.strip_prefix("container:")?;
    Some(if name.is_empty() {
        Err(format!(
            "'{spec}' names no container; write e.g. 'container:one-api'"
        ))
    } else {
        Ok(name.to_string())
    })
}

/// Check a Docker host URL: a unix socket, `unix:///path/docker.sock`.
pub fn check_docker_host(host: &str) -> Result<(), String> {
    match host.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(()),
        _ => Err(format!(
            "'{host}' is not a unix socket URL; write e.g. \"unix:///var/run/docker.sock\" (Podman: \"unix:///run/podman/podman.sock\")"
        )),
    }
}

/// A target named on the command line: a URL, `pid:1234` or `process:NAME`.
pub fn parse_target_spec(spec: &str) -> Result<(Option<Url>, Option<ProcessSelector>), String> {
    if let Some(pid) = spec.strip_prefix("pid:") {
        return pid
            .parse::<u32>()
            .map(|p| (None, Some(ProcessSelector::Pid(p))))
            .map_err(|_| format!("'{spec}' has a bad PID; write e.g. 'pid:1234'"));
    }
    if let Some(name) = spec.strip_prefix("process:") {
        if name.is_empty() {
            return Err(format!(
                "'{spec}' names no process; write e.g. 'process:one-api'"
            ));
        }
        return Ok((None, Some(ProcessSelector::Name(name.to_string()))));
    }
    parse_url(spec).map(|u| (Some(u), None))
}

/// Parse a target URL; `host:port` without a scheme means `http://host:port`.
pub fn parse_url(text: &str) -> Result<Url, String> {
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|e| format!("'{text}' is not a URL ({e}); write e.g. 'http://127.0.0.1:3000'"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(format!("'{text}' has no host; write e.g. 'http://127.0.0.1:3000'")),
        other => Err(format!(
            "'{text}' uses '{other}', but only http and https are supported; write e.g. 'http://127.0.0.1:3000'"
        )),
    }
}

/// The longest target name, in characters.
pub const MAX_TARGET_NAME: usize = 128;

/// Whether `name` can name a target. Names go into URL paths (`/api/targets/NAME`, the
/// dashboard's `/targets/NAME`), log lines, file names below the evidence root and chat
/// messages, so they are kept to letters and digits (any script), spaces inside, and
/// `- _ . : @ # + ( ) [ ]` — enough for `host:port`, `[::1]:3000`, `name#2` and
/// `one-api (simulated)`. Not allowed: `.` and `..`, `/`, `\`, `%`, `?`, quotes, control
/// characters (newlines), leading or trailing spaces, more than [`MAX_TARGET_NAME`] characters.
/// The error quotes the value (escaped) and says what to write instead.
/// Check a label name as Prometheus allows it (`[a-zA-Z_][a-zA-Z0-9_]*`), not `__`-led (those
/// are Prometheus' own).
pub fn check_label_name(name: &str) -> Result<(), String> {
    if remote_write::is_label_name(name) && !name.starts_with("__") {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a label name; use letters, digits and '_', not starting \
             with a digit or '__' (e.g. env, region)",
            name.escape_debug()
        ))
    }
}

pub fn check_target_name(name: &str) -> Result<(), String> {
    let shown = name.escape_debug().to_string();
    let fix = "use letters, digits, spaces and - _ . : @ # + ( ) [ ], e.g. 'one-api'";
    if name.is_empty() {
        return Err(format!("'' is not a target name; {fix}"));
    }
    if name == "." || name == ".." {
        return Err(format!(
            "'{shown}' is not a target name (it means a directory in URLs and paths); {fix}"
        ));
    }
    let chars = name.chars().count();
    if chars > MAX_TARGET_NAME {
        return Err(format!(
            "'{}…' is {chars} characters long; a target name has at most {MAX_TARGET_NAME}",
            name.chars().take(32).collect::<String>().escape_debug()
        ));
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return Err(format!(
            "'{shown}' starts or ends with a space; write '{}'",
            name.trim_matches(' ').escape_debug()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_alphanumeric() || c == ' ' || "-_.:@#+()[]".contains(c)))
    {
        let what = match bad {
            '/' => "'/' (it would split the name in URLs and paths)".to_string(),
            c if c.is_control() => format!("a control character ('{}')", c.escape_debug()),
            c => format!("'{}'", c.escape_debug()),
        };
        return Err(format!(
            "'{shown}' contains {what}, which a target name cannot; {fix}"
        ));
    }
    Ok(())
}

/// A short default name for a target: `host:port` of the URL, or the process selector.
pub fn default_target_name(url: Option<&Url>, process: Option<&ProcessSelector>) -> String {
    match (url, process) {
        (Some(u), _) => match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => u.to_string(),
        },
        (None, Some(ProcessSelector::Pid(p))) => format!("pid:{p}"),
        (None, Some(ProcessSelector::Name(n))) => n.clone(),
        (None, None) => "target".to_string(),
    }
}

impl TargetConfig {
    /// A target with the defaults, from a URL and/or a process.
    pub fn new(
        name: String,
        url: Option<Url>,
        process: Option<ProcessSelector>,
        defaults: &Defaults,
    ) -> TargetConfig {
        let source = url
            .as_ref()
            .and_then(|u| SourceKind::from_path(u.path()))
            .unwrap_or(SourceKind::Auto);
        TargetConfig {
            name,
            url,
            source,
            process,
            container: None,
            interval: defaults.interval,
            timeout: defaults.timeout,
            jitter: defaults.jitter,
            max_body_bytes: defaults.max_body_bytes,
            auth: None,
            headers: Vec::new(),
            fields: FieldMap::default(),
            expvar_goroutines: "goroutines".into(),
            labels: Default::default(),
        }
    }
}

impl Config {
    /// The guide's defaults plus one target per command-line spec (URL, `pid:N`, `process:NAME`,
    /// `container:NAME`).
    pub fn for_urls(specs: &[String]) -> Result<Config, String> {
        let mut config = Config::default();
        for spec in specs {
            if let Some(container) = parse_container_spec(spec) {
                let container = container?;
                let mut name = container.clone();
                if config.targets.iter().any(|t| t.name == name) {
                    name = format!("{name}#{}", config.targets.len() + 1);
                }
                let mut target = TargetConfig::new(name, None, None, &config.defaults);
                target.container = Some(ContainerSource {
                    name: container,
                    docker_host: None,
                });
                config.targets.push(target);
                continue;
            }
            let (url, process) = parse_target_spec(spec)?;
            let mut name = default_target_name(url.as_ref(), process.as_ref());
            if config.targets.iter().any(|t| t.name == name) {
                name = format!("{name}#{}", config.targets.len() + 1);
            }
            config
                .targets
                .push(TargetConfig::new(name, url, process, &config.defaults));
        }
        Ok(config)
    }

    /// Parse and validate a config file's text. `env` looks up `${VAR}`s.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
        let doc = match toml::de::DeTable::parse(text) {
            Ok(doc) => doc,
            Err(e) => {
                let offset = e.span().map_or(0, |s| s.start);
                let (line, column) = Lines::new(text).position(offset);
                return Err(ConfigErrors(vec![ConfigError {
                    line,
                    column,
                    path: "(syntax)".into(),
                    message: format!("this is not valid TOML: {}", e.message()),
                }]));
            }
        };
        let mut ctx = Ctx {
            lines: Lines::new(text),
            errors: Vec::new(),
            env,
        };
        let config = read_config(&mut ctx, doc.get_ref());
        if ctx.errors.is_empty() {
            Ok(config)
        } else {
            ctx.errors.sort_by_key(|e| (e.line, e.column));
            Err(ConfigErrors(ctx.errors))
        }
    }
}

/// Read every section; sections that name others (`[[actions]]` names targets and rules) come
/// after them.
fn read_config(ctx: &mut Ctx<'_>, doc: &toml::de::DeTable<'_>) -> Config {
    let mut root = Table::new(doc, "");
    let mut config = Config::default();
    let mut actions_enabled = None;
    if let Some(mut t) = root.table(ctx, "agent") {
        actions_enabled = sections::read_agent(ctx, &mut t, &mut config.agent);
        t.finish(ctx);
    }
    if let Some(mut t) = root.table(ctx, "defaults") {
        sections::read_defaults(ctx, &mut t, &mut config.defaults);
        t.finish(ctx);
    }
    if let Some(mut t) = root.table(ctx, "levels") {
        sections::read_levels(ctx, &mut t, &mut config.levels);
        t.finish(ctx);
    }
    config.alerts = alerts::read_alerts(ctx, &mut root, &config.levels);
    config.notifiers = notifiers::read_notifiers(ctx, &mut root);
    config.web = web::read_web(ctx, &mut root);
    config.verify = verify::read_verify(ctx, &mut root);
    config.remote_write = remote_write::read_remote_write(ctx, &mut root);
    config.targets = targets::read_targets(
        ctx,
        &mut root,
        &config.defaults,
        config.agent.docker_host.as_ref(),
    );
    config.discovery = discovery::read_discovery(
        ctx,
        &mut root,
        &config.defaults,
        config.agent.docker_host.as_ref(),
    );
    config.actions = actions::read_actions(
        ctx,
        &mut root,
        &config.targets,
        &config.alerts,
        actions_enabled,
    );
    root.finish(ctx);
    config
}

#[cfg(test)]
mod tests;
