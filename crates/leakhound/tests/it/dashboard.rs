//! The dashboard in a real browser: Debian's headless Chromium, driven over the DevTools
//! protocol (a websocket to 127.0.0.1), loads the page from a real `leakhound run` watching the
//! real Go fixture. It checks what a person sees — the DOM and the chart's pixels, not only
//! HTTP 200 — and keeps screenshots in `target/test-artifacts/`.
//! `scripts/test` installs `chromium` and builds the fixture.

use crate::support;

use base64::Engine;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{now_ms, poll, sample, Agent, Fixture};

/// A name with the characters a target name may hold that URLs and selectors treat specially
/// (`#` `+` `[` `]` `@` `:` spaces): links and API paths must encode them and the page must
/// show them as these characters. (Markup cannot be a target name: config check refuses it.)
const TARGET: &str = "fixture #1 [a+b] @one: (x)";

fn chromium_binary() -> String {
    for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(path).is_file() {
            return path.into();
        }
    }
    panic!("no chromium: `apt-get install chromium` (scripts/test does)");
}

/// Where screenshots go: `target/test-artifacts/`.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Headless Chromium with its own profile directory, killed on drop.
struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium_binary())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--window-size=1280,1400",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…" on stderr.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("DevTools listening on ws://127.0.0.1:").nth(1) {
                    let _ = tx.send(rest.split('/').next().unwrap_or("").to_string());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium's 'DevTools listening on' line within 30 s")
            .parse()
            .unwrap();
        Browser {
            child,
            port,
            _profile: profile,
        }
    }

    /// A new tab at `url`, with a DevTools connection to it.
    fn open(&self, url: &str) -> Page {
        let client = reqwest::blocking::Client::new();
        let target: Value = client
            .put(format!("http://127.0.0.1:{}/json/new?{url}", self.port))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let ws = target["webSocketDebuggerUrl"].as_str().unwrap().to_string();
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (socket, _) = tungstenite::client::client(ws.as_str(), stream).unwrap();
        let mut page = Page { socket, next_id: 0 };
        page.call("Runtime.enable", json!({}));
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One tab over the DevTools protocol.
struct Page {
    socket: tungstenite::WebSocket<TcpStream>,
    next_id: u64,
}

impl Page {
    /// Send a command and wait (at most 30 s: the socket's read timeout) for its answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket.send(tungstenite::Message::text(msg)).unwrap();
        loop {
            let msg = self.socket.read().expect("a DevTools answer within 30 s");
            let Ok(text) = msg.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if v["id"].as_u64() == Some(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluate a JavaScript expression (promises awaited) and return its value.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expression}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Evaluate `expression` every 100 ms until `ok` accepts it, for at most `limit`.
    fn wait_for(
        &mut self,
        limit: Duration,
        what: &str,
        expression: &str,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let v = self.eval(expression);
            if ok(&v) {
                return v;
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}; last value: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
    }

    fn screenshot(&mut self, name: &str) -> PathBuf {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let path = artifacts().join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// `leakhound run` watching the fixture every second, its HTTP API on a free loopback port.
fn agent(dir: &Path, fixture: &Fixture, web_extra: &str) -> (Agent, String) {
    let config = dir.join("leakhound.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\ndatabase = \"{}\"\n\n[web]\nlisten = \"127.0.0.1:0\"\n{web_extra}\n\n\
             [[targets]]\nname = \"{}\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"900ms\"\n",
            dir.join("lh.db").display(),
            TARGET.replace('"', "\\\""),
            fixture.url()
        ),
    )
    .unwrap();
    let agent = Agent::start(&config, &dir.join("agent.log"));
    let base = agent.base_url();
    (agent, base)
}

/// The goroutine count the overview row shows, as a number (`null` while it shows none).
const ROW_COUNT: &str = "(() => { const td = document.querySelector('#targets tr[data-target] td.goroutines'); \
    const n = td ? Number(td.textContent.replace(/,/g, '')) : NaN; return Number.isFinite(n) ? n : null; })()";

#[test]
#[ignore = "needs chromium and the Go fixture; scripts/test runs it"]
fn the_dashboard_shows_the_fixture_live_and_draws_its_chart() {
    let started_ms = now_ms();
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::start();
    fixture.leak("chan", 100, "dashboard");
    let (agent, base) = agent(dir.path(), &fixture, "");
    // A first goroutine dump (evidence bundle) before the big leak, a second one after it.
    let capture = || {
        let config = dir.path().join("leakhound.toml");
        let out = support::leakhound(&["capture", TARGET, "-c", config.to_str().unwrap()]);
        assert!(out.status.success(), "capture: {}", support::stderr(&out));
    };
    capture();
    let browser = Browser::start();
    let mut page = browser.open(&format!("{base}/"));

    // The overview lists the target, its name as text (the markup in it is not an element),
    // with the fixture's own goroutine count.
    let shown = page.wait_for(
        Duration::from_secs(30),
        "the overview row with a goroutine count",
        ROW_COUNT,
        |v| v.as_u64().is_some_and(|n| n >= 100),
    );
    let own = fixture.goroutines();
    let shown = shown.as_u64().unwrap();
    assert!(
        shown.abs_diff(own) <= 3,
        "the dashboard shows {shown} goroutines, the fixture counts {own}"
    );
    assert_eq!(
        page.eval("document.querySelector('#targets a.name').textContent"),
        TARGET
    );
    assert_eq!(
        page.eval("document.querySelector('#targets .badge').textContent"),
        "excellent"
    );
    page.wait_for(
        Duration::from_secs(10),
        "the live indicator",
        "document.querySelector('#live').textContent",
        |v| v == "live",
    );

    // A leak shows up without a reload: the count and the level word change in place.
    page.eval("window.__sameDocument = true");
    fixture.leak("select", 2500, "dashboard");
    let after = page.wait_for(
        Duration::from_secs(20),
        "the live update after the leak",
        ROW_COUNT,
        |v| v.as_u64().is_some_and(|n| n >= shown + 2500),
    );
    let own = fixture.goroutines();
    assert!(
        after.as_u64().unwrap().abs_diff(own) <= 3,
        "after the leak the dashboard shows {after}, the fixture counts {own}"
    );
    assert_eq!(
        page.eval("window.__sameDocument === true"),
        true,
        "the page reloaded"
    );
    assert_eq!(
        page.eval("document.querySelector('#targets .badge').textContent"),
        "notice"
    );
    assert_eq!(
        page.eval("document.querySelector('#targets .level').textContent"),
        "warning"
    );
    let overview = page.screenshot("dashboard-overview.png");
    capture();

    // The target page: the goroutine chart is drawn (pixels of the series colour), the facts
    // show the same count. A custom range around this test, so the lines span the chart.
    let href = page.eval("document.querySelector('#targets a.name').getAttribute('href')");
    let href = href.as_str().unwrap();
    let client = reqwest::blocking::Client::new();
    poll(Duration::from_secs(30), "6 stored samples", || {
        let v: Value = client
            .get(format!("{base}/api{href}/samples?since=1h"))
            .send()
            .ok()?
            .json()
            .ok()?;
        (v["samples"].as_array()?.len() >= 6).then_some(())
    });
    page.navigate(&format!(
        "{base}{href}#range=custom&from={}&to={}",
        started_ms - 1_000,
        now_ms() + 1_000
    ));
    page.wait_for(
        Duration::from_secs(30),
        "the goroutine chart with the leak in it",
        "(() => { const u = document.querySelector('#chart-goroutines .uplot'); \
          const c = document.querySelector('#chart-goroutines canvas'); \
          return !!(u && c && c.width > 0 && document.querySelector('#range-status').textContent.includes('point')); })()",
        |v| v == true,
    );
    let drawn = |page: &mut Page, chart: &str, rgb: (u8, u8, u8)| -> u64 {
        page.eval(&format!(
            "(() => {{ const c = document.querySelector('#{chart} canvas'); \
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; \
              for (let i = 0; i < d.length; i += 4) {{ \
                if (d[i+3] > 200 && Math.abs(d[i]-{}) < 40 && Math.abs(d[i+1]-{}) < 40 && Math.abs(d[i+2]-{}) < 40) n++; }} \
              return n; }})()",
            rgb.0, rgb.1, rgb.2
        ))
        .as_u64()
        .unwrap()
    };
    // The line is drawn once a second sample arrives; poll for it.
    let start = Instant::now();
    let mut line = 0;
    while start.elapsed() < Duration::from_secs(20) {
        line = drawn(&mut page, "chart-goroutines", (0x2f, 0x6f, 0x4f));
        if line > 100 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        line > 100,
        "only {line} pixels of the goroutine line are drawn"
    );
    let memory = drawn(&mut page, "chart-memory", (0xff, 0x7f, 0x0e));
    assert!(
        memory > 50,
        "only {memory} pixels of the memory (sys) line are drawn"
    );
    let facts = page.eval("document.querySelector('#goroutines').textContent.replace(/,/g, '')");
    let facts: u64 = facts.as_str().unwrap().parse().unwrap();
    assert!(
        facts.abs_diff(fixture.goroutines()) <= 3,
        "target page shows {facts}"
    );
    assert_eq!(
        page.eval("document.querySelector('h1').textContent"),
        TARGET
    );
    let target = page.screenshot("dashboard-target.png");

    // The dumps: both listed; the newest one's buckets name the leaking call site; the diff
    // of the two shows the 2500 new goroutines there.
    page.wait_for(
        Duration::from_secs(20),
        "the two dumps in the list",
        "document.querySelectorAll('table.dumps tbody tr').length",
        |v| v == 2,
    );
    page.eval("document.querySelector('table.dumps tbody tr button').click()");
    let buckets = page.wait_for(
        Duration::from_secs(20),
        "the newest dump's buckets",
        "(() => { const t = document.querySelector('#dump-detail table.buckets'); return t ? t.textContent : ''; })()",
        |v| v.as_str().is_some_and(|t| !t.is_empty()),
    );
    let buckets = buckets.as_str().unwrap();
    assert!(
        buckets.contains("awaitChunk") && buckets.contains("2,500"),
        "{buckets}"
    );
    page.eval("[...document.querySelectorAll('#dumps button')].find((b) => b.textContent === 'Diff').click()");
    let first = page.wait_for(
        Duration::from_secs(20),
        "the diff of the two dumps",
        "(() => { const r = document.querySelector('#dump-detail table.diff tbody tr'); return r ? r.textContent : ''; })()",
        |v| v.as_str().is_some_and(|t| !t.is_empty()),
    );
    let first = first.as_str().unwrap();
    assert!(
        first.starts_with("new") && first.contains("+2,500") && first.contains("awaitChunk"),
        "the diff's first row: {first}"
    );
    page.eval("document.querySelector('#dumps').scrollIntoView()");
    let dumps = page.screenshot("dashboard-dumps.png");

    for shot in [overview, target, dumps] {
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 10_000,
            "{shot:?} is tiny"
        );
    }
    drop(browser);
    agent.stop();
}

#[test]
#[ignore = "needs chromium and the Go fixture; scripts/test runs it"]
fn with_a_token_the_dashboard_asks_once_and_keeps_it_out_of_urls() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::start();
    let (agent, base) = agent(dir.path(), &fixture, "token = \"dash-s3cret\"");
    let browser = Browser::start();
    let mut page = browser.open(&format!("{base}/"));
    page.wait_for(
        Duration::from_secs(20),
        "the token form",
        "!!document.querySelector('form.token input#token')",
        |v| v == true,
    );
    page.eval(
        "(() => { document.querySelector('#token').value = 'wrong'; \
          document.querySelector('form.token').requestSubmit(); })()",
    );
    page.wait_for(
        Duration::from_secs(20),
        "the form again, saying the token was refused",
        "document.querySelector('form.token') ? document.querySelector('form.token').textContent : ''",
        |v| v.as_str().is_some_and(|t| t.contains("not accepted")),
    );
    page.eval(
        "(() => { document.querySelector('#token').value = 'dash-s3cret'; \
          document.querySelector('form.token').requestSubmit(); })()",
    );
    page.wait_for(
        Duration::from_secs(30),
        "the overview after the token",
        ROW_COUNT,
        |v| v.as_u64().is_some(),
    );
    page.wait_for(
        Duration::from_secs(10),
        "the live feed with the token",
        "document.querySelector('#live').textContent",
        |v| v == "live",
    );
    // The token went in headers only: no request URL carries it.
    let urls = page.eval("performance.getEntriesByType('resource').map((e) => e.name).join(' ')");
    assert!(!urls.as_str().unwrap().contains("s3cret"), "{urls}");
    assert!(urls.as_str().unwrap().contains("/api/targets"), "{urls}");
    assert!(
        !agent.log_text().contains("dash-s3cret"),
        "the token is in the agent's log"
    );
    drop(browser);
    agent.stop();
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Write `days` of history for `targets` targets (`svc-000`…) at one sample per `interval_s`,
/// ending now: steady services around 400 goroutines, every tenth one leaking linearly.
fn generate_history(db: &Path, targets: u64, days: u64, interval_s: u64) -> u64 {
    use leakhound_store::Store;
    let mut store = Store::open(db).unwrap();
    let now = now_ms();
    let step = i64::try_from(interval_s * 1000).unwrap();
    let n = i64::try_from(days * 86_400 / interval_s).unwrap();
    let mut written = 0;
    for t in 0..targets {
        let name = format!("svc-{t:03}");
        let leaking = t.is_multiple_of(10);
        let mut batch = Vec::with_capacity(20_000);
        for i in 0..n {
            let ts = now - (n - i) * step;
            let wobble = ((i * 7919 + t as i64 * 104_729) % 61) as u64;
            let goroutines = if leaking {
                400 + (i as u64 * 3000) / n as u64 + wobble
            } else {
                370 + wobble
            };
            batch.push(
                sample(&name)
                    .at(ts)
                    .up(i % 2000 != 7) // an outage now and then
                    .latency(2.0)
                    .goroutines(goroutines)
                    .alloc((40 << 20) + goroutines * 8192)
                    .sys((90 << 20) + goroutines * 8192)
                    .heap((48 << 20) + goroutines * 8192)
                    .num_gc(i as u64 / 4)
                    .build(),
            );
            if batch.len() == batch.capacity() {
                store.insert(&batch).unwrap();
                written += batch.len() as u64;
                batch.clear();
            }
        }
        store.insert(&batch).unwrap();
        written += batch.len() as u64;
    }
    written
}

/// Resident and peak resident memory of a process, in MiB, from /proc.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap()
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Wait (polling every 20 ms, at most `limit`) until `condition` holds in the page, and return
/// `performance.now()` at that moment: milliseconds since the navigation started.
fn ready_at(page: &mut Page, limit: Duration, what: &str, condition: &str) -> f64 {
    let start = Instant::now();
    loop {
        let v = page.eval(&format!("({condition}) ? performance.now() : null"));
        if let Some(ms) = v.as_f64() {
            return ms;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// First paint and memory on a stored history. `scripts/test` runs it small (5 targets × 1
/// day); `scripts/bench/dashboard` runs it on 100 targets × 30 days at 30 s (8.6 M samples) in
/// a release build and records the figures in BENCHMARKS.md. Environment:
/// `LEAKHOUND_BENCH_TARGETS`, `LEAKHOUND_BENCH_DAYS`, `LEAKHOUND_BENCH_INTERVAL_S`,
/// `LEAKHOUND_BENCH_DB` (keep/reuse the store there), `LEAKHOUND_BENCH_OUT` (append results).
#[test]
#[ignore = "needs chromium and the Go fixture; scripts/test runs it (small), scripts/bench/dashboard (big)"]
fn dashboard_first_paint_and_agent_memory_on_a_stored_history() {
    let targets = env_or("LEAKHOUND_BENCH_TARGETS", 5);
    let days = env_or("LEAKHOUND_BENCH_DAYS", 1);
    let interval_s = env_or("LEAKHOUND_BENCH_INTERVAL_S", 30);
    let dir = tempfile::tempdir().unwrap();
    let db = std::env::var("LEAKHOUND_BENCH_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("history.db"));
    let generate_start = Instant::now();
    let samples = if db.exists() {
        0 // reuse: the bench script generates once
    } else {
        generate_history(&db, targets, days, interval_s)
    };
    let generated_s = generate_start.elapsed().as_secs_f64();

    // The agent on that store, watching the targets (all served by the Go fixture).
    let fixture = Fixture::start();
    let config = dir.path().join("bench.toml");
    let mut text = format!(
        "[agent]\ndatabase = \"{}\"\nlog_interval = \"1h\"\n\n[web]\nlisten = \"127.0.0.1:0\"\n",
        db.display()
    );
    for t in 0..targets {
        text.push_str(&format!(
            "\n[[targets]]\nname = \"svc-{t:03}\"\nurl = \"{}\"\ninterval = \"5s\"\ntimeout = \"2s\"\n",
            fixture.url()
        ));
    }
    std::fs::write(&config, text).unwrap();
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    let base = agent.base_url();
    // Every target probed once, so the overview is complete from its first answer.
    let client = reqwest::blocking::Client::new();
    poll(
        Duration::from_secs(60),
        "a first sample of every target",
        || {
            let list: Value = client
                .get(format!("{base}/api/targets"))
                .send()
                .ok()?
                .json()
                .ok()?;
            let all = list.as_array()?.iter().all(|t| t["goroutines"].is_u64());
            all.then_some(())
        },
    );
    let idle = rss_mib(agent.pid());
    eprintln!("agent ready after {:?}", generate_start.elapsed());

    let browser = Browser::start();
    let mut page = browser.open("about:blank");
    page.call("Page.enable", json!({}));
    let rows = format!(
        "document.querySelectorAll('#targets tr[data-target] td.goroutines').length === {targets} && \
         [...document.querySelectorAll('#targets td.goroutines')].every((td) => td.textContent !== '–')"
    );
    let trends = format!(
        "document.querySelectorAll('#targets td.trend').length === {targets} && \
         ![...document.querySelectorAll('#targets td.trend')].some((td) => td.textContent.includes('collecting'))"
    );
    let chart = "document.querySelector('#range-status') && /point/.test(document.querySelector('#range-status').textContent) && \
                 document.querySelector('#chart-goroutines canvas')";
    let mut overview = Vec::new();
    let mut ranges: Vec<(&str, Vec<f64>)> = vec![("24h", vec![]), ("7d", vec![]), ("30d", vec![])];
    for round in 0..3 {
        page.navigate(&format!("{base}/?round={round}"));
        let table = ready_at(
            &mut page,
            Duration::from_secs(60),
            "the overview table",
            &rows,
        );
        let complete = ready_at(&mut page, Duration::from_secs(120), "every trend", &trends);
        let fcp = page
            .eval("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null")
            .as_f64()
            .unwrap_or(f64::NAN);
        overview.push((fcp, table, complete));
        let now = now_ms();
        for (range, times) in ranges.iter_mut() {
            let hash = match *range {
                "30d" => format!("range=custom&from={}&to={now}", now - 30 * 86_400_000),
                r => format!("range={r}"),
            };
            // A new query string: a new document (a changed hash alone would not reload).
            page.navigate(&format!(
                "{base}/targets/svc-000?round={round}&range={range}#{hash}"
            ));
            times.push(ready_at(
                &mut page,
                Duration::from_secs(120),
                "the target chart",
                chart,
            ));
        }
    }
    // The chart holds the leak of svc-000: the last points are far above the first.
    let points = page.eval("document.querySelector('#range-status').textContent");
    assert!(points.as_str().unwrap().contains("point"), "{points}");
    page.screenshot("dashboard-bench-target.png");
    let loaded = rss_mib(agent.pid());
    eprintln!("pages measured after {:?}", generate_start.elapsed());

    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let fcp = median(overview.iter().map(|o| o.0).collect());
    let table = median(overview.iter().map(|o| o.1).collect());
    let complete = median(overview.iter().map(|o| o.2).collect());
    let mut line = format!(
        "| {targets} targets × {days} d at {interval_s} s ({}) | FCP {fcp:.0} ms | table {table:.0} ms | trends {complete:.0} ms |",
        if samples > 0 {
            format!("{samples} samples, generated in {generated_s:.0} s")
        } else {
            "store reused".into()
        },
    );
    for (range, times) in &ranges {
        line.push_str(&format!(" {range} chart {:.0} ms |", median(times.clone())));
    }
    line.push_str(&format!(
        " agent RSS {:.0} MiB idle, {:.0} MiB after, peak {:.0} MiB |",
        idle.0, loaded.0, loaded.1
    ));
    println!("{line}");
    if let Ok(out) = std::env::var("LEAKHOUND_BENCH_OUT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    }
    // Generous bounds for a debug build on a shared machine; the benchmark records the numbers.
    assert!(complete < 15_000.0, "{line}");
    for (range, times) in &ranges {
        assert!(median(times.clone()) < 15_000.0, "{range}: {line}");
    }
    assert!(loaded.1 < 512.0, "{line}");
    drop(browser);
    agent.stop();
}
