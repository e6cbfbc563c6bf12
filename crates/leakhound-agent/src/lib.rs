//! leakhound's IO around the pure core: probes (one module per source kind) and the probers
//! that run them on schedule, the agent that ties them to alerting, the guide's log lines, the
//! delivery of the outbox to the notifiers, remediation and evidence capture, and the read
//! model its views read ([`view::AgentView`]). The database is `leakhound-store`, the HTTP
//! client `leakhound-http`, the notifiers `leakhound-notify`.
//!
//! Running an agent (the views — web, live feed, `/metrics`, the demo's terminal view — read
//! its handle's view, nothing else):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use leakhound_agent::agent::Agent;
//! use leakhound_agent::view::AgentEvent;
//! use leakhound_core::config::Config;
//!
//! let config = Config::for_urls(&["http://127.0.0.1:3000".to_string()])?;
//! let agent = Agent::start(config).await?;
//! let mut events = agent.subscribe();
//! if let Ok(AgentEvent::Sample(s)) = events.recv().await {
//!     println!("{}: {:?} goroutines", s.target, s.metrics.goroutines);
//! }
//! println!("firing: {}", agent.active_alerts().len());
//! let summary = agent.stop().await?; // every sample taken is stored
//! println!("{} samples stored", summary.samples_stored);
//! # Ok(()) }
//! ```
//!
//! One probe, without an agent:
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
pub mod discovery;
pub mod docker;
pub mod dump_task;
pub mod dumps;
pub mod evidence;
pub mod fleet;
pub mod guide_log;
mod ingest;
pub mod memory;
pub mod outbox;
pub mod probe;
pub mod probers;
pub mod remote_write;
pub mod retention;
pub mod view;
