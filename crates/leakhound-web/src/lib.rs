//! leakhound's HTTP side, served by `leakhound run`:
//!
//! | route | what |
//! |---|---|
//! | `GET /metrics` | Prometheus/OpenMetrics text: `leakhound_goroutines`, `leakhound_memory_bytes{kind}`, `leakhound_up`, `leakhound_level`, `leakhound_scrape_duration_seconds`, `leakhound_alert_firing`, the agent's own `process_*` (and, with `[web] guide_metrics`, the guide's `oneapi_goroutines` / `oneapi_memory_mb`) |
//! | `GET /api/monitor/health?target=NAME` | the guide's health JSON for a target's latest sample; without `target`, for the agent itself |
//! | `GET /api/targets` | every target with its latest state |
//! | `GET /api/targets/{name}/samples?since=&until=&step=` | stored samples of one target, downsampled on request |
//! | `GET /api/alerts` | alerts firing now and the recent alert history |
//! | `GET /api/events` | the live feed (Server-Sent Events): a snapshot, then every sample and alert change |
//! | `GET /api/targets/{name}/dumps[/{id}]`, `…/dumps/diff?from=&to=` | goroutine dumps (evidence bundles): list, buckets and suspects, diff |
//! | `POST /-/reload` | re-read the config file (as `SIGHUP`); needs the `[web] token` |
//! | `GET /`, `/targets/{name}`, `/assets/…` | the dashboard (HTML, JS, CSS built into the binary) |
//!
//! `docs/api.md` is the full reference (a test keeps it in sync with [`ROUTES`]); the JSON
//! shapes are in [`wire`], shared with the clients (`leakhound watch --agent`).
//! Every route reads the agent's read model ([`AgentView`]): the latest samples and the alerts
//! firing come from memory, history from the agent's read pool over its store.
//! Requests pass the `[web]` allowlist (403) and token (401) checks first; the dashboard's pages
//! and assets hold no data and pass the allowlist only.
//!
//! ```
//! # async fn demo() {
//! use leakhound_agent::view::AgentView;
//! use leakhound_core::config::Config;
//! use leakhound_web::{app, AppState};
//!
//! let config = Config::default();
//! // A running agent hands out its view (`AgentHandle::view`); this one has no database.
//! let state = AppState::new(&config, AgentView::new(&config, None, Vec::new()));
//! let router = app(state); // an axum Router: serve it, or call it with tower's `oneshot`
//! # let _ = router;
//! # }
//! ```

mod api;
mod auth;
mod dashboard;
mod dumps;
mod error;
mod metrics;
mod reload;
mod server;
pub mod sse;
pub mod wire;

pub use error::{AppError, WebError};
pub use reload::ReloadHook;
pub use server::{bind, spawn, Bound, ServeLimits, Server};

use axum::Router;
use leakhound_agent::view::AgentView;
use leakhound_core::config::{Config, Levels, WebConfig};
use std::sync::Arc;
use tokio::sync::{watch, Semaphore};

/// Every route [`app`] serves; `docs/api.md` documents each (a test keeps them in sync).
pub const ROUTES: [&str; 13] = [
    "/metrics",
    "/api/monitor/health",
    "/api/targets",
    "/api/targets/{name}/samples",
    "/api/alerts",
    "/api/events",
    "/api/targets/{name}/dumps",
    "/api/targets/{name}/dumps/{id}",
    "/api/targets/{name}/dumps/diff",
    "/-/reload",
    "/",
    "/targets/{name}",
    "/assets/{*file}",
];

/// What the handlers read: the agent's view, and the config.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    // The config inside holds the token: show none of it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

struct Inner {
    agent: AgentView,
    levels: Levels,
    web: WebConfig,
    /// `true` ends every open live stream (the server is stopping).
    stop: watch::Sender<bool>,
    sse_slots: Arc<Semaphore>,
    /// Slots for the heavy routes (history, ranges, dumps): at most [`HEAVY_SLOTS`] at once.
    heavy: Arc<Semaphore>,
    /// Goroutine dumps already grouped by stack, by bundle id (bounded).
    dump_cache: dumps::Cache,
    /// What `POST /-/reload` calls (`None`: this agent cannot reload).
    reload: Option<ReloadHook>,
}

/// Heavy requests (`/api/targets?history=`, `…/samples`, `…/dumps/{id}`, `…/dumps/diff`)
/// served at once; more wait up to [`HEAVY_WAIT`], then answer 503 with `Retry-After`. Each
/// holds a blocking thread and a core: on a small host four leave the agent room to probe.
pub const HEAVY_SLOTS: usize = 4;

/// How long a heavy request waits for a slot before it answers 503.
pub const HEAVY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl AppState {
    /// State for the agent run from `config`, reading its `view`.
    pub fn new(config: &Config, agent: AgentView) -> AppState {
        AppState(Arc::new(Inner {
            agent,
            levels: config.levels.clone(),
            web: config.web.clone(),
            stop: watch::Sender::new(false),
            sse_slots: Arc::new(Semaphore::new(sse::MAX_CLIENTS)),
            heavy: Arc::new(Semaphore::new(HEAVY_SLOTS)),
            dump_cache: dumps::Cache::default(),
            reload: None,
        }))
    }

    /// State whose `POST /-/reload` calls `hook`.
    pub fn with_reload(config: &Config, agent: AgentView, hook: Option<ReloadHook>) -> AppState {
        let mut state = AppState::new(config, agent);
        if let Some(inner) = Arc::get_mut(&mut state.0) {
            inner.reload = hook;
        }
        state
    }

    /// End every open `/api/events` stream (the server is stopping; new ones end at once).
    pub fn stop_streams(&self) {
        self.0.stop.send_replace(true);
    }

    /// A slot for a heavy request (held until the returned permit is dropped), or 503.
    async fn heavy_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        match tokio::time::timeout(HEAVY_WAIT, self.0.heavy.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AppError::Busy(format!(
                "{HEAVY_SLOTS} heavy requests (history, sample ranges, dumps) are running on this agent already; retry in a few seconds"
            ))),
        }
    }

    fn latest(&self, target: &str) -> Option<leakhound_core::Sample> {
        self.0.agent.latest(target)
    }

    fn all_latest(&self) -> Vec<leakhound_core::Sample> {
        self.0.agent.all_latest()
    }

    /// Watched targets first, in their order, then any other target with a sample.
    fn target_names(&self) -> Vec<String> {
        let mut names = self.0.agent.targets();
        let known: std::collections::HashSet<&String> = names.iter().collect();
        let mut others: Vec<String> = self
            .all_latest()
            .into_iter()
            .map(|s| s.target)
            .filter(|t| !known.contains(t))
            .collect();
        others.sort();
        names.extend(others);
        names
    }
}

/// The whole HTTP API as one router: every data route behind the allowlist and token checks,
/// the dashboard's pages and assets (no data in them) behind the allowlist only.
pub fn app(state: AppState) -> Router {
    let data = Router::new()
        .merge(metrics::router())
        .merge(api::router())
        .merge(sse::router())
        .merge(dumps::router())
        .merge(reload::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ));
    let pages = dashboard::router().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::allowlist,
    ));
    data.merge(pages).with_state(state)
}
