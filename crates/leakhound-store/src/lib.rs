//! leakhound's SQLite store: the only code that opens the database file or speaks SQL.
//!
//! - [`Store`]: one connection; creates and migrates the schema on open (a damaged, foreign or
//!   newer file is an error naming the file and the fix, and is left untouched). Its
//!   repositories are `impl Store` blocks, one module per table: [`samples`](Store::insert)
//!   with their [batched index](indexing) and [rollups](rollups), the [`outbox`], [`alerts`] (alert history), [`silences`],
//!   [`state`] (what the agent keeps across restarts), [`bundles`] (evidence), [`action_runs`],
//!   [`series`] (chart series), [`history`] (reports and fix verification) and
//!   [`remote_write`] (what the remote-write endpoint has acknowledged).
//! - [`Db`]: a running agent's database — one writer thread fed by a bounded channel does every
//!   write, a [`Reader`] pool of read-only connections serves the views.
//!
//! ```no_run
//! # async fn demo() -> Result<(), leakhound_store::StoreError> {
//! use leakhound_store::Db;
//!
//! let db = Db::open(std::path::Path::new("leakhound.db"))?;
//! let stored = db.read(|store| store.count(None)).await?;
//! db.write(|store| store.save_state("note", "hello")).await?;
//! println!("{stored} samples");
//! # Ok(()) }
//! ```

pub mod action_runs;
pub mod alerts;
pub mod bundles;
mod db;
pub mod history;
pub mod indexing;
pub mod labels;
pub mod outbox;
pub mod remote_write;
pub mod retention;
pub mod rollups;
pub mod series;
pub mod silences;
pub mod state;
mod store;

pub use action_runs::ActionRun;
pub use bundles::{Bundle, BundleSuspect};
pub use db::{Db, Reader, IDLE_READERS, WRITE_QUEUE};
pub use history::{reports, History};
pub use outbox::{OutboxCounts, OutboxItem};
pub use remote_write::Backlog;
pub use store::{Store, StoreError};
