//! A container through the Docker Engine API (GUIDE §3 `docker stats one-api`): CPU %, memory
//! usage and limit, network I/O, state and restarts, joined to the target's other sources.
//!
//! One reading is a `docker inspect` plus a non-streaming `docker stats` (about a second: the
//! daemon waits for a second CPU reading), so [`ContainerProbe::read`] returns an owned future
//! the target prober runs *beside* the URL probe; [`ContainerProbe::apply`] then turns the
//! reading into [`Metrics`]. The numbers are the docker CLI's (see [`crate::docker`]):
//!
//! | `docker stats` column | field |
//! |---|---|
//! | CPU % | `cgroup_cpu_percent` (100 % = one core) |
//! | MEM USAGE / LIMIT | `cgroup_memory_bytes` / `cgroup_memory_limit_bytes` |
//! | NET I/O | `container_net_rx_bytes` / `container_net_tx_bytes` |
//! | (`docker inspect`) State.Status | `container_state` |
//! | (`docker inspect`) RestartCount, StartedAt | `container_restarts` |
//!
//! Restarts: the daemon's `RestartCount` only counts restart-policy restarts and `docker
//! restart` resets it to 0, so the probe keeps its own counter: the daemon's count when first
//! seen, plus every start it sees afterwards (a new `StartedAt`, or a higher `RestartCount`).

use super::ProbeError;
use crate::docker::{resolve_host, ContainerStats, Docker, DockerError};
use leakhound_core::config::ContainerSource;
use leakhound_core::Metrics;
use std::future::Future;

/// Reads one container by name through one daemon.
#[derive(Debug, Clone)]
pub struct ContainerProbe {
    docker: Docker,
    name: String,
    restarts: RestartCounter,
}

impl ContainerProbe {
    /// A probe for `source`, on its `docker_host`, else `$DOCKER_HOST`, else the default socket.
    /// Fails only on a host URL leakhound cannot use (not a unix socket); a missing socket or
    /// container is reported by each reading.
    pub fn new(source: &ContainerSource) -> Result<ContainerProbe, DockerError> {
        let host = resolve_host(source.docker_host.as_deref());
        Ok(ContainerProbe {
            docker: Docker::connect(&host)?,
            name: source.name.clone(),
            restarts: RestartCounter::default(),
        })
    }

    /// The container's name or id as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client (shared with actions that restart this container).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// One reading, as a future that borrows nothing (spawn it beside the URL probe).
    pub fn read(
        &self,
    ) -> impl Future<Output = Result<ContainerStats, DockerError>> + Send + 'static {
        let docker = self.docker.clone();
        let name = self.name.clone();
        async move { docker.stats(&name).await }
    }

    /// Turn a reading into metrics. The error, if any, says why the container gives no
    /// resources: the daemon or the container cannot be reached, or it is not running (then the
    /// metrics still carry its state and restarts).
    pub fn apply(
        &mut self,
        reading: Result<ContainerStats, DockerError>,
    ) -> (Metrics, Option<ProbeError>) {
        let stats = match reading {
            Ok(stats) => stats,
            Err(e) => {
                return (
                    Metrics::default(),
                    Some(ProbeError::Container(e.to_string())),
                )
            }
        };
        let restarts = self
            .restarts
            .observe(stats.started_at.as_deref(), stats.restarts);
        let metrics = Metrics {
            cgroup_cpu_percent: stats.cpu_percent,
            cgroup_memory_bytes: stats.memory_usage_bytes,
            cgroup_memory_limit_bytes: stats.memory_limit_bytes,
            container_net_rx_bytes: stats.net_rx_bytes,
            container_net_tx_bytes: stats.net_tx_bytes,
            container_restarts: Some(restarts),
            container_state: Some(stats.state.clone()),
            ..Metrics::default()
        };
        let problem = (stats.state != "running").then(|| {
            let mut why = format!("container '{}' is {}", self.name, stats.state);
            if let Some(code) = stats.exit_code.filter(|_| stats.state == "exited") {
                why.push_str(&format!(" (exit code {code}"));
                if stats.oom_killed {
                    why.push_str(
                        ", killed by the OOM killer: raise its memory limit or find the leak",
                    );
                }
                why.push(')');
            }
            why.push_str(&format!(
                "; start it with `docker start {}` (or your compose/systemd unit)",
                self.name
            ));
            ProbeError::Container(why)
        });
        (metrics, problem)
    }

    /// Read and apply in one go (for callers that need no concurrency).
    pub async fn probe(&mut self) -> (Metrics, Option<ProbeError>) {
        let reading = self.read().await;
        self.apply(reading)
    }
}

/// Counts container restarts, including those the daemon does not count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartCounter {
    /// (StartedAt, daemon RestartCount) of the previous reading.
    last: Option<(Option<String>, u64)>,
    total: u64,
}

impl RestartCounter {
    /// Record one reading and return the running total.
    pub fn observe(&mut self, started_at: Option<&str>, daemon_count: u64) -> u64 {
        match &self.last {
            None => self.total = daemon_count,
            Some((prev_start, prev_count)) => {
                if daemon_count > *prev_count {
                    // Restart-policy restarts (several may fall between two readings).
                    self.total += daemon_count - prev_count;
                } else if started_at.is_some() && started_at != prev_start.as_deref() {
                    // Started again without the daemon counting it: `docker restart`,
                    // `docker start` after a stop, or a recreated container of that name.
                    self.total += 1;
                }
            }
        }
        self.last = Some((started_at.map(str::to_owned), daemon_count));
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_counter_counts_policy_and_manual_restarts() {
        let mut c = RestartCounter::default();
        // Seen first after two restart-policy restarts.
        assert_eq!(c.observe(Some("t1"), 2), 2);
        assert_eq!(c.observe(Some("t1"), 2), 2);
        // `docker restart`: a new StartedAt and the daemon's count reset to 0.
        assert_eq!(c.observe(Some("t2"), 0), 3);
        assert_eq!(c.observe(Some("t2"), 0), 3);
        // Three policy restarts between two readings.
        assert_eq!(c.observe(Some("t5"), 3), 6);
        // Stopped (StartedAt unchanged, or unknown): no restart.
        assert_eq!(c.observe(Some("t5"), 3), 6);
        assert_eq!(c.observe(None, 3), 6);
        // Started again.
        assert_eq!(c.observe(Some("t6"), 3), 7);
    }

    fn stats(state: &str) -> ContainerStats {
        ContainerStats {
            state: state.into(),
            restarts: 1,
            pid: None,
            cpu_percent: Some(2.5),
            memory_usage_bytes: Some(10 << 20),
            memory_limit_bytes: Some(256 << 20),
            memory_percent: Some(3.9),
            net_rx_bytes: None,
            net_tx_bytes: None,
            started_at: Some("2026-01-01T00:00:00Z".into()),
            id: None,
            exit_code: Some(137),
            oom_killed: true,
            health: None,
        }
    }

    fn probe() -> ContainerProbe {
        ContainerProbe::new(&ContainerSource {
            name: "one-api".into(),
            docker_host: Some("unix:///nonexistent/docker.sock".into()),
        })
        .unwrap()
    }

    #[test]
    fn running_container_maps_to_cgroup_fields() {
        let (m, problem) = probe().apply(Ok(stats("running")));
        assert_eq!(problem, None);
        assert_eq!(m.cgroup_cpu_percent, Some(2.5));
        assert_eq!(m.cgroup_memory_bytes, Some(10 << 20));
        assert_eq!(m.cgroup_memory_limit_bytes, Some(256 << 20));
        assert_eq!(m.container_restarts, Some(1));
        assert_eq!(m.container_state.as_deref(), Some("running"));
        assert_eq!(m.container_net_rx_bytes, None);
    }

    #[test]
    fn exited_container_says_why_and_how_to_fix() {
        let (m, problem) = probe().apply(Ok(stats("exited")));
        assert_eq!(m.container_state.as_deref(), Some("exited"));
        let msg = problem.unwrap().to_string();
        assert!(
            msg.contains("container 'one-api' is exited (exit code 137"),
            "{msg}"
        );
        assert!(msg.contains("OOM killer"), "{msg}");
        assert!(msg.contains("docker start one-api"), "{msg}");
    }

    #[tokio::test]
    async fn missing_socket_is_an_error_naming_it() {
        let (m, problem) = probe().probe().await;
        assert!(m.is_empty());
        let msg = problem.unwrap().to_string();
        assert!(
            msg.contains("no Docker socket at '/nonexistent/docker.sock'"),
            "{msg}"
        );
        assert!(msg.contains("docker_host"), "{msg}");
    }

    #[test]
    fn tcp_hosts_are_refused_with_the_fix() {
        let err = ContainerProbe::new(&ContainerSource {
            name: "x".into(),
            docker_host: Some("tcp://10.0.0.1:2375".into()),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("'tcp://10.0.0.1:2375'"), "{err}");
        assert!(err.contains("unix socket"), "{err}");
    }
}
