//! Loading dumps: files, stdin (both capped by `--max-bytes`), or a service's pprof endpoint
//! (with format sniffing, the debug=0 → debug=1 fallback and `--samples`), then grouping with
//! `--filter`/`--exclude`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use goroutine_dump::{bucketize_filtered, Bucket, Format, Snapshot};
use leakhound_http::{HttpClient, HttpOptions};
use regex::Regex;
use url::Url;

use super::{AnalyzeArgs, DumpOptions, FormatArg};

pub(super) enum SourceKind {
    Stdin,
    File(PathBuf),
    Url(Url),
}

pub(super) fn classify(s: &str) -> anyhow::Result<SourceKind> {
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
pub(super) struct Loaded {
    pub name: String,
    pub snapshot: Snapshot,
    pub bytes: usize,
    pub elapsed: Duration,
}

pub(super) fn spinner(message: String) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(message);
    pb.enable_steady_tick(Duration::from_millis(100));
    Some(pb)
}

pub(super) fn parse_bytes(bytes: &[u8], format: FormatArg, name: &str) -> anyhow::Result<Snapshot> {
    let r = match format {
        FormatArg::Auto => goroutine_dump::parse(bytes),
        FormatArg::Fixed(f) => goroutine_dump::parse_as(bytes, f),
    };
    r.with_context(|| format!("{name}: not a goroutine profile"))
}

/// Reads at most `max` bytes of `r` (through `Read::take(max + 1)`), or says that `what` is
/// larger than `--max-bytes`. The buffer doubles up to `max + 1` bytes and no further, so that
/// `/dev/zero` or an endless FIFO costs at most the cap.
pub(super) fn read_capped(r: impl Read, max: u64, what: &str) -> anyhow::Result<Vec<u8>> {
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

pub(super) async fn load_local(
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
pub(super) fn sniff(body: &[u8]) -> Option<Format> {
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
pub(super) async fn fetch(
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

pub(super) enum FetchError {
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

pub(super) async fn fetch_as(
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

pub(super) fn client(opts: &DumpOptions) -> anyhow::Result<HttpClient> {
    let o = HttpOptions {
        timeout: opts.timeout,
        ..HttpOptions::default()
    };
    HttpClient::new(&o).context("cannot set up the HTTP client")
}

/// Loads one SOURCE once (files, stdin, or one fetch of a URL).
pub(super) async fn load_one(source: &str, opts: &DumpOptions) -> anyhow::Result<Loaded> {
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
pub(super) async fn sample_url(
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
pub(super) async fn runtime_leak_buckets(base: &Url, opts: &DumpOptions) -> Option<Vec<Bucket>> {
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
pub(super) fn mark_runtime_leaks(buckets: &mut [Bucket], leaks: &[Bucket]) {
    for b in buckets.iter_mut() {
        if let Some(l) = leaks.iter().find(|l| l.key == b.key) {
            b.leaked = b.leaked.max(l.count.min(b.count));
        }
    }
}

pub(super) fn frame_matches(re: &Regex, f: goroutine_dump::FrameRef<'_>) -> bool {
    re.is_match(f.function) || re.is_match(&format!("{}:{}", f.file, f.line))
}

/// Buckets of one snapshot with --filter / --exclude applied (evaluated once per stack).
pub(super) fn buckets_of(s: &Snapshot, opts: &DumpOptions) -> Vec<Bucket> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use goroutine_dump::GroupBy;

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
}
