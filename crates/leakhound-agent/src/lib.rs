//! leakhound's IO around the pure core: the HTTP client, probes (one module per source kind),
//! the scheduler that polls many targets concurrently, the SQLite store, and the simulated Go
//! service the demo and tests run against.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use leakhound_agent::probe::UrlProbe;
//! use leakhound_core::config::Config;
//!
//! let config = Config::for_urls(&["http://127.0.0.1:3000".to_string()])?;
//! let target = &config.targets[0];
//! let mut probe = UrlProbe::new(target, target.url.clone().unwrap())?;
//! let metrics = probe.probe().await?; // detects health / expvar / metrics / pprof
//! println!("{} goroutines via {}", metrics.goroutines.unwrap_or(0), probe.source().name());
//! # Ok(()) }
//! ```

pub mod http;
pub mod probe;
