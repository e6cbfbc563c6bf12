//! Serving [`crate::app`] next to the agent: loopback by default, a token (or an explicit
//! `--insecure-public`) for anything else, and a stop that waits for requests in flight.

use crate::{app, AppState, WebError};
use leakhound_agent::agent::Latest;
use leakhound_core::config::Config;
use leakhound_core::Sample;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

/// A running HTTP server; [`Server::stop`] ends it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    state: AppState,
}

impl Server {
    /// The address it listens on (the real port when `[web] listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let requests in flight finish (at most 5 s), and return.
    pub async fn stop(self) {
        // Live streams never end on their own; end them so the graceful stop does not wait.
        self.state.stop_streams();
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("the HTTP API stopped with an error: {e}"),
            Ok(Err(e)) => tracing::warn!("the HTTP API task failed: {e}"),
            Err(_) => {
                tracing::warn!("the HTTP API did not stop within 5s; closing its connections");
                task.abort();
            }
        }
    }
}

/// Start the `[web]` server of `config`, serving `latest`. `Ok(None)` when `[web] enabled =
/// false`, or when the default address is busy (a warning: the agent runs on without it).
/// A non-loopback address without a token is refused unless `insecure_public`.
pub async fn start(
    config: &Config,
    insecure_public: bool,
    latest: Latest,
) -> Result<Option<Server>, WebError> {
    start_live(config, insecure_public, latest, None).await
}

/// [`start`], with the agent's sample broadcast feeding `/api/events` (the dashboard's live
/// updates).
pub async fn start_live(
    config: &Config,
    insecure_public: bool,
    latest: Latest,
    live: Option<broadcast::Sender<Sample>>,
) -> Result<Option<Server>, WebError> {
    let web = &config.web;
    if !web.enabled {
        return Ok(None);
    }
    if web.is_public() && web.token.is_none() {
        if !insecure_public {
            return Err(WebError::PublicWithoutToken {
                addr: web.listen.to_string(),
            });
        }
        tracing::warn!(
            listen = %web.listen,
            "--insecure-public: the HTTP API is open to anyone who can reach {} without a token; set [web] token",
            web.listen
        );
    }
    let listener = match tokio::net::TcpListener::bind(web.listen).await {
        Ok(l) => l,
        Err(e) if !web.listen_set => {
            tracing::warn!(
                "the HTTP API is off: cannot listen on {} ({e}); set [web] listen to a free address",
                web.listen
            );
            return Ok(None);
        }
        Err(e) => {
            return Err(WebError::Bind {
                addr: web.listen.to_string(),
                detail: e.to_string(),
            })
        }
    };
    let addr = listener.local_addr().map_err(|e| WebError::Bind {
        addr: web.listen.to_string(),
        detail: e.to_string(),
    })?;
    let mut state = AppState::new(config, latest);
    if let Some(live) = live {
        state = state.with_live(live);
    }
    let router = app(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .await
    });
    tracing::info!(
        "HTTP API on http://{addr}: dashboard at /, /metrics, /api/monitor/health, /api/targets{}",
        if web.token.is_some() {
            " (token required)"
        } else {
            ""
        }
    );
    Ok(Some(Server {
        addr,
        stop,
        task,
        state,
    }))
}
