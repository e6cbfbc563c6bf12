//! Parse Go goroutine profiles, group goroutines into buckets by stack, diff two snapshots,
//! and rank leak suspects across snapshots taken over time — the one suspect ranking and the one
//! suspect rendering ([`SuspectRow`]) of leakhound.
//!
//! All three formats served by `net/http/pprof`'s `/debug/pprof/goroutine` are read, and told
//! apart automatically by [`parse`]:
//! * `?debug=2` — the full traceback dump (also what a panic or `SIGQUIT` prints): one entry
//!   per goroutine with its wait reason, `N minutes`, `locked to thread`, `created by … in
//!   goroutine N`; surrounding log text is skipped and a truncated last goroutine is kept and
//!   reported as a [`Warning`];
//! * `?debug=1` — aggregated text with pprof labels;
//! * `?debug=0` — the gzipped pprof protobuf, with labels.
//!
//! The debug=2 parser is a single pass over the input bytes: lines are found with `memchr`,
//! strings are slices of the input interned on first sight, and identical stacks are stored
//! once, so a goroutine costs one [`Record`] and no heap allocation.
//!
//! No network, no async runtime: this crate works on bytes you already have. The input is
//! untrusted: every parse is bounded by [`Limits`] (decompressed size, samples, strings, frames
//! per stack, records, labels, goroutine counts) and fails with [`ParseError::Limit`] naming the
//! bound instead of allocating out of proportion to the input ([`parse_with`] takes others).
//!
//! ```
//! use goroutine_dump::{bucketize, diff, parse, GroupBy};
//!
//! let before = parse(b"goroutine 1 [running]:\nmain.main()\n\t/app/main.go:10 +0x1d\n")?;
//! let after = parse(
//!     b"goroutine 1 [running]:
//! main.main()
//! \t/app/main.go:10 +0x1d
//!
//! goroutine 7 [chan receive, 3 minutes]:
//! example.com/app/upstream.(*Client).wait(0xc000010000)
//! \t/app/upstream/client.go:42 +0x45
//! created by example.com/app/upstream.Start in goroutine 1
//! \t/app/upstream/client.go:30 +0x89
//! ",
//! )?;
//! let buckets = bucketize(&after, GroupBy::Line);
//! assert_eq!(buckets.len(), 2);
//! let grown = diff(&bucketize(&before, GroupBy::Line), &buckets);
//! let top = &grown.entries[0];
//! assert_eq!(top.delta, 1);
//! assert_eq!(
//!     top.site().map(|f| f.function.as_str()),
//!     Some("example.com/app/upstream.(*Client).wait")
//! );
//! # Ok::<(), goroutine_dump::ParseError>(())
//! ```

mod bucket;
mod classify;
mod debug1;
mod debug2;
mod diff;
mod limits;
mod model;
mod proto;
mod render;
mod suspect;

pub use bucket::{
    bucketize, bucketize_filtered, is_runtime, is_std, package_of, short_function, Blocking,
    Bucket, FrameOut, GroupBy, LabelCount, NamedCount, WaitStats,
};
pub use classify::{
    classify, classify_with_history, is_serving, Classification, ClassifyOptions, LeakSite,
    Verdict as GrowthVerdict,
};
pub use diff::{diff, Change, Diff, DiffEntry};
pub use limits::Limits;
pub use model::{
    Format, Frame, FrameId, FrameRef, LabelSetId, Record, Snapshot, StackId, StrId, Warning,
};
pub use render::{counts_text, fit, labels_text, suspect_table, SuspectRow};
pub use suspect::{suspects, suspects_from_buckets, Basis, Confidence, Suspect, SuspectOptions};

/// Why input could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// A line does not fit the format.
    #[error("line {line}: expected {expected}, found '{found}'")]
    Syntax {
        /// 1-based line number.
        line: u64,
        /// What the parser expected there.
        expected: String,
        /// The offending line (shortened).
        found: String,
    },
    /// Text input with no goroutine in it.
    #[error("no goroutine found in {lines} lines: expected a goroutine profile (debug=0, 1 or 2) or a Go traceback with 'goroutine N [status]:' headers")]
    NoGoroutines {
        /// Lines read.
        lines: u64,
    },
    /// The pprof protobuf (debug=0) is malformed.
    #[error("pprof protobuf (debug=0): {0}")]
    Proto(String),
    /// The input crossed one of the [`Limits`]: more of something than a real profile has, or
    /// than the caller allows.
    #[error("{subject} has more than {value} {items} (limit Limits::{limit} = {value})")]
    Limit {
        /// The input: `debug=2 dump`, `debug=1 profile`, `pprof profile (debug=0)`.
        subject: &'static str,
        /// What there is too much of (`samples`, `frames in one stack`, …).
        items: &'static str,
        /// The name of the [`Limits`] field.
        limit: &'static str,
        /// Its value.
        value: u64,
    },
}

/// Detects the format of `input` without parsing it: gzip is the pprof protobuf, text that
/// starts with `goroutine profile: total N` (or Go 1.26's `goroutineleak profile: total N`)
/// is debug=1, anything else debug=2.
pub fn detect(input: &[u8]) -> Format {
    if input.starts_with(&[0x1f, 0x8b]) {
        return Format::Proto;
    }
    let head = &input[..input.len().min(4096)];
    let start = head
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(head.len());
    if debug1::is_header(&head[start..]) {
        Format::Debug1
    } else {
        Format::Debug2
    }
}

/// Parses a goroutine profile in any of the three formats (see [`detect`]), within the
/// default [`Limits`].
pub fn parse(input: &[u8]) -> Result<Snapshot, ParseError> {
    parse_with(input, &Limits::DEFAULT)
}

/// Parses a goroutine profile in any of the three formats within `limits`.
pub fn parse_with(input: &[u8], limits: &Limits) -> Result<Snapshot, ParseError> {
    parse_as_with(input, detect(input), limits)
}

/// Parses `input` as the given format, within the default [`Limits`].
pub fn parse_as(input: &[u8], format: Format) -> Result<Snapshot, ParseError> {
    parse_as_with(input, format, &Limits::DEFAULT)
}

/// Parses `input` as the given format within `limits`.
pub fn parse_as_with(
    input: &[u8],
    format: Format,
    limits: &Limits,
) -> Result<Snapshot, ParseError> {
    match format {
        Format::Debug2 => debug2::parse(input, limits),
        Format::Debug1 => debug1::parse(input, limits),
        Format::Proto => proto::parse(input, limits),
    }
}
