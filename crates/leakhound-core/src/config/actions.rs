//! `[evidence]` and `[[actions]]`: what leakhound saves when a target gets into trouble, and
//! what it may do about it (GUIDE §9's L3 auto-restart, done carefully).
//!
//! ```toml
//! [agent]
//! actions_enabled = true            # the global kill switch (false: capture evidence, never act)
//!
//! [evidence]
//! dir = "leakhound-evidence"        # one directory per target, one bundle directory per event
//! min_interval = "10m"              # at most one automatic dump per target per 10 minutes
//! max_total_bytes = "500MB"         # disk budget: oldest bundles pruned first
//!
//! [[actions]]
//! name = "restart"
//! target = "one-api"
//! kind = "command"                  # command | container | signal | http
//! argv = ["docker-compose", "restart", "one-api"]
//! on = "goroutines_critical"        # a rule id, or a severity (warning, urgent, critical)
//! for = "2m"
//! cooldown = "15m"
//! max_runs = 3
//! window = "1h"
//! ```
//!
//! Every action runs only after an evidence bundle of the incident was written (or, with
//! `require_evidence = false`, after the capture failed with a recorded reason).

use super::walk::{boolean, show, Ctx, Table};
use super::{AlertsConfig, ProcessSelector, TargetConfig};
use crate::rules::{Metric, RuleKind, Severity};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use toml::de::DeValue;
use toml::Spanned;

/// `[evidence]`: where and how often goroutine dumps and the rest of a bundle are saved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvidenceConfig {
    /// Root directory; bundles go to `dir/<target>/<time>-<trigger>/`.
    pub dir: PathBuf,
    /// Goroutine dumps on alerts, on every target (default on): the cheap `debug=1` profile is
    /// taken when a target's goroutines grow (to tell a leak from load: the growth alert waits
    /// for the verdict and names the leaking site in its first message), when a goroutine level
    /// alert is about to fire, and as a quiet-time reference every 30 minutes; and a bundle is
    /// saved when an alert starts firing. `false` turns all of it off (growth alerts then fire
    /// on the counts alone); targets with `[[actions]]` still get a bundle before each action.
    pub on_alerts: bool,
    /// At most one automatic capture per target per this long (captures before an action and
    /// `leakhound capture` are not limited: an action has its own cooldown and storm guard).
    #[serde(with = "human_duration")]
    pub min_interval: Duration,
    /// Disk budget for all bundles; the oldest are pruned first, never an incident's first.
    pub max_total_bytes: u64,
    /// Also save the full `debug=2` dump (every goroutine; it stops the world while it is
    /// written, so it is opt-in)…
    pub debug2: bool,
    /// …and only while the service has at most this many goroutines.
    pub debug2_max_goroutines: u64,
    /// Time limit for each profile request.
    #[serde(with = "human_duration")]
    pub timeout: Duration,
    /// Size limit for each profile.
    pub max_profile_bytes: u64,
    /// Stored samples saved with the bundle: this long before the event.
    #[serde(with = "human_duration")]
    pub window: Duration,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            dir: PathBuf::from("leakhound-evidence"),
            on_alerts: true,
            min_interval: Duration::from_secs(600),
            max_total_bytes: 500 << 20,
            debug2: false,
            debug2_max_goroutines: 20_000,
            timeout: Duration::from_secs(30),
            max_profile_bytes: 64 << 20,
            window: Duration::from_secs(3600),
        }
    }
}

/// What starts an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// One alert rule by id (e.g. `goroutines_critical`).
    Rule(String),
    /// Any rule of this severity or worse.
    Severity(Severity),
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ActionKind {
    /// Run a program with these arguments (never through a shell).
    Command {
        argv: Vec<String>,
        /// Environment variables passed through from the agent's environment; all others are
        /// cleared.
        env: Vec<String>,
        /// Working directory, if not the agent's.
        cwd: Option<PathBuf>,
    },
    /// Restart a container through the Docker Engine API.
    Container {
        container: String,
        /// `unix:///path/docker.sock`; default `$DOCKER_HOST` or `/var/run/docker.sock`.
        docker_host: Option<String>,
    },
    /// Send a signal to a local process.
    Signal {
        /// `TERM`, `KILL`, `HUP`, `INT`, `QUIT`, `USR1`, `USR2`.
        signal: String,
        /// Which process: an explicit `pid`, a `pid_file`, else the target's `pid`/`process`.
        pid: Option<ProcessSelector>,
        pid_file: Option<PathBuf>,
    },
    /// Call an HTTP endpoint; a 2xx answer is success.
    Http { url: url::Url, method: String },
}

impl ActionKind {
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Command { .. } => "command",
            ActionKind::Container { .. } => "container",
            ActionKind::Signal { .. } => "signal",
            ActionKind::Http { .. } => "http",
        }
    }

    /// What it will do, as one line for logs and records (argv as a quoted list).
    pub fn describe(&self) -> String {
        match self {
            ActionKind::Command { argv, .. } => format!("{argv:?}"),
            ActionKind::Container { container, .. } => format!("docker restart {container}"),
            ActionKind::Signal {
                signal,
                pid,
                pid_file,
            } => match (pid, pid_file) {
                (Some(ProcessSelector::Pid(p)), _) => format!("kill -{signal} {p}"),
                (Some(ProcessSelector::Name(n)), _) => format!("kill -{signal} (process '{n}')"),
                (None, Some(f)) => format!("kill -{signal} $(cat {})", f.display()),
                (None, None) => format!("kill -{signal} (the target's process)"),
            },
            ActionKind::Http { url, method } => format!("{method} {url}"),
        }
    }
}

/// The signal names `kind = "signal"` accepts.
pub const SIGNALS: [&str; 7] = ["TERM", "KILL", "HUP", "INT", "QUIT", "USR1", "USR2"];

/// One `[[actions]]` block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionConfig {
    pub name: String,
    pub target: String,
    #[serde(flatten)]
    pub kind: ActionKind,
    pub on: Trigger,
    /// Rule ids whose firing starts this action: the `on` rule, and higher levels of the same
    /// metric (which supersede it), or every rule of the severity.
    pub trigger_rules: Vec<String>,
    /// The trigger must have fired this long before the action runs.
    #[serde(rename = "for", with = "human_duration")]
    pub hold: Duration,
    /// Least time between two runs.
    #[serde(with = "human_duration")]
    pub cooldown: Duration,
    /// Storm guard: at most `max_runs` runs within `window`; then stop and call a human.
    pub max_runs: u32,
    #[serde(with = "human_duration")]
    pub window: Duration,
    /// Time limit for one run (then the process group is killed).
    #[serde(with = "human_duration")]
    pub timeout: Duration,
    /// Recovered when goroutines are back under this…
    pub recover_below: u64,
    /// …within this long after the run; else escalate.
    #[serde(with = "human_duration")]
    pub recover_within: Duration,
    /// Never run without an evidence bundle of the incident (default). `false`: run even when
    /// the capture failed (the failure is recorded).
    pub require_evidence: bool,
    /// Line of the block, for messages.
    pub line: usize,
}

/// `[[actions]]`, `[evidence]` and the kill switch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionsConfig {
    /// `[agent] actions_enabled`: `false` turns every action off (evidence is still captured).
    pub enabled: bool,
    /// Log and record what would run, run nothing (`leakhound run --dry-run`).
    pub dry_run: bool,
    pub actions: Vec<ActionConfig>,
    pub evidence: EvidenceConfig,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        ActionsConfig {
            enabled: true,
            dry_run: false,
            actions: Vec::new(),
            evidence: EvidenceConfig::default(),
        }
    }
}

impl ActionsConfig {
    /// The actions of one target.
    pub fn for_target<'a>(&'a self, target: &'a str) -> impl Iterator<Item = &'a ActionConfig> {
        self.actions.iter().filter(move |a| a.target == target)
    }
}

mod human_duration {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::units::human_duration(*d))
    }
}

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

/// Read `[evidence]` and every `[[actions]]` (after `[alerts]` and `[[targets]]`, which they
/// name). `enabled` is `[agent] actions_enabled`.
pub(super) fn read_actions(
    ctx: &mut Ctx<'_>,
    root: &mut Table<'_, '_>,
    targets: &[TargetConfig],
    alerts: &AlertsConfig,
    enabled: Option<bool>,
) -> ActionsConfig {
    let mut config = ActionsConfig {
        enabled: enabled.unwrap_or(true),
        ..ActionsConfig::default()
    };
    if let Some(mut t) = root.table(ctx, "evidence") {
        read_evidence(ctx, &mut t, &mut config.evidence);
        t.finish(ctx);
    }
    if let Some(items) = root.array(ctx, "actions") {
        for (i, item) in items.iter().enumerate() {
            let path = format!("actions[{i}]");
            match item.get_ref().as_table() {
                Some(table) => {
                    let mut t = Table::new(table, path);
                    let line = ctx.lines.position(item.span().start).0;
                    if let Some(action) =
                        read_action(ctx, &mut t, targets, alerts, item.span().start, line)
                    {
                        if config
                            .actions
                            .iter()
                            .any(|o| o.name == action.name && o.target == action.target)
                        {
                            ctx.error(
                                t.offset_of("name"),
                                &t.path_of("name"),
                                format!(
                                    "'{}' is already the name of another action of target '{}'; names must be unique per target",
                                    action.name, action.target
                                ),
                            );
                        }
                        config.actions.push(action);
                    }
                    t.finish(ctx);
                }
                None => ctx.error(
                    item.span().start,
                    &path,
                    "expected a table: write [[actions]]".into(),
                ),
            }
        }
    }
    config
}

fn read_evidence(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, e: &mut EvidenceConfig) {
    if let Some(v) = t.string(ctx, "dir") {
        if v.is_empty() {
            ctx.error(
                t.offset_of("dir"),
                &t.path_of("dir"),
                "'' is no directory; write e.g. \"/var/lib/leakhound/evidence\"".into(),
            );
        }
        e.dir = v.into();
    }
    if let Some(v) = boolean(ctx, t, "on_alerts") {
        e.on_alerts = v;
    }
    if let Some(v) = t.duration(ctx, "min_interval") {
        e.min_interval = v;
    }
    if let Some(v) = t.bytes(ctx, "max_total_bytes") {
        if v < 1 << 20 {
            ctx.error(
                t.offset_of("max_total_bytes"),
                &t.path_of("max_total_bytes"),
                format!("'{v}' bytes cannot hold even one goroutine profile; give at least \"1MB\" (e.g. \"500MB\")"),
            );
        }
        e.max_total_bytes = v;
    }
    if let Some(v) = boolean(ctx, t, "debug2") {
        e.debug2 = v;
    }
    if let Some(v) = t.uint(ctx, "debug2_max_goroutines") {
        e.debug2_max_goroutines = v;
    }
    if let Some(v) = t.duration(ctx, "timeout") {
        e.timeout = v;
    }
    if let Some(v) = t.bytes(ctx, "max_profile_bytes") {
        e.max_profile_bytes = v;
    }
    if let Some(v) = t.duration(ctx, "window") {
        e.window = v;
    }
}

fn read_action(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    targets: &[TargetConfig],
    alerts: &AlertsConfig,
    offset: usize,
    line: usize,
) -> Option<ActionConfig> {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let target_name = match t.string(ctx, "target") {
        Some(name) => name,
        None if targets.len() == 1 && !t.has("target") => targets[0].name.clone(),
        None => {
            if !t.has("target") {
                ctx.error(
                    offset,
                    &t.path_of("target"),
                    format!(
                        "an action needs the 'target' it acts on; one of: {}",
                        names.join(", ")
                    ),
                );
            }
            return None;
        }
    };
    let target = targets.iter().find(|x| x.name == target_name);
    if target.is_none() {
        ctx.error(
            t.offset_of("target"),
            &t.path_of("target"),
            format!(
                "'{target_name}' is not a configured target; use the name of a [[targets]] block: {}",
                if names.is_empty() { "(none)".to_string() } else { names.join(", ") }
            ),
        );
    }
    let name = t.string(ctx, "name").unwrap_or_else(|| "restart".into());

    let kind_text = t.string(ctx, "kind");
    let kind = match kind_text.as_deref() {
        Some("command") => {
            let argv = string_list(
                ctx,
                t,
                "argv",
                "[\"docker-compose\", \"restart\", \"one-api\"]",
            );
            if !t.has("argv") {
                ctx.error(
                    offset,
                    &t.path_of("argv"),
                    "a command action needs 'argv', e.g. argv = [\"systemctl\", \"restart\", \"one-api\"]"
                        .into(),
                );
            }
            if let Some(a) = &argv {
                if a.first().is_none_or(|p| p.is_empty()) {
                    ctx.error(
                        t.offset_of("argv"),
                        &t.path_of("argv"),
                        "argv is empty; its first element is the program, e.g. [\"systemctl\", \"restart\", \"one-api\"]".into(),
                    );
                }
            }
            let env = string_list(ctx, t, "env", "[\"PATH\", \"HOME\"]")
                .unwrap_or_else(|| vec!["PATH".into(), "HOME".into()]);
            for var in &env {
                if var.is_empty() || var.contains('=') {
                    ctx.error(
                        t.offset_of("env"),
                        &t.path_of("env"),
                        format!("'{var}' is not a variable name; 'env' lists names to pass through, e.g. [\"PATH\", \"HOME\"]"),
                    );
                }
            }
            let cwd = t.string(ctx, "cwd").map(PathBuf::from);
            argv.map(|argv| ActionKind::Command { argv, env, cwd })
        }
        Some("container") => {
            let container = t.string(ctx, "container");
            if container.is_none() && !t.has("container") {
                ctx.error(
                    offset,
                    &t.path_of("container"),
                    "a container action needs 'container', the container's name or id, e.g. container = \"one-api\"".into(),
                );
            }
            let docker_host = t.string(ctx, "docker_host");
            if let Some(h) = &docker_host {
                if !h.starts_with("unix://") {
                    ctx.error(
                        t.offset_of("docker_host"),
                        &t.path_of("docker_host"),
                        format!("'{h}' is not a unix socket; write e.g. \"unix:///var/run/docker.sock\""),
                    );
                }
            }
            container.map(|container| ActionKind::Container {
                container,
                docker_host,
            })
        }
        Some("signal") => {
            let signal = t
                .string(ctx, "signal")
                .map(|s| s.trim_start_matches("SIG").to_ascii_uppercase())
                .unwrap_or_else(|| "TERM".into());
            if !SIGNALS.contains(&signal.as_str()) {
                ctx.error(
                    t.offset_of("signal"),
                    &t.path_of("signal"),
                    format!(
                        "'{signal}' is not a signal leakhound sends; use one of {}",
                        SIGNALS.join(", ")
                    ),
                );
            }
            let pid = match t.uint(ctx, "pid") {
                Some(p) => match u32::try_from(p) {
                    Ok(p) if p > 1 => Some(ProcessSelector::Pid(p)),
                    _ => {
                        ctx.error(
                            t.offset_of("pid"),
                            &t.path_of("pid"),
                            format!("'{p}' is not a process leakhound may signal; give the service's PID"),
                        );
                        None
                    }
                },
                None => None,
            };
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
            Some(ActionKind::Signal {
                signal,
                pid,
                pid_file,
            })
        }
        Some("http") => {
            let url = t
                .string(ctx, "url")
                .and_then(|u| match super::parse_url(&u) {
                    Ok(u) => Some(u),
                    Err(msg) => {
                        ctx.error(t.offset_of("url"), &t.path_of("url"), msg);
                        None
                    }
                });
            if !t.has("url") {
                ctx.error(
                    offset,
                    &t.path_of("url"),
                    "an http action needs 'url', e.g. url = \"http://127.0.0.1:3000/admin/restart\""
                        .into(),
                );
            }
            let method = t
                .string(ctx, "method")
                .map(|m| m.to_ascii_uppercase())
                .unwrap_or_else(|| "POST".into());
            if !["GET", "POST", "PUT", "DELETE"].contains(&method.as_str()) {
                ctx.error(
                    t.offset_of("method"),
                    &t.path_of("method"),
                    format!(
                        "'{method}' is not a method leakhound sends; use GET, POST, PUT or DELETE"
                    ),
                );
            }
            url.map(|url| ActionKind::Http { url, method })
        }
        Some(other) => {
            ctx.error(
                t.offset_of("kind"),
                &t.path_of("kind"),
                format!("'{other}' is not an action kind; use command, container, signal or http"),
            );
            None
        }
        None => {
            if !t.has("kind") {
                ctx.error(
                    offset,
                    &t.path_of("kind"),
                    "an action needs a 'kind': command, container, signal or http".into(),
                );
            }
            None
        }
    };

    // What starts it.
    let on_text = t.string(ctx, "on");
    let rules = &alerts.rules;
    let (on, trigger_rules, default_recover) = match on_text.as_deref() {
        None => {
            if !t.has("on") {
                ctx.error(
                    offset,
                    &t.path_of("on"),
                    "an action needs 'on': the rule that starts it, e.g. on = \"goroutines_critical\" (the guide's L3)".into(),
                );
            }
            (Trigger::Severity(Severity::Critical), Vec::new(), None)
        }
        Some(text) => {
            if let Some(sev) = Severity::parse(text) {
                let ids = rules
                    .iter()
                    .filter(|r| r.severity >= sev && r.kind.name() != "down")
                    .map(|r| r.id.clone())
                    .collect();
                (Trigger::Severity(sev), ids, None)
            } else if let Some(rule) = rules.iter().find(|r| r.id == text) {
                let mut ids = vec![rule.id.clone()];
                let mut recover = None;
                if let RuleKind::Level { metric, above } = rule.kind {
                    recover = (metric == Metric::Goroutines)
                        .then(|| rule.clear_below(above as f64).floor() as u64);
                    // Higher levels of the same metric supersede this one: they trigger too.
                    for r in rules {
                        if let RuleKind::Level {
                            metric: m,
                            above: a,
                        } = r.kind
                        {
                            if m == metric && a > above {
                                ids.push(r.id.clone());
                            }
                        }
                    }
                }
                (Trigger::Rule(rule.id.clone()), ids, recover)
            } else {
                let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
                ctx.error(
                    t.offset_of("on"),
                    &t.path_of("on"),
                    format!(
                        "'{text}' is neither an alert rule nor a severity; use one of {} or warning, urgent, critical",
                        ids.join(", ")
                    ),
                );
                (Trigger::Rule(text.to_string()), Vec::new(), None)
            }
        }
    };

    let zero_ok = super::alerts::duration_or_zero;
    let hold = zero_ok(ctx, t, "for").unwrap_or(Duration::ZERO);
    let cooldown = zero_ok(ctx, t, "cooldown").unwrap_or(Duration::from_secs(15 * 60));
    let max_runs = match t.uint(ctx, "max_runs") {
        Some(0) => {
            ctx.error(
                t.offset_of("max_runs"),
                &t.path_of("max_runs"),
                "'0' would never run; give at least 1 (or set [agent] actions_enabled = false)"
                    .into(),
            );
            1
        }
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        None => 3,
    };
    let window = t
        .duration(ctx, "window")
        .unwrap_or(Duration::from_secs(3600));
    let timeout = t
        .duration(ctx, "timeout")
        .unwrap_or(Duration::from_secs(60));
    let recover_within = t
        .duration(ctx, "recover_within")
        .unwrap_or(Duration::from_secs(300));
    let recover_below = match t.uint(ctx, "recover_below") {
        Some(v) => Some(v),
        None => {
            if default_recover.is_none() && on_text.is_some() && !t.has("recover_below") {
                ctx.error(
                    offset,
                    &t.path_of("recover_below"),
                    "give 'recover_below', the goroutine count under which the service counts as recovered \
                     (only a goroutine level rule in 'on' has a default: its clear mark)"
                        .into(),
                );
            }
            default_recover
        }
    };
    let require_evidence = boolean(ctx, t, "require_evidence").unwrap_or(true);

    // Errors about keys left at their defaults point at the block.
    let at = |t: &Table<'_, '_>, key: &str| {
        if t.has(key) {
            t.offset_of(key)
        } else {
            offset
        }
    };
    if !cooldown.is_zero() && window < cooldown * max_runs.saturating_sub(1).max(1) && max_runs > 1
    {
        ctx.error(
            at(t, "window"),
            &t.path_of("window"),
            format!(
                "'{}' is shorter than {} runs {} apart (cooldown), so the storm guard can never trip; lengthen 'window' or shorten 'cooldown'",
                crate::units::human_duration(window),
                max_runs,
                crate::units::human_duration(cooldown)
            ),
        );
    }
    if timeout > cooldown && !cooldown.is_zero() {
        ctx.error(
            at(t, "timeout"),
            &t.path_of("timeout"),
            format!(
                "'{}' is longer than the cooldown '{}'; a run must end before the next may start: lower 'timeout' or raise 'cooldown'",
                crate::units::human_duration(timeout),
                crate::units::human_duration(cooldown)
            ),
        );
    }
    if let Some(kind) = &kind {
        if matches!(kind, ActionKind::Signal { .. }) {
            let ok = matches!(kind, ActionKind::Signal { pid: Some(_), .. })
                || matches!(
                    kind,
                    ActionKind::Signal {
                        pid_file: Some(_),
                        ..
                    }
                )
                || target.is_some_and(|x| x.process.is_some());
            if !ok {
                return None;
            }
        }
    }
    Some(ActionConfig {
        name,
        target: target_name,
        kind: kind?,
        on,
        trigger_rules,
        hold,
        cooldown,
        max_runs,
        window,
        timeout,
        recover_below: recover_below?,
        recover_within,
        require_evidence,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, crate::config::ConfigErrors> {
        Config::parse(text, &|_| None)
    }

    const TARGET: &str = "[[targets]]\nname = \"one-api\"\nurl = \"http://127.0.0.1:3000\"\n";

    #[test]
    fn the_init_examples_evidence_and_action_parse_when_uncommented() {
        let text = crate::config::example_uncommented("[evidence]");
        let config = parse(&text).unwrap();
        let actions = &config.actions.actions;
        assert_eq!(actions.len(), 1, "{text}");
        assert_eq!(
            (actions[0].name.as_str(), actions[0].target.as_str()),
            ("restart", "one-api")
        );
        assert!(format!("{:?}", actions[0]).contains("docker-compose"));
    }

    #[test]
    fn the_guides_auto_restart_as_config() {
        let text = format!(
            r#"[agent]
actions_enabled = true

[evidence]
dir = "/var/lib/leakhound/evidence"
min_interval = "10m"
max_total_bytes = "500MB"

{TARGET}
[[actions]]
name = "restart"
target = "one-api"
kind = "command"
argv = ["docker-compose", "restart", "one-api"]
on = "goroutines_critical"
for = "2m"
cooldown = "15m"
max_runs = 3
window = "1h"
"#
        );
        let c = parse(&text).unwrap().actions;
        assert!(c.enabled);
        assert_eq!(c.evidence.max_total_bytes, 500 << 20);
        let a = &c.actions[0];
        assert_eq!(a.target, "one-api");
        assert_eq!(
            a.kind,
            ActionKind::Command {
                argv: vec!["docker-compose".into(), "restart".into(), "one-api".into()],
                env: vec!["PATH".into(), "HOME".into()],
                cwd: None
            }
        );
        assert_eq!(a.on, Trigger::Rule("goroutines_critical".into()));
        assert_eq!(a.trigger_rules, vec!["goroutines_critical".to_string()]);
        assert_eq!(a.hold, Duration::from_secs(120));
        assert_eq!(a.max_runs, 3);
        // The default recovery mark is the rule's clear mark: 10000 × 0.9.
        assert_eq!(a.recover_below, 9000);
        assert!(a.require_evidence);

        let urgent = parse(&format!(
            "{TARGET}[[actions]]\nkind = \"container\"\ncontainer = \"one-api\"\non = \"goroutines_urgent\"\n"
        ))
        .unwrap()
        .actions;
        // One target: `target` may be left out. A higher level of the same metric triggers too.
        assert_eq!(
            urgent.actions[0].trigger_rules,
            vec![
                "goroutines_urgent".to_string(),
                "goroutines_critical".to_string()
            ]
        );
        let off = parse("[agent]\nactions_enabled = false\n").unwrap().actions;
        assert!(!off.enabled);
    }

    #[test]
    fn every_actions_mistake_is_reported_with_its_line() {
        let text = format!(
            r#"{TARGET}
[evidence]
max_total_bytes = "1KB"
debug_2 = true

[[actions]]
target = "one-apj"
kind = "command"
argv = "docker-compose restart one-api"
on = "goroutines_critcal"

[[actions]]
kind = "command"
argv = []
on = "critical"
recover_below = 100
cooldown = "1m"
timeout = "5m"

[[actions]]
kind = "signal"
signal = "STOP"
pid = 1
on = "goroutines_critical"

[[actions]]
kind = "teleport"
on = "goroutines_critical"
max_runs = 0
"#
        );
        let errs = parse(&text).unwrap_err().0;
        let find = |path: &str| {
            errs.iter()
                .find(|e| e.path == path)
                .unwrap_or_else(|| panic!("no error for {path}: {errs:#?}"))
                .clone()
        };
        let e = find("evidence.max_total_bytes");
        assert_eq!(e.line, 6);
        assert!(e.message.contains("1MB"), "{e}");
        assert!(find("evidence.debug_2")
            .message
            .contains("did you mean 'debug2'"));
        let e = find("actions[0].target");
        assert_eq!(e.line, 10);
        assert!(
            e.message.contains("'one-apj'") && e.message.contains("one-api"),
            "{e}"
        );
        let e = find("actions[0].argv");
        assert_eq!(e.line, 12);
        assert!(
            e.message.contains("'docker-compose restart one-api'")
                && e.message.contains("never runs a shell")
                && e.message
                    .contains("[\"docker-compose\", \"restart\", \"one-api\"]"),
            "{e}"
        );
        let e = find("actions[0].on");
        assert!(
            e.message.contains("'goroutines_critcal'") && e.message.contains("goroutines_critical"),
            "{e}"
        );
        let e = find("actions[1].argv");
        assert!(e.message.contains("argv is empty"), "{e}");
        let e = find("actions[1].timeout");
        assert!(
            e.message.contains("'5m'") && e.message.contains("'1m'"),
            "{e}"
        );
        let e = find("actions[2].signal");
        assert!(
            e.message.contains("'STOP'") && e.message.contains("TERM"),
            "{e}"
        );
        assert!(find("actions[2].pid").message.contains("'1'"));
        let e = find("actions[3].kind");
        assert!(
            e.message.contains("'teleport'") && e.message.contains("command"),
            "{e}"
        );
        assert!(find("actions[3].max_runs").message.contains("'0'"));
        assert!(errs.windows(2).all(|w| w[0].line <= w[1].line));
    }
}
