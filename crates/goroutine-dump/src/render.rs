//! One way to show a suspect, wherever it is shown: a [`SuspectRow`] is built from a ranked
//! [`Suspect`], a verdict's [`LeakSite`], a bucket, or (by the agent) a suspect stored in an
//! evidence bundle; its [`Display`](std::fmt::Display) is the one line that messages, logs and
//! the web dashboard print, and [`suspect_table`] is the table of `leakhound analyze`. The
//! cells ([`SuspectRow::site`], [`SuspectRow::counts_text`], [`labels_text`]) are the TUI's.

use std::fmt::{self, Write as _};

use crate::bucket::{short_function, Bucket, FrameOut, LabelCount};
use crate::classify::LeakSite;
use crate::suspect::{Confidence, Suspect};

/// A suspect as every view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SuspectRow {
    /// Fully qualified function of the call site; empty when the stack has no frame.
    pub function: String,
    /// `file.go:123`; empty when unknown.
    pub location: String,
    /// Goroutines there in each snapshot compared, oldest first (one: nothing compared).
    pub counts: Vec<u64>,
    /// Growth measured against [`SuspectRow::since`] (`None`: nothing compared).
    pub growth: Option<i64>,
    /// What the growth is counted from, in words: `the first snapshot`, `the reference`, `the
    /// previous bundle`.
    pub since: String,
    /// How much evidence there is (ranked suspects only).
    pub confidence: Option<Confidence>,
    /// What they block on (`chan receive`, …; `?` or empty when unknown).
    pub blocking: String,
    /// Labels carried by most of them; a `count` below the last count shows as a share.
    pub labels: Vec<LabelCount>,
    /// Longest `N minutes` wait.
    pub oldest_minutes: Option<u32>,
    /// The most common `created by` site, short (`pkg.F file.go:12`).
    pub created_by: Option<String>,
    /// Why it was flagged, in words.
    pub reasons: Vec<String>,
}

impl SuspectRow {
    /// Goroutines there in the last snapshot.
    pub fn count(&self) -> u64 {
        self.counts.last().copied().unwrap_or(0)
    }

    /// `pkg.(*T).method` (the package path cut to its last element), `?` without a frame.
    pub fn short_function(&self) -> &str {
        if self.function.is_empty() {
            "?"
        } else {
            short_function(&self.function)
        }
    }

    /// `pkg.(*T).method file.go:42`, or `(no frames)`.
    pub fn site(&self) -> String {
        match (self.function.is_empty(), self.location.is_empty()) {
            (true, _) => "(no frames)".to_string(),
            (false, true) => short_function(&self.function).to_string(),
            (false, false) => format!("{} {}", short_function(&self.function), self.location),
        }
    }

    /// `10→20→300` (at most four counts, else `10→…→300`).
    pub fn counts_text(&self) -> String {
        counts_text(&self.counts)
    }

    /// What they block on, `None` when unknown.
    pub fn blocking_known(&self) -> Option<&str> {
        Some(self.blocking.as_str()).filter(|b| !b.is_empty() && *b != "?")
    }

    /// A bucket of one snapshot (nothing compared), with the labels carried by at least
    /// `dominant_share` of it.
    pub fn of_bucket(b: &Bucket, dominant_share: f64) -> SuspectRow {
        let site = b.site();
        SuspectRow {
            function: site.map_or_else(String::new, |f| f.function.clone()),
            location: site.map_or_else(String::new, FrameOut::location),
            counts: vec![b.count],
            growth: None,
            since: String::new(),
            confidence: None,
            blocking: b.blocking.as_str().to_string(),
            labels: b
                .dominant_labels(dominant_share)
                .into_iter()
                .cloned()
                .collect(),
            oldest_minutes: b.wait_minutes.as_ref().map(|w| w.max),
            created_by: b.created_by.as_ref().map(FrameOut::short),
            reasons: Vec::new(),
        }
    }
}

impl From<&Suspect> for SuspectRow {
    fn from(s: &Suspect) -> SuspectRow {
        let site = s.site();
        SuspectRow {
            function: site.map_or_else(String::new, |f| f.function.clone()),
            location: site.map_or_else(String::new, FrameOut::location),
            counts: s.counts.clone(),
            growth: (s.counts.len() > 1).then_some(s.growth),
            since: "the first snapshot".into(),
            confidence: Some(s.confidence),
            blocking: s.blocking.as_str().to_string(),
            labels: s.dominant_labels.clone(),
            oldest_minutes: s.max_wait_minutes,
            created_by: s.created_by.as_ref().map(FrameOut::short),
            reasons: s.reasons.clone(),
        }
    }
}

impl From<&LeakSite> for SuspectRow {
    fn from(s: &LeakSite) -> SuspectRow {
        SuspectRow {
            function: s
                .site
                .as_ref()
                .map_or_else(|| s.key.clone(), |f| f.function.clone()),
            location: s.site.as_ref().map_or_else(String::new, FrameOut::location),
            counts: s.counts.clone(),
            growth: Some(s.growth),
            since: "the reference".into(),
            confidence: None,
            blocking: String::new(),
            labels: s.labels.clone(),
            oldest_minutes: s.oldest_minutes,
            created_by: None,
            reasons: Vec::new(),
        }
    }
}

/// The one line: `leaky/internal/leaks.(*Relay).waitReply (relay.go:42): 3000 goroutines,
/// +2990 since the previous bundle, chan receive, oldest 12 min, labels channel=openai`.
impl fmt::Display for SuspectRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.function.is_empty(), self.location.is_empty()) {
            (true, _) => f.write_str("(no frames)")?,
            (false, true) => f.write_str(&self.function)?,
            (false, false) => write!(f, "{} ({})", self.function, self.location)?,
        }
        write!(f, ": {} goroutines", self.count())?;
        if let Some(g) = self.growth {
            write!(f, ", {g:+} since {}", self.since)?;
        }
        if let Some(b) = self.blocking_known() {
            write!(f, ", {b}")?;
        }
        if let Some(m) = self.oldest_minutes.filter(|&m| m > 0) {
            write!(f, ", oldest {m} min")?;
        }
        if !self.labels.is_empty() {
            write!(f, ", labels {}", labels_text(&self.labels, self.count()))?;
        }
        Ok(())
    }
}

impl fmt::Display for Suspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SuspectRow::from(self).fmt(f)
    }
}

/// Cuts `s` to at most `n` characters, ending with `…` when cut.
pub fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `10→20→300` (at most four counts, else `10→…→300`).
pub fn counts_text(c: &[u64]) -> String {
    if c.len() <= 4 {
        c.iter().map(u64::to_string).collect::<Vec<_>>().join("→")
    } else {
        format!(
            "{}→…→{}",
            c.first().copied().unwrap_or(0),
            c.last().copied().unwrap_or(0)
        )
    }
}

/// `site=chan, channel=openai 80%/azure 20%`: values grouped by key, shares of `count` when
/// below 100 %.
pub fn labels_text(labels: &[LabelCount], count: u64) -> String {
    let mut keys: Vec<(&str, Vec<String>)> = Vec::new();
    for l in labels {
        let v = if count > 0 && l.count < count {
            format!("{} {:.0}%", l.value, 100.0 * l.count as f64 / count as f64)
        } else {
            l.value.clone()
        };
        match keys.iter_mut().find(|(k, _)| *k == l.key) {
            Some((_, vs)) => vs.push(v),
            None => keys.push((&l.key, vec![v])),
        }
    }
    keys.iter()
        .map(|(k, vs)| format!("{k}={}", vs.join("/")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The suspects table of `leakhound analyze`, `width` characters wide: the first `top` rows
/// (0 = all), each with its created-by site, labels and reasons under it.
pub fn suspect_table(rows: &[SuspectRow], snapshots: usize, top: usize, width: usize) -> String {
    let mut s = String::new();
    if rows.is_empty() {
        let _ = writeln!(
            s,
            "No leak suspects across {snapshots} snapshots: no bucket grew steadily."
        );
        return s;
    }
    let shown = if top == 0 {
        rows.len()
    } else {
        top.min(rows.len())
    };
    let _ = writeln!(
        s,
        "{} leak suspect{} across {} snapshots (oldest first), worst first",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        snapshots
    );
    let _ = writeln!(
        s,
        "{:>2} {:<6} {:<22} {:<13} LEAKING SITE",
        "#", "CONF", "COUNTS", "BLOCKED ON"
    );
    let lead = 2 + 1 + 6 + 1 + 22 + 1 + 13 + 1;
    let room = width.saturating_sub(lead).max(20);
    for (i, x) in rows.iter().take(shown).enumerate() {
        let _ = writeln!(
            s,
            "{:>2} {:<6} {:<22} {:<13} {}",
            i + 1,
            x.confidence.map_or("-", Confidence::as_str),
            fit(&x.counts_text(), 22),
            fit(&x.blocking, 13),
            fit(&x.site(), room)
        );
        let mut under = Vec::new();
        if let Some(c) = &x.created_by {
            under.push(format!("created by {c}"));
        }
        if !x.labels.is_empty() {
            under.push(format!("labels {}", labels_text(&x.labels, x.count())));
        }
        under.extend(x.reasons.iter().cloned());
        for u in under {
            let _ = writeln!(s, "{:lead$}{}", "", fit(&u, room));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> SuspectRow {
        SuspectRow {
            function: "leaky/internal/leaks.(*Relay).waitReply".into(),
            location: "relay.go:42".into(),
            counts: vec![10, 3000],
            growth: Some(2990),
            since: "the previous bundle".into(),
            confidence: None,
            blocking: "chan receive".into(),
            labels: vec![LabelCount {
                key: "channel".into(),
                value: "openai".into(),
                count: 2400,
            }],
            oldest_minutes: Some(12),
            created_by: None,
            reasons: Vec::new(),
        }
    }

    #[test]
    fn one_line_names_the_site_the_growth_and_the_labels() {
        assert_eq!(
            row().to_string(),
            "leaky/internal/leaks.(*Relay).waitReply (relay.go:42): 3000 goroutines, \
             +2990 since the previous bundle, chan receive, oldest 12 min, labels channel=openai 80%"
        );
        let bare = SuspectRow {
            counts: vec![7],
            growth: None,
            blocking: "?".into(),
            labels: vec![],
            oldest_minutes: None,
            ..row()
        };
        assert_eq!(
            bare.to_string(),
            "leaky/internal/leaks.(*Relay).waitReply (relay.go:42): 7 goroutines"
        );
    }

    #[test]
    fn cells() {
        assert_eq!(row().site(), "leaks.(*Relay).waitReply relay.go:42");
        assert_eq!(counts_text(&[1, 2, 3, 4, 5]), "1→…→5");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
