//! `leakhound analyze` / `leakhound diff` against dump files (plain `cargo test`) and against
//! the live Go fixture (ignored; `scripts/test` runs them with LEAKHOUND_FIXTURE set).

use crate::support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{leakhound, stderr, stdout, Fixture};

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../goroutine-dump/tests/data")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

const D2: &str = "leaky-go1.19.debug2.txt";
const D1: &str = "leaky-go1.19.debug1.txt";
const D0: &str = "leaky-go1.19.debug0.pb.gz";

fn assert_fits_100_columns(s: &str) {
    for line in s.lines() {
        assert!(
            line.chars().count() <= 100,
            "too wide ({}): {line}",
            line.chars().count()
        );
    }
}

#[test]
fn analyze_one_file_prints_the_bucket_table() {
    let out = leakhound(&["analyze", &data(D2)]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(o.contains("debug=2, 113 goroutines"), "{o}");
    assert!(
        o.contains("13 buckets, top 13 by count (total 113 goroutines)"),
        "{o}"
    );
    let first = o.lines().find(|l| l.contains("waitReply")).unwrap();
    assert!(
        first.trim_start().starts_with("25  22.1%  chan receive"),
        "{first}"
    );
    assert!(
        o.contains("created by leaks.(*Relay).Dispatch sites.go:28"),
        "{o}"
    );
    assert_fits_100_columns(&o);
    assert!(
        e.is_empty(),
        "no progress bar when stderr is not a terminal: {e}"
    );
}

#[test]
fn analyze_shows_labels_from_debug1_and_proto() {
    for f in [D1, D0] {
        let o = stdout(&leakhound(&["analyze", &data(f), "--top", "3"]));
        assert!(
            o.contains("labels site=chan, channel=openai 80%/azure 20%"),
            "{f}: {o}"
        );
        assert!(
            o.contains("… 10 more buckets with 48 goroutines"),
            "{f}: {o}"
        );
        assert_fits_100_columns(&o);
    }
}

#[test]
fn analyze_json_is_the_documented_shape() {
    let out = leakhound(&["analyze", "--json", &data(D0)]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["group_by"], "line");
    assert_eq!(v["snapshots"][0]["format"], "proto");
    assert_eq!(v["snapshots"][0]["goroutines"], 113);
    let b = &v["buckets"][0];
    assert_eq!(b["count"], 25);
    assert_eq!(b["blocking"], "chan_receive");
    assert_eq!(
        b["top_frame"]["function"],
        "leaky/internal/leaks.(*Relay).waitReply"
    );
    assert_eq!(b["top_frame"]["line"], 35);
    assert_eq!(b["key"].as_str().unwrap().len(), 16);
    assert_eq!(b["labels"][0]["key"], "site");
    assert!(v.get("suspects").is_none());
}

#[test]
fn the_same_state_in_three_formats_has_no_suspects() {
    let out = leakhound(&["analyze", &data(D2), &data(D1), &data(D0)]);
    let o = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains("No leak suspects across 3 snapshots"), "{o}");
}

#[test]
fn analyze_reads_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(["analyze", "-", "--group-by", "function"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(data(D1)).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let o = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.starts_with("-: debug=1, 113 goroutines"), "{o}");
}

#[test]
fn filter_and_exclude_select_goroutines_by_frame() {
    let o = stdout(&leakhound(&[
        "analyze",
        &data(D2),
        "--filter",
        r"internal/leaks\.\(\*",
    ]));
    assert!(
        o.contains("(106 of 113 goroutines pass --filter/--exclude)"),
        "{o}"
    );
    let o = stdout(&leakhound(&[
        "analyze",
        &data(D2),
        "--exclude",
        "sites.go",
        "--top",
        "0",
    ]));
    assert!(
        o.contains("(8 of 113 goroutines pass --filter/--exclude)"),
        "{o}"
    );
    assert!(!o.contains("waitReply"), "{o}");
}

#[test]
fn diff_ranks_what_grew_and_hides_the_unchanged() {
    let out = leakhound(&["diff", &data("panic-in-container-log.txt"), &data(D2)]);
    let o = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains("4 → 113 goroutines (+109)"), "{o}");
    let rows: Vec<&str> = o
        .lines()
        .filter(|l| l.starts_with("new ") || l.starts_with("vanished "))
        .collect();
    assert!(
        rows[0].contains("+25") && rows[0].contains("waitReply"),
        "{o}"
    );
    assert!(rows.last().unwrap().starts_with("vanished"), "{o}");
    assert_fits_100_columns(&o);

    let same = stdout(&leakhound(&["diff", &data(D2), &data(D2)]));
    assert!(same.contains("No bucket changed."), "{same}");
    let v: serde_json::Value =
        serde_json::from_slice(&leakhound(&["diff", "--json", &data(D1), &data(D0)]).stdout)
            .unwrap();
    assert_eq!(v["diff"]["before_total"], 113);
    assert_eq!(v["before"]["format"], "debug1");
}

#[test]
fn bad_input_says_which_line_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "goroutine profile: total 1\n1 @ 0x1\nnonsense\n").unwrap();
    let out = leakhound(&["analyze", bad.to_str().unwrap()]);
    let e = stderr(&out);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        e.contains("not a goroutine profile: line 3: expected 'COUNT @ PC…'"),
        "{e}"
    );
    assert!(e.contains("found 'nonsense'"), "{e}");

    let out = leakhound(&["analyze", "/nonexistent/dump.txt"]);
    assert!(
        stderr(&out).contains("cannot read '/nonexistent/dump.txt'"),
        "{}",
        stderr(&out)
    );

    // One bad source among good ones: reported, the rest analysed, exit 2.
    let out = leakhound(&["analyze", &data(D2), bad.to_str().unwrap(), &data(D2)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).contains("No leak suspects across 2 snapshots"));

    let out = leakhound(&["analyze", &data(D2), "--format", "debug=3"]);
    assert!(
        stderr(&out).contains("unknown format 'debug=3'"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn analyze_url_samples_and_names_the_leaking_sites() {
    let fx = Fixture::start();
    fx.leak("chan", 20, "openai");
    fx.leak("mutex", 20, "azure");
    let url = fx.url();
    let cmd = std::thread::spawn(move || {
        leakhound(&[
            "analyze",
            &url,
            "--samples",
            "3",
            "--interval",
            "1s",
            "--json",
        ])
    });
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(700));
        fx.leak("chan", 20, "openai");
        fx.leak("mutex", 20, "azure");
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = cmd.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Few goroutines: auto takes debug=2 dumps (ids separate leaks from churn).
    assert_eq!(v["snapshots"][0]["format"], "debug2");
    let mut tops: Vec<&str> = v["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["top_frame"]["function"].as_str().unwrap())
        .collect();
    tops.sort();
    assert_eq!(
        tops,
        [
            "leaky/internal/leaks.(*QuotaLedger).settle",
            "leaky/internal/leaks.(*Relay).waitReply"
        ]
    );
    assert_eq!(v["suspects"][0]["confidence"], "high");
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn analyze_url_under_steady_load_reports_no_suspect() {
    let fx = Fixture::start();
    fx.control("/control/steady?workers=50");
    for format in ["auto", "debug=1", "debug=0"] {
        let out = leakhound(&[
            "analyze",
            &fx.url(),
            "--samples",
            "4",
            "--interval",
            "200ms",
            "--format",
            format,
        ]);
        let o = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{format}: {o}{}", stderr(&out));
        assert!(
            o.contains("No leak suspects across 4 snapshots"),
            "{format}: {o}"
        );
    }
}

#[test]
#[ignore = "needs the Go fixture: run scripts/test"]
fn analyze_url_once_fetches_the_cheap_proto_with_labels() {
    let fx = Fixture::start();
    fx.leak("cond", 30, "openai");
    let out = leakhound(&["analyze", &fx.url()]);
    let o = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{}", stderr(&out));
    assert!(
        o.contains("/debug/pprof/goroutine?debug=0: debug=0 (pprof proto)"),
        "{o}"
    );
    let row = o.lines().find(|l| l.contains("waitIdle")).unwrap();
    assert!(row.trim_start().starts_with("30 "), "{row}");
    assert!(o.contains("labels channel=openai, site=cond"), "{o}");
}

// ---------------------------------------------------------------------------------------------
// Issue 13: input caps, services that answer ?debug=0 with text, --samples failing fast.

/// Runs leakhound with `stdin`, killing it (and failing) if it has not ended after `limit`: a
/// hang detector for the cases that used to read forever, not a timing assertion.
fn leakhound_within(
    args: &[&str],
    stdin: Option<Vec<u8>>,
    limit: Duration,
) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // The writer may see a broken pipe once leakhound stops reading: that is the point.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("leakhound {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn issue13_analyze_stdin_is_capped_by_max_bytes() {
    let body = std::fs::read(data(D1)).unwrap();
    let out = leakhound_within(
        &["analyze", "-", "--max-bytes", "1000"],
        Some(body.clone()),
        Duration::from_secs(60),
    );
    // 3: no source could be analysed.
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stdin is larger than --max-bytes (1000 bytes)"),
        "{}",
        stderr(&out)
    );
    // Under the cap it reads.
    let cap = body.len().to_string();
    let out = leakhound_within(
        &["analyze", "-", "--max-bytes", &cap],
        Some(body),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn issue13_analyze_reads_devices_and_fifos_through_the_cap() {
    // /dev/zero never ends: it used to be read until the process ran out of memory.
    let out = leakhound_within(
        &["analyze", "/dev/zero", "--max-bytes", "1048576"],
        None,
        Duration::from_secs(60),
    );
    // 3: no source could be analysed.
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("'/dev/zero' is larger than --max-bytes (1048576 bytes)"),
        "{}",
        stderr(&out)
    );
    // A regular file over the cap is refused from its size, before it is read.
    let out = leakhound(&["analyze", &data(D2), "--max-bytes", "1000"]);
    // 3: no source could be analysed.
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is larger than --max-bytes (1000 bytes: it has 57449)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn issue13_analyze_url_reads_the_demo_simulators_text_profile() {
    // The demo's simulated service answers ?debug=0 with debug=1 text: `analyze URL` failed
    // with "invalid wire type value: 7".
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(leakhound::sim::Simulator::start(
            leakhound::sim::SimConfig::default(),
        ))
        .unwrap();
    let url = sim.url();
    let out = leakhound_within(&["analyze", &url], None, Duration::from_secs(60));
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(
        e.contains("/debug/pprof/goroutine?debug=0 answered with debug=1 text; read it as debug=1"),
        "{e}"
    );
    assert!(
        o.contains("/debug/pprof/goroutine?debug=0: debug=1, "),
        "{o}"
    );
    // Several samples: the same, and the later fetches ask for what the service serves.
    let out = leakhound_within(
        &["analyze", &url, "--samples", "2", "--interval", "10ms"],
        None,
        Duration::from_secs(60),
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    drop(sim);
}

/// A one-route-per-path HTTP server on a free port answering `routes` (path+query → body).
fn tiny_server(routes: Vec<(&'static str, Vec<u8>)>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match std::io::Read::read(&mut conn, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&req);
            let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, body) = match routes.iter().find(|(p, _)| *p == target) {
                Some((_, b)) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"404 page not found\n".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn issue13_analyze_url_falls_back_to_debug1_when_debug0_is_not_a_profile() {
    let url = tiny_server(vec![
        (
            "/debug/pprof/goroutine?debug=0",
            b"<html>pprof is elsewhere</html>".to_vec(),
        ),
        (
            "/debug/pprof/goroutine?debug=1",
            std::fs::read(data(D1)).unwrap(),
        ),
    ]);
    let out = leakhound_within(&["analyze", &url], None, Duration::from_secs(60));
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(e.contains("fetching debug=1 text instead"), "{e}");
    assert!(
        o.contains("/debug/pprof/goroutine?debug=1: debug=1, 113 goroutines"),
        "{o}"
    );
}

#[test]
fn issue13_samples_fail_fast_when_the_first_sample_fails() {
    // Nothing listens on port 1: with --interval 1h the old loop waited 2 h to say so.
    let out = leakhound_within(
        &[
            "analyze",
            "http://127.0.0.1:1",
            "--samples",
            "3",
            "--interval",
            "1h",
        ],
        None,
        Duration::from_secs(60),
    );
    let e = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{e}");
    assert!(
        e.contains("the first of 3 samples failed; not waiting for the others"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// The human-facing text, held in snapshots (`tests/it/snapshots/`, insta): a change to the
// tables' wording, columns, widths or order shows in review as a diff of the .snap file.
// `INSTA_UPDATE=always cargo test --workspace --test it snapshot` rewrites them (then review
// the diff); under CI=true a difference fails the test.

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../goroutine-dump/tests/data")
}

/// `leakhound ARGS` run in the dumps' directory, so that the snapshot lines name the bare file
/// names (a long path is cut to fit 100 columns, differently on every machine): exit code and
/// stdout.
fn in_data_dir(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(args)
        .current_dir(data_dir())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
    (out.status.code(), stdout(&out))
}

/// Snapshot `text` with what varies between runs filtered: the parse time of each dump.
fn assert_text_snapshot(name: &str, text: &str) {
    insta::with_settings!({
        filters => vec![(r"(?m) in \d+\.\d+ m?s$", " in [parse time]")],
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn snapshot_analyze_table_of_a_debug2_dump() {
    let (code, text) = in_data_dir(&["analyze", D2]);
    assert_eq!(code, Some(0), "{text}");
    assert_text_snapshot("analyze_debug2", &text);
}

#[test]
fn snapshot_analyze_labels_and_the_rest_line() {
    let (code, text) = in_data_dir(&["analyze", D1, "--top", "3"]);
    assert_eq!(code, Some(0), "{text}");
    assert_text_snapshot("analyze_debug1_top3", &text);
}

#[test]
fn snapshot_analyze_suspects_across_two_dumps() {
    // Go 1.26: the second dump was taken after the runtime's leak detection marked the drip.
    let (code, text) = in_data_dir(&[
        "analyze",
        "leaky-go1.26.debug2.txt",
        "leaky-go1.26.leaked.debug2.txt",
    ]);
    assert_eq!(code, Some(1), "a suspect: exit 1\n{text}");
    assert_text_snapshot("analyze_suspects", &text);
}

#[test]
fn snapshot_diff_table() {
    let (code, text) = in_data_dir(&["diff", "panic-in-container-log.txt", D2]);
    assert_eq!(code, Some(0), "{text}");
    assert_text_snapshot("diff", &text);
}
