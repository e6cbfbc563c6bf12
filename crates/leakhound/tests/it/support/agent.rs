//! The agent under test: `leakhound [--log-format json] [--debug] run -c CONFIG [ARGS…]` as a
//! child process, killed (SIGKILL) on drop. `stop` is the clean way (SIGTERM, exit 0).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::peers::PeerSlot;
use super::{poll, Progress};

/// Where the agent's output goes.
#[derive(Debug, Clone)]
enum Output {
    /// stdout and stderr appended to a file (the default: `agent.log` beside the config).
    File(PathBuf),
    /// stderr piped for the test to read ([`Agent::take_stderr`]), stdout to /dev/null.
    PipedStderr,
}

/// How to start an agent: [`agent`]`(config)…start()`.
#[must_use]
pub struct AgentBuilder {
    config: PathBuf,
    output: Output,
    json: bool,
    debug: bool,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

/// An agent on `config`, its output in `agent.log` beside it, text log lines, `RUST_LOG` unset.
pub fn agent(config: &Path) -> AgentBuilder {
    let log = config.with_file_name("agent.log");
    AgentBuilder {
        config: config.to_path_buf(),
        output: Output::File(log),
        json: false,
        debug: false,
        args: Vec::new(),
        env: Vec::new(),
    }
}

impl AgentBuilder {
    /// Append stdout and stderr to `log` instead.
    pub fn log(mut self, log: &Path) -> Self {
        self.output = Output::File(log.to_path_buf());
        self
    }

    /// Pipe stderr for the test to read ([`Agent::take_stderr`]); stdout goes to /dev/null.
    pub fn pipe_stderr(mut self) -> Self {
        self.output = Output::PipedStderr;
        self
    }

    /// `--log-format json`.
    pub fn json(mut self) -> Self {
        self.json = true;
        self
    }

    /// `--debug`.
    pub fn debug(mut self) -> Self {
        self.debug = true;
        self
    }

    /// More arguments after `run -c CONFIG` (e.g. `--dry-run`).
    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: &[S]) -> Self {
        self.args
            .extend(args.iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// An environment variable for the agent (`RUST_LOG` too: it is unset otherwise).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn start(self) -> Agent {
        let slot = PeerSlot::take();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_leakhound"));
        if self.json {
            cmd.args(["--log-format", "json"]);
        }
        if self.debug {
            cmd.arg("--debug");
        }
        cmd.args(["run", "-c"])
            .arg(&self.config)
            .args(&self.args)
            .env_remove("RUST_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        let log = match &self.output {
            Output::File(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap_or_else(|e| panic!("open the agent's log {}: {e}", path.display()));
                cmd.stdout(file.try_clone().expect("clone the log file"))
                    .stderr(file);
                Some(path.clone())
            }
            Output::PipedStderr => {
                cmd.stdout(Stdio::null()).stderr(Stdio::piped());
                None
            }
        };
        // Where this agent's lines start: a restarted agent may append to its predecessor's log.
        let log_start = log
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len() as usize);
        let child = cmd.spawn().expect("start the agent (leakhound run)");
        Agent {
            child: Some(child),
            log,
            log_start,
            addr: OnceLock::new(),
            _slot: slot,
        }
    }
}

/// A running `leakhound run`.
pub struct Agent {
    child: Option<Child>,
    log: Option<PathBuf>,
    /// The length of the log file when this agent started.
    log_start: usize,
    addr: OnceLock<String>,
    _slot: PeerSlot,
}

impl Agent {
    /// `leakhound --log-format json run -c CONFIG`, stdout and stderr appended to `log`.
    pub fn start(config: &Path, log: &Path) -> Agent {
        agent(config).json().log(log).start()
    }

    /// Like [`start`](Agent::start), with more arguments after `run -c CONFIG`.
    pub fn start_with(config: &Path, log: &Path, extra: &[&str]) -> Agent {
        agent(config).json().log(log).args(extra).start()
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the agent was stopped")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the agent was stopped").id()
    }

    /// Its log so far (empty when its stderr is piped to the test).
    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// The address of its HTTP API (`127.0.0.1:PORT`) if its log has said it yet.
    pub fn try_http_addr(&self) -> Option<String> {
        if let Some(addr) = self.addr.get() {
            return Some(addr.clone());
        }
        let log = self.log_text();
        let addr = http_addr_in(log.get(self.log_start..).unwrap_or(""))?;
        Some(self.addr.get_or_init(|| addr).clone())
    }

    /// The address of its HTTP API (`127.0.0.1:PORT`), from its 'HTTP API on http://…' log
    /// line: waits for the line for at most 60 s.
    /// Fails at once, with the log, when the agent has exited instead (a config it refuses).
    pub fn http_addr(&self) -> String {
        assert!(
            self.log.is_some(),
            "http_addr needs the agent's log in a file"
        );
        let limit = Duration::from_secs(60);
        let start = Instant::now();
        let mut ticker = Progress::new("the agent's 'HTTP API on' line");
        loop {
            if let Some(addr) = self.try_http_addr() {
                return addr;
            }
            assert!(
                !self.has_exited(),
                "the agent exited without serving its HTTP API; its log:\n{}",
                self.log_text()
            );
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for the agent's 'HTTP API on' line; its log:\n{}",
                self.log_text()
            );
            ticker.tick(|| format!("still waiting (at most {} s)", limit.as_secs()));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process has exited (a zombie until it is waited for), without reaping it.
    fn has_exited(&self) -> bool {
        let Some(child) = &self.child else {
            return true;
        };
        std::fs::read_to_string(format!("/proc/{}/stat", child.id())).map_or(true, |stat| {
            // `PID (COMM) STATE …`: the state follows the last ')'.
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
    }

    /// `http://ADDR` of its HTTP API (see [`http_addr`](Agent::http_addr)).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr())
    }

    /// `http://ADDR/PATH` of its HTTP API (see [`http_addr`](Agent::http_addr)).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr())
    }

    /// The piped stderr (with [`AgentBuilder::pipe_stderr`]).
    pub fn take_stderr(&mut self) -> ChildStderr {
        self.child()
            .stderr
            .take()
            .expect("the agent's stderr is piped (AgentBuilder::pipe_stderr), and taken once")
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child().try_wait().expect("wait for the agent")
    }

    /// SIGTERM, and its exit status (it must exit within 30 s).
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.pid();
        let term = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(term.success(), "kill -TERM {pid} failed");
        let child = self.child();
        let status = poll(Duration::from_secs(30), "the agent to stop", || {
            child.try_wait().expect("wait for the agent")
        });
        self.child = None;
        status
    }

    /// SIGTERM and wait: the agent must save its state and exit 0 within 30 s.
    pub fn stop(mut self) {
        let status = self.terminate();
        assert!(
            status.success(),
            "agent exit {status:?} after SIGTERM:\n{}",
            self.log_text()
        );
    }

    /// SIGKILL: a crash, nothing saved at exit.
    pub fn kill9(mut self) {
        let mut child = self.child.take().expect("the agent was stopped");
        child.kill().expect("kill -9 the agent");
        child.wait().expect("wait for the agent");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `HOST:PORT` from the first 'HTTP API on http://HOST:PORT…' in `log`.
fn http_addr_in(log: &str) -> Option<String> {
    let rest = log.split("HTTP API on http://").nth(1)?;
    let (host, tail) = rest.split_once(':')?;
    let port: String = tail.chars().take_while(char::is_ascii_digit).collect();
    (!host.is_empty() && !port.is_empty()).then(|| format!("{host}:{port}"))
}
