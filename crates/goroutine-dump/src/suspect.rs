//! Ranking leak suspects across snapshots taken over time.
//!
//! A bucket is a suspect when, over the series (oldest first):
//! 1. it **grew**: `last - first ≥ max(min_growth, min_growth_ratio × first)`;
//! 2. it **kept growing**: no step fell by more than `max_drop_ratio` of the previous count,
//!    and the last count is within that tolerance of the peak (a bucket that rises and falls
//!    with load fails here);
//! 3. its goroutines **stay**: when two consecutive snapshots carry goroutine ids (debug=2),
//!    at least `min_retained` of the earlier goroutines are still there in the later one —
//!    short-lived goroutines churned by load are replaced by new ids, leaked ones are not.
//!
//! 4. when only counts are known (debug=1 / proto), a bucket whose goroutines sleep, run or
//!    sit in a syscall — busy, not stuck — needs at least `busy_min_snapshots` snapshots.
//!
//! A bucket with goroutines that Go 1.26's `goroutineleak` profile marked `(leaked)` is a
//! suspect whatever its counts. The score grows with the growth, the retention and the
//! longest wait (`N minutes`); the confidence says how much evidence there is.
//!
//! This is the one suspect ranking of leakhound: `leakhound analyze`, the TUI and the agent's
//! evidence bundles all call it. Bundles ask for a fixed number of suspects filled up with the
//! largest buckets ([`SuspectOptions::fill_largest`]) and for call sites in user code only
//! ([`SuspectOptions::user_code_only`]). [`crate::SuspectRow`] shows them.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::bucket::{bucketize, Blocking, Bucket, FrameOut, GroupBy, LabelCount};
use crate::model::Snapshot;

/// Thresholds for [`suspects`]; the defaults are documented on each field.
#[derive(Debug, Clone, PartialEq)]
pub struct SuspectOptions {
    /// Grouping used for all snapshots (default [`GroupBy::Line`]).
    pub group_by: GroupBy,
    /// Minimum absolute growth first → last (default 10 goroutines).
    pub min_growth: u64,
    /// Minimum relative growth first → last (default 0.2 = 20 %, the guide's "growth < 20 %
    /// is normal").
    pub min_growth_ratio: f64,
    /// Largest tolerated fall between two snapshots, relative (default 0.05).
    pub max_drop_ratio: f64,
    /// Minimum share of goroutine ids kept from one debug=2 snapshot to the next (default 0.5).
    pub min_retained: f64,
    /// A label value is "dominant" when this share of the bucket carries it (default 0.5).
    pub dominant_label_share: f64,
    /// Buckets that sleep, run or sit in a syscall are busy, not stuck: without goroutine ids
    /// they are suspects only over at least this many snapshots (default 5).
    pub busy_min_snapshots: usize,
    /// Only buckets with a frame of user code (a [`Bucket::top_frame`]) can be suspects, or
    /// fill the list (default false: a stack of runtime and standard library frames alone is
    /// named by its first frame).
    pub user_code_only: bool,
    /// `Some(n)`: at most `n` suspects, and when fewer buckets are suspects, the largest
    /// buckets of the last snapshot fill the list up to `n`, marked [`Basis::Largest`]
    /// (default `None`: every suspect, and nothing else).
    pub fill_largest: Option<usize>,
}

impl Default for SuspectOptions {
    fn default() -> Self {
        SuspectOptions {
            group_by: GroupBy::Line,
            min_growth: 10,
            min_growth_ratio: 0.2,
            max_drop_ratio: 0.05,
            min_retained: 0.5,
            dominant_label_share: 0.5,
            busy_min_snapshots: 5,
            user_code_only: false,
            fill_largest: None,
        }
    }
}

/// Why a [`Suspect`] is in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// It grew as the rules above ask.
    Grew,
    /// It did not grow enough, but the runtime marked goroutines of it `(leaked)`.
    Leaked,
    /// Not a suspect by the rules: one of the largest buckets, filling the list
    /// ([`SuspectOptions::fill_largest`]).
    Largest,
}

impl Basis {
    /// Lower-case name: `grew`, `leaked`, `largest`.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Grew => "grew",
            Basis::Leaked => "leaked",
            Basis::Largest => "largest",
        }
    }
}

/// How much evidence backs a suspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Two aggregated snapshots only: growth, but nothing rules out load.
    Low,
    /// Three or more snapshots growing without a fall.
    Medium,
    /// Goroutine ids retained across snapshots, waits of minutes, or the runtime's `(leaked)`.
    High,
}

impl Confidence {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// A bucket that looks like a leak.
#[derive(Debug, Clone, Serialize)]
pub struct Suspect {
    /// Bucket key.
    pub key: String,
    /// Ranking score (higher is worse).
    pub score: f64,
    /// How much evidence there is.
    pub confidence: Confidence,
    /// The bucket's count in each snapshot, oldest first.
    pub counts: Vec<u64>,
    /// `last - first`.
    pub growth: i64,
    /// Mean share of goroutine ids kept between consecutive debug=2 snapshots.
    pub retained: Option<f64>,
    /// Longest `N minutes` wait in the last snapshot that has wait times.
    pub max_wait_minutes: Option<u32>,
    /// Goroutines marked `(leaked)` by the runtime in the last snapshot.
    pub leaked: u64,
    /// What they block on.
    pub blocking: Blocking,
    /// The first non-runtime, non-stdlib frame: the leaking call site.
    pub top_frame: Option<FrameOut>,
    /// Most common `created by` site.
    pub created_by: Option<FrameOut>,
    /// Most common creator goroutine id (Go 1.21+).
    pub creator_id: Option<u64>,
    /// Labels carried by at least `dominant_label_share` of the goroutines.
    pub dominant_labels: Vec<LabelCount>,
    /// The trimmed stack, leaf first.
    pub frames: Vec<FrameOut>,
    /// Why it was flagged, in words.
    pub reasons: Vec<String>,
    /// Why it is in the list.
    pub basis: Basis,
}

impl Suspect {
    /// The frame to show: the top user frame, else the first trimmed frame.
    pub fn site(&self) -> Option<&FrameOut> {
        self.top_frame.as_ref().or(self.frames.first())
    }
}

/// Ranks leak suspects across `snapshots` (oldest first). Fewer than two snapshots give none
/// unless the runtime marked goroutines `(leaked)`.
pub fn suspects(snapshots: &[Snapshot], opts: &SuspectOptions) -> Vec<Suspect> {
    let series: Vec<Vec<Bucket>> = snapshots
        .iter()
        .map(|s| bucketize(s, opts.group_by))
        .collect();
    suspects_from_buckets(&series, opts)
}

/// Like [`suspects`], from already bucketized snapshots (all grouped the same way).
pub fn suspects_from_buckets<S: AsRef<[Bucket]>>(
    series: &[S],
    opts: &SuspectOptions,
) -> Vec<Suspect> {
    let n = series.len();
    let (maps, order) = index(series);
    let mut out = Vec::new();
    for key in order {
        let buckets: Vec<Option<&Bucket>> = maps.iter().map(|m| m.get(key).copied()).collect();
        let counts: Vec<u64> = buckets.iter().map(|b| b.map_or(0, |b| b.count)).collect();
        let Some(latest) = buckets.iter().rev().flatten().next().copied() else {
            continue;
        };
        if opts.user_code_only && latest.top_frame.is_none() {
            continue;
        }
        let first = counts.first().copied().unwrap_or(0);
        let last = counts.last().copied().unwrap_or(0);
        let growth = crate::model::delta(last, first);
        let leaked = buckets.last().copied().flatten().map_or(0, |b| b.leaked);
        let mut reasons = Vec::new();

        let need = (opts.min_growth as f64).max(opts.min_growth_ratio * first as f64);
        let grew = n >= 2 && growth > 0 && growth as f64 >= need;
        let peak = counts.iter().copied().max().unwrap_or(0);
        let tol = |c: u64| (opts.max_drop_ratio * c as f64).max(1.0);
        let fell = counts
            .windows(2)
            .any(|w| (w[1] as f64) < w[0] as f64 - tol(w[0]))
            || (last as f64) < peak as f64 - tol(peak);

        // Retention of goroutine ids between consecutive snapshots that have them.
        let mut kept = Vec::new();
        for w in buckets.windows(2) {
            if let [Some(a), Some(b)] = w {
                if !a.ids.is_empty() && !b.ids.is_empty() {
                    kept.push(sorted_overlap(&a.ids, &b.ids) as f64 / a.ids.len() as f64);
                } else if a.ids.is_empty() != b.ids.is_empty() {
                    // mixed formats: no evidence either way
                }
            } else if let [Some(a), None] = w {
                if !a.ids.is_empty() {
                    kept.push(0.0);
                }
            }
        }
        let retained = if kept.is_empty() {
            None
        } else {
            Some(kept.iter().sum::<f64>() / kept.len() as f64)
        };
        let churn = retained.is_some_and(|r| r < opts.min_retained);
        let max_wait = buckets
            .iter()
            .rev()
            .flatten()
            .find_map(|b| b.wait_minutes.as_ref().map(|w| w.max));

        // Sleeping, running or in a syscall means busy, not stuck: with counts alone such a
        // bucket is load until goroutine ids (debug=2) or a long series say otherwise.
        let busy = matches!(
            latest.blocking,
            Blocking::Sleep | Blocking::Running | Blocking::Syscall
        );
        let busy_unproven = busy && retained.is_none() && n < opts.busy_min_snapshots;
        let is_suspect = leaked > 0 || (grew && !fell && !churn && !busy_unproven);
        if !is_suspect {
            continue;
        }
        if leaked > 0 {
            reasons.push(format!(
                "{leaked} goroutines marked (leaked) by the Go runtime"
            ));
        }
        if grew {
            reasons.push(format!(
                "grew {first} → {last} over {n} snapshots without falling"
            ));
        }
        if let Some(r) = retained {
            reasons.push(format!(
                "keeps {:.0}% of its goroutines between snapshots",
                r * 100.0
            ));
        }
        if let Some(m) = max_wait.filter(|&m| m > 0) {
            reasons.push(format!("goroutines waiting up to {m} minutes"));
        }
        let confidence = if leaked > 0
            || retained.is_some_and(|r| r >= 0.9)
            || max_wait.is_some_and(|m| m > 0)
        {
            Confidence::High
        } else if n >= 3 {
            Confidence::Medium
        } else {
            Confidence::Low
        };
        let score = growth.max(0) as f64
            * retained.unwrap_or(1.0).max(0.1)
            * (1.0 + (1.0 + f64::from(max_wait.unwrap_or(0))).ln())
            + leaked as f64;
        out.push(Suspect {
            score,
            confidence,
            retained,
            max_wait_minutes: max_wait,
            leaked,
            reasons,
            basis: if grew { Basis::Grew } else { Basis::Leaked },
            ..described(key, &buckets, latest, counts, opts)
        });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
    if let Some(top) = opts.fill_largest {
        out.truncate(top);
        fill_largest(&mut out, series, &maps, top, opts);
    }
    out
}

/// Fill `out` up to `top` with the largest buckets of the last snapshot that are not in it.
fn fill_largest<S: AsRef<[Bucket]>>(
    out: &mut Vec<Suspect>,
    series: &[S],
    maps: &[FxHashMap<&str, &Bucket>],
    top: usize,
    opts: &SuspectOptions,
) {
    let Some(last) = series.last() else {
        return;
    };
    let mut largest: Vec<&Bucket> = last.as_ref().iter().collect();
    largest.sort_by_key(|b| std::cmp::Reverse(b.count));
    for b in largest {
        if out.len() >= top {
            break;
        }
        if (opts.user_code_only && b.top_frame.is_none()) || out.iter().any(|s| s.key == b.key) {
            continue;
        }
        let buckets: Vec<Option<&Bucket>> = maps
            .iter()
            .map(|m| m.get(b.key.as_str()).copied())
            .collect();
        let counts: Vec<u64> = buckets.iter().map(|b| b.map_or(0, |b| b.count)).collect();
        out.push(Suspect {
            score: 0.0,
            confidence: Confidence::Low,
            retained: None,
            max_wait_minutes: b.wait_minutes.as_ref().map(|w| w.max),
            leaked: b.leaked,
            reasons: vec!["among the largest buckets of the last snapshot".into()],
            basis: Basis::Largest,
            ..described(&b.key, &buckets, b, counts, opts)
        });
    }
}

/// The parts of a suspect that describe its bucket (the figures of the ranking left zero).
fn described(
    key: &str,
    buckets: &[Option<&Bucket>],
    latest: &Bucket,
    counts: Vec<u64>,
    opts: &SuspectOptions,
) -> Suspect {
    let first = counts.first().copied().unwrap_or(0);
    let last = counts.last().copied().unwrap_or(0);
    let dominant_labels = latest
        .dominant_labels(opts.dominant_label_share)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    let dominant_labels = if dominant_labels.is_empty() {
        // Labels come from debug=1/proto snapshots: look in any of them.
        buckets
            .iter()
            .rev()
            .flatten()
            .map(|b| b.dominant_labels(opts.dominant_label_share))
            .find(|l| !l.is_empty())
            .map(|l| l.into_iter().cloned().collect())
            .unwrap_or_default()
    } else {
        dominant_labels
    };
    Suspect {
        key: key.to_string(),
        score: 0.0,
        confidence: Confidence::Low,
        growth: crate::model::delta(last, first),
        counts,
        retained: None,
        max_wait_minutes: None,
        leaked: 0,
        blocking: latest.blocking,
        top_frame: latest.top_frame.clone(),
        created_by: buckets
            .iter()
            .rev()
            .flatten()
            .find_map(|b| b.created_by.clone()),
        creator_id: latest.creator_id,
        dominant_labels,
        frames: latest.frames.clone(),
        reasons: Vec::new(),
        basis: Basis::Largest,
    }
}

/// Each snapshot's buckets by key, and every key of the series once, newest snapshot first.
pub(crate) type SeriesIndex<'a> = (Vec<FxHashMap<&'a str, &'a Bucket>>, Vec<&'a str>);

/// Index a series of bucketized snapshots (shared by [`suspects_from_buckets`] and
/// [`crate::classify`]).
pub(crate) fn index<S: AsRef<[Bucket]>>(series: &[S]) -> SeriesIndex<'_> {
    let maps = series
        .iter()
        .map(|bs| bs.as_ref().iter().map(|b| (b.key.as_str(), b)).collect())
        .collect();
    let mut order: Vec<&str> = Vec::new();
    let mut seen: FxHashMap<&str, ()> = FxHashMap::default();
    for bs in series.iter().rev() {
        for b in bs.as_ref() {
            if seen.insert(b.key.as_str(), ()).is_none() {
                order.push(b.key.as_str());
            }
        }
    }
    (maps, order)
}

/// Size of the intersection of two ascending id lists.
fn sorted_overlap(a: &[u64], b: &[u64]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}
