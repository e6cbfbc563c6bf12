//! Serving [`crate::app`] next to the agent: loopback by default, a token (or an explicit
//! `--insecure-public`) for anything else, and a stop that waits for requests in flight.
//!
//! Clients are untrusted too ([`ServeLimits`]): a request head must arrive within
//! `header_read_timeout` (hyper starts that clock whenever a connection waits for a request,
//! so it is also the keep-alive idle timeout), and at most `max_connections` are kept: a new
//! connection beyond that closes the oldest one with no request in flight, so a crowd of idle
//! or slow-talking sockets cannot lock `/metrics` and `/api/monitor/health` out. Only when every
//! connection is busy are `reserve` more admitted, then new ones are closed at once.

use crate::{app, AppState, WebError};
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use leakhound_agent::view::AgentView;
use leakhound_core::config::Config;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

/// What the server grants one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Connections kept open at once (see the module docs for what happens beyond).
    pub max_connections: usize,
    /// Extra connections admitted while all `max_connections` have a request in flight.
    pub reserve: usize,
    /// Time for a request head to arrive, counted from when the connection starts waiting for
    /// it (so also how long an idle keep-alive connection is kept).
    pub header_read_timeout: Duration,
}

impl Default for ServeLimits {
    /// 256 connections (+16): a quarter of the usual 1024 open-files limit, leaving the rest
    /// to the targets' probes, the database and the notifiers; 10 s for a request head.
    fn default() -> Self {
        ServeLimits {
            max_connections: 256,
            reserve: 16,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

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

/// The `[web]` address, bound and checked, before there is an agent to serve: a mistake here
/// stops `leakhound run` before it probes anything.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
}

/// Check `[web]` and bind its address. `Ok(None)` when `[web] enabled = false`, or when the
/// default address is busy (a warning: the agent runs on without it). A non-loopback address
/// without a token is refused unless `insecure_public`.
pub async fn bind(config: &Config, insecure_public: bool) -> Result<Option<Bound>, WebError> {
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
    Ok(Some(Bound { listener, addr }))
}

impl Bound {
    /// The address bound (the port chosen, for `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve the agent's `view` with `config`'s `[web]` settings until [`Server::stop`];
    /// `POST /-/reload` calls `reload` (`None`: the agent cannot reload).
    pub fn serve(
        self,
        config: &Config,
        view: AgentView,
        reload: Option<crate::ReloadHook>,
    ) -> Result<Server, WebError> {
        let state = AppState::with_reload(config, view, reload);
        let server = spawn(self.listener, state, ServeLimits::default())?;
        tracing::info!(
            "HTTP API on http://{}: dashboard at /, /metrics, /api/monitor/health, /api/targets{}",
            self.addr,
            if config.web.token.is_some() {
                " (token required)"
            } else {
                ""
            }
        );
        Ok(server)
    }
}

/// Serve `state`'s [`app`] on `listener` with `limits` until [`Server::stop`].
pub fn spawn(
    listener: TcpListener,
    state: AppState,
    limits: ServeLimits,
) -> Result<Server, WebError> {
    let addr = listener.local_addr().map_err(|e| WebError::Bind {
        addr: "(listener)".into(),
        detail: e.to_string(),
    })?;
    let router = app(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router, limits, stopped));
    Ok(Server {
        addr,
        stop,
        task,
        state,
    })
}

/// One open connection, as the accept loop sees it.
#[derive(Default)]
struct Slot {
    /// Requests in flight (counted until the response body is sent).
    busy: AtomicUsize,
    /// Asked to close already.
    closing: AtomicBool,
    close: Notify,
}

type Slots = Arc<Mutex<BTreeMap<u64, Arc<Slot>>>>;

/// How long a connection asked to close (with no request in flight) may take to finish.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    mut stopped: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let slots: Slots = Arc::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut next_id: u64 = 0;
    let mut refused_logged = false;
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stopped => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning; the cap below keeps
                    // this rare.
                    tracing::debug!("HTTP API: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if !admit(&slots, &limits) {
            if !refused_logged {
                tracing::warn!(
                    "HTTP API: {} connections are busy; closing new ones until one is done",
                    limits.max_connections + limits.reserve
                );
                refused_logged = true;
            }
            drop(stream);
            continue;
        }
        refused_logged = false;
        next_id += 1;
        let slot = Arc::new(Slot::default());
        if let Ok(mut map) = slots.lock() {
            map.insert(next_id, slot.clone());
        }
        tasks.spawn(connection(
            stream,
            peer,
            router.clone(),
            http.clone(),
            slot,
            stop_rx.clone(),
            (slots.clone(), next_id),
        ));
    }
    // Stopping: idle connections close now, requests in flight finish (Server::stop bounds it).
    stop_tx.send_replace(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Whether one more connection may open: under the cap; or at it, after asking the oldest
/// connection with no request in flight to close; or, with every one busy, within the reserve.
fn admit(slots: &Slots, limits: &ServeLimits) -> bool {
    let Ok(map) = slots.lock() else {
        return true;
    };
    let open = map
        .values()
        .filter(|s| !s.closing.load(Ordering::Relaxed))
        .count();
    if open < limits.max_connections {
        return true;
    }
    let idle = map
        .values()
        .find(|s| s.busy.load(Ordering::Relaxed) == 0 && !s.closing.load(Ordering::Relaxed));
    match idle {
        Some(slot) => {
            slot.closing.store(true, Ordering::Relaxed);
            slot.close.notify_one();
            true
        }
        None => map.len() < limits.max_connections + limits.reserve,
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    http: hyper::server::conn::http1::Builder,
    slot: Arc<Slot>,
    mut stop: watch::Receiver<bool>,
    (slots, id): (Slots, u64),
) {
    let counted = slot.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let router = router.clone();
        let busy = Busy::new(counted.clone());
        async move {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let response = match router.oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(response.map(|body| Counted { body, _busy: busy }))
        }
    });
    let conn = http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut asked = false;
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("HTTP API: connection from {peer}: {e}");
                }
                break;
            }
            _ = slot.close.notified(), if !asked => {
                asked = true;
                conn.as_mut().graceful_shutdown();
                if slot.busy.load(Ordering::Relaxed) == 0 {
                    deadline = Some(tokio::time::Instant::now() + CLOSE_GRACE);
                }
            }
            _ = stop.wait_for(|s| *s), if !asked => {
                asked = true;
                conn.as_mut().graceful_shutdown();
                if slot.busy.load(Ordering::Relaxed) == 0 {
                    deadline = Some(tokio::time::Instant::now() + CLOSE_GRACE);
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() => break,
        }
    }
    if let Ok(mut map) = slots.lock() {
        map.remove(&id);
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A request in flight on a connection, until its response body is dropped.
struct Busy(Arc<Slot>);

impl Busy {
    fn new(slot: Arc<Slot>) -> Busy {
        slot.busy.fetch_add(1, Ordering::Relaxed);
        Busy(slot)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its connection counted busy while it is sent (a live stream
/// is never taken for an idle connection).
struct Counted {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
