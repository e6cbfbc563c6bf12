//! `leakhound report` against stores built through the Store API: every number equals the same
//! number worked out here from the stored rows (read back through the store), and the chart and
//! HTML files are valid.

use crate::support;

use leakhound_core::config::Levels;
use leakhound_core::rules::{default_rules, RuleEngine};
use leakhound_core::Sample;
use leakhound_store::Store;
use std::path::{Path, PathBuf};
use support::{leakhound, now_ms, sample, stderr, stdout};

/// `days` of samples every 30 s ending a minute ago: a saw-tooth crossing every band, memory
/// from RSS (or only `sys` for every 7th sample), a down sample every 97th.
fn series(target: &str, days: i64, seed: i64) -> Vec<Sample> {
    series_until(target, days, seed, now_ms() - 60_000)
}

/// [`series`] ending at `end` (ms).
fn series_until(target: &str, days: i64, seed: i64, end: i64) -> Vec<Sample> {
    let n = days * 2880;
    (0..n)
        .map(|i| {
            let ts = end - (n - i) * 30_000 + seed;
            if i % 97 == 0 {
                return sample(target)
                    .at(ts)
                    .latency(5000.0)
                    .down("timed out")
                    .build();
            }
            let g = (200 + (i * 7919 + seed * 31) % 12_500) as u64;
            sample(target)
                .at(ts)
                .latency(2.0)
                .goroutines(g)
                .rss((i % 7 != 0).then_some((300 << 20) + g * 50_000))
                .sys(200 << 20)
                .build()
        })
        .collect()
}

fn build_store(dir: &Path, targets: &[(&str, i64)]) -> PathBuf {
    build_store_until(dir, targets, now_ms() - 60_000)
}

/// [`build_store`] with every series ending at `end` (ms).
fn build_store_until(dir: &Path, targets: &[(&str, i64)], end: i64) -> PathBuf {
    let path = dir.join("history.db");
    let mut store = Store::open(&path).unwrap();
    for (i, (name, days)) in targets.iter().enumerate() {
        let all = series_until(name, *days, i as i64 * 1000 + 7, end);
        for chunk in all.chunks(5000) {
            store.insert(chunk).unwrap();
        }
    }
    path
}

fn report_json(db: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["report", "--db", db.to_str().unwrap(), "--format", "json"];
    all.extend_from_slice(args);
    let out = leakhound(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// Memory as the report rates it: RSS, else the cgroup's, else `sys`, else `alloc`.
fn memory(s: &Sample) -> Option<u64> {
    let m = &s.metrics;
    m.rss_bytes
        .or(m.cgroup_memory_bytes)
        .or(m.sys_bytes)
        .or(m.alloc_bytes)
}

fn average(values: &[u64]) -> f64 {
    values.iter().sum::<u64>() as f64 / values.len() as f64
}

/// Compare one target's report with the same numbers worked out here from the stored rows.
fn assert_matches_rows(store: &Store, r: &serde_json::Value) {
    let target = r["target"].as_str().unwrap();
    let (since, until) = (
        r["since_ms"].as_i64().unwrap(),
        r["until_ms"].as_i64().unwrap(),
    );
    // Oldest first: everything before `until`, and the report's window of it.
    let all = store.samples(target, i64::MIN, until).unwrap();
    let window: Vec<&Sample> = all.iter().filter(|s| s.ts_ms >= since).collect();
    let g: Vec<u64> = window.iter().filter_map(|s| s.metrics.goroutines).collect();
    let (gmin, gmax) = (*g.iter().min().unwrap(), *g.iter().max().unwrap());
    let t = &r["totals"];
    assert_eq!(t["samples"], window.len(), "{target}: samples");
    assert_eq!(
        t["down"],
        window.iter().filter(|s| !s.up).count(),
        "{target}: down"
    );
    assert_eq!(t["goroutines"]["n"], g.len());
    assert_eq!(t["goroutines"]["min"], gmin);
    assert_eq!(t["goroutines"]["max"], gmax);
    assert!((r["goroutines_average"].as_f64().unwrap() - average(&g)).abs() < 1e-9);
    assert_eq!(r["peak"]["value"], gmax);
    assert_eq!(r["trough"]["value"], gmin);
    let peak = window.iter().find(|s| s.metrics.goroutines == Some(gmax));
    assert_eq!(r["peak"]["ts_ms"], peak.unwrap().ts_ms);

    let m: Vec<u64> = window.iter().filter_map(|s| memory(s)).collect();
    assert_eq!(t["memory"]["n"], m.len());
    assert_eq!(t["memory"]["min"], *m.iter().min().unwrap());
    assert_eq!(t["memory"]["max"], *m.iter().max().unwrap());
    let mavg = average(&m);
    assert!((r["memory_average_bytes"].as_f64().unwrap() - mavg).abs() / mavg < 1e-12);

    // The guide's bands: < 1000, 1000–2000, 2001–3000, 3001–5000, 5001–10000, > 10000.
    let bands: Vec<usize> = [
        0..=999,
        1000..=2000,
        2001..=3000,
        3001..=5000,
        5001..=10_000,
        10_001..=u64::MAX,
    ]
    .iter()
    .map(|band| g.iter().filter(|g| band.contains(g)).count())
    .collect();
    let got: Vec<usize> = r["distribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(got, bands, "{target}: distribution");
    assert!(
        bands.iter().all(|&b| b > 0),
        "the series crosses every band"
    );

    // The last 1000 and the last 100 (regardless of --since), and the newest sample.
    let newest: Vec<u64> = all
        .iter()
        .rev()
        .filter_map(|s| s.metrics.goroutines)
        .collect();
    let last1000 = &newest[..newest.len().min(1000)];
    assert_eq!(r["last_1000"]["samples"], last1000.len());
    assert!((r["last_1000"]["average"].as_f64().unwrap() - average(last1000)).abs() < 1e-9);
    let mut last100 = newest[..newest.len().min(100)].to_vec();
    last100.reverse();
    let got: Vec<u64> = r["last_100"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(got, last100);
    assert_eq!(r["sparkline"].as_str().unwrap().chars().count(), 100);
    let current = all.last().unwrap();
    assert_eq!(r["current"]["ts_ms"], current.ts_ms);
    assert_eq!(
        r["current"]["goroutines"].as_u64(),
        current.metrics.goroutines
    );
}

#[test]
fn report_values_equal_the_same_numbers_over_the_stored_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_store(dir.path(), &[("api-a", 3), ("api-b", 1)]);
    let store = Store::open_read_only(&db).unwrap();
    // Short (rows), long (rollups plus raw edges) and all-history ranges, one and all targets.
    for since in ["1h", "20h", "2d", "10d"] {
        let reports = report_json(&db, &["--since", since]);
        let reports = reports.as_array().unwrap();
        assert_eq!(reports.len(), 2, "{since}");
        for r in reports {
            assert_matches_rows(&store, r);
        }
    }
    let one = report_json(&db, &["api-a", "--since", "30h"]);
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_matches_rows(&store, &one[0]);
}

#[test]
fn text_report_names_every_part_of_the_guides_script() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_store(dir.path(), &[("api-a", 1)]);
    let out = leakhound(&["report", "--db", db.to_str().unwrap(), "--since", "2h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for part in [
        "api-a — last 2h",
        "current",
        "peak",
        "trough",
        "average",
        "last 1000   average",
        "trend",
        "distribution",
        "excellent",
        "> 10000",
        "last 100",
    ] {
        assert!(text.contains(part), "missing '{part}' in:\n{text}");
    }
    let unknown = leakhound(&["report", "nope", "--db", db.to_str().unwrap()]);
    assert_eq!(unknown.status.code(), Some(3));
    assert!(
        stderr(&unknown).contains("no target 'nope'") && stderr(&unknown).contains("api-a"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn png_svg_and_html_files_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let name = "api <b>&\"x\"";
    let db = build_store(dir.path(), &[(name, 2), ("plain", 1)]);
    // Alerts raised by the real rule engine on the last 20 samples, one of them renamed so its
    // text would break the HTML if it were not escaped.
    let recent: Vec<Sample> = series(name, 2, 7).split_off(5740);
    let mut engine = RuleEngine::new(default_rules(&Levels::default()));
    let mut events = Vec::new();
    for i in 0..recent.len() {
        events.extend(engine.evaluate(recent[i].ts_ms, name, &recent[..=i]));
    }
    assert!(!events.is_empty(), "the saw-tooth crosses 10000");
    events[0].rule = "<script>alert(1)</script>".into();
    // Recorded as the agent records them (no notifier channels: nothing is queued).
    let recorded: Vec<_> = events.iter().map(|t| (t.clone(), String::new())).collect();
    Store::open(&db)
        .unwrap()
        .record_alerts(&recorded, &[], 0, &[])
        .unwrap();
    let db_s = db.to_str().unwrap();

    let svg = dir.path().join("r.svg");
    let out = leakhound(&[
        "report",
        "--db",
        db_s,
        "--since",
        "2d",
        "--format",
        "svg",
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert!(
        doc.descendants()
            .filter(|n| n.has_tag_name("polyline")
                || n.has_tag_name("path")
                || n.has_tag_name("polygon"))
            .count()
            >= 4
    );
    // Chart text needs a TrueType font (scripts/test installs DejaVu); a machine with only Rust
    // gets the charts without labels and a warning saying so.
    if stderr(&out).contains("no TrueType font found") {
        assert!(
            stderr(&out).contains("fonts-dejavu-core"),
            "{}",
            stderr(&out)
        );
    } else {
        assert!(
            doc.descendants()
                .any(|n| n.text().is_some_and(|t| t.contains(name))),
            "the caption names the target"
        );
    }

    let png_path = dir.path().join("r.png");
    let out = leakhound(&[
        "report",
        "plain",
        "--db",
        db_s,
        "--format",
        "png",
        "--out",
        png_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&png_path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1000, 600));
    let pixels = &buf[..info.buffer_size()];
    let non_white = pixels.chunks(3).filter(|p| p != &[255, 255, 255]).count();
    assert!(
        non_white > 10_000,
        "the chart is drawn ({non_white} coloured pixels)"
    );
    let needs_out = leakhound(&["report", "--db", db_s, "--format", "png"]);
    assert!(
        stderr(&needs_out).contains("--format png needs --out"),
        "{}",
        stderr(&needs_out)
    );

    let html_path = dir.path().join("r.html");
    let out = leakhound(&[
        "report",
        "--db",
        db_s,
        "--since",
        "2d",
        "--format",
        "html",
        "--out",
        html_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        !html.contains("<script>"),
        "nothing from the data is live markup"
    );
    assert!(!html.contains("<b>&"), "the target name is escaped");
    assert!(html.contains("api &lt;b&gt;&amp;&quot;x&quot;"));
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the alert is listed, escaped"
    );
    assert!(html.contains(events[0].severity.name()));
    assert!(
        html.matches("<svg").count() == 2,
        "one inline chart per target"
    );
    assert!(html.contains("No evidence bundle for this target"));
    // The numbers of the JSON report are in the HTML.
    let json = report_json(&db, &["plain", "--since", "2d"]);
    let peak = json[0]["peak"]["value"].as_i64().unwrap();
    let samples = json[0]["totals"]["samples"].as_i64().unwrap();
    assert!(html.contains(&format!("<td>{peak} at ")), "peak {peak}");
    assert!(
        html.contains(&format!("<td>{samples} (")),
        "samples {samples}"
    );
}

/// 2024-03-02T00:00:00Z: where the snapshot's history ends, whatever day the test runs.
const FIXED_END_MS: i64 = 1_709_337_600_000;

/// The text report, held in a snapshot (`tests/it/snapshots/`, insta): a day of the saw-tooth
/// with fixed timestamps, read with a window long enough to hold all of it on any day until
/// 2124, times shown in UTC. The window's own ends (now) are the one thing filtered.
#[test]
fn snapshot_text_report_of_a_fixed_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_store_until(dir.path(), &[("api-a", 1)], FIXED_END_MS);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(["report", "--db", db.to_str().unwrap(), "--since", "36500d"])
        .current_dir(dir.path()) // no leakhound.toml: the guide's default levels
        .env("TZ", "UTC")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    insta::with_settings!({
        filters => vec![(
            r"last 36500d \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d → \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)",
            "last 36500d ([now − 36500d] → [now])",
        )],
        omit_expression => true,
    }, {
        insta::assert_snapshot!("report_text", stdout(&out));
    });
}
