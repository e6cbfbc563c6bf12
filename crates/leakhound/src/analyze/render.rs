//! The text tables of `analyze` and `diff` (pure): snapshot lines, buckets, changes; the
//! suspects table is the dump crate's shared one ([`goroutine_dump::suspect_table`]).

use std::fmt::Write as _;
use std::time::Duration;

use goroutine_dump::{
    fit, labels_text, suspect_table, Bucket, Diff, DiffEntry, FrameOut, Suspect, SuspectRow,
};

use super::input::Loaded;
use super::WIDTH;

/// What `analyze` prints: the sources read, the runtime's leaks, then the buckets of the last
/// snapshot or the suspects across them.
pub(super) struct AnalyzeView<'a> {
    pub loaded: &'a [Loaded],
    pub runtime_leaks: Option<&'a [Bucket]>,
    pub buckets: &'a [Bucket],
    /// With several snapshots.
    pub suspects: Option<&'a [Suspect]>,
    pub top: usize,
    pub stacks: bool,
}

pub(super) fn analyze_text(v: &AnalyzeView<'_>) -> String {
    let mut s = String::new();
    for l in v.loaded {
        s.push_str(&render_snapshot_line(l));
        for w in l.snapshot.warnings() {
            let w = format!("  warning: line {}: {}", w.line, w.message);
            let _ = writeln!(s, "{}", fit(&w, WIDTH));
        }
    }
    s.push('\n');
    if let Some(leaks) = v.runtime_leaks.filter(|l| !l.is_empty()) {
        let n: u64 = leaks.iter().map(|b| b.count).sum();
        let _ = writeln!(
            s,
            "The Go runtime's goroutineleak profile reports {n} leaked goroutines:"
        );
        s.push_str(&render_buckets(leaks, n, v.top, false));
        s.push('\n');
    }
    match v.suspects {
        None => {
            let total = v.loaded.last().map_or(0, |l| l.snapshot.total());
            s.push_str(&render_buckets(v.buckets, total, v.top, v.stacks));
        }
        Some(list) => {
            let rows: Vec<SuspectRow> = list.iter().map(SuspectRow::from).collect();
            s.push_str(&suspect_table(&rows, v.loaded.len(), v.top, WIDTH));
        }
    }
    s
}

pub(super) fn render_snapshot_line(l: &Loaded) -> String {
    let rest = format!(
        ": {}, {} goroutines, {} in {}",
        l.snapshot.format(),
        l.snapshot.total(),
        human_bytes(l.bytes),
        human_duration(l.elapsed)
    );
    let room = WIDTH.saturating_sub(rest.chars().count()).max(20);
    format!("{}{rest}\n", fit_left(&l.name, room))
}

/// Cuts `s` to at most `n` characters from the left (`…` + the tail): paths keep their file name.
pub(super) fn fit_left(s: &str, n: usize) -> String {
    let len = s.chars().count();
    if len <= n {
        return s.to_string();
    }
    let tail: String = s.chars().skip(len - n.saturating_sub(1)).collect();
    format!("…{tail}")
}

pub(super) fn human_bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

pub(super) fn human_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

pub(super) fn site(f: Option<&FrameOut>) -> String {
    f.map_or_else(|| "(no frames)".to_string(), FrameOut::short)
}

pub(super) fn wait_text(b: &Bucket) -> String {
    match &b.wait_minutes {
        Some(w) if w.max == w.min => format!("{} min", w.max),
        Some(w) => format!("{}-{} min", w.min, w.max),
        None => "-".to_string(),
    }
}

pub(super) fn render_buckets(buckets: &[Bucket], total: u64, top: usize, stacks: bool) -> String {
    let mut s = String::new();
    let shown = if top == 0 {
        buckets.len()
    } else {
        top.min(buckets.len())
    };
    let kept: u64 = buckets.iter().map(|b| b.count).sum();
    let of = if kept == total {
        format!("total {total} goroutines")
    } else {
        format!("{kept} of {total} goroutines pass --filter/--exclude")
    };
    let _ = writeln!(s, "{} buckets, top {shown} by count ({of})", buckets.len());
    let _ = writeln!(
        s,
        "{:>8} {:>6}  {:<13} {:<9} SITE (first non-runtime, non-stdlib frame)",
        "COUNT", "SHARE", "BLOCKED ON", "WAITED"
    );
    let lead = 8 + 1 + 6 + 2 + 13 + 1 + 9 + 1;
    for b in buckets.iter().take(shown) {
        let share = if total > 0 {
            100.0 * b.count as f64 / total as f64
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "{:>8} {:>5.1}%  {:<13} {:<9} {}",
            b.count,
            share,
            fit(b.blocking.as_str(), 13),
            fit(&wait_text(b), 9),
            fit(&site(b.site()), WIDTH - lead)
        );
        let mut extra = Vec::new();
        if let Some(c) = &b.created_by {
            let mut t = format!("created by {}", c.short());
            if let Some(id) = b.creator_id {
                let _ = write!(t, " in goroutine {id}");
            }
            extra.push(t);
        }
        if !b.labels.is_empty() {
            extra.push(format!("labels {}", labels_text(&b.labels, b.count)));
        }
        if b.truncated > 0 {
            extra.push(format!("{} truncated", b.truncated));
        }
        if b.leaked > 0 {
            extra.push(format!("{} marked (leaked)", b.leaked));
        }
        for e in extra {
            let _ = writeln!(s, "{:lead$}{}", "", fit(&e, WIDTH - lead));
        }
        if stacks {
            for f in &b.frames {
                let _ = writeln!(s, "{:lead$}  {}", "", fit(&f.short(), WIDTH - lead - 2));
            }
        }
    }
    if shown < buckets.len() {
        let rest: u64 = buckets.iter().skip(shown).map(|b| b.count).sum();
        let _ = writeln!(
            s,
            "… {} more buckets with {} goroutines (--top 0 shows all)",
            buckets.len() - shown,
            rest
        );
    }
    s
}

pub(super) fn render_diff(d: &Diff, top: usize, all: bool) -> String {
    let mut s = String::new();
    let delta = d.after_total as i64 - d.before_total as i64;
    let _ = writeln!(
        s,
        "{} → {} goroutines ({:+})",
        d.before_total, d.after_total, delta
    );
    let rows: Vec<&DiffEntry> = d.entries.iter().filter(|e| all || e.delta != 0).collect();
    if rows.is_empty() {
        let _ = writeln!(s, "No bucket changed.");
        return s;
    }
    let shown = if top == 0 {
        rows.len()
    } else {
        top.min(rows.len())
    };
    let _ = writeln!(
        s,
        "{:<8} {:>8} {:>8} {:>8}  {:<13} SITE",
        "CHANGE", "BEFORE", "AFTER", "DELTA", "BLOCKED ON"
    );
    let lead = 8 + 1 + 8 + 1 + 8 + 1 + 8 + 2 + 13 + 1;
    for e in rows.iter().take(shown) {
        let _ = writeln!(
            s,
            "{:<8} {:>8} {:>8} {:>+8}  {:<13} {}",
            e.change.as_str(),
            e.before,
            e.after,
            e.delta,
            fit(e.blocking.as_str(), 13),
            fit(&site(e.site()), WIDTH - lead)
        );
        if !e.labels.is_empty() {
            let l = labels_text(&e.labels, e.after.max(e.before));
            let _ = writeln!(
                s,
                "{:lead$}{}",
                "",
                fit(&format!("labels {l}"), WIDTH - lead)
            );
        }
    }
    if shown < rows.len() {
        let _ = writeln!(s, "… {} more (--top 0 shows all)", rows.len() - shown);
    }
    s
}
