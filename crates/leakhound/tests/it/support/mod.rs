//! What the test modules share: the launchers of the peers they run — the Go fixture
//! (`tests/fixtures/leaky`; `scripts/test` builds it and sets `LEAKHOUND_FIXTURE`), the agent
//! (`leakhound run`), Prometheus, VictoriaMetrics, a webhook receiver, the fixture in a
//! container — each with a bounded wait until it is ready and killed on drop; running the CLI; bounded polling with
//! progress lines; a builder for stored samples; and who may run beside whom (`peers`).
#![allow(dead_code)] // each helper is used by some modules, not all

mod agent;
mod hook;
mod peers;
mod prometheus;
mod sample;
mod victoria;

pub use agent::{agent, Agent};
pub use hook::{Hit, Hook};
pub use peers::{alone, PeerSlot};
pub use prometheus::Prometheus;
pub use sample::sample;
pub use victoria::VictoriaMetrics;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as the agent stamps its samples.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as i64
}

/// The agent's database through the store's typed read API (WAL: safe while the agent writes);
/// `None` until the agent has created it.
pub fn read_store(db: &std::path::Path) -> Option<leakhound_store::Store> {
    leakhound_store::Store::open_read_only(db).ok()
}

/// Every stored sample of every target (oldest first per target); empty until the database exists.
pub fn all_samples(db: &std::path::Path) -> Vec<leakhound_core::Sample> {
    let Some(store) = read_store(db) else {
        return Vec::new();
    };
    let targets = store.targets().unwrap_or_default();
    targets
        .iter()
        .flat_map(|t| store.samples(t, i64::MIN, i64::MAX).unwrap_or_default())
        .collect()
}

/// Two readings of a live count (the fixture's goroutines move by a few between two reads).
pub fn near(a: u64, b: u64, slack: u64) -> bool {
    a.abs_diff(b) <= slack
}

/// A blocking HTTP client with a 10 s timeout.
pub fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

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
    _slot: PeerSlot,
}

impl Fixture {
    pub fn start() -> Fixture {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Fixture {
        Self::start_binary(&fixture_binary(), args)
    }

    /// Start another build of the fixture (e.g. `LEAKHOUND_FIXTURE_LEAKPROFILE`).
    pub fn start_binary(binary: &str, args: &[&str]) -> Fixture {
        let slot = PeerSlot::take();
        let mut child = Command::new(binary)
            .args(["-addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the fixture");
        // Its first stdout line is the address it listens on: waited for at most 30 s.
        let stdout = child.stdout.take().expect("fixture stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => panic!("reading the fixture's address: {e}"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the fixture ({binary}) printed no address within 30 s");
            }
        };
        let addr = line.trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "fixture said {addr:?}");
        Fixture {
            child,
            addr,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client"),
            _slot: slot,
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

// --- Docker (scripts/docker-peer starts a private dockerd and imports the fixture image) ------

/// `(LEAKHOUND_DOCKER_HOST, LEAKHOUND_FIXTURE_IMAGE)` when `scripts/docker-peer start` set them.
pub fn docker_env() -> Option<(String, String)> {
    let host = std::env::var("LEAKHOUND_DOCKER_HOST").ok()?;
    let image = std::env::var("LEAKHOUND_FIXTURE_IMAGE").ok()?;
    (!host.is_empty() && !image.is_empty()).then_some((host, image))
}

/// Like `docker_env`, but a test that needs the daemon fails with the fix when it is missing.
pub fn require_docker_env() -> (String, String) {
    docker_env().unwrap_or_else(|| {
        panic!(
            "LEAKHOUND_DOCKER_HOST / LEAKHOUND_FIXTURE_IMAGE are not set: run scripts/test, or \
             `eval \"$(scripts/docker-peer start /tmp/lh-docker)\"` first (and `scripts/docker-peer stop /tmp/lh-docker` after)"
        )
    })
}

/// Run the docker CLI against `host` (`unix:///…/docker.sock`).
pub fn docker_cli(host: &str, args: &[&str]) -> Output {
    Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .expect("run the docker CLI (apt-get install docker.io)")
}

/// A free 127.0.0.1 port (bound, then released; the kernel does not hand it out again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Go fixture running in a container (`--network=host`, listening on a free 127.0.0.1
/// port), removed (`docker rm -f`) on drop.
pub struct DockerContainer {
    pub host: String,
    pub name: String,
    pub id: String,
    pub addr: String,
    client: reqwest::blocking::Client,
    _slot: PeerSlot,
}

impl DockerContainer {
    /// `docker run -d --name lh-PREFIX-PID-N --network=host IMAGE -addr 127.0.0.1:PORT`, then
    /// wait (up to 30 s) until the fixture answers its health endpoint.
    pub fn run(host: &str, image: &str, prefix: &str) -> DockerContainer {
        Self::run_with(host, image, prefix, &[], &[])
    }

    /// `docker_args` go before the image (e.g. `--memory=256m`, `--restart=always`; `{port}`
    /// in them is the port the fixture listens on, e.g. `--label=leakhound.port={port}`),
    /// `fixture_args` after it (the fixture's own flags).
    pub fn run_with(
        host: &str,
        image: &str,
        prefix: &str,
        docker_args: &[&str],
        fixture_args: &[&str],
    ) -> DockerContainer {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let slot = PeerSlot::take();
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("lh-{prefix}-{}-{n}", std::process::id());
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let docker_args: Vec<String> = docker_args
            .iter()
            .map(|a| a.replace("{port}", &port.to_string()))
            .collect();
        let mut args = vec!["run", "-d", "--name", &name, "--network=host"];
        args.extend(docker_args.iter().map(String::as_str));
        args.extend_from_slice(&[image, "-addr", &addr]);
        args.extend_from_slice(fixture_args);
        let out = docker_cli(host, &args);
        assert!(out.status.success(), "docker run failed: {}", stderr(&out));
        let container = DockerContainer {
            host: host.to_string(),
            name,
            id: stdout(&out).trim().to_string(),
            addr,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            _slot: slot,
        };
        container.wait_ready();
        container
    }

    /// Wait (up to 30 s) until the fixture in the container answers its health endpoint.
    pub fn wait_ready(&self) {
        let url = format!("{}/api/monitor/health", self.url());
        poll(Duration::from_secs(30), "the containerised fixture", || {
            let ok = self
                .client
                .get(&url)
                .send()
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            ok.then_some(())
        });
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `docker -H HOST ARGS…`; panics with stderr when it fails.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = docker_cli(&self.host, args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}",
            stderr(&out)
        );
        stdout(&out)
    }

    /// `docker inspect -f FORMAT NAME`, trimmed.
    pub fn inspect(&self, format: &str) -> String {
        self.docker(&["inspect", "-f", format, &self.name])
            .trim()
            .to_string()
    }

    /// POST a fixture control endpoint (path with query) and return its JSON.
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
}

impl Drop for DockerContainer {
    fn drop(&mut self) {
        let _ = docker_cli(&self.host, &["rm", "-f", &self.name]);
    }
}

/// Poll `f` every 50 ms until it returns `Some`, for at most `limit`.
pub fn poll<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut ticker = Progress::new(what);
    loop {
        if let Some(v) = f() {
            return v;
        }
        ticker.tick(|| format!("still waiting (at most {} s)", limit.as_secs()));
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Write `head` plus one `[[targets]]` block per (name, url) to `DIR/leakhound.toml`, and make
/// sure `leakhound config check` accepts it.
pub fn write_targets_config<N: AsRef<str>>(
    dir: &std::path::Path,
    mut head: String,
    targets: &[(N, String)],
) -> std::path::PathBuf {
    for (name, url) in targets {
        head.push_str(&format!(
            "\n[[targets]]\nname = \"{}\"\nurl = \"{url}\"\n",
            name.as_ref()
        ));
    }
    let path = dir.join("leakhound.toml");
    std::fs::write(&path, head).unwrap();
    let check = leakhound(&["config", "check", path.to_str().unwrap()]);
    assert!(check.status.success(), "{}", stderr(&check));
    path
}

/// Print one progress line of a long test on the process's stderr, *past* libtest's capture
/// (which holds `eprintln!` of a passing test until it ends, so a 5-minute test showed nothing
/// but "has been running for over 60 seconds"). The line names the test (its thread).
pub fn progress(line: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let _ = writeln!(
        std::io::stderr().lock(),
        "    [{}] {line}",
        thread.name().unwrap_or("test")
    );
}

/// Progress of one long wait: [`tick`](Progress::tick) prints a line at most every
/// [`PROGRESS_EVERY`], saying what is awaited and for how long already.
pub struct Progress {
    what: String,
    start: Instant,
    last: Instant,
}

/// How often a long wait says what it is waiting for.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(20);

impl Progress {
    pub fn new(what: &str) -> Progress {
        let now = Instant::now();
        Progress {
            what: what.to_string(),
            start: now,
            last: now,
        }
    }

    /// Print `what: N s, detail` when the last line is [`PROGRESS_EVERY`] old (`detail` is only
    /// computed then).
    pub fn tick(&mut self, detail: impl FnOnce() -> String) {
        if self.last.elapsed() >= PROGRESS_EVERY {
            self.last = Instant::now();
            progress(&format!(
                "{}: {:.0} s, {}",
                self.what,
                self.start.elapsed().as_secs_f64(),
                detail()
            ));
        }
    }
}
