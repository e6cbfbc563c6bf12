//! A small Docker Engine API client over the daemon's unix socket (bollard underneath): one-shot
//! container stats computed exactly as `docker stats` computes them, and `restart`.
//!
//! Podman's `podman system service` serves the same API, so its socket should work too (the
//! tests run against a real dockerd only; Podman is not installed where they run).
//!
//! ```no_run
//! # async fn demo() -> Result<(), leakhound_agent::docker::DockerError> {
//! use leakhound_agent::docker::Docker;
//!
//! let docker = Docker::connect("unix:///var/run/docker.sock")?;
//! let stats = docker.stats("one-api").await?;
//! println!("{} cpu={:?}% mem={:?}", stats.state, stats.cpu_percent, stats.memory_usage_bytes);
//! docker.restart("one-api", std::time::Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```
//!
//! # How the numbers are computed (the docker CLI's formulas)
//!
//! Stats come from `GET /containers/{id}/stats?stream=false` (not `one-shot`), for which the
//! daemon waits for a second reading so `precpu_stats` holds the previous one (about a second
//! earlier). From that response, as `docker stats` (docker/cli `cli/command/container/stats_helpers.go`):
//!
//! - **CPU %** = `(cpu_stats.cpu_usage.total_usage - precpu_stats.cpu_usage.total_usage)
//!   / (cpu_stats.system_cpu_usage - precpu_stats.system_cpu_usage) * online_cpus * 100`,
//!   where `online_cpus` falls back to the length of `percpu_usage`; 0.0 when either delta is not
//!   positive. 100 % is one full core, so a container can show up to `online_cpus * 100` %.
//!   (`None` when the daemon sent no previous reading, which only `one-shot` requests produce.)
//! - **Memory usage** = `memory_stats.usage` minus the page cache the kernel can drop:
//!   cgroup v1 `stats.total_inactive_file`, cgroup v2 `stats.inactive_file` (only when smaller
//!   than `usage`; otherwise `usage` as is). Docker CLIs before 20.10 subtracted `stats.cache`.
//! - **Memory %** = usage / `memory_stats.limit` * 100 (`limit` is the host's memory when the
//!   container has none).
//! - **Net I/O** = the sum of `rx_bytes` / `tx_bytes` over the container's networks; `None` when
//!   it has none of its own (`--network=host`; `docker stats` prints `0B / 0B` there).
//!
//! `state`, `pid`, `RestartCount` and `StartedAt` come from `GET /containers/{id}/json`.
//! Note the daemon's `RestartCount` counts restart-policy restarts only and is reset to 0 by
//! `docker restart` / `docker start`; `started_at` changes on every start, which is how the
//! container probe counts restarts the daemon does not.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bollard::models::{ContainerCpuStats, ContainerMemoryStats, ContainerStatsResponse};
use bollard::query_parameters::{RestartContainerOptions, StatsOptions};
use futures_util::StreamExt;
use serde::Serialize;

/// The default Docker host when neither the config nor `DOCKER_HOST` names one.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// How long one stats call (inspect + a two-reading stats response) may take.
const STATS_TIMEOUT: Duration = Duration::from_secs(20);
/// The API version we start negotiating from (the daemon may lower it: Docker 20.10 serves 1.41).
const CLIENT_API_VERSION: bollard::ClientVersion = bollard::ClientVersion {
    major_version: 1,
    minor_version: 44,
};

/// What went wrong talking to the Docker (or Podman) daemon. Messages name the socket or the
/// container and say how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("docker host '{host}' is not usable: {reason}; use a unix socket URL such as '{DEFAULT_DOCKER_HOST}' ([agent] docker_host or DOCKER_HOST)")]
    InvalidHost { host: String, reason: String },
    #[error("no Docker socket at '{}': start the daemon (`systemctl start docker`; Podman: `podman system service --time=0 unix://{}`), or point [agent] docker_host / DOCKER_HOST at the right socket", path.display(), path.display())]
    SocketNotFound { path: PathBuf },
    #[error("permission denied on the Docker socket '{}': run leakhound as a user in the 'docker' group (or root), or use a rootless/Podman socket it can open", path.display())]
    PermissionDenied { path: PathBuf },
    #[error("the Docker daemon at '{}' did not answer ({detail}): is dockerd running and is this its socket?", path.display())]
    Unreachable { path: PathBuf, detail: String },
    #[error("no container named '{container}' on the daemon at '{}': check the name with `docker ps -a --format '{{{{.Names}}}}'` (docker-compose names look like 'project-one-api-1' unless the service sets container_name)", path.display())]
    ContainerNotFound { container: String, path: PathBuf },
    #[error("the Docker daemon at '{}' refused {what} for container '{container}': HTTP {status}: {message}", path.display())]
    Api {
        container: String,
        what: &'static str,
        path: PathBuf,
        status: u16,
        message: String,
    },
    #[error("{what} for container '{container}' timed out after {} on the daemon at '{}': the daemon is overloaded or stuck; check `docker info`", humantime::format_duration(*after), path.display())]
    Timeout {
        container: String,
        what: &'static str,
        after: Duration,
        path: PathBuf,
    },
    #[error("{what} for container '{container}' failed on the daemon at '{}': {detail}", path.display())]
    Other {
        container: String,
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
}

/// One reading of a container, the way `docker stats` + `docker inspect` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerStats {
    /// The daemon's state: created, running, paused, restarting, removing, exited, dead.
    pub state: String,
    /// The daemon's `RestartCount` (restart-policy restarts; `docker restart` resets it to 0).
    pub restarts: u64,
    /// The container's main process as the host sees it (None when not running).
    pub pid: Option<u32>,
    pub cpu_percent: Option<f64>,
    pub memory_usage_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub memory_percent: Option<f64>,
    pub net_rx_bytes: Option<u64>,
    pub net_tx_bytes: Option<u64>,
    /// `State.StartedAt` (RFC 3339); changes on every start, restarts included.
    pub started_at: Option<String>,
    /// The container's id (full hex).
    pub id: Option<String>,
    /// The last exit code (meaningful when not running).
    pub exit_code: Option<i64>,
    /// Killed by the kernel's OOM killer last time it stopped.
    pub oom_killed: bool,
    /// The HEALTHCHECK status when the image has one (starting, healthy, unhealthy).
    pub health: Option<String>,
}

/// A Docker Engine API client bound to one unix socket. Cheap to clone.
#[derive(Clone)]
pub struct Docker {
    inner: Arc<Inner>,
}

struct Inner {
    host: String,
    path: PathBuf,
    /// Created (and the API version negotiated) on first use, so an agent can start before the
    /// daemon does; a failed attempt is retried on the next call.
    client: tokio::sync::OnceCell<bollard::Docker>,
}

impl std::fmt::Debug for Docker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Docker")
            .field("host", &self.inner.host)
            .finish()
    }
}

/// The Docker host to use: the configured one, else `DOCKER_HOST`, else the default socket.
pub fn resolve_host(configured: Option<&str>) -> String {
    if let Some(host) = configured.filter(|h| !h.trim().is_empty()) {
        return host.trim().to_string();
    }
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.trim().is_empty() => host.trim().to_string(),
        _ => DEFAULT_DOCKER_HOST.to_string(),
    }
}

/// The socket path of a `unix://` host URL (a bare absolute path is accepted too).
pub fn socket_path(host: &str) -> Result<PathBuf, DockerError> {
    let invalid = |reason: &str| DockerError::InvalidHost {
        host: host.to_string(),
        reason: reason.to_string(),
    };
    let path = if let Some(rest) = host.strip_prefix("unix://") {
        rest
    } else if host.starts_with('/') {
        host
    } else if let Some((scheme, _)) = host.split_once("://") {
        return Err(invalid(&format!(
            "leakhound talks to the daemon over its unix socket only, not '{scheme}://' (run the agent on the Docker host, or forward the socket with `ssh -L /tmp/docker.sock:/var/run/docker.sock host`)"
        )));
    } else {
        return Err(invalid(
            "it is not a URL like 'unix:///var/run/docker.sock'",
        ));
    };
    if !path.starts_with('/') {
        return Err(invalid(
            "the socket path must be absolute (three slashes: 'unix:///path/docker.sock')",
        ));
    }
    Ok(PathBuf::from(path))
}

impl Docker {
    /// A client for the daemon at `host` (`unix:///path/docker.sock`). Only the URL is checked
    /// here; the socket is opened on first use, so a daemon that starts later is found then.
    pub fn connect(host: &str) -> Result<Docker, DockerError> {
        let path = socket_path(host)?;
        Ok(Docker {
            inner: Arc::new(Inner {
                host: host.to_string(),
                path,
                client: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// The host URL this client talks to.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The socket path this client talks to.
    pub fn socket(&self) -> &Path {
        &self.inner.path
    }

    /// The bollard client, created (and the API version negotiated) on first use; `container`
    /// and `what` name the call in errors. Discovery ([`crate::discovery::docker`]) lists and
    /// follows containers through it.
    pub(crate) async fn client(
        &self,
        container: &str,
        what: &'static str,
    ) -> Result<&bollard::Docker, DockerError> {
        let path = &self.inner.path;
        // Checked on every call: a missing socket is the most common mistake, and the daemon
        // may go away after the client was created.
        if let Err(err) = std::fs::metadata(path) {
            return Err(self.io_error(&err, container, what));
        }
        self.inner
            .client
            .get_or_try_init(|| async {
                let path_str = path.to_string_lossy();
                let client =
                    bollard::Docker::connect_with_unix(&path_str, 120, &CLIENT_API_VERSION)
                        .map_err(|e| self.map_err(e, container, what))?;
                match tokio::time::timeout(STATS_TIMEOUT, client.negotiate_version()).await {
                    Ok(Ok(client)) => Ok(client),
                    Ok(Err(e)) => Err(self.map_err(e, container, "the API version check")),
                    Err(_) => Err(DockerError::Timeout {
                        container: container.to_string(),
                        what: "the API version check",
                        after: STATS_TIMEOUT,
                        path: path.clone(),
                    }),
                }
            })
            .await
    }

    /// One reading of `container` (a name or id): `docker inspect` for the state, restarts and
    /// PID, and — when it runs — one non-streaming `docker stats` reading for CPU, memory and
    /// network. Takes about a second (the daemon waits for a second CPU reading).
    pub async fn stats(&self, container: &str) -> Result<ContainerStats, DockerError> {
        let work = async {
            let client = self.client(container, "inspect").await?;
            let inspect = client
                .inspect_container(container, None)
                .await
                .map_err(|e| self.map_err(e, container, "inspect"))?;
            let state = inspect.state.as_ref();
            let mut out = ContainerStats {
                state: state
                    .and_then(|s| s.status)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".to_string()),
                restarts: inspect
                    .restart_count
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                pid: state
                    .and_then(|s| s.pid)
                    .and_then(|p| u32::try_from(p).ok())
                    .filter(|p| *p > 0),
                cpu_percent: None,
                memory_usage_bytes: None,
                memory_limit_bytes: None,
                memory_percent: None,
                net_rx_bytes: None,
                net_tx_bytes: None,
                started_at: state
                    .and_then(|s| s.started_at.clone())
                    .filter(|s| !s.starts_with("0001-")),
                id: inspect.id.clone(),
                exit_code: state.and_then(|s| s.exit_code),
                oom_killed: state.and_then(|s| s.oom_killed).unwrap_or(false),
                health: state
                    .and_then(|s| s.health.as_ref())
                    .and_then(|h| h.status)
                    .map(|s| s.to_string())
                    .filter(|s| !s.is_empty()),
            };
            if out.state != "running" {
                // A stopped container has no resources; the daemon would answer zeros.
                return Ok(out);
            }
            let options = StatsOptions {
                stream: false,
                one_shot: false,
            };
            let mut stream = client.stats(container, Some(options));
            let reading = match stream.next().await {
                Some(Ok(reading)) => reading,
                Some(Err(e)) => return Err(self.map_err(e, container, "stats")),
                None => {
                    return Err(DockerError::Other {
                        container: container.to_string(),
                        what: "stats",
                        path: self.inner.path.clone(),
                        detail: "the daemon closed the stats response without a reading"
                            .to_string(),
                    })
                }
            };
            apply_stats(&mut out, &reading);
            Ok(out)
        };
        match tokio::time::timeout(STATS_TIMEOUT, work).await {
            Ok(result) => result,
            Err(_) => Err(DockerError::Timeout {
                container: container.to_string(),
                what: "stats",
                after: STATS_TIMEOUT,
                path: self.inner.path.clone(),
            }),
        }
    }

    /// `docker restart --time=<timeout>`: SIGTERM, up to `timeout` for it to exit, then SIGKILL,
    /// then start. Returns when the daemon reports the container started again.
    pub async fn restart(&self, container: &str, timeout: Duration) -> Result<(), DockerError> {
        let stop_secs = i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX);
        // The daemon may take the whole stop timeout, then the start; give it room for both.
        let deadline = timeout + Duration::from_secs(60);
        let work = async {
            let client = self.client(container, "restart").await?;
            let options = RestartContainerOptions {
                signal: None,
                t: Some(stop_secs),
            };
            client
                .restart_container(container, Some(options))
                .await
                .map_err(|e| self.map_err(e, container, "restart"))
        };
        match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(DockerError::Timeout {
                container: container.to_string(),
                what: "restart",
                after: deadline,
                path: self.inner.path.clone(),
            }),
        }
    }

    fn io_error(&self, err: &std::io::Error, container: &str, what: &'static str) -> DockerError {
        let path = self.inner.path.clone();
        match err.kind() {
            std::io::ErrorKind::NotFound => DockerError::SocketNotFound { path },
            std::io::ErrorKind::PermissionDenied => DockerError::PermissionDenied { path },
            std::io::ErrorKind::ConnectionRefused => DockerError::Unreachable {
                path,
                detail: "connection refused".to_string(),
            },
            _ => DockerError::Unreachable {
                path,
                detail: format!("{what} for '{container}': {err}"),
            },
        }
    }

    pub(crate) fn map_err(
        &self,
        err: bollard::errors::Error,
        container: &str,
        what: &'static str,
    ) -> DockerError {
        use bollard::errors::Error as E;
        let path = self.inner.path.clone();
        match err {
            E::DockerResponseServerError {
                status_code: 404,
                message,
            } if what != "the API version check"
                && message.to_ascii_lowercase().contains("container") =>
            {
                DockerError::ContainerNotFound {
                    container: container.to_string(),
                    path,
                }
            }
            E::DockerResponseServerError {
                status_code,
                message,
            } => DockerError::Api {
                container: container.to_string(),
                what,
                path,
                status: status_code,
                message,
            },
            E::SocketNotFoundError(_) => DockerError::SocketNotFound { path },
            E::RequestTimeoutError => DockerError::Timeout {
                container: container.to_string(),
                what,
                after: Duration::from_secs(120),
                path,
            },
            other => {
                // Connection failures arrive wrapped (hyper-util's client error around an
                // io::Error); find the io::Error to say what actually happened.
                let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&other);
                while let Some(err) = source {
                    if let Some(io) = err.downcast_ref::<std::io::Error>() {
                        return self.io_error(io, container, what);
                    }
                    source = err.source();
                }
                DockerError::Other {
                    container: container.to_string(),
                    what,
                    path,
                    detail: error_chain(&other),
                }
            }
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        source = e.source();
    }
    out
}

/// Fill CPU, memory and network from one stats response, with the docker CLI's formulas.
pub fn apply_stats(out: &mut ContainerStats, reading: &ContainerStatsResponse) {
    out.cpu_percent = match (&reading.cpu_stats, &reading.precpu_stats) {
        (Some(cpu), Some(pre)) => cpu_percent(cpu, pre),
        _ => None,
    };
    if let Some(mem) = &reading.memory_stats {
        out.memory_usage_bytes = memory_usage(mem);
        out.memory_limit_bytes = mem.limit.filter(|l| *l > 0);
        out.memory_percent = match (out.memory_usage_bytes, out.memory_limit_bytes) {
            (Some(used), Some(limit)) => Some(used as f64 / limit as f64 * 100.0),
            _ => None,
        };
    }
    if let Some(networks) = reading.networks.as_ref().filter(|n| !n.is_empty()) {
        out.net_rx_bytes = Some(networks.values().filter_map(|n| n.rx_bytes).sum());
        out.net_tx_bytes = Some(networks.values().filter_map(|n| n.tx_bytes).sum());
    }
}

/// CPU % as `docker stats` prints it (docker/cli `calculateCPUPercentUnix`); `None` without a
/// previous reading.
pub fn cpu_percent(cpu: &ContainerCpuStats, pre: &ContainerCpuStats) -> Option<f64> {
    let pre_system = pre.system_cpu_usage.filter(|s| *s > 0)?;
    let system = cpu.system_cpu_usage?;
    let total = cpu.cpu_usage.as_ref()?.total_usage? as f64;
    let pre_total = pre
        .cpu_usage
        .as_ref()
        .and_then(|u| u.total_usage)
        .unwrap_or(0) as f64;
    let cpu_delta = total - pre_total;
    let system_delta = system as f64 - pre_system as f64;
    let mut online = f64::from(cpu.online_cpus.unwrap_or(0));
    if online == 0.0 {
        online = cpu
            .cpu_usage
            .as_ref()
            .and_then(|u| u.percpu_usage.as_ref())
            .map(|p| p.len() as f64)
            .unwrap_or(0.0);
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        Some(cpu_delta / system_delta * online * 100.0)
    } else {
        Some(0.0)
    }
}

/// Memory usage as `docker stats` prints it (docker/cli `calculateMemUsageUnixNoCache`):
/// usage minus inactive page cache (cgroup v1 `total_inactive_file`, v2 `inactive_file`).
pub fn memory_usage(mem: &ContainerMemoryStats) -> Option<u64> {
    let usage = mem.usage?;
    let stats = mem.stats.as_ref();
    if let Some(v1) = stats.and_then(|s| s.get("total_inactive_file")) {
        if *v1 < usage {
            return Some(usage - v1);
        }
    }
    if let Some(v2) = stats.and_then(|s| s.get("inactive_file")) {
        if *v2 < usage {
            return Some(usage - v2);
        }
    }
    Some(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `GET /containers/{id}/stats?stream=false` answer from Docker 20.10.24 on cgroup v1
    /// (the Go fixture holding 64 MiB with 4 busy workers), captured with
    /// `curl --unix-socket DIR/docker.sock 'http://x/v1.41/containers/NAME/stats?stream=false'`.
    /// `docker stats --no-stream` a moment later printed `CPUPerc 2.86%`, `MemUsage 69.34MiB /
    /// 23.54GiB`, `MemPerc 0.29%`, `NetIO 0B / 0B` (--network=host).
    const CGROUP1: &str = include_str!("testdata/docker-stats-cgroup1.json");

    fn reading(text: &str) -> ContainerStatsResponse {
        serde_json::from_str(text).unwrap()
    }

    fn running() -> ContainerStats {
        ContainerStats {
            state: "running".into(),
            restarts: 0,
            pid: None,
            cpu_percent: None,
            memory_usage_bytes: None,
            memory_limit_bytes: None,
            memory_percent: None,
            net_rx_bytes: None,
            net_tx_bytes: None,
            started_at: None,
            id: None,
            exit_code: None,
            oom_killed: false,
            health: None,
        }
    }

    #[test]
    fn cpu_percent_is_the_clis_formula_on_a_real_answer() {
        let r = reading(CGROUP1);
        // (162_567_537 - 130_677_819) / (22_631_570_000_000 - 22_629_570_000_000) * 2 * 100 = 3.19
        let cpu = cpu_percent(
            r.cpu_stats.as_ref().unwrap(),
            r.precpu_stats.as_ref().unwrap(),
        );
        let c = r.cpu_stats.as_ref().unwrap();
        let p = r.precpu_stats.as_ref().unwrap();
        let by_hand = (c.cpu_usage.as_ref().unwrap().total_usage.unwrap() as f64
            - p.cpu_usage.as_ref().unwrap().total_usage.unwrap() as f64)
            / (c.system_cpu_usage.unwrap() as f64 - p.system_cpu_usage.unwrap() as f64)
            * 2.0
            * 100.0;
        assert!((cpu.unwrap() - by_hand).abs() < 1e-9);
        assert!((cpu.unwrap() - 3.189).abs() < 0.001, "{cpu:?}");
    }

    #[test]
    fn memory_is_usage_minus_inactive_file_like_the_cli() {
        let mut s = running();
        apply_stats(&mut s, &reading(CGROUP1));
        // usage 72_708_096, total_inactive_file 0: the CLI printed 69.34MiB.
        assert_eq!(s.memory_usage_bytes, Some(72_708_096));
        assert_eq!(format!("{:.2}MiB", 72_708_096f64 / 1048576.0), "69.34MiB");
        assert_eq!(s.memory_limit_bytes, Some(25_276_063_744));
        assert!((s.memory_percent.unwrap() - 0.2877).abs() < 0.001);
        // --network=host: no networks of its own; docker stats shows 0B / 0B.
        assert_eq!((s.net_rx_bytes, s.net_tx_bytes), (None, None));
        assert!(s.cpu_percent.unwrap() > 0.0);
    }

    #[test]
    fn page_cache_is_not_counted_v1_and_v2() {
        // The same real answer, edited: 8 MiB of inactive page cache (cgroup v1 key).
        let mut v: serde_json::Value = serde_json::from_str(CGROUP1).unwrap();
        v["memory_stats"]["stats"]["total_inactive_file"] = 8_388_608.into();
        let mem: ContainerMemoryStats = serde_json::from_value(v["memory_stats"].clone()).unwrap();
        assert_eq!(memory_usage(&mem), Some(72_708_096 - 8_388_608));
        // cgroup v2 names it inactive_file (and has no total_* keys).
        let v2: ContainerMemoryStats = serde_json::from_value(serde_json::json!({
            "usage": 50_000_000u64, "limit": 100_000_000u64,
            "stats": {"inactive_file": 10_000_000u64, "anon": 30_000_000u64}
        }))
        .unwrap();
        assert_eq!(memory_usage(&v2), Some(40_000_000));
        // A cache figure above usage is ignored, as the CLI does.
        let odd: ContainerMemoryStats = serde_json::from_value(serde_json::json!({
            "usage": 1000u64, "stats": {"inactive_file": 5000u64}
        }))
        .unwrap();
        assert_eq!(memory_usage(&odd), Some(1000));
    }

    #[test]
    fn cpu_edge_cases_follow_the_cli() {
        let cpu = |total: u64, system: u64, online: Option<u32>, percpu: usize| {
            serde_json::from_value::<ContainerCpuStats>(serde_json::json!({
                "cpu_usage": {"total_usage": total, "percpu_usage": vec![0u64; percpu]},
                "system_cpu_usage": system,
                "online_cpus": online,
            }))
            .unwrap()
        };
        // online_cpus missing: the length of percpu_usage.
        let p = cpu_percent(&cpu(2_000, 20_000, None, 4), &cpu(1_000, 10_000, None, 4));
        assert_eq!(p, Some(40.0));
        // No CPU used, or no system time passed: 0.0, as the CLI prints.
        assert_eq!(
            cpu_percent(
                &cpu(1_000, 20_000, Some(2), 0),
                &cpu(1_000, 10_000, Some(2), 0)
            ),
            Some(0.0)
        );
        // No previous reading (a one-shot request): unknown rather than a since-boot average.
        assert_eq!(
            cpu_percent(&cpu(1_000, 20_000, Some(2), 0), &cpu(0, 0, Some(2), 0)),
            None
        );
    }

    #[test]
    fn networks_are_summed() {
        let mut s = running();
        let r: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
            "networks": {
                "eth0": {"rx_bytes": 100u64, "tx_bytes": 10u64},
                "eth1": {"rx_bytes": 5u64, "tx_bytes": 1u64}
            }
        }))
        .unwrap();
        apply_stats(&mut s, &r);
        assert_eq!((s.net_rx_bytes, s.net_tx_bytes), (Some(105), Some(11)));
    }

    #[test]
    fn host_urls() {
        assert_eq!(
            socket_path("unix:///var/run/docker.sock").unwrap(),
            PathBuf::from("/var/run/docker.sock")
        );
        assert_eq!(
            socket_path("/run/podman/podman.sock").unwrap(),
            PathBuf::from("/run/podman/podman.sock")
        );
        for bad in ["tcp://1.2.3.4:2375", "unix://relative.sock", "docker.sock"] {
            let err = socket_path(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
            assert!(err.contains("unix:///var/run/docker.sock"), "{err}");
        }
        assert_eq!(resolve_host(Some("unix:///x.sock")), "unix:///x.sock");
    }

    #[tokio::test]
    async fn missing_socket_names_it_and_the_fix() {
        let docker = Docker::connect("unix:///nonexistent/leakhound/docker.sock").unwrap();
        let err = docker.stats("one-api").await.unwrap_err();
        assert!(matches!(err, DockerError::SocketNotFound { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("'/nonexistent/leakhound/docker.sock'"),
            "{msg}"
        );
        assert!(msg.contains("DOCKER_HOST"), "{msg}");
        let err = docker
            .restart("one-api", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, DockerError::SocketNotFound { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_socket_nobody_listens_on_is_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.sock");
        // Bound and closed: the file stays, nobody accepts.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let docker = Docker::connect(&format!("unix://{}", path.display())).unwrap();
        let err = docker.stats("one-api").await.unwrap_err();
        assert!(matches!(err, DockerError::Unreachable { .. }), "{err:?}");
        assert!(err.to_string().contains("is dockerd running"), "{err}");
    }
}
