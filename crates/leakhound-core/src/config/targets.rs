//! `[[targets]]`: what each watched service is (a URL, a local process, a container) and how
//! it is probed.

use super::sections::read_probe_settings;
use super::walk::{Ctx, Table};
use super::{
    check_target_name, default_target_name, expand_env, parse_url, Auth, ContainerSource, Defaults,
    FieldMap, ProcessSelector, SourceKind, TargetConfig,
};

/// Read every `[[targets]]` block; `docker_host` is `[agent] docker_host`, which container
/// targets use.
pub(super) fn read_targets(
    ctx: &mut Ctx<'_>,
    root: &mut Table<'_, '_>,
    defaults: &Defaults,
    docker_host: Option<&String>,
) -> Vec<TargetConfig> {
    let mut targets: Vec<TargetConfig> = Vec::new();
    for (mut t, item) in root.tables(ctx, "targets") {
        if let Some(mut target) = read_target(ctx, &mut t, defaults, item.span().start) {
            if let Some(c) = &mut target.container {
                c.docker_host = docker_host.cloned();
            }
            if targets.iter().any(|o| o.name == target.name) {
                t.error_at(
                    ctx,
                    "name",
                    format!(
                        "'{}' is already the name of another target; names must be unique",
                        target.name
                    ),
                );
            }
            targets.push(target);
        }
        t.finish(ctx);
    }
    targets
}

/// One `[[targets]]` block that starts at `offset`.
fn read_target(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    defaults: &Defaults,
    offset: usize,
) -> Option<TargetConfig> {
    let url = t.parsed(ctx, "url", parse_url);
    let process = read_process(ctx, t);
    let container = read_container(ctx, t);
    if url.is_none()
        && process.is_none()
        && container.is_none()
        && !t.has("url")
        && !t.has("container")
    {
        ctx.error(
            offset,
            &t.path_of("url"),
            "a target needs a 'url' (e.g. \"http://127.0.0.1:3000\"), a local 'pid'/'process' or a 'container'"
                .into(),
        );
        return None;
    }
    let name = t
        .string(ctx, "name")
        .unwrap_or_else(|| match (&url, &process, &container) {
            (None, None, Some(c)) => c.name.clone(),
            _ => default_target_name(url.as_ref(), process.as_ref()),
        });
    if let Err(why) = check_target_name(&name) {
        ctx.error(t.offset_or("name", offset), &t.path_of("name"), why);
    }
    let mut target = TargetConfig::new(name, url, process, defaults);
    target.container = container;
    read_source(ctx, t, &mut target);
    read_probe_settings(
        ctx,
        t,
        &mut target.interval,
        &mut target.timeout,
        &mut target.jitter,
        &mut target.max_body_bytes,
    );
    target.auth = read_auth(ctx, t);
    if let Some(headers) = t.table(ctx, "headers") {
        target.headers = read_headers(ctx, &headers);
    }
    if let Some(mut f) = t.table(ctx, "fields") {
        read_fields(ctx, &mut f, &mut target.fields);
        f.finish(ctx);
    }
    if let Some(labels) = t.table(ctx, "labels") {
        target.labels = read_labels(ctx, &labels);
    }
    if let Some(v) = t.string(ctx, "expvar_goroutines") {
        target.expvar_goroutines = v;
    }
    Some(target)
}

/// `pid = 1234` or `process = "one-api"`: a local process read from procfs.
fn read_process(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>) -> Option<ProcessSelector> {
    let pid = t.uint(ctx, "pid");
    let process_name = t.string(ctx, "process");
    match (pid, process_name) {
        (Some(_), Some(_)) => {
            t.error_at(
                ctx,
                "process",
                "give either 'pid' or 'process', not both".into(),
            );
            None
        }
        (Some(p), None) => match u32::try_from(p) {
            Ok(p) if p > 0 => Some(ProcessSelector::Pid(p)),
            _ => {
                t.error_at(ctx, "pid", format!("'{p}' is not a process ID"));
                None
            }
        },
        (None, Some(n)) if n.is_empty() => {
            t.error_at(
                ctx,
                "process",
                "'' names no process; write its name, e.g. 'one-api'".into(),
            );
            None
        }
        (None, Some(n)) => Some(ProcessSelector::Name(n)),
        (None, None) => None,
    }
}

/// `container = "one-api"`: a container read through the Docker Engine API.
fn read_container(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>) -> Option<ContainerSource> {
    let name = t.string(ctx, "container")?;
    if name.trim().is_empty() {
        t.error_at(
            ctx,
            "container",
            "'' names no container; write its name as `docker ps` shows it, e.g. 'one-api'".into(),
        );
        return None;
    }
    Some(ContainerSource {
        name,
        docker_host: None,
    })
}

/// `source`: which endpoint the goroutine count comes from (only with a `url`).
fn read_source(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, target: &mut TargetConfig) {
    let allowed = format!(
        "one of {}",
        SourceKind::ALL.map(SourceKind::name).join(", ")
    );
    if let Some(kind) = t.one_of(ctx, "source", "a source", &allowed, SourceKind::parse) {
        target.source = kind;
    }
    if target.url.is_none() && target.source != SourceKind::Auto {
        t.error_at(ctx, "source", "a 'source' needs a 'url'".into());
    }
}

/// `username`/`password` (basic auth) or `bearer_token`.
pub(super) fn read_auth(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>) -> Option<Auth> {
    let username = t.string(ctx, "username");
    let password = t.string(ctx, "password");
    let token = t.string(ctx, "bearer_token");
    match (username, password, token) {
        (Some(username), password, None) => Some(Auth::Basic {
            username,
            password: password.unwrap_or_default(),
        }),
        (None, Some(_), _) => {
            t.error_at(ctx, "password", "a 'password' needs a 'username'".into());
            None
        }
        (None, None, Some(token)) => Some(Auth::Bearer { token }),
        (Some(_), _, Some(_)) => {
            t.error_at(
                ctx,
                "bearer_token",
                "give either basic auth (username/password) or 'bearer_token', not both".into(),
            );
            None
        }
        (None, None, None) => None,
    }
}

/// `[targets.headers]`: extra request headers, `${VAR}` expanded.
fn read_headers(ctx: &mut Ctx<'_>, headers: &Table<'_, '_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in headers.entries() {
        let name: &str = key.get_ref();
        match value.get_ref().as_str() {
            Some(v) => match expand_env(v, ctx.env) {
                Ok(v) => out.push((name.to_string(), v)),
                Err(var) => ctx.error(
                    value.span().start,
                    &headers.path_of(name),
                    format!(
                        "environment variable '{var}' is not set; export it or write the value"
                    ),
                ),
            },
            None => ctx.error(
                value.span().start,
                &headers.path_of(name),
                "a header value must be a string".into(),
            ),
        }
    }
    out
}

/// `[targets.labels]`: names as Prometheus allows them (`[a-zA-Z_][a-zA-Z0-9_]*`, not `__`-led),
/// string values.
pub(super) fn read_labels(
    ctx: &mut Ctx<'_>,
    labels: &Table<'_, '_>,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in labels.entries() {
        let name: &str = key.get_ref();
        if let Err(why) = super::check_label_name(name) {
            ctx.error(key.span().start, &labels.path_of(name), why);
            continue;
        }
        match value.get_ref().as_str() {
            Some(v) => {
                out.insert(name.to_string(), v.to_string());
            }
            None => ctx.error(
                value.span().start,
                &labels.path_of(name),
                format!("a label value must be a string; write {name} = \"...\""),
            ),
        }
    }
    out
}

/// `[targets.fields]`: JSON pointers into a health-like body.
fn read_fields(ctx: &mut Ctx<'_>, f: &mut Table<'_, '_>, map: &mut FieldMap) {
    for (key, slot) in [
        ("goroutines", &mut map.goroutines),
        ("alloc_mb", &mut map.alloc_mb),
        ("total_alloc_mb", &mut map.total_alloc_mb),
        ("sys_mb", &mut map.sys_mb),
        ("num_gc", &mut map.num_gc),
    ] {
        if let Some(pointer) = f.string(ctx, key) {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                f.error_at(
                    ctx,
                    key,
                    format!("'{pointer}' is not a JSON pointer; write it from the root, e.g. '/data/goroutines'"),
                );
            }
            *slot = pointer;
        }
    }
}
