//! `[verify]`: thresholds of `leakhound verify` (GUIDE §10, verifying a fix). Every default is
//! the guide's.
//!
//! ```toml
//! [verify]
//! window = "10m"              # baseline and "now" are averages over this long
//! max_growth = "20%"          # verify: growth since the baseline that still passes
//! min_elapsed = "1h"          # verify: compare no earlier than this after the baseline
//! expect_below = 3000         # plan: goroutines stay below this (first 30 min, 2 h)
//! memory_max_rise = "20%"     # plan, first 30 min: memory may rise this much
//! max_swing = "50%"           # plan, 2 h: biggest jump between neighbouring samples vs the median
//! swing_floor = 500           # plan, 2 h: jumps smaller than this never count as abnormal
//! min_growth_per_hour = 50    # plan, 24 h: a fitted growth below this is stable
//! max_daily_climb = "20%"     # plan, week one: daily peaks may not climb more than this
//! ```

use super::walk::{Ctx, Table};
use serde::Serialize;
use std::time::Duration;
use toml::de::DeValue;

/// The validated `[verify]` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyConfig {
    #[serde(with = "super::human_duration")]
    pub window: Duration,
    /// A fraction: 0.2 is 20 %.
    pub max_growth: f64,
    #[serde(with = "super::human_duration")]
    pub min_elapsed: Duration,
    pub expect_below: u64,
    pub memory_max_rise: f64,
    pub max_swing: f64,
    pub swing_floor: u64,
    pub min_growth_per_hour: f64,
    pub max_daily_climb: f64,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig {
            window: Duration::from_secs(600),
            max_growth: 0.2,
            min_elapsed: Duration::from_secs(3600),
            expect_below: 3000,
            memory_max_rise: 0.2,
            max_swing: 0.5,
            swing_floor: 500,
            min_growth_per_hour: 50.0,
            max_daily_climb: 0.2,
        }
    }
}

/// Read `[verify]` from the root table.
pub(super) fn read_verify(ctx: &mut Ctx<'_>, root: &mut Table<'_, '_>) -> VerifyConfig {
    let mut config = VerifyConfig::default();
    let Some(mut t) = root.table(ctx, "verify") else {
        return config;
    };
    t.set_duration(ctx, "window", &mut config.window);
    t.set_duration(ctx, "min_elapsed", &mut config.min_elapsed);
    for (key, slot) in [
        ("max_growth", &mut config.max_growth),
        ("memory_max_rise", &mut config.memory_max_rise),
        ("max_swing", &mut config.max_swing),
        ("max_daily_climb", &mut config.max_daily_climb),
    ] {
        if let Some(v) = percent(ctx, &mut t, key) {
            *slot = v;
        }
    }
    let expect_below = t.uint(ctx, "expect_below");
    if let Some(v) = t.valid(
        ctx,
        "expect_below",
        expect_below,
        |v| v != 0,
        |_| {
            "'0' must be at least 1; the guide expects fewer than 3000 goroutines after a fix"
                .into()
        },
    ) {
        config.expect_below = v;
    }
    t.set_uint(ctx, "swing_floor", &mut config.swing_floor);
    let growth = t.uint(ctx, "min_growth_per_hour");
    if let Some(v) = t.valid(
        ctx,
        "min_growth_per_hour",
        growth,
        |v| v != 0,
        |_| "'0' must be at least 1 (goroutines per hour); e.g. 50".into(),
    ) {
        config.min_growth_per_hour = v as f64;
    }
    t.finish(ctx);
    config
}

/// A percentage written as a string: `"20%"` → 0.2.
fn percent(ctx: &mut Ctx<'_>, t: &mut Table<'_, '_>, key: &'static str) -> Option<f64> {
    let v = t.get(key)?;
    let fix = "write a percentage in quotes, e.g. \"20%\"";
    let parsed = match v.get_ref() {
        DeValue::String(s) => match s.trim().strip_suffix('%').map(|n| n.trim().parse::<f64>()) {
            Some(Ok(n)) if n.is_finite() && n > 0.0 && n <= 1000.0 => Ok(n / 100.0),
            Some(Ok(_)) => Err(format!("'{s}' must be above 0% and at most 1000%")),
            _ => Err(format!("'{s}' is not a percentage; {fix}")),
        },
        DeValue::Integer(i) => Err(format!("'{}' has no unit; {fix}", i.as_str())),
        DeValue::Float(f) => Err(format!("'{}' has no unit; {fix}", f.as_str())),
        other => Err(format!("'{}' is a {}; {fix}", "…", other.type_str())),
    };
    match parsed {
        Ok(x) => Some(x),
        Err(msg) => {
            ctx.error(v.span().start, &t.path_of(key), msg);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigErrors};

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(text, &|_| None)
    }

    #[test]
    fn defaults_are_the_guides() {
        let v = parse("").unwrap().verify;
        assert_eq!(v.max_growth, 0.2);
        assert_eq!(v.min_elapsed.as_secs(), 3600);
        assert_eq!(v.expect_below, 3000);
    }

    #[test]
    fn a_full_section_parses() {
        let v = parse(
            "[verify]\nwindow = \"5m\"\nmax_growth = \"15%\"\nmin_elapsed = \"2h\"\nexpect_below = 2000\nmemory_max_rise = \"30%\"\nmax_swing = \"80%\"\nswing_floor = 100\nmin_growth_per_hour = 20\nmax_daily_climb = \"10%\"\n",
        )
        .unwrap()
        .verify;
        assert_eq!(v.window.as_secs(), 300);
        assert!((v.max_growth - 0.15).abs() < 1e-12);
        assert_eq!(v.min_elapsed.as_secs(), 7200);
        assert_eq!(v.expect_below, 2000);
        assert!((v.memory_max_rise - 0.3).abs() < 1e-12);
        assert!((v.max_swing - 0.8).abs() < 1e-12);
        assert_eq!(v.swing_floor, 100);
        assert_eq!(v.min_growth_per_hour, 20.0);
        assert!((v.max_daily_climb - 0.1).abs() < 1e-12);
    }

    #[test]
    fn every_mistake_is_reported_with_line_and_fix() {
        let errors = parse(
            "[verify]\nmax_growth = 20\nmax_swing = \"lots\"\nexpect_below = 0\nwindow = \"soon\"\nmax_growht = \"5%\"\n",
        )
        .unwrap_err()
        .0;
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 5, "{shown:#?}");
        assert_eq!(
            shown[0],
            "2:14: verify.max_growth: '20' has no unit; write a percentage in quotes, e.g. \"20%\""
        );
        assert_eq!(
            shown[1],
            "3:13: verify.max_swing: 'lots' is not a percentage; write a percentage in quotes, e.g. \"20%\""
        );
        assert!(
            shown[2].starts_with("4:16: verify.expect_below: '0' must be at least 1"),
            "{}",
            shown[2]
        );
        assert!(
            shown[3].starts_with("5:10: verify.window: 'soon' is not a duration"),
            "{}",
            shown[3]
        );
        assert!(
            shown[4].starts_with(
                "6:1: verify.max_growht: unknown key 'max_growht'; did you mean 'max_growth'?"
            ),
            "{}",
            shown[4]
        );
    }
}
