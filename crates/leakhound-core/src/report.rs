//! The numbers of a history report (GUIDE §8 `compare_goroutines.sh`): the distribution over the
//! guide's bands, current, peak, trough, the average of the last 1000 samples, a sparkline of
//! the last 100, and the trend verdict. Pure: the store hands over aggregates, this adds them up.
//!
//! ```
//! use leakhound_core::report::{sparkline, Aggregate};
//! use leakhound_core::ladder::GoroutineLadder;
//!
//! let ladder = GoroutineLadder::default();
//! let mut total = Aggregate::default();
//! for (ts, g) in [(0, 800), (30_000, 2500), (60_000, 900)] {
//!     total.merge(&Aggregate::of_sample(ts, true, Some(g), None, &ladder));
//! }
//! assert_eq!(total.goroutines.max, Some(2500));
//! assert_eq!(total.bands, [2, 0, 1, 0, 0, 0]); // two excellent, one notice
//! assert_eq!(sparkline(&[1, 5, 8]), "▁▅█");
//! ```

use crate::ladder::{GoroutineLadder, GoroutineState};
use crate::trend::{Trend, Verdict};
use serde::Serialize;

/// `▁▂▃▄▅▆▇█` of the values, scaled between their min and max (one character per value).
/// Shared by the live views and reports.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
        return String::new();
    };
    let span = (max - min).max(1) as f64;
    values
        .iter()
        .map(|&v| BARS[((((v - min) as f64 / span) * 7.0).round() as usize).min(7)])
        .collect()
}

/// Count, sum, min and max of one metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stat {
    /// Samples that had the metric.
    pub n: u64,
    #[serde(skip)]
    pub sum: i128,
    pub min: Option<u64>,
    pub max: Option<u64>,
}

impl Stat {
    pub fn of(value: Option<u64>) -> Stat {
        match value {
            Some(v) => Stat {
                n: 1,
                sum: i128::from(v),
                min: Some(v),
                max: Some(v),
            },
            None => Stat::default(),
        }
    }

    pub fn merge(&mut self, other: &Stat) {
        self.n += other.n;
        self.sum += other.sum;
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// The mean, as SQL's `avg()` computes it (sum / count).
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum as f64 / self.n as f64)
    }
}

/// What a run of samples (one time bucket, or a whole range) adds up to. Aggregates merge, so a
/// range is the merge of its buckets and a report never holds the rows themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Aggregate {
    /// Samples (rows), up or down.
    pub samples: u64,
    /// Samples where the target did not answer.
    pub down: u64,
    /// Time of the first and last sample (0 when there is none).
    pub first_ms: i64,
    pub last_ms: i64,
    pub goroutines: Stat,
    /// Samples per band of the goroutine ladder (GUIDE §7), excellent … danger.
    pub bands: [u64; 6],
    /// Memory used (RSS, else cgroup, else Go `Sys`, else `Alloc`: [`crate::Metrics::memory_used_bytes`]).
    pub memory: Stat,
}

impl Aggregate {
    pub fn of_sample(
        ts_ms: i64,
        up: bool,
        goroutines: Option<u64>,
        memory: Option<u64>,
        ladder: &GoroutineLadder,
    ) -> Aggregate {
        let mut bands = [0; 6];
        if let Some(g) = goroutines {
            bands[ladder.state(g) as usize] = 1;
        }
        Aggregate {
            samples: 1,
            down: u64::from(!up),
            first_ms: ts_ms,
            last_ms: ts_ms,
            goroutines: Stat::of(goroutines),
            bands,
            memory: Stat::of(memory),
        }
    }

    pub fn merge(&mut self, other: &Aggregate) {
        if other.samples == 0 {
            return;
        }
        if self.samples == 0 {
            *self = *other;
            return;
        }
        self.samples += other.samples;
        self.down += other.down;
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
        self.goroutines.merge(&other.goroutines);
        for (a, b) in self.bands.iter_mut().zip(other.bands) {
            *a += b;
        }
        self.memory.merge(&other.memory);
    }

    /// The merge of many.
    pub fn total<'a>(items: impl IntoIterator<Item = &'a Aggregate>) -> Aggregate {
        let mut total = Aggregate::default();
        for a in items {
            total.merge(a);
        }
        total
    }

    /// The time this aggregate stands for in a chart or a fit: the middle of its samples.
    pub fn mid_ms(&self) -> i64 {
        self.first_ms + (self.last_ms - self.first_ms) / 2
    }
}

/// One band of the distribution, ready to print.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    pub state: GoroutineState,
    /// The guide's wording of the band, e.g. `< 1000`, `1000–2000`, `> 10000`.
    pub range: String,
    pub count: u64,
    /// Share of the samples with a goroutine count, 0–100.
    pub percent: f64,
}

/// The distribution of counts over the ladder's bands.
pub fn distribution(ladder: &GoroutineLadder, bands: &[u64; 6]) -> Vec<Band> {
    let b = ladder.0;
    let total: u64 = bands.iter().sum();
    let ranges = [
        format!("< {}", b[0]),
        format!("{}–{}", b[0], b[1]),
        format!("{}–{}", b[1] + 1, b[2]),
        format!("{}–{}", b[2] + 1, b[3]),
        format!("{}–{}", b[3] + 1, b[4]),
        format!("> {}", b[4]),
    ];
    let states = [
        GoroutineState::Excellent,
        GoroutineState::Good,
        GoroutineState::Notice,
        GoroutineState::Warning,
        GoroutineState::Alert,
        GoroutineState::Danger,
    ];
    states
        .into_iter()
        .zip(ranges)
        .zip(bands)
        .map(|((state, range), &count)| Band {
            state,
            range,
            count,
            percent: if total == 0 {
                0.0
            } else {
                count as f64 * 100.0 / total as f64
            },
        })
        .collect()
}

/// A value and when it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct At {
    pub value: u64,
    pub ts_ms: i64,
}

/// The newest sample of a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Current {
    pub ts_ms: i64,
    pub up: bool,
    pub error: Option<String>,
    pub goroutines: Option<u64>,
    pub memory_bytes: Option<u64>,
}

/// The average of the newest N samples with a goroutine count (GUIDE §8: "the last 1000").
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RecentAverage {
    pub samples: u64,
    pub average: f64,
    /// From the oldest to the newest of those samples.
    pub first_ms: i64,
    pub last_ms: i64,
}

/// The trend of the range's goroutines, with the verdict a human reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendVerdict {
    pub verdict: Verdict,
    pub slope_per_hour: f64,
    pub r_squared: f64,
    pub points: usize,
    /// `stable (+3/h, R² 0.02, 120 points)` or `growing +1240/h (R² 0.98, 120 points)`.
    pub text: String,
}

/// Fit the trend of bucket means; `None` with fewer than 2 buckets that have goroutines.
pub fn trend_of(buckets: &[Aggregate], min_growth_per_hour: f64) -> Option<TrendVerdict> {
    let points: Vec<(f64, f64)> = buckets
        .iter()
        .filter_map(|b| b.goroutines.mean().map(|m| (b.mid_ms() as f64 / 1000.0, m)))
        .collect();
    let t = Trend::fit(&points)?;
    Some(TrendVerdict {
        verdict: t.verdict(min_growth_per_hour),
        slope_per_hour: t.slope_per_hour,
        r_squared: t.r_squared,
        points: t.points,
        text: t.describe(min_growth_per_hour),
    })
}

/// Everything `leakhound report` says about one target over one range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetReport {
    pub target: String,
    pub since_ms: i64,
    pub until_ms: i64,
    /// The range's totals (samples, down, goroutines and memory count/min/max, bands).
    pub totals: Aggregate,
    pub goroutines_average: Option<f64>,
    pub memory_average_bytes: Option<f64>,
    pub distribution: Vec<Band>,
    pub current: Option<Current>,
    pub current_state: Option<GoroutineState>,
    pub peak: Option<At>,
    pub trough: Option<At>,
    pub last_1000: Option<RecentAverage>,
    /// The newest 100 goroutine counts, oldest first.
    pub last_100: Vec<u64>,
    pub sparkline: String,
    pub trend: Option<TrendVerdict>,
    /// Bucketed series of the range (for charts), oldest first.
    #[serde(skip)]
    pub series: Vec<Aggregate>,
}

/// What the store found for one target; [`TargetReport::build`] turns it into the report.
#[derive(Debug, Clone, Default)]
pub struct ReportInputs {
    pub target: String,
    pub since_ms: i64,
    pub until_ms: i64,
    pub buckets: Vec<Aggregate>,
    pub current: Option<Current>,
    pub peak: Option<At>,
    pub trough: Option<At>,
    pub last_1000: Option<RecentAverage>,
    pub last_100: Vec<u64>,
}

impl TargetReport {
    pub fn build(
        inputs: ReportInputs,
        ladder: &GoroutineLadder,
        min_growth_per_hour: f64,
    ) -> TargetReport {
        let totals = Aggregate::total(&inputs.buckets);
        TargetReport {
            goroutines_average: totals.goroutines.mean(),
            memory_average_bytes: totals.memory.mean(),
            distribution: distribution(ladder, &totals.bands),
            current_state: inputs
                .current
                .as_ref()
                .and_then(|c| c.goroutines)
                .map(|g| ladder.state(g)),
            sparkline: sparkline(&inputs.last_100),
            trend: trend_of(&inputs.buckets, min_growth_per_hour),
            target: inputs.target,
            since_ms: inputs.since_ms,
            until_ms: inputs.until_ms,
            totals,
            current: inputs.current,
            peak: inputs.peak,
            trough: inputs.trough,
            last_1000: inputs.last_1000,
            last_100: inputs.last_100,
            series: inputs.buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales() {
        assert_eq!(sparkline(&[1, 2, 3, 4, 5, 6, 7, 8]), "▁▂▃▄▅▆▇█");
        assert_eq!(sparkline(&[5, 5]), "▁▁");
        assert_eq!(sparkline(&[]), "");
        assert_eq!(sparkline(&[0, u64::MAX]).chars().count(), 2);
    }

    #[test]
    fn aggregates_merge_like_sql() {
        let ladder = GoroutineLadder::default();
        let values = [999u64, 1000, 2000, 2001, 3001, 5001, 10001];
        let mut total = Aggregate::default();
        for (i, g) in values.iter().enumerate() {
            total.merge(&Aggregate::of_sample(
                i as i64 * 1000,
                true,
                Some(*g),
                Some(*g * 10),
                &ladder,
            ));
        }
        total.merge(&Aggregate::of_sample(99_000, false, None, None, &ladder));
        assert_eq!(total.samples, 8);
        assert_eq!(total.down, 1);
        assert_eq!(total.bands, [1, 2, 1, 1, 1, 1]);
        assert_eq!(total.goroutines.min, Some(999));
        assert_eq!(total.goroutines.max, Some(10001));
        assert_eq!(total.memory.max, Some(100_010));
        let mean = values.iter().sum::<u64>() as f64 / 7.0;
        assert_eq!(total.goroutines.mean(), Some(mean));
        assert_eq!((total.first_ms, total.last_ms), (0, 99_000));
        let d = distribution(&ladder, &total.bands);
        assert_eq!(d[1].range, "1000–2000");
        assert_eq!(d[2].range, "2001–3000");
        assert_eq!(d[5].range, "> 10000");
        assert!((d[1].percent - 200.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn build_reports_trend_and_state() {
        let ladder = GoroutineLadder::default();
        let buckets: Vec<Aggregate> = (0..60)
            .map(|i| {
                Aggregate::of_sample(i * 60_000, true, Some(100 + i as u64 * 10), None, &ladder)
            })
            .collect();
        let r = TargetReport::build(
            ReportInputs {
                target: "a".into(),
                buckets,
                current: Some(Current {
                    ts_ms: 0,
                    up: true,
                    error: None,
                    goroutines: Some(690),
                    memory_bytes: None,
                }),
                last_100: vec![1, 2],
                ..ReportInputs::default()
            },
            &ladder,
            50.0,
        );
        let t = r.trend.unwrap();
        assert_eq!(t.verdict, Verdict::Growing);
        assert!(t.text.starts_with("growing +600/h"), "{}", t.text);
        assert_eq!(r.current_state, Some(GoroutineState::Excellent));
        assert_eq!(r.sparkline, "▁█");
        assert_eq!(r.totals.samples, 60);
    }
}
