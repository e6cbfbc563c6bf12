//! A **simulated** Go service for `leakhound demo` and for tests that must run with nothing but
//! Rust installed. It is not Go: it serves over real HTTP the same endpoints a Go service with
//! healthmon, expvar, net/http/pprof and client_golang serves, with made-up numbers that follow
//! a script (a steady base with load wobble, plus a leak that grows at a set rate).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;

/// What the simulated service does.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Goroutines of the healthy service.
    pub base_goroutines: u64,
    /// Goroutines leaked per second (0 for a healthy service).
    pub leak_per_second: f64,
    /// The upstream channel the leak happens on (shown as the pprof label `channel`).
    pub leak_channel: String,
    /// Add a ±5 % load wobble to the base (off: the count is exactly the base plus the leak).
    pub wobble: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            base_goroutines: 800,
            leak_per_second: 0.0,
            leak_channel: "openai".into(),
            wobble: true,
        }
    }
}

#[derive(Debug)]
struct SimState {
    config: SimConfig,
    started: Instant,
    /// Goroutines leaked before the last rate change.
    leaked_before: f64,
    rate_since: Instant,
}

impl SimState {
    fn leaked(&self) -> u64 {
        (self.leaked_before + self.rate_since.elapsed().as_secs_f64() * self.config.leak_per_second)
            as u64
    }

    /// The base with a deterministic ±5 % load wobble.
    fn steady(&self) -> u64 {
        if !self.config.wobble {
            return self.config.base_goroutines;
        }
        let t = self.started.elapsed().as_secs_f64();
        let wobble = (t / 2.0).sin() * 0.05 * self.config.base_goroutines as f64;
        (self.config.base_goroutines as f64 + wobble).max(1.0) as u64
    }
}

/// A running simulator; stops when dropped.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<Mutex<SimState>>,
    _stop: oneshot::Sender<()>,
}

impl Simulator {
    /// Serve on 127.0.0.1 at a free port.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let now = Instant::now();
        let state = Arc::new(Mutex::new(SimState {
            config,
            started: now,
            leaked_before: 0.0,
            rate_since: now,
        }));
        let app = Router::new()
            .route("/api/monitor/health", get(health))
            .route("/debug/vars", get(expvar))
            .route("/metrics", get(metrics))
            .route("/debug/pprof/goroutine", get(pprof_goroutine))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("simulator stopped: {e}");
            }
        });
        Ok(Simulator {
            addr,
            state,
            _stop: stop,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Change the leak rate from now on (already leaked goroutines stay).
    pub fn set_leak_per_second(&self, rate: f64) {
        if let Ok(mut s) = self.state.lock() {
            s.leaked_before = s.leaked() as f64;
            s.rate_since = Instant::now();
            s.config.leak_per_second = rate;
        }
    }

    /// The goroutine count the simulator reports right now.
    pub fn goroutines(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.steady() + s.leaked())
    }
}

struct Snapshot {
    steady: u64,
    leaked: u64,
    channel: String,
}

impl Snapshot {
    fn of(state: &Arc<Mutex<SimState>>) -> Snapshot {
        match state.lock() {
            Ok(s) => Snapshot {
                steady: s.steady(),
                leaked: s.leaked(),
                channel: s.config.leak_channel.clone(),
            },
            Err(_) => Snapshot {
                steady: 1,
                leaked: 0,
                channel: String::new(),
            },
        }
    }
    fn goroutines(&self) -> u64 {
        self.steady + self.leaked
    }
    /// A leaked goroutine holds ~8 KB (stack + buffers); the service ~40 MB.
    fn alloc(&self) -> u64 {
        (40 << 20) + self.goroutines() * 8192
    }
    fn sys(&self) -> u64 {
        self.alloc() * 2 + (16 << 20)
    }
}

async fn health(State(state): State<Arc<Mutex<SimState>>>) -> impl IntoResponse {
    let s = Snapshot::of(&state);
    let mb = |b: u64| b >> 20;
    axum::Json(serde_json::json!({
        "status": "ok",
        "goroutines": s.goroutines(),
        "memory": {
            "alloc_mb": mb(s.alloc()),
            "total_alloc_mb": mb(s.alloc() * 6),
            "sys_mb": mb(s.sys()),
            "num_gc": 40 + s.goroutines() / 100,
        }
    }))
}

async fn expvar(State(state): State<Arc<Mutex<SimState>>>) -> impl IntoResponse {
    let s = Snapshot::of(&state);
    axum::Json(serde_json::json!({
        "cmdline": ["simulated-go-service"],
        "goroutines": s.goroutines(),
        "memstats": {
            "Alloc": s.alloc(), "TotalAlloc": s.alloc() * 6, "Sys": s.sys(),
            "HeapAlloc": s.alloc(), "HeapInuse": s.alloc() + (1 << 20), "NumGC": 40 + s.goroutines() / 100,
        }
    }))
}

async fn metrics(State(state): State<Arc<Mutex<SimState>>>) -> impl IntoResponse {
    let s = Snapshot::of(&state);
    let body = format!(
        "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines {}\n\
         # HELP go_threads Number of OS threads created.\n# TYPE go_threads gauge\ngo_threads 12\n\
         # TYPE go_memstats_alloc_bytes gauge\ngo_memstats_alloc_bytes {}\n\
         # TYPE go_memstats_alloc_bytes_total counter\ngo_memstats_alloc_bytes_total {}\n\
         # TYPE go_memstats_sys_bytes gauge\ngo_memstats_sys_bytes {}\n\
         # TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes {}\n\
         # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}\n\
         # TYPE process_open_fds gauge\nprocess_open_fds 24\n",
        s.goroutines(),
        s.alloc(),
        s.alloc() * 6,
        s.sys(),
        s.alloc() + (1 << 20),
        s.sys() - (8 << 20),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// The aggregated text profile (debug=1) whatever `debug` asks for: two stacks, the service's
/// steady request handlers and the leaking upstream reader with its pprof labels.
async fn pprof_goroutine(State(state): State<Arc<Mutex<SimState>>>) -> impl IntoResponse {
    let s = Snapshot::of(&state);
    let mut body = format!(
        "goroutine profile: total {}\n\
         {} @ 0x43a1f6 0x44a8b2 0x6c2e1d 0x46e1a1\n\
         #\t0x6c2e1c\tnet/http.(*conn).serve+0x5bc\t/usr/lib/go-1.19/src/net/http/server.go:1991\n\n",
        s.goroutines(),
        s.steady,
    );
    if s.leaked > 0 {
        body.push_str(&format!(
            "{} @ 0x43a1f6 0x4067ac 0x6d3a52 0x6d3f11 0x46e1a1\n\
             # labels: {{\"channel\":\"{}\", \"site\":\"upstream\"}}\n\
             #\t0x6d3a51\tsimulated/relay.(*UpstreamClient).readResponse+0x91\t/src/relay/upstream.go:142\n\
             #\t0x6d3f10\tsimulated/relay.(*Relay).forward.func1+0x30\t/src/relay/relay.go:88\n\n",
            s.leaked, s.channel
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body)
}
