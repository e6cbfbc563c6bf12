//! What a Go service's endpoints answer, read into [`Metrics`](crate::Metrics): the guide's
//! health JSON ([`health`]), expvar ([`expvar`]), client_golang's `/metrics` ([`prometheus`]) and
//! the first line of a goroutine profile ([`pprof`]). Pure readers of bytes the agent's probes
//! fetch (and the fuzz targets feed); an unreadable body is an error text saying why.

pub mod expvar;
pub mod health;
pub mod pprof;
pub mod prometheus;
