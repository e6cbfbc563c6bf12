//! Remediation end to end (issue 6): the real `leakhound run` against the real Go fixture,
//! supervised by `tests/fixtures/restart-fixture.sh` (the *argv* an action runs — leakhound
//! never runs a shell itself), notifying a local webhook receiver. The store is read through
//! `leakhound actions list --json` and the store's read API.
//! Run by `scripts/test` (`--include-ignored`, `LEAKHOUND_FIXTURE` set; the container test
//! also needs `scripts/docker-peer`).

use crate::support;

use leakhound_store::Bundle;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{fixture_binary, free_port, leakhound, poll, stdout, Agent, Hook, PeerSlot};

const LEAK_FUNCTION: &str = "leaky/internal/leaks.(*Relay).waitReply";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/restart-fixture.sh")
}

/// The fixture run by the supervisor script on a fixed address, killed (by its PID file) on drop.
struct Supervised {
    dir: PathBuf,
    addr: String,
    client: reqwest::blocking::Client,
    _slot: PeerSlot,
}

impl Supervised {
    fn start(dir: &Path) -> Supervised {
        let slot = PeerSlot::take();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("bin"), fixture_binary()).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        std::fs::write(dir.join("addr"), &addr).unwrap();
        let out = Command::new(script()).arg(dir).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let s = Supervised {
            dir: dir.to_path_buf(),
            addr,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            _slot: slot,
        };
        poll(Duration::from_secs(10), "the fixture", || {
            s.try_goroutines()
        });
        s
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn pid(&self) -> String {
        std::fs::read_to_string(self.dir.join("pid"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// Starts so far, the first included.
    fn starts(&self) -> usize {
        std::fs::read_to_string(self.dir.join("restarts.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    fn try_goroutines(&self) -> Option<u64> {
        let v: Value = self
            .client
            .get(format!("{}/control/state", self.url()))
            .send()
            .ok()?
            .json()
            .ok()?;
        v["goroutines"].as_u64()
    }

    fn leak(&self, n: u64) {
        let resp = self
            .client
            .post(format!(
                "{}/control/leak?site=chan&n={n}&label=remediation",
                self.url()
            ))
            .send()
            .unwrap();
        assert!(resp.status().is_success());
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }
}

struct Setup {
    dir: PathBuf,
    db: PathBuf,
    config: PathBuf,
}

/// A config for one fixture target probed every 300 ms: L3 (`goroutines_critical`) above 300,
/// no `for` on the level rules (the test is about actions, not alert timing), trend rules off.
fn setup(tmp: &Path, fx: &Supervised, hook: &Hook, actions: &str) -> Setup {
    let db = tmp.join("lh.db");
    let config = tmp.join("leakhound.toml");
    let text = format!(
        r#"[agent]
database = "{db}"
flush_interval = "200ms"

[web]
enabled = false

[levels]
warning = 100
urgent = 200
critical = 300

[alerts.rules.goroutines_warning]
enabled = false
[alerts.rules.goroutines_urgent]
enabled = false
[alerts.rules.goroutines_critical]
for = "0s"
[alerts.rules.goroutines_growth]
enabled = false
[alerts.rules.memory_growth]
enabled = false

[evidence]
dir = "evidence"
min_interval = "1s"

[[targets]]
name = "leaky"
url = "{url}"
interval = "300ms"
timeout = "300ms"
jitter = "0s"

[[notifiers]]
name = "hook"
type = "webhook"
url = "{hook}"

{actions}
"#,
        db = db.display(),
        url = fx.url(),
        hook = hook.url(),
    );
    std::fs::write(&config, text).unwrap();
    let check = leakhound(&["config", "check", config.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");
    Setup {
        dir: tmp.to_path_buf(),
        db,
        config,
    }
}

/// Until the agent stored a few samples of the quiet service (so the leak is a rise).
fn wait_for_samples(db: &Path) {
    poll(Duration::from_secs(30), "the first samples", || {
        let stored = support::read_store(db).map_or(0, |s| s.count(None).unwrap_or(0));
        (stored >= 2).then_some(())
    });
}

fn runs(db: &Path) -> Vec<Value> {
    let out = leakhound(&["actions", "list", "--json", "--db", db.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// The recorded evidence bundles, oldest first.
fn bundles(db: &Path) -> Vec<Bundle> {
    let store = support::read_store(db).expect("the agent's database");
    let mut all = store.bundles(None, usize::MAX).unwrap();
    all.sort_by_key(|b| b.id);
    all
}

fn restart_action(s_dir: &Path, fx: &Supervised, extra: &str) -> String {
    format!(
        r#"[[actions]]
name = "restart"
target = "leaky"
kind = "command"
argv = ["{script}", "{fx}", "; touch {pwn}/pwned", "$(touch {pwn}/pwned2)", "`touch {pwn}/pwned3`"]
on = "goroutines_critical"
for = "0s"
recover_below = 50
{extra}
"#,
        script = script().display(),
        fx = fx.dir.display(),
        pwn = s_dir.display(),
    )
}

#[test]
#[ignore = "needs the Go fixture (LEAKHOUND_FIXTURE); scripts/test runs it"]
fn the_guides_l3_restart_runs_once_after_the_evidence_and_recovery_is_notified() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Supervised::start(&tmp.path().join("fx"));
    let first_pid = fx.pid();
    let hook = Hook::start();
    let actions = restart_action(
        tmp.path(),
        &fx,
        "cooldown = \"10s\"\ntimeout = \"10s\"\nmax_runs = 3\nwindow = \"1h\"\nrecover_within = \"20s\"",
    );
    let s = setup(tmp.path(), &fx, &hook, &actions);
    let agent = Agent::start(&s.config, &s.dir.join("agent.log"));
    wait_for_samples(&s.db);
    fx.leak(500);

    // The restart happens, then recovery is notified.
    poll(Duration::from_secs(60), "the restart", || {
        (fx.starts() >= 2).then_some(())
    });
    let recovered = poll(Duration::from_secs(60), "the recovered message", || {
        hook.events("recovered").into_iter().next()
    });
    assert_ne!(fx.pid(), first_pid);

    // Exactly one run, recorded with its evidence, before and after.
    let all = runs(&s.db);
    assert_eq!(all.len(), 1, "{all:#?}");
    let run = &all[0];
    assert_eq!(run["outcome"], "recovered", "{run:#}");
    assert_eq!(run["exit_code"], 0);
    assert_eq!(run["dry_run"], false);
    assert!(run["before_goroutines"].as_u64().unwrap() > 300, "{run:#}");
    assert!(run["after_goroutines"].as_u64().unwrap() < 50, "{run:#}");
    assert!(
        run["output_tail"]
            .as_str()
            .unwrap()
            .contains("fixture running as PID"),
        "{run:#}"
    );
    // The argv reached the script literally: no shell expanded anything.
    let args = std::fs::read_to_string(fx.dir.join("args")).unwrap();
    let want = format!(
        "; touch {p}/pwned\n$(touch {p}/pwned2)\n`touch {p}/pwned3`\n",
        p = tmp.path().display()
    );
    assert_eq!(args, want);
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(!tmp.path().join(f).exists(), "{f} exists: a shell ran");
    }

    // The bundle of the run was written before the restart: it holds the leak (> 300
    // goroutines; the restarted fixture has ~8) and names the leak's function first.
    let bundle_id = run["bundle_id"].as_i64().expect("the run names its bundle");
    let all_bundles = bundles(&s.db);
    let bundle = all_bundles
        .iter()
        .find(|b| b.id == bundle_id)
        .expect("the run's bundle is recorded");
    assert_eq!(bundle.trigger, "action:restart");
    assert!(bundle.goroutines.unwrap() > 300, "{bundle:#?}");
    assert!(bundle.at_ms <= run["started_ms"].as_i64().unwrap());
    let suspects = &bundle.suspects;
    assert_eq!(suspects[0].function, LEAK_FUNCTION, "{suspects:#?}");
    let dir = bundle.dir.clone();
    assert!(
        dir.starts_with(tmp.path().join("evidence").join("leaky")),
        "{dir:?}"
    );
    for f in [
        "goroutine.txt",
        "heap.pb.gz",
        "sample.json",
        "samples.json",
        "manifest.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing in {dir:?}");
    }
    let profile = std::fs::read_to_string(dir.join("goroutine.txt")).unwrap();
    assert!(profile.contains("(*Relay).waitReply"));
    // The alert itself also got a bundle (the first of the incident), announced as a follow-up.
    assert!(all_bundles
        .iter()
        .any(|b| b.trigger == "alert:goroutines_critical" && b.first_of_incident));
    let captured = poll(Duration::from_secs(10), "the evidence message", || {
        hook.events("evidence_captured").into_iter().next()
    });
    assert!(captured["suspects"][0]
        .as_str()
        .unwrap()
        .starts_with(LEAK_FUNCTION));

    // The notifications carry before/after, the bundle and the suspects.
    let ran = hook.events("action_ran");
    assert_eq!(ran.len(), 1, "{ran:#?}");
    assert_eq!(recovered["labels"]["bundle"], dir.display().to_string());
    assert!(
        recovered["labels"]["before_goroutines"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 300
    );
    assert!(
        recovered["labels"]["after_goroutines"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            < 50
    );
    assert!(
        recovered["suspects"][0]
            .as_str()
            .unwrap()
            .starts_with(LEAK_FUNCTION),
        "{recovered:#}"
    );
    let evidence = recovered["evidence"].to_string();
    assert!(
        evidence.contains("goroutines before:") && evidence.contains("goroutines after:"),
        "{evidence}"
    );
    assert!(hook.events("needs_human").is_empty());

    // `leakhound actions list` for people.
    let out = leakhound(&["actions", "list", "--db", s.db.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(text.contains("leaky restart → recovered"), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
    agent.stop();
    assert_eq!(fx.starts(), 2, "exactly one restart");
}

#[test]
#[ignore = "needs the Go fixture (LEAKHOUND_FIXTURE); scripts/test runs it"]
fn the_storm_guard_stops_after_max_runs_and_calls_a_human_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Arc::new(Supervised::start(&tmp.path().join("fx")));
    let hook = Hook::start();
    let actions = restart_action(
        tmp.path(),
        &fx,
        "cooldown = \"1s\"\nmax_runs = 2\nwindow = \"1h\"\nrecover_within = \"2s\"\ntimeout = \"1s\"",
    );
    let s = setup(tmp.path(), &fx, &hook, &actions);
    let agent = Agent::start(&s.config, &s.dir.join("agent.log"));
    // The service leaks again right after every restart.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let leaker = {
        let (fx, stop) = (fx.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut leaked_pid = String::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let pid = fx.pid();
                if pid != leaked_pid && fx.try_goroutines().is_some() {
                    fx.leak(500);
                    leaked_pid = pid;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let human = poll(Duration::from_secs(90), "the needs-a-human message", || {
        hook.events("needs_human").into_iter().next()
    });
    // Well past the cooldown and the recovery deadline: nothing more happens.
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    leaker.join().unwrap();
    agent.stop();

    assert_eq!(fx.starts(), 3, "the first start and exactly 2 restarts");
    assert_eq!(hook.events("needs_human").len(), 1);
    assert_eq!(human["level"], "critical");
    assert!(
        human["evidence"][0]
            .as_str()
            .unwrap()
            .contains("ran 2 times within 1h"),
        "{human:#}"
    );
    let all = runs(&s.db);
    let outcomes: Vec<&str> = all.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "needs_human").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    // Every restart had its bundle first.
    for r in all.iter().filter(|r| r["outcome"] != "needs_human") {
        assert!(r["bundle_id"].as_i64().is_some(), "{r:#}");
        assert!(r["before_goroutines"].as_u64().unwrap() > 300, "{r:#}");
    }
}

#[test]
#[ignore = "needs the Go fixture (LEAKHOUND_FIXTURE); scripts/test runs it"]
fn a_dry_run_records_what_would_run_and_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Supervised::start(&tmp.path().join("fx"));
    let pid = fx.pid();
    let hook = Hook::start();
    let actions = restart_action(tmp.path(), &fx, "cooldown = \"10s\"\ntimeout = \"10s\"");
    let s = setup(tmp.path(), &fx, &hook, &actions);
    let agent = Agent::start_with(&s.config, &s.dir.join("agent.log"), &["--dry-run"]);
    wait_for_samples(&s.db);
    fx.leak(500);
    let msg = poll(Duration::from_secs(30), "the dry-run message", || {
        hook.events("dry_run").into_iter().next()
    });
    agent.stop();
    assert_eq!(fx.starts(), 1, "nothing ran");
    assert_eq!(fx.pid(), pid);
    assert!(!fx.dir.join("args").exists(), "the script never ran");
    let all = runs(&s.db);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["outcome"], "dry_run");
    assert_eq!(all[0]["dry_run"], true);
    let command = all[0]["command"].as_str().unwrap();
    assert!(
        command.contains("restart-fixture.sh") && command.contains("; touch"),
        "{command}"
    );
    assert!(
        all[0]["bundle_id"].as_i64().is_some(),
        "the evidence is still captured"
    );
    assert!(msg["evidence"][0]
        .as_str()
        .unwrap()
        .starts_with("dry run: would have run 'restart'"));
    assert!(
        fx.try_goroutines().unwrap() > 300,
        "the leak is still there"
    );
}

#[test]
#[ignore = "needs the Go fixture (LEAKHOUND_FIXTURE); scripts/test runs it"]
fn failing_and_hanging_commands_are_recorded_and_escalated() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Supervised::start(&tmp.path().join("fx"));
    let hook = Hook::start();
    let child_pid = tmp.path().join("hang.pid");
    let actions = format!(
        r#"[[actions]]
name = "hang"
kind = "command"
argv = ["/bin/sh", "-c", "sleep 1000 & echo $! > {child}; wait"]
on = "goroutines_critical"
timeout = "1s"
cooldown = "1h"
window = "24h"
recover_below = 50

[[actions]]
name = "fail"
kind = "command"
argv = ["/bin/sh", "-c", "echo cannot restart: permission denied >&2; exit 4"]
on = "goroutines_critical"
cooldown = "1h"
window = "24h"
recover_below = 50
"#,
        child = child_pid.display()
    );
    let s = setup(tmp.path(), &fx, &hook, &actions);
    let agent = Agent::start(&s.config, &s.dir.join("agent.log"));
    wait_for_samples(&s.db);
    fx.leak(500);
    let failed = poll(Duration::from_secs(30), "two failure messages", || {
        let f = hook.events("action_failed");
        (f.len() == 2).then_some(f)
    });
    agent.stop();
    let all = runs(&s.db);
    assert_eq!(all.len(), 2, "{all:#?}");
    let by = |name: &str| all.iter().find(|r| r["action"] == name).unwrap().clone();
    let hang = by("hang");
    assert_eq!(hang["outcome"], "failed");
    assert!(
        hang["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 1s"),
        "{hang:#}"
    );
    let took = hang["duration_ms"].as_i64().unwrap();
    assert!((1000..6000).contains(&took), "{took}");
    let sleep_pid = std::fs::read_to_string(&child_pid)
        .unwrap()
        .trim()
        .to_string();
    let state = std::fs::read_to_string(format!("/proc/{sleep_pid}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.split(' ').nth(2) == Some("Z"),
        "the sleep survived: {state}"
    );
    let fail = by("fail");
    assert_eq!(fail["outcome"], "failed");
    assert_eq!(fail["exit_code"], 4);
    assert!(fail["output_tail"]
        .as_str()
        .unwrap()
        .contains("permission denied"));
    for m in &failed {
        assert_eq!(m["level"], "critical");
        assert!(m["labels"]["bundle"].as_str().is_some(), "{m:#}");
    }
    assert!(failed
        .iter()
        .any(|m| m["evidence"].to_string().contains("exited with status 4")));
}

#[test]
#[ignore = "needs the Go fixture (LEAKHOUND_FIXTURE); scripts/test runs it"]
fn many_bundles_stay_within_the_disk_budget_and_the_store_matches_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Supervised::start(&tmp.path().join("fx"));
    fx.leak(10_000); // a debug=2 dump of ~10k goroutines is a few MB
    let db = tmp.path().join("lh.db");
    let config = tmp.path().join("leakhound.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\ndatabase = \"{}\"\n[evidence]\ndir = \"ev\"\ndebug2 = true\nmax_total_bytes = \"8MB\"\n[[targets]]\nname = \"leaky\"\nurl = \"{}\"\n",
            db.display(),
            fx.url()
        ),
    )
    .unwrap();
    let started = Instant::now();
    for i in 0..8 {
        let out = leakhound(&["capture", "leaky", "-c", config.to_str().unwrap()]);
        assert!(out.status.success(), "capture {i}: {out:?}");
        let text = stdout(&out);
        assert!(text.contains(LEAK_FUNCTION), "{text}");
    }
    eprintln!("8 captures took {:?}", started.elapsed());
    let rows = bundles(&db);
    let recorded: u64 = rows.iter().map(|b| b.bytes).sum();
    assert!(recorded <= 8 << 20, "{recorded} bytes recorded");
    assert!(
        rows.len() >= 2 && rows.len() < 8,
        "{} bundles left",
        rows.len()
    );
    // The first bundle of the (manual) incident is kept, and so is the newest.
    assert!(rows[0].first_of_incident);
    assert_eq!(rows[0].id, 1);
    assert_eq!(rows.last().unwrap().id, 8);
    // Rows and directories match one to one, and the recorded sizes are the sizes on disk.
    let root = tmp.path().join("ev").join("leaky");
    let mut on_disk: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    on_disk.sort();
    let mut in_store: Vec<PathBuf> = rows.iter().map(|b| b.dir.clone()).collect();
    in_store.sort();
    assert_eq!(on_disk, in_store);
    let disk_bytes: u64 = on_disk
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|f| f.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(disk_bytes, recorded);
    assert!(on_disk[0].join("goroutine-debug2.txt").is_file());
}

#[test]
#[ignore = "needs dockerd and the fixture image (scripts/docker-peer); scripts/test runs it"]
fn the_container_action_restarts_the_container_once_after_the_evidence() {
    let (host, image) = support::require_docker_env();
    let container = support::DockerContainer::run(&host, &image, "remediation");
    let started_before = container.inspect("{{.State.StartedAt}}");
    let tmp = tempfile::tempdir().unwrap();
    let hook = Hook::start();
    // `setup` wants a supervised fixture for its URL; point it at the container instead.
    let fake = Supervised {
        dir: tmp.path().join("none"),
        addr: container.addr.clone(),
        client: reqwest::blocking::Client::new(),
        _slot: PeerSlot::take(),
    };
    let actions = format!(
        r#"[[actions]]
name = "restart"
kind = "container"
container = "{name}"
docker_host = "{host}"
on = "goroutines_critical"
timeout = "20s"
cooldown = "1h"
window = "24h"
recover_below = 50
recover_within = "60s"
"#,
        name = container.name
    );
    let s = setup(tmp.path(), &fake, &hook, &actions);
    drop(fake); // its PID file does not exist: nothing to kill
    let agent = Agent::start(&s.config, &s.dir.join("agent.log"));
    wait_for_samples(&s.db);
    container.control("/control/leak?site=chan&n=500&label=container");
    let recovered = poll(Duration::from_secs(90), "the recovered message", || {
        hook.events("recovered").into_iter().next()
    });
    std::thread::sleep(Duration::from_secs(2));
    agent.stop();
    assert_ne!(container.inspect("{{.State.StartedAt}}"), started_before);
    assert_eq!(container.inspect("{{.State.Running}}"), "true");
    let all = runs(&s.db);
    assert_eq!(all.len(), 1, "exactly one restart: {all:#?}");
    assert_eq!(all[0]["kind"], "container");
    assert_eq!(all[0]["outcome"], "recovered");
    let bundle_id = all[0]["bundle_id"].as_i64().unwrap();
    let bundle = bundles(&s.db)
        .into_iter()
        .find(|b| b.id == bundle_id)
        .unwrap();
    assert!(
        bundle.goroutines.unwrap() > 300,
        "taken before the restart: {bundle:#?}"
    );
    assert!(recovered["suspects"][0]
        .as_str()
        .unwrap()
        .starts_with(LEAK_FUNCTION));
}
