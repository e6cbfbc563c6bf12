//! Evidence bundles: what a leaking service looked like, saved before anyone restarts it.
//!
//! A bundle is one directory, `<[evidence] dir>/<target>/<UTC time>-<trigger>/`, holding
//! - `goroutine.txt`: the goroutine profile, `debug=1` (aggregated by stack, with pprof labels;
//!   never truncated, cheap even with 100k goroutines),
//! - `goroutine-debug2.txt`: the full dump, only with `[evidence] debug2 = true` and while the
//!   service has at most `debug2_max_goroutines` (it stops the world while it is written),
//! - `heap.pb.gz`: the heap profile (`/debug/pprof/heap`, for `go tool pprof`),
//! - `sample.json`: the latest sample, `samples.json`: the stored samples of the last `window`,
//! - `manifest.json`: trigger, incident, time, files and sizes, errors, and the suspects.
//!
//! The suspects are computed from this bundle and the target's previous one (what grew between
//! them, by call site), then filled up with the largest buckets of user code, by the dump
//! crate's ranking ([`bundle_suspects`]); [`suspect_row`] shows a stored one. Every bundle is
//! recorded in the store (`evidence_bundles`), automatic captures are rate-limited per target,
//! and the whole evidence directory is kept under `max_total_bytes` by pruning the oldest
//! bundles first — never the first bundle of an incident.

use goroutine_dump::{bucketize, Bucket, GroupBy, LabelCount, Suspect, SuspectOptions, SuspectRow};
use leakhound_core::config::{EvidenceConfig, TargetConfig};
use leakhound_core::time::UnixMs;
use leakhound_core::Sample;
use leakhound_http::{HttpClient, HttpOptions};
use leakhound_store::{Bundle, BundleSuspect, Db, StoreError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod prune;
pub use prune::prune_bundles;

/// Goroutine profiles parsed at once in this process (evidence capture, the dump task and the
/// web API's dump routes share them): a parse takes a blocking thread and a core, and a
/// hostile profile can make each one as costly as the parser's input limits allow.
pub const PARSE_SLOTS: usize = 2;

static PARSES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PARSE_SLOTS);

/// Parse a goroutine profile and group it by line **off the async runtime** (a blocking
/// thread, at most [`PARSE_SLOTS`] at once): a huge or hostile profile never stalls the
/// probes, `/metrics` or another target. A parse error comes back as text saying so.
pub async fn bucketize_off_runtime(body: Vec<u8>) -> Result<Vec<Bucket>, String> {
    parse_off_runtime(body)
        .await
        .map(|(_, buckets)| buckets)
        .map_err(|e| format!("the goroutine profile does not parse: {e}"))
}

/// [`bucketize_off_runtime`], also returning the profile's goroutine total.
async fn parse_off_runtime(body: Vec<u8>) -> Result<(u64, Vec<Bucket>), String> {
    let _slot = PARSES
        .acquire()
        .await
        .map_err(|e| format!("the profile parser is closed: {e}"))?;
    tokio::task::spawn_blocking(move || {
        let parsed = goroutine_dump::parse(&body)
            .map(|snap| (snap.total(), bucketize(&snap, GroupBy::Line)))
            .map_err(|e| e.to_string());
        drop(body);
        // The parse's scratch memory (up to ~37 bytes per input byte) is free now: hand it back
        // instead of letting this blocking thread's arena keep it.
        crate::memory::release_free_memory();
        parsed
    })
    .await
    .map_err(|e| format!("the profile parser failed: {e}"))?
}

/// How many suspects a bundle keeps.
pub const TOP_SUSPECTS: usize = 5;

/// Why a capture did not happen or failed entirely.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("evidence for '{target}' was captured {ago} ago; automatic captures are limited to one per {every} ([evidence] min_interval)")]
    RateLimited {
        target: String,
        ago: String,
        every: String,
    },
    #[error("cannot write the evidence bundle '{path}': {detail}. Check that [evidence] dir is writable")]
    Io { path: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to capture, and why.
#[derive(Debug, Clone)]
pub struct CaptureRequest {
    /// `alert:goroutines_critical`, `action:restart`, `manual`.
    pub trigger: String,
    /// The incident (alert fingerprint) the bundle belongs to.
    pub incident: String,
    /// The latest sample, saved as `sample.json`.
    pub latest: Option<Sample>,
    /// Automatic captures are rate-limited; captures before an action and on demand are not.
    pub automatic: bool,
    /// When (Unix ms).
    pub now_ms: i64,
}

/// Captures bundles; one per agent (or per `leakhound capture`).
#[derive(Debug)]
pub struct Capturer {
    config: EvidenceConfig,
    store: Db,
    last_automatic: HashMap<String, i64>,
}

/// A client for `target`'s own endpoints (its auth and headers), every request bounded by
/// `timeout`. Cheap: all of them share one connection pool, so none is kept per target (10 000
/// kept clients cost ~10 MB).
pub(crate) fn target_client(
    target: &TargetConfig,
    timeout: Duration,
) -> Result<HttpClient, String> {
    HttpClient::new(&HttpOptions {
        timeout,
        auth: target.auth.clone(),
        headers: target.headers.clone(),
    })
    .map_err(|e| e.to_string())
}

fn safe_name(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('.').to_string();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

fn io_error(path: &Path, e: std::io::Error) -> CaptureError {
    CaptureError::Io {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// Whether `path` is a directory itself, not a symbolic link to one (`None`: it does not exist).
fn real_dir(path: &Path) -> std::io::Result<Option<bool>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m.file_type().is_dir())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn not_a_real_dir(path: &Path) -> CaptureError {
    CaptureError::Io {
        path: path.display().to_string(),
        detail: "it is a symbolic link or not a directory; leakhound never writes through links below the evidence directory. Remove it (leakhound recreates it)".into(),
    }
}

/// Create `<root>/<target>/<name>` (or `<name>-2`, `-3`, … when taken) without following a
/// link below `root`: the target's directory must be a real directory (a symlink planted
/// there is refused), and the bundle's own directory is always new.
async fn make_bundle_dir(
    root: &Path,
    target_dir: &Path,
    name: &str,
) -> Result<PathBuf, CaptureError> {
    let root = root.to_path_buf();
    let target_dir = target_dir.to_path_buf();
    let name = name.to_string();
    let made = tokio::task::spawn_blocking(move || -> Result<PathBuf, CaptureError> {
        std::fs::create_dir_all(&root).map_err(|e| io_error(&root, e))?;
        match real_dir(&target_dir).map_err(|e| io_error(&target_dir, e))? {
            Some(true) => {}
            Some(false) => return Err(not_a_real_dir(&target_dir)),
            None => match std::fs::create_dir(&target_dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if real_dir(&target_dir).map_err(|e| io_error(&target_dir, e))? != Some(true) {
                        return Err(not_a_real_dir(&target_dir));
                    }
                }
                Err(e) => return Err(io_error(&target_dir, e)),
            },
        }
        for n in 1..1000 {
            let dir = if n == 1 {
                target_dir.join(&name)
            } else {
                target_dir.join(format!("{name}-{n}"))
            };
            // mkdir never follows a link at the last component: an existing name is skipped.
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error(&dir, e)),
            }
        }
        Err(io_error(
            &target_dir,
            std::io::Error::other("999 bundles with the same time and trigger"),
        ))
    })
    .await;
    made.map_err(|e| CaptureError::Io {
        path: "(evidence)".into(),
        detail: format!("the directory task failed: {e}"),
    })?
}

/// Write a new file (never through an existing file or link of that name).
async fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut f = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await?;
    f.write_all(bytes).await?;
    f.flush().await
}

/// Where bundles go: `[evidence] dir`, a relative one taken from the database's directory.
pub fn evidence_dir(config: &EvidenceConfig, db: &Path) -> PathBuf {
    if config.dir.is_absolute() {
        return config.dir.clone();
    }
    match db.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent.join(&config.dir),
        None => config.dir.clone(),
    }
}

impl Capturer {
    /// A capturer writing under `config.dir`, recording in the store at `db`.
    pub fn new(config: &EvidenceConfig, db: &Db) -> Result<Capturer, StoreError> {
        let mut config = config.clone();
        config.dir = evidence_dir(&config, db.path());
        Ok(Capturer {
            config,
            store: db.clone(),
            last_automatic: HashMap::new(),
        })
    }

    pub fn config(&self) -> &EvidenceConfig {
        &self.config
    }

    /// Seed the rate limit from the store (after an agent restart).
    pub async fn load_rate_limits(&mut self) {
        let latest = self
            .store
            .read(|s| s.bundles(None, 10_000))
            .await
            .unwrap_or_default();
        for b in latest {
            let slot = self.last_automatic.entry(b.target).or_insert(b.at_ms);
            *slot = (*slot).max(b.at_ms);
        }
    }

    /// Capture a bundle of `target`. A bundle is recorded even when the profile could not be
    /// fetched (its `error` says why, `has_profile()` is false); `Err` only when nothing could
    /// be written or the rate limit holds.
    pub async fn capture(
        &mut self,
        target: &TargetConfig,
        req: CaptureRequest,
    ) -> Result<Bundle, CaptureError> {
        let now = req.now_ms;
        let min_interval = leakhound_core::time::duration_ms(self.config.min_interval);
        if req.automatic {
            if let Some(&last) = self.last_automatic.get(&target.name) {
                if now - last < min_interval {
                    return Err(CaptureError::RateLimited {
                        target: target.name.clone(),
                        ago: leakhound_core::units::human_duration(UnixMs(now).since(UnixMs(last))),
                        every: leakhound_core::units::human_duration(self.config.min_interval),
                    });
                }
            }
        }
        self.last_automatic.insert(target.name.clone(), now);

        // The directory.
        let stamp = chrono::DateTime::from_timestamp_millis(now)
            .map(|t| t.format("%Y%m%dT%H%M%S%.3fZ").to_string())
            .unwrap_or_else(|| now.to_string());
        let target_dir = self.config.dir.join(safe_name(&target.name));
        let dir = make_bundle_dir(
            &self.config.dir,
            &target_dir,
            &format!("{stamp}-{}", safe_name(&req.trigger)),
        )
        .await?;

        let mut errors: Vec<String> = Vec::new();
        let mut files: Vec<(String, u64)> = Vec::new();
        let client = target_client(target, self.config.timeout);
        let max = self.config.max_profile_bytes;

        // The goroutine profile.
        let mut profile: Option<Vec<u8>> = None;
        match (&client, target.pprof_url("/debug/pprof/goroutine?debug=1")) {
            (Ok(c), Some(url)) => match c.get_bytes(&url, max).await {
                Ok((200, body)) => profile = Some(body),
                Ok((status, _)) => errors.push(format!(
                    "goroutine profile: HTTP {status} from {}: does the service import net/http/pprof?",
                    leakhound_http::redact(&url)
                )),
                Err(e) => errors.push(format!("goroutine profile: {e}")),
            },
            (Err(e), _) => errors.push(format!("goroutine profile: {e}")),
            (_, None) => errors.push(
                "goroutine profile: the target has no URL, so there is no /debug/pprof to ask"
                    .into(),
            ),
        }
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut goroutines = None;
        if let Some(body) = &profile {
            let path = dir.join("goroutine.txt");
            write_new(&path, body)
                .await
                .map_err(|e| io_error(&path, e))?;
            files.push(("goroutine.txt".into(), body.len() as u64));
            // Parsed on a blocking thread: a hostile profile must not stall the runtime.
            match parse_off_runtime(body.clone()).await {
                Ok((total, b)) => {
                    goroutines = Some(total);
                    buckets = b;
                }
                Err(e) => {
                    tracing::warn!(target_name = %target.name, "evidence: goroutine profile does not parse: {e}");
                    errors.push(format!("goroutine profile does not parse: {e}"));
                }
            }
        }
        // The full dump, opt-in and bounded.
        if self.config.debug2 {
            match goroutines {
                Some(g) if g <= self.config.debug2_max_goroutines => {
                    if let (Ok(c), Some(url)) =
                        (&client, target.pprof_url("/debug/pprof/goroutine?debug=2"))
                    {
                        match c.get_bytes(&url, max).await {
                            Ok((200, body)) => {
                                let path = dir.join("goroutine-debug2.txt");
                                write_new(&path, &body)
                                    .await
                                    .map_err(|e| io_error(&path, e))?;
                                files.push(("goroutine-debug2.txt".into(), body.len() as u64));
                            }
                            Ok((status, _)) => errors.push(format!("debug=2 dump: HTTP {status}")),
                            Err(e) => errors.push(format!("debug=2 dump: {e}")),
                        }
                    }
                }
                Some(g) => errors.push(format!(
                    "debug=2 dump skipped: {g} goroutines is over [evidence] debug2_max_goroutines ({}); it would stop the world too long",
                    self.config.debug2_max_goroutines
                )),
                None => {}
            }
        }
        // The heap profile.
        if let (Ok(c), Some(url)) = (&client, target.pprof_url("/debug/pprof/heap")) {
            match c.get_bytes(&url, max).await {
                Ok((200, body)) => {
                    let path = dir.join("heap.pb.gz");
                    write_new(&path, &body)
                        .await
                        .map_err(|e| io_error(&path, e))?;
                    files.push(("heap.pb.gz".into(), body.len() as u64));
                }
                Ok((status, _)) => errors.push(format!("heap profile: HTTP {status}")),
                Err(e) => errors.push(format!("heap profile: {e}")),
            }
        }
        // Samples.
        if let Some(sample) = &req.latest {
            let json = serde_json::to_vec_pretty(sample).unwrap_or_default();
            let path = dir.join("sample.json");
            write_new(&path, &json)
                .await
                .map_err(|e| io_error(&path, e))?;
            files.push(("sample.json".into(), json.len() as u64));
        }
        let window_ms = leakhound_core::time::duration_ms(self.config.window);
        let name = target.name.clone();
        let samples = self
            .store
            .read(move |s| s.samples(&name, now.saturating_sub(window_ms), now + 1))
            .await
            .unwrap_or_default();
        {
            let json = serde_json::to_vec(&samples).unwrap_or_default();
            let path = dir.join("samples.json");
            write_new(&path, &json)
                .await
                .map_err(|e| io_error(&path, e))?;
            files.push(("samples.json".into(), json.len() as u64));
        }

        // Suspects: against the previous bundle that still has its profile.
        let name = target.name.clone();
        let previous = self
            .store
            .read(move |s| s.bundles(Some(&name), 20))
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|b| b.has_profile() && b.dir.join("goroutine.txt").is_file());
        let mut previous_buckets = None;
        if let Some(prev) = &previous {
            if let Ok(bytes) = tokio::fs::read(prev.dir.join("goroutine.txt")).await {
                previous_buckets = bucketize_off_runtime(bytes).await.ok();
            }
        }
        let suspects = bundle_suspects(&buckets, previous_buckets.as_deref(), TOP_SUSPECTS);

        // The manifest, last: its presence means the bundle is complete.
        let manifest_bytes: u64 = files.iter().map(|(_, n)| n).sum();
        let manifest = serde_json::json!({
            "version": 1,
            "target": target.name,
            "trigger": req.trigger,
            "incident": req.incident,
            "at_ms": now,
            "at": chrono::DateTime::from_timestamp_millis(now).map(|t| t.to_rfc3339()),
            "goroutines": goroutines,
            "profile_format": profile.as_ref().map(|_| "debug=1"),
            "files": files.iter().map(|(n, b)| serde_json::json!({"name": n, "bytes": b})).collect::<Vec<_>>(),
            "bytes": manifest_bytes,
            "previous_bundle": previous.as_ref().map(|p| p.dir.display().to_string()),
            "suspects": suspects,
            "errors": errors,
        });
        let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        let path = dir.join("manifest.json");
        write_new(&path, &text)
            .await
            .map_err(|e| io_error(&path, e))?;
        let bytes = manifest_bytes + text.len() as u64;

        let mut bundle = Bundle {
            id: 0,
            target: target.name.clone(),
            incident: req.incident.clone(),
            first_of_incident: false,
            at_ms: now,
            trigger: req.trigger.clone(),
            dir: dir.clone(),
            bytes,
            goroutines,
            profile_format: profile.as_ref().map(|_| "debug=1".to_string()),
            suspects,
            error: (!errors.is_empty()).then(|| errors.join("; ")),
        };
        let record = bundle.clone();
        let budget = self.config.max_total_bytes;
        let (id, first) = self.store.write(move |s| s.insert_bundle(&record)).await?;
        bundle.id = id;
        bundle.first_of_incident = first;
        let pruned = prune_bundles(&self.store, budget)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!("cannot prune the evidence bundles: {e}");
                Vec::new()
            });
        for p in &pruned {
            tracing::info!(target_name = %p.target, "pruned evidence bundle {} ({})", p.dir.display(), leakhound_core::units::human_bytes(p.bytes));
        }
        tracing::warn!(
            target_name = %bundle.target,
            goroutines = bundle.goroutines.unwrap_or(0),
            "evidence captured ({}): {}{}",
            bundle.trigger,
            bundle.dir.display(),
            bundle
                .suspects
                .first()
                .map(|s| format!("; top suspect {}", suspect_line(s)))
                .unwrap_or_default()
        );
        Ok(bundle)
    }
}

/// A bundle's suspects, ranked by the dump crate's suspect ranking (the same as `leakhound
/// analyze`'s) over `previous` and `current`: buckets of user code that grew at least 10
/// goroutines and 20 % since the previous bundle, most first, then the largest buckets of user
/// code, `top` in all. Busy buckets (sleeping, running, in a syscall) count as grown like any
/// other, as they always did in bundles: two debug=1 profiles cannot tell them apart better.
pub fn bundle_suspects(
    current: &[Bucket],
    previous: Option<&[Bucket]>,
    top: usize,
) -> Vec<BundleSuspect> {
    let opts = SuspectOptions {
        group_by: GroupBy::Line,
        busy_min_snapshots: 0,
        user_code_only: true,
        fill_largest: Some(top),
        ..SuspectOptions::default()
    };
    let series: Vec<&[Bucket]> = previous.into_iter().chain([current]).collect();
    goroutine_dump::suspects_from_buckets(&series, &opts)
        .iter()
        .filter_map(|s| stored_suspect(s, previous.is_some()))
        .collect()
}

/// A ranked suspect as a bundle stores it (`compared`: there was a previous bundle, so the
/// growth is known).
fn stored_suspect(s: &Suspect, compared: bool) -> Option<BundleSuspect> {
    let site = s.top_frame.as_ref()?;
    Some(BundleSuspect {
        function: site.function.clone(),
        location: site.location(),
        count: s.counts.last().copied().unwrap_or(0),
        delta: compared.then_some(s.growth),
        basis: s.basis.as_str().to_string(),
        blocking: s.blocking.as_str().to_string(),
        labels: s
            .dominant_labels
            .iter()
            .map(|l| format!("{}={}", l.key, l.value))
            .collect(),
    })
}

/// A stored suspect as every view shows it ([`SuspectRow`]: its `Display` is the line of
/// messages and logs).
pub fn suspect_row(s: &BundleSuspect) -> SuspectRow {
    let before = s
        .delta
        .map(|d| u64::try_from(s.count as i64 - d).unwrap_or(0));
    SuspectRow {
        function: s.function.clone(),
        location: s.location.clone(),
        counts: before.into_iter().chain([s.count]).collect(),
        growth: s.delta,
        since: "the previous bundle".into(),
        confidence: None,
        blocking: s.blocking.clone(),
        // Stored as `key=value`, carried by most of the bucket (the share is not stored).
        labels: s
            .labels
            .iter()
            .map(|l| {
                let (key, value) = l.split_once('=').unwrap_or((l, ""));
                LabelCount {
                    key: key.to_string(),
                    value: value.to_string(),
                    count: s.count,
                }
            })
            .collect(),
        oldest_minutes: None,
        created_by: None,
        reasons: Vec::new(),
    }
}

/// [`suspect_row`] as its one line.
pub fn suspect_line(s: &BundleSuspect) -> String {
    suspect_row(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(sites: &[(&str, u64)]) -> Vec<u8> {
        let total: u64 = sites.iter().map(|(_, n)| n).sum::<u64>() + 1;
        let mut s = format!("goroutine profile: total {total}\n");
        s.push_str("1 @ 0x1 0x2\n#\t0x1\tmain.main+0x1\t/app/main.go:10\n\n");
        for (i, (f, n)) in sites.iter().enumerate() {
            s.push_str(&format!(
                "{n} @ 0x{a:x} 0x{b:x}\n#\t0x{a:x}\truntime.gopark+0x1\t/go/src/runtime/proc.go:363\n#\t0x{b:x}\t{f}+0x1\t/app/x{i}.go:{l}\n\n",
                a = 0x100 + i * 2,
                b = 0x101 + i * 2,
                l = 40 + i
            ));
        }
        s.into_bytes()
    }

    fn buckets(sites: &[(&str, u64)]) -> Vec<Bucket> {
        bucketize(
            &goroutine_dump::parse(&profile(sites)).unwrap(),
            GroupBy::Line,
        )
    }

    #[test]
    fn growth_first_then_the_largest() {
        let before = buckets(&[("app.(*Relay).waitReply", 100), ("app.idle", 500)]);
        let after = buckets(&[("app.(*Relay).waitReply", 3000), ("app.idle", 500)]);
        let s = bundle_suspects(&after, Some(&before), 5);
        assert_eq!(s[0].function, "app.(*Relay).waitReply");
        assert_eq!(s[0].delta, Some(2900));
        assert_eq!(s[0].basis, "grew");
        assert_eq!(s[1].function, "app.idle");
        assert_eq!(s[1].basis, "largest");
        assert_eq!(s[1].delta, Some(0));
        assert!(
            suspect_line(&s[0]).contains("+2900 since the previous bundle"),
            "{}",
            suspect_line(&s[0])
        );
        // Without a previous bundle: the largest user buckets.
        let s = bundle_suspects(&after, None, 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].function, "app.(*Relay).waitReply");
        assert_eq!(s[0].delta, None);
    }

    #[tokio::test]
    async fn a_symlink_planted_at_the_targets_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("evidence");
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("one-api")).unwrap();
        let config = EvidenceConfig {
            dir: root.clone(),
            ..EvidenceConfig::default()
        };
        let mut capturer =
            Capturer::new(&config, &Db::open(&tmp.path().join("lh.db")).unwrap()).unwrap();
        let target: TargetConfig = leakhound_core::config::Config::parse(
            "[[targets]]\nname = \"one-api\"\nurl = \"http://127.0.0.1:1\"\n",
            &|_| None,
        )
        .unwrap()
        .targets
        .remove(0);
        let err = capturer
            .capture(
                &target,
                CaptureRequest {
                    trigger: "manual".into(),
                    incident: "manual".into(),
                    latest: None,
                    automatic: false,
                    now_ms: 1_700_000_000_000,
                },
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }
}
