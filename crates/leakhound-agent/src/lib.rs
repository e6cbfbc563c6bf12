//! leakhound's IO around the pure core: probes (one module per source kind), the agent that
//! polls many targets concurrently, the guide's log lines, alerting and the delivery of the
//! outbox to the notifiers, remediation and evidence capture. The database is
//! `leakhound-store`, the HTTP client `leakhound-http`, the notifiers `leakhound-notify`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use leakhound_agent::agent::TargetProber;
//! use leakhound_core::config::Config;
//!
//! let config = Config::for_urls(&["http://127.0.0.1:3000".to_string()])?;
//! let mut prober = TargetProber::new(&config.targets[0])?;
//! let sample = prober.probe().await; // detects health / expvar / metrics / pprof
//! println!("{:?} goroutines via {}", sample.metrics.goroutines, sample.source);
//! # Ok(()) }
//! ```

pub mod actions;
pub mod agent;
pub mod alerting;
pub mod clock;
pub mod docker;
pub mod dump_task;
pub mod dumps;
pub mod evidence;
pub mod guide_log;
pub mod memory;
pub mod outbox;
pub mod probe;
pub mod probers;
pub mod remote_write;
pub mod view;
