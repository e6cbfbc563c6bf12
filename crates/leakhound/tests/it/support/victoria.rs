//! A real single-node VictoriaMetrics (Debian's package `victoria-metrics`, 1.79) on a free
//! loopback port, its data and log in a directory of the test; killed on drop. Queries see the
//! newest samples at once (`-search.latencyOffset=0s`, no result cache).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::peers::PeerSlot;
use super::{free_port, poll};

pub struct VictoriaMetrics {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
    _slot: PeerSlot,
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

impl VictoriaMetrics {
    /// Data in `dir/vm-data`, log in `dir/victoria-metrics.log`; `args` are more flags.
    pub fn start(dir: &Path, args: &[&str]) -> VictoriaMetrics {
        let found = Command::new("victoria-metrics")
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "victoria-metrics is missing: run scripts/test, which installs it (Debian package \
             'victoria-metrics'), or `apt-get install victoria-metrics`"
        );
        let slot = PeerSlot::take();
        let port = free_port();
        let log_path = dir.join("victoria-metrics.log");
        let log = std::fs::File::create(&log_path).expect("create victoria-metrics.log");
        let child = Command::new("victoria-metrics")
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!(
                "-storageDataPath={}",
                dir.join("vm-data").display()
            ))
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start victoria-metrics");
        let vm = VictoriaMetrics {
            child,
            port,
            log: log_path,
            _slot: slot,
        };
        let http = client();
        let health = format!("{}/health", vm.url());
        poll(
            Duration::from_secs(60),
            "VictoriaMetrics to be ready",
            || {
                let resp = http.get(&health).send().ok()?;
                resp.status().is_success().then_some(())
            },
        );
        vm
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its Prometheus remote-write endpoint.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Make what was ingested searchable now.
    pub fn force_flush(&self) {
        let _ = client()
            .get(format!("{}/internal/force_flush", self.url()))
            .send();
    }

    /// An instant query's series as (labels, value).
    pub fn query(&self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        let v: serde_json::Value = client()
            .get(format!("{}/api/v1/query", self.url()))
            .query(&[("query", promql)])
            .send()
            .expect("query VictoriaMetrics")
            .json()
            .expect("VictoriaMetrics answers JSON");
        assert_eq!(v["status"], "success", "{promql}: {v}");
        v["data"]["result"]
            .as_array()
            .expect("a result array")
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
}

impl Drop for VictoriaMetrics {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
