//! Leak or load? Telling the two apart from goroutine snapshots taken while a count grows.
//!
//! A goroutine count that climbs straight may be a leak or just more requests in flight. The
//! snapshots tell them apart:
//! - a **leak** puts its growth in buckets that only grow, out of proportion to the load (the
//!   request-serving buckets stay flat, or grow much less in relative terms), and its
//!   goroutines get old (`N minutes` in debug=2); Go 1.26's `goroutineleak` profile even marks
//!   them `(leaked)`;
//! - **load** puts its growth in the request-serving buckets (a stack through
//!   `net/http.(*conn).serve`, gRPC's `handleStream`, fasthttp's `serveConn`), or spreads it
//!   over buckets that also shrink.
//!
//! [`classify`] takes the snapshots of one target, oldest first (the first is the reference,
//! ideally taken while the service was healthy), and returns a [`Classification`].
//!
//! Per bucket, with `c₀` its count in the reference and `cₙ` in the newest snapshot:
//! - `noise = 3·√max(c₀, cₙ) + 2` — request buckets are roughly Poisson: their count wobbles
//!   by about its square root;
//! - `load = r·c₀`, where `r` is the relative growth of the serving buckets (total `Δ/c₀`,
//!   floored at 0) — what the bucket would have grown if it moved with the load;
//! - `excess = cₙ − c₀ − load`.
//!
//! A bucket is a **leak candidate** when its excess is above its noise, it never fell between
//! snapshots (5 % tolerance) and never stood higher before (no drop back from a peak), and it
//! is not a serving bucket — or it is one whose goroutines are old (most wait ≥ 1 minute) or
//! grow at least 3× faster, relatively, than the other serving buckets. The verdict is
//! [`Verdict::Leak`] when the candidates hold at least half of the total growth, **confirmed**
//! when the top one grew in at least two intervals or its goroutines are old or marked leaked;
//! [`Verdict::Load`] when the serving buckets, or buckets that also shrank, hold at least half
//! of it; [`Verdict::Unclear`] otherwise (including when the snapshots show no growth).

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::bucket::{Bucket, FrameOut, LabelCount};
use crate::model::{sum_counts, sum_deltas};

/// Frames that mark a goroutine serving a request (the load of the service).
const SERVING_FRAMES: &[&str] = &[
    "net/http.(*conn).serve",
    "golang.org/x/net/http2.(*serverConn).runHandler",
    "net/http.(*http2serverConn).runHandler",
    "google.golang.org/grpc.(*Server).handleStream",
    "google.golang.org/grpc.(*Server).processUnaryRPC",
    "google.golang.org/grpc.(*Server).processStreamingRPC",
    "github.com/valyala/fasthttp.(*Server).serveConn",
];

/// Whether a bucket's goroutines serve requests: its stack runs through a server's per-request
/// frame (`net/http.(*conn).serve`, gRPC's `handleStream`, fasthttp's `serveConn`, …).
pub fn is_serving(bucket: &Bucket) -> bool {
    bucket
        .frames
        .iter()
        .chain(bucket.created_by.iter())
        .any(|f| SERVING_FRAMES.contains(&f.function.as_str()))
}

/// What the growth looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Concentrated in buckets that only grow, out of proportion to the load.
    Leak,
    /// In the request-serving buckets, or spread over buckets that also shrink.
    Load,
    /// Growth out of the noise, but neither clearly (or only one snapshot so far).
    Unclear,
    /// No bucket grew out of its noise: whatever the counts say, the dumps show no growth.
    NoGrowth,
}

impl Verdict {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Leak => "leak",
            Verdict::Load => "load",
            Verdict::Unclear => "unclear",
            Verdict::NoGrowth => "no growth",
        }
    }
}

/// A leaking call site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeakSite {
    /// Bucket key.
    pub key: String,
    /// The first non-runtime, non-stdlib frame (else the first frame).
    pub site: Option<FrameOut>,
    /// Goroutines there in each snapshot, oldest first.
    pub counts: Vec<u64>,
    /// Growth from the reference to the newest snapshot.
    pub growth: i64,
    /// Longest wait of its goroutines, minutes (debug=2).
    pub oldest_minutes: Option<u32>,
    /// Goroutines the runtime marked `(leaked)` (Go 1.26 goroutineleak profile).
    pub leaked: u64,
    /// Labels carried by most of them.
    pub labels: Vec<LabelCount>,
    /// A serving bucket (a request handler that never returns).
    pub serving: bool,
}

/// The verdict with its figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub verdict: Verdict,
    /// A leak seen growing in at least two intervals, or old, or marked leaked by the runtime.
    pub confirmed: bool,
    /// Leak candidates, most growth first (empty unless the verdict is `leak`).
    pub sites: Vec<LeakSite>,
    /// Total goroutines, reference → newest.
    pub total_growth: i64,
    /// Growth of the serving buckets (net).
    pub serving_growth: i64,
    /// Growth held by the leak candidates.
    pub leak_growth: i64,
    /// Snapshots used.
    pub snapshots: usize,
    /// One line saying why, e.g. `leak confirmed at pkg.(*T).wait (+1130 in 3 snapshots)`.
    pub reason: String,
}

/// Options for [`classify`]; the defaults are the documented rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifyOptions {
    /// Share of the total growth the candidates (or the load) must hold (default 0.5).
    pub majority: f64,
    /// Relative growth, as a multiple of the other serving buckets', that makes a serving bucket
    /// a leak candidate (default 3).
    pub serving_excess: f64,
    /// Tolerated fall between snapshots, relative (default 0.05).
    pub max_drop_ratio: f64,
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        ClassifyOptions {
            majority: 0.5,
            serving_excess: 3.0,
            max_drop_ratio: 0.05,
        }
    }
}

struct Row<'a> {
    key: &'a str,
    latest: &'a Bucket,
    counts: Vec<u64>,
    serving: bool,
}

fn noise(a: u64, b: u64) -> f64 {
    3.0 * (a.max(b) as f64).sqrt() + 2.0
}

/// Classify the growth between the first (reference) and the last of `series` (bucketized
/// snapshots of one target, oldest first, grouped the same way). See the [module docs](self).
pub fn classify(series: &[Vec<Bucket>], opts: &ClassifyOptions) -> Classification {
    classify_with_history(&[], series, opts)
}

/// Like [`classify`], with `earlier` snapshots (before the reference, oldest first): a bucket
/// that stood at least as high in any of them goes up and down — a batch, a pool — and is no
/// leak candidate.
pub fn classify_with_history(
    earlier: &[Vec<Bucket>],
    series: &[Vec<Bucket>],
    opts: &ClassifyOptions,
) -> Classification {
    let n = series.len();
    let mut result = Classification {
        verdict: Verdict::Unclear,
        confirmed: false,
        sites: Vec::new(),
        total_growth: 0,
        serving_growth: 0,
        leak_growth: 0,
        snapshots: n,
        reason: String::new(),
    };
    // Goroutines the runtime itself proved leaked need no history.
    let runtime_leaked: Vec<&Bucket> = series
        .last()
        .map(|bs| bs.iter().filter(|b| b.leaked > 0).collect())
        .unwrap_or_default();
    if n < 2 && runtime_leaked.is_empty() {
        result.reason = "one snapshot: nothing to compare yet".into();
        return result;
    }

    let (maps, keys) = crate::suspect::index(series);
    let rows: Vec<Row<'_>> = keys
        .into_iter()
        .filter_map(|key| {
            let counts: Vec<u64> = maps
                .iter()
                .map(|m| m.get(key).map_or(0, |b| b.count))
                .collect();
            let latest = maps.iter().rev().find_map(|m| m.get(key).copied())?;
            Some(Row {
                key,
                latest,
                serving: is_serving(latest),
                counts,
            })
        })
        .collect();

    // Each bucket's wobble as seen before the growth (the earlier snapshots and the
    // reference), when there are at least three of them: a bucket noisier than Poisson gets a
    // wider margin.
    let spread: FxHashMap<&str, f64> = rows
        .iter()
        .filter_map(|r| {
            let mut seen: Vec<f64> = earlier
                .iter()
                .map(|bs| {
                    bs.iter()
                        .find(|b| b.key == r.key)
                        .map_or(0.0, |b| b.count as f64)
                })
                .collect();
            seen.push(r.counts.first().copied().unwrap_or(0) as f64);
            if seen.len() < 3 {
                return None;
            }
            let mean = seen.iter().sum::<f64>() / seen.len() as f64;
            let var =
                seen.iter().map(|c| (c - mean) * (c - mean)).sum::<f64>() / (seen.len() - 1) as f64;
            Some((r.key, var.sqrt()))
        })
        .collect();
    let noise = |r: &Row<'_>, a: u64, b: u64| {
        let sd = spread.get(r.key).copied().unwrap_or(0.0);
        noise(a, b).max(3.0 * sd + 2.0)
    };
    let first = |r: &Row<'_>| r.counts.first().copied().unwrap_or(0);
    let last = |r: &Row<'_>| r.counts.last().copied().unwrap_or(0);
    let delta = |r: &Row<'_>| crate::model::delta(last(r), first(r));
    let total: i64 = sum_deltas(rows.iter().map(delta));
    let serving_before: u64 = sum_counts(rows.iter().filter(|r| r.serving).map(first));
    let serving_delta: i64 = sum_deltas(rows.iter().filter(|r| r.serving).map(delta));
    result.total_growth = total;
    result.serving_growth = serving_delta;

    // What the load explains: the serving buckets' relative growth, applied to every bucket.
    let load_ratio = if serving_before > 0 {
        (serving_delta as f64 / serving_before as f64).max(0.0)
    } else {
        0.0
    };
    // Growth that stands out of each bucket's own noise; request buckets wobble by their square
    // root, so the total's change alone would bury a slow leak.
    let significant_growth = |r: &Row<'_>| {
        let d = delta(r);
        if d > 0 && d as f64 > noise(r, first(r), last(r)) {
            d
        } else {
            0
        }
    };
    let serving_significant: i64 =
        sum_deltas(rows.iter().filter(|r| r.serving).map(significant_growth));
    let tol = |c: u64| (opts.max_drop_ratio * c as f64).max(1.0);
    let mut candidates: Vec<(f64, &Row<'_>)> = Vec::new();
    let mut shrinking_growth = 0i64;
    let mut proportional = 0i64;
    for r in &rows {
        let (c0, cn) = (first(r), last(r));
        let peak = r.counts.iter().copied().max().unwrap_or(0);
        let stood_higher = earlier
            .iter()
            .filter_map(|bs| bs.iter().find(|b| b.key == r.key))
            .any(|b| b.count >= cn);
        let fell = stood_higher
            || r.counts
                .windows(2)
                .any(|w| (w[1] as f64) < w[0] as f64 - tol(w[0]))
            || (cn as f64) < peak as f64 - tol(peak);
        if fell {
            shrinking_growth = shrinking_growth.saturating_add(delta(r).max(0));
            continue;
        }
        let excess = cn as f64 - c0 as f64 - load_ratio * c0 as f64;
        if excess <= noise(r, c0, cn) {
            // Grew no more than the load explains (client connections, per-request helpers).
            if !r.serving && delta(r) as f64 > noise(r, c0, cn) {
                proportional = proportional.saturating_add(delta(r));
            }
            continue;
        }
        let old = r
            .latest
            .wait_minutes
            .as_ref()
            .is_some_and(|w| w.waiting * 2 >= r.latest.count && w.median >= 1);
        // Only the standard library on the stack (connection read/write loops, timers): such
        // buckets follow the load's connections, so they count only when proven — by the
        // runtime, by age, or by growing in every interval of three or more snapshots while
        // the serving buckets stayed flat (the classic unclosed response body).
        let std_only = r.latest.top_frame.is_none();
        let proven_std =
            n >= 3 && serving_significant == 0 && r.counts.windows(2).all(|w| w[1] > w[0]);
        let candidate = if r.latest.leaked > 0 || old {
            true
        } else if std_only {
            proven_std
        } else if !r.serving {
            true
        } else {
            // A serving bucket outgrowing the other serving buckets: a handler that never returns.
            let others_before = serving_before.saturating_sub(c0) as f64;
            let others_delta = (serving_delta - delta(r)) as f64;
            let others_ratio = if others_before > 0.0 {
                (others_delta / others_before).max(0.0)
            } else {
                0.0
            };
            let own_ratio = (cn as f64 - c0 as f64) / (c0.max(1) as f64);
            own_ratio >= 3.0 && own_ratio >= opts.serving_excess * others_ratio.max(0.05)
        };
        if candidate {
            candidates.push((excess, r));
        }
    }
    for b in &runtime_leaked {
        if !candidates.iter().any(|(_, r)| r.key == b.key) {
            if let Some(r) = rows.iter().find(|r| r.key == b.key) {
                candidates.push((b.leaked as f64, r));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.key.cmp(b.1.key)));
    let leak_growth: i64 = sum_deltas(candidates.iter().map(|(_, r)| delta(r).max(0)));
    result.leak_growth = leak_growth;

    let runtime_says = !runtime_leaked.is_empty();
    let significant: i64 = sum_deltas(rows.iter().map(significant_growth));
    let grew = significant > 0;
    if runtime_says || (leak_growth > 0 && leak_growth as f64 >= opts.majority * significant as f64)
    {
        result.verdict = Verdict::Leak;
        result.sites = candidates
            .iter()
            .map(|(_, r)| LeakSite {
                key: r.key.to_string(),
                site: r.latest.site().cloned(),
                counts: r.counts.clone(),
                growth: delta(r),
                oldest_minutes: r.latest.wait_minutes.as_ref().map(|w| w.max),
                leaked: r.latest.leaked,
                labels: r.latest.dominant_labels(0.5).into_iter().cloned().collect(),
                serving: r.serving,
            })
            .collect();
        if let Some((_, top)) = candidates.first() {
            let steps_up = top
                .counts
                .windows(2)
                .filter(|w| w[1] as f64 > w[0] as f64 + noise(top, w[0], w[1]) / 3.0)
                .count();
            let old = top.latest.wait_minutes.as_ref().is_some_and(|w| w.max >= 1);
            result.confirmed = steps_up >= 2 || old || top.latest.leaked > 0;
        }
        let site = result.sites.first().map_or_else(
            || "?".to_string(),
            |s| {
                s.site
                    .as_ref()
                    .map_or("?".to_string(), |f| f.function.clone())
            },
        );
        let top_growth = result.sites.first().map_or(0, |s| s.growth);
        result.reason = format!(
            "leak {} at {site} ({top_growth:+} goroutines there over {n} snapshots; {total:+} in all{})",
            if result.confirmed {
                "confirmed"
            } else {
                "suspected"
            },
            if runtime_says {
                "; marked leaked by the Go runtime"
            } else {
                ""
            }
        );
    } else if !grew {
        result.verdict = Verdict::NoGrowth;
        result.reason =
            format!("the snapshots show no growth out of the noise ({total:+} goroutines)");
    } else if serving_significant
        .saturating_add(shrinking_growth)
        .saturating_add(proportional)
        >= (opts.majority * significant as f64) as i64
    {
        result.verdict = Verdict::Load;
        result.reason = format!(
            "growth looks like load (serving buckets {serving_delta:+}, in proportion to them +{proportional}, buckets that also shrank +{shrinking_growth}; no site grows out of proportion)"
        );
    } else {
        result.reason = format!(
            "growth is spread out ({significant:+} goroutines out of the noise; leak candidates {leak_growth:+}, serving {serving_delta:+})"
        );
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::{Blocking, WaitStats};

    fn frame(f: &str) -> FrameOut {
        FrameOut {
            function: f.to_string(),
            file: "x.go".into(),
            line: 1,
        }
    }

    fn bucket(key: &str, count: u64, serving: bool) -> Bucket {
        let mut frames = vec![frame(&format!("app.{key}"))];
        if serving {
            frames.push(frame("net/http.(*conn).serve"));
        }
        Bucket::from_frames(key, count, Blocking::ChanReceive, frames)
    }

    fn snap(items: &[(&str, u64, bool)]) -> Vec<Bucket> {
        items.iter().map(|&(k, c, s)| bucket(k, c, s)).collect()
    }

    #[test]
    fn a_new_site_that_only_grows_under_flat_load_is_a_leak() {
        let series = vec![
            snap(&[("serve", 500, true), ("worker", 8, false)]),
            snap(&[
                ("serve", 530, true),
                ("worker", 8, false),
                ("quota", 120, false),
            ]),
            snap(&[
                ("serve", 480, true),
                ("worker", 8, false),
                ("quota", 240, false),
            ]),
        ];
        let c = classify(&series, &ClassifyOptions::default());
        assert_eq!(c.verdict, Verdict::Leak, "{c:?}");
        assert!(c.confirmed);
        assert_eq!(c.sites[0].key, "quota");
        assert!(
            c.reason.starts_with("leak confirmed at app.quota"),
            "{}",
            c.reason
        );
    }

    fn conn_loop(count: u64) -> Bucket {
        Bucket::from_frames(
            "readLoop",
            count,
            Blocking::IoWait,
            vec![
                frame("internal/poll.runtime_pollWait"),
                frame("net/http.(*persistConn).readLoop"),
            ],
        )
    }

    #[test]
    fn connection_loops_follow_the_load_unless_they_grow_alone() {
        // A ramp: the client's connection loops jump first, the serving buckets follow later.
        let mut a = snap(&[("serve", 500, true)]);
        a.push(conn_loop(50));
        let mut b = snap(&[("serve", 530, true)]);
        b.push(conn_loop(140));
        let c = classify(&[a.clone(), b], &ClassifyOptions::default());
        assert_ne!(c.verdict, Verdict::Leak, "{c:?}");
        // Unclosed response bodies: the loops grow in every interval while serving stays flat.
        let series: Vec<Vec<Bucket>> = [50, 120, 190]
            .into_iter()
            .map(|n| {
                let mut s = snap(&[("serve", 500, true)]);
                s.push(conn_loop(n));
                s
            })
            .collect();
        let c = classify(&series, &ClassifyOptions::default());
        assert_eq!(c.verdict, Verdict::Leak, "{c:?}");
    }

    #[test]
    fn one_interval_is_a_suspected_leak() {
        let series = vec![
            snap(&[("serve", 500, true)]),
            snap(&[("serve", 520, true), ("quota", 180, false)]),
        ];
        let c = classify(&series, &ClassifyOptions::default());
        assert_eq!(c.verdict, Verdict::Leak);
        assert!(!c.confirmed);
    }

    #[test]
    fn serving_buckets_growing_together_are_load() {
        let series = vec![
            snap(&[
                ("serve_a", 300, true),
                ("serve_b", 200, true),
                ("async", 50, false),
            ]),
            snap(&[
                ("serve_a", 450, true),
                ("serve_b", 290, true),
                ("async", 76, false),
            ]),
            snap(&[
                ("serve_a", 600, true),
                ("serve_b", 410, true),
                ("async", 99, false),
            ]),
        ];
        let c = classify(&series, &ClassifyOptions::default());
        assert_eq!(c.verdict, Verdict::Load, "{c:?}");
    }

    #[test]
    fn a_handler_that_never_returns_outgrows_the_other_serving_buckets() {
        let series = vec![
            snap(&[("serve_a", 500, true), ("stuck", 3, true)]),
            snap(&[("serve_a", 510, true), ("stuck", 150, true)]),
            snap(&[("serve_a", 495, true), ("stuck", 300, true)]),
        ];
        let c = classify(&series, &ClassifyOptions::default());
        assert_eq!(c.verdict, Verdict::Leak, "{c:?}");
        assert!(c.sites[0].serving);
    }

    #[test]
    fn a_site_that_stood_higher_before_is_not_a_leak() {
        // A batch that fills up and drains: growing now, but it was higher in the reference.
        let series = vec![
            snap(&[("serve", 500, true), ("batch", 300, false)]),
            snap(&[("serve", 500, true), ("batch", 20, false)]),
            snap(&[("serve", 500, true), ("batch", 250, false)]),
        ];
        let c = classify(&series, &ClassifyOptions::default());
        assert_ne!(c.verdict, Verdict::Leak, "{c:?}");
    }

    #[test]
    fn poisson_wobble_is_not_growth() {
        let series = vec![
            snap(&[("serve", 1000, true), ("bg", 30, false)]),
            snap(&[("serve", 1040, true), ("bg", 33, false)]),
        ];
        let c = classify(&series, &ClassifyOptions::default());
        assert_eq!(c.verdict, Verdict::NoGrowth, "{c:?}");
    }

    #[test]
    fn old_goroutines_confirm_at_once() {
        let mut latest = snap(&[("serve", 500, true), ("quota", 300, false)]);
        latest[1].wait_minutes = Some(WaitStats {
            waiting: 250,
            min: 1,
            median: 3,
            p90: 5,
            max: 6,
        });
        let series = vec![snap(&[("serve", 500, true)]), latest];
        let c = classify(&series, &ClassifyOptions::default());
        assert_eq!(c.verdict, Verdict::Leak);
        assert!(c.confirmed);
        assert_eq!(c.sites[0].oldest_minutes, Some(6));
    }

    #[test]
    fn the_runtime_s_leaked_mark_is_enough() {
        let mut only = snap(&[("serve", 500, true), ("quota", 40, false)]);
        only[1].leaked = 40;
        let c = classify(&[only], &ClassifyOptions::default());
        assert_eq!(c.verdict, Verdict::Leak);
        assert!(c.confirmed);
    }
}
