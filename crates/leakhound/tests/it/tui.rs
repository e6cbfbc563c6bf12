//! `leakhound watch` in a real terminal: tmux runs it against the real Go fixture, and the
//! tests read the screen with `capture-pane` — the target row and its level word, the level
//! changing when the fixture leaks, the leaking function in the suspects pane after `d`, a
//! resize, and a terminal left sane (alternate screen off, cursor shown, cooked mode) after
//! q, Ctrl-C and SIGTERM.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{poll, Fixture};

/// A private tmux server (its own socket), killed on drop.
struct Tmux {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    fn start() -> Tmux {
        let dir = tempfile::Builder::new()
            .prefix("lh-tui-")
            .tempdir()
            .unwrap();
        Tmux {
            socket: dir.path().join("sock"),
            _dir: dir,
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-f")
            .arg("/dev/null")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux (apt-get install tmux)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A detached session `name` of `width`x`height` running `command` through sh.
    fn session(&self, name: &str, width: u16, height: u16, command: &str) {
        self.tmux(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        // Keep the pane when the command ends, so its last screen can still be read.
        self.tmux(&["set-option", "-t", name, "remain-on-exit", "on"]);
    }

    fn screen(&self, name: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", name])
    }

    /// Poll the screen (up to `secs`) until `ok` accepts it; return it.
    fn wait(&self, name: &str, secs: u64, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            poll(Duration::from_secs(secs), what, || {
                last = self.screen(name);
                ok(&last).then(|| last.clone())
            })
        }));
        match found {
            Ok(screen) => screen,
            Err(_) => panic!("timed out after {secs}s waiting for {what}; the screen:\n{last}"),
        }
    }

    fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// `alternate_on cursor_flag` of the pane, e.g. `1 0` while the view runs.
    fn modes(&self, name: &str) -> String {
        self.tmux(&[
            "display-message",
            "-p",
            "-t",
            name,
            "#{alternate_on} #{cursor_flag}",
        ])
        .trim()
        .to_string()
    }

    /// The pid of the program the pane's `sh` runs.
    fn child_pid(&self, name: &str) -> u32 {
        let sh: u32 = self
            .tmux(&["display-message", "-p", "-t", name, "#{pane_pid}"])
            .trim()
            .parse()
            .unwrap();
        let children = format!("/proc/{sh}/task/{sh}/children");
        poll(Duration::from_secs(10), "the watch process", || {
            std::fs::read_to_string(&children)
                .ok()
                .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// Low levels so that a small leak crosses the warning mark fast.
fn config(dir: &Path, fixture: &Fixture) -> PathBuf {
    let path = dir.join("leakhound.toml");
    std::fs::write(
        &path,
        format!(
            "[levels]\nwarning = 40\nurgent = 400\ncritical = 4000\n\n\
             [[targets]]\nname = \"leaky\"\nurl = \"{}\"\n",
            fixture.url()
        ),
    )
    .unwrap();
    path
}

/// `sh -c 'leakhound watch …; echo EXITED $?; echo MODE <stty flags>; sleep 60'`.
fn watch_command(config: &Path) -> String {
    format!(
        "sh -c '{} watch --config {} --interval 1s; echo EXITED $?; \
         echo MODE $(stty -a | tr \" ;\" \"\\n\\n\" | grep -x -e -icanon -e icanon -e -echo -e echo | tr \"\\n\" \" \"); \
         sleep 60'",
        env!("CARGO_BIN_EXE_leakhound"),
        config.display()
    )
}

/// The line of the target's row in the table (name, then its goroutine count).
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.split_whitespace()
            .skip_while(|w| *w != name)
            .nth(1)
            .is_some_and(|w| w.parse::<u64>().is_ok())
    })
}

fn row_has(screen: &str, name: &str, word: &str) -> bool {
    row(screen, name).is_some_and(|r| r.split_whitespace().any(|w| w == word))
}

/// After the view ends: exit status 0, the alternate screen left, the cursor shown, the tty
/// back in cooked mode with echo.
fn assert_sane(tmux: &Tmux, name: &str, how: &str) {
    let screen = tmux.wait(name, 20, &format!("the shell after {how}"), |s| {
        s.contains("EXITED") && s.contains("MODE")
    });
    assert!(screen.contains("EXITED 0"), "{how}: {screen}");
    assert!(
        screen.contains("MODE icanon echo"),
        "{how}: the tty was left in raw mode: {screen}"
    );
    assert!(
        !screen.contains("GOROUTINES"),
        "{how}: the view's table is still on the screen:\n{screen}"
    );
    assert_eq!(
        tmux.modes(name),
        "0 1",
        "{how}: alternate screen still on or cursor hidden"
    );
}

#[test]
#[ignore = "needs tmux and the Go fixture; scripts/test runs it"]
fn watch_shows_levels_suspects_survives_resize_and_quits_cleanly() {
    let fixture = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &fixture);
    let tmux = Tmux::start();
    tmux.session("main", 120, 40, &watch_command(&config));

    let screen = tmux.wait("main", 30, "the leaky row at level normal", |s| {
        row_has(s, "leaky", "normal")
    });
    assert!(
        screen.contains("GOROUTINES") && screen.contains("ALERT"),
        "{screen}"
    );
    assert_eq!(
        tmux.modes("main"),
        "1 0",
        "the view runs on the alternate screen"
    );
    // The baseline dump is taken on its own at the first sample.
    tmux.wait("main", 30, "the baseline dump", |s| {
        s.contains("suspects · 1 dump")
    });

    fixture.leak("chan", 80, "tui");
    let screen = tmux.wait("main", 30, "the level word to change to warning", |s| {
        row_has(s, "leaky", "warning")
    });
    assert!(!row_has(&screen, "leaky", "normal"), "{screen}");

    tmux.keys("main", &["d"]);
    let screen = tmux.wait(
        "main",
        30,
        "the leaking function in the suspects pane",
        |s| s.contains("leaks.(*Relay).waitReply"),
    );
    assert!(screen.contains("+80 (0→80)"), "{screen}");
    assert!(screen.contains("channel=tui"), "{screen}");

    // Smaller: still the row, nothing wider than the window.
    tmux.tmux(&["resize-window", "-t", "main", "-x", "60", "-y", "20"]);
    let screen = tmux.wait("main", 20, "a redraw at 60x20", |s| {
        row_has(s, "leaky", "warning") && s.lines().all(|l| l.chars().count() <= 60)
    });
    assert!(screen.lines().count() <= 20, "{screen}");
    // Tiny: a message instead of a panic; then back.
    tmux.tmux(&["resize-window", "-t", "main", "-x", "30", "-y", "6"]);
    tmux.wait("main", 20, "the too-small message", |s| {
        s.contains("too small")
    });
    tmux.tmux(&["resize-window", "-t", "main", "-x", "100", "-y", "30"]);
    tmux.wait("main", 20, "the row again at 100x30", |s| {
        row_has(s, "leaky", "warning")
    });

    // Help, then q.
    tmux.keys("main", &["?"]);
    tmux.wait("main", 20, "the help", |s| {
        s.contains("take a goroutine dump now")
    });
    tmux.keys("main", &["Escape"]);
    tmux.wait("main", 20, "the help to close", |s| {
        !s.contains("take a goroutine dump now")
    });
    tmux.keys("main", &["q"]);
    assert_sane(&tmux, "main", "q");
}

#[test]
#[ignore = "needs tmux and the Go fixture; scripts/test runs it"]
fn ctrl_c_and_sigterm_restore_the_terminal() {
    let fixture = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &fixture);
    let tmux = Tmux::start();
    for (name, how) in [("ctrlc", "Ctrl-C"), ("term", "SIGTERM")] {
        tmux.session(name, 100, 30, &watch_command(&config));
        tmux.wait(name, 30, "the leaky row", |s| row_has(s, "leaky", "normal"));
        if how == "Ctrl-C" {
            // Raw mode: Ctrl-C arrives as a key, not as SIGINT.
            tmux.keys(name, &["C-c"]);
        } else {
            let pid = tmux.child_pid(name);
            let status = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        assert_sane(&tmux, name, how);
    }
}

/// A running agent (`leakhound run`) with [web] on a free port and a token, watching the fixture.
fn agent_config(dir: &Path, fixture: &Fixture, port: u16) -> PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[agent]\ndatabase = \"{}\"\nflush_interval = \"100ms\"\n\n\
             [defaults]\ninterval = \"1s\"\ntimeout = \"900ms\"\njitter = \"0s\"\n\n\
             [levels]\nwarning = 40\nurgent = 400\ncritical = 4000\n\n\
             [web]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"tui-s3cret\"\n\n\
             [[targets]]\nname = \"leaky\"\nurl = \"{}\"\n",
            dir.join("agent.db").display(),
            fixture.url()
        ),
    )
    .unwrap();
    path
}

#[test]
#[ignore = "needs tmux and the Go fixture; scripts/test runs it"]
fn watch_reads_a_running_agent() {
    let fixture = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let config = agent_config(dir.path(), &fixture, port);
    let agent = support::Agent::start(&config, &dir.path().join("agent.log"));
    let url = format!("http://127.0.0.1:{port}");
    let up = std::panic::catch_unwind(|| {
        poll(Duration::from_secs(30), "the agent's HTTP API", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })
    });
    assert!(up.is_ok(), "the agent did not start:\n{}", agent.log_text());

    // Without the token: refused, with the fix and without the secret.
    let out = support::leakhound(&["watch", "--agent", &url, "--plain", "--count", "1"]);
    let err = support::stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("--token") && err.contains("LEAKHOUND_WEB_TOKEN"),
        "{err}"
    );
    assert!(!err.contains("tui-s3cret"), "{err}");

    // Plain lines from the agent's stored samples.
    let out = support::leakhound(&[
        "watch",
        "--agent",
        &url,
        "--token",
        "tui-s3cret",
        "--plain",
        "--count",
        "2",
        "--interval",
        "500ms",
    ]);
    let text = support::stdout(&out);
    assert!(out.status.success(), "{text}{}", support::stderr(&out));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" leaky Goroutines: "))
        .collect();
    assert!(lines.len() >= 2, "{text}");

    // The full-screen view from the agent, with the levels of its config file.
    let tmux = Tmux::start();
    let command = format!(
        "sh -c '{} watch --agent {url} --token tui-s3cret --config {} --interval 1s; echo EXITED $?; \
         echo MODE $(stty -a | tr \" ;\" \"\\n\\n\" | grep -x -e -icanon -e icanon -e -echo -e echo | tr \"\\n\" \" \"); \
         sleep 60'",
        env!("CARGO_BIN_EXE_leakhound"),
        config.display()
    );
    tmux.session("agent", 120, 40, &command);
    tmux.wait("agent", 30, "the leaky row from the agent", |s| {
        row_has(s, "leaky", "normal")
    });
    fixture.leak("select", 80, "agent");
    tmux.wait(
        "agent",
        30,
        "the level word from the agent to change",
        |s| row_has(s, "leaky", "warning"),
    );
    tmux.keys("agent", &["d"]);
    tmux.wait(
        "agent",
        20,
        "the hint that the agent takes the dumps",
        |s| s.contains("the agent takes leaky's dumps"),
    );
    // A bundle the agent's store records (here from `leakhound capture`) reaches the suspects
    // pane through the agent's dumps API, with the fixture's leaking call site.
    let out = support::leakhound(&["capture", "leaky", "-c", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", support::stderr(&out));
    tmux.wait(
        "agent",
        30,
        "the agent's bundle in the suspects pane",
        |s| {
            s.contains("The agent's newest bundle")
                && s.contains("80 leaks.(*StreamForwarder).awaitChunk")
                && s.contains("channel=agent")
        },
    );
    tmux.keys("agent", &["q"]);
    assert_sane(&tmux, "agent", "q (agent)");
    agent.stop();
}

#[test]
#[ignore = "needs tmux; scripts/test runs it"]
fn demo_shows_the_live_view_then_the_summary() {
    let tmux = Tmux::start();
    let command = format!(
        "sh -c '{} demo --duration 10s --leak-rate 400; echo EXITED $?; \
         echo MODE $(stty -a | tr \" ;\" \"\\n\\n\" | grep -x -e -icanon -e icanon -e -echo -e echo | tr \"\\n\" \" \"); \
         sleep 60'",
        env!("CARGO_BIN_EXE_leakhound")
    );
    tmux.session("demo", 120, 40, &command);
    let screen = tmux.wait("demo", 20, "both simulated services in the view", |s| {
        row(s, "(simulated)").is_some()
            && s.contains("one-api (simulated)")
            && s.contains("healthy (simulated)")
    });
    assert_eq!(tmux.modes("demo"), "1 0", "{screen}");
    // The dashboard's address, printed before the view, is in the view's header too.
    let header = screen
        .lines()
        .find(|l| l.starts_with("leakhound demo"))
        .unwrap_or_default();
    assert!(header.contains("dashboard http://127.0.0.1:"), "{screen}");
    // The leaking one climbs past the guide's warning mark (2000) within the demo.
    tmux.wait("demo", 20, "the leaking service at level warning", |s| {
        s.lines()
            .any(|l| l.contains("one-api (simulated)") && l.contains("warning"))
    });
    assert_sane(&tmux, "demo", "the demo's end");
    let screen = tmux.screen("demo");
    assert!(screen.contains("Where is it leaking?"), "{screen}");
    // Log lines held while the view ran come out after it, not over it.
    assert!(screen.contains("alert firing"), "{screen}");
}

#[test]
#[ignore = "needs tmux and the Go fixture; scripts/test runs it"]
fn a_panic_leaves_a_usable_terminal_and_a_readable_message() {
    let fixture = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &fixture);
    let tmux = Tmux::start();
    // Debug builds panic after N draws when asked to (see tui::run).
    let command = watch_command(&config).replacen(
        "sh -c '",
        "sh -c 'RUST_BACKTRACE=0 LEAKHOUND_TEST_PANIC_AFTER_DRAWS=3 ",
        1,
    );
    tmux.session("panic", 100, 30, &command);
    let screen = tmux.wait("panic", 30, "the shell after the panic", |s| {
        s.contains("EXITED") && s.contains("MODE")
    });
    assert!(screen.contains("EXITED 101"), "{screen}");
    assert!(
        screen.contains("test panic after drawing"),
        "the panic message is on the normal screen: {screen}"
    );
    assert!(screen.contains("MODE icanon echo"), "{screen}");
    assert!(!screen.contains("GOROUTINES"), "{screen}");
    assert_eq!(tmux.modes("panic"), "0 1");
}
