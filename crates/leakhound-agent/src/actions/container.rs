//! `kind = "container"`: `docker restart` through the Docker Engine API (the daemon's unix
//! socket; Podman's API works too), with the action's timeout as the stop grace period.

use super::RunResult;
use crate::docker::{resolve_host, Docker};
use std::time::{Duration, Instant};

/// Restart `container` on the daemon at `host` (default `$DOCKER_HOST` or the standard
/// socket); `timeout` bounds the whole call.
pub async fn run(container: &str, host: Option<&str>, timeout: Duration) -> RunResult {
    let started = Instant::now();
    let host = resolve_host(host);
    let docker = match Docker::connect(&host) {
        Ok(d) => d,
        Err(e) => return RunResult::failed(e.to_string(), started),
    };
    // Half the time for the container to stop by itself (SIGTERM), the rest for the daemon.
    let grace = (timeout / 2).max(Duration::from_secs(1));
    let result = tokio::time::timeout(timeout, docker.restart(container, grace)).await;
    let duration_ms = leakhound_core::time::duration_ms(started.elapsed());
    match result {
        Ok(Ok(())) => RunResult {
            ok: true,
            exit_code: None,
            output_tail: format!("restarted container '{container}' via {host}\n"),
            error: None,
            duration_ms,
        },
        Ok(Err(e)) => RunResult::failed(e.to_string(), started),
        Err(_) => RunResult::failed(
            format!(
                "restarting container '{container}' did not finish within {}",
                leakhound_core::units::human_duration(timeout)
            ),
            started,
        ),
    }
}
