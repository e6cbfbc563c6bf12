//! Shared helpers for tests against the real Go fixture (`tests/fixtures/leaky`).
//! `scripts/test` builds it and sets `LEAKHOUND_FIXTURE` to the binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test helpers; a panic is the failure report

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The built fixture binary. Panics with the fix when it is missing: a test that needs the
/// fixture never passes without it.
pub fn fixture_binary() -> String {
    match std::env::var("LEAKHOUND_FIXTURE") {
        Ok(path) if std::path::Path::new(&path).is_file() => path,
        _ => panic!(
            "LEAKHOUND_FIXTURE is not set to the built Go fixture; run scripts/test, or build it with \
             `cd tests/fixtures/leaky && go build -o /tmp/leaky .` and set LEAKHOUND_FIXTURE=/tmp/leaky"
        ),
    }
}

/// A running `leaky` process, killed on drop.
pub struct Fixture {
    child: Child,
    pub addr: String,
    client: reqwest::blocking::Client,
}

impl Fixture {
    pub fn start() -> Fixture {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Fixture {
        let mut child = Command::new(fixture_binary())
            .args(["-addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the fixture");
        let stdout = child.stdout.take().expect("fixture stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("fixture prints its address");
        let addr = line.trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "fixture said {addr:?}");
        Fixture {
            child,
            addr,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client"),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// POST a control endpoint (path with query) and return its JSON.
    pub fn control(&self, path_and_query: &str) -> serde_json::Value {
        let resp = self
            .client
            .post(format!("{}{path_and_query}", self.url()))
            .send()
            .expect("control request");
        assert!(
            resp.status().is_success(),
            "{path_and_query}: {}",
            resp.status()
        );
        resp.json().expect("control JSON")
    }

    pub fn get_json(&self, path: &str) -> serde_json::Value {
        self.client
            .get(format!("{}{path}", self.url()))
            .send()
            .expect("GET")
            .json()
            .expect("JSON")
    }

    pub fn leak(&self, site: &str, n: u64, label: &str) -> serde_json::Value {
        self.control(&format!("/control/leak?site={site}&n={n}&label={label}"))
    }

    /// The fixture's own goroutine count.
    pub fn goroutines(&self) -> u64 {
        self.get_json("/control/state")["goroutines"]
            .as_u64()
            .expect("goroutines in state")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn leakhound(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run leakhound")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Poll `f` every 50 ms until it returns `Some`, for at most `limit`.
pub fn poll<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
