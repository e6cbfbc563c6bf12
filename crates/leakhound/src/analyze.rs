//! `leakhound analyze` and `leakhound diff`: goroutine dumps from files, stdin or a service's
//! pprof endpoint → bucket tables, leak suspects, and what changed between two snapshots.
//! Loading is IO; everything that renders is a pure function of the parsed data.

use std::fmt::Write as _;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use goroutine_dump::{
    bucketize_filtered, fit, labels_text, suspect_table, Bucket, Diff, DiffEntry, Format, FrameOut,
    GroupBy, Snapshot, Suspect, SuspectOptions, SuspectRow, Warning,
};
use leakhound_http::{HttpClient, HttpOptions};
use regex::Regex;
use serde::Serialize;
use url::Url;

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

// ---------------------------------------------------------------------------------------------
// Loading

enum SourceKind {
    Stdin,
    File(PathBuf),
    Url(Url),
}

fn classify(s: &str) -> anyhow::Result<SourceKind> {
    if s == "-" {
        return Ok(SourceKind::Stdin);
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        let u = Url::parse(s).with_context(|| format!("'{s}' is not a valid URL"))?;
        return Ok(SourceKind::Url(u));
    }
    Ok(SourceKind::File(PathBuf::from(s)))
}

/// The goroutine profile URL for `base` at `debug` (a base URL gets /debug/pprof/goroutine).
pub fn profile_url(base: &Url, debug: u8) -> Url {
    let mut u = base.clone();
    if !u.path().contains("/debug/pprof/") {
        u = leakhound_core::urls::pprof_url(base, "/debug/pprof/goroutine");
    }
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != "debug")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        q.append_pair("debug", &debug.to_string());
    }
    u
}

/// One parsed source.
struct Loaded {
    name: String,
    snapshot: Snapshot,
    bytes: usize,
    elapsed: Duration,
}

fn spinner(message: String) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(message);
    pb.enable_steady_tick(Duration::from_millis(100));
    Some(pb)
}

fn parse_bytes(bytes: &[u8], format: FormatArg, name: &str) -> anyhow::Result<Snapshot> {
    let r = match format {
        FormatArg::Auto => goroutine_dump::parse(bytes),
        FormatArg::Fixed(f) => goroutine_dump::parse_as(bytes, f),
    };
    r.with_context(|| format!("{name}: not a goroutine profile"))
}

/// Reads at most `max` bytes of `r` (through `Read::take(max + 1)`), or says that `what` is
/// larger than `--max-bytes`. The buffer doubles up to `max + 1` bytes and no further, so that
/// `/dev/zero` or an endless FIFO costs at most the cap.
fn read_capped(r: impl Read, max: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let cap = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
    let mut r = r.take(max.saturating_add(1));
    let mut buf = vec![0u8; cap.min(64 << 10)];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if len >= cap {
                break;
            }
            buf.resize(len.saturating_mul(2).min(cap), 0);
        }
        match r.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {what}")),
        }
    }
    buf.truncate(len);
    if len as u64 > max {
        bail!("{what} is larger than --max-bytes ({max} bytes); raise --max-bytes to read it");
    }
    Ok(buf)
}

async fn load_local(
    kind: SourceKind,
    name: String,
    format: FormatArg,
    max_bytes: u64,
) -> anyhow::Result<Loaded> {
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let bytes = match &kind {
            SourceKind::Stdin => read_capped(std::io::stdin().lock(), max_bytes, "stdin")?,
            SourceKind::File(p) => {
                let what = format!("'{}'", p.display());
                let file = std::fs::File::open(p)
                    .with_context(|| format!("cannot read {what}"))?;
                // A regular file says its size: refuse it before reading. FIFOs, devices and
                // /proc files do not; the capped read bounds them.
                if let Ok(meta) = file.metadata() {
                    if meta.is_file() && meta.len() > max_bytes {
                        bail!(
                            "{what} is larger than --max-bytes ({max_bytes} bytes: it has {}); raise --max-bytes to read it",
                            meta.len()
                        );
                    }
                }
                read_capped(file, max_bytes, &what)?
            }
            SourceKind::Url(_) => bail!("internal: a URL is not a local source"),
        };
        let pb = (bytes.len() > 8 << 20)
            .then(|| spinner(format!("parsing {name} ({} MB)", bytes.len() >> 20)));
        let snapshot = parse_bytes(&bytes, format, &name);
        if let Some(Some(pb)) = pb {
            pb.finish_and_clear();
        }
        Ok(Loaded {
            name,
            snapshot: snapshot?,
            bytes: bytes.len(),
            elapsed: started.elapsed(),
        })
    })
    .await
    .context("the parsing task failed")?
}

/// What a fetched body is, from its first bytes: gzip is the pprof protobuf, `goroutine
/// profile: total N` debug=1, `goroutine N [` debug=2. `None` for anything else (a raw protobuf,
/// an HTML page, garbage).
fn sniff(body: &[u8]) -> Option<Format> {
    if body.starts_with(&[0x1f, 0x8b]) {
        return Some(Format::Proto);
    }
    let head = &body[..body.len().min(4096)];
    let start = head.iter().position(|c| !c.is_ascii_whitespace())?;
    let head = &head[start..];
    if head.starts_with(b"goroutine profile: total ")
        || head.starts_with(b"goroutineleak profile: total ")
    {
        return Some(Format::Debug1);
    }
    let rest = head.strip_prefix(b"goroutine ")?;
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    (digits > 0 && rest[digits..].trim_ascii_start().starts_with(b"[")).then_some(Format::Debug2)
}

/// Fetches the profile at `format` and parses it as what the body turns out to be (see
/// [`sniff`]; a service may answer `?debug=0` with text, as the demo's simulator does), saying
/// so on stderr when that differs from what was asked. With `fallback` (format auto), a
/// `?debug=0` answer that is not a profile at all is followed by a `?debug=1` fetch.
async fn fetch(
    client: &HttpClient,
    base: &Url,
    format: Format,
    max_bytes: u64,
    fallback: bool,
) -> anyhow::Result<Loaded> {
    match fetch_as(client, base, format, max_bytes).await {
        Err(FetchError::NotAProfile(e)) if fallback && format == Format::Proto => {
            eprintln!("note: {e:#}; fetching debug=1 text instead");
            fetch_as(client, base, Format::Debug1, max_bytes)
                .await
                .map_err(FetchError::into_inner)
        }
        r => r.map_err(FetchError::into_inner),
    }
}

enum FetchError {
    /// The request failed.
    Fetch(anyhow::Error),
    /// The body is not a goroutine profile in any format.
    NotAProfile(anyhow::Error),
}

impl FetchError {
    fn into_inner(self) -> anyhow::Error {
        match self {
            FetchError::Fetch(e) | FetchError::NotAProfile(e) => e,
        }
    }
}

async fn fetch_as(
    client: &HttpClient,
    base: &Url,
    format: Format,
    max_bytes: u64,
) -> Result<Loaded, FetchError> {
    let url = profile_url(base, format.debug_level());
    // The redacted URL keeps `debug=N` (a plain query key) and hides any other query value.
    let name = leakhound_http::redact(&url);
    let started = Instant::now();
    let pb = spinner(format!("fetching {name}"));
    let got = client.get_bytes(&url, max_bytes).await;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let (_, bytes) = got
        .with_context(|| format!("cannot fetch {name}"))
        .map_err(FetchError::Fetch)?;
    let actual = sniff(&bytes).unwrap_or(format);
    if actual != format {
        let what = if actual == Format::Proto {
            "a pprof protobuf"
        } else {
            "text"
        };
        eprintln!("note: {name} answered with {actual} {what}; read it as {actual}");
    }
    let parse_name = name.clone();
    let (snapshot, len) = tokio::task::spawn_blocking(move || {
        let s = parse_bytes(&bytes, FormatArg::Fixed(actual), &parse_name);
        (s, bytes.len())
    })
    .await
    .context("the parsing task failed")
    .map_err(FetchError::Fetch)?;
    Ok(Loaded {
        name,
        snapshot: snapshot.map_err(FetchError::NotAProfile)?,
        bytes: len,
        elapsed: started.elapsed(),
    })
}

fn client(opts: &DumpOptions) -> anyhow::Result<HttpClient> {
    let o = HttpOptions {
        timeout: opts.timeout,
        ..HttpOptions::default()
    };
    HttpClient::new(&o).context("cannot set up the HTTP client")
}

/// Loads one SOURCE once (files, stdin, or one fetch of a URL).
async fn load_one(source: &str, opts: &DumpOptions) -> anyhow::Result<Loaded> {
    match classify(source)? {
        SourceKind::Url(u) => {
            let (f, fallback) = match opts.format {
                FormatArg::Fixed(f) => (f, false),
                FormatArg::Auto => (Format::Proto, true),
            };
            fetch(&client(opts)?, &u, f, opts.max_bytes, fallback).await
        }
        kind => load_local(kind, source.to_string(), opts.format, opts.max_bytes).await,
    }
}

/// Takes `samples` snapshots of a URL, `interval` apart. When the first one fails, so does
/// this, at once: the service is down or serves no profile, and waiting out the other
/// samples would only delay the error. Later failures are reported and skipped.
async fn sample_url(
    base: &Url,
    args: &AnalyzeArgs,
    mut on_error: impl FnMut(anyhow::Error),
) -> anyhow::Result<Vec<Loaded>> {
    let client = client(&args.dump)?;
    let auto = args.dump.format == FormatArg::Auto;
    let mut format = match args.dump.format {
        FormatArg::Fixed(f) => f,
        FormatArg::Auto => Format::Proto,
    };
    let max = args.dump.max_bytes;
    let mut out = Vec::new();
    for i in 0..args.samples {
        if i > 0 {
            tokio::time::sleep(args.interval).await;
        }
        match fetch(&client, base, format, max, auto && i == 0).await {
            Ok(l) => {
                if i == 0 && auto && l.snapshot.total() <= 20_000 {
                    // Cheap enough to take full dumps: goroutine ids tell leaks from churn.
                    format = Format::Debug2;
                    match fetch(&client, base, format, max, false).await {
                        Ok(l2) => {
                            // What the service serves for debug=2 (the demo: debug=1 text).
                            format = l2.snapshot.format();
                            out.push(l2);
                        }
                        Err(e) => {
                            on_error(e);
                            format = l.snapshot.format();
                            out.push(l);
                        }
                    }
                } else {
                    if i == 0 && auto {
                        // Keep fetching what the service actually served (debug=1 after a
                        // fallback).
                        format = l.snapshot.format();
                    }
                    out.push(l);
                }
            }
            Err(e) if i == 0 => {
                return Err(e.context(format!(
                    "the first of {} samples failed; not waiting for the others",
                    args.samples
                )))
            }
            Err(e) => on_error(e),
        }
    }
    Ok(out)
}

/// Fetches `/debug/pprof/goroutineleak?debug=0` next to the goroutine profile. `None` when the
/// service does not serve it (Go < 1.26, experiment off) or it cannot be read.
async fn runtime_leak_buckets(base: &Url, opts: &DumpOptions) -> Option<Vec<Bucket>> {
    let mut u = base.clone();
    if !u.path().contains("/debug/pprof/") {
        u = leakhound_core::urls::pprof_url(base, "/debug/pprof/goroutineleak");
    } else if u.path().ends_with("/goroutine") {
        let path = format!("{}leak", u.path());
        u.set_path(&path);
    } else {
        return None;
    }
    let url = profile_url(&u, 0);
    let client = client(opts).ok()?;
    let (_, bytes) = client.get_bytes(&url, opts.max_bytes).await.ok()?;
    let snap = goroutine_dump::parse(&bytes).ok()?;
    Some(buckets_of(&snap, opts))
}

/// Marks the buckets that the runtime's leak profile also lists as `leaked`.
fn mark_runtime_leaks(buckets: &mut [Bucket], leaks: &[Bucket]) {
    for b in buckets.iter_mut() {
        if let Some(l) = leaks.iter().find(|l| l.key == b.key) {
            b.leaked = b.leaked.max(l.count.min(b.count));
        }
    }
}

fn frame_matches(re: &Regex, f: goroutine_dump::FrameRef<'_>) -> bool {
    re.is_match(f.function) || re.is_match(&format!("{}:{}", f.file, f.line))
}

/// Buckets of one snapshot with --filter / --exclude applied (evaluated once per stack).
fn buckets_of(s: &Snapshot, opts: &DumpOptions) -> Vec<Bucket> {
    bucketize_filtered(s, opts.group_by, |snap, frames| {
        let refs = || frames.iter().map(|&f| snap.frame_ref(f));
        let included = opts.filter.is_empty()
            || opts
                .filter
                .iter()
                .any(|re| refs().any(|f| frame_matches(re, f)));
        let excluded = opts
            .exclude
            .iter()
            .any(|re| refs().any(|f| frame_matches(re, f)));
        included && !excluded
    })
}

// ---------------------------------------------------------------------------------------------
// JSON shapes (docs/analyze-json.md)

#[derive(Serialize)]
struct SnapshotJson<'a> {
    source: &'a str,
    format: Format,
    goroutines: u64,
    bytes: usize,
    parse_ms: f64,
    warnings: &'a [Warning],
}

#[derive(Serialize)]
struct AnalyzeJson<'a> {
    group_by: GroupBy,
    snapshots: Vec<SnapshotJson<'a>>,
    /// Buckets of the last snapshot.
    buckets: &'a [Bucket],
    /// Present when there are several snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    suspects: Option<&'a [Suspect]>,
    /// Buckets of the service's `/debug/pprof/goroutineleak` profile (Go 1.26+), when served.
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime_leaks: Option<&'a [Bucket]>,
}

#[derive(Serialize)]
struct DiffJson<'a> {
    group_by: GroupBy,
    before: SnapshotJson<'a>,
    after: SnapshotJson<'a>,
    diff: &'a Diff,
}

fn snapshot_json(l: &Loaded) -> SnapshotJson<'_> {
    SnapshotJson {
        source: &l.name,
        format: l.snapshot.format(),
        goroutines: l.snapshot.total(),
        bytes: l.bytes,
        parse_ms: l.elapsed.as_secs_f64() * 1000.0,
        warnings: l.snapshot.warnings(),
    }
}

// ---------------------------------------------------------------------------------------------
// Commands

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
        let mut s = String::new();
        for l in &loaded {
            s.push_str(&render_snapshot_line(l));
            for w in l.snapshot.warnings() {
                let w = format!("  warning: line {}: {}", w.line, w.message);
                let _ = writeln!(s, "{}", fit(&w, WIDTH));
            }
        }
        s.push('\n');
        if let Some(leaks) = runtime_leaks.as_deref().filter(|l| !l.is_empty()) {
            let n: u64 = leaks.iter().map(|b| b.count).sum();
            let _ = writeln!(
                s,
                "The Go runtime's goroutineleak profile reports {n} leaked goroutines:"
            );
            s.push_str(&render_buckets(leaks, n, args.dump.top, false));
            s.push('\n');
        }
        match &suspects {
            None => s.push_str(&render_buckets(
                &buckets,
                last.snapshot.total(),
                args.dump.top,
                args.stacks,
            )),
            Some(list) => {
                let rows: Vec<SuspectRow> = list.iter().map(SuspectRow::from).collect();
                s.push_str(&suspect_table(&rows, loaded.len(), args.dump.top, WIDTH));
            }
        }
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

// ---------------------------------------------------------------------------------------------
// Rendering (pure)

fn render_snapshot_line(l: &Loaded) -> String {
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
fn fit_left(s: &str, n: usize) -> String {
    let len = s.chars().count();
    if len <= n {
        return s.to_string();
    }
    let tail: String = s.chars().skip(len - n.saturating_sub(1)).collect();
    format!("…{tail}")
}

fn human_bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

fn human_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

fn site(f: Option<&FrameOut>) -> String {
    f.map_or_else(|| "(no frames)".to_string(), FrameOut::short)
}

fn wait_text(b: &Bucket) -> String {
    match &b.wait_minutes {
        Some(w) if w.max == w.min => format!("{} min", w.max),
        Some(w) => format!("{}-{} min", w.min, w.max),
        None => "-".to_string(),
    }
}

fn render_buckets(buckets: &[Bucket], total: u64, top: usize, stacks: bool) -> String {
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

fn render_diff(d: &Diff, top: usize, all: bool) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_url_appends_the_pprof_path_and_debug() {
        let u = Url::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!(
            profile_url(&u, 2).as_str(),
            "http://127.0.0.1:3000/debug/pprof/goroutine?debug=2"
        );
        let u = Url::parse("http://h/x/debug/pprof/goroutineleak?debug=1&seconds=1").unwrap();
        assert_eq!(
            profile_url(&u, 0).as_str(),
            "http://h/x/debug/pprof/goroutineleak?seconds=1&debug=0"
        );
    }

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

    #[test]
    fn runtime_leak_profile_marks_matching_buckets() {
        let text = "goroutine 7 [chan receive]:\nmain.wait()\n\t/a.go:3 +0x1\n\n\
                    goroutine 8 [chan receive]:\nmain.wait()\n\t/a.go:3 +0x1\n\n\
                    goroutine 9 [select]:\nmain.serve()\n\t/a.go:9 +0x1\n";
        let snap = goroutine_dump::parse(text.as_bytes()).unwrap();
        let mut buckets = goroutine_dump::bucketize(&snap, GroupBy::Line);
        let leak = goroutine_dump::parse(
            b"goroutine profile: total 1\n1 @ 0x1\n#\t0x1\tmain.wait+0x1\t/a.go:3\n",
        )
        .unwrap();
        mark_runtime_leaks(
            &mut buckets,
            &goroutine_dump::bucketize(&leak, GroupBy::Line),
        );
        let leaked: Vec<(u64, u64)> = buckets.iter().map(|b| (b.count, b.leaked)).collect();
        assert_eq!(leaked, [(2, 1), (1, 0)]);
    }

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
