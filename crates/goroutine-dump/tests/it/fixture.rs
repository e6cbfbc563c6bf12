//! Real dumps from the Go fixture (tests/fixtures/leaky). Ignored by default: `scripts/test`
//! builds the fixture and runs them with LEAKHOUND_FIXTURE=/path/to/leaky.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use goroutine_dump::{bucketize, parse, suspects, Format, GroupBy, Snapshot, SuspectOptions};

const SITES: [(&str, &str); 5] = [
    ("chan", "leaky/internal/leaks.(*Relay).waitReply"),
    (
        "select",
        "leaky/internal/leaks.(*StreamForwarder).awaitChunk",
    ),
    ("cond", "leaky/internal/leaks.(*ConnPool).waitIdle"),
    ("mutex", "leaky/internal/leaks.(*QuotaLedger).settle"),
    (
        "netread",
        "leaky/internal/leaks.(*UpstreamClient).readResponse",
    ),
];

pub struct Fixture {
    child: Child,
    addr: String,
}

impl Fixture {
    pub fn start() -> Fixture {
        let bin = std::env::var("LEAKHOUND_FIXTURE").unwrap_or_else(|_| {
            panic!(
                "LEAKHOUND_FIXTURE is not set: build tests/fixtures/leaky and point it at the \
                 binary (scripts/test does both)"
            )
        });
        let mut child = Command::new(&bin)
            .args(["-addr", "127.0.0.1:0", "-log-interval", "1h"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the fixture '{bin}': {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().to_string();
        assert!(
            addr.contains(':'),
            "the fixture printed '{addr}' instead of host:port"
        );
        Fixture { child, addr }
    }

    pub fn request(&self, method: &str, path: &str) -> Vec<u8> {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(s, "{method} {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP response");
        let head = String::from_utf8_lossy(&resp[..split]).to_string();
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{method} {path}: {head}"
        );
        resp[split + 4..].to_vec()
    }

    pub fn leak(&self, site: &str, n: u64, label: &str) {
        self.request(
            "POST",
            &format!("/control/leak?site={site}&n={n}&label={label}"),
        );
    }

    pub fn dump(&self, debug: u8) -> Snapshot {
        let body = self.request("GET", &format!("/debug/pprof/goroutine?debug={debug}"));
        parse(&body).unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn site_count(s: &Snapshot, function: &str) -> u64 {
    bucketize(s, GroupBy::Line)
        .iter()
        .filter(|b| b.top_frame.as_ref().is_some_and(|f| f.function == function))
        .map(|b| b.count)
        .sum()
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn fixture_dumps_in_all_formats_count_and_label_the_leaks() {
    let fx = Fixture::start();
    let plan = [
        ("chan", 30, "openai"),
        ("select", 40, "azure"),
        ("cond", 50, "openai"),
        ("mutex", 60, "anthropic"),
        ("netread", 20, "openai"),
    ];
    for (site, n, label) in plan {
        fx.leak(site, n, label);
    }
    for debug in [2u8, 1, 0] {
        let s = fx.dump(debug);
        assert_eq!(s.format().debug_level(), debug);
        for ((site, n, label), (_, function)) in plan.iter().zip(SITES) {
            assert_eq!(site_count(&s, function), *n, "debug={debug} site {site}");
            if s.format() != Format::Debug2 {
                let b = bucketize(&s, GroupBy::Line)
                    .into_iter()
                    .find(|b| b.top_frame.as_ref().is_some_and(|f| f.function == function))
                    .unwrap();
                let has = |k: &str, v: &str| {
                    b.labels
                        .iter()
                        .any(|l| l.key == k && l.value == v && l.count == *n)
                };
                assert!(
                    has("site", site) && has("channel", label),
                    "debug={debug}: {:?}",
                    b.labels
                );
            }
        }
    }
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn suspects_are_the_fixture_leak_functions_in_every_format() {
    let fx = Fixture::start();
    fx.request("POST", "/control/steady?workers=30");
    let mut series: [Vec<Snapshot>; 3] = Default::default();
    for round in 0..3 {
        for (site, _) in SITES {
            fx.leak(site, 20, if round % 2 == 0 { "openai" } else { "azure" });
        }
        for (i, debug) in [2u8, 1, 0].into_iter().enumerate() {
            series[i].push(fx.dump(debug));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    fx.request("POST", "/control/steady?workers=0");
    for snaps in &series {
        let found = suspects(snaps, &SuspectOptions::default());
        let mut tops: Vec<&str> = found
            .iter()
            .map(|s| s.top_frame.as_ref().map_or("?", |f| f.function.as_str()))
            .collect();
        tops.sort();
        let mut want: Vec<&str> = SITES.iter().map(|s| s.1).collect();
        want.sort();
        assert_eq!(tops, want, "{:?}", snaps[0].format());
        for s in &found {
            assert_eq!(s.counts, [20, 40, 60], "{:?}", s.top_frame);
        }
    }
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn steady_load_without_leaks_has_no_suspects() {
    let fx = Fixture::start();
    fx.request("POST", "/control/steady?workers=50");
    std::thread::sleep(Duration::from_millis(300));
    for attempt in 0..3 {
        let mut series: [Vec<Snapshot>; 3] = Default::default();
        for _ in 0..4 {
            for (i, debug) in [2u8, 1, 0].into_iter().enumerate() {
                series[i].push(fx.dump(debug));
            }
            std::thread::sleep(Duration::from_millis(150));
        }
        for snaps in &series {
            let found = suspects(snaps, &SuspectOptions::default());
            assert!(
                found.is_empty(),
                "attempt {attempt}, {:?}: {:#?}",
                snaps[0].format(),
                found
            );
        }
    }
}
