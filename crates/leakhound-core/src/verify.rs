//! Verifying a fix (GUIDE §10), as pure functions of stored history and an explicit `now`.
//!
//! - [`compare`]: the day-one check — the baseline saved after the deploy against now; growth
//!   below 20 % after an hour passes.
//! - The plan's checkpoints, counted from the fix (`start_ms`): [`first_30_minutes`] (stays in
//!   range, memory stable), [`two_hours`] (peak below 3000, no abnormal swings), [`day_one`] (no
//!   sustained growth) and [`week_one`] (daily peaks fluctuate, not climb).
//!
//! Each returns a [`Check`]: pass, fail, pending (its window has not ended and nothing failed
//! yet) or no data, with the numbers behind it. A peak above the limit or an abnormal swing fails
//! at once; the trend rules wait for their whole window.
//!
//! ```
//! use leakhound_core::config::VerifyConfig;
//! use leakhound_core::verify::{first_30_minutes, Point, Status};
//!
//! let cfg = VerifyConfig::default();
//! let points: Vec<Point> = (0..60)
//!     .map(|i| Point { ts_ms: i * 30_000, goroutines: Some(900), memory_bytes: Some(300 << 20) })
//!     .collect();
//! let check = first_30_minutes(0, 31 * 60_000, &points, &cfg);
//! assert_eq!(check.status, Status::Pass);
//! ```

use crate::config::VerifyConfig;
use crate::trend::{Trend, Verdict};
use crate::units::{human_bytes, human_duration, mb};
use crate::Sample;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// The window has not ended yet and nothing has failed so far.
    Pending,
    /// The window has ended (or the check needs history) and there are no samples to judge.
    NoData,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Pending => "PENDING",
            Status::NoData => "NO DATA",
        }
    }
}

/// One line of `verify`: what was checked, the outcome and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: &'static str,
    /// What the guide asks, e.g. `peak < 3000, no abnormal swings`.
    pub rule: String,
    pub status: Status,
    pub detail: String,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
}

/// One stored sample, as the checks need it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub ts_ms: i64,
    pub goroutines: Option<u64>,
    pub memory_bytes: Option<u64>,
}

/// The exit code for CI and cron: 1 when a check failed, else 2 when one has no data, else 0
/// (everything passed or is still pending).
pub fn exit_code(checks: &[Check]) -> u8 {
    if checks.iter().any(|c| c.status == Status::Fail) {
        1
    } else if checks.iter().any(|c| c.status == Status::NoData) {
        2
    } else {
        0
    }
}

fn offset(start_ms: i64, ts_ms: i64) -> String {
    format!(
        "+{}",
        human_duration(Duration::from_secs(
            ((ts_ms - start_ms).max(0) / 1000) as u64
        ))
    )
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

/// Relative change from `from` to `to` (0 → anything above is infinite growth).
fn growth(from: f64, to: f64) -> f64 {
    if from > 0.0 {
        (to - from) / from
    } else if to > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// Averages of a window: the baseline, or now.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowAverages {
    /// When the window ends (the baseline's time, or now).
    pub ts_ms: i64,
    pub samples: u64,
    pub goroutines: f64,
    pub memory_bytes: Option<f64>,
}

/// The guide's `baseline.json` (its health JSON, GUIDE §1) plus leakhound's richer data in
/// `leakhound` (absent in a file saved with `curl …/api/monitor/health > baseline.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub status: String,
    pub goroutines: u64,
    #[serde(default)]
    pub memory: GuideMemory,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leakhound: Option<BaselineDetail>,
}

/// The health JSON's `memory` object, in whole MB.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuideMemory {
    #[serde(default)]
    pub alloc_mb: u64,
    #[serde(default)]
    pub total_alloc_mb: u64,
    #[serde(default)]
    pub sys_mb: u64,
    #[serde(default)]
    pub num_gc: u64,
}

/// What leakhound adds to a baseline: averages over a window, memory, and the time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineDetail {
    pub target: String,
    pub taken_at_ms: i64,
    /// Local time, for people reading the file.
    #[serde(default)]
    pub taken_at: String,
    pub window_seconds: u64,
    pub samples: u64,
    pub goroutines_avg: f64,
    pub goroutines_min: u64,
    pub goroutines_max: u64,
    /// Average memory used (RSS, else cgroup, else `Sys`, else `Alloc`).
    pub memory_avg_bytes: Option<f64>,
    pub memory_bytes: Option<u64>,
}

impl Baseline {
    /// A baseline from the samples of the last `window` before `now_ms` (oldest first): the
    /// guide's fields from the newest sample with a goroutine count, averages over all of them.
    /// `None` when no sample has a goroutine count.
    pub fn from_samples(
        target: &str,
        samples: &[Sample],
        now_ms: i64,
        window: Duration,
        taken_at: String,
    ) -> Option<Baseline> {
        let newest = samples
            .iter()
            .rev()
            .find(|s| s.metrics.goroutines.is_some())?;
        let avg = window_averages(samples, now_ms);
        let counts: Vec<u64> = samples
            .iter()
            .filter_map(|s| s.metrics.goroutines)
            .collect();
        let m = &newest.metrics;
        Some(Baseline {
            status: "ok".into(),
            goroutines: m.goroutines.unwrap_or(0),
            memory: GuideMemory {
                alloc_mb: m.alloc_bytes.map_or(0, mb),
                total_alloc_mb: m.total_alloc_bytes.map_or(0, mb),
                sys_mb: m.sys_bytes.map_or(0, mb),
                num_gc: m.num_gc.unwrap_or(0),
            },
            leakhound: Some(BaselineDetail {
                target: target.to_string(),
                taken_at_ms: now_ms,
                taken_at,
                window_seconds: window.as_secs(),
                samples: avg.samples,
                goroutines_avg: avg.goroutines,
                goroutines_min: counts.iter().copied().min().unwrap_or(0),
                goroutines_max: counts.iter().copied().max().unwrap_or(0),
                memory_avg_bytes: avg.memory_bytes,
                memory_bytes: m.memory_used_bytes(),
            }),
        })
    }

    /// The baseline as averages to compare with. A guide-only file (no `leakhound` part) has
    /// one reading: its goroutines, and its `sys_mb` as memory; `taken_at_ms` then comes from
    /// the caller (e.g. the file's modification time).
    pub fn averages(&self, taken_at_ms: i64) -> WindowAverages {
        match &self.leakhound {
            Some(d) => WindowAverages {
                ts_ms: d.taken_at_ms,
                samples: d.samples,
                goroutines: d.goroutines_avg,
                memory_bytes: d.memory_avg_bytes,
            },
            None => WindowAverages {
                ts_ms: taken_at_ms,
                samples: 1,
                goroutines: self.goroutines as f64,
                memory_bytes: (self.memory.sys_mb > 0)
                    .then(|| (self.memory.sys_mb * (1 << 20)) as f64),
            },
        }
    }
}

/// Averages of `samples` (goroutines, and memory used), ending at `now_ms`.
pub fn window_averages(samples: &[Sample], now_ms: i64) -> WindowAverages {
    let g = mean(samples.iter().filter_map(|s| s.metrics.goroutines));
    let m = mean(samples.iter().filter_map(|s| s.metrics.memory_used_bytes()));
    WindowAverages {
        ts_ms: now_ms,
        samples: samples
            .iter()
            .filter(|s| s.metrics.goroutines.is_some())
            .count() as u64,
        goroutines: g.unwrap_or(0.0),
        memory_bytes: m,
    }
}

/// GUIDE §10 day one: "save the health JSON as baseline.json, compare an hour later — growth
/// < 20 % is normal". Goroutines and memory are compared (each must grow less than
/// `max_growth`); before `min_elapsed` has passed the check is pending.
pub fn compare(baseline: &WindowAverages, now: &WindowAverages, cfg: &VerifyConfig) -> Check {
    let elapsed_ms = now.ts_ms - baseline.ts_ms;
    let g = growth(baseline.goroutines, now.goroutines);
    let mut detail = format!(
        "goroutines {:.0} → {:.0} ({}) after {}",
        baseline.goroutines,
        now.goroutines,
        pct(g),
        human_duration(Duration::from_secs((elapsed_ms.max(0) / 1000) as u64))
    );
    let mut failed = g >= cfg.max_growth;
    match (baseline.memory_bytes, now.memory_bytes) {
        (Some(b), Some(n)) => {
            let m = growth(b, n);
            failed |= m >= cfg.max_growth;
            detail.push_str(&format!(
                "; memory {} → {} ({})",
                human_bytes(b as u64),
                human_bytes(n as u64),
                pct(m)
            ));
        }
        _ => detail.push_str("; memory not measured"),
    }
    let min_elapsed = crate::time::duration_ms(cfg.min_elapsed);
    let status = if now.samples == 0 {
        detail = "no samples in the last window: is the agent running?".into();
        Status::NoData
    } else if elapsed_ms < min_elapsed {
        detail.push_str(&format!(
            "; the guide compares after {}: run again in {}",
            human_duration(cfg.min_elapsed),
            human_duration(Duration::from_secs(
                ((min_elapsed - elapsed_ms) / 1000) as u64
            ))
        ));
        Status::Pending
    } else if failed {
        Status::Fail
    } else {
        Status::Pass
    };
    Check {
        name: "baseline",
        rule: format!(
            "growth < {:.0}% after {}",
            cfg.max_growth * 100.0,
            human_duration(cfg.min_elapsed)
        ),
        status,
        detail,
        window_start_ms: baseline.ts_ms,
        window_end_ms: baseline.ts_ms + min_elapsed,
    }
}

/// Peak of the goroutines in `points`, with when.
fn peak(points: &[Point]) -> Option<(u64, i64)> {
    points
        .iter()
        .filter_map(|p| p.goroutines.map(|g| (g, p.ts_ms)))
        .max_by_key(|&(g, ts)| (g, -ts))
}

fn mean(values: impl Iterator<Item = u64>) -> Option<f64> {
    let (n, sum) = values.fold((0u64, 0f64), |(n, s), v| (n + 1, s + v as f64));
    (n > 0).then(|| sum / n as f64)
}

/// Shared start of a checkpoint: the window, whether it has ended, and the samples in it.
fn window(points: &[Point], start_ms: i64, len_ms: i64) -> (i64, Vec<&Point>) {
    let end = start_ms + len_ms;
    (
        end,
        points
            .iter()
            .filter(|p| p.ts_ms >= start_ms && p.ts_ms < end)
            .collect(),
    )
}

#[allow(clippy::too_many_arguments)] // private, four call sites, each argument a different fact
fn finish(
    name: &'static str,
    rule: String,
    start_ms: i64,
    end_ms: i64,
    now_ms: i64,
    failures: Vec<String>,
    facts: Vec<String>,
    samples: usize,
) -> Check {
    let complete = now_ms >= end_ms;
    let (status, mut detail) = if !failures.is_empty() {
        (Status::Fail, failures.join("; "))
    } else if samples == 0 {
        (
            if complete {
                Status::NoData
            } else {
                Status::Pending
            },
            "no samples in this window".to_string(),
        )
    } else if complete {
        (Status::Pass, facts.join("; "))
    } else {
        (Status::Pending, format!("so far: {}", facts.join("; ")))
    };
    if !failures.is_empty() && !facts.is_empty() {
        detail = format!("{detail} ({})", facts.join("; "));
    }
    if !complete && status != Status::Fail {
        detail.push_str(&format!(
            "; ends in {}",
            human_duration(Duration::from_secs(((end_ms - now_ms) / 1000) as u64))
        ));
    }
    Check {
        name,
        rule,
        status,
        detail: format!(
            "{detail} [{samples} sample{}]",
            if samples == 1 { "" } else { "s" }
        ),
        window_start_ms: start_ms,
        window_end_ms: end_ms,
    }
}

/// GUIDE §10, the first 30 minutes: goroutines stay in range (every sample below
/// `expect_below`) and memory is stable (the last 5 minutes' average at most `memory_max_rise`
/// above the first 5 minutes').
pub fn first_30_minutes(start_ms: i64, now_ms: i64, points: &[Point], cfg: &VerifyConfig) -> Check {
    let (end, inside) = window(points, start_ms, 30 * MINUTE);
    let mut failures = Vec::new();
    let mut facts = Vec::new();
    if let Some((g, ts)) = peak(&points_of(&inside)) {
        let line = format!("peak {g} at {}", offset(start_ms, ts));
        if g >= cfg.expect_below {
            failures.push(format!("{line} ≥ {}", cfg.expect_below));
        } else {
            facts.push(format!("{line} < {}", cfg.expect_below));
        }
    }
    let mem: Vec<(i64, u64)> = inside
        .iter()
        .filter_map(|p| p.memory_bytes.map(|m| (p.ts_ms, m)))
        .collect();
    if let (Some(first), Some(last)) = (mem.first(), mem.last()) {
        let head = mean(
            mem.iter()
                .filter(|(ts, _)| *ts < first.0 + 5 * MINUTE)
                .map(|p| p.1),
        );
        let tail = mean(
            mem.iter()
                .filter(|(ts, _)| *ts > last.0 - 5 * MINUTE)
                .map(|p| p.1),
        );
        if let (Some(h), Some(t)) = (head, tail) {
            let rise = growth(h, t);
            let line = format!(
                "memory {} → {} ({})",
                human_bytes(h as u64),
                human_bytes(t as u64),
                pct(rise)
            );
            // Only a whole window judges memory: the first minutes of a Go heap always rise.
            if now_ms >= end && rise > cfg.memory_max_rise {
                failures.push(format!(
                    "{line}, more than {:.0}%",
                    cfg.memory_max_rise * 100.0
                ));
            } else {
                facts.push(line);
            }
        }
    } else {
        facts.push("memory not measured".into());
    }
    finish(
        "first 30 min",
        format!(
            "stays in range (< {}), memory stable (rise ≤ {:.0}%)",
            cfg.expect_below,
            cfg.memory_max_rise * 100.0
        ),
        start_ms,
        end,
        now_ms,
        failures,
        facts,
        inside.iter().filter(|p| p.goroutines.is_some()).count(),
    )
}

fn points_of(inside: &[&Point]) -> Vec<Point> {
    inside.iter().map(|p| **p).collect()
}

/// GUIDE §10, 2 hours: the peak stays below `expect_below` and there are no abnormal swings
/// (no jump between neighbouring samples bigger than `max_swing` of the window's median and
/// `swing_floor` goroutines).
pub fn two_hours(start_ms: i64, now_ms: i64, points: &[Point], cfg: &VerifyConfig) -> Check {
    let (end, inside) = window(points, start_ms, 2 * HOUR);
    let series: Vec<(i64, u64)> = inside
        .iter()
        .filter_map(|p| p.goroutines.map(|g| (p.ts_ms, g)))
        .collect();
    let mut failures = Vec::new();
    let mut facts = Vec::new();
    if let Some((g, ts)) = peak(&points_of(&inside)) {
        let line = format!("peak {g} at {}", offset(start_ms, ts));
        if g >= cfg.expect_below {
            failures.push(format!("{line} ≥ {}", cfg.expect_below));
        } else {
            facts.push(format!("{line} < {}", cfg.expect_below));
        }
    }
    if series.len() >= 2 {
        let mut sorted: Vec<u64> = series.iter().map(|p| p.1).collect();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2] as f64;
        let limit = (cfg.max_swing * median).max(cfg.swing_floor as f64);
        let (jump, at) = series
            .windows(2)
            .map(|w| (w[1].1.abs_diff(w[0].1), w[1].0))
            .max_by_key(|&(d, ts)| (d, -ts))
            .unwrap_or((0, start_ms));
        let line = format!(
            "largest swing {jump} at {} (limit {:.0}: {:.0}% of median {median:.0}, at least {})",
            offset(start_ms, at),
            limit,
            cfg.max_swing * 100.0,
            cfg.swing_floor
        );
        if jump as f64 > limit {
            failures.push(format!("abnormal swing: {line}"));
        } else {
            facts.push(line);
        }
    }
    finish(
        "2 hours",
        format!("peak < {}, no abnormal swings", cfg.expect_below),
        start_ms,
        end,
        now_ms,
        failures,
        facts,
        series.len(),
    )
}

/// GUIDE §10, 24 hours: no sustained growth. `buckets` are `(time, mean goroutines, mean
/// memory)` of short buckets (e.g. 10 minutes) over the first day. Goroutines fail when the
/// fitted trend is growing at `min_growth_per_hour` or more; memory when it grows and would
/// rise more than `memory_max_rise` of its mean in a day.
pub fn day_one(
    start_ms: i64,
    now_ms: i64,
    buckets: &[(i64, f64, Option<f64>)],
    cfg: &VerifyConfig,
) -> Check {
    let end = start_ms + DAY;
    let inside: Vec<&(i64, f64, Option<f64>)> = buckets
        .iter()
        .filter(|b| b.0 >= start_ms && b.0 < end)
        .collect();
    let g_points: Vec<(f64, f64)> = inside.iter().map(|b| (b.0 as f64 / 1000.0, b.1)).collect();
    let m_points: Vec<(f64, f64)> = inside
        .iter()
        .filter_map(|b| b.2.map(|m| (b.0 as f64 / 1000.0, m)))
        .collect();
    let mut failures = Vec::new();
    let mut facts = Vec::new();
    let complete = now_ms >= end;
    let mut judged = 0;
    if let Some(t) = Trend::fit(&g_points) {
        let verdict = t.verdict(cfg.min_growth_per_hour);
        let line = format!("goroutines {}", t.describe(cfg.min_growth_per_hour));
        if verdict != Verdict::Unknown {
            judged = g_points.len();
        }
        if complete && verdict == Verdict::Growing {
            failures.push(format!("sustained growth: {line}"));
        } else {
            facts.push(line);
        }
    }
    if let Some(t) = Trend::fit(&m_points) {
        let per_hour = t.mean * cfg.memory_max_rise / 24.0;
        let line = format!(
            "memory {:+}/h (R² {:.2})",
            human_signed_bytes(t.slope_per_hour),
            t.r_squared
        );
        if complete && t.verdict(per_hour.max(1.0)) == Verdict::Growing {
            failures.push(format!(
                "memory growing: {line}, more than {:.0}% a day",
                cfg.memory_max_rise * 100.0
            ));
        } else {
            facts.push(line);
        }
    }
    finish(
        "24 hours",
        format!(
            "no sustained growth (trend < {}/h)",
            cfg.min_growth_per_hour
        ),
        start_ms,
        end,
        now_ms,
        failures,
        facts,
        judged,
    )
}

fn human_signed_bytes(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "+" };
    format!("{sign}{}", human_bytes(v.abs() as u64))
}

/// GUIDE §10, week one: "record the daily peak and check that it fluctuates, not climbs".
/// `daily_peaks[d]` is the peak of day `d` after the fix (None: no samples that day). Fails when
/// at least 3 days show a steady climb (least-squares R² ≥ 0.5) that adds more than
/// `max_daily_climb` of the median peak over the days seen.
pub fn week_one(
    start_ms: i64,
    now_ms: i64,
    daily_peaks: &[Option<u64>],
    cfg: &VerifyConfig,
) -> Check {
    let end = start_ms + 7 * DAY;
    let days: Vec<(f64, f64)> = daily_peaks
        .iter()
        .take(7)
        .enumerate()
        .filter_map(|(d, p)| p.map(|p| (d as f64 * 86_400.0, p as f64)))
        .collect();
    let shown: Vec<String> = daily_peaks
        .iter()
        .take(7)
        .map(|p| p.map_or("-".to_string(), |p| p.to_string()))
        .collect();
    let mut failures = Vec::new();
    let mut facts = vec![format!("daily peaks {}", shown.join(", "))];
    let complete = now_ms >= end;
    if days.len() >= 3 {
        if let Some(t) = Trend::fit(&days) {
            let mut sorted: Vec<f64> = days.iter().map(|d| d.1).collect();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            let climb = t.slope_per_hour * 24.0 * (days.len() - 1) as f64;
            let line = format!(
                "fitted climb {:+.0} over {} days ({} of the median peak {median:.0}, R² {:.2})",
                climb,
                days.len(),
                pct(growth(median, median + climb)),
                t.r_squared
            );
            if complete && t.r_squared >= 0.5 && climb > cfg.max_daily_climb * median {
                failures.push(format!("daily peaks climb: {line}"));
            } else {
                facts.push(line);
            }
        }
    }
    let judged = if days.len() >= 3 || !complete {
        days.len()
    } else {
        0
    };
    finish(
        "week one",
        format!(
            "daily peaks fluctuate, not climb (≤ {:.0}% over the week)",
            cfg.max_daily_climb * 100.0
        ),
        start_ms,
        end,
        now_ms,
        failures,
        facts,
        judged,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> VerifyConfig {
        VerifyConfig::default()
    }

    fn series(n: i64, every_ms: i64, f: impl Fn(i64) -> (u64, u64)) -> Vec<Point> {
        (0..n)
            .map(|i| {
                let (g, m) = f(i);
                Point {
                    ts_ms: i * every_ms,
                    goroutines: Some(g),
                    memory_bytes: Some(m),
                }
            })
            .collect()
    }

    const MB: u64 = 1 << 20;

    #[test]
    fn compare_passes_below_20_percent_after_an_hour() {
        let base = WindowAverages {
            ts_ms: 0,
            samples: 20,
            goroutines: 1000.0,
            memory_bytes: Some(500.0 * MB as f64),
        };
        let now = WindowAverages {
            ts_ms: HOUR,
            samples: 20,
            goroutines: 1190.0,
            memory_bytes: Some(550.0 * MB as f64),
        };
        let c = compare(&base, &now, &cfg());
        assert_eq!(c.status, Status::Pass, "{}", c.detail);
        assert!(
            c.detail
                .contains("goroutines 1000 → 1190 (+19.0%) after 1h"),
            "{}",
            c.detail
        );
        assert!(
            c.detail.contains("memory 500MB → 550MB (+10.0%)"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn compare_fails_on_goroutine_or_memory_growth() {
        let base = WindowAverages {
            ts_ms: 0,
            samples: 20,
            goroutines: 1000.0,
            memory_bytes: Some(500.0 * MB as f64),
        };
        let grown = WindowAverages {
            ts_ms: 2 * HOUR,
            samples: 20,
            goroutines: 1200.0,
            memory_bytes: Some(500.0 * MB as f64),
        };
        assert_eq!(compare(&base, &grown, &cfg()).status, Status::Fail);
        let mem = WindowAverages {
            goroutines: 1000.0,
            memory_bytes: Some(700.0 * MB as f64),
            ..grown
        };
        let c = compare(&base, &mem, &cfg());
        assert_eq!(c.status, Status::Fail, "{}", c.detail);
        assert!(c.detail.contains("(+40.0%)"), "{}", c.detail);
    }

    #[test]
    fn compare_is_pending_before_an_hour_and_no_data_without_samples() {
        let base = WindowAverages {
            ts_ms: 0,
            samples: 20,
            goroutines: 1000.0,
            memory_bytes: None,
        };
        let early = WindowAverages {
            ts_ms: 20 * MINUTE,
            samples: 20,
            goroutines: 5000.0,
            memory_bytes: None,
        };
        let c = compare(&base, &early, &cfg());
        assert_eq!(c.status, Status::Pending);
        assert!(c.detail.contains("run again in 40m"), "{}", c.detail);
        let none = WindowAverages {
            ts_ms: 2 * HOUR,
            samples: 0,
            ..early
        };
        assert_eq!(compare(&base, &none, &cfg()).status, Status::NoData);
    }

    #[test]
    fn first_30_minutes_rules() {
        let steady = series(60, 30_000, |_| (900, 300 * MB));
        assert_eq!(
            first_30_minutes(0, 31 * MINUTE, &steady, &cfg()).status,
            Status::Pass
        );
        // Pending while the window runs.
        let c = first_30_minutes(0, 10 * MINUTE, &steady[..20], &cfg());
        assert_eq!(c.status, Status::Pending);
        assert!(c.detail.starts_with("so far: peak 900"), "{}", c.detail);
        // Out of range: fails at once, even before the window ends.
        let mut high = steady.clone();
        high[10].goroutines = Some(3400);
        let c = first_30_minutes(0, 10 * MINUTE, &high, &cfg());
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.starts_with("peak 3400 at +5m ≥ 3000"),
            "{}",
            c.detail
        );
        // Memory climbing 300 → 420 MB.
        let climbing = series(60, 30_000, |i| (900, 300 * MB + i as u64 * 2 * MB));
        let c = first_30_minutes(0, 31 * MINUTE, &climbing, &cfg());
        assert_eq!(c.status, Status::Fail, "{}", c.detail);
        assert!(c.detail.contains("more than 20%"), "{}", c.detail);
        // No samples once the window is over.
        assert_eq!(
            first_30_minutes(0, HOUR, &[], &cfg()).status,
            Status::NoData
        );
    }

    #[test]
    fn two_hours_rules() {
        let calm = series(240, 30_000, |i| (1500 + (i % 5) as u64 * 40, 300 * MB));
        let c = two_hours(0, 2 * HOUR, &calm, &cfg());
        assert_eq!(c.status, Status::Pass, "{}", c.detail);
        assert!(c.detail.contains("largest swing 160"), "{}", c.detail);
        let mut peaked = calm.clone();
        peaked[100].goroutines = Some(3000);
        let c = two_hours(0, 2 * HOUR, &peaked, &cfg());
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.contains("peak 3000 at +50m ≥ 3000"),
            "{}",
            c.detail
        );
        // A swing of 1200 on a median of 1500 (limit 750) without crossing 3000.
        let mut swung = calm.clone();
        swung[50].goroutines = Some(2700);
        let c = two_hours(0, 2 * HOUR, &swung, &cfg());
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.contains("abnormal swing: largest swing"),
            "{}",
            c.detail
        );
        // A small service's jump under the floor is not abnormal.
        let mut small = series(240, 30_000, |_| (100, 10 * MB));
        small[5].goroutines = Some(400);
        assert_eq!(two_hours(0, 3 * HOUR, &small, &cfg()).status, Status::Pass);
        assert_eq!(
            two_hours(0, HOUR, &calm[..120], &cfg()).status,
            Status::Pending
        );
    }

    fn buckets(f: impl Fn(i64) -> (f64, Option<f64>)) -> Vec<(i64, f64, Option<f64>)> {
        (0..144)
            .map(|i| {
                let (g, m) = f(i);
                (i * 10 * MINUTE, g, m)
            })
            .collect()
    }

    #[test]
    fn day_one_rules() {
        let flat = buckets(|i| (1000.0 + ((i * 37) % 11) as f64 * 20.0, Some(4e8)));
        let c = day_one(0, DAY, &flat, &cfg());
        assert_eq!(c.status, Status::Pass, "{}", c.detail);
        assert!(c.detail.contains("goroutines stable"), "{}", c.detail);
        let leaking = buckets(|i| (1000.0 + i as f64 * 10.0, Some(4e8)));
        let c = day_one(0, DAY, &leaking, &cfg());
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail
                .starts_with("sustained growth: goroutines growing +60/h"),
            "{}",
            c.detail
        );
        // Memory from 400 MB to ~800 MB in a day, goroutines flat.
        let mem = buckets(|i| (1000.0, Some(4e8 + i as f64 * 3e6)));
        let c = day_one(0, DAY, &mem, &cfg());
        assert_eq!(c.status, Status::Fail, "{}", c.detail);
        assert!(c.detail.contains("memory growing"), "{}", c.detail);
        // Half a day in: pending, with the trend so far.
        let c = day_one(0, DAY / 2, &leaking[..72], &cfg());
        assert_eq!(c.status, Status::Pending);
        assert!(
            c.detail.contains("so far: goroutines growing"),
            "{}",
            c.detail
        );
        assert_eq!(day_one(0, 2 * DAY, &[], &cfg()).status, Status::NoData);
    }

    #[test]
    fn week_one_rules() {
        let fluctuating = [2100, 2600, 1900, 2500, 2000, 2700, 2200].map(Some);
        let c = week_one(0, 7 * DAY, &fluctuating, &cfg());
        assert_eq!(c.status, Status::Pass, "{}", c.detail);
        assert!(
            c.detail.starts_with("daily peaks 2100, 2600"),
            "{}",
            c.detail
        );
        let climbing = [1000, 1300, 1600, 1900, 2200, 2500, 2800].map(Some);
        let c = week_one(0, 7 * DAY, &climbing, &cfg());
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail
                .starts_with("daily peaks climb: fitted climb +1800 over 7 days"),
            "{}",
            c.detail
        );
        let c = week_one(0, 3 * DAY, &climbing[..3], &cfg());
        assert_eq!(c.status, Status::Pending);
        assert_eq!(
            week_one(0, 8 * DAY, &[Some(5), None, None], &cfg()).status,
            Status::NoData
        );
    }

    #[test]
    fn baselines_keep_the_guide_shape() {
        let samples: Vec<Sample> = (0..20)
            .map(|i| Sample {
                target: "one-api".into(),
                ts_ms: i * 30_000,
                up: true,
                error: None,
                latency_ms: 1.0,
                source: "health".into(),
                metrics: crate::Metrics {
                    goroutines: Some(1000 + i as u64 * 10),
                    alloc_bytes: Some(256 * MB),
                    total_alloc_bytes: Some(1024 * MB),
                    sys_bytes: Some(512 * MB),
                    num_gc: Some(45),
                    ..crate::Metrics::default()
                },
            })
            .collect();
        let b = Baseline::from_samples(
            "one-api",
            &samples,
            600_000,
            Duration::from_secs(600),
            "t".into(),
        )
        .unwrap();
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["status"], "ok");
        assert_eq!(json["goroutines"], 1190);
        assert_eq!(json["memory"]["alloc_mb"], 256);
        assert_eq!(json["memory"]["sys_mb"], 512);
        assert_eq!(json["memory"]["num_gc"], 45);
        assert_eq!(json["leakhound"]["goroutines_avg"], 1095.0);
        assert_eq!(json["leakhound"]["samples"], 20);
        // The guide's own file (curl > baseline.json) reads back too.
        let guide: Baseline = serde_json::from_str(
            r#"{"status":"ok","goroutines":1234,"memory":{"alloc_mb":256,"total_alloc_mb":1024,"sys_mb":512,"num_gc":45}}"#,
        )
        .unwrap();
        let a = guide.averages(42);
        assert_eq!((a.ts_ms, a.goroutines), (42, 1234.0));
        assert_eq!(a.memory_bytes, Some(512.0 * MB as f64));
    }

    #[test]
    fn exit_codes() {
        let check = |status| Check {
            name: "x",
            rule: String::new(),
            status,
            detail: String::new(),
            window_start_ms: 0,
            window_end_ms: 0,
        };
        assert_eq!(exit_code(&[check(Status::Pass), check(Status::Pending)]), 0);
        assert_eq!(exit_code(&[check(Status::Pass), check(Status::NoData)]), 2);
        assert_eq!(exit_code(&[check(Status::NoData), check(Status::Fail)]), 1);
    }
}
