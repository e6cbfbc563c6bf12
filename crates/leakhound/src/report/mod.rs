//! `leakhound report`: GUIDE §8 `compare_goroutines.sh` over the agent's stored history — as
//! text, JSON, charts (PNG/SVG) or a single-file HTML report for an incident ticket.
//!
//! The numbers come from `leakhound_store::History` (SQL aggregates and rollups, never
//! the rows); this module only renders them. Rendering functions return strings/bytes; `run`
//! does the reading and writing. By job: [`text`] the text report, [`charts`] the SVG/PNG
//! charts, [`html`] the single-file HTML report (its suspects are the shared suspect lines,
//! `leakhound_agent::evidence::suspect_line`).

use crate::cli::DbArgs;
use crate::run::load_config;
use crate::silence::existing_database;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use leakhound_agent::agent::now_ms;
use leakhound_agent::guide_log::local_time;
use leakhound_core::config::Config;
use leakhound_core::units::human_duration;
use leakhound_store::History;
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
            let font = charts::fonts::register();
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

mod charts;
mod html;
mod text;

use charts::{charts_png, charts_svg};
use html::{html, Extras};
use text::text;
