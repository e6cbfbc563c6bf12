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

mod kinds;

use super::walk::{Ctx, Table};
use super::{AlertsConfig, ProcessSelector, TargetConfig};
use crate::rules::{Metric, Rule, RuleKind};
use crate::severity::Severity;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

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
    for (mut t, item) in root.tables(ctx, "actions") {
        if let Some(action) = read_action(ctx, &mut t, targets, alerts, item.span().start) {
            if config
                .actions
                .iter()
                .any(|o| o.name == action.name && o.target == action.target)
            {
                t.error_at(
                    ctx,
                    "name",
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
    config
}

fn read_evidence(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, e: &mut EvidenceConfig) {
    if let Some(v) = t.string(ctx, "dir") {
        if v.is_empty() {
            t.error_at(
                ctx,
                "dir",
                "'' is no directory; write e.g. \"/var/lib/leakhound/evidence\"".into(),
            );
        }
        e.dir = v.into();
    }
    t.set_bool(ctx, "on_alerts", &mut e.on_alerts);
    t.set_duration(ctx, "min_interval", &mut e.min_interval);
    if let Some(v) = t.bytes(ctx, "max_total_bytes") {
        if v < 1 << 20 {
            t.error_at(
                ctx,
                "max_total_bytes",
                format!("'{v}' bytes cannot hold even one goroutine profile; give at least \"1MB\" (e.g. \"500MB\")"),
            );
        }
        e.max_total_bytes = v;
    }
    t.set_bool(ctx, "debug2", &mut e.debug2);
    t.set_uint(ctx, "debug2_max_goroutines", &mut e.debug2_max_goroutines);
    t.set_duration(ctx, "timeout", &mut e.timeout);
    t.set_bytes(ctx, "max_profile_bytes", &mut e.max_profile_bytes);
    t.set_duration(ctx, "window", &mut e.window);
}

/// One `[[actions]]` block that starts at `offset`.
fn read_action(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    targets: &[TargetConfig],
    alerts: &AlertsConfig,
    offset: usize,
) -> Option<ActionConfig> {
    let (target_name, target) = read_target(ctx, t, targets, offset)?;
    let name = t.string(ctx, "name").unwrap_or_else(|| "restart".into());
    let kind = kinds::read_kind(ctx, t, &target_name, target, offset);
    let on_text = t.string(ctx, "on");
    let trigger = read_trigger(ctx, t, on_text.as_deref(), &alerts.rules, offset);
    let limits = read_limits(ctx, t);
    let recover_below = match t.uint(ctx, "recover_below") {
        Some(v) => Some(v),
        None => {
            if trigger.recover_below.is_none() && on_text.is_some() {
                t.require(
                    ctx,
                    "recover_below",
                    offset,
                    "give 'recover_below', the goroutine count under which the service counts as recovered \
                     (only a goroutine level rule in 'on' has a default: its clear mark)"
                        .into(),
                );
            }
            trigger.recover_below
        }
    };
    let require_evidence = t.boolean(ctx, "require_evidence").unwrap_or(true);
    check_limits(ctx, t, &limits, offset);
    if let Some(ActionKind::Signal { pid, pid_file, .. }) = &kind {
        // Reported above: no process to signal.
        let has_process =
            pid.is_some() || pid_file.is_some() || target.is_some_and(|x| x.process.is_some());
        if !has_process {
            return None;
        }
    }
    Some(ActionConfig {
        name,
        target: target_name,
        kind: kind?,
        on: trigger.on,
        trigger_rules: trigger.rules,
        hold: limits.hold,
        cooldown: limits.cooldown,
        max_runs: limits.max_runs,
        window: limits.window,
        timeout: limits.timeout,
        recover_below: recover_below?,
        recover_within: limits.recover_within,
        require_evidence,
        line: ctx.lines.position(offset).0,
    })
}

/// `target`: the name of a `[[targets]]` block (may be left out when there is one), and that
/// target if the name is one. `None` (after reporting) when the action names none.
fn read_target<'a>(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    targets: &'a [TargetConfig],
    offset: usize,
) -> Option<(String, Option<&'a TargetConfig>)> {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let target_name = match t.string(ctx, "target") {
        Some(name) => name,
        None if targets.len() == 1 && !t.has("target") => targets[0].name.clone(),
        None => {
            t.require(
                ctx,
                "target",
                offset,
                format!(
                    "an action needs the 'target' it acts on; one of: {}",
                    names.join(", ")
                ),
            );
            return None;
        }
    };
    let target = targets.iter().find(|x| x.name == target_name);
    if target.is_none() {
        t.error_at(
            ctx,
            "target",
            format!(
                "'{target_name}' is not a configured target; use the name of a [[targets]] block: {}",
                if names.is_empty() { "(none)".to_string() } else { names.join(", ") }
            ),
        );
    }
    Some((target_name, target))
}

/// What `on` names.
struct OnTrigger {
    on: Trigger,
    /// The rules whose firing starts the action.
    rules: Vec<String>,
    /// The default `recover_below`: a goroutine level rule's clear mark.
    recover_below: Option<u64>,
}

/// `on`: a severity (every rule that bad or worse) or one rule (and the higher levels of its
/// metric, which supersede it).
fn read_trigger(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    on_text: Option<&str>,
    rules: &[Rule],
    offset: usize,
) -> OnTrigger {
    let none = |on| OnTrigger {
        on,
        rules: Vec::new(),
        recover_below: None,
    };
    let Some(text) = on_text else {
        t.require(
            ctx,
            "on",
            offset,
            "an action needs 'on': the rule that starts it, e.g. on = \"goroutines_critical\" (the guide's L3)".into(),
        );
        return none(Trigger::Severity(Severity::Critical));
    };
    if let Some(sev) = Severity::parse_alert_level(text) {
        return OnTrigger {
            rules: rules
                .iter()
                .filter(|r| r.severity >= sev && r.kind.name() != "down")
                .map(|r| r.id.clone())
                .collect(),
            ..none(Trigger::Severity(sev))
        };
    }
    if let Some(rule) = rules.iter().find(|r| r.id == text) {
        return rule_trigger(rule, rules);
    }
    let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    t.error_at(
        ctx,
        "on",
        format!(
            "'{text}' is neither an alert rule nor a severity; use one of {} or warning, urgent, critical",
            ids.join(", ")
        ),
    );
    none(Trigger::Rule(text.to_string()))
}

/// `on = "RULE"`: that rule and, for a level rule, the higher levels of the same metric.
fn rule_trigger(rule: &Rule, rules: &[Rule]) -> OnTrigger {
    let mut ids = vec![rule.id.clone()];
    let mut recover = None;
    if let RuleKind::Level { metric, above } = rule.kind {
        recover =
            (metric == Metric::Goroutines).then(|| rule.clear_below(above as f64).floor() as u64);
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
    OnTrigger {
        on: Trigger::Rule(rule.id.clone()),
        rules: ids,
        recover_below: recover,
    }
}

/// How often and how long an action may run.
struct Limits {
    hold: Duration,
    cooldown: Duration,
    max_runs: u32,
    window: Duration,
    timeout: Duration,
    recover_within: Duration,
}

/// `for`, `cooldown`, `max_runs`, `window`, `timeout` and `recover_within`.
fn read_limits(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>) -> Limits {
    let hold = t.duration_or_zero(ctx, "for").unwrap_or(Duration::ZERO);
    let cooldown = t
        .duration_or_zero(ctx, "cooldown")
        .unwrap_or(Duration::from_secs(15 * 60));
    let max_runs = match t.uint(ctx, "max_runs") {
        Some(0) => {
            t.error_at(
                ctx,
                "max_runs",
                "'0' would never run; give at least 1 (or set [agent] actions_enabled = false)"
                    .into(),
            );
            1
        }
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        None => 3,
    };
    Limits {
        hold,
        cooldown,
        max_runs,
        window: t
            .duration(ctx, "window")
            .unwrap_or(Duration::from_secs(3600)),
        timeout: t
            .duration(ctx, "timeout")
            .unwrap_or(Duration::from_secs(60)),
        recover_within: t
            .duration(ctx, "recover_within")
            .unwrap_or(Duration::from_secs(300)),
    }
}

/// The storm guard must be able to trip, and a run must end before the next may start. Errors
/// about keys left at their defaults point at the block.
fn check_limits(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, l: &Limits, offset: usize) {
    let human = crate::units::human_duration;
    if !l.cooldown.is_zero()
        && l.window < l.cooldown * l.max_runs.saturating_sub(1).max(1)
        && l.max_runs > 1
    {
        ctx.error(
            t.offset_or("window", offset),
            &t.path_of("window"),
            format!(
                "'{}' is shorter than {} runs {} apart (cooldown), so the storm guard can never trip; lengthen 'window' or shorten 'cooldown'",
                human(l.window),
                l.max_runs,
                human(l.cooldown)
            ),
        );
    }
    if l.timeout > l.cooldown && !l.cooldown.is_zero() {
        ctx.error(
            t.offset_or("timeout", offset),
            &t.path_of("timeout"),
            format!(
                "'{}' is longer than the cooldown '{}'; a run must end before the next may start: lower 'timeout' or raise 'cooldown'",
                human(l.timeout),
                human(l.cooldown)
            ),
        );
    }
}

#[cfg(test)]
mod tests;
