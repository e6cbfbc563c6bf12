//! CLI tests that need nothing but Rust: the binary against the built-in simulator, bad
//! config files, bad databases. (Tests against the real Go fixture live in `fixture.rs`.)

use crate::support;

use leakhound::sim::{SimConfig, Simulator};
use std::path::Path;
use std::process::{Command, Output};
use support::leakhound;

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn sim_with(goroutines: u64) -> Simulator {
    Simulator::start(SimConfig {
        base_goroutines: goroutines,
        wobble: false,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// `check` prints the guide's state at each boundary of its table and exits 1 only above 5000.
#[tokio::test(flavor = "multi_thread")]
async fn check_states_and_exit_codes_at_every_boundary() {
    let cases = [
        (999, "excellent", 0),
        (1000, "good", 0),
        (2000, "good", 0),
        (3000, "notice", 0),
        (5000, "warning", 0),
        (5001, "alert", 1),
        (10000, "alert", 1),
        (10001, "danger", 1),
    ];
    for (count, state, code) in cases {
        let sim = sim_with(count).await;
        let url = sim.url();
        let out = tokio::task::spawn_blocking(move || leakhound(&["check", &url]))
            .await
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(code), "{count}: {stdout}{stderr}");
        assert!(
            stdout.contains(&format!("goroutines {count} ")) && stdout.contains(state),
            "{count}: {stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_json_and_fail_above() {
    let sim = sim_with(1234).await;
    let url = sim.url();
    let out = tokio::task::spawn_blocking(move || {
        (
            leakhound(&["check", "--json", &url]),
            leakhound(&["check", "--fail-above", "1000", &url]),
        )
    })
    .await
    .unwrap();
    assert_eq!(out.0.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.0.stdout).unwrap();
    assert_eq!(json[0]["goroutines"], 1234);
    assert_eq!(json[0]["state"], "good");
    assert_eq!(json[0]["source"], "health");
    assert_eq!(json[0]["up"], true);
    assert_eq!(
        json[0]["memory"]["alloc_mb"],
        (40 + 1234 * 8192 / (1 << 20))
    );
    assert_eq!(out.1.status.code(), Some(1));
}

#[test]
fn check_unreachable_target_exits_2_with_the_reason() {
    // Bind then drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = leakhound(&["check", &format!("127.0.0.1:{port}")]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains(&format!("connection refused by 127.0.0.1:{port}")),
        "{stdout}"
    );
}

#[test]
fn bad_target_spec_is_a_clear_error() {
    let out = leakhound(&["check", "ftp://example.com"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr.contains("'ftp://example.com' uses 'ftp'") && stderr.contains("http://"),
        "{stderr}"
    );
}

#[test]
fn config_check_reports_every_mistake_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[agent]\nlog_intervl = \"30s\"\n\n[defaults]\ninterval = \"fast\"\n\n[[targets]]\nurl = \"ftp://x\"\n\n[levels]\nwarning = 6000\n",
    )
    .unwrap();
    let out = leakhound(&["config", "check", path.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3));
    let shown = path.display().to_string();
    assert!(stderr.contains("4 mistakes"), "{stderr}");
    for expected in [
        format!("{shown}:2:1: agent.log_intervl: unknown key 'log_intervl'; did you mean 'log_interval'?"),
        format!("{shown}:5:12: defaults.interval: 'fast' is not a duration; write e.g. '30s', '5m' or '1h'"),
        format!("{shown}:8:7: targets[0].url: 'ftp://x' uses 'ftp'"),
        format!("{shown}:11:11: levels.warning: levels must rise: warning '6000' < urgent '5000'"),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn init_writes_a_config_that_checks_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leakhound.toml");
    let p = path.to_str().unwrap();
    assert_eq!(leakhound(&["init", p]).status.code(), Some(0));
    let out = leakhound(&["config", "check", p]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(text(&out).0.contains("OK, 1 target"));
    let again = leakhound(&["init", p]);
    assert_eq!(again.status.code(), Some(3));
    assert!(text(&again).1.contains("already exists; pass --force"));
}

fn config_file(dir: &Path, db: &Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "[agent]\ndatabase = \"{}\"\n[[targets]]\nname = \"sim\"\nurl = \"{url}\"\ninterval = \"100ms\"\ntimeout = \"100ms\"\njitter = \"0s\"\n",
            db.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn run_refuses_an_unwritable_database_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(
        dir.path(),
        Path::new("/nonexistent-dir/h.db"),
        "http://127.0.0.1:9",
    );
    let out = leakhound(&["run", "-c", cfg.to_str().unwrap(), "--duration", "1s"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr.contains("cannot open the database '/nonexistent-dir/h.db'")
            && stderr.contains("does not exist"),
        "{stderr}"
    );
}

#[test]
fn run_refuses_a_corrupted_database_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 4096));
    std::fs::write(&db, &bytes).unwrap();
    let cfg = config_file(dir.path(), &db, "http://127.0.0.1:9");
    let out = leakhound(&["run", "-c", cfg.to_str().unwrap(), "--duration", "1s"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr.contains("is not a leakhound database or is damaged"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), bytes);
}

/// Two runs on one database: the second adds to the first and loses nothing.
#[tokio::test(flavor = "multi_thread")]
async fn run_stores_samples_and_a_second_run_keeps_the_first() {
    let sim = sim_with(700).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let cfg = config_file(dir.path(), &db, &sim.url());
    let cfg_s = cfg.to_str().unwrap().to_string();
    let run = move || leakhound(&["run", "-c", &cfg_s, "--duration", "1s"]);
    let first = tokio::task::spawn_blocking(run.clone()).await.unwrap();
    assert_eq!(first.status.code(), Some(0), "{:?}", text(&first));
    let store = leakhound_store::Store::open_read_only(&db).unwrap();
    let after_first = store.count(Some("sim")).unwrap();
    assert!(after_first >= 3, "{after_first}");
    drop(store);
    let second = tokio::task::spawn_blocking(run).await.unwrap();
    assert_eq!(second.status.code(), Some(0));
    let store = leakhound_store::Store::open_read_only(&db).unwrap();
    let samples = store.samples("sim", 0, i64::MAX).unwrap();
    assert!(samples.len() as u64 >= after_first + 3);
    assert!(samples
        .iter()
        .all(|s| s.up && s.metrics.goroutines == Some(700)));
}

#[test]
fn demo_runs_the_whole_pipeline() {
    let out = leakhound(&["demo", "--duration", "3s", "--plain"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("SIMULATED Go services"), "{stdout}");
    assert!(
        stdout.contains("one-api (simulated) Goroutines: "),
        "{stdout}"
    );
    assert!(stdout.contains("What the history says"), "{stdout}");
    // It ends by naming the leaking call site and its pprof label.
    assert!(stdout.contains("Where is it leaking?"), "{stdout}");
    assert!(
        stdout.contains("relay.(*UpstreamClient).readResponse")
            && stdout.contains("channel=openai"),
        "{stdout}"
    );
}

/// The demo serves the dashboard while it runs: the page and the API answer, with both
/// simulated targets.
#[test]
fn demo_serves_the_dashboard_while_it_runs() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(["demo", "--duration", "20s", "--plain"])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .take(20)
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("Dashboard: ")
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string)
        })
        .expect("the demo prints the dashboard's address");
    let client = reqwest::blocking::Client::new();
    let page = client.get(&url).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("<html"));
    let targets: serde_json::Value = support::poll(
        std::time::Duration::from_secs(15),
        "both simulated targets in /api/targets",
        || {
            let v: serde_json::Value = client
                .get(format!("{url}api/targets"))
                .send()
                .ok()?
                .json()
                .ok()?;
            (v.as_array()?.len() == 2).then_some(v)
        },
    );
    let text = targets.to_string();
    assert!(
        text.contains("one-api (simulated)") && text.contains("healthy (simulated)"),
        "{text}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_plain_prints_one_line_per_sample() {
    let sim = sim_with(856).await;
    let url = sim.url();
    let out = tokio::task::spawn_blocking(move || {
        leakhound(&[
            "watch",
            "--plain",
            "--interval",
            "200ms",
            "--count",
            "3",
            &url,
        ])
    })
    .await
    .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines
            .iter()
            .all(|l| l.ends_with("Goroutines: 856, Memory: 109MB (health excellent)")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_a_bare_url_needs_no_config() {
    let sim = sim_with(321).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bare.db");
    let (url, db_s) = (sim.url(), db.to_str().unwrap().to_string());
    let out = tokio::task::spawn_blocking(move || {
        leakhound(&[
            "run",
            &url,
            "--interval",
            "100ms",
            "--duration",
            "1s",
            "--db",
            &db_s,
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let store = leakhound_store::Store::open_read_only(&db).unwrap();
    let targets = store.targets().unwrap();
    assert_eq!(targets.len(), 1);
    let samples = store.samples(&targets[0], 0, i64::MAX).unwrap();
    assert!(samples.len() >= 3 && samples.iter().all(|s| s.metrics.goroutines == Some(321)));
}

#[test]
fn silences_are_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let db = db.to_str().unwrap();
    let out = leakhound(&[
        "silence",
        "add",
        "--db",
        db,
        "--target",
        "one-api",
        "--rule",
        "goroutines_*",
        "--for",
        "2h",
        "--comment",
        "deploying",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let id = text(&out).0.split_whitespace().nth(1).unwrap().to_string();
    let listed = text(&leakhound(&["silence", "list", "--db", db])).0;
    assert!(
        listed.contains(&id)
            && listed.contains("active")
            && listed.contains("target=one-api rule=goroutines_*  deploying"),
        "{listed}"
    );
    assert_eq!(
        leakhound(&["silence", "rm", "--db", db, &id]).status.code(),
        Some(0)
    );
    assert_eq!(
        text(&leakhound(&["silence", "list", "--db", db])).0.trim(),
        "no silences"
    );
    let again = leakhound(&["silence", "rm", "--db", db, &id]);
    assert_eq!(again.status.code(), Some(3));
    assert!(text(&again)
        .1
        .contains(&format!("no silence with id '{id}'")));
    let none = leakhound(&["silence", "add", "--db", db]);
    assert!(text(&none).1.contains("needs --target and/or --rule"));
}

/// Issue 13: a one-shot command whose reader is gone (`leakhound export grafana | head -c 10`)
/// ends as Unix tools do (SIGPIPE), not with a "failed printing to stdout" panic and exit 101.
#[test]
fn a_closed_stdout_ends_a_one_shot_command_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // the reader is gone before the first byte is written
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(["export", "grafana"])
        .current_dir(dir.path())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    const SIGPIPE: i32 = 13; // Linux
    assert_eq!(
        out.status.signal(),
        Some(SIGPIPE),
        "{:?}: {stderr}",
        out.status
    );
}

/// `[agent] shard`: three agents with one target list store every target exactly once between
/// them (issue 15); `config check` names the share; a share with no target says so.
#[test]
fn three_shards_split_the_targets_with_no_overlap_and_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..12).map(|i| format!("svc-{i}")).collect();
    let config = |k: u32, names: &[String]| {
        let db = dir.path().join(format!("shard-{k}-{}.db", names.len()));
        let mut text = format!(
            "[agent]\ndatabase = \"{}\"\nshard = \"{k}/3\"\n\n[web]\nenabled = false\n\n[defaults]\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
            db.display()
        );
        for name in names {
            // Nothing listens there: every probe is a stored "down" sample.
            text.push_str(&format!(
                "\n[[targets]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:9/\"\n"
            ));
        }
        let path = dir.path().join(format!("shard-{k}-{}.toml", names.len()));
        std::fs::write(&path, text).unwrap();
        (path, db)
    };
    let runs: Vec<_> = (1..=3)
        .map(|k| {
            let (cfg, db) = config(k, &names);
            let check = leakhound(&["config", "check", cfg.to_str().unwrap()]);
            let (stdout, _) = text(&check);
            assert!(
                stdout.contains(&format!("shard {k}/3: this agent watches")),
                "{stdout}"
            );
            let cfg = cfg.to_str().unwrap().to_string();
            (
                db,
                std::thread::spawn(move || leakhound(&["run", "-c", &cfg, "--duration", "2s"])),
            )
        })
        .collect();
    let mut seen: Vec<String> = Vec::new();
    for (db, run) in runs {
        let out = run.join().unwrap();
        assert!(out.status.success(), "{:?}", text(&out));
        let stored = support::read_store(&db).unwrap().targets().unwrap();
        assert!(!stored.is_empty(), "{} stored no target", db.display());
        seen.extend(stored);
    }
    seen.sort();
    let mut all = names.clone();
    all.sort();
    assert_eq!(seen, all, "every target in exactly one store");

    // One target, three shares: two of them own nothing and say so.
    let lonely = vec!["only-one".to_string()];
    let refused: Vec<String> = (1..=3)
        .filter_map(|k| {
            let (cfg, _) = config(k, &lonely);
            let out = leakhound(&["run", "-c", cfg.to_str().unwrap(), "--duration", "1s"]);
            (!out.status.success()).then(|| text(&out).1)
        })
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    for stderr in refused {
        assert!(
            stderr.contains("owns none of the 1 targets; use fewer shards"),
            "{stderr}"
        );
    }
}
