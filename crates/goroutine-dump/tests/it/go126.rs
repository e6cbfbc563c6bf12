//! Real Go 1.26.8 dumps of the fixture (tests/fixtures/leaky), saved by `scripts/capture-testdata`:
//! real loopback traffic (150 req/s, 200 ms: serving goroutines under `net/http.(*conn).serve`),
//! leaks at four `/control/leak` sites, 12 `/control/orphan` goroutines, a quota drip (35
//! `billing.(*QuotaService).reportUsage` goroutines, label `tenant=acme`, no `site=`) and a handler
//! drip (5 serving goroutines stuck in `session.(*Store).awaitRefresh`), 75 s old. The
//! `goroutineleak` files come from the `GOEXPERIMENT=goroutineleakprofile` build running the same
//! scenario; `leaky-go1.26.leaked.debug2.txt` is its `goroutine?debug=2` after the leak-detection GC
//! (`[chan send (leaked)]` headers).
//!
//! The expected numbers come from the fixture's `/control/state` at capture time
//! (`leaky-go1.26.state.json`, `leaky-go1.26.goroutineleak.state.json`) and, for the totals, from
//! the files themselves (`goroutine N [` headers, `total N` lines, `go tool pprof -raw`).

use goroutine_dump::{bucketize, detect, parse, Blocking, Format, GroupBy, Record, Snapshot};

use crate::support::data;

const REPORT_USAGE: &str = "leaky/internal/billing.(*QuotaService).reportUsage";
const CHARGE: &str = "leaky/internal/billing.(*QuotaService).Charge";
const AWAIT_REFRESH: &str = "leaky/internal/session.(*Store).awaitRefresh";
const WORK: &str = "leaky/internal/traffic.Work";
const CONN_SERVE: &str = "net/http.(*conn).serve";
const SITES: [(&str, &str, u64); 4] = [
    ("chan", "leaky/internal/leaks.(*Relay).waitReply", 30),
    (
        "select",
        "leaky/internal/leaks.(*StreamForwarder).awaitChunk",
        20,
    ),
    ("mutex", "leaky/internal/leaks.(*QuotaLedger).settle", 10),
    (
        "netread",
        "leaky/internal/leaks.(*UpstreamClient).readResponse",
        5,
    ),
];
/// The quota drip: 20 at once, then 0.2/s for 75 s (`drip.quota.leaked` in the state file).
const QUOTA_DRIP: u64 = 35;
const ORPHANS: u64 = 12;
const STUCK_HANDLERS: u64 = 5;

fn functions<'s>(s: &'s Snapshot, r: &Record) -> Vec<&'s str> {
    s.stack(r.stack)
        .iter()
        .map(|&f| s.frame_ref(f).function)
        .collect()
}

fn has(s: &Snapshot, r: &Record, function: &str) -> bool {
    s.stack(r.stack)
        .iter()
        .any(|&f| s.frame_ref(f).function == function)
}

fn with<'a>(s: &'a Snapshot, function: &str) -> Vec<&'a Record> {
    s.records().iter().filter(|r| has(s, r, function)).collect()
}

fn count(records: &[&Record]) -> u64 {
    records.iter().map(|r| r.count).sum()
}

/// A record's labels, sorted by key (`Snapshot::labels` gives them in interning order).
fn labels(s: &Snapshot, r: &Record) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = s
        .labels(r.labels)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.sort();
    l
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Goroutine headers in a debug=2 text, counted without the parser.
fn headers(text: &[u8]) -> u64 {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| l.starts_with("goroutine ") && l.ends_with("]:"))
        .count() as u64
}

/// Counts of the records whose stack has `function`, per label set.
fn by_labels(s: &Snapshot, function: &str) -> Vec<(Vec<(String, String)>, u64)> {
    let mut out: Vec<(Vec<(String, String)>, u64)> = Vec::new();
    for r in with(s, function) {
        let l = labels(s, r);
        match out.iter_mut().find(|(k, _)| *k == l) {
            Some((_, n)) => *n += r.count,
            None => out.push((l, r.count)),
        }
    }
    out.sort();
    out
}

/// What debug=1 and the proto agree on: counts and labels of the leak sites and the drips.
fn check_aggregated(s: &Snapshot) {
    let f = s.format();
    assert_eq!(
        by_labels(s, REPORT_USAGE),
        vec![
            (pairs(&[("site", "orphan"), ("tenant", "globex")]), ORPHANS),
            (pairs(&[("tenant", "acme")]), QUOTA_DRIP),
        ],
        "{f}: the quota drip is labelled tenant=acme and nothing else"
    );
    for (site, function, n) in SITES {
        let want = if site == "chan" || site == "netread" {
            "openai"
        } else if site == "select" {
            "azure"
        } else {
            "anthropic"
        };
        assert_eq!(
            by_labels(s, function),
            vec![(pairs(&[("channel", want), ("site", site)]), n)],
            "{f}: site {site}"
        );
    }
    // The stuck handlers: serving goroutines, no labels.
    let stuck = with(s, AWAIT_REFRESH);
    assert_eq!(count(&stuck), STUCK_HANDLERS, "{f}");
    for r in &stuck {
        assert!(has(s, r, CONN_SERVE), "{f}: {:?}", functions(s, r));
        assert!(has(s, r, "main.(*Server).handleWork"), "{f}");
        assert_eq!(labels(s, r), vec![], "{f}");
    }
    // Requests in flight: traffic.Work under net/http.(*conn).serve.
    let work = with(s, WORK);
    assert!(count(&work) > 0, "{f}: no request in flight");
    for r in &work {
        assert!(has(s, r, CONN_SERVE), "{f}: {:?}", functions(s, r));
    }
    assert!(s.records().iter().all(|r| !r.leaked), "{f}");
}

#[test]
fn go126_debug1_totals_labels_drip_and_serving_goroutines() {
    let s = parse(&data("leaky-go1.26.debug1.txt")).unwrap();
    assert_eq!(s.format(), Format::Debug1);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    assert_eq!(s.header_total(), Some(240));
    assert_eq!(s.total(), 240);
    check_aggregated(&s);
    // The drip's record: one stack, the reportUsage frame at the `result <- err` line.
    let drip: Vec<_> = with(&s, REPORT_USAGE)
        .into_iter()
        .filter(|r| labels(&s, r) == pairs(&[("tenant", "acme")]))
        .collect();
    assert_eq!(drip.len(), 1);
    let top = s.frame_ref(s.stack(drip[0].stack)[0]);
    assert_eq!(top.function, REPORT_USAGE);
    assert!(top.file.ends_with("internal/billing/billing.go"), "{top:?}");
    assert_eq!(top.line, 79);
}

#[test]
fn go126_proto_totals_labels_drip_and_serving_goroutines() {
    let s = parse(&data("leaky-go1.26.debug0.pb.gz")).unwrap();
    assert_eq!(s.format(), Format::Proto);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    // `go tool pprof -raw` sums the samples to 246.
    assert_eq!(s.total(), 246);
    if let Some(h) = s.header_total() {
        assert_eq!(h, 246);
    }
    check_aggregated(&s);
}

#[test]
fn go126_debug2_totals_wait_reasons_minutes_and_creators() {
    let text = data("leaky-go1.26.debug2.txt");
    let s = parse(&text).unwrap();
    assert_eq!(s.format(), Format::Debug2);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    assert_eq!(headers(&text), 256);
    assert_eq!(s.total(), 256);
    assert_eq!(s.records().len(), 256);

    // The quota drip and the orphans: reportUsage in `chan send`, created by Charge.
    let quota = with(&s, REPORT_USAGE);
    assert_eq!(count(&quota), QUOTA_DRIP + ORPHANS);
    for r in &quota {
        assert_eq!(s.str(r.state), "chan send");
        assert_eq!(s.frame_ref(s.stack(r.stack)[0]).function, REPORT_USAGE);
        assert_eq!(s.frame_ref(s.stack(r.stack)[0]).line, 79);
        assert_eq!(s.frame_ref(r.created_by.unwrap()).function, CHARGE);
        assert!(r.creator_id.is_some());
        assert!(!r.leaked);
    }
    // Go sets a goroutine's wait start at the first GC that sees it waiting: the 35 seen by a
    // GC more than a minute before the capture print `1 minutes`, the 12 newest none.
    let minutes = |rs: &[&Record]| {
        let mut m: Vec<Option<u32>> = rs.iter().map(|r| r.wait_minutes).collect();
        m.sort();
        m.dedup();
        m
    };
    assert_eq!(minutes(&quota), [None, Some(1)]);
    assert_eq!(
        quota.iter().filter(|r| r.wait_minutes == Some(1)).count(),
        35
    );

    // The five leak sites of /control/leak, blocked since the start (75 s).
    for (site, function, n) in SITES {
        let rs = with(&s, function);
        assert_eq!(count(&rs), n, "site {site}");
        let want = match site {
            "chan" => "chan receive",
            "select" => "select",
            "mutex" => "sync.Mutex.Lock",
            _ => "IO wait",
        };
        for r in &rs {
            assert_eq!(s.str(r.state), want, "site {site}");
            assert_eq!(r.wait_minutes, Some(1), "site {site}");
        }
    }

    // The stuck handlers: the serving goroutine itself, created by net/http.(*Server).Serve.
    let stuck = with(&s, AWAIT_REFRESH);
    assert_eq!(count(&stuck), STUCK_HANDLERS);
    for r in &stuck {
        assert_eq!(s.str(r.state), "chan receive");
        assert_eq!(r.wait_minutes, Some(1));
        let f = functions(&s, r);
        assert_eq!(f[0], AWAIT_REFRESH, "{f:?}");
        assert_eq!(f.last(), Some(&CONN_SERVE), "{f:?}");
        assert_eq!(
            s.frame_ref(r.created_by.unwrap()).function,
            "net/http.(*Server).Serve"
        );
    }

    // Requests in flight: `select` in traffic.Work, under net/http.(*conn).serve.
    let work = with(&s, WORK);
    assert_eq!(count(&work), 34);
    for r in &work {
        assert_eq!(s.str(r.state), "select");
        assert_eq!(functions(&s, r).last(), Some(&CONN_SERVE));
    }
}

#[test]
fn go126_debug2_buckets_find_the_drip_as_a_chan_send_leak() {
    let s = parse(&data("leaky-go1.26.debug2.txt")).unwrap();
    let buckets = bucketize(&s, GroupBy::Line);
    let drip = buckets
        .iter()
        .find(|b| b.site().is_some_and(|f| f.function == REPORT_USAGE))
        .unwrap();
    assert_eq!(drip.count, QUOTA_DRIP + ORPHANS);
    assert_eq!(drip.blocking, Blocking::ChanSend);
    assert_eq!(drip.created_by.as_ref().unwrap().function, CHARGE);
    let stuck = buckets
        .iter()
        .find(|b| b.site().is_some_and(|f| f.function == AWAIT_REFRESH))
        .unwrap();
    assert_eq!(stuck.count, STUCK_HANDLERS);
    assert_eq!(stuck.blocking, Blocking::ChanReceive);
}

/// Go 1.26's goroutineleak profile in debug=1 starts with `goroutineleak profile: total N`, not
/// `goroutine profile: total N`; the body is the ordinary debug=1 format. It lists only the
/// goroutines the leak-detection GC found unreachable, so every one is marked leaked.
#[test]
fn go126_goroutineleak_debug1_finds_only_the_unreachable_goroutines() {
    let text = data("leaky-go1.26.goroutineleak.debug1.txt");
    assert!(text.starts_with(b"goroutineleak profile: total 47\n"));
    assert_eq!(detect(&text), Format::Debug1);
    let s = parse(&text).unwrap();
    assert_eq!(s.format(), Format::Debug1);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    assert_eq!(s.header_total(), Some(QUOTA_DRIP + ORPHANS));
    assert_eq!(s.total(), QUOTA_DRIP + ORPHANS);
    check_leak_profile(&s);
}

/// The same body under the goroutine profile's header parses the same, with nothing marked:
/// the marks come from the header alone.
#[test]
fn go126_goroutineleak_debug1_body_under_the_goroutine_header_is_not_marked() {
    let text = String::from_utf8(data("leaky-go1.26.goroutineleak.debug1.txt")).unwrap();
    let renamed = text.replacen("goroutineleak profile:", "goroutine profile:", 1);
    let s = parse(renamed.as_bytes()).unwrap();
    assert_eq!(s.format(), Format::Debug1);
    assert_eq!(s.header_total(), Some(QUOTA_DRIP + ORPHANS));
    assert_eq!(s.total(), QUOTA_DRIP + ORPHANS);
    assert!(s.records().iter().all(|r| !r.leaked));
    let buckets = bucketize(&s, GroupBy::Function);
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0].count, QUOTA_DRIP + ORPHANS);
    assert_eq!(buckets[0].leaked, 0);
}

/// The proto of a goroutineleak profile has sample type `goroutineleak/count` (a goroutine
/// profile's is `goroutine/count`): every sample is a leaked goroutine.
#[test]
fn go126_goroutineleak_proto_finds_only_the_unreachable_goroutines() {
    let s = parse(&data("leaky-go1.26.goroutineleak.debug0.pb.gz")).unwrap();
    assert_eq!(s.format(), Format::Proto);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    assert_eq!(s.total(), QUOTA_DRIP + ORPHANS);
    check_leak_profile(&s);
}

#[test]
fn go126_goroutineleak_proto_records_are_marked_leaked() {
    let s = parse(&data("leaky-go1.26.goroutineleak.debug0.pb.gz")).unwrap();
    assert!(s.records().iter().all(|r| r.leaked));
    let buckets = bucketize(&s, GroupBy::Function);
    assert_eq!(buckets[0].count, QUOTA_DRIP + ORPHANS);
    assert_eq!(buckets[0].leaked, QUOTA_DRIP + ORPHANS);
}

fn check_leak_profile(s: &Snapshot) {
    let f = s.format();
    assert_eq!(
        by_labels(s, REPORT_USAGE),
        vec![
            (pairs(&[("site", "orphan"), ("tenant", "globex")]), ORPHANS),
            (pairs(&[("tenant", "acme")]), QUOTA_DRIP),
        ],
        "{f}"
    );
    // Every record is the leaked site; none of the reachable leaks or serving goroutines.
    for r in s.records() {
        let user = functions(s, r)
            .into_iter()
            .find(|f| !f.starts_with("runtime."));
        assert_eq!(user, Some(REPORT_USAGE), "{f}: {:?}", functions(s, r));
    }
    let buckets = bucketize(s, GroupBy::Function);
    assert_eq!(buckets.len(), 1, "{f}");
    assert_eq!(
        buckets[0].site().map(|f| f.function.as_str()),
        Some(REPORT_USAGE)
    );
    assert_eq!(buckets[0].count, QUOTA_DRIP + ORPHANS);
    // The whole profile is leaked: every record, so every bucket (by line too).
    assert!(s.records().iter().all(|r| r.leaked), "{f}");
    assert_eq!(buckets[0].leaked, buckets[0].count, "{f}");
    for b in bucketize(s, GroupBy::Line) {
        assert_eq!(b.leaked, b.count, "{f}");
    }
}

#[test]
fn go126_goroutine_dump_after_leak_detection_marks_the_leaked() {
    let text = data("leaky-go1.26.leaked.debug2.txt");
    let s = parse(&text).unwrap();
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    assert_eq!(s.total(), headers(&text));
    let leaked: Vec<&Record> = s.records().iter().filter(|r| r.leaked).collect();
    assert_eq!(leaked.len() as u64, QUOTA_DRIP + ORPHANS);
    for r in &leaked {
        assert_eq!(s.str(r.state), "chan send", "the state without ` (leaked)`");
        assert_eq!(s.frame_ref(s.stack(r.stack)[0]).function, REPORT_USAGE);
        // Go prints `N minutes` only for goroutines in the plain waiting state.
        assert_eq!(r.wait_minutes, None);
    }
    // The reachable leaks are not marked.
    for (site, function, n) in SITES {
        let rs = with(&s, function);
        assert_eq!(count(&rs), n, "site {site}");
        assert!(rs.iter().all(|r| !r.leaked), "site {site}");
    }
    assert_eq!(count(&with(&s, AWAIT_REFRESH)), STUCK_HANDLERS);
    assert!(with(&s, AWAIT_REFRESH).iter().all(|r| !r.leaked));
}

/// The goroutineleak build of the fixture, live (`LEAKHOUND_FIXTURE_LEAKPROFILE`, built by
/// `scripts/test` with `GOEXPERIMENT=goroutineleakprofile`).
struct LeakFixture {
    child: std::process::Child,
    addr: String,
}

impl LeakFixture {
    fn start() -> LeakFixture {
        use std::io::BufRead;
        let bin = std::env::var("LEAKHOUND_FIXTURE_LEAKPROFILE").unwrap_or_else(|_| {
            panic!(
                "LEAKHOUND_FIXTURE_LEAKPROFILE is not set: build tests/fixtures/leaky with \
                 GOEXPERIMENT=goroutineleakprofile and point it at the binary (scripts/test does both)"
            )
        });
        let mut child = std::process::Command::new(&bin)
            .args(["-addr", "127.0.0.1:0", "-log-interval", "1h"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start '{bin}': {e}"));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        LeakFixture {
            child,
            addr: line.trim().to_string(),
        }
    }

    fn get(&self, path: &str) -> Vec<u8> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&resp[..split]).to_string();
        assert!(head.starts_with("HTTP/1.0 200"), "GET {path}: {head}");
        resp[split + 4..].to_vec()
    }
}

impl Drop for LeakFixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn live_goroutineleak_profile_of_the_fixture_finds_the_quota_drip() {
    let fx = LeakFixture::start();
    fx.get("/control/leak?site=chan&n=40&label=openai");
    fx.get("/control/drip?pattern=quota&n=15&tenant=acme");
    fx.get("/control/drip?pattern=handler&n=2");
    // The drip's goroutines block a moment after the request returns (on a loaded machine, not
    // all of them yet): read the profile until all 15 are proved leaked, for at most 20 s.
    let started = std::time::Instant::now();
    let s = loop {
        let s = parse(&fx.get("/debug/pprof/goroutineleak?debug=0")).unwrap();
        if s.total() >= 15 || started.elapsed() > std::time::Duration::from_secs(20) {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(s.total(), 15);
    assert_eq!(
        by_labels(&s, REPORT_USAGE),
        vec![(pairs(&[("tenant", "acme")]), 15)]
    );
    // After the leak-detection GC, the goroutine dump marks them.
    let d2 = parse(&fx.get("/debug/pprof/goroutine?debug=2")).unwrap();
    let leaked: Vec<&Record> = d2.records().iter().filter(|r| r.leaked).collect();
    assert_eq!(leaked.len(), 15);
    assert!(leaked.iter().all(|r| has(&d2, r, REPORT_USAGE)));
    assert_eq!(
        count(&with(&d2, "leaky/internal/leaks.(*Relay).waitReply")),
        40
    );
}
