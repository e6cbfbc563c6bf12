//! leakhound's pure domain: what a [`Sample`] of a Go service holds, the guide's health
//! [ladders](ladder) and log levels, the one alert [`Severity`], [trend statistics](trend), the
//! validated [configuration](config), the readers of a service's endpoints ([`parse`]), [`time`]
//! as milliseconds since the epoch, and what `leakhound export` makes of a config (Prometheus
//! rules, a Grafana dashboard: [`export`]). Nothing here does IO or reads a clock: `now` is always a
//! parameter.
//!
//! ```
//! use leakhound_core::ladder::{GoroutineLadder, GoroutineState};
//!
//! let ladder = GoroutineLadder::default(); // the guide's table: 1000 / 2000 / 3000 / 5000 / 10000
//! assert_eq!(ladder.state(856), GoroutineState::Excellent);
//! assert_eq!(ladder.state(5234), GoroutineState::Alert);
//!
//! let trend = leakhound_core::trend::Trend::fit(&[(0.0, 100.0), (60.0, 160.0), (120.0, 220.0)]).unwrap();
//! assert!((trend.slope_per_hour - 3600.0).abs() < 1e-6);
//! ```

pub mod config;
pub mod discovery;
pub mod export;
pub mod exposition;
pub mod ladder;
pub mod parse;
pub mod remediation;
pub mod report;
pub mod rules;
pub mod sample;
pub mod secret;
pub mod severity;
pub mod text;
pub mod time;
pub mod trend;
pub mod units;
pub mod urls;
pub mod verify;

pub use sample::{Metrics, Sample};
pub use severity::Severity;
