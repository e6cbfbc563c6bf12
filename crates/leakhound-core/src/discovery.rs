//! What `[[discovery]]` sources say, turned into targets: Prometheus file_sd / http_sd bodies
//! (a JSON or YAML list of target groups) and labelled containers. Pure: the agent reads the
//! files, asks the endpoints and lists the containers, then calls these.
//!
//! The bodies are untrusted: the agent reads at most [`MAX_SD_BODY_BYTES`], at most
//! [`MAX_DISCOVERED_TARGETS`] targets are kept per block, a bad group or address is skipped with
//! a warning (quoting it escaped and capped) and never costs the good ones.
//!
//! ```
//! use leakhound_core::config::{Defaults, TargetTemplate};
//! use leakhound_core::discovery::{parse_target_groups, SdFormat};
//!
//! let body = br#"[{"targets": ["10.0.0.1:9090"], "labels": {"env": "prod", "__metrics_path__": "/debug/vars"}}]"#;
//! let template = TargetTemplate::new(&Defaults::default());
//! let found = parse_target_groups(body, SdFormat::Json, "targets.json", &template).unwrap();
//! assert_eq!(found.targets[0].name, "10.0.0.1:9090");
//! assert_eq!(found.targets[0].url.as_ref().unwrap().as_str(), "http://10.0.0.1:9090/debug/vars");
//! assert_eq!(found.targets[0].labels["env"], "prod");
//! assert!(found.warnings.is_empty());
//! ```

use crate::config::{
    check_label_name, check_metrics_path as check_path, check_scheme, check_target_name,
    ContainerSource, Defaults, TargetConfig, TargetTemplate,
};
use crate::text::target_text;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use url::Url;

/// The most bytes of one file or http_sd answer that are read.
pub const MAX_SD_BODY_BYTES: u64 = 16 << 20;
/// The most targets one block keeps; the rest are cut with a warning.
pub const MAX_DISCOVERED_TARGETS: usize = 100_000;
/// The most warnings listed for one read; the rest are counted in a last one.
pub const MAX_WARNINGS: usize = 20;

/// Group labels that steer a target instead of labelling it.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCHEME_LABEL: &str = "__scheme__";
pub const NAME_LABEL: &str = "__leakhound_name__";

/// Container labels a docker block reads.
pub const PORT_LABEL: &str = "leakhound.port";
pub const PATH_LABEL: &str = "leakhound.path";
pub const SCHEME_CONTAINER_LABEL: &str = "leakhound.scheme";
pub const NAME_CONTAINER_LABEL: &str = "leakhound.name";
pub const HOST_LABEL: &str = "leakhound.host";

/// The format of a file_sd file, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdFormat {
    Json,
    Yaml,
}

impl SdFormat {
    /// `.json` → JSON, `.yml`/`.yaml` → YAML (a `*` pattern's extension counts too).
    pub fn from_name(name: &str) -> Option<SdFormat> {
        let (_, ext) = name.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "json" => Some(SdFormat::Json),
            "yml" | "yaml" => Some(SdFormat::Yaml),
            _ => None,
        }
    }
}

/// Targets found by one read, and what was wrong with the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub targets: Vec<TargetConfig>,
    /// One line each, naming the source, the entry and the fix; at most [`MAX_WARNINGS`] + 1.
    pub warnings: Vec<String>,
}

/// Collects a block's targets: the first of two with one name is kept, at most
/// [`MAX_DISCOVERED_TARGETS`], warnings capped at [`MAX_WARNINGS`].
#[derive(Debug, Default)]
pub struct TargetSet {
    found: Found,
    names: HashSet<String>,
    more_warnings: usize,
    cut: usize,
}

impl TargetSet {
    pub fn new() -> TargetSet {
        TargetSet::default()
    }

    /// Add `target`, found in `origin` (a file, a redacted URL, a container).
    pub fn add(&mut self, target: TargetConfig, origin: &str) {
        if self.names.contains(&target.name) {
            let name = target_text(&target.name);
            self.warn(format!(
                "{origin}: a second target named '{name}' is ignored; names must be unique \
                 (set {NAME_LABEL} / {NAME_CONTAINER_LABEL} to tell them apart)"
            ));
            return;
        }
        if self.found.targets.len() >= MAX_DISCOVERED_TARGETS {
            self.cut += 1;
            return;
        }
        self.names.insert(target.name.clone());
        self.found.targets.push(target);
    }

    /// Add every target of another read (e.g. one file of several).
    pub fn extend(&mut self, targets: &[TargetConfig], origin: &str) {
        for t in targets {
            self.add(t.clone(), origin);
        }
    }

    pub fn warn(&mut self, warning: String) {
        if self.found.warnings.len() < MAX_WARNINGS {
            self.found.warnings.push(warning);
        } else {
            self.more_warnings += 1;
        }
    }

    /// The targets, sorted by name, and the warnings (with the counts of what was cut).
    pub fn finish(mut self) -> Found {
        if self.cut > 0 {
            self.found.warnings.push(format!(
                "{} more targets were cut: a block keeps at most {MAX_DISCOVERED_TARGETS}; split the source",
                self.cut
            ));
        }
        if self.more_warnings > 0 {
            self.found.warnings.push(format!(
                "… and {} more warnings like these",
                self.more_warnings
            ));
        }
        self.found.targets.sort_by(|a, b| a.name.cmp(&b.name));
        // Kept for as long as the source does not change: without the doubling's slack (a
        // target's config is ~1 KB, so 10 000 of them would hold 6 MB of nothing).
        self.found.targets.shrink_to_fit();
        self.found
    }
}

/// A file_sd / http_sd body — a list of `{"targets": [...], "labels": {...}}` groups — as
/// targets. `origin` names the source in warnings (a path, a redacted URL). `Err` when the body
/// as a whole is unreadable (not JSON/YAML, not a list): the caller keeps what it had.
pub fn parse_target_groups(
    body: &[u8],
    format: SdFormat,
    origin: &str,
    template: &TargetTemplate,
) -> Result<Found, String> {
    if body.len() as u64 > MAX_SD_BODY_BYTES {
        return Err(format!(
            "{origin}: {} bytes is more than the {} a discovery source may have; split it",
            body.len(),
            crate::units::human_bytes(MAX_SD_BODY_BYTES)
        ));
    }
    let value: Value = match format {
        SdFormat::Json => serde_json::from_slice(body)
            .map_err(|e| format!("{origin}: not a JSON list of target groups ({e})"))?,
        SdFormat::Yaml => serde_yaml_ng::from_slice(body).map_err(|e| {
            format!(
                "{origin}: not a YAML list of target groups ({})",
                target_text(&e.to_string())
            )
        })?,
    };
    let groups = match value {
        Value::Array(groups) => groups,
        // An empty YAML file is an empty list, as Prometheus reads it.
        Value::Null if format == SdFormat::Yaml => Vec::new(),
        other => {
            return Err(format!(
                "{origin}: the body is a {}, not a list of target groups; write \
                 [{{\"targets\": [\"10.0.0.1:9090\"], \"labels\": {{\"env\": \"prod\"}}}}]",
                type_name(&other)
            ))
        }
    };
    let mut set = TargetSet::new();
    for (i, group) in groups.iter().enumerate() {
        let at = format!("{origin}: group {}", i + 1);
        read_group(&mut set, group, &at, template);
    }
    Ok(set.finish())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// A JSON value shown in a warning: escaped, capped.
fn shown(v: &Value) -> String {
    target_text(&v.to_string())
}

/// What a group's labels say: the steering labels and the rest.
struct GroupLabels {
    path: Option<String>,
    scheme: Option<String>,
    name: Option<String>,
    labels: BTreeMap<String, String>,
}

/// A group's `labels`, or why the group is skipped.
fn group_labels(group: &serde_json::Map<String, Value>) -> Result<GroupLabels, String> {
    let mut out = GroupLabels {
        path: None,
        scheme: None,
        name: None,
        labels: BTreeMap::new(),
    };
    let labels = match group.get("labels") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Object(labels)) => labels,
        Some(other) => {
            return Err(format!(
                "'labels' is {}, not a map of strings; write \"labels\": {{\"env\": \"prod\"}}",
                shown(other)
            ))
        }
    };
    for (name, value) in labels {
        let Value::String(value) = value else {
            return Err(format!(
                "label '{}' is {}, not a string; quote it",
                target_text(name),
                shown(value)
            ));
        };
        match name.as_str() {
            METRICS_PATH_LABEL => out.path = Some(check_path(value)?),
            SCHEME_LABEL => out.scheme = Some(check_scheme(value)?),
            NAME_LABEL => {
                check_target_name(value)?;
                out.name = Some(value.clone());
            }
            n if n.starts_with("__") => {} // Prometheus' own (__address__, __meta_…): dropped.
            n => {
                check_label_name(n)?;
                out.labels.insert(n.to_string(), value.clone());
            }
        }
    }
    Ok(out)
}

/// One group into `set`; a bad group is skipped whole, a bad address alone.
fn read_group(set: &mut TargetSet, group: &Value, at: &str, template: &TargetTemplate) {
    let fix = "write {\"targets\": [\"10.0.0.1:9090\"], \"labels\": {\"env\": \"prod\"}}";
    let Value::Object(group) = group else {
        set.warn(format!(
            "{at} is {}, not a target group; {fix}",
            shown(group)
        ));
        return;
    };
    let addresses = match group.get("targets") {
        Some(Value::Array(a)) => a,
        Some(other) => {
            set.warn(format!(
                "{at}: 'targets' is {}, not a list of \"host:port\"; {fix}",
                shown(other)
            ));
            return;
        }
        None => {
            set.warn(format!("{at} has no 'targets'; {fix}"));
            return;
        }
    };
    let labels = match group_labels(group) {
        Ok(l) => l,
        Err(why) => {
            set.warn(format!("{at} is skipped: {why}"));
            return;
        }
    };
    let mut merged = template.labels.clone();
    merged.extend(labels.labels.clone());
    let scheme = labels.scheme.as_deref().unwrap_or(&template.scheme);
    let path = labels.path.as_deref().unwrap_or(&template.path);
    for address in addresses {
        let Value::String(address) = address else {
            set.warn(format!(
                "{at}: target {} is skipped: not a \"host:port\" string",
                shown(address)
            ));
            continue;
        };
        match build_target(
            template,
            labels.name.as_deref(),
            address,
            scheme,
            path,
            &merged,
        ) {
            Ok(t) => set.add(t, at),
            Err(why) => set.warn(format!("{at}: target is skipped: {why}")),
        }
    }
}

/// A discovered target: `scheme://address path`, named `name` (else the address), with the
/// template's settings and `labels`.
pub fn build_target(
    template: &TargetTemplate,
    name: Option<&str>,
    address: &str,
    scheme: &str,
    path: &str,
    labels: &BTreeMap<String, String>,
) -> Result<TargetConfig, String> {
    let bad = || {
        format!(
            "'{}' is not a host:port address; write e.g. \"10.0.0.1:9090\"",
            target_text(address)
        )
    };
    if address.is_empty()
        || address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/?#@\\".contains(c))
    {
        return Err(bad());
    }
    let url = Url::parse(&format!("{scheme}://{address}{path}")).map_err(|_| bad())?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    let name = name.unwrap_or(address).to_string();
    check_target_name(&name)?;
    let defaults = Defaults {
        interval: template.interval,
        timeout: template.timeout,
        jitter: template.jitter,
        max_body_bytes: template.max_body_bytes,
    };
    let mut target = TargetConfig::new(name, Some(url), None, &defaults);
    if let Some(source) = template.source {
        target.source = source;
    }
    target.labels = labels.clone();
    Ok(target)
}

/// A running container as a docker block sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The container's name without the leading `/`.
    pub name: String,
    /// Its IP address on its first network (by network name) that gives it one; `None` with
    /// `--network host` (or none).
    pub ip: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// The target a labelled container asks for: `leakhound.port` (required), `leakhound.path`,
/// `leakhound.scheme`, `leakhound.name` (default the container's name), `leakhound.host`
/// (default its IP, else `127.0.0.1`). Its resources join the samples (`container`).
/// `docker_host` is the block's resolved host.
pub fn docker_target(
    template: &TargetTemplate,
    c: &ContainerInfo,
    docker_host: Option<&str>,
) -> Result<TargetConfig, String> {
    let label = |key: &str| c.labels.get(key).map(|v| v.trim().to_string());
    let port = label(PORT_LABEL).ok_or_else(|| {
        format!("it has no '{PORT_LABEL}' label; add e.g. --label {PORT_LABEL}=8080")
    })?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
        format!(
            "'{}' in '{PORT_LABEL}' is not a port; write e.g. {PORT_LABEL}=8080",
            target_text(&port)
        )
    })?;
    let path = match label(PATH_LABEL) {
        Some(p) => check_path(&p)?,
        None => template.path.clone(),
    };
    let scheme = match label(SCHEME_CONTAINER_LABEL) {
        Some(s) => check_scheme(&s)?,
        None => template.scheme.clone(),
    };
    let host = label(HOST_LABEL)
        .filter(|h| !h.is_empty())
        .or_else(|| c.ip.clone().filter(|ip| !ip.is_empty()))
        .unwrap_or_else(|| "127.0.0.1".to_string());
    let address = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let name = label(NAME_CONTAINER_LABEL).unwrap_or_else(|| c.name.clone());
    let mut target = build_target(
        template,
        Some(&name),
        &address,
        &scheme,
        &path,
        &template.labels,
    )?;
    target.container = Some(ContainerSource {
        name: c.name.clone(),
        docker_host: docker_host.map(str::to_string),
    });
    Ok(target)
}

#[cfg(test)]
mod tests;
