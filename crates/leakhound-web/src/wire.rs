//! The JSON shapes of the API, shared by the server (these modules' routes) and its clients
//! (`leakhound watch --agent`): one definition, so they cannot drift apart. `docs/api.md`
//! documents each.

use leakhound_core::rules::Transition;
use leakhound_core::Sample;
use leakhound_store::Bundle;
use serde::{Deserialize, Serialize};

/// One target in `/api/targets` (and in the live feed's `snapshot` and `target` events).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetView {
    pub name: String,
    /// `null` before the first probe.
    pub up: Option<bool>,
    pub ts_ms: Option<i64>,
    pub goroutines: Option<u64>,
    pub memory_bytes: Option<u64>,
    /// The guide's goroutine table: excellent, good, notice, warning, alert, danger.
    pub state: Option<String>,
    /// The alert level: none, warning, urgent, critical.
    pub level: Option<String>,
    pub latency_ms: Option<f64>,
    pub source: Option<String>,
    pub error: Option<String>,
    /// With `?history=30m`: `[ts_ms, goroutines]` pairs over that span (the peak of each
    /// slice; `null` goroutines where the target was down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<(i64, Option<u64>)>>,
}

/// `/api/targets/{name}/samples`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamplesView {
    pub target: String,
    pub since_ms: i64,
    pub until_ms: i64,
    pub step_ms: Option<i64>,
    pub samples: Vec<Sample>,
}

/// `/api/alerts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertsView {
    /// The latest transition of every alert that has not resolved.
    pub active: Vec<Transition>,
    /// The alert history, newest first.
    pub recent: Vec<Transition>,
}

/// `/api/targets/{name}/dumps`: the target's evidence bundles, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DumpList {
    pub target: String,
    pub dumps: Vec<DumpItem>,
}

/// A bundle as the API shows it (in `/dumps` and the live feed's `dump` event): its stored
/// fields, and each suspect in the one line that messages and logs print too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DumpItem {
    #[serde(flatten)]
    pub bundle: Bundle,
    pub suspect_lines: Vec<String>,
}

/// `/api/monitor/health`: the guide's health JSON, its keys in the guide's order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuideHealth {
    /// `ok`, or `down` (answered with 503).
    pub status: String,
    pub goroutines: Option<u64>,
    pub memory: GuideMemory,
    /// Only for the agent itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets_down: Option<usize>,
}

/// The `memory` object of [`GuideHealth`], in MB.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuideMemory {
    pub alloc_mb: Option<u64>,
    pub total_alloc_mb: Option<u64>,
    pub sys_mb: Option<u64>,
    pub num_gc: Option<u64>,
}
