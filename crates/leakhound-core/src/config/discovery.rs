//! `[[discovery]]`: Prometheus-style service discovery. Each block names where targets come
//! from (`file`: Prometheus file_sd JSON/YAML files, `http`: a Prometheus http_sd endpoint,
//! `docker`: labelled containers) and a template every discovered target starts from.
//!
//! ```toml
//! [[discovery]]
//! type = "file"
//! files = ["targets/*.json", "more.yaml"]
//! refresh_interval = "5s"
//! labels = { env = "prod" }
//!
//! [[discovery]]
//! type = "http"
//! url = "http://127.0.0.1:8080/sd"
//! bearer_token = "${SD_TOKEN}"
//!
//! [[discovery]]
//! type = "docker"
//! label = "leakhound.enable=true"
//! ```
//!
//! The bodies are turned into targets by [`crate::discovery`] (pure, no IO); the agent's
//! `discovery` module does the reading, polling and following.

use super::sections::read_probe_settings;
use super::targets::{read_auth, read_labels};
use super::walk::{Ctx, Table};
use super::{check_docker_host, check_target_name, parse_url, Auth, Defaults, SourceKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// The label filter of a docker block when it names none.
pub const DEFAULT_DOCKER_LABEL: &str = "leakhound.enable=true";
/// How often files are checked for a change when a file block names no `refresh_interval`.
pub const DEFAULT_FILE_REFRESH: Duration = Duration::from_secs(5);
/// How often an http_sd endpoint is asked when an http block names no `refresh_interval`.
pub const DEFAULT_HTTP_REFRESH: Duration = Duration::from_secs(60);
/// How often a docker block re-lists the containers besides following the daemon's events.
pub const DEFAULT_DOCKER_REFRESH: Duration = Duration::from_secs(60);

/// One validated `[[discovery]]` block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiscoveryConfig {
    /// Unique among the blocks; `"<type>-<index from 1>"` when not given.
    pub name: String,
    pub kind: DiscoveryKind,
    /// How often the source is read again (file: stat'ed; http: asked; docker: re-listed, on
    /// top of following its events).
    #[serde(with = "super::human_duration")]
    pub refresh_interval: Duration,
    /// What every discovered target starts from.
    pub template: TargetTemplate,
}

/// Where a block's targets come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum DiscoveryKind {
    /// Prometheus file_sd files (`.json`, `.yml`, `.yaml`); a `*` may stand in the last path
    /// element. Relative paths are relative to the agent's working directory.
    File { files: Vec<PathBuf> },
    /// A Prometheus http_sd endpoint: a GET answers the file_sd JSON list.
    Http {
        url: Url,
        #[serde(skip)]
        auth: Option<Auth>,
    },
    /// Running containers that carry `label` (`key` or `key=value`), through the Docker
    /// Engine API.
    Docker {
        /// The block's `host`, else `[agent] docker_host`; `None`: `$DOCKER_HOST`, else
        /// `unix:///var/run/docker.sock` (resolved by the agent).
        host: Option<String>,
        label: String,
    },
}

impl DiscoveryKind {
    /// The `type` written in the config: `file`, `http` or `docker`.
    pub fn type_name(&self) -> &'static str {
        match self {
            DiscoveryKind::File { .. } => "file",
            DiscoveryKind::Http { .. } => "http",
            DiscoveryKind::Docker { .. } => "docker",
        }
    }
}

/// The part of a discovered target the block decides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetTemplate {
    /// The URL path probed (`__metrics_path__` / `leakhound.path` override it).
    pub path: String,
    /// `http` or `https` (`__scheme__` / `leakhound.scheme` override it).
    pub scheme: String,
    /// `None`: from the path, as for a `[[targets]]` URL (`/metrics` is read as Prometheus text).
    pub source: Option<SourceKind>,
    #[serde(with = "super::human_duration")]
    pub interval: Duration,
    #[serde(with = "super::human_duration")]
    pub timeout: Duration,
    #[serde(with = "super::human_duration")]
    pub jitter: Duration,
    pub max_body_bytes: u64,
    /// Added to every target's labels (the discovered labels win).
    pub labels: BTreeMap<String, String>,
}

impl TargetTemplate {
    /// The template with `[defaults]` and no block keys.
    pub fn new(defaults: &Defaults) -> TargetTemplate {
        TargetTemplate {
            path: "/metrics".into(),
            scheme: "http".into(),
            source: None,
            interval: defaults.interval,
            timeout: defaults.timeout,
            jitter: defaults.jitter,
            max_body_bytes: defaults.max_body_bytes,
            labels: BTreeMap::new(),
        }
    }
}

const TYPES: [&str; 3] = ["file", "http", "docker"];

/// Read every `[[discovery]]` block; `docker_host` is `[agent] docker_host`.
pub(super) fn read_discovery(
    ctx: &mut Ctx<'_>,
    root: &mut Table<'_, '_>,
    defaults: &Defaults,
    docker_host: Option<&String>,
) -> Vec<DiscoveryConfig> {
    let mut blocks: Vec<DiscoveryConfig> = Vec::new();
    for (i, (t, item)) in root.tables(ctx, "discovery").into_iter().enumerate() {
        let block = Block {
            index: i + 1,
            offset: item.span().start,
            defaults,
            docker_host,
        };
        if let Some(b) = block.read(ctx, t, &blocks) {
            blocks.push(b);
        }
    }
    blocks
}

/// Where one block is and what it inherits.
struct Block<'a> {
    /// The block's position among the `[[discovery]]` blocks, from 1.
    index: usize,
    /// Where the block starts, for errors about keys it lacks.
    offset: usize,
    defaults: &'a Defaults,
    docker_host: Option<&'a String>,
}

impl Block<'_> {
    /// Read the block; `None` when it has a mistake. Unknown keys are reported unless its
    /// `type` is missing or wrong (which keys belong is then unknown).
    fn read(
        &self,
        ctx: &mut Ctx<'_>,
        mut t: Table<'_, '_>,
        before: &[DiscoveryConfig],
    ) -> Option<DiscoveryConfig> {
        let allowed = format!("one of {}", TYPES.map(|s| format!("\"{s}\"")).join(", "));
        t.require(
            ctx,
            "type",
            self.offset,
            format!("a [[discovery]] block needs a 'type': {allowed}"),
        );
        let kind_name = t.one_of(ctx, "type", "a discovery type", &allowed, |s| {
            TYPES.into_iter().find(|k| *k == s)
        })?;
        let name = t
            .string(ctx, "name")
            .unwrap_or_else(|| format!("{kind_name}-{}", self.index));
        let name_at = t.offset_or("name", self.offset);
        if let Err(why) = check_target_name(&name) {
            let why = why.replace("a target name", "a discovery name");
            ctx.error(name_at, &t.path_of("name"), why);
        } else if before.iter().any(|b| b.name == name) {
            ctx.error(
                name_at,
                &t.path_of("name"),
                format!(
                    "'{name}' is already the name of another [[discovery]] block; names must be unique"
                ),
            );
        }
        let (kind, default_refresh) = match kind_name {
            "file" => (read_file(ctx, &mut t, self.offset), DEFAULT_FILE_REFRESH),
            "http" => (read_http(ctx, &mut t, self.offset), DEFAULT_HTTP_REFRESH),
            _ => (
                Some(read_docker(ctx, &mut t, self.docker_host)),
                DEFAULT_DOCKER_REFRESH,
            ),
        };
        let mut refresh_interval = default_refresh;
        t.set_duration(ctx, "refresh_interval", &mut refresh_interval);
        let template = read_template(ctx, &mut t, self.defaults);
        t.finish(ctx);
        Some(DiscoveryConfig {
            name,
            kind: kind?,
            refresh_interval,
            template,
        })
    }
}

/// `files = ["targets/*.json", …]`: required, each `.json`/`.yml`/`.yaml`, `*` in the last
/// path element only.
fn read_file(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, offset: usize) -> Option<DiscoveryKind> {
    t.require(
        ctx,
        "files",
        offset,
        "a file discovery needs 'files', e.g. files = [\"targets/*.json\"]".into(),
    );
    let items = t.array(ctx, "files")?;
    if items.is_empty() {
        t.error_at(
            ctx,
            "files",
            "'[]' names no file; write e.g. files = [\"targets/*.json\"]".into(),
        );
        return None;
    }
    let mut files = Vec::new();
    let mut ok = true;
    for item in items {
        let problem = match item.get_ref().as_str() {
            None => Some(format!(
                "'{}' is a {}, expected a path in quotes, e.g. \"targets/*.json\"",
                super::walk::show(item.get_ref()),
                item.get_ref().type_str()
            )),
            Some(path) => check_sd_path(path).err(),
        };
        match problem {
            Some(why) => {
                ctx.error(item.span().start, &t.path_of("files"), why);
                ok = false;
            }
            None => files.push(PathBuf::from(item.get_ref().as_str().unwrap_or_default())),
        }
    }
    ok.then_some(DiscoveryKind::File { files })
}

/// Whether `path` can be a file_sd path (or pattern).
pub fn check_sd_path(path: &str) -> Result<(), String> {
    let shown = path.escape_debug();
    if path.trim().is_empty() {
        return Err("'' names no file; write e.g. \"targets/*.json\"".into());
    }
    let (dir, last) = match path.rsplit_once('/') {
        Some((dir, last)) => (dir, last),
        None => ("", path),
    };
    if dir.contains('*') {
        return Err(format!(
            "'{shown}' has a '*' in a directory; only the file name may have one, e.g. \"targets/*.json\""
        ));
    }
    if crate::discovery::SdFormat::from_name(last).is_none() {
        return Err(format!(
            "'{shown}' does not end in .json, .yml or .yaml, which say the file's format; \
             rename the file or the pattern, e.g. \"targets/*.json\""
        ));
    }
    Ok(())
}

/// `url` (required) and the auth sent to it.
fn read_http(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, offset: usize) -> Option<DiscoveryKind> {
    t.require(
        ctx,
        "url",
        offset,
        "an http discovery needs a 'url', e.g. \"http://127.0.0.1:8080/sd\"".into(),
    );
    let url = t.parsed(ctx, "url", |text| {
        parse_url(text).map_err(|msg| {
            msg.replace(
                "e.g. 'http://127.0.0.1:3000'",
                "e.g. 'http://127.0.0.1:8080/sd'",
            )
        })
    });
    let auth = read_auth(ctx, t);
    url.map(|url| DiscoveryKind::Http { url, auth })
}

/// `host` (else `[agent] docker_host`) and the `label` filter.
fn read_docker(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    docker_host: Option<&String>,
) -> DiscoveryKind {
    let host = match t.string(ctx, "host") {
        Some(h) => {
            if let Err(msg) = check_docker_host(&h) {
                t.error_at(ctx, "host", msg);
            }
            Some(h)
        }
        None => docker_host.cloned(),
    };
    let label = match t.string(ctx, "label") {
        Some(l) if l.split('=').next().is_none_or(|k| k.trim().is_empty()) => {
            t.error_at(
                ctx,
                "label",
                format!(
                    "'{}' names no label; write \"key\" or \"key=value\", e.g. \"{DEFAULT_DOCKER_LABEL}\"",
                    l.escape_debug()
                ),
            );
            DEFAULT_DOCKER_LABEL.to_string()
        }
        Some(l) => l,
        None => DEFAULT_DOCKER_LABEL.to_string(),
    };
    DiscoveryKind::Docker { host, label }
}

/// `path`, `scheme`, `source`, the probe settings and `labels`.
fn read_template(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, defaults: &Defaults) -> TargetTemplate {
    let mut template = TargetTemplate::new(defaults);
    read_probe_settings(
        ctx,
        t,
        &mut template.interval,
        &mut template.timeout,
        &mut template.jitter,
        &mut template.max_body_bytes,
    );
    if let Some(path) = t.parsed(ctx, "path", check_metrics_path) {
        template.path = path;
    }
    if let Some(scheme) = t.parsed(ctx, "scheme", check_scheme) {
        template.scheme = scheme;
    }
    let allowed = format!(
        "one of {}",
        SourceKind::ALL.map(SourceKind::name).join(", ")
    );
    template.source = t.one_of(ctx, "source", "a source", &allowed, SourceKind::parse);
    if let Some(labels) = t.table(ctx, "labels") {
        template.labels = read_labels(ctx, &labels);
    }
    template
}

/// A URL path for discovered targets: starts with `/`.
pub fn check_metrics_path(path: &str) -> Result<String, String> {
    if path.starts_with('/') && !path.chars().any(char::is_control) {
        Ok(path.to_string())
    } else {
        Err(format!(
            "'{}' is not a URL path; write it from the root, e.g. \"/metrics\"",
            path.escape_debug()
        ))
    }
}

/// `http` or `https`.
pub fn check_scheme(scheme: &str) -> Result<String, String> {
    match scheme {
        "http" | "https" => Ok(scheme.to_string()),
        other => Err(format!(
            "'{}' is not a scheme leakhound probes; use \"http\" or \"https\"",
            other.escape_debug()
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Auth, Config, ConfigError, ConfigErrors, DiscoveryKind, SourceKind};
    use std::path::PathBuf;
    use std::time::Duration;

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(text, &|name| {
            (name == "TOKEN").then(|| "s3cret".to_string())
        })
    }

    fn errors(text: &str) -> Vec<ConfigError> {
        parse(text).unwrap_err().0
    }

    fn error_at<'e>(errs: &'e [ConfigError], path: &str) -> &'e ConfigError {
        errs.iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no error for {path}: {errs:#?}"))
    }

    #[test]
    fn absent_means_none() {
        assert!(parse("").unwrap().discovery.is_empty());
    }

    #[test]
    fn the_three_kinds_with_their_defaults() {
        let c = parse(
            "[agent]\ndocker_host = \"unix:///run/d.sock\"\n[defaults]\ninterval = \"10s\"\n\
             [[discovery]]\ntype = \"file\"\nfiles = [\"targets/*.json\", \"more.yaml\"]\n\
             [[discovery]]\ntype = \"http\"\nurl = \"http://127.0.0.1:8080/sd\"\nbearer_token = \"${TOKEN}\"\n\
             [[discovery]]\ntype = \"docker\"\n",
        )
        .unwrap();
        let [file, http, docker] = &c.discovery[..] else {
            panic!("{:#?}", c.discovery)
        };
        assert_eq!(file.name, "file-1");
        assert_eq!(
            file.kind,
            DiscoveryKind::File {
                files: vec![PathBuf::from("targets/*.json"), PathBuf::from("more.yaml")]
            }
        );
        assert_eq!(file.refresh_interval, Duration::from_secs(5));
        assert_eq!(file.template.path, "/metrics");
        assert_eq!(file.template.scheme, "http");
        assert_eq!(file.template.source, None);
        assert_eq!(file.template.interval, Duration::from_secs(10));
        assert_eq!(http.name, "http-2");
        assert_eq!(http.refresh_interval, Duration::from_secs(60));
        let DiscoveryKind::Http { url, auth } = &http.kind else {
            panic!("{http:?}")
        };
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/sd");
        assert_eq!(
            auth,
            &Some(Auth::Bearer {
                token: "s3cret".into()
            })
        );
        assert!(!format!("{http:?}").contains("s3cret"));
        assert_eq!(docker.name, "docker-3");
        assert_eq!(
            docker.kind,
            DiscoveryKind::Docker {
                host: Some("unix:///run/d.sock".into()),
                label: "leakhound.enable=true".into()
            }
        );
    }

    #[test]
    fn the_template_keys() {
        let c = parse(
            "[[discovery]]\ntype = \"docker\"\nname = \"web\"\nhost = \"unix:///x.sock\"\nlabel = \"team=a\"\n\
             path = \"/debug/vars\"\nscheme = \"https\"\nsource = \"expvar\"\ninterval = \"20s\"\ntimeout = \"2s\"\n\
             jitter = \"0s\"\nmax_body = \"1MB\"\nrefresh_interval = \"30s\"\nlabels = { env = \"prod\" }\n",
        )
        .unwrap();
        let d = &c.discovery[0];
        assert_eq!(d.name, "web");
        assert_eq!(
            d.kind,
            DiscoveryKind::Docker {
                host: Some("unix:///x.sock".into()),
                label: "team=a".into()
            }
        );
        assert_eq!(d.refresh_interval, Duration::from_secs(30));
        let t = &d.template;
        assert_eq!(
            (t.path.as_str(), t.scheme.as_str()),
            ("/debug/vars", "https")
        );
        assert_eq!(t.source, Some(SourceKind::Expvar));
        assert_eq!(
            (t.interval, t.timeout, t.jitter),
            (
                Duration::from_secs(20),
                Duration::from_secs(2),
                Duration::ZERO
            )
        );
        assert_eq!(t.max_body_bytes, 1 << 20);
        assert_eq!(t.labels["env"], "prod");
    }

    #[test]
    fn every_mistake_is_reported_with_its_line_and_fix() {
        let text = "\
[[discovery]]
type = \"consul\"
server = \"x\"

[[discovery]]
type = \"file\"
files = [\"a/*/b.json\", \"c.txt\", 3]
refresh_interval = \"soon\"
labels = { __x = \"1\" }

[[discovery]]
type = \"http\"
url = \"ftp://h/sd\"
password = \"p\"
scheme = \"gopher\"

[[discovery]]
type = \"docker\"
host = \"tcp://h:2375\"
label = \"=x\"
path = \"metrics\"
sourc = \"auto\"

[[discovery]]
type = \"file\"
name = \"docker-4\"

[[discovery]]
url = \"http://h\"
";
        let errs = errors(text);
        let e = error_at(&errs, "discovery[0].type");
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("'consul'") && e.message.contains("\"file\", \"http\", \"docker\""),
            "{e}"
        );
        // An unknown type reports no unknown keys: which belong is unknown.
        assert!(
            !errs.iter().any(|e| e.path == "discovery[0].server"),
            "{errs:#?}"
        );
        let files: Vec<&ConfigError> = errs
            .iter()
            .filter(|e| e.path == "discovery[1].files")
            .collect();
        assert_eq!(files.len(), 3, "{files:#?}");
        assert!(files.iter().all(|e| e.line == 7));
        assert!(
            files[0].message.contains("'a/*/b.json'") && files[0].message.contains("directory")
        );
        assert!(files[1].message.contains("'c.txt'") && files[1].message.contains(".yaml"));
        assert!(files[2].message.contains("'3'"));
        let e = error_at(&errs, "discovery[1].refresh_interval");
        assert_eq!(e.line, 8);
        assert!(e.message.contains("'soon'"), "{e}");
        let e = error_at(&errs, "discovery[1].labels.__x");
        assert_eq!(e.line, 9);
        let e = error_at(&errs, "discovery[2].url");
        assert_eq!(e.line, 13);
        assert!(
            e.message.contains("'ftp'") && e.message.contains("http://127.0.0.1:8080/sd"),
            "{e}"
        );
        assert!(error_at(&errs, "discovery[2].password")
            .message
            .contains("username"));
        let e = error_at(&errs, "discovery[2].scheme");
        assert!(
            e.message.contains("'gopher'") && e.message.contains("\"https\""),
            "{e}"
        );
        let e = error_at(&errs, "discovery[3].host");
        assert_eq!(e.line, 19);
        assert!(e.message.contains("unix:///var/run/docker.sock"), "{e}");
        let e = error_at(&errs, "discovery[3].label");
        assert!(
            e.message.contains("'=x'") && e.message.contains("key=value"),
            "{e}"
        );
        let e = error_at(&errs, "discovery[3].path");
        assert!(
            e.message.contains("'metrics'") && e.message.contains("\"/metrics\""),
            "{e}"
        );
        let e = error_at(&errs, "discovery[3].sourc");
        assert!(e.message.contains("did you mean 'source'"), "{e}");
        // The fifth block lacks 'files' and takes the fourth's default name.
        let e = error_at(&errs, "discovery[4].files");
        assert_eq!(e.line, 24);
        assert!(e.message.contains("files = [\"targets/*.json\"]"), "{e}");
        let e = error_at(&errs, "discovery[4].name");
        assert_eq!(e.line, 26);
        assert!(
            e.message.contains("'docker-4'") && e.message.contains("unique"),
            "{e}"
        );
        let e = error_at(&errs, "discovery[5].type");
        assert_eq!(e.line, 28);
        assert!(e.message.contains("needs a 'type'"), "{e}");
        assert_eq!(errs.len(), 16, "{errs:#?}");
    }

    #[test]
    fn the_docs_examples_parse() {
        let docs = include_str!("../../../../docs/config.md");
        let start = docs.find("## `[[discovery]]`").unwrap();
        let end = start + docs[start..].find("\n## Command-line targets").unwrap();
        let mut blocks = 0;
        for chunk in docs[start..end].split("```toml\n").skip(1) {
            let toml = &chunk[..chunk.find("```").unwrap()];
            let c = Config::parse(toml, &|_| Some("set".into()))
                .unwrap_or_else(|e| panic!("{e}\n{toml}"));
            blocks += c.discovery.len();
        }
        assert_eq!(blocks, 3);
    }
}
