//! `[[discovery]]` at run time: one task per block that reads its source, turns what it says
//! into targets ([`leakhound_core::discovery`]) and sends the block's whole target list
//! ([`Discovered`]) on its first read and every time the list changes.
//!
//! - `file` ([`file`]): every `refresh_interval` the patterns are expanded and each file
//!   `stat`'ed; a file is read again only when its size, modification time or inode changed.
//!   A file that fails to parse keeps its previous targets; a deleted file drops them.
//! - `http` ([`http`]): a GET every `refresh_interval` (`Accept: application/json`,
//!   `X-Prometheus-Refresh-Interval-Seconds`, the block's auth); an answer other than a 200
//!   with a readable list keeps the last targets.
//! - `docker` ([`docker`]): lists the running containers carrying the block's label, then
//!   follows the daemon's container events (and re-lists every `refresh_interval` anyway);
//!   while the daemon is away the last targets stay, and it is retried with a backoff up to
//!   30 s.
//!
//! Every task stops when `shutdown` turns `true` (or its sender is dropped), or when the
//! receiver of the targets is gone.
//!
//! ```no_run
//! # async fn demo(config: leakhound_core::config::Config) {
//! let (tx, mut rx) = tokio::sync::mpsc::channel(16);
//! let (stop, shutdown) = tokio::sync::watch::channel(false);
//! let mut tasks = leakhound_agent::discovery::spawn(&config, tx, shutdown);
//! while let Some(found) = rx.recv().await {
//!     println!("{}: {} targets", found.block, found.targets.len());
//! #   break;
//! }
//! let _ = stop.send(true);
//! while tasks.join_next().await.is_some() {}
//! # }
//! ```

pub mod docker;
pub mod file;
pub mod http;

use leakhound_core::config::{Config, DiscoveryKind, TargetConfig};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// One block's current targets, sent on its first read and every time its set changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    /// The block's name (`[[discovery]] name`, else `"<type>-<index from 1>"`).
    pub block: String,
    /// Sorted by name; names are unique within the block.
    pub targets: Vec<TargetConfig>,
}

/// Start one task per `[[discovery]]` block. Must be called inside a tokio runtime.
pub fn spawn(
    config: &Config,
    tx: mpsc::Sender<Discovered>,
    shutdown: watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    for block in &config.discovery {
        let out = Publisher {
            block: block.name.clone(),
            tx: tx.clone(),
            last: None,
            shutdown: shutdown.clone(),
        };
        match &block.kind {
            DiscoveryKind::File { files } => {
                tasks.spawn(file::run(block.clone(), files.clone(), out));
            }
            DiscoveryKind::Http { url, auth } => {
                tasks.spawn(http::run(block.clone(), url.clone(), auth.clone(), out));
            }
            DiscoveryKind::Docker { host, label } => {
                tasks.spawn(docker::run(block.clone(), host.clone(), label.clone(), out));
            }
        }
    }
    tasks
}

/// Sends one block's target list when it differs from the last one sent, and tells the task
/// when to stop.
pub(crate) struct Publisher {
    block: String,
    tx: mpsc::Sender<Discovered>,
    /// A hash and the length of the list sent last (a copy of 10 000 targets cost ~25 MB).
    last: Option<(u64, usize)>,
    shutdown: watch::Receiver<bool>,
}

impl Publisher {
    /// Send `targets` unless they are what was sent last. `false`: stop (shutdown, or nobody
    /// listens any more).
    pub(crate) async fn publish(&mut self, mut targets: Vec<TargetConfig>) -> bool {
        targets.sort_by(|a, b| a.name.cmp(&b.name));
        let fingerprint = (crate::fleet::fingerprint(&targets), targets.len());
        if self.last == Some(fingerprint) {
            return !self.stopping();
        }
        let count = targets.len();
        let message = Discovered {
            block: self.block.clone(),
            targets,
        };
        let sent = tokio::select! {
            sent = self.tx.send(message) => sent.is_ok(),
            () = wait_for_shutdown(&mut self.shutdown) => false,
        };
        if sent {
            tracing::info!(block = %self.block, targets = count, "discovery: target set changed");
            self.last = Some(fingerprint);
        }
        sent
    }

    /// How many targets were sent last (0 before the first read).
    pub(crate) fn last_len(&self) -> usize {
        self.last.map_or(0, |(_, len)| len)
    }

    pub(crate) fn block(&self) -> &str {
        &self.block
    }

    pub(crate) fn stopping(&self) -> bool {
        *self.shutdown.borrow() || self.tx.is_closed()
    }

    /// Sleep `d`; `false` when the task must stop instead.
    pub(crate) async fn sleep(&mut self, d: Duration) -> bool {
        if self.stopping() {
            return false;
        }
        let slept = tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = wait_for_shutdown(&mut self.shutdown) => false,
            () = self.tx.closed() => false,
        };
        slept && !self.stopping()
    }

    /// Run `work` unless the task must stop first (`None`).
    pub(crate) async fn or_stop<T>(
        &mut self,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        if self.stopping() {
            return None;
        }
        tokio::select! {
            v = work => Some(v),
            () = wait_for_shutdown(&mut self.shutdown) => None,
            () = self.tx.closed() => None,
        }
    }

    /// Log a read's warnings, naming the block.
    pub(crate) fn warn_all(&self, warnings: &[String]) {
        for w in warnings {
            tracing::warn!(block = %self.block, "discovery: {w}");
        }
    }
}

/// Returns once `shutdown` is `true` or its sender is gone.
async fn wait_for_shutdown(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: nobody can stop us later, so stop now.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
