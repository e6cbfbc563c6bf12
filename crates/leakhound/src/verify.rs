//! `leakhound baseline` and `leakhound verify`: GUIDE §10, verifying a fix, from the agent's
//! stored history. The rules are pure functions in `leakhound_core::verify`; this module reads
//! the store, calls them with `now`, prints the lines and maps them to an exit code.

use crate::cli::DbArgs;
use crate::report::config_or_default;
use crate::silence::existing_database;
use anyhow::{bail, Context};
use clap::Args;
use leakhound_agent::agent::now_ms;
use leakhound_agent::guide_log::local_time;
use leakhound_core::config::Config;
use leakhound_core::report::Aggregate;
use leakhound_core::units::human_duration;
use leakhound_core::verify::{
    self, compare, day_one, first_30_minutes, two_hours, week_one, window_averages, Baseline,
    Check, Status,
};
use leakhound_store::{History, Store};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Args)]
#[command(after_help = "\
Run it right after deploying a fix (docs/guide.md#10-verifying-a-fix, day one: \"save the health JSON as baseline.json\").
The baseline is stored in the agent's database (and written to --out in the guide's shape, plus a
\"leakhound\" object with the averages). `leakhound verify TARGET` compares with it later.")]
pub struct BaselineArgs {
    /// The target's name as stored by the agent.
    #[arg(value_name = "TARGET")]
    pub target: String,
    #[command(flatten)]
    pub db: DbArgs,
    /// Average over this long before now (default: [verify] window, 10m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub window: Option<Duration>,
    /// Also write the baseline to this file (e.g. baseline.json).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Without --plan: the day-one check — now (the average of the last [verify] window) against the
baseline; goroutines and memory must have grown less than 20 % once 1 h has passed.
With --plan: the guide's checkpoints counted from the fix (--from, else the baseline's time):
  first 30 min  stays in range (< 3000), memory stable
  2 hours       peak < 3000, no abnormal swings
  24 hours      no sustained growth (trend)
  week one      daily peaks fluctuate, not climb
Each prints PASS, FAIL, PENDING (window not over, nothing failed yet) or NO DATA, with numbers.
Thresholds: the config's [verify] section (docs/config.md).

Exit codes: 0 everything passed or is pending, 1 a check failed, 2 no data (unknown target, no
baseline, or a finished window without samples), 3 an error.

Examples:
  leakhound baseline one-api && sleep 3600 && leakhound verify one-api
  leakhound verify one-api --plan                      # from cron, once an hour
  leakhound verify one-api --plan --from '2026-11-25 10:00'
  leakhound verify one-api --baseline baseline.json    # a file saved with curl")]
pub struct VerifyArgs {
    /// The target's name as stored by the agent.
    #[arg(value_name = "TARGET")]
    pub target: String,
    #[command(flatten)]
    pub db: DbArgs,
    /// Follow the guide's checkpoints: 30 min, 2 h, 24 h, week one.
    #[arg(long)]
    pub plan: bool,
    /// When the fix went live: '2026-11-25 10:00[:00]' (local), RFC 3339, or a duration ago
    /// ('3h'). Default: the baseline's time.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Compare with this file instead of the stored baseline (the guide's health JSON saved
    /// with curl, or one written by `leakhound baseline --out`).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    leakhound_core::units::parse_duration(text)
}

fn state_key(target: &str) -> String {
    format!("baseline:{target}")
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

pub fn baseline(args: BaselineArgs) -> anyhow::Result<ExitCode> {
    let config = config_or_default(&args.db)?;
    let path = existing_database(&args.db)?;
    let window = args.window.unwrap_or(config.verify.window);
    let now = now_ms();
    let samples = {
        let history = History::open(&path)?;
        history.samples(&args.target, now - millis(window), now + 1)?
    };
    let Some(baseline) =
        Baseline::from_samples(&args.target, &samples, now, window, local_time(now))
    else {
        eprintln!(
            "no samples with a goroutine count for '{}' in the last {} of '{}': is `leakhound run` watching it? (see `leakhound report`)",
            args.target,
            human_duration(window),
            path.display()
        );
        return Ok(ExitCode::from(2));
    };
    let json = serde_json::to_string_pretty(&baseline)?;
    Store::open(&path)?.save_state(&state_key(&args.target), &json)?;
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{json}\n"))
            .with_context(|| format!("cannot write the baseline to '{}'", out.display()))?;
    }
    let d = baseline.leakhound.as_ref();
    println!(
        "baseline of {} saved at {}: {} goroutines now, average {:.1} over the last {} ({}){}",
        args.target,
        local_time(now),
        baseline.goroutines,
        d.map_or(0.0, |d| d.goroutines_avg),
        human_duration(window),
        crate::view::plural(d.map_or(0, |d| d.samples), "sample"),
        args.out
            .as_ref()
            .map_or(String::new(), |o| format!("; written to {}", o.display()))
    );
    println!(
        "compare after {}: leakhound verify {}   (checkpoints: leakhound verify {} --plan)",
        human_duration(config.verify.min_elapsed),
        args.target,
        args.target
    );
    Ok(ExitCode::SUCCESS)
}

/// `--from`: a local time, RFC 3339, or a duration ago.
fn parse_from(text: &str, now: i64) -> anyhow::Result<i64> {
    use chrono::TimeZone;
    if let Ok(d) = leakhound_core::units::parse_duration(text) {
        return Ok(now - millis(d));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, format) {
            if let Some(t) = chrono::Local.from_local_datetime(&naive).earliest() {
                return Ok(t.timestamp_millis());
            }
        }
    }
    bail!(
        "--from '{text}' is not a time; write e.g. '2026-11-25 10:00' (local), '2026-11-25T10:00:00Z', or '3h' (three hours ago)"
    )
}

/// The baseline to compare with: `--baseline FILE`, else the stored one.
fn load_baseline(args: &VerifyArgs, history: &mut History) -> anyhow::Result<Option<Baseline>> {
    if let Some(file) = &args.baseline {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the baseline '{}'", file.display()))?;
        let b: Baseline = serde_json::from_str(&text).with_context(|| {
            format!(
                "'{}' is not a baseline: expected the guide's health JSON ({{\"status\":\"ok\",\"goroutines\":N,\"memory\":{{…}}}})",
                file.display()
            )
        })?;
        return Ok(Some(b));
    }
    match history.state(&state_key(&args.target))? {
        Some(text) => Ok(serde_json::from_str(&text).ok()),
        None => Ok(None),
    }
}

fn file_time_ms(args: &VerifyArgs) -> Option<i64> {
    let file = args.baseline.as_ref()?;
    let modified = std::fs::metadata(file).ok()?.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let config = config_or_default(&args.db)?;
    let path = existing_database(&args.db)?;
    let mut history = History::open(&path)?;
    let now = now_ms();
    let Some(id) = history.target_id(&args.target)? else {
        eprintln!(
            "no data: no target '{}' in '{}' (stored: {})",
            args.target,
            path.display(),
            history
                .targets()?
                .into_iter()
                .take(10)
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(ExitCode::from(2));
    };
    let baseline = load_baseline(&args, &mut history)?;
    let mut checks: Vec<Check> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    if let Some(b) = &baseline {
        checks.push(baseline_check(&args, &config, &mut history, b, now)?);
    } else if !args.plan {
        eprintln!(
            "no data: no baseline for '{}': run `leakhound baseline {}` right after deploying the fix, or pass --baseline baseline.json",
            args.target, args.target
        );
        return Ok(ExitCode::from(2));
    }
    if args.plan {
        let start = match (&args.from, &baseline) {
            (Some(text), _) => parse_from(text, now)?,
            (None, Some(b)) => b.averages(file_time_ms(&args).unwrap_or(now)).ts_ms,
            (None, None) => {
                let first = history.first_sample_ms(id)?.unwrap_or(now);
                notes.push(format!(
                    "no baseline and no --from: counting from the first stored sample ({})",
                    local_time(first)
                ));
                first
            }
        };
        notes.push(format!("fix live since {}", local_time(start)));
        checks.extend(plan(&config, &mut history, id, start, now)?);
    }
    let code = verify::exit_code(&checks);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "target": args.target,
                "now_ms": now,
                "exit_code": code,
                "checks": checks,
            }))?
        );
    } else {
        println!(
            "{} — verifying the fix (docs/guide.md#10-verifying-a-fix)",
            args.target
        );
        for n in &notes {
            println!("  {n}");
        }
        for c in &checks {
            println!("{}", line(c));
        }
    }
    Ok(ExitCode::from(code))
}

/// `PASS     first 30 min  stays in range … — peak 900 at +5m < 3000; …`
pub fn line(c: &Check) -> String {
    let mark = match c.status {
        Status::Pass => "✔",
        Status::Fail => "✘",
        Status::Pending => "…",
        Status::NoData => "?",
    };
    format!(
        "{mark} {:<8} {:<13} {} — {}",
        c.status.word(),
        c.name,
        c.rule,
        c.detail
    )
}

fn baseline_check(
    args: &VerifyArgs,
    config: &Config,
    history: &mut History,
    b: &Baseline,
    now: i64,
) -> anyhow::Result<Check> {
    let window = config.verify.window;
    let samples = history.samples(&args.target, now - millis(window), now + 1)?;
    let mut current = window_averages(&samples, now);
    if b.leakhound.is_none() {
        // A guide-only file knows `sys_mb`: compare memory on the same figure.
        let sys: Vec<u64> = samples.iter().filter_map(|s| s.metrics.sys_bytes).collect();
        current.memory_bytes =
            (!sys.is_empty()).then(|| sys.iter().sum::<u64>() as f64 / sys.len() as f64);
    }
    let base = b.averages(file_time_ms(args).unwrap_or(now));
    Ok(compare(&base, &current, &config.verify))
}

fn plan(
    config: &Config,
    history: &mut History,
    id: i64,
    start: i64,
    now: i64,
) -> anyhow::Result<Vec<Check>> {
    let cfg = &config.verify;
    let ladder = &config.levels.goroutines;
    let points = history.points(id, start, (start + 2 * 3_600_000).min(now + 1))?;
    let day_end = (start + DAY_MS).min(now + 1);
    let buckets: Vec<(i64, f64, Option<f64>)> = if day_end > start {
        history
            .buckets(id, start, day_end, 600_000, ladder)?
            .iter()
            .filter_map(|b| Some((b.mid_ms(), b.goroutines.mean()?, b.memory.mean())))
            .collect()
    } else {
        Vec::new()
    };
    let mut peaks = Vec::new();
    for d in 0..7 {
        let (s, e) = (start + d * DAY_MS, start + (d + 1) * DAY_MS);
        if e > now {
            break;
        }
        let day = Aggregate::total(&history.buckets(id, s, e, DAY_MS, ladder)?);
        peaks.push(day.goroutines.max);
    }
    Ok(vec![
        first_30_minutes(start, now, &points, cfg),
        two_hours(start, now, &points, cfg),
        day_one(start, now, &buckets, cfg),
        week_one(start, now, &peaks, cfg),
    ])
}
