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
        // The median by selection (linear) rather than a full sort: this runs on every sample.
        let mid = slopes.len() / 2;
        let even = slopes.len() % 2 == 0;
        let (below, &mut upper, _) = slopes.select_nth_unstable_by(mid, f64::total_cmp);
        let slope = if even {
            let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (lower + upper) / 2.0
        } else {
            upper
        };

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

#[cfg(test)]
mod tests {
    use super::*;

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
