//! The goroutine dumps the agent keeps per target to tell a leak from load.
//!
//! Pure (no IO): the agent's capture task and the detection benchmark (`leakhound::detect_sim`
//! in the `leakhound` package) drive the same [`DumpHistory`]:
//! - a **reference** dump is taken when a target is first seen and again every
//!   [`REFERENCE_EVERY`] while its goroutines do not grow ([`DumpHistory::reference_due`]);
//! - while they grow, the rule engine asks for dumps
//!   ([`leakhound_core::rules::RuleEngine::capture_wanted`]); each is classified against the
//!   newest reference taken before the growth began, with every dump since
//!   ([`goroutine_dump::classify`]), and the verdict goes back to the engine
//!   ([`leakhound_core::rules::RuleEngine::set_verdict`]).
//!
//! A restart (the goroutines fell under 30 % of the previous sample) drops the history: the
//! old process's buckets say nothing about the new one.

use goroutine_dump::{
    classify_with_history, Bucket, Classification, ClassifyOptions, GrowthVerdict, SuspectRow,
};
use leakhound_core::rules::{DumpClass, DumpVerdict};
use std::collections::VecDeque;

/// Dumps kept per target (bucket lists are small: a few hundred buckets each).
pub const KEEP: usize = 8;
/// A fresh reference this often while the target is quiet.
pub const REFERENCE_EVERY_MS: i64 = 30 * 60_000;
/// [`REFERENCE_EVERY_MS`] as a duration, for docs.
pub const REFERENCE_EVERY: std::time::Duration = std::time::Duration::from_secs(30 * 60);
/// How many suspects a verdict names.
const TOP: usize = 3;

/// One target's recent dumps, oldest first.
#[derive(Debug, Default)]
pub struct DumpHistory {
    /// (taken at, buckets, a quiet-time reference).
    dumps: VecDeque<(i64, Vec<Bucket>, bool)>,
    /// Goroutines at the previous sample (restart detection).
    last_goroutines: Option<u64>,
    /// The runtime's leak count of the newest goroutineleak profile.
    runtime_leaked: Option<u64>,
}

impl DumpHistory {
    /// Feed a sample's goroutine count; a restart clears the history.
    pub fn observe(&mut self, goroutines: Option<u64>) {
        if restarted(self.last_goroutines, goroutines) {
            self.dumps.clear();
            self.runtime_leaked = None;
        }
        if goroutines.is_some() {
            self.last_goroutines = goroutines;
        }
    }

    /// Whether a quiet target needs a (new) reference dump at `now`.
    pub fn reference_due(&self, now_ms: i64, growing: bool) -> bool {
        !growing
            && self
                .dumps
                .back()
                .is_none_or(|(at, _, _)| now_ms - at >= REFERENCE_EVERY_MS)
    }

    /// Keep a dump taken at `at_ms` (bucketized by line); `reference`: taken while the target
    /// was quiet ([`DumpHistory::reference_due`]), not for an alert.
    pub fn push(&mut self, at_ms: i64, buckets: Vec<Bucket>, reference: bool) {
        self.dumps.push_back((at_ms, buckets, reference));
        while self.dumps.len() > KEEP {
            // Half the room for references (the oldest goes first); among the dumps taken for
            // alerts, drop the oldest but never the newest: the reference before a long growth
            // must survive many captures, and so must the growth's own first dump.
            let quiet = self.dumps.iter().filter(|d| d.2).count();
            let newest = self.dumps.len() - 1;
            let i = if quiet > KEEP / 2 {
                self.dumps.iter().position(|d| d.2)
            } else {
                self.dumps
                    .iter()
                    .enumerate()
                    .skip(1)
                    .find(|(i, d)| !d.2 && *i < newest)
                    .map(|(i, _)| i)
            };
            self.dumps.remove(i.unwrap_or(0));
        }
    }

    /// The runtime's count from the newest `goroutineleak` profile (`None`: not served).
    pub fn set_runtime_leaked(&mut self, leaked: Option<u64>) {
        self.runtime_leaked = leaked;
    }

    pub fn len(&self) -> usize {
        self.dumps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dumps.is_empty()
    }

    /// Classify the newest dump against the newest one taken before `growth_since` (the
    /// reference) and every dump in between; the dumps before the reference tell which buckets
    /// went up and down before.
    pub fn classify(&self, growth_since: Option<i64>) -> Option<Classification> {
        let newest = self.dumps.back()?.0;
        let since = growth_since.unwrap_or(newest) - 30_000;
        // The reference: the newest quiet-time dump before the growth (else the oldest dump);
        // then every dump since it that was taken after the growth began (alert-time dumps
        // from before it, e.g. for a level alert, may already hold part of the growth).
        let reference = self
            .dumps
            .iter()
            .rposition(|(at, _, quiet)| *quiet && *at < since)
            .unwrap_or(0);
        let earlier: Vec<Vec<Bucket>> = self
            .dumps
            .iter()
            .take(reference)
            .filter(|d| d.2)
            .map(|d| d.1.clone())
            .collect();
        let series: Vec<Vec<Bucket>> = self
            .dumps
            .iter()
            .enumerate()
            .filter(|(i, d)| *i == reference || (*i > reference && d.0 >= since))
            .map(|(_, d)| d.1.clone())
            .collect();
        Some(classify_with_history(
            &earlier,
            &series,
            &ClassifyOptions::default(),
        ))
    }

    /// The engine's verdict from the newest dump (`None` without dumps).
    pub fn verdict(&self, growth_since: Option<i64>) -> Option<DumpVerdict> {
        let at_ms = self.dumps.back()?.0;
        let c = self.classify(growth_since)?;
        Some(verdict_of(&c, at_ms, self.runtime_leaked))
    }
}

/// Whether the goroutine count fell like a restarted process's: under 30 % of the previous
/// sample's, from at least 20 (the agent's ingest state and [`DumpHistory::observe`] both ask).
pub fn restarted(previous: Option<u64>, now: Option<u64>) -> bool {
    matches!((previous, now), (Some(prev), Some(g)) if prev >= 20 && (g as f64) < 0.3 * prev as f64)
}

/// A classification as the rule engine and the messages read it.
pub fn verdict_of(c: &Classification, at_ms: i64, runtime_leaked: Option<u64>) -> DumpVerdict {
    let class = match c.verdict {
        GrowthVerdict::Leak => DumpClass::Leak,
        GrowthVerdict::Load => DumpClass::Load,
        GrowthVerdict::Unclear => DumpClass::Unclear,
        GrowthVerdict::NoGrowth => DumpClass::Flat,
    };
    let suspects = c
        .sites
        .iter()
        .take(TOP)
        .map(|s| SuspectRow::from(s).to_string())
        .collect();
    let proved = runtime_leaked.filter(|&n| n > 0);
    let mut summary = c.reason.clone();
    if let Some(n) = proved {
        summary.push_str(&format!(
            "; the Go runtime proved {n} goroutines leaked (goroutineleak profile)"
        ));
    }
    DumpVerdict {
        at_ms,
        class,
        confirmed: c.confirmed || (class == DumpClass::Leak && proved.is_some()),
        summary,
        site: c
            .sites
            .first()
            .and_then(|s| s.site.as_ref().map(|f| f.function.clone())),
        suspects,
        runtime_leaked,
    }
}

/// The verdict when no dump can be had.
pub fn unavailable(at_ms: i64, why: &str) -> DumpVerdict {
    DumpVerdict {
        at_ms,
        class: DumpClass::Unavailable,
        confirmed: false,
        summary: format!("not classified: {why}"),
        site: None,
        suspects: Vec::new(),
        runtime_leaked: None,
    }
}
