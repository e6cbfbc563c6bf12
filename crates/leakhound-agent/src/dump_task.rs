//! The agent's goroutine-dump task: takes the cheap `debug=1` goroutine profile of a target
//! when the rule engine asks (its goroutines grow, or a goroutine level alert is about to fire)
//! and a quiet-time reference every 30 minutes, keeps each target's [`DumpHistory`], and sends
//! the verdict back to the rule engine — so the first message of an alert can say "leak at
//! `pkg.(*T).method`" or stay quiet because the growth is load.
//!
//! Where a target serves Go 1.26's `/debug/pprof/goroutineleak` (built with
//! `GOEXPERIMENT=goroutineleakprofile`), the reference capture also reads it: the runtime's own
//! proof of leaked goroutines, for the `goroutines_leaked` rule. Profiles are bounded by
//! `[evidence] max_profile_bytes` and parsed on a blocking thread, never on the runtime's
//! workers. The task's queue is bounded; a full queue drops the request (the engine asks again).
//! [`DumpState`] is what the agent's ingest loop remembers per target to decide what to ask for.

use crate::dumps::{unavailable, DumpHistory};
use crate::evidence::target_client;
use crate::fleet::Fleet;
use goroutine_dump::Bucket;
use leakhound_core::config::{Config, TargetConfig};
use leakhound_core::rules::{DumpClass, DumpVerdict};
use leakhound_core::Sample;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the ingest loop asks of the dump task.
#[derive(Debug, Clone)]
pub enum DumpRequest {
    /// Take a dump now and classify it (`growth_since`: when the counts began to grow).
    Classify {
        target: String,
        at_ms: i64,
        growth_since: Option<i64>,
    },
    /// Take a quiet-time reference dump.
    Reference { target: String, at_ms: i64 },
    /// The target restarted: its dumps say nothing about the new process.
    Restarted { target: String },
    /// The target is no longer watched: forget everything about it.
    Gone { target: String },
}

/// A verdict for the rule engine.
pub type VerdictMessage = (String, DumpVerdict);

/// Requests queued at most (one per target is plenty; the engine asks again when due).
pub const QUEUE: usize = 256;

struct Task {
    config: Arc<Config>,
    fleet: Fleet,
    histories: HashMap<String, DumpHistory>,
    /// Whether a target serves `/debug/pprof/goroutineleak` (learnt on the first reference).
    leak_profile: HashMap<String, bool>,
    verdicts: mpsc::Sender<VerdictMessage>,
}

/// Start the task. Verdicts arrive on the returned receiver; it ends when the sender is dropped.
pub fn spawn(
    config: Arc<Config>,
    fleet: Fleet,
) -> (
    mpsc::Sender<DumpRequest>,
    mpsc::Receiver<VerdictMessage>,
    JoinHandle<()>,
) {
    let (tx, mut rx) = mpsc::channel::<DumpRequest>(QUEUE);
    let (vtx, vrx) = mpsc::channel::<VerdictMessage>(QUEUE);
    let mut task = Task {
        config,
        fleet,
        histories: HashMap::new(),
        leak_profile: HashMap::new(),
        verdicts: vtx,
    };
    let handle = tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            task.handle(req).await;
        }
    });
    (tx, vrx, handle)
}

/// Go 1.26's leak profile, in the debug=1 text form.
const LEAK_PROFILE_PATH: &str = "/debug/pprof/goroutineleak?debug=1";
/// How the runtime heads that profile. Anything else at that path (a catch-all handler, a
/// goroutine profile) is not the runtime's proof of a leak and must not confirm one.
const LEAK_PROFILE_HEADER: &str = "goroutineleak profile:";

/// The verdict of a goroutineleak profile: every goroutine in it is proved leaked.
fn proved(mut buckets: Vec<Bucket>, at_ms: i64) -> DumpVerdict {
    let count = buckets.iter().map(|b| b.count).sum::<u64>();
    for b in &mut buckets {
        b.leaked = b.count;
    }
    let c = goroutine_dump::classify(&[buckets], &Default::default());
    crate::dumps::verdict_of(&c, at_ms, Some(count))
}

/// Why a profile could not be had, in words.
type Failure = String;

impl Task {
    async fn handle(&mut self, req: DumpRequest) {
        match req {
            DumpRequest::Restarted { target } => {
                self.histories.remove(&target);
            }
            DumpRequest::Gone { target } => {
                self.histories.remove(&target);
                self.leak_profile.remove(&target);
            }
            DumpRequest::Reference { target, at_ms } => {
                let Some(t) = self.target(&target) else {
                    return;
                };
                if let Ok(buckets) = self.fetch(&t, "/debug/pprof/goroutine?debug=1", None).await {
                    self.histories
                        .entry(target.clone())
                        .or_default()
                        .push(at_ms, buckets, true);
                }
                let leaked = self.runtime_leaked(&t).await;
                let count = leaked
                    .as_ref()
                    .map(|b| b.iter().map(|b| b.count).sum::<u64>());
                self.histories
                    .entry(target.clone())
                    .or_default()
                    .set_runtime_leaked(count);
                // Only a proof of leaked goroutines is news at a reference: its buckets are the
                // suspects, named by the runtime itself.
                if let Some(buckets) = leaked.filter(|b| !b.is_empty()) {
                    let _ = self.verdicts.send((target, proved(buckets, at_ms))).await;
                }
            }
            DumpRequest::Classify {
                target,
                at_ms,
                growth_since,
            } => {
                let Some(t) = self.target(&target) else {
                    return;
                };
                let verdict = match self.fetch(&t, "/debug/pprof/goroutine?debug=1", None).await {
                    Ok(buckets) => {
                        // The runtime's proof, where served, confirms a leak at once.
                        let proof = self.runtime_leaked(&t).await;
                        let leaked = proof
                            .as_ref()
                            .map(|b| b.iter().map(|b| b.count).sum::<u64>());
                        let history = self.histories.entry(target.clone()).or_default();
                        history.set_runtime_leaked(leaked);
                        history.push(at_ms, buckets, false);
                        match (history.verdict(growth_since), proof) {
                            // The counts' classification missed it: the runtime's own list of
                            // leaked goroutines names the sites.
                            (Some(v), Some(proof))
                                if v.class != DumpClass::Leak && !proof.is_empty() =>
                            {
                                Some(proved(proof, at_ms))
                            }
                            (v, _) => v,
                        }
                    }
                    Err(why) => Some(unavailable(at_ms, &why)),
                };
                if let Some(v) = verdict {
                    tracing::info!(target_name = %target, class = ?v.class, "goroutine dumps: {}", v.summary);
                    let _ = self.verdicts.send((target, v)).await;
                }
            }
        }
    }

    fn target(&self, name: &str) -> Option<std::sync::Arc<TargetConfig>> {
        self.fleet.get(name)
    }

    /// GET a profile of `target` and bucketize it off the async runtime. `header`: the first
    /// bytes the text profile must start with (`None`: any dump format).
    async fn fetch(
        &mut self,
        target: &TargetConfig,
        path: &str,
        header: Option<&str>,
    ) -> Result<Vec<Bucket>, Failure> {
        let Some(url) = target.pprof_url(path) else {
            return Err("the target has no URL, so there is no /debug/pprof to ask".into());
        };
        let client = target_client(target, self.config.actions.evidence.timeout)?;
        let max = self.config.actions.evidence.max_profile_bytes;
        let (status, body) = client.get_bytes(&url, max).await.map_err(|e| {
            format!("no goroutine profile ({e}); does the service import net/http/pprof?")
        })?;
        if !(200..300).contains(&status) {
            return Err(format!(
                "no goroutine profile (HTTP {status} from {path}); does the service import net/http/pprof?"
            ));
        }
        if let Some(header) = header {
            if !body.starts_with(header.as_bytes()) {
                return Err(format!("{path} did not answer a profile headed {header:?}"));
            }
        }
        crate::evidence::bucketize_off_runtime(body).await
    }

    /// The buckets of `/debug/pprof/goroutineleak` (the goroutines the runtime proved leaked),
    /// when the target serves it.
    async fn runtime_leaked(&mut self, target: &TargetConfig) -> Option<Vec<Bucket>> {
        if self.leak_profile.get(&target.name) == Some(&false) {
            return None;
        }
        match self
            .fetch(target, LEAK_PROFILE_PATH, Some(LEAK_PROFILE_HEADER))
            .await
        {
            Ok(buckets) => {
                self.leak_profile.insert(target.name.clone(), true);
                Some(buckets)
            }
            Err(_) => {
                // Not served (a Go without the experiment answers 404): don't ask again.
                self.leak_profile.insert(target.name.clone(), false);
                None
            }
        }
    }
}

/// The first reference dump of a target waits this long after its first sample (or restart).
const REFERENCE_SETTLE_MS: i64 = 120_000;

/// What the ingest loop remembers per target to drive the dump task.
#[derive(Debug, Default)]
pub(crate) struct DumpState {
    /// The first sample: the first reference waits for the target to settle.
    first_ms: Option<i64>,
    last_goroutines: Option<u64>,
    /// When a dump was last asked for (classification) and a reference last taken.
    last_classify_ms: Option<i64>,
    last_reference_ms: Option<i64>,
}

impl DumpState {
    /// The dump to ask for after this sample, if any.
    pub(crate) fn next(
        &mut self,
        engine: &leakhound_core::rules::RuleEngine,
        sample: &Sample,
    ) -> Option<DumpRequest> {
        let target = sample.target.clone();
        let now = sample.ts_ms;
        let goroutines = sample.metrics.goroutines;
        let first = *self.first_ms.get_or_insert(now);
        let restarted = crate::dumps::restarted(self.last_goroutines, goroutines);
        if goroutines.is_some() {
            self.last_goroutines = goroutines;
        }
        if restarted {
            self.last_reference_ms = None;
            self.first_ms = Some(now);
            return Some(DumpRequest::Restarted { target });
        }
        if !sample.up {
            return None;
        }
        if engine.capture_wanted(&target, now).is_some() {
            // The verdict comes back asynchronously: don't ask twice for the same one.
            if self.last_classify_ms.is_some_and(|t| now - t < 15_000) {
                return None;
            }
            self.last_classify_ms = Some(now);
            return Some(DumpRequest::Classify {
                target,
                at_ms: now,
                growth_since: engine.growth_since(&sample.target),
            });
        }
        // A reference from a process still warming up (or an agent that just started on a
        // changing service) would make everything look grown: the first one waits two minutes.
        let due = now - first >= REFERENCE_SETTLE_MS
            && self
                .last_reference_ms
                .is_none_or(|t| now - t >= crate::dumps::REFERENCE_EVERY_MS);
        if due && engine.growth_since(&target).is_none() {
            self.last_reference_ms = Some(now);
            return Some(DumpRequest::Reference { target, at_ms: now });
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A target answering every GET with `body` (200, text/plain).
    fn serve_everywhere(body: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
        format!("http://{addr}")
    }

    fn task_for(url: &str) -> (Task, TargetConfig) {
        let config = Config::parse(
            &format!("[[targets]]\nname = \"svc\"\nurl = \"{url}/api/monitor/health\"\n"),
            &|_| None,
        )
        .unwrap();
        let target = config.targets[0].clone();
        let (vtx, _vrx) = mpsc::channel(1);
        let task = Task {
            fleet: Fleet::new(config.targets.clone()),
            config: Arc::new(config),
            histories: HashMap::new(),
            leak_profile: HashMap::new(),
            verdicts: vtx,
        };
        (task, target)
    }

    const STACK: &str = "1 @ 0x1 0x2\n#\t0x1\truntime.gopark+0x1\t/go/src/runtime/proc.go:363\n#\t0x2\tapp.wait+0x1\t/app/x.go:10\n\n";

    /// Issue 13: a target whose catch-all handler answers a goroutine profile at
    /// `/debug/pprof/goroutineleak` must not have its goroutines taken as proved leaked.
    #[tokio::test]
    async fn only_a_goroutineleak_profile_counts_as_the_runtimes_proof() {
        let fake: &'static str =
            Box::leak(format!("goroutine profile: total 1\n{STACK}").into_boxed_str());
        let (mut task, target) = task_for(&serve_everywhere(fake));
        assert!(task.runtime_leaked(&target).await.is_none());
        assert_eq!(
            task.leak_profile.get("svc"),
            Some(&false),
            "not asked again"
        );

        let real: &'static str =
            Box::leak(format!("goroutineleak profile: total 1\n{STACK}").into_boxed_str());
        let (mut task, target) = task_for(&serve_everywhere(real));
        let buckets = task.runtime_leaked(&target).await.unwrap();
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 1);
    }
}
