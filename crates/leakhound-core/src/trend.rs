//! "Is it stable or growing?" answered with numbers (GUIDE §7: "what matters is that it is
//! stable, not that it keeps growing").

use serde::Serialize;

/// A robust straight-line fit of a series: the Theil–Sen slope (median of pairwise slopes,
/// insensitive to spikes), plus the least-squares R² as a measure of how straight the climb is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trend {
    /// Change per hour in the series' unit (goroutines/h, bytes/h).
    pub slope_per_hour: f64,
    /// Coefficient of determination of the least-squares line, 0..=1.
    pub r_squared: f64,
    pub points: usize,
    /// Seconds between the first and the last point.
    pub span_seconds: f64,
    pub first: f64,
    pub last: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

/// The verdict a human reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Stable,
    Growing,
    Falling,
    /// Too few points to say.
    Unknown,
}

/// At most this many points go into the quadratic Theil–Sen estimator; longer series are
/// thinned evenly first.
const MAX_THEIL_SEN_POINTS: usize = 400;

impl Trend {
    /// Fit `(seconds, value)` points (any time origin). `None` with fewer than 2 points or no
    /// time span.
    pub fn fit(points: &[(f64, f64)]) -> Option<Trend> {
        if points.len() < 2 {
            return None;
        }
        let step = points.len().div_ceil(MAX_THEIL_SEN_POINTS);
        let thinned: Vec<(f64, f64)> = points.iter().step_by(step.max(1)).copied().collect();
        let mut slopes = Vec::with_capacity(thinned.len() * (thinned.len() - 1) / 2);
        for (i, a) in thinned.iter().enumerate() {
            for b in &thinned[i + 1..] {
                let dt = b.0 - a.0;
                if dt.abs() > f64::EPSILON {
                    slopes.push((b.1 - a.1) / dt);
                }
            }
        }
        if slopes.is_empty() {
            return None;
        }
        let slope = median(&mut slopes);

        let n = points.len() as f64;
        let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_v = points.iter().map(|p| p.1).sum::<f64>() / n;
        let (mut stt, mut stv, mut svv) = (0.0, 0.0, 0.0);
        for &(t, v) in points {
            stt += (t - mean_t) * (t - mean_t);
            stv += (t - mean_t) * (v - mean_v);
            svv += (v - mean_v) * (v - mean_v);
        }
        let r_squared = if stt > 0.0 && svv > 0.0 {
            (stv * stv) / (stt * svv)
        } else {
            0.0
        };
        let (min, max) = points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.1), hi.max(p.1))
            });
        Some(Trend {
            slope_per_hour: slope * 3600.0,
            r_squared,
            points: points.len(),
            span_seconds: points[points.len() - 1].0 - points[0].0,
            first: points[0].1,
            last: points[points.len() - 1].1,
            min,
            max,
            mean: mean_v,
        })
    }

    /// Growing when the robust slope adds at least `min_growth_per_hour`, the line explains at
    /// least half the variance, and the change over the window is at least 5 % of the mean
    /// (a small wobble over a short window is not growth); falling likewise; stable otherwise.
    pub fn verdict(&self, min_growth_per_hour: f64) -> Verdict {
        let change = (self.slope_per_hour / 3600.0 * self.span_seconds).abs();
        if self.points < 3 {
            Verdict::Unknown
        } else if self.r_squared < 0.5
            || self.slope_per_hour.abs() < min_growth_per_hour
            || change < 0.05 * self.mean.abs()
        {
            Verdict::Stable
        } else if self.slope_per_hour > 0.0 {
            Verdict::Growing
        } else {
            Verdict::Falling
        }
    }

    /// One line such as `growing +1240/h (R² 0.98, 120 points)` or `stable (±3/h, 60 points)`.
    pub fn describe(&self, min_growth_per_hour: f64) -> String {
        match self.verdict(min_growth_per_hour) {
            Verdict::Unknown => format!("unknown (only {} points)", self.points),
            Verdict::Stable => format!(
                "stable ({:+.0}/h, R² {:.2}, {} points)",
                self.slope_per_hour, self.r_squared, self.points
            ),
            Verdict::Growing | Verdict::Falling => format!(
                "{} {:+.0}/h (R² {:.2}, {} points)",
                if self.slope_per_hour > 0.0 {
                    "growing"
                } else {
                    "falling"
                },
                self.slope_per_hour,
                self.r_squared,
                self.points
            ),
        }
    }
}

/// Sen's slope with its Mann–Kendall rank-based confidence interval.
///
/// Built by [`sen_interval`]; docs/statistics.md has the formulas and their sources. The limits
/// answer "how fast is this growing, at least": with `z_crit` 1.96, `lower_per_hour` is a
/// one-sided 97.5 % lower bound of the trend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlopeInterval {
    /// Sen's slope: the median of the pairwise slopes, per hour.
    pub slope_per_hour: f64,
    /// Lower confidence limit of the slope, per hour.
    pub lower_per_hour: f64,
    /// Upper confidence limit of the slope, per hour.
    pub upper_per_hour: f64,
    /// Mann–Kendall S: concordant minus discordant pairs in time order.
    pub s: f64,
    /// Var(S) used for `z` and the limits: tie-corrected, times [`SlopeInterval::correction`].
    pub var_s: f64,
    /// Mann–Kendall Z, continuity-corrected, with [`SlopeInterval::var_s`].
    pub z: f64,
    /// Hamed–Rao n/n* factor applied to Var(S); 1.0 = none.
    pub correction: f64,
    /// Points used (finite time and value).
    pub points: usize,
}

/// How the variance of S accounts for serial correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Autocorrelation {
    /// Independent samples: the plain (tie-corrected) Kendall variance.
    None,
    /// Hamed & Rao (1998): Var(S) times n/n*, from the significant lags of the autocorrelation of
    /// the ranks of the Sen-detrended series. Lags are counted in samples, so this assumes evenly
    /// spaced points. Where n/n* comes out ≤ 0 no correction is applied.
    HamedRao,
}

/// Sen's (1968) slope of `points` with Gilbert's (1987, §16.5.1) Mann–Kendall confidence interval,
/// the interval widened (or narrowed) by the Hamed–Rao (1998) factor when `autocorrelation` asks.
///
/// `points` are (seconds, value), time-ordered (any origin, uneven spacing allowed; equal times
/// allowed but such pairs give no slope). Points with a non-finite time or value are skipped, as
/// pymannkendall skips missing values; unordered input is sorted by time first.
///
/// `z_crit`: the standard-normal quantile for the interval (1.96 → two-sided 95 %; the lower
/// limit alone is then a one-sided 97.5 % bound). Its absolute value is used.
///
/// None with fewer than 3 points or no pair with distinct times.
///
/// Definitions (docs/statistics.md has the sources and the checks against scipy and
/// pymannkendall):
/// - S = Σ_{i<j} sign(t_j − t_i)·sign(x_j − x_i); pairs with equal times count 0.
/// - Var(S) = [n(n−1)(2n+5) − Σ_v v(v−1)(2v+5)]/18 over the groups of v equal values (Kendall 1975;
///   Gilbert 1987 §16.4). With equal times, Kendall's full expression with both kinds of tie groups
///   is used; it reduces to this one when all times are distinct.
/// - Z = (S−1)/√Var if S > 0, (S+1)/√Var if S < 0, else 0.
/// - The slope is the median of the N' slopes (x_j − x_i)/(t_j − t_i) over pairs with t_j ≠ t_i.
/// - C = |z_crit|·√Var(S) with the corrected variance; the lower limit is the slope of 1-based rank
///   (N' − C)/2, the upper one of rank (N' + C)/2 + 1, ranks clamped to [1, N'], and a fractional
///   rank r interpolates linearly, a + (r − ⌊r⌋)(b − a), between the slopes a and b of ranks ⌊r⌋
///   and ⌊r⌋ + 1. (scipy.stats.theilslopes rounds the rank to the nearest instead; the
///   interpolation keeps the limits continuous in `z_crit` and in Var(S).)
/// - Hamed–Rao: as pymannkendall's `hamed_rao_modification_test` (all lags 1..n−1, rank ACF
///   with the 1/n autocovariance, lags with |ρ_k| > 1.959964/√n kept, no floor at 1), except that
///   it detrends by time rather than by sample number, ranks values that only rounding separates
///   as tied, and falls back to 1.0 where n/n* comes out ≤ 0 (pymannkendall then returns NaN).
///
/// O(n²) time and the N' slopes in memory: thin long series first (≤ ~400 points).
pub fn sen_interval(
    points: &[(f64, f64)],
    z_crit: f64,
    autocorrelation: Autocorrelation,
) -> Option<SlopeInterval> {
    sen_interval_with(points, z_crit, autocorrelation, RankRule::Interpolate)
}

/// How a fractional rank picks an order statistic of the slopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RankRule {
    /// Linear interpolation between the neighbouring order statistics (what `sen_interval` does).
    Interpolate,
    /// Round M1 and M2 half-to-even to whole ranks, as scipy.stats.theilslopes does (used by the
    /// tests to compare with scipy exactly).
    #[cfg_attr(not(test), allow(dead_code))]
    RoundHalfEven,
}

/// The two-sided 5 % point of the standard normal, `scipy.stats.norm.ppf(0.975)`: the lag
/// significance threshold pymannkendall uses in the Hamed–Rao correction.
const Z_975: f64 = 1.959_963_984_540_054;

fn sen_interval_with(
    points: &[(f64, f64)],
    z_crit: f64,
    autocorrelation: Autocorrelation,
    rule: RankRule,
) -> Option<SlopeInterval> {
    let mut pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(t, x)| t.is_finite() && x.is_finite())
        .collect();
    if !pts.is_sorted_by(|a, b| a.0 <= b.0) {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let n = pts.len();
    if n < 3 {
        return None;
    }

    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    let mut s: i64 = 0;
    for (i, a) in pts.iter().enumerate() {
        for b in &pts[i + 1..] {
            let dt = b.0 - a.0;
            if dt > 0.0 {
                let dx = b.1 - a.1;
                slopes.push(dx / dt);
                s += if dx > 0.0 {
                    1
                } else if dx < 0.0 {
                    -1
                } else {
                    0
                };
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    // Only a few order statistics of the N' slopes are needed (the median and the interval's
    // two ranks): selections, not a sort of all of them (sorting them was the largest part of
    // the agent's own code in a 1000-target profile, BENCHMARKS.md).
    let pairs = slopes.len();
    let mid = pairs / 2;
    let slope = median(&mut slopes);

    let plain_var = kendall_variance(&pts);
    let correction = match autocorrelation {
        Autocorrelation::None => 1.0,
        Autocorrelation::HamedRao => {
            // pymannkendall lets a non-positive n/n* through (negative variance, NaN Z); an
            // estimate that broke down is no reason to trust the data more: no correction.
            let factor = hamed_rao_factor(&pts, slope);
            if factor > 0.0 && factor.is_finite() {
                factor
            } else {
                1.0
            }
        }
    };
    let var_s = plain_var * correction;
    let s = s as f64;
    let z = if var_s > 0.0 && s > 0.0 {
        (s - 1.0) / var_s.sqrt()
    } else if var_s > 0.0 && s < 0.0 {
        (s + 1.0) / var_s.sqrt()
    } else {
        0.0
    };

    let c = z_crit.abs() * var_s.max(0.0).sqrt();
    let n_pairs = pairs as f64;
    let (lower_rank, upper_rank) = match rule {
        RankRule::Interpolate => ((n_pairs - c) / 2.0, (n_pairs + c) / 2.0 + 1.0),
        RankRule::RoundHalfEven => (
            ((n_pairs - c) / 2.0).round_ties_even(),
            ((n_pairs + c) / 2.0).round_ties_even() + 1.0,
        ),
    };
    Some(SlopeInterval {
        slope_per_hour: slope * 3600.0,
        lower_per_hour: around_median(&mut slopes, mid, lower_rank) * 3600.0,
        upper_per_hour: around_median(&mut slopes, mid, upper_rank) * 3600.0,
        s,
        var_s,
        z,
        correction,
        points: n,
    })
}

/// The median of `values` (of the two middle ones, their mean; NaN when empty) by selection,
/// linear rather than a sort's n log n: the fits run it on every window. Reorders `values`,
/// leaving the `len / 2`-th (0-based) in its sorted place.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mid = values.len() / 2;
    let even = values.len().is_multiple_of(2);
    let (below, &mut upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    if even {
        let lower = below
            .iter()
            .copied()
            .max_by(f64::total_cmp)
            .unwrap_or(upper);
        (lower + upper) / 2.0
    } else {
        upper
    }
}

/// [`order_statistic`] of `values` whose `mid`-th (0-based) is already selected (nothing
/// before it is larger, nothing after it smaller): a rank that needs only one side is selected
/// within that side, half the work.
fn around_median(values: &mut [f64], mid: usize, rank: f64) -> f64 {
    // The 1-based ranks the value is read from are floor(rank) and floor(rank) + 1 (a NaN rank
    // gives NaN either way).
    let r = rank.clamp(1.0, values.len() as f64).floor();
    if (r as usize) <= mid {
        // Both ranks are among the mid + 1 smallest.
        order_statistic(&mut values[..=mid], rank)
    } else {
        // Both are at or after the median.
        order_statistic(&mut values[mid..], rank - mid as f64)
    }
}

/// The value of 1-based, possibly fractional `rank` among the non-empty `values` in ascending
/// order (reorders them): rank clamped to [1, len], linear interpolation between neighbours.
/// NaN for a NaN rank.
fn order_statistic(values: &mut [f64], rank: f64) -> f64 {
    if rank.is_nan() {
        return f64::NAN;
    }
    let len = values.len();
    let rank = rank.clamp(1.0, len as f64);
    let whole = rank.floor();
    let frac = rank - whole;
    // `whole` is in 1..=len, so the index is in bounds.
    let k = whole as usize;
    let (_, &mut a, above) = values.select_nth_unstable_by(k - 1, f64::total_cmp);
    if frac == 0.0 || k == len {
        return a;
    }
    // The next in order: the smallest of those after the selected one.
    let b = above.iter().copied().min_by(f64::total_cmp).unwrap_or(a);
    if a == b {
        a
    } else {
        a + frac * (b - a)
    }
}

/// Var(S) under the null hypothesis, corrected for ties (Kendall 1975): ties of values always,
/// ties of times (several points at one time, whose pairs count 0 in S) when there are any.
/// `pts` are sorted by time.
fn kendall_variance(pts: &[(f64, f64)]) -> f64 {
    let n = pts.len() as u64;
    let mut values: Vec<f64> = pts.iter().map(|p| p.1).collect();
    values.sort_unstable_by(f64::total_cmp);
    let value_ties = tie_sums(values.chunk_by(|a, b| a == b).map(<[f64]>::len));
    let time_ties = tie_sums(pts.chunk_by(|a, b| a.0 == b.0).map(<[(f64, f64)]>::len));

    // In f64: with every value tied and some times tied the first term goes negative (the cross
    // terms bring the total back to 0). Integers this size are exact in f64.
    let base = (n * (n - 1) * (2 * n + 5)) as f64;
    let mut var = (base - value_ties.cubic as f64 - time_ties.cubic as f64) / 18.0;
    if time_ties.pairs > 0 && value_ties.pairs > 0 {
        let nf = n as f64;
        var += (value_ties.triples as f64 * time_ties.triples as f64)
            / (9.0 * nf * (nf - 1.0) * (nf - 2.0))
            + (value_ties.pairs as f64 * time_ties.pairs as f64) / (2.0 * nf * (nf - 1.0));
    }
    var
}

/// Σ g(g−1)(2g+5), Σ g(g−1)(g−2) and Σ g(g−1) over tie groups of size g.
struct TieSums {
    cubic: u64,
    triples: u64,
    pairs: u64,
}

fn tie_sums(groups: impl Iterator<Item = usize>) -> TieSums {
    let mut sums = TieSums {
        cubic: 0,
        triples: 0,
        pairs: 0,
    };
    for g in groups.filter(|&g| g > 1) {
        let g = g as u64;
        sums.cubic += g * (g - 1) * (2 * g + 5);
        sums.triples += g * (g - 1) * (g - 2);
        sums.pairs += g * (g - 1);
    }
    sums
}

/// Hamed & Rao's (1998) n/n* for time-sorted `pts` detrended with `slope` (per second). Can be
/// ≤ 0 when strongly negative lags dominate; the caller decides what to do then.
fn hamed_rao_factor(pts: &[(f64, f64)], slope: f64) -> f64 {
    let n = pts.len();
    let t0 = pts[0].0;
    let trend: Vec<f64> = pts.iter().map(|p| slope * (p.0 - t0)).collect();
    let values: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let ranks = tolerant_ranks(&values, &trend);

    let nf = n as f64;
    let mean = ranks.iter().sum::<f64>() / nf;
    let y: Vec<f64> = ranks.iter().map(|r| r - mean).collect();
    let acov0 = y.iter().map(|v| v * v).sum::<f64>() / nf;
    if acov0 <= 0.0 {
        // Every detrended value tied (a perfect line): no serial structure to correct for.
        return 1.0;
    }
    let bound = Z_975 / nf.sqrt();
    let mut total = 0.0;
    // Lags n−2 and n−1 have weight (n−k)(n−k−1)(n−k−2) = 0.
    for k in 1..n.saturating_sub(2) {
        let acov: f64 = y[..n - k]
            .iter()
            .zip(&y[k..])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / nf;
        let rho = acov / acov0;
        if rho.abs() > bound {
            total += ((n - k) * (n - k - 1) * (n - k - 2)) as f64 * rho;
        }
    }
    1.0 + (2.0 / (nf * (nf - 1.0) * (nf - 2.0))) * total
}

/// Average 1-based ranks of `values[i] − trend[i]`. Differences within 1e-9 of the largest |value|
/// or |trend| count as ties: whole-number counts detrended with a rational slope are often tied
/// on paper but one rounding apart in floating point (15 − 1.2·4 vs 21 − 1.2·9).
fn tolerant_ranks(values: &[f64], trend: &[f64]) -> Vec<f64> {
    let detrended: Vec<f64> = values.iter().zip(trend).map(|(x, t)| x - t).collect();
    let scale = values
        .iter()
        .zip(trend)
        .fold(0.0_f64, |m, (x, t)| m.max(x.abs()).max(t.abs()));
    let tol = 1e-9 * scale;
    let mut order: Vec<usize> = (0..detrended.len()).collect();
    order.sort_by(|&a, &b| detrended[a].total_cmp(&detrended[b]));
    let mut ranks = vec![0.0; detrended.len()];
    let mut start = 0;
    for k in 1..=order.len() {
        if k == order.len() || detrended[order[k]] - detrended[order[k - 1]] > tol {
            let rank = (start + 1 + k) as f64 / 2.0;
            for &i in &order[start..k] {
                ranks[i] = rank;
            }
            start = k;
        }
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Order statistics by selection equal those read from the sorted slopes, whole and
    /// fractional ranks, ties, the clamped ends.
    #[test]
    fn order_statistics_by_selection_match_the_sorted_values() {
        let sorted_stat = |sorted: &[f64], rank: f64| {
            let rank = rank.clamp(1.0, sorted.len() as f64);
            let k = rank.floor() as usize;
            let frac = rank - rank.floor();
            let a = sorted[k - 1];
            if frac == 0.0 || k == sorted.len() || a == sorted[k] {
                a
            } else {
                a + frac * (sorted[k] - a)
            }
        };
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in 1..60 {
            let values: Vec<f64> = (0..len).map(|_| (next() % 25) as f64 / 4.0).collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            for r in [
                -3.0,
                0.0,
                1.0,
                1.5,
                len as f64 / 3.7,
                len as f64 - 0.25,
                len as f64 + 2.0,
            ] {
                let mut v = values.clone();
                assert_eq!(
                    order_statistic(&mut v, r),
                    sorted_stat(&sorted, r),
                    "{sorted:?} rank {r}"
                );
            }
        }
        assert!(order_statistic(&mut [1.0, 2.0], f64::NAN).is_nan());
        // Within one side of an already selected median: the same values.
        for len in 1..60 {
            let values: Vec<f64> = (0..len).map(|_| (next() % 25) as f64 / 4.0).collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let mid = len / 2;
            for step in 0..=4 * len + 8 {
                let r = step as f64 / 4.0 - 1.0;
                let mut v = values.clone();
                v.select_nth_unstable_by(mid, f64::total_cmp);
                assert_eq!(
                    around_median(&mut v, mid, r),
                    sorted_stat(&sorted, r),
                    "{sorted:?} rank {r}"
                );
            }
        }
    }

    #[test]
    fn linear_growth_is_growing() {
        let pts: Vec<(f64, f64)> = (0..60)
            .map(|i| (i as f64 * 60.0, 100.0 + i as f64 * 10.0))
            .collect();
        let t = Trend::fit(&pts).unwrap();
        assert!((t.slope_per_hour - 600.0).abs() < 1e-6);
        assert!(t.r_squared > 0.99);
        assert_eq!(t.verdict(50.0), Verdict::Growing);
        assert!(t.describe(50.0).starts_with("growing +600/h"));
    }

    #[test]
    fn noisy_flat_series_is_stable() {
        // A deterministic saw-tooth around 1000: big swings, no trend.
        let pts: Vec<(f64, f64)> = (0..200)
            .map(|i| {
                (
                    i as f64 * 30.0,
                    1000.0 + ((i * 37) % 11) as f64 * 40.0 - 200.0,
                )
            })
            .collect();
        let t = Trend::fit(&pts).unwrap();
        assert_eq!(t.verdict(50.0), Verdict::Stable, "{t:?}");
    }

    #[test]
    fn a_spike_does_not_make_growth() {
        let mut pts: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, 500.0)).collect();
        pts[49].1 = 50_000.0;
        let t = Trend::fit(&pts).unwrap();
        assert_eq!(t.slope_per_hour, 0.0);
        assert_eq!(t.verdict(1.0), Verdict::Stable);
    }

    #[test]
    fn a_small_wobble_over_a_short_window_is_stable() {
        let pts: Vec<(f64, f64)> = (0..6).map(|i| (i as f64, 450.0 + i as f64 * 3.0)).collect();
        let t = Trend::fit(&pts).unwrap();
        assert!(t.slope_per_hour > 10_000.0);
        assert_eq!(t.verdict(100.0), Verdict::Stable);
    }

    #[test]
    fn too_few_points() {
        assert!(Trend::fit(&[(0.0, 1.0)]).is_none());
        assert!(Trend::fit(&[(5.0, 1.0), (5.0, 2.0)]).is_none());
        let t = Trend::fit(&[(0.0, 1.0), (1.0, 2.0)]).unwrap();
        assert_eq!(t.verdict(0.0), Verdict::Unknown);
    }
}

#[cfg(test)]
mod sen_tests {
    use super::*;
    use serde_json::Value;

    /// Written by scripts/stats/reference.py from scipy.stats.theilslopes and pymannkendall.
    const REFERENCE: &str = include_str!("testdata/sen_reference.json");

    fn num(v: &Value, key: &str) -> f64 {
        v[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing or not a number"))
    }

    fn nums(v: &Value, key: &str) -> Vec<f64> {
        v[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} missing"))
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    fn points(case: &Value) -> Vec<(f64, f64)> {
        nums(case, "t").into_iter().zip(nums(case, "x")).collect()
    }

    fn cases() -> (f64, Vec<Value>) {
        let doc: Value = serde_json::from_str(REFERENCE).unwrap();
        let cases = doc["cases"].as_array().unwrap().clone();
        assert!(cases.len() >= 6, "reference has {} cases", cases.len());
        (num(&doc, "z_crit"), cases)
    }

    /// Relative difference, with an absolute floor so that 0 vs 1e-17 does not count.
    fn rel_diff(got: f64, want: f64) -> f64 {
        let diff = (got - want).abs();
        if diff <= 1e-12 {
            0.0
        } else {
            diff / got.abs().max(want.abs())
        }
    }

    /// Compare and remember the largest difference per quantity (printed with --nocapture).
    struct Comparer {
        tolerance: f64,
        worst: Vec<(String, f64)>,
        failures: Vec<String>,
    }

    impl Comparer {
        fn new(tolerance: f64) -> Self {
            Comparer {
                tolerance,
                worst: Vec::new(),
                failures: Vec::new(),
            }
        }

        fn check(&mut self, case: &str, what: &str, got: f64, want: f64) {
            let d = rel_diff(got, want);
            match self.worst.iter_mut().find(|(w, _)| w == what) {
                Some((_, worst)) => *worst = worst.max(d),
                None => self.worst.push((what.to_string(), d)),
            }
            // NaN (a NaN on one side only) fails too.
            if d.is_nan() || d > self.tolerance {
                self.failures
                    .push(format!("{case}: {what} = {got:e}, reference {want:e}"));
            }
        }

        fn finish(self) {
            for (what, d) in &self.worst {
                println!("max relative difference {what}: {d:e}");
            }
            assert!(self.failures.is_empty(), "{:#?}", self.failures);
        }
    }

    #[test]
    fn sen_interval_matches_scipy_and_pymannkendall_reference() {
        let (z_crit, cases) = cases();
        let mut cmp = Comparer::new(1e-9);
        for case in &cases {
            let name = case["name"].as_str().unwrap();
            let pts = points(case);
            let plain = sen_interval(&pts, z_crit, Autocorrelation::None).unwrap();
            assert_eq!(plain.points, num(case, "n") as usize, "{name}");
            assert_eq!(plain.correction, 1.0, "{name}");
            cmp.check(name, "s", plain.s, num(case, "s"));
            cmp.check(name, "var_s", plain.var_s, num(case, "var_s"));
            cmp.check(name, "z", plain.z, num(case, "z"));
            cmp.check(
                name,
                "slope",
                plain.slope_per_hour,
                num(case, "slope_per_hour"),
            );
            cmp.check(
                name,
                "lower",
                plain.lower_per_hour,
                num(case, "lower_per_hour"),
            );
            cmp.check(
                name,
                "upper",
                plain.upper_per_hour,
                num(case, "upper_per_hour"),
            );

            let hr = sen_interval(&pts, z_crit, Autocorrelation::HamedRao).unwrap();
            cmp.check(name, "hr s", hr.s, num(case, "s"));
            cmp.check(
                name,
                "hr slope",
                hr.slope_per_hour,
                num(case, "slope_per_hour"),
            );
            cmp.check(name, "hr var_s", hr.var_s, num(case, "hr_var_s"));
            cmp.check(name, "hr z", hr.z, num(case, "hr_z"));
            cmp.check(
                name,
                "hr correction",
                hr.correction,
                num(case, "hr_correction"),
            );
            cmp.check(
                name,
                "hr lower",
                hr.lower_per_hour,
                num(case, "hr_lower_per_hour"),
            );
            cmp.check(
                name,
                "hr upper",
                hr.upper_per_hour,
                num(case, "hr_upper_per_hour"),
            );
        }
        cmp.finish();
    }

    #[test]
    fn sen_interval_with_rounded_ranks_is_scipy_theilslopes() {
        // scipy rounds M1 and M2 to whole ranks; everything else is the same computation.
        let (z_crit, cases) = cases();
        let mut cmp = Comparer::new(1e-9);
        for case in &cases {
            let name = case["name"].as_str().unwrap();
            let got = sen_interval_with(
                &points(case),
                z_crit,
                Autocorrelation::None,
                RankRule::RoundHalfEven,
            )
            .unwrap();
            cmp.check(
                name,
                "scipy slope",
                got.slope_per_hour,
                num(case, "slope_per_hour"),
            );
            cmp.check(
                name,
                "scipy lower",
                got.lower_per_hour,
                num(case, "scipy_lower_per_hour"),
            );
            cmp.check(
                name,
                "scipy upper",
                got.upper_per_hour,
                num(case, "scipy_upper_per_hour"),
            );
        }
        cmp.finish();
    }

    #[test]
    fn sen_interval_reproduces_pymannkendall_published_example() {
        // pyMannKendall's own test suite: its rainfall series with 7 missing months.
        let (z_crit, cases) = cases();
        let case = cases
            .iter()
            .find(|c| c["name"] == "pymannkendall_bogra_rainfall")
            .unwrap();
        let published = &case["published"];
        let got = sen_interval(&points(case), z_crit, Autocorrelation::None).unwrap();
        assert_eq!(got.points, 353);
        assert_eq!(got.s, num(published, "s"));
        assert!(
            rel_diff(got.var_s, num(published, "var_s")) < 1e-12,
            "{got:?}"
        );
        assert!(rel_diff(got.z, num(published, "z")) < 1e-12, "{got:?}");
        // One month per hour of t, so the slope per hour is pymannkendall's slope per month.
        assert!(rel_diff(got.slope_per_hour, num(published, "slope_per_month")) < 1e-12);
        // pymannkendall's published Hamed–Rao variance (259723.8) detrends by position after
        // dropping the missing months; detrending by the real month moves it by under 1 %.
        let hr = sen_interval(&points(case), z_crit, Autocorrelation::HamedRao).unwrap();
        let published_hr = num(published, "hr_var_s");
        assert!(rel_diff(hr.var_s, published_hr) < 0.01, "{hr:?}");
        assert!(
            hr.correction < 0.06,
            "the seasonal cycle shrinks Var(S): {hr:?}"
        );
    }

    #[test]
    fn sen_interval_of_a_perfect_line_has_no_width() {
        let pts: Vec<(f64, f64)> = (0..40)
            .map(|i| (i as f64 * 5.0, 100.0 + i as f64 * 10.0))
            .collect();
        for ac in [Autocorrelation::None, Autocorrelation::HamedRao] {
            let iv = sen_interval(&pts, 1.96, ac).unwrap();
            assert_eq!(iv.slope_per_hour, 7200.0, "{iv:?}");
            assert_eq!(iv.lower_per_hour, 7200.0, "{iv:?}");
            assert_eq!(iv.upper_per_hour, 7200.0, "{iv:?}");
            assert_eq!(iv.s, 40.0 * 39.0 / 2.0);
        }
        // Every detrended value tied: nothing to correct.
        let iv = sen_interval(&pts, 1.96, Autocorrelation::HamedRao).unwrap();
        assert_eq!(iv.correction, 1.0);
    }

    #[test]
    fn sen_interval_of_a_constant_series_is_flat() {
        let pts: Vec<(f64, f64)> = (0..30).map(|i| (i as f64 * 10.0, 512.0)).collect();
        for ac in [Autocorrelation::None, Autocorrelation::HamedRao] {
            let iv = sen_interval(&pts, 1.96, ac).unwrap();
            assert_eq!(
                (iv.slope_per_hour, iv.lower_per_hour, iv.upper_per_hour),
                (0.0, 0.0, 0.0)
            );
            assert_eq!((iv.s, iv.z, iv.var_s), (0.0, 0.0, 0.0), "{iv:?}");
            assert_eq!(iv.points, 30);
        }
    }

    #[test]
    fn sen_interval_widens_as_z_crit_grows() {
        let mut rng = Rng(42);
        let pts: Vec<(f64, f64)> = (0..80)
            .map(|i| {
                (
                    i as f64 * 5.0,
                    1000.0 + 0.5 * i as f64 * 5.0 + 40.0 * rng.normal(),
                )
            })
            .collect();
        for ac in [Autocorrelation::None, Autocorrelation::HamedRao] {
            let mut previous: Option<SlopeInterval> = None;
            for z in [0.0, 0.5, 1.0, 1.645, 1.96, 2.576, 3.29, 5.0] {
                let iv = sen_interval(&pts, z, ac).unwrap();
                assert!(iv.lower_per_hour <= iv.slope_per_hour, "{iv:?}");
                assert!(iv.slope_per_hour <= iv.upper_per_hour, "{iv:?}");
                if let Some(p) = previous {
                    assert!(
                        iv.lower_per_hour < p.lower_per_hour,
                        "z {z}: {iv:?} vs {p:?}"
                    );
                    assert!(
                        iv.upper_per_hour > p.upper_per_hour,
                        "z {z}: {iv:?} vs {p:?}"
                    );
                    assert_eq!(iv.slope_per_hour, p.slope_per_hour);
                }
                previous = Some(iv);
            }
        }
        // A negative z_crit means the same as its absolute value.
        assert_eq!(
            sen_interval(&pts, -1.96, Autocorrelation::None),
            sen_interval(&pts, 1.96, Autocorrelation::None)
        );
    }

    #[test]
    fn sen_interval_covers_zero_about_95_percent_of_the_time_for_iid_noise() {
        let mut rng = Rng(20240601);
        let runs = 400;
        let (mut covered_plain, mut covered_hr) = (0, 0);
        for _ in 0..runs {
            let pts: Vec<(f64, f64)> = (0..60)
                .map(|i| (i as f64 * 5.0, 1000.0 + 50.0 * rng.normal()))
                .collect();
            let plain = sen_interval(&pts, 1.96, Autocorrelation::None).unwrap();
            if plain.lower_per_hour <= 0.0 && 0.0 <= plain.upper_per_hour {
                covered_plain += 1;
            }
            let hr = sen_interval(&pts, 1.96, Autocorrelation::HamedRao).unwrap();
            if hr.lower_per_hour <= 0.0 && 0.0 <= hr.upper_per_hour {
                covered_hr += 1;
            }
        }
        println!("coverage of 0 in {runs} runs: plain {covered_plain}, Hamed–Rao {covered_hr}");
        // Binomial(400, 0.95): mean 380, sd 4.4; ±3 sd.
        assert!(
            (367..=393).contains(&covered_plain),
            "plain {covered_plain}/{runs}"
        );
        // Hamed–Rao keeps the lags that are significant by chance (5 % of 57 per run), which
        // narrows or widens each interval at random: a little below nominal, not far.
        assert!(
            (355..=393).contains(&covered_hr),
            "Hamed–Rao {covered_hr}/{runs}"
        );
    }

    #[test]
    fn sen_interval_needs_three_points_with_distinct_times() {
        assert!(sen_interval(&[], 1.96, Autocorrelation::None).is_none());
        assert!(sen_interval(&[(0.0, 1.0), (1.0, 2.0)], 1.96, Autocorrelation::None).is_none());
        let same_time = [(5.0, 1.0), (5.0, 2.0), (5.0, 3.0)];
        assert!(sen_interval(&same_time, 1.96, Autocorrelation::HamedRao).is_none());
        // Non-finite points are skipped, like missing values.
        let gappy = [
            (0.0, 1.0),
            (1.0, f64::NAN),
            (f64::INFINITY, 3.0),
            (2.0, 3.0),
        ];
        assert!(sen_interval(&gappy, 1.96, Autocorrelation::None).is_none());
        let gappy = [
            (0.0, 1.0),
            (1.0, f64::NAN),
            (2.0, 3.0),
            (3.0, 4.0),
            (4.0, 9.0),
        ];
        let iv = sen_interval(&gappy, 1.96, Autocorrelation::None).unwrap();
        assert_eq!(iv.points, 4);
        assert_eq!(
            Some(iv),
            sen_interval(
                &[(0.0, 1.0), (2.0, 3.0), (3.0, 4.0), (4.0, 9.0)],
                1.96,
                Autocorrelation::None
            )
        );
    }

    #[test]
    fn sen_interval_sorts_unordered_input_by_time() {
        let pts = [
            (0.0, 3.0),
            (10.0, 5.0),
            (20.0, 4.0),
            (30.0, 9.0),
            (40.0, 8.0),
        ];
        let shuffled = [pts[3], pts[0], pts[4], pts[2], pts[1]];
        for ac in [Autocorrelation::None, Autocorrelation::HamedRao] {
            assert_eq!(
                sen_interval(&pts, 1.96, ac),
                sen_interval(&shuffled, 1.96, ac)
            );
        }
    }

    /// Var(S) under the null is the variance of S over all equally likely assignments of the
    /// values to the points: enumerate them for small series with tied values and tied times.
    #[test]
    fn kendall_variance_is_the_exact_permutation_variance_with_ties() {
        let series: [(&[f64], &[f64]); 5] = [
            (
                &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
                &[3.0, 1.0, 4.0, 1.0, 5.0, 9.0],
            ),
            (
                &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                &[2.0, 2.0, 2.0, 7.0, 1.0, 7.0, 3.0],
            ),
            (
                &[0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 3.0],
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            ),
            (
                &[0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 3.0],
                &[5.0, 5.0, 1.0, 8.0, 8.0, 8.0, 2.0],
            ),
            // Every value tied: Var(S) is 0, through a negative first term.
            (&[0.0, 0.0, 1.0, 2.0], &[5.0, 5.0, 5.0, 5.0]),
        ];
        for (times, values) in series {
            let n = times.len();
            let mut perm: Vec<usize> = (0..n).collect();
            let (mut count, mut sum_sq, mut sum) = (0.0, 0.0, 0.0);
            // Heap's algorithm over all n! orders of the values.
            let mut c = vec![0; n];
            let mut visit = |perm: &[usize]| {
                let pts: Vec<(f64, f64)> = (0..n).map(|i| (times[i], values[perm[i]])).collect();
                let s = sen_interval(&pts, 1.96, Autocorrelation::None).unwrap().s;
                count += 1.0;
                sum += s;
                sum_sq += s * s;
            };
            visit(&perm);
            let mut i = 0;
            while i < n {
                if c[i] < i {
                    if i % 2 == 0 {
                        perm.swap(0, i);
                    } else {
                        perm.swap(c[i], i);
                    }
                    visit(&perm);
                    c[i] += 1;
                    i = 0;
                } else {
                    c[i] = 0;
                    i += 1;
                }
            }
            let exact = sum_sq / count - (sum / count).powi(2);
            let pts: Vec<(f64, f64)> = times.iter().copied().zip(values.iter().copied()).collect();
            let formula = sen_interval(&pts, 1.96, Autocorrelation::None)
                .unwrap()
                .var_s;
            assert!(
                (formula - exact).abs() <= 1e-9 * exact.max(1.0),
                "{times:?} {values:?}: formula {formula}, permutations {exact}"
            );
        }
    }

    #[test]
    fn hamed_rao_ranks_ties_that_only_rounding_separates_as_ties() {
        // pymannkendall detrends this series (reference case short_with_tie) with 1.2 per sample
        // number 1..=10: 15 − 1.2·4 and 21 − 1.2·9 are both 10.2 on paper but not in floating
        // point, and scipy's rankdata splits them.
        let x = [10.0, 12.0, 11.0, 15.0, 15.0, 14.0, 18.0, 17.0, 21.0, 20.0];
        let trend: Vec<f64> = (1..=10).map(|i| 1.2 * i as f64).collect();
        assert_ne!(x[3] - trend[3], x[8] - trend[8]);
        let ranks = tolerant_ranks(&x, &trend);
        assert_eq!(ranks[3], ranks[8]);
        assert_eq!(ranks[3], 9.5);
        assert_eq!(ranks.iter().sum::<f64>(), 55.0);
    }

    #[test]
    fn hamed_rao_falls_back_to_no_correction_when_n_over_n_star_is_not_positive() {
        // An alternation with integer noise (found by search; reference.py's
        // hamed_rao_time_aware gives −1.0387 for it too): the negative lags outweigh 1, so
        // pymannkendall's variance turns negative and its Z NaN.
        let x = [
            -5.0, 10.0, -1.0, 7.0, 2.0, 9.0, 9.0, 11.0, -4.0, 8.0, 5.0, 7.0, 2.0, 10.0, 0.0, 8.0,
            -3.0, 6.0, 6.0, 10.0,
        ];
        let pts: Vec<(f64, f64)> = x.iter().enumerate().map(|(i, &v)| (i as f64, v)).collect();
        let plain = sen_interval(&pts, 1.96, Autocorrelation::None).unwrap();
        let raw = hamed_rao_factor(&pts, plain.slope_per_hour / 3600.0);
        assert!((raw - -1.0386809128083367).abs() < 1e-9, "raw n/n* {raw}");
        let hr = sen_interval(&pts, 1.96, Autocorrelation::HamedRao).unwrap();
        assert_eq!(hr.correction, 1.0);
        assert_eq!(hr, plain);
        assert!(hr.z.is_finite());
    }

    #[test]
    fn hamed_rao_widens_the_interval_for_positively_autocorrelated_noise() {
        let mut rng = Rng(7);
        let mut e = 0.0;
        let pts: Vec<(f64, f64)> = (0..150)
            .map(|i| {
                e = 0.9 * e + 10.0 * rng.normal();
                (i as f64 * 5.0, 500.0 + e)
            })
            .collect();
        let plain = sen_interval(&pts, 1.96, Autocorrelation::None).unwrap();
        let hr = sen_interval(&pts, 1.96, Autocorrelation::HamedRao).unwrap();
        assert!(hr.correction > 2.0, "{hr:?}");
        assert!(
            hr.lower_per_hour < plain.lower_per_hour && hr.upper_per_hour > plain.upper_per_hour
        );
        assert_eq!(hr.s, plain.s);
        assert!((hr.var_s - plain.var_s * hr.correction).abs() < 1e-9 * hr.var_s);
    }

    /// splitmix64 and Box–Muller: deterministic noise without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in (0, 1).
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }
}
