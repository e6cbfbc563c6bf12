//! What an `[[actions]]` block does: one reader per `kind` (command, container, signal, http).

use super::super::walk::{show, Ctx, Table};
use super::super::{parse_url, ProcessSelector, TargetConfig};
use super::{ActionKind, SIGNALS};
use std::path::PathBuf;
use toml::de::DeValue;
use toml::Spanned;

/// The block's `kind` and that kind's keys; `None` (after reporting) when they do not make one.
/// `target` is the configured target of the action, if its name is one.
pub(super) fn read_kind(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    target_name: &str,
    target: Option<&TargetConfig>,
    offset: usize,
) -> Option<ActionKind> {
    match t.string(ctx, "kind").as_deref() {
        Some("command") => read_command(ctx, t, offset),
        Some("container") => read_container(ctx, t, offset),
        Some("signal") => Some(read_signal(ctx, t, target_name, target, offset)),
        Some("http") => read_http(ctx, t, offset),
        Some(other) => {
            t.error_at(
                ctx,
                "kind",
                format!("'{other}' is not an action kind; use command, container, signal or http"),
            );
            None
        }
        None => {
            t.require(
                ctx,
                "kind",
                offset,
                "an action needs a 'kind': command, container, signal or http".into(),
            );
            None
        }
    }
}

/// `kind = "command"`: `argv` (never through a shell), `env` passed through, `cwd`.
fn read_command(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, offset: usize) -> Option<ActionKind> {
    let argv = string_list(
        ctx,
        t,
        "argv",
        "[\"docker-compose\", \"restart\", \"one-api\"]",
    );
    t.require(
        ctx,
        "argv",
        offset,
        "a command action needs 'argv', e.g. argv = [\"systemctl\", \"restart\", \"one-api\"]"
            .into(),
    );
    if let Some(a) = &argv {
        if a.first().is_none_or(|p| p.is_empty()) {
            t.error_at(
                ctx,
                "argv",
                "argv is empty; its first element is the program, e.g. [\"systemctl\", \"restart\", \"one-api\"]".into(),
            );
        }
    }
    let env = string_list(ctx, t, "env", "[\"PATH\", \"HOME\"]")
        .unwrap_or_else(|| vec!["PATH".into(), "HOME".into()]);
    for var in &env {
        if var.is_empty() || var.contains('=') {
            t.error_at(
                ctx,
                "env",
                format!("'{var}' is not a variable name; 'env' lists names to pass through, e.g. [\"PATH\", \"HOME\"]"),
            );
        }
    }
    let cwd = t.string(ctx, "cwd").map(PathBuf::from);
    argv.map(|argv| ActionKind::Command { argv, env, cwd })
}

/// `kind = "container"`: `container` restarted through the Docker Engine API at `docker_host`.
fn read_container(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, offset: usize) -> Option<ActionKind> {
    let container = t.string(ctx, "container");
    if container.is_none() {
        t.require(
            ctx,
            "container",
            offset,
            "a container action needs 'container', the container's name or id, e.g. container = \"one-api\"".into(),
        );
    }
    let docker_host = t.string(ctx, "docker_host");
    if let Some(h) = &docker_host {
        if !h.starts_with("unix://") {
            t.error_at(
                ctx,
                "docker_host",
                format!("'{h}' is not a unix socket; write e.g. \"unix:///var/run/docker.sock\""),
            );
        }
    }
    container.map(|container| ActionKind::Container {
        container,
        docker_host,
    })
}

/// `kind = "signal"`: `signal` sent to `pid`, the process in `pid_file`, or the target's process.
fn read_signal(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    target_name: &str,
    target: Option<&TargetConfig>,
    offset: usize,
) -> ActionKind {
    let signal = t
        .string(ctx, "signal")
        .map(|s| s.trim_start_matches("SIG").to_ascii_uppercase())
        .unwrap_or_else(|| "TERM".into());
    if !SIGNALS.contains(&signal.as_str()) {
        t.error_at(
            ctx,
            "signal",
            format!(
                "'{signal}' is not a signal leakhound sends; use one of {}",
                SIGNALS.join(", ")
            ),
        );
    }
    let pid = t.uint(ctx, "pid").and_then(|p| match u32::try_from(p) {
        Ok(p) if p > 1 => Some(ProcessSelector::Pid(p)),
        _ => {
            t.error_at(
                ctx,
                "pid",
                format!("'{p}' is not a process leakhound may signal; give the service's PID"),
            );
            None
        }
    });
    let pid_file = t.string(ctx, "pid_file").map(PathBuf::from);
    if pid.is_none()
        && pid_file.is_none()
        && !t.has("pid")
        && target.is_some_and(|x| x.process.is_none())
    {
        ctx.error(
            offset,
            &t.path_of("pid"),
            format!(
                "a signal action needs a process: give 'pid', 'pid_file', or a 'pid'/'process' on target '{target_name}'"
            ),
        );
    }
    ActionKind::Signal {
        signal,
        pid,
        pid_file,
    }
}

/// `kind = "http"`: `method` (POST by default) sent to `url`; a 2xx answer is success.
fn read_http(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, offset: usize) -> Option<ActionKind> {
    let url = t.parsed(ctx, "url", parse_url);
    t.require(
        ctx,
        "url",
        offset,
        "an http action needs 'url', e.g. url = \"http://127.0.0.1:3000/admin/restart\"".into(),
    );
    let method = t
        .string(ctx, "method")
        .map(|m| m.to_ascii_uppercase())
        .unwrap_or_else(|| "POST".into());
    if !["GET", "POST", "PUT", "DELETE"].contains(&method.as_str()) {
        t.error_at(
            ctx,
            "method",
            format!("'{method}' is not a method leakhound sends; use GET, POST, PUT or DELETE"),
        );
    }
    url.map(|url| ActionKind::Http { url, method })
}

/// A list of strings such as `argv`; `example` shows one in the error messages.
fn string_list(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    key: &'static str,
    example: &str,
) -> Option<Vec<String>> {
    let v = t.get(key)?;
    let items: &[Spanned<DeValue<'_>>] = match v.get_ref() {
        DeValue::Array(a) => a,
        DeValue::String(s) if key == "argv" => {
            ctx.error(
                v.span().start,
                &t.path_of(key),
                format!(
                    "'{s}' is one string, but argv is a list of arguments and leakhound never runs a shell \
                     (no quoting, no pipes, no $VARS to go wrong): write {example}; if you really need a \
                     shell, write [\"sh\", \"-c\", \"…\"] yourself"
                ),
            );
            return None;
        }
        other => {
            ctx.error(
                v.span().start,
                &t.path_of(key),
                format!(
                    "'{}' is a {}, expected a list of strings such as {example}",
                    show(other),
                    other.type_str()
                ),
            );
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        match item.get_ref() {
            DeValue::String(s) => out.push(s.to_string()),
            other => {
                ok = false;
                ctx.error(
                    item.span().start,
                    &t.path_of(key),
                    format!(
                        "'{}' is a {}; every element must be a string in quotes, e.g. {example}",
                        show(other),
                        other.type_str()
                    ),
                );
            }
        }
    }
    ok.then_some(out)
}
