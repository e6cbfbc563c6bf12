//! Remediation: evidence capture and the `[[actions]]` that may restart a service — the
//! guide's L3 auto-restart (GUIDE §9), done so that it never destroys the evidence and cannot
//! restart-loop.
//!
//! The agent's ingest loop hands every sample, with the alert transitions it caused, to one
//! remediation task through a bounded channel ([`spawn`]); when the channel is full the
//! observation is dropped with a warning, so a slow dump or command never stalls probing.
//! The task
//! 1. captures an evidence bundle when an alert starts firing (rate-limited per target), and
//!    sends a follow-up message naming the bundle and its top suspects (the alert itself went
//!    out before the capture finished);
//! 2. runs each action's policy ([`leakhound_core::remediation`]: `for`, cooldown, storm
//!    guard, kill switch, recovery watch) and, when it says run: captures a fresh bundle first
//!    — **no bundle, no run** (unless `require_evidence = false`, and then the failed capture
//!    is recorded) — then runs the action (or, in a dry run, only records what it would run);
//! 3. records every run in the store (`action_runs`) and notifies: action ran, recovered /
//!    did not recover, action failed, and "needs a human" once when the storm guard trips.
//!
//! The task and what it decides per sample are in `task`, running an action, the recovery watch
//! and the messages they send in `run`. One module per kind of action:
//! [`command`] (argv, never a shell), [`container`] (Docker Engine API), [`signal`] (a local
//! PID), [`http`].

pub mod command;
pub mod container;
pub mod http;
mod run;
pub mod signal;
mod task;

pub use task::spawn;

use leakhound_core::config::{ActionConfig, ActionKind, Config, TargetConfig};
use leakhound_core::rules::Transition;
use leakhound_core::time::duration_ms;
use leakhound_core::Sample;
use std::time::Instant;

/// What one run of an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    pub ok: bool,
    /// The program's exit status (command), the HTTP status (http).
    pub exit_code: Option<i32>,
    /// The end of its output.
    pub output_tail: String,
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl RunResult {
    pub(crate) fn failed(error: String, started: Instant) -> RunResult {
        RunResult {
            ok: false,
            exit_code: None,
            output_tail: String::new(),
            error: Some(error),
            duration_ms: duration_ms(started.elapsed()),
        }
    }
}

/// Run an action once, now (no policy, no evidence: the caller does those).
pub async fn execute(action: &ActionConfig, target: &TargetConfig) -> RunResult {
    match &action.kind {
        ActionKind::Command { argv, env, cwd } => {
            command::run(argv, env, cwd.as_deref(), action.timeout).await
        }
        ActionKind::Container {
            container,
            docker_host,
        } => container::run(container, docker_host.as_deref(), action.timeout).await,
        ActionKind::Signal {
            signal,
            pid,
            pid_file,
        } => {
            let (signal, pid, pid_file, fallback) = (
                signal.clone(),
                pid.clone(),
                pid_file.clone(),
                target.process.clone(),
            );
            let started = Instant::now();
            tokio::task::spawn_blocking(move || {
                signal::run(
                    &signal,
                    pid.as_ref(),
                    pid_file.as_deref(),
                    fallback.as_ref(),
                )
            })
            .await
            .unwrap_or_else(|e| RunResult::failed(format!("signal task failed: {e}"), started))
        }
        ActionKind::Http { url, method } => http::run(method, url, action.timeout).await,
    }
}

/// How a run ended (the `outcome` column).
pub mod outcome {
    /// Ran; the recovery watch is on.
    pub const RAN: &str = "ran";
    /// Ran and goroutines fell under the mark in time.
    pub const RECOVERED: &str = "recovered";
    /// Ran, but the service did not recover in time (escalated).
    pub const NOT_RECOVERED: &str = "not_recovered";
    /// The action failed (non-zero exit, timeout, error; escalated).
    pub const FAILED: &str = "failed";
    /// Dry run: recorded what would have run.
    pub const DRY_RUN: &str = "dry_run";
    /// Not run: no evidence could be saved and the action requires it (escalated).
    pub const NO_EVIDENCE: &str = "skipped_no_evidence";
    /// Not run: the storm guard tripped (escalated once).
    pub const NEEDS_HUMAN: &str = "needs_human";
}

/// One sample and the alert transitions it caused, from the ingest loop.
#[derive(Debug, Clone)]
pub struct Observation {
    pub sample: Sample,
    pub transitions: Vec<Transition>,
}

/// Capacity of the channel from the ingest loop.
pub const CHANNEL_CAPACITY: usize = 1024;

/// Whether remediation has anything to do for this config (evidence on alerts or actions).
pub fn wanted(config: &Config) -> bool {
    !config.actions.actions.is_empty() || config.actions.evidence.on_alerts
}
