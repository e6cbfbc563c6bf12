//! Issue 13 item 7: the server's own limits, over real sockets on 127.0.0.1. A crowd of idle
//! connections beyond the cap is closed oldest-first and `/metrics` still answers; a silent
//! connection is closed after the header-read timeout. Waits are bounded polls.

use leakhound_core::config::Config;
use leakhound_web::{spawn, AppState, ServeLimits};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn state() -> AppState {
    let config = Config::parse(
        "[[targets]]\nname = \"one-api\"\nurl = \"http://127.0.0.1:3000\"\n",
        &|_| None,
    )
    .unwrap();
    crate::support::no_database(&config, Vec::new())
}

/// Poll `f` until it is true; panic with `what` after `limit`.
async fn poll(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + limit;
    while !f() {
        assert!(
            tokio::time::Instant::now() < end,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn closed(s: &TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match s.try_read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .expect("an answer (bounded wait)")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn idle_connections_beyond_the_cap_do_not_lock_out_metrics() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let limits = ServeLimits {
        max_connections: 4,
        reserve: 1,
        header_read_timeout: Duration::from_secs(300),
    };
    let server = spawn(listener, state(), limits).unwrap();
    let addr = server.local_addr();
    let mut idle = Vec::new();
    for _ in 0..12 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // The oldest idle ones are closed to make room: at most the cap stay open.
    poll(
        Duration::from_secs(30),
        "the oldest idle connections to be closed",
        || idle.iter().filter(|s| closed(s)).count() >= 12 - 4,
    )
    .await;
    assert!(!closed(&idle[11]), "the newest connection is kept");
    for path in ["/metrics", "/api/monitor/health"] {
        let answer = get(addr, path).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_read_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let limits = ServeLimits {
        header_read_timeout: Duration::from_millis(200),
        ..ServeLimits::default()
    };
    let server = spawn(listener, state(), limits).unwrap();
    let addr = server.local_addr();
    // Silent from the start, and half a request head (a slow-loris client).
    let silent = TcpStream::connect(addr).await.unwrap();
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial
        .write_all(b"GET /metrics HTTP/1.1\r\nHost")
        .await
        .unwrap();
    poll(
        Duration::from_secs(30),
        "the silent connections to be closed",
        || closed(&silent) && closed(&partial),
    )
    .await;
    // A kept-alive connection is closed the same way once it idles.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /api/monitor/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), kept.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    poll(
        Duration::from_secs(30),
        "the idle keep-alive connection to be closed",
        || closed(&kept),
    )
    .await;
    server.stop().await;
}
