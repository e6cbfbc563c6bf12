//! [`Limits`]: what one parse may cost, so that a hostile or broken target cannot make the
//! parser allocate or work out of proportion to the bytes it sent.

/// Bounds on the work and memory of one parse. Every bound, when crossed, ends the parse with a
/// [`ParseError::Limit`](crate::ParseError::Limit) that names the limit and its value — never a
/// panic, an abort or a long stall.
///
/// With these bounds a parse's memory is O(input): the text formats cost at most a small
/// multiple of the input bytes (`tests/it/memory_bound.rs` measures the factor), and a gzipped
/// profile at most that multiple of its decompressed size, which `max_decompressed_bytes` caps.
///
/// The defaults leave room for a large real service: 200,000 goroutines in 200,000 distinct
/// stacks with pprof labels and stacks as deep as Go records them (debug=2 prints at most 100
/// frames per goroutine; profiles keep at most `GODEBUG=profstackdepth`, default 128, max 1024,
/// plus inlined frames). Real dumps are far smaller: the fixture's debug=0 profiles are 3 KB.
///
/// ```
/// use goroutine_dump::{parse_with, Limits, ParseError};
/// let limits = Limits { max_records: 1, ..Limits::default() };
/// let two = b"goroutine 1 [running]:\nmain.main()\n\t/a.go:1\n\ngoroutine 2 [select]:\nmain.f()\n\t/a.go:2\n";
/// let e = parse_with(two, &limits).unwrap_err();
/// assert!(matches!(e, ParseError::Limit { limit: "max_records", value: 1, .. }));
/// assert_eq!(e.to_string(), "debug=2 dump has more than 1 goroutine records (limit Limits::max_records = 1)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes a gzipped pprof profile (debug=0) may decompress to (default 64 MiB; a profile of
    /// 200k distinct labelled stacks is ~25 MB). Bounds gzip bombs.
    pub max_decompressed_bytes: u64,
    /// Samples in a pprof profile (default 1,000,000). A goroutine profile has one per distinct
    /// stack + label set, at most one per goroutine.
    pub max_samples: usize,
    /// Locations in a pprof profile (default 1,000,000): distinct program counters.
    pub max_locations: usize,
    /// Functions in a pprof profile (default 1,000,000).
    pub max_functions: usize,
    /// Entries in a pprof profile's string table (default 4,000,000).
    pub max_strings: usize,
    /// Records of any format (default 5,000,000): goroutines in a debug=2 dump, `N @ …` records
    /// in debug=1, samples in debug=0.
    pub max_records: usize,
    /// Frames in one stack (default 4,096).
    pub max_frames_per_stack: usize,
    /// Frames over all records' stacks together (default 64,000,000, i.e. 320 frames for each of
    /// 200k records). Bounds the work of a pprof profile whose samples reuse a location with many
    /// inlined lines; the text formats spend one line of input per frame.
    pub max_total_frames: usize,
    /// pprof labels on one record (default 64).
    pub max_labels: usize,
    /// Goroutines in the whole profile, the sum of the record counts and the `total N` of a
    /// debug=1 header (default 2³²: each goroutine needs a stack of ≥ 2 KiB, so no process holds
    /// that many). A count beyond it cannot be real and is refused, so that sums never overflow.
    pub max_goroutines: u64,
}

impl Limits {
    /// The defaults (see each field).
    pub const DEFAULT: Limits = Limits {
        max_decompressed_bytes: 64 << 20,
        max_samples: 1_000_000,
        max_locations: 1_000_000,
        max_functions: 1_000_000,
        max_strings: 4_000_000,
        max_records: 5_000_000,
        max_frames_per_stack: 4096,
        max_total_frames: 64_000_000,
        max_labels: 64,
        max_goroutines: 1 << 32,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
