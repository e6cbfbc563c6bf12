//! Is it growing? The trend rules' question, answered by significance instead of straightness.
//!
//! For each of a trend rule's windows (the last `short_window`, and the whole `window` when the
//! history spans more than the short one), the samples since the last restart are reduced to at
//! most [`MAX_FIT_POINTS`] time bins (the median of each), and Sen's slope is fitted with its
//! Mann–Kendall confidence interval, the variance corrected for autocorrelation (Hamed & Rao
//! 1998; see `docs/statistics.md`). A window shows growth when
//! 1. the **lower** confidence limit of the slope is at least `min_growth_per_hour` (and R² at
//!    least `min_r_squared`, when that optional gate is set);
//! 2. it is not a **step**: one jump between two flat levels (a deploy, a restart's warm-up)
//!    fits the points better than the line does;
//! 3. the growth is **sustained**: the medians of the window's thirds never fall and the last
//!    third is above the first by at least half of what the lower slope predicts — a sawtooth
//!    (batches, GC) or a daily wave that turned is not;
//! 4. for the short window, it makes a **new high**: the level of the last fifth of the window
//!    is above every one-minute level before the window (a sawtooth's next tooth is not).
//!
//! A **restart** (the value falls under 30 % of the median of the samples just before, from at
//! least 20) cuts the history: only samples from a minute after it are fitted.

use super::point::Observation;
use super::Metric;
use crate::trend::{median, sen_interval, Autocorrelation, SlopeInterval, Trend};

/// When the goroutine dumps show a leak, a lower confidence limit of this share of
/// `min_growth_per_hour` is enough: the dumps carry the evidence of *what* grows, the counts
/// only have to show that the growth is real. (A slow leak of 180/h in noise σ = 50 reaches
/// 30/h with confidence in about half the time it needs to reach 120/h.)
pub const VERIFIED_SHARE: f64 = 0.25;

/// At most this many time bins go into one fit: 60 points give 1770 pairwise slopes, and the
/// medians of bins of several samples are steadier than thinned samples.
pub const MAX_FIT_POINTS: usize = 60;
/// A value under this share of the recent median is a restart.
const RESET_RATIO: f64 = 0.3;
/// Samples within this long after a restart are its warm-up, not growth.
const RESET_GRACE_MS: i64 = 60_000;

/// One fitted window.
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    pub trend: Trend,
    pub interval: SlopeInterval,
    /// The guard that refused the growth, if one did.
    pub refused_by: Option<&'static str>,
    /// This window shows growth (all four conditions).
    pub growing: bool,
    /// This window shows growth of at least [`VERIFIED_SHARE`] of the minimum (all four
    /// conditions otherwise): enough when the goroutine dumps show a leak.
    pub rising: bool,
}

/// The parameters of one trend rule that judging needs.
#[derive(Debug, Clone, Copy)]
pub struct GrowthTest {
    pub metric: Metric,
    pub window_ms: i64,
    pub short_window_ms: i64,
    pub min_points: usize,
    pub min_growth_per_hour: f64,
    pub min_r_squared: f64,
    /// Standard-normal quantile of the two-sided interval whose lower limit is compared.
    pub z: f64,
}

/// The values of `metric` in `(start, end]` as (seconds since `start`, value).
fn series<O: Observation>(window: &[O], metric: Metric, start: i64, end: i64) -> Vec<(f64, f64)> {
    window
        .iter()
        .filter(|s| s.ts_ms() > start && s.ts_ms() <= end)
        .filter_map(|s| {
            s.value(metric)
                .map(|v| ((s.ts_ms() - start) as f64 / 1000.0, v as f64))
        })
        .collect()
}

/// The time of the last restart in the window (the first sample after it), if any.
pub fn last_reset<O: Observation>(window: &[O], metric: Metric) -> Option<i64> {
    let values: Vec<(i64, f64)> = window
        .iter()
        .filter_map(|s| s.value(metric).map(|v| (s.ts_ms(), v as f64)))
        .collect();
    let mut reset = None;
    let mut before = [0.0; 12];
    for i in 1..values.len() {
        let from = i.saturating_sub(before.len());
        for (b, p) in before.iter_mut().zip(&values[from..i]) {
            *b = p.1;
        }
        let m = median(&mut before[..i - from]);
        if m >= 20.0 && values[i].1 < RESET_RATIO * m {
            reset = Some(values[i].0);
        }
    }
    reset
}

/// Points reduced to at most `max` equal-time bins: (mean time, median value) of each.
pub fn binned(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || points.len() < 2 {
        return points.to_vec();
    }
    let t0 = points[0].0;
    let span = points[points.len() - 1].0 - t0;
    if span <= 0.0 {
        return points.to_vec();
    }
    let mut out = Vec::with_capacity(max);
    let mut i = 0;
    for b in 0..max {
        let end = t0 + span * (b + 1) as f64 / max as f64;
        let from = i;
        while i < points.len() && (points[i].0 <= end || b == max - 1) {
            i += 1;
        }
        if i > from {
            let chunk = &points[from..i];
            let t = chunk.iter().map(|p| p.0).sum::<f64>() / chunk.len() as f64;
            let mut v: Vec<f64> = chunk.iter().map(|p| p.1).collect();
            out.push((t, median(&mut v)));
        }
    }
    out
}

/// Residual sum of squares of the least-squares line through `points`.
fn line_rss(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mt = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mv = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut stt, mut stv, mut svv) = (0.0, 0.0, 0.0);
    for &(t, v) in points {
        stt += (t - mt) * (t - mt);
        stv += (t - mt) * (v - mv);
        svv += (v - mv) * (v - mv);
    }
    if stt > 0.0 {
        (svv - stv * stv / stt).max(0.0)
    } else {
        svv
    }
}

/// A step, not a climb: two flat levels fit better than the line, and the points after the
/// best split climb at less than a quarter of the window's slope (a leak that began mid-window
/// keeps climbing after the split; a deploy's new plateau does not).
fn is_step(points: &[(f64, f64)], slope_per_hour: f64) -> bool {
    let (rss, split) = step_fit(points);
    if rss >= line_rss(points) || points.len() - split < 4 {
        return false;
    }
    Trend::fit(&points[split..]).is_none_or(|t| t.slope_per_hour < 0.25 * slope_per_hour)
}

/// Residual sum of squares of the best split into two flat levels.
#[cfg(test)]
fn step_rss(points: &[(f64, f64)]) -> f64 {
    step_fit(points).0
}

/// The best split into two flat levels: its residual sum of squares and the first index of
/// the second level.
fn step_fit(points: &[(f64, f64)]) -> (f64, usize) {
    let n = points.len();
    let total: f64 = points.iter().map(|p| p.1).sum();
    let total_sq: f64 = points.iter().map(|p| p.1 * p.1).sum();
    let (mut sum, mut sq) = (0.0, 0.0);
    let mut best = (f64::INFINITY, n);
    for k in 1..n {
        sum += points[k - 1].1;
        sq += points[k - 1].1 * points[k - 1].1;
        if k < 2 || n - k < 2 {
            continue;
        }
        let left = sq - sum * sum / k as f64;
        let (rs, rq) = (total - sum, total_sq - sq);
        let right = rq - rs * rs / (n - k) as f64;
        if left + right < best.0 {
            best = (left + right, k);
        }
    }
    best
}

/// Medians of the thirds of `points` (by index).
fn thirds(points: &[(f64, f64)]) -> [f64; 3] {
    let n = points.len();
    let cut = |a: usize, b: usize| {
        let mut v: Vec<f64> = points[a..b].iter().map(|p| p.1).collect();
        median(&mut v)
    };
    [cut(0, n / 3), cut(n / 3, 2 * n / 3), cut(2 * n / 3, n)]
}

/// Judge one window `(end - span, end]`, from `from` on (after a restart). `prior`: one-minute
/// levels before the window (for the new-high test), empty to skip it.
fn judge_window(test: &GrowthTest, raw: &[(f64, f64)], span_ms: i64, prior: &[f64]) -> Option<Fit> {
    let points = binned(raw, MAX_FIT_POINTS);
    if points.len() < test.min_points.max(6) {
        return None;
    }
    let trend = Trend::fit(&points)?;
    // Half the short window at least: a fit over seconds says little about an hour.
    if trend.span_seconds * 1000.0 < 0.5 * test.short_window_ms.min(span_ms) as f64 {
        return None;
    }
    // Hamed–Rao can also *shrink* the variance (n/n* < 1, e.g. on periodic data): for alerting
    // that would be overconfident, so the correction only ever widens the interval.
    let interval = match sen_interval(&points, test.z, Autocorrelation::HamedRao)? {
        i if i.correction < 1.0 => sen_interval(&points, test.z, Autocorrelation::None)?,
        i => i,
    };
    let mut refused_by = None;
    let rising = interval.lower_per_hour >= VERIFIED_SHARE * test.min_growth_per_hour
        && trend.r_squared >= test.min_r_squared;
    if rising {
        let [m1, m2, m3] = thirds(&points);
        // What the growth predicts between the first and the last third, and the bins' noise.
        let expected = interval.lower_per_hour / 3600.0 * trend.span_seconds * 2.0 / 3.0;
        let tol = 0.25 * expected;
        if is_step(&points, trend.slope_per_hour) {
            refused_by = Some("step");
        } else if m2 < m1 - tol || m3 < m2 - tol || m3 - m1 < 0.5 * expected {
            refused_by = Some("not sustained");
        } else if !prior.is_empty() {
            let tail_start = raw.len() - (raw.len() / 5).max(1);
            let mut tail: Vec<f64> = raw[tail_start..].iter().map(|p| p.1).collect();
            let level = median(&mut tail);
            let high = prior.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            // Above the old highs by half of what the lower slope adds over the window: a
            // sawtooth's next tooth reaches the old tops, not beyond.
            let margin = 0.5 * interval.lower_per_hour / 3600.0 * (span_ms as f64 / 1000.0);
            if level <= high + margin {
                refused_by = Some("no new high");
            }
        }
    }
    Some(Fit {
        trend,
        interval,
        refused_by,
        rising: rising && refused_by.is_none(),
        growing: rising
            && refused_by.is_none()
            && interval.lower_per_hour >= test.min_growth_per_hour,
    })
}

/// Both windows of a trend rule at `end`: the whole window (when the usable history spans more
/// than the short window) and the short one. Empty when there is too little history.
pub fn judge<O: Observation>(test: &GrowthTest, window: &[O], end: i64) -> Vec<Fit> {
    let reset = last_reset(window, test.metric).map(|t| t + RESET_GRACE_MS);
    let from = |span: i64| end.saturating_sub(span).max(reset.unwrap_or(i64::MIN));
    let long_from = from(test.window_ms);
    let usable = end - long_from;
    let mut fits = Vec::new();
    // The windows, longest first: the whole window, then ×3 steps down to the short one
    // (60m, 45m, 15m, 5m by default), each only when the history spans more than the next.
    let mut spans = vec![test.short_window_ms];
    while let Some(&last) = spans.last() {
        let next = last.saturating_mul(3);
        if next >= test.window_ms || next <= last {
            break;
        }
        spans.push(next);
    }
    if test.window_ms > test.short_window_ms {
        spans.push(test.window_ms);
    }
    spans.reverse();
    for (i, &span) in spans.iter().enumerate() {
        let shorter = spans.get(i + 1).copied();
        if let Some(shorter) = shorter {
            if usable <= shorter + shorter / 2 {
                continue; // the same data as the next, shorter window
            }
        }
        let start = from(span);
        let raw = series(window, test.metric, start, end);
        // Levels per minute between the long window's start and this one's: for the new-high
        // test (the longest window has none).
        let before = series(window, test.metric, long_from, start);
        let minutes = ((start - long_from) / 60_000).max(0) as usize;
        let prior: Vec<f64> = if minutes >= 1 {
            binned(&before, minutes).into_iter().map(|p| p.1).collect()
        } else {
            Vec::new()
        };
        if let Some(f) = judge_window(test, &raw, span, &prior) {
            fits.push(f);
        }
    }
    fits
}

/// The standard-normal quantile for probability `p` (Acklam's rational approximation, relative
/// error < 1.2e-9): `confidence` → z.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The selection gives what sorting gave, odd and even lengths, ties and all.
    #[test]
    fn the_median_is_the_sorted_middle() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 1..40 {
            for _ in 0..50 {
                let mut v: Vec<f64> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x % 20) as f64
                    })
                    .collect();
                let mut sorted = v.clone();
                sorted.sort_by(f64::total_cmp);
                let want = if len % 2 == 0 {
                    (sorted[len / 2 - 1] + sorted[len / 2]) / 2.0
                } else {
                    sorted[len / 2]
                };
                assert_eq!(median(&mut v), want, "{sorted:?}");
            }
        }
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.999) - 3.090_232_306).abs() < 1e-8);
        assert!((normal_quantile(0.001) + 3.090_232_306).abs() < 1e-8);
    }

    #[test]
    fn bins_keep_medians() {
        let pts: Vec<(f64, f64)> = (0..120).map(|i| (i as f64, (i % 3) as f64)).collect();
        let b = binned(&pts, 40);
        assert_eq!(b.len(), 40);
        assert!(b.iter().all(|p| p.1 == 1.0));
    }

    #[test]
    fn a_step_fits_two_levels_better_than_a_line() {
        let step: Vec<(f64, f64)> = (0..40)
            .map(|i| {
                (
                    i as f64,
                    if i < 20 { 100.0 } else { 300.0 } + (i % 2) as f64,
                )
            })
            .collect();
        assert!(step_rss(&step) < line_rss(&step));
        let line: Vec<(f64, f64)> = (0..40).map(|i| (i as f64, 10.0 * i as f64)).collect();
        assert!(step_rss(&line) > line_rss(&line));
    }
}
