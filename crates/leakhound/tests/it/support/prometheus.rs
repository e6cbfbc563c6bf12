//! A real Prometheus (Debian's package, 2.42) on a free loopback port, with its config, data
//! and log in a directory of the test; killed on drop. It can be stopped and started again on
//! the same port and data (the remote-write outage test).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::peers::PeerSlot;
use super::{free_port, poll};

pub struct Prometheus {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    _slot: PeerSlot,
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

impl Prometheus {
    /// `config` (prometheus.yml) written to `dir`; data in `dir/data`, log `dir/prometheus.log`.
    pub fn start(dir: &Path, config: &str) -> Prometheus {
        Self::start_with(dir, config, &[])
    }

    /// With more flags (e.g. `--web.enable-remote-write-receiver`).
    pub fn start_with(dir: &Path, config: &str, args: &[&str]) -> Prometheus {
        let found = Command::new("prometheus")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "prometheus is missing: run scripts/test, which installs it (Debian package \
             'prometheus'), or `apt-get install prometheus`"
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
        let mut p = Prometheus {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            _slot: PeerSlot::take(),
        };
        p.restart();
        p
    }

    /// (Re)start on the same port and data directory, and wait (at most 60 s) until it is ready.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "Prometheus is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("prometheus.log"))
            .expect("open prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                self.dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        self.child = Some(child);
        let http = client();
        let ready = format!("{}/-/ready", self.url());
        poll(Duration::from_secs(60), "Prometheus to be ready", || {
            let resp = http.get(&ready).send().ok()?;
            resp.status().is_success().then_some(())
        });
    }

    /// SIGTERM by PID, and wait for it to exit.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("Prometheus is running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        child.wait().expect("wait for prometheus");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its remote-write receiver (with `--web.enable-remote-write-receiver`).
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// The `result` of an instant query at `time` (now when `None`).
    pub fn query_at(&self, promql: &str, time: Option<f64>) -> Vec<serde_json::Value> {
        let mut params = vec![("query", promql.to_string())];
        if let Some(t) = time {
            params.push(("time", format!("{t:.3}")));
        }
        let v: serde_json::Value = client()
            .get(format!("{}/api/v1/query", self.url()))
            .query(&params)
            .send()
            .expect("query Prometheus")
            .json()
            .expect("Prometheus answers JSON");
        assert_eq!(v["status"], "success", "{promql}: {v}");
        v["data"]["result"]
            .as_array()
            .expect("a result array")
            .clone()
    }

    /// An instant query's samples as (labels, value).
    pub fn query(&self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        self.query_at(promql, None)
            .iter()
            .map(|r| {
                let value = r["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .expect("a sample value");
                (r["metric"].clone(), value)
            })
            .collect()
    }

    /// The raw sample timestamps (ms) of one series between `from_ms` and `to_ms`.
    pub fn timestamps(&self, selector: &str, from_ms: i64, to_ms: i64) -> BTreeSet<i64> {
        let range_s = (to_ms - from_ms) / 1000 + 1;
        let result = self.query_at(
            &format!("{selector}[{range_s}s]"),
            Some(to_ms as f64 / 1000.0),
        );
        result
            .first()
            .map(|series| {
                series["values"]
                    .as_array()
                    .expect("a range vector")
                    .iter()
                    .map(|v| (v[0].as_f64().expect("a timestamp") * 1000.0).round() as i64)
                    .filter(|ts| *ts >= from_ms)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
