//! Notifiers against local fakes that check each vendor's documented wire format (path, query,
//! headers, JSON shape, and the signature recomputed here with the hmac/sha2 crates directly),
//! and against real peers where they can run here: Alertmanager (Debian
//! `prometheus-alertmanager`) and an SMTP server (Debian `python3-aiosmtpd`), both `#[ignore]`d
//! and run by `scripts/test`.
//!
//! One test binary (`it`) for the whole crate, one module per concern: [`fake`] is the fake peer
//! and shared helpers, [`channels`] the wire format and error classification of every channel,
//! [`snapshots`] each channel's payload as insta snapshots, [`peers`] the real peers and
//! [`readme`] the README's examples.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod channels;
mod fake;
mod peers;
mod readme;
mod snapshots;
