//! A webhook receiver on loopback (axum on its own small runtime): `POST /hook` answers 200 and
//! records every request — headers and raw body — in arrival order. Stopped on drop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Hit {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }

    /// A header's value, `""` when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

pub struct Hook {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Hook {
    /// On a free loopback port.
    pub fn start() -> Hook {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// On `addr` (a port an agent already delivers to, e.g. after an outage).
    pub fn start_on(addr: SocketAddr) -> Hook {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the receiver");
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("the receiver's address");
        let store = hits.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let store = store.clone();
                    async move {
                        let headers = headers
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                            })
                            .collect();
                        store
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(Hit {
                                headers,
                                body: body.to_vec(),
                            });
                        "ok"
                    }
                },
            ),
        );
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hook {
            addr,
            hits,
            rt: Some(rt),
        }
    }

    /// `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The bodies so far that are JSON.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.hits()
            .iter()
            .filter_map(|h| serde_json::from_slice(&h.body).ok())
            .collect()
    }

    /// The `alert` objects of the messages whose `labels.event` is `event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.bodies()
            .iter()
            .filter(|b| b["alert"]["labels"]["event"] == event)
            .map(|b| b["alert"].clone())
            .collect()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}
