//! `leakhound report`: GUIDE §8 `compare_goroutines.sh` over the agent's stored history — as
//! text, JSON, charts (PNG/SVG) or a single-file HTML report for an incident ticket.
//!
//! The numbers come from `leakhound_store::History` (SQL aggregates and rollups, never
//! the rows); this module only renders them. Rendering functions return strings/bytes; `run`
//! does the reading and writing.

use crate::cli::DbArgs;
use crate::run::load_config;
use crate::silence::existing_database;
use crate::view::plural;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use leakhound_agent::agent::now_ms;
use leakhound_agent::guide_log::local_time;
use leakhound_core::config::{Config, Levels};
use leakhound_core::report::TargetReport;
use leakhound_core::rules::Transition;
use leakhound_core::units::{human_bytes, human_duration};
use leakhound_store::Bundle;
use leakhound_store::History;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  leakhound report                             every target, the last hour
  leakhound report one-api --since 24h         one target, the last day
  leakhound report --since 30d --format html --out incident.html
  leakhound report one-api --format png --out one-api.png

Exit codes: 0 a report was written, 2 no samples in the range, 3 an error (e.g. an unknown target).")]
pub struct ReportArgs {
    /// The target's name as stored by the agent (default: every target).
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
    /// How far back (e.g. 30m, 24h, 7d, 30d).
    #[arg(long, default_value = "1h", value_parser = parse_duration, value_name = "DURATION")]
    pub since: Duration,
    #[command(flatten)]
    pub db: DbArgs,
    /// text, json, png or svg (charts: goroutines and memory with the guide's bands), or html
    /// (one self-contained file: charts, numbers, alerts, suspects).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write here instead of stdout (required for png; default for svg/html: stdout).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Png,
    Svg,
    Html,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    leakhound_core::units::parse_duration(text)
}

/// Minimum growth per hour before the report calls the trend growing: the config's
/// `goroutines_growth` threshold when the verify section sets none differently.
pub(crate) fn min_growth(config: &Config) -> f64 {
    config.verify.min_growth_per_hour
}

/// The config file when it exists, else the guide's defaults.
pub(crate) fn config_or_default(db: &DbArgs) -> anyhow::Result<Config> {
    if db.config.exists() {
        load_config(&db.config)
    } else {
        Ok(Config::default())
    }
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let config = config_or_default(&args.db)?;
    let path = existing_database(&args.db)?;
    let mut history = History::open(&path)?;
    let until = now_ms() + 1;
    let since = until - i64::try_from(args.since.as_millis()).unwrap_or(i64::MAX / 2);
    let targets = match &args.target {
        Some(t) => vec![t.clone()],
        None => history.targets()?,
    };
    if args.format == Format::Png && args.out.is_none() {
        bail!("--format png needs --out FILE.png (a PNG on a terminal is unreadable)");
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let found = leakhound_store::history::reports(
        &path,
        &targets,
        since,
        until,
        &config.levels.goroutines,
        min_growth(&config),
        threads,
    )?;
    let mut reports = Vec::with_capacity(found.len());
    for (name, report) in targets.iter().zip(found) {
        match report {
            Some(r) => reports.push(r),
            None => {
                let known = history.targets()?;
                bail!(
                    "no target '{name}' in '{}'; stored targets: {}",
                    path.display(),
                    if known.is_empty() {
                        "none yet (is `leakhound run` writing to this database?)".to_string()
                    } else {
                        known.into_iter().take(10).collect::<Vec<_>>().join(", ")
                    }
                );
            }
        }
    }
    let output: Vec<u8> = match args.format {
        Format::Text => {
            let mut s = String::new();
            for r in &reports {
                s.push_str(&text(r, &config.levels, args.since));
                s.push('\n');
            }
            if reports.is_empty() {
                s.push_str("no targets in this database yet\n");
            }
            s.into_bytes()
        }
        Format::Json => {
            let mut v = serde_json::to_vec_pretty(&reports)?;
            v.push(b'\n');
            v
        }
        Format::Svg | Format::Png | Format::Html => {
            let font = fonts::register();
            if !font {
                eprintln!(
                    "warning: no TrueType font found (install fonts-dejavu-core, or set \
                     LEAKHOUND_FONT=/path/to/font.ttf): the charts have no labels"
                );
            }
            match args.format {
                Format::Svg => charts_svg(&reports, &config.levels, font)?.into_bytes(),
                Format::Png => charts_png(&reports, &config.levels, font)?,
                _ => {
                    let mut extras = Vec::new();
                    for r in &reports {
                        extras.push(Extras {
                            alerts: history.alerts(&r.target, since, 50)?,
                            bundle: history.latest_bundle(&r.target)?,
                        });
                    }
                    html(&reports, &extras, &config.levels, args.since, font, until)?.into_bytes()
                }
            }
        }
    };
    match &args.out {
        Some(p) => std::fs::write(p, &output)
            .with_context(|| format!("cannot write the report to '{}'", p.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&output)?;
        }
    }
    let empty = reports.iter().all(|r| r.totals.samples == 0);
    Ok(if empty {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// `30d`, `24h`, `90m` as users write `--since` (humantime would say `30days`).
fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => human_duration(d),
        s if s % 86_400 == 0 && s >= 2 * 86_400 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        _ => human_duration(d),
    }
}

fn time_of(ts_ms: i64) -> String {
    local_time(ts_ms)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

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

// ---------------------------------------------------------------------------------------------
// Charts

mod fonts {
    use plotters::style::FontStyle;

    const CANDIDATES: [&str; 6] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "C:\\Windows\\Fonts\\arial.ttf",
    ];

    /// Register a sans-serif font for chart text: `LEAKHOUND_FONT`, else a common system font.
    /// Whether one was found.
    pub fn register() -> bool {
        let from_env = std::env::var("LEAKHOUND_FONT").ok();
        for path in from_env.iter().map(String::as_str).chain(CANDIDATES) {
            if let Ok(bytes) = std::fs::read(path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    }
}

const WIDTH: u32 = 1000;
const PANEL: u32 = 300;

/// Colours of the ladder's bands, excellent … danger.
const BAND_COLOURS: [RGBColor; 6] = [
    RGBColor(46, 160, 67),
    RGBColor(46, 160, 67),
    RGBColor(212, 167, 44),
    RGBColor(219, 109, 40),
    RGBColor(207, 34, 46),
    RGBColor(130, 7, 30),
];

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

fn draw_target<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    r: &TargetReport,
    levels: &Levels,
    font: bool,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let (top, bottom) = area.split_vertically(PANEL);
    let x0 = r.since_ms as f64;
    let x1 = (r.until_ms as f64).max(x0 + 1.0);
    let fmt_x = |x: &f64| {
        let t = local_time(*x as i64);
        if r.until_ms - r.since_ms > 2 * 86_400_000 {
            t.get(5..16).unwrap_or(&t).to_string()
        } else {
            t.get(11..16).unwrap_or(&t).to_string()
        }
    };
    // Goroutines, with the ladder's bands shaded.
    let peak = r.totals.goroutines.max.unwrap_or(0) as f64;
    let ladder = levels.goroutines.0;
    let y_max = (peak * 1.15).max(ladder[1] as f64 * 1.1);
    let mut builder = ChartBuilder::on(&top);
    builder
        .margin(10)
        .x_label_area_size(if font { 28 } else { 0 })
        .y_label_area_size(if font { 60 } else { 0 });
    if font {
        builder.caption(
            format!("{} — goroutines (min–max band, average line)", r.target),
            ("sans-serif", 18),
        );
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, 0f64..y_max)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE.mix(0.0));
    if font {
        mesh.x_label_formatter(&fmt_x)
            .y_label_formatter(&|y: &f64| format!("{y:.0}"))
            .x_labels(8)
            .y_labels(6);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    let edges = [
        0.0,
        ladder[0] as f64,
        ladder[1] as f64,
        ladder[2] as f64,
        ladder[3] as f64,
        ladder[4] as f64,
        f64::INFINITY,
    ];
    for (i, colour) in BAND_COLOURS.iter().enumerate() {
        let lo = edges[i];
        let hi = edges[i + 1].min(y_max);
        if lo < y_max && i > 0 {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, lo), (x1, hi)],
                colour.mix(0.10).filled(),
            )))?;
            chart.draw_series(LineSeries::new([(x0, lo), (x1, lo)], colour.mix(0.6)))?;
        }
    }
    let g: Vec<(f64, f64, f64, f64)> = r
        .series
        .iter()
        .filter_map(|b| {
            Some((
                b.mid_ms() as f64,
                b.goroutines.min? as f64,
                b.goroutines.max? as f64,
                b.goroutines.mean()?,
            ))
        })
        .collect();
    if !g.is_empty() {
        let mut poly: Vec<(f64, f64)> = g.iter().map(|p| (p.0, p.2)).collect();
        poly.extend(g.iter().rev().map(|p| (p.0, p.1)));
        chart.draw_series(std::iter::once(Polygon::new(poly, BLUE.mix(0.18).filled())))?;
        chart.draw_series(LineSeries::new(
            g.iter().map(|p| (p.0, p.3)),
            BLUE.stroke_width(2),
        ))?;
    }
    // Memory, with the memory ladder as lines.
    let m: Vec<(f64, f64)> = r
        .series
        .iter()
        .filter_map(|b| Some((b.mid_ms() as f64, b.memory.mean()? / (1u64 << 20) as f64)))
        .collect();
    let m_peak = r.totals.memory.max.unwrap_or(0) as f64 / (1u64 << 20) as f64;
    let m_max = (m_peak * 1.15).max(64.0);
    let mut builder = ChartBuilder::on(&bottom);
    builder
        .margin(10)
        .x_label_area_size(if font { 28 } else { 0 })
        .y_label_area_size(if font { 60 } else { 0 });
    if font {
        builder.caption("memory (MB, average)", ("sans-serif", 16));
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, 0f64..m_max)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE.mix(0.0));
    if font {
        mesh.x_label_formatter(&fmt_x)
            .y_label_formatter(&|y: &f64| format!("{y:.0}"))
            .x_labels(8)
            .y_labels(5);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    for (i, bound) in levels.memory.0.iter().enumerate() {
        let mb = *bound as f64 / (1u64 << 20) as f64;
        if mb < m_max {
            chart.draw_series(LineSeries::new(
                [(x0, mb), (x1, mb)],
                BAND_COLOURS[i + 2].mix(0.7),
            ))?;
        }
    }
    if !m.is_empty() {
        chart.draw_series(LineSeries::new(m, RGBColor(130, 80, 223).stroke_width(2)))?;
    }
    Ok(())
}

fn draw_all<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    reports: &[TargetReport],
    levels: &Levels,
    font: bool,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let areas = root.split_evenly((reports.len().max(1), 1));
    for (area, r) in areas.iter().zip(reports) {
        draw_target(area, r, levels, font)?;
    }
    root.present()?;
    Ok(())
}

fn chart_height(n: usize) -> u32 {
    2 * PANEL * n.max(1) as u32
}

/// One SVG with two panels (goroutines, memory) per target.
pub fn charts_svg(reports: &[TargetReport], levels: &Levels, font: bool) -> anyhow::Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, chart_height(reports.len())))
            .into_drawing_area();
        draw_all(root, reports, levels, font)
            .map_err(|e| anyhow::anyhow!("drawing the chart: {e}"))?;
    }
    Ok(out)
}

/// The same charts as a PNG.
pub fn charts_png(
    reports: &[TargetReport],
    levels: &Levels,
    font: bool,
) -> anyhow::Result<Vec<u8>> {
    let (w, h) = (WIDTH, chart_height(reports.len()));
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw_all(root, reports, levels, font)
            .map_err(|e| anyhow::anyhow!("drawing the chart: {e}"))?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&rgb)?;
    }
    Ok(png_bytes)
}

// ---------------------------------------------------------------------------------------------
// HTML

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
                s.push_str("<table><tr><th>function</th><th>location</th><th>goroutines</th><th>growth</th><th>blocked on</th></tr>\n");
                for x in &b.suspects {
                    let _ = writeln!(
                        s,
                        "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                        escape(&x.function),
                        escape(&x.location),
                        x.count,
                        x.delta.map_or("-".into(), |d| format!("{d:+}")),
                        escape(&x.blocking)
                    );
                }
                s.push_str("</table>\n");
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
