//! Comparing two snapshots bucket by bucket.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::bucket::{Blocking, Bucket, FrameOut, LabelCount};

/// How a bucket changed between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only in the second snapshot.
    New,
    /// In both, more goroutines in the second.
    Grew,
    /// In both, fewer goroutines in the second.
    Shrank,
    /// In both, the same count.
    Same,
    /// Only in the first snapshot.
    Vanished,
}

impl Change {
    /// Lower-case name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Grew => "grew",
            Change::Shrank => "shrank",
            Change::Same => "same",
            Change::Vanished => "vanished",
        }
    }
}

/// One bucket's change.
#[derive(Debug, Clone, Serialize)]
pub struct DiffEntry {
    /// What happened.
    pub change: Change,
    /// The bucket key (see [`Bucket::key`]).
    pub key: String,
    /// Goroutines before.
    pub before: u64,
    /// Goroutines after.
    pub after: u64,
    /// `after - before`.
    pub delta: i64,
    /// What the goroutines block on.
    pub blocking: Blocking,
    /// First non-runtime, non-stdlib frame.
    pub top_frame: Option<FrameOut>,
    /// Most common `created by` site.
    pub created_by: Option<FrameOut>,
    /// Labels (of the later snapshot when present there).
    pub labels: Vec<LabelCount>,
    /// The trimmed stack, leaf first.
    pub frames: Vec<FrameOut>,
}

impl DiffEntry {
    /// The frame to show: the top user frame, else the first trimmed frame.
    pub fn site(&self) -> Option<&FrameOut> {
        self.top_frame.as_ref().or(self.frames.first())
    }
}

/// The difference between two bucket lists, ranked: growth first (largest first), then
/// shrinkage (largest first), then unchanged buckets.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// Goroutines in the first snapshot.
    pub before_total: u64,
    /// Goroutines in the second snapshot.
    pub after_total: u64,
    /// One entry per bucket key seen in either snapshot.
    pub entries: Vec<DiffEntry>,
}

impl Diff {
    /// Entries that grew or are new.
    pub fn grown(&self) -> impl Iterator<Item = &DiffEntry> {
        self.entries.iter().filter(|e| e.delta > 0)
    }
}

fn entry(change: Change, before: u64, after: u64, b: &Bucket) -> DiffEntry {
    DiffEntry {
        change,
        key: b.key.clone(),
        before,
        after,
        delta: crate::model::delta(after, before),
        blocking: b.blocking,
        top_frame: b.top_frame.clone(),
        created_by: b.created_by.clone(),
        labels: b.labels.clone(),
        frames: b.frames.clone(),
    }
}

/// Diffs two bucket lists by key (group both with the same [`crate::GroupBy`]).
pub fn diff(before: &[Bucket], after: &[Bucket]) -> Diff {
    let before_by: FxHashMap<&str, &Bucket> = before.iter().map(|b| (b.key.as_str(), b)).collect();
    let mut seen: FxHashMap<&str, ()> = FxHashMap::default();
    let mut entries = Vec::with_capacity(before.len().max(after.len()));
    for a in after {
        seen.insert(a.key.as_str(), ());
        match before_by.get(a.key.as_str()) {
            Some(b) => {
                let change = match a.count.cmp(&b.count) {
                    std::cmp::Ordering::Greater => Change::Grew,
                    std::cmp::Ordering::Less => Change::Shrank,
                    std::cmp::Ordering::Equal => Change::Same,
                };
                let mut e = entry(change, b.count, a.count, a);
                if e.labels.is_empty() {
                    e.labels = b.labels.clone();
                }
                if e.created_by.is_none() {
                    e.created_by = b.created_by.clone();
                }
                entries.push(e);
            }
            None => entries.push(entry(Change::New, 0, a.count, a)),
        }
    }
    for b in before {
        if !seen.contains_key(b.key.as_str()) {
            entries.push(entry(Change::Vanished, b.count, 0, b));
        }
    }
    entries.sort_by(|x, y| {
        let rank = |e: &DiffEntry| match e.delta {
            d if d > 0 => 0,
            d if d < 0 => 1,
            _ => 2,
        };
        rank(x)
            .cmp(&rank(y))
            .then_with(|| y.delta.unsigned_abs().cmp(&x.delta.unsigned_abs()))
            .then_with(|| y.after.cmp(&x.after))
            .then_with(|| x.key.cmp(&y.key))
    });
    Diff {
        before_total: crate::model::sum_counts(before.iter().map(|b| b.count)),
        after_total: crate::model::sum_counts(after.iter().map(|b| b.count)),
        entries,
    }
}
