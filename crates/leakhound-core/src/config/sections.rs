//! `[agent]`, `[defaults]` and `[levels]`: the agent process, the per-target probe defaults and
//! the guide's thresholds.

use super::walk::{Ctx, Table};
use super::{check_docker_host, AgentConfig, Defaults, Levels};
use crate::ladder::{GoroutineLadder, MemoryLadder};
use crate::units::human_duration;
use std::time::Duration;

/// Read `[agent]` into `a`; returns `actions_enabled`, which belongs to the actions' config.
pub(super) fn read_agent(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    a: &mut AgentConfig,
) -> Option<bool> {
    let actions_enabled = t.boolean(ctx, "actions_enabled");
    if let Some(v) = t.string(ctx, "database") {
        a.database = v.into();
    }
    t.set_duration(ctx, "log_interval", &mut a.log_interval);
    if let Some(v) = t.string(ctx, "continuous_log") {
        a.continuous_log = Some(v.into());
    }
    t.set_duration(
        ctx,
        "continuous_log_interval",
        &mut a.continuous_log_interval,
    );
    if let Some(v) = t.uint(ctx, "batch_size") {
        if v == 0 {
            t.error_at(ctx, "batch_size", "'0' must be at least 1".into());
        }
        a.batch_size = v.max(1) as usize;
    }
    t.set_duration(ctx, "flush_interval", &mut a.flush_interval);
    if let Some(v) = t.string(ctx, "docker_host") {
        if let Err(msg) = check_docker_host(&v) {
            t.error_at(ctx, "docker_host", msg);
        }
        a.docker_host = Some(v);
    }
    t.set_duration(ctx, "raw_retention", &mut a.raw_retention);
    t.set_duration(ctx, "retention", &mut a.retention);
    t.set_bool(ctx, "keep_alive", &mut a.keep_alive);
    let shown = crate::units::human_duration;
    for (key, value) in [
        ("raw_retention", a.raw_retention),
        ("retention", a.retention),
    ] {
        if value < super::MIN_RETENTION {
            t.error_at(
                ctx,
                key,
                format!(
                    "'{}' is shorter than an hour; the alert rules and reports need at least '1h' (e.g. '15d')",
                    shown(value)
                ),
            );
        }
    }
    if a.raw_retention > a.retention {
        t.error_at(
            ctx,
            "raw_retention",
            format!(
                "'{}' keeps raw samples longer than retention = '{}' keeps their rollups; raise retention or lower raw_retention",
                shown(a.raw_retention),
                shown(a.retention)
            ),
        );
    }
    if let Some(v) = t.string(ctx, "shard") {
        match super::Shard::parse(&v) {
            Ok(shard) => a.shard = Some(shard),
            Err(msg) => t.error_at(ctx, "shard", msg),
        }
    }
    actions_enabled
}

/// Read `[defaults]` into `d`.
pub(super) fn read_defaults(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, d: &mut Defaults) {
    read_probe_settings(
        ctx,
        t,
        &mut d.interval,
        &mut d.timeout,
        &mut d.jitter,
        &mut d.max_body_bytes,
    );
}

/// The keys `[defaults]` and every `[[targets]]` block share.
pub(super) fn read_probe_settings(
    ctx: &mut Ctx<'_>,
    t: &mut Table<'_, '_>,
    interval: &mut Duration,
    timeout: &mut Duration,
    jitter: &mut Duration,
    max_body: &mut u64,
) {
    t.set_duration(ctx, "interval", interval);
    t.set_duration(ctx, "timeout", timeout);
    if let Some(v) = t.get("jitter") {
        // Zero jitter is allowed, so read it apart from `duration` (which refuses zero).
        match v.get_ref().as_str().map(crate::units::parse_duration) {
            Some(Ok(d)) => *jitter = d,
            Some(Err(msg)) => ctx.error(v.span().start, &t.path_of("jitter"), msg),
            None => ctx.error(
                v.span().start,
                &t.path_of("jitter"),
                "expected a duration such as \"1s\" or \"0s\"".into(),
            ),
        }
    }
    t.set_bytes(ctx, "max_body", max_body);
    if *timeout > *interval {
        t.error_at(
            ctx,
            "timeout",
            format!(
                "'{}' is longer than the interval '{}'; a probe must finish before the next one starts: lower the timeout or raise the interval",
                human_duration(*timeout),
                human_duration(*interval)
            ),
        );
    }
}

/// Read `[levels]` into `levels`.
pub(super) fn read_levels(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, levels: &mut Levels) {
    read_ladders(ctx, t, levels);
    read_log_thresholds(ctx, t, levels);
    read_alert_levels(ctx, t, levels);
}

/// `goroutines` (5 rising counts) and `memory` (4 rising sizes): the guide's tables.
fn read_ladders(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, levels: &mut Levels) {
    if let Some(items) = t.array(ctx, "goroutines") {
        let values: Vec<u64> = items
            .iter()
            .filter_map(|v| t.uint_value(ctx, "goroutines", v))
            .collect();
        match <[u64; 5]>::try_from(values.as_slice()) {
            Ok(bounds) if is_ascending(&bounds) => levels.goroutines = GoroutineLadder(bounds),
            _ => t.error_at(
                ctx,
                "goroutines",
                "expected 5 rising whole numbers (the guide's table: [1000, 2000, 3000, 5000, 10000])".into(),
            ),
        }
    }
    if let Some(items) = t.array(ctx, "memory") {
        let values: Vec<u64> = items
            .iter()
            .filter_map(|v| t.bytes_value(ctx, "memory", v))
            .collect();
        match <[u64; 4]>::try_from(values.as_slice()) {
            Ok(bounds) if is_ascending(&bounds) => levels.memory = MemoryLadder(bounds),
            _ => t.error_at(
                ctx,
                "memory",
                "expected 4 rising sizes (the guide's table: [\"1GB\", \"2GB\", \"3GB\", \"4GB\"])"
                    .into(),
            ),
        }
    }
}

/// `log_warn_above` < `log_error_above`: when the guide's log lines turn WARN and ERROR.
fn read_log_thresholds(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, levels: &mut Levels) {
    let log = &mut levels.log;
    t.set_uint(ctx, "log_warn_above", &mut log.warn_above);
    t.set_uint(ctx, "log_error_above", &mut log.error_above);
    if log.warn_above >= log.error_above {
        t.error_at(
            ctx,
            "log_error_above",
            format!(
                "'{}' must be above log_warn_above ('{}'); the guide uses 2000 and 5000",
                log.error_above, log.warn_above
            ),
        );
    }
}

/// `warning` < `urgent` < `critical`: the goroutine counts of the guide's alert levels.
fn read_alert_levels(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, levels: &mut Levels) {
    let alert = &mut levels.alert;
    t.set_uint(ctx, "warning", &mut alert.warning);
    t.set_uint(ctx, "urgent", &mut alert.urgent);
    t.set_uint(ctx, "critical", &mut alert.critical);
    if !(alert.warning < alert.urgent && alert.urgent < alert.critical) {
        ctx.error(
            t.offset_of("critical").max(t.offset_of("urgent")).max(t.offset_of("warning")),
            &t.path_of("warning"),
            format!(
                "levels must rise: warning '{}' < urgent '{}' < critical '{}'; the guide uses 2000, 5000, 10000",
                alert.warning, alert.urgent, alert.critical
            ),
        );
    }
}

fn is_ascending(values: &[u64]) -> bool {
    values.windows(2).all(|w| w[0] < w[1])
}
