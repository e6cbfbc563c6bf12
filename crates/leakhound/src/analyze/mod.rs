//! `leakhound analyze` and `leakhound diff`: goroutine dumps from files, stdin or a service's
//! pprof endpoint → bucket tables, leak suspects, and what changed between two snapshots.
//! Loading is IO ([`input`]); everything that renders is a pure function of the parsed data
//! ([`render`], [`json`]). Suspects are ranked and shown by the dump crate, as everywhere else.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use goroutine_dump::{Bucket, Format, GroupBy, SuspectOptions};
use regex::Regex;

pub use input::profile_url;
use input::{
    buckets_of, classify, load_one, mark_runtime_leaks, runtime_leak_buckets, sample_url,
    SourceKind,
};
use json::{snapshot_json, AnalyzeJson, DiffJson};
use render::{render_diff, render_snapshot_line};

mod input;
mod json;
mod render;

/// Output width the human tables fit in.
const WIDTH: usize = 100;

/// Which profile format to fetch (URLs) or to parse as (files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatArg {
    /// Files: detect. URLs: debug=0 for one snapshot; for several, debug=2 while the service
    /// has ≤ 20,000 goroutines (ids tell leaks from churn), else debug=0.
    Auto,
    /// A specific format.
    Fixed(Format),
}

fn parse_format(s: &str) -> Result<FormatArg, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(FormatArg::Auto),
        "0" | "debug=0" | "proto" | "pprof" => Ok(FormatArg::Fixed(Format::Proto)),
        "1" | "debug=1" => Ok(FormatArg::Fixed(Format::Debug1)),
        "2" | "debug=2" => Ok(FormatArg::Fixed(Format::Debug2)),
        other => Err(format!(
            "unknown format '{other}': use auto, debug=0 (pprof proto), debug=1 or debug=2"
        )),
    }
}

/// Options shared by `analyze` and `diff`.
#[derive(Debug, Clone, clap::Args)]
pub struct DumpOptions {
    /// Profile format: auto, debug=0 (gzipped pprof proto), debug=1 or debug=2. For URLs this
    /// picks what is fetched; for files it overrides detection.
    #[arg(long, value_name = "FORMAT", default_value = "auto", value_parser = parse_format)]
    pub format: FormatArg,
    /// Group goroutines by: line (same functions at the same lines), function (same
    /// functions), created-by (same `go` statement).
    #[arg(long, value_name = "HOW", default_value = "line")]
    pub group_by: GroupBy,
    /// Show at most N rows (0 = all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
    /// Keep only goroutines with a frame whose function or file:line matches REGEX
    /// (repeatable: any may match).
    #[arg(long, value_name = "REGEX")]
    pub filter: Vec<Regex>,
    /// Drop goroutines with a frame whose function or file:line matches REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub exclude: Vec<Regex>,
    /// Print JSON (schema: docs/analyze-json.md) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Largest response accepted from a URL, in bytes (Go caps a debug=2 dump at 64 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub max_bytes: u64,
    /// HTTP timeout for URL sources (a debug=2 dump of a huge service takes seconds).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// `leakhound analyze SOURCE...`
#[derive(Debug, Clone, clap::Args)]
pub struct AnalyzeArgs {
    /// Goroutine dumps: files, `-` for stdin, or URLs of a Go service (its base URL or its
    /// /debug/pprof/goroutine). One source: the bucket table. Several, in time order: the leak
    /// suspects.
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub dump: DumpOptions,
    /// With URL sources: take this many snapshots, --interval apart, and rank suspects.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub samples: u32,
    /// Time between --samples.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Print the stack of each bucket under its row.
    #[arg(long)]
    pub stacks: bool,
    /// Suspects: smallest growth (goroutines, first → last snapshot) worth flagging.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub min_growth: u64,
}

/// `leakhound diff BEFORE AFTER`
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    /// The earlier dump: a file, `-` or a URL.
    #[arg(value_name = "BEFORE")]
    pub before: String,
    /// The later dump: a file, `-` or a URL.
    #[arg(value_name = "AFTER")]
    pub after: String,
    #[command(flatten)]
    pub dump: DumpOptions,
    /// Also list buckets whose count did not change.
    #[arg(long)]
    pub all: bool,
}

/// Runs `leakhound analyze`. Exit codes: 0 analysed (no suspect), 1 suspects found,
/// 2 some sources failed (the others were analysed).
pub async fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let mut loaded = Vec::new();
    let mut failures = 0usize;
    let mut report = |e: anyhow::Error| {
        eprintln!("error: {e:#}");
        failures += 1;
    };
    for source in &args.sources {
        match classify(source) {
            Ok(SourceKind::Url(u)) if args.samples > 1 => {
                match sample_url(&u, &args, &mut report).await {
                    Ok(l) => loaded.extend(l),
                    Err(e) => report(e),
                }
            }
            Ok(_) => match load_one(source, &args.dump).await {
                Ok(l) => loaded.push(l),
                Err(e) => report(e),
            },
            Err(e) => report(e),
        }
    }
    let Some(last) = loaded.last() else {
        bail!("no source could be analysed");
    };
    // Go 1.26+ services may serve the runtime's own leak detector: strong evidence when there.
    let runtime_leaks = match args.sources.last().map(|s| classify(s)) {
        Some(Ok(SourceKind::Url(u))) => runtime_leak_buckets(&u, &args.dump).await,
        _ => None,
    };
    let mut buckets = buckets_of(&last.snapshot, &args.dump);
    if let Some(leaks) = &runtime_leaks {
        mark_runtime_leaks(&mut buckets, leaks);
    }
    let suspects = if loaded.len() > 1 {
        let mut series: Vec<Vec<Bucket>> = loaded
            .iter()
            .map(|l| buckets_of(&l.snapshot, &args.dump))
            .collect();
        if let (Some(leaks), Some(latest)) = (&runtime_leaks, series.last_mut()) {
            mark_runtime_leaks(latest, leaks);
        }
        let opts = SuspectOptions {
            group_by: args.dump.group_by,
            min_growth: args.min_growth,
            ..SuspectOptions::default()
        };
        Some(goroutine_dump::suspects_from_buckets(&series, &opts))
    } else {
        None
    };
    if args.dump.json {
        let out = AnalyzeJson {
            group_by: args.dump.group_by,
            snapshots: loaded.iter().map(snapshot_json).collect(),
            buckets: &buckets,
            suspects: suspects.as_deref(),
            runtime_leaks: runtime_leaks.as_deref(),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let s = render::analyze_text(&render::AnalyzeView {
            loaded: &loaded,
            runtime_leaks: runtime_leaks.as_deref(),
            buckets: &buckets,
            suspects: suspects.as_deref(),
            top: args.dump.top,
            stacks: args.stacks,
        });
        print!("{s}");
    }
    Ok(if failures > 0 {
        ExitCode::from(2)
    } else if suspects.is_some_and(|s| !s.is_empty()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs `leakhound diff`. Exit code 0 (1 when a source cannot be loaded is reported as error).
pub async fn run_diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let before = load_one(&args.before, &args.dump).await?;
    let after = load_one(&args.after, &args.dump).await?;
    let d = goroutine_dump::diff(
        &buckets_of(&before.snapshot, &args.dump),
        &buckets_of(&after.snapshot, &args.dump),
    );
    if args.dump.json {
        let out = DiffJson {
            group_by: args.dump.group_by,
            before: snapshot_json(&before),
            after: snapshot_json(&after),
            diff: &d,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let mut s = String::new();
        s.push_str(&render_snapshot_line(&before));
        s.push_str(&render_snapshot_line(&after));
        s.push('\n');
        s.push_str(&render_diff(&d, args.dump.top, args.all));
        print!("{s}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse() {
        assert_eq!(
            parse_format("debug=2"),
            Ok(FormatArg::Fixed(Format::Debug2))
        );
        assert_eq!(parse_format("proto"), Ok(FormatArg::Fixed(Format::Proto)));
        assert!(parse_format("3")
            .unwrap_err()
            .contains("unknown format '3'"));
    }
}
