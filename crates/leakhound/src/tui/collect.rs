//! Collection for live views: probers of URLs, a poller of a running agent's JSON API, and the
//! goroutine dumper. Each runs as its own task and only sends [`Event`]s over a bounded channel;
//! none of them touches the terminal.

use super::app::{DumpReason, DumpView, Event};
use anyhow::Context;
use goroutine_dump::{Bucket, Format, GroupBy, SuspectOptions, SuspectRow};
use leakhound_agent::agent::spawn_probers;
use leakhound_core::config::{Auth, TargetConfig};
use leakhound_core::Sample;
use leakhound_http::{HttpClient, HttpError, HttpOptions};
use leakhound_store::Bundle;
use leakhound_web::wire::{DumpList, SamplesView, TargetView};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use url::Url;

/// Probe `targets` every their interval; every sample becomes an [`Event::Sample`].
pub fn spawn_url_probers(
    targets: &[TargetConfig],
    tx: mpsc::Sender<Event>,
    stop: watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    let (probed_tx, mut probed_rx) = mpsc::channel(targets.len().clamp(16, 1024));
    let mut probers = spawn_probers(targets, probed_tx, stop)?;
    tasks.spawn(async move {
        while let Some(p) = probed_rx.recv().await {
            if tx.send(Event::from(p.sample)).await.is_err() {
                break;
            }
        }
        while probers.join_next().await.is_some() {}
    });
    Ok(())
}

// --- the agent's JSON API (its shapes: `leakhound_web::wire`) ------------------------------------

/// A running agent (`leakhound run` with `[web]`), read over its JSON API.
#[derive(Debug, Clone)]
pub struct Agent {
    base: Url,
    client: HttpClient,
}

/// Responses from the agent are small; this bounds a confused peer.
const AGENT_MAX_BYTES: u64 = 64 << 20;

impl Agent {
    pub fn new(url: &str, token: Option<String>, timeout: Duration) -> anyhow::Result<Agent> {
        let text = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let mut base = Url::parse(&text).with_context(|| {
            format!("--agent '{url}' is not a URL; write e.g. --agent http://127.0.0.1:9466")
        })?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = HttpClient::new(&HttpOptions {
            timeout,
            auth: token
                .filter(|t| !t.is_empty())
                .map(|token| Auth::Bearer { token }),
            headers: Vec::new(),
        })?;
        Ok(Agent { base, client })
    }

    /// The agent's URL for `segments`, each percent-encoded as one path segment (a target
    /// named `a/b` is `…/targets/a%2Fb`, a newline `%0A`). `.` and `..` cannot be sent as a
    /// segment at all (URLs resolve them), so they are an error instead of another route.
    fn url(&self, segments: &[&str]) -> anyhow::Result<Url> {
        if let Some(bad) = segments.iter().find(|s| matches!(**s, "" | "." | "..")) {
            anyhow::bail!(
                "the target name '{bad}' cannot be asked for in a URL; rename the target in the agent's config (`leakhound config check` refuses such names)"
            );
        }
        let mut path = self.base.path().trim_end_matches('/').to_string();
        for segment in segments {
            path.push('/');
            path.push_str(&encode_segment(segment));
        }
        let mut u = self.base.clone();
        if u.cannot_be_a_base() {
            anyhow::bail!("--agent '{}' cannot take a path", self.base);
        }
        u.set_path(&path);
        Ok(u)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: Url) -> anyhow::Result<T> {
        let shown = leakhound_http::redact(&url);
        let (_, body) = self
            .client
            .get_bytes(&url, AGENT_MAX_BYTES)
            .await
            .map_err(|e| match e {
                HttpError::Status { status: 401, .. } => anyhow::anyhow!(
                    "the agent at {} wants its [web] token: pass --token TOKEN or set LEAKHOUND_WEB_TOKEN",
                    self.base
                ),
                HttpError::Status { status: 403, .. } => anyhow::anyhow!(
                    "the agent at {} refuses this address: add it to [web] allow",
                    self.base
                ),
                e => anyhow::anyhow!("cannot read {shown}: {e}"),
            })?;
        serde_json::from_slice(&body).with_context(|| {
            format!("{shown} did not answer the agent's JSON: is --agent the address of `leakhound run`'s [web] listen?")
        })
    }

    /// `GET /api/targets`.
    pub async fn targets(&self) -> anyhow::Result<Vec<TargetView>> {
        self.get(self.url(&["api", "targets"])?).await
    }

    /// The newest evidence bundle of a target (`GET /api/targets/NAME/dumps?limit=1`).
    pub async fn latest_dump(&self, name: &str) -> anyhow::Result<Option<Bundle>> {
        let mut u = self.url(&["api", "targets", name, "dumps"])?;
        u.query_pairs_mut().append_pair("limit", "1");
        let answer: DumpList = self.get(u).await?;
        Ok(answer.dumps.into_iter().next().map(|d| d.bundle))
    }

    /// `GET /api/targets/NAME/samples?since=…[&step=…]`.
    pub async fn samples(
        &self,
        name: &str,
        since: &str,
        step: Option<&str>,
    ) -> anyhow::Result<Vec<Sample>> {
        let mut u = self.url(&["api", "targets", name, "samples"])?;
        u.query_pairs_mut().append_pair("since", since);
        if let Some(step) = step {
            u.query_pairs_mut().append_pair("step", step);
        }
        let answer: SamplesView = self.get(u).await?;
        Ok(answer.samples)
    }
}

/// Percent-encode every byte of `segment` that is not an RFC 3986 `pchar` (unreserved,
/// sub-delims, `:` and `@`), so it stays one path segment whatever it holds (`/`, `%`, `?`,
/// `#`, spaces, control characters, non-ASCII).
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Backfill the last 2 h of every target, then every `interval` send the samples the agent
/// stored since the last ones seen.
pub fn spawn_agent_poller(
    agent: Agent,
    names: Vec<String>,
    interval: Duration,
    tx: mpsc::Sender<Event>,
    mut stop: watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) {
    tasks.spawn(async move {
        let mut last: HashMap<String, i64> = HashMap::new();
        for name in &names {
            let event = match agent.samples(name, "2h", Some("10s")).await {
                Ok(samples) => {
                    if let Some(s) = samples.last() {
                        last.insert(name.clone(), s.ts_ms);
                    }
                    Event::History {
                        target: name.clone(),
                        samples,
                    }
                }
                Err(e) => Event::Status(format!("history of {name}: {e:#}")),
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
        let mut failing = false;
        let mut bundles: HashMap<String, i64> = HashMap::new();
        let mut rounds: u64 = 0;
        loop {
            // Stored samples, plus a *down* sample (not the agent's: it is not remembered as
            // seen) for every target the agent could not answer for, so `--count` still ends
            // and the exit code says so.
            let round = async {
                let targets = agent.targets().await?;
                let mut out = Vec::new();
                let mut failed = Vec::new();
                for t in targets {
                    let seen = last.get(&t.name).copied();
                    if t.ts_ms.is_none() || (seen.is_some() && t.ts_ms <= seen) {
                        continue;
                    }
                    let since = seen.map_or_else(|| "1m".to_string(), |s| (s + 1).to_string());
                    match agent.samples(&t.name, &since, None).await {
                        Ok(samples) => out.extend(samples),
                        Err(e) => failed.push(Sample::down(
                            &t.name,
                            leakhound_agent::agent::now_ms(),
                            0.0,
                            format!("the agent did not answer for this target: {e:#}"),
                        )),
                    }
                }
                anyhow::Ok((out, failed))
            };
            let mut dumps = Vec::new();
            if rounds.is_multiple_of(DUMP_ROUNDS) {
                for name in &names {
                    // An agent without evidence (or an older one) simply has none to show.
                    if let Ok(Some(bundle)) = agent.latest_dump(name).await {
                        if bundles.get(name) != Some(&bundle.id) {
                            bundles.insert(name.clone(), bundle.id);
                            dumps.push(Event::Dump {
                                target: name.clone(),
                                reason: DumpReason::Evidence,
                                result: Ok(view_of_bundle(&bundle)),
                            });
                        }
                    }
                }
            }
            rounds += 1;
            let events = match round.await {
                Ok((samples, failed)) => {
                    let mut events = Vec::new();
                    if failing {
                        failing = false;
                        events.push(Event::Status("the agent answers again".into()));
                    }
                    for s in samples {
                        last.insert(s.target.clone(), s.ts_ms);
                        events.push(Event::from(s));
                    }
                    events.extend(failed.into_iter().map(Event::from));
                    events.extend(dumps);
                    events
                }
                Err(e) => {
                    failing = true;
                    // Every target counts a failed round (so `--count` ends on a dead agent).
                    let now = leakhound_agent::agent::now_ms();
                    let mut events = vec![Event::Status(format!("{e:#}"))];
                    events.extend(names.iter().map(|name| {
                        Event::from(Sample::down(
                            name,
                            now,
                            0.0,
                            format!("the agent did not answer: {e:#}"),
                        ))
                    }));
                    events
                }
            };
            for e in events {
                if tx.send(e).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return,
            }
        }
    });
}

/// The agent's bundles are looked for every this many polling rounds.
const DUMP_ROUNDS: u64 = 6;

/// The suspects pane's view of an agent's evidence bundle: what grew since its previous bundle
/// (suspects) and its largest user-code groups.
fn view_of_bundle(b: &Bundle) -> DumpView {
    let rows = |largest: bool| {
        b.suspects
            .iter()
            .filter(|s| (s.basis == "largest") == largest)
            .take(SHOWN)
            .map(leakhound_agent::evidence::suspect_row)
            .collect::<Vec<_>>()
    };
    let grew = rows(false);
    DumpView {
        at_ms: b.at_ms,
        goroutines: b.goroutines.unwrap_or(0),
        snapshots: if grew.is_empty() { 1 } else { 2 },
        suspects: grew,
        largest: rows(true),
    }
}

// --- goroutine dumps ---------------------------------------------------------------------------

/// A dump the loop asks for.
#[derive(Debug, Clone)]
pub struct DumpRequest {
    pub target: String,
    pub reason: DumpReason,
}

/// Where and how to dump one target.
#[derive(Debug, Clone)]
pub struct DumpTarget {
    /// The goroutine profile URL without `debug` (see `analyze::profile_url`).
    pub url: Url,
    pub options: HttpOptions,
}

impl DumpTarget {
    /// The target's pprof goroutine profile (`leakhound_core::urls::pprof_url`).
    pub fn for_target(t: &TargetConfig) -> Option<DumpTarget> {
        let url = t.pprof_url("/debug/pprof/goroutine")?;
        Some(DumpTarget {
            url,
            options: HttpOptions {
                timeout: DUMP_TIMEOUT,
                auth: t.auth.clone(),
                headers: t.headers.clone(),
            },
        })
    }
}

const DUMP_TIMEOUT: Duration = Duration::from_secs(30);
/// Dumps kept per target for the suspects (oldest dropped).
const KEEP_DUMPS: usize = 6;
const DUMP_MAX_BYTES: u64 = 256 << 20;
/// Rows shown in the suspects pane.
const SHOWN: usize = 8;

/// Suspects over the kept dumps and the largest groups of the latest (pure; runs on a blocking
/// thread because a big service's dump takes a while to group).
fn summarize(series: &VecDeque<Vec<Bucket>>, goroutines: u64, at_ms: i64) -> DumpView {
    let opts = SuspectOptions::default();
    let list: Vec<Vec<Bucket>> = series.iter().cloned().collect();
    let suspects = goroutine_dump::suspects_from_buckets(&list, &opts)
        .iter()
        .take(SHOWN)
        .map(SuspectRow::from)
        .collect();
    let mut largest: Vec<&Bucket> = series
        .back()
        .map(|b| b.iter().collect())
        .unwrap_or_default();
    largest.sort_by_key(|b| std::cmp::Reverse(b.count));
    let largest = largest
        .into_iter()
        .take(SHOWN)
        .map(|b| SuspectRow::of_bucket(b, opts.dominant_label_share))
        .collect();
    DumpView {
        at_ms,
        goroutines,
        snapshots: series.len(),
        suspects,
        largest,
    }
}

async fn take_dump(
    target: &DumpTarget,
    series: VecDeque<Vec<Bucket>>,
) -> (VecDeque<Vec<Bucket>>, Result<DumpView, String>) {
    let url = crate::analyze::profile_url(&target.url, 1);
    let client = match HttpClient::new(&target.options) {
        Ok(c) => c,
        Err(e) => return (series, Err(e.to_string())),
    };
    let bytes = match client.get_bytes(&url, DUMP_MAX_BYTES).await {
        Ok((_, b)) => b,
        Err(e) => return (series, Err(e.to_string())),
    };
    let at_ms = leakhound_agent::agent::now_ms();
    let joined = tokio::task::spawn_blocking(move || {
        let mut series = series;
        match goroutine_dump::parse_as(&bytes, Format::Debug1) {
            Ok(snapshot) => {
                if series.len() == KEEP_DUMPS {
                    series.pop_front();
                }
                series.push_back(goroutine_dump::bucketize(&snapshot, GroupBy::Line));
                let view = summarize(&series, snapshot.total(), at_ms);
                (series, Ok(view))
            }
            Err(e) => (
                series,
                Err(format!("{url} is not a goroutine profile: {e}")),
            ),
        }
    })
    .await;
    match joined {
        Ok(done) => done,
        Err(e) => (
            VecDeque::new(),
            Err(format!("the parsing task failed: {e}")),
        ),
    }
}

/// One task takes the dumps, one at a time, and keeps the last few of every target.
pub fn spawn_dumper(
    targets: HashMap<String, DumpTarget>,
    mut requests: mpsc::Receiver<DumpRequest>,
    tx: mpsc::Sender<Event>,
    tasks: &mut JoinSet<()>,
) {
    tasks.spawn(async move {
        let mut kept: HashMap<String, VecDeque<Vec<Bucket>>> = HashMap::new();
        while let Some(req) = requests.recv().await {
            let result = match targets.get(&req.target) {
                Some(target) => {
                    let series = kept.remove(&req.target).unwrap_or_default();
                    let (series, result) = take_dump(target, series).await;
                    kept.insert(req.target.clone(), series);
                    result
                }
                None => Err("no pprof URL known for this target".into()),
            };
            let event = Event::Dump {
                target: req.target,
                reason: req.reason,
                result,
            };
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13 item 10: a target name is one percent-encoded path segment of the agent's API.
    #[test]
    fn agent_urls_encode_each_target_name_as_one_segment() {
        let agent = Agent::new("http://127.0.0.1:9466/base", None, Duration::from_secs(1)).unwrap();
        let url = |name: &str| {
            agent
                .url(&["api", "targets", name, "samples"])
                .map(|u| u.to_string())
        };
        assert_eq!(
            url("a/b").unwrap(),
            "http://127.0.0.1:9466/base/api/targets/a%2Fb/samples"
        );
        assert_eq!(
            url("x\ny").unwrap(),
            "http://127.0.0.1:9466/base/api/targets/x%0Ay/samples"
        );
        assert_eq!(
            url("one api?#%").unwrap(),
            "http://127.0.0.1:9466/base/api/targets/one%20api%3F%23%25/samples"
        );
        assert_eq!(
            url("[::1]:3000").unwrap(),
            "http://127.0.0.1:9466/base/api/targets/%5B::1%5D:3000/samples"
        );
        assert_eq!(
            url("计").unwrap(),
            "http://127.0.0.1:9466/base/api/targets/%E8%AE%A1/samples"
        );
        for bad in ["..", ".", ""] {
            let e = url(bad).unwrap_err().to_string();
            assert!(e.contains("cannot be asked for in a URL"), "{e}");
        }
    }

    #[test]
    fn dump_url_next_to_any_endpoint() {
        let defaults = leakhound_core::config::Defaults::default();
        for (given, want) in [
            ("http://h:1", "http://h:1/debug/pprof/goroutine?debug=1"),
            (
                "http://h:1/app/",
                "http://h:1/app/debug/pprof/goroutine?debug=1",
            ),
            (
                "http://h:1/api/monitor/health",
                "http://h:1/debug/pprof/goroutine?debug=1",
            ),
            (
                "http://h:1/metrics",
                "http://h:1/debug/pprof/goroutine?debug=1",
            ),
            (
                "http://h:1/debug/pprof/goroutine?debug=2",
                "http://h:1/debug/pprof/goroutine?debug=1",
            ),
        ] {
            let url = leakhound_core::config::parse_url(given).unwrap();
            let t = TargetConfig::new("x".into(), Some(url), None, &defaults);
            let d = DumpTarget::for_target(&t).unwrap();
            assert_eq!(
                crate::analyze::profile_url(&d.url, 1).as_str(),
                want,
                "{given}"
            );
        }
    }

    #[test]
    fn agent_urls_encode_names() {
        let a = Agent::new("127.0.0.1:9466", None, Duration::from_secs(1)).unwrap();
        assert_eq!(
            a.url(&["api", "targets", "one-api (simulated)", "samples"])
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9466/api/targets/one-api%20(simulated)/samples"
        );
    }
}
