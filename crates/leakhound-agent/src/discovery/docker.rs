//! `type = "docker"`: running containers that carry the block's label, through the Docker
//! Engine API ([`crate::docker::Docker`]).
//!
//! The containers are listed (`GET /containers/json`, running only, `label` filter), then the
//! daemon's events are followed (`GET /events`, type container, actions start, die, stop,
//! destroy, pause, unpause, the same label): each burst of events re-lists. The list is also
//! taken again every `refresh_interval`. When the daemon cannot be reached, or its event
//! stream ends, the last targets stay and it is tried again after 1 s, 2 s, 4 s … up to 30 s.
//!
//! Each container's own labels choose its target ([`leakhound_core::discovery::docker_target`]);
//! one without `leakhound.port` is skipped with a warning, once.

use super::Publisher;
use crate::docker::{resolve_host, Docker, DockerError};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use futures_util::StreamExt;
use leakhound_core::config::{DiscoveryConfig, TargetConfig};
use leakhound_core::discovery::{docker_target, ContainerInfo, TargetSet};
use leakhound_core::text::target_text;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// The longest wait before the daemon is tried again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a burst of events is gathered before one re-list.
const EVENT_SETTLE: Duration = Duration::from_millis(200);
/// The longest one list may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);
/// The container events that change what runs.
const EVENTS: [&str; 6] = ["start", "die", "stop", "destroy", "pause", "unpause"];

pub(super) async fn run(
    block: DiscoveryConfig,
    host: Option<String>,
    label: String,
    mut out: Publisher,
) {
    let host = resolve_host(host.as_deref());
    let docker = match Docker::connect(&host) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(block = %block.name, "discovery: {e}; this block finds no targets");
            return;
        }
    };
    let mut follower = Follower {
        docker,
        host,
        label,
        block,
        warned: HashSet::new(),
        last_error: None,
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        // Events from just before the list on, so none between the two is missed.
        let since = since_now();
        match out.or_stop(follower.list()).await {
            None => return,
            Some(Ok(targets)) => {
                follower.last_error = None;
                backoff = Duration::from_secs(1);
                if !out.publish(targets).await {
                    return;
                }
            }
            Some(Err(e)) => {
                follower.report(&out, &e.to_string());
                if !out.sleep(backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        }
        match follower.follow(&mut out, since).await {
            Follow::Stop => return,
            Follow::Refresh => {}
            Follow::Lost(why) => {
                follower.report(&out, &why);
                if !out.sleep(backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// How following the events ended.
enum Follow {
    Stop,
    /// `refresh_interval` passed: list again.
    Refresh,
    /// The stream failed or ended.
    Lost(String),
}

struct Follower {
    docker: Docker,
    host: String,
    label: String,
    block: DiscoveryConfig,
    /// Containers (by id) already warned about: warned once while they run.
    warned: HashSet<String>,
    /// The last error logged: the same one is not repeated every retry.
    last_error: Option<String>,
}

impl Follower {
    fn report(&mut self, out: &Publisher, why: &str) {
        if self.last_error.as_deref() != Some(why) {
            tracing::warn!(
                block = %out.block(),
                "discovery: {why}; the last {} targets stay, retrying with a backoff up to {}s",
                out.last_len(),
                MAX_BACKOFF.as_secs()
            );
            self.last_error = Some(why.to_string());
        }
    }

    fn filters(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([("label".to_string(), vec![self.label.clone()])])
    }

    /// The targets of the running containers with the label.
    async fn list(&mut self) -> Result<Vec<TargetConfig>, DockerError> {
        let what = "listing containers";
        let client = self.docker.client(&self.label, what).await?;
        let options = ListContainersOptions {
            all: false,
            filters: Some(self.filters()),
            ..Default::default()
        };
        let listed = tokio::time::timeout(LIST_TIMEOUT, client.list_containers(Some(options)))
            .await
            .map_err(|_| DockerError::Timeout {
                container: self.label.clone(),
                what,
                after: LIST_TIMEOUT,
                path: self.docker.socket().to_path_buf(),
            })?
            .map_err(|e| self.docker.map_err(e, &self.label, what))?;
        let mut set = TargetSet::new();
        let mut running = HashSet::new();
        for summary in listed {
            let id = summary.id.clone().unwrap_or_default();
            running.insert(id.clone());
            let info = container_info(summary);
            match docker_target(&self.block.template, &info, Some(&self.host)) {
                Ok(target) => set.add(target, &format!("container '{}'", target_text(&info.name))),
                Err(why) => {
                    if self.warned.insert(id) {
                        tracing::warn!(
                            block = %self.block.name,
                            "discovery: container '{}' is skipped: {why}",
                            target_text(&info.name)
                        );
                    }
                }
            }
        }
        self.warned.retain(|id| running.contains(id));
        let found = set.finish();
        for w in &found.warnings {
            tracing::warn!(block = %self.block.name, "discovery: {w}");
        }
        Ok(found.targets)
    }

    /// Follow the events from `since`, re-listing after each burst, until `refresh_interval`
    /// passes, the stream is lost or the task must stop.
    async fn follow(&mut self, out: &mut Publisher, since: String) -> Follow {
        let client = match self.docker.client(&self.label, "following events").await {
            Ok(c) => c.clone(),
            Err(e) => return Follow::Lost(e.to_string()),
        };
        let mut filters = self.filters();
        filters.insert("type".into(), vec!["container".into()]);
        filters.insert("event".into(), EVENTS.map(String::from).to_vec());
        let mut events = client.events(Some(EventsOptions {
            since: Some(since),
            until: None,
            filters: Some(filters),
        }));
        let refresh = tokio::time::sleep(self.block.refresh_interval);
        tokio::pin!(refresh);
        loop {
            let next = tokio::select! {
                () = &mut refresh => return Follow::Refresh,
                next = out.or_stop(events.next()) => next,
            };
            match next {
                None => return Follow::Stop,
                Some(Some(Ok(_))) => {
                    // Gather the burst (a stop is stop + die), then list once.
                    let settle = tokio::time::sleep(EVENT_SETTLE);
                    tokio::pin!(settle);
                    loop {
                        tokio::select! {
                            () = &mut settle => break,
                            more = events.next() => match more {
                                Some(Ok(_)) => {}
                                Some(Err(e)) => return Follow::Lost(self.lost(&e)),
                                None => return Follow::Lost(self.ended()),
                            },
                        }
                    }
                    match out.or_stop(self.list()).await {
                        None => return Follow::Stop,
                        Some(Ok(targets)) => {
                            if !out.publish(targets).await {
                                return Follow::Stop;
                            }
                        }
                        Some(Err(e)) => return Follow::Lost(e.to_string()),
                    }
                }
                Some(Some(Err(e))) => return Follow::Lost(self.lost(&e)),
                Some(None) => return Follow::Lost(self.ended()),
            }
        }
    }

    fn lost(&self, e: &bollard::errors::Error) -> String {
        format!(
            "the event stream of the daemon at '{}' failed ({})",
            self.host,
            target_text(&e.to_string())
        )
    }

    fn ended(&self) -> String {
        format!("the daemon at '{}' ended its event stream", self.host)
    }
}

/// `since` for the events API: now, as `seconds.nanoseconds`.
fn since_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// What a docker block needs of one listed container.
fn container_info(c: bollard::models::ContainerSummary) -> ContainerInfo {
    let name = c
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .or_else(|| c.id.as_ref().map(|id| id.chars().take(12).collect()))
        .unwrap_or_default();
    // The first network by name that gives the container an address (none with --network host).
    let networks: BTreeMap<String, bollard::models::EndpointSettings> = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let ip = networks
        .into_values()
        .filter_map(|n| n.ip_address)
        .find(|ip| !ip.is_empty());
    ContainerInfo {
        name,
        ip,
        labels: c.labels.unwrap_or_default().into_iter().collect(),
    }
}
