//! The text report: one block of numbers, bands and a sparkline per target.

use crate::view::plural;
use leakhound_core::config::Levels;
use leakhound_core::report::TargetReport;
use leakhound_core::units::human_bytes;
use std::fmt::Write as _;
use std::time::Duration;

use super::{opt, short_duration, time_of};
/// The text report of one target.
pub fn text(r: &TargetReport, levels: &Levels, since: Duration) -> String {
    let mut s = String::new();
    let t = &r.totals;
    let _ = writeln!(
        s,
        "{} — last {} ({} → {}): {}, {} down",
        r.target,
        short_duration(since),
        time_of(r.since_ms),
        time_of(r.until_ms - 1),
        plural(t.samples, "sample"),
        t.down
    );
    match &r.current {
        Some(c) => {
            let mut line = match c.goroutines {
                Some(g) => {
                    let st = levels.goroutines.state(g);
                    format!("{g} goroutines {} {}", st.emoji(), st.word())
                }
                None if !c.up => format!("DOWN ({})", c.error.as_deref().unwrap_or("no answer")),
                None => "goroutines ?".to_string(),
            };
            if let Some(m) = c.memory_bytes {
                let st = levels.memory.state(m);
                let _ = write!(
                    line,
                    ", memory {} {} {}",
                    human_bytes(m),
                    st.emoji(),
                    st.word()
                );
            }
            let _ = writeln!(s, "  current     {line}  ({})", time_of(c.ts_ms));
        }
        None => {
            let _ = writeln!(s, "  current     no samples");
        }
    }
    let _ = writeln!(
        s,
        "  goroutines  peak {}  trough {}  average {}",
        r.peak.map_or("-".into(), |p| format!(
            "{} at {}",
            p.value,
            time_of(p.ts_ms)
        )),
        r.trough.map_or("-".into(), |p| format!(
            "{} at {}",
            p.value,
            time_of(p.ts_ms)
        )),
        r.goroutines_average
            .map_or("-".into(), |a| format!("{a:.1}"))
    );
    if t.memory.n > 0 {
        let _ = writeln!(
            s,
            "  memory      peak {}  trough {}  average {}",
            opt(t.memory.max.map(human_bytes)),
            opt(t.memory.min.map(human_bytes)),
            opt(r.memory_average_bytes.map(|m| human_bytes(m as u64)))
        );
    }
    if let Some(l) = &r.last_1000 {
        let _ = writeln!(
            s,
            "  last {}   average {:.1} (samples from {} to {})",
            l.samples,
            l.average,
            time_of(l.first_ms),
            time_of(l.last_ms)
        );
    }
    let _ = writeln!(
        s,
        "  trend       {}",
        r.trend
            .as_ref()
            .map_or("unknown (fewer than 2 samples)", |t| t.text.as_str())
    );
    let _ = writeln!(
        s,
        "  distribution ({} with a count)",
        plural(t.goroutines.n, "sample")
    );
    let widest = r
        .distribution
        .iter()
        .map(|b| b.count)
        .max()
        .unwrap_or(0)
        .max(1);
    for b in &r.distribution {
        let bar = "█".repeat(((b.count as f64 / widest as f64) * 30.0).round() as usize);
        let _ = writeln!(
            s,
            "    {} {:<9} {:>11}  {:>8}  {:>5.1}%  {bar}",
            b.state.emoji(),
            b.state.word(),
            b.range,
            b.count,
            b.percent
        );
    }
    let _ = writeln!(s, "  last {:<3}    {}", r.last_100.len(), r.sparkline);
    s
}
