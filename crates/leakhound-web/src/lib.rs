//! leakhound's HTTP side, served by `leakhound run`:
//!
//! | route | what |
//! |---|---|
//! | `GET /metrics` | Prometheus/OpenMetrics text: `leakhound_goroutines`, `leakhound_memory_bytes{kind}`, `leakhound_up`, `leakhound_level`, `leakhound_scrape_duration_seconds`, `leakhound_alert_firing`, the agent's own `process_*` (and, with `[web] guide_metrics`, the guide's `oneapi_goroutines` / `oneapi_memory_mb`) |
//! | `GET /api/monitor/health?target=NAME` | the guide's health JSON for a target's latest sample; without `target`, for the agent itself |
//! | `GET /api/targets` | every target with its latest state |
//! | `GET /api/targets/{name}/samples?since=&until=&step=` | stored samples of one target, downsampled on request |
//! | `GET /api/alerts` | alerts firing now and the recent alert history |
//!
//! Requests pass the `[web]` allowlist (403) and token (401) checks first. [`export`] makes the
//! Prometheus rules and the Grafana dashboard `leakhound export` writes.
//!
//! ```
//! # async fn demo() {
//! use leakhound_core::config::Config;
//! use leakhound_web::{app, AppState};
//!
//! let config = Config::default();
//! let state = AppState::new(&config, leakhound_agent::agent::Latest::default());
//! let router = app(state); // an axum Router: serve it, or call it with tower's `oneshot`
//! # let _ = router;
//! # }
//! ```

mod api;
mod auth;
mod error;
pub mod export;
mod metrics;
mod server;

pub use error::{AppError, WebError};
pub use server::{start, Server};

use axum::Router;
use leakhound_agent::agent::Latest;
use leakhound_core::config::{Config, Levels, WebConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// Every route [`app`] serves; the README documents each (a test keeps them in sync).
pub const ROUTES: [&str; 5] = [
    "/metrics",
    "/api/monitor/health",
    "/api/targets",
    "/api/targets/{name}/samples",
    "/api/alerts",
];

/// What the handlers read: the agent's latest samples, the config, and the database path.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    latest: Latest,
    targets: Vec<String>,
    levels: Levels,
    web: WebConfig,
    database: Option<PathBuf>,
    started_ms: i64,
}

impl AppState {
    /// State for the agent run from `config`, sharing its `latest` map.
    pub fn new(config: &Config, latest: Latest) -> AppState {
        AppState(Arc::new(Inner {
            latest,
            targets: config.targets.iter().map(|t| t.name.clone()).collect(),
            levels: config.levels.clone(),
            web: config.web.clone(),
            database: Some(config.agent.database.clone()),
            started_ms: leakhound_agent::agent::now_ms(),
        }))
    }

    /// The same, without a database: history and alert routes answer 503 (for tests and views
    /// that have only live samples).
    pub fn without_database(config: &Config, latest: Latest) -> AppState {
        let mut state = AppState::new(config, latest);
        if let Some(inner) = Arc::get_mut(&mut state.0) {
            inner.database = None;
        }
        state
    }

    fn latest(&self, target: &str) -> Option<leakhound_core::Sample> {
        self.0
            .latest
            .lock()
            .ok()
            .and_then(|map| map.get(target).cloned())
    }

    fn all_latest(&self) -> Vec<leakhound_core::Sample> {
        self.0
            .latest
            .lock()
            .map(|map| map.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Configured targets first, in config order, then any other target with a sample.
    fn target_names(&self) -> Vec<String> {
        let mut names = self.0.targets.clone();
        let mut others: Vec<String> = self
            .all_latest()
            .into_iter()
            .map(|s| s.target)
            .filter(|t| !names.contains(t))
            .collect();
        others.sort();
        names.extend(others);
        names
    }
}

/// The whole HTTP API as one router: every route behind the allowlist and token checks.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(metrics::router())
        .merge(api::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .with_state(state)
}
