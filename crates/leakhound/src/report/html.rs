//! The single-file HTML report: charts, numbers, alerts and the newest bundle's suspects.

use crate::view::plural;
use leakhound_agent::guide_log::local_time;
use leakhound_core::config::Levels;
use leakhound_core::report::TargetReport;
use leakhound_core::rules::Transition;
use leakhound_core::units::human_bytes;
use leakhound_store::Bundle;
use std::fmt::Write as _;
use std::time::Duration;

use super::{charts_svg, opt, short_duration};

/// What the HTML report adds to the numbers of a target.
pub struct Extras {
    pub alerts: Vec<Transition>,
    pub bundle: Option<Bundle>,
}

/// Escape text for HTML element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1040px;color:#1f2328}\
h1{font-size:1.5em}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .8em;border:1px solid #d0d7de;text-align:left}\
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}.spark{font-size:1.3em;letter-spacing:-1px}\
.muted{color:#59636e}svg{max-width:100%;height:auto}";

/// The single-file HTML report: every value is escaped; charts are inline SVG.
pub fn html(
    reports: &[TargetReport],
    extras: &[Extras],
    levels: &Levels,
    since: Duration,
    font: bool,
    generated_ms: i64,
) -> anyhow::Result<String> {
    let mut s = String::new();
    let title = match reports {
        [one] => format!("leakhound report — {}", one.target),
        _ => format!("leakhound report — {} targets", reports.len()),
    };
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n<p class=\"muted\">The last {} until {}, from the agent's store. Bands: the guide's health table (GUIDE §7).</p>\n",
        escape(&title),
        escape(&title),
        escape(&short_duration(since)),
        escape(&local_time(generated_ms))
    );
    if reports.is_empty() {
        s.push_str("<p>No targets in this database yet.</p>\n");
    }
    for (r, extra) in reports.iter().zip(extras) {
        let t = &r.totals;
        let _ = writeln!(s, "<h2 id=\"{0}\">{0}</h2>", escape(&r.target));
        s.push_str("<table>\n");
        let mut row = |k: &str, v: String| {
            let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(&v));
        };
        row("samples", format!("{} ({} down)", t.samples, t.down));
        if let Some(c) = &r.current {
            row(
                "current",
                format!(
                    "{} goroutines{}{} at {}",
                    opt(c.goroutines),
                    r.current_state.map_or(String::new(), |st| format!(
                        " ({} {})",
                        st.emoji(),
                        st.word()
                    )),
                    c.memory_bytes
                        .map_or(String::new(), |m| format!(", memory {}", human_bytes(m))),
                    local_time(c.ts_ms)
                ),
            );
        }
        row(
            "peak",
            r.peak.map_or("-".into(), |p| {
                format!("{} at {}", p.value, local_time(p.ts_ms))
            }),
        );
        row(
            "trough",
            r.trough.map_or("-".into(), |p| {
                format!("{} at {}", p.value, local_time(p.ts_ms))
            }),
        );
        row(
            "average",
            r.goroutines_average
                .map_or("-".into(), |a| format!("{a:.1}")),
        );
        if let Some(l) = &r.last_1000 {
            row(
                &format!("average of the last {}", l.samples),
                format!("{:.1}", l.average),
            );
        }
        if t.memory.n > 0 {
            row(
                "memory",
                format!(
                    "peak {}, trough {}, average {}",
                    opt(t.memory.max.map(human_bytes)),
                    opt(t.memory.min.map(human_bytes)),
                    opt(r.memory_average_bytes.map(|m| human_bytes(m as u64)))
                ),
            );
        }
        row(
            "trend",
            r.trend
                .as_ref()
                .map_or("unknown (fewer than 2 samples)".into(), |t| t.text.clone()),
        );
        s.push_str("</table>\n");
        let _ = writeln!(
            s,
            "<p>Last {}: <span class=\"spark\">{}</span></p>",
            plural(r.last_100.len() as u64, "sample"),
            escape(&r.sparkline)
        );
        s.push_str(
            "<table><tr><th>state</th><th>goroutines</th><th>samples</th><th>share</th></tr>\n",
        );
        for b in &r.distribution {
            let _ = writeln!(
                s,
                "<tr><td>{} {}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td></tr>",
                b.state.emoji(),
                escape(b.state.word()),
                escape(&b.range),
                b.count,
                b.percent
            );
        }
        s.push_str("</table>\n");
        // The SVG is made by plotters from our numbers; the target name in its caption is
        // escaped by the SVG backend.
        s.push_str(&charts_svg(std::slice::from_ref(r), levels, font)?);
        s.push('\n');
        let _ = writeln!(s, "<h3>Alerts</h3>");
        if extra.alerts.is_empty() {
            s.push_str("<p class=\"muted\">No alerts in this range.</p>\n");
        } else {
            s.push_str("<table><tr><th>time</th><th>rule</th><th>severity</th><th>event</th><th>value</th><th>threshold</th></tr>\n");
            for a in &extra.alerts {
                let _ = writeln!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.0}</td><td class=\"n\">{:.0}</td></tr>",
                    escape(&local_time(a.at_ms)),
                    escape(&a.rule),
                    escape(a.severity.name()),
                    escape(a.kind.name()),
                    a.value,
                    a.threshold
                );
            }
            s.push_str("</table>\n");
        }
        let _ = writeln!(s, "<h3>Suspects</h3>");
        match &extra.bundle {
            Some(b) if !b.suspects.is_empty() => {
                let _ = writeln!(
                    s,
                    "<p class=\"muted\">From the newest evidence bundle ({}, {}, {}).</p>",
                    escape(&local_time(b.at_ms)),
                    escape(&b.trigger),
                    escape(&b.dir.display().to_string())
                );
                // Each suspect in the line messages and the dashboard print.
                s.push_str("<ol>\n");
                for x in &b.suspects {
                    let _ = writeln!(
                        s,
                        "<li><code>{}</code></li>",
                        escape(&leakhound_agent::evidence::suspect_line(x))
                    );
                }
                s.push_str("</ol>\n");
            }
            Some(b) => {
                let _ = writeln!(
                    s,
                    "<p class=\"muted\">The newest evidence bundle ({}) names no suspects.</p>",
                    escape(&local_time(b.at_ms))
                );
            }
            None => s.push_str(
                "<p class=\"muted\">No evidence bundle for this target (bundles are taken on alerts, or with <code>leakhound capture</code>).</p>\n",
            ),
        }
    }
    s.push_str("</body></html>\n");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_matters() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
