//! The parsed model: a [`Snapshot`] of goroutines (or aggregated goroutine records) whose
//! strings, frames, stacks and label sets are interned, so that millions of frames cost a few
//! `u32`s each.

use std::borrow::Cow;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::{Limits, ParseError};

/// Index of an interned string in [`Snapshot::str`].
pub type StrId = u32;
/// Index of an interned frame in [`Snapshot::frame`].
pub type FrameId = u32;
/// Index of an interned stack (sequence of frames, leaf first) in [`Snapshot::stack`].
pub type StackId = u32;
/// Index of an interned label set in [`Snapshot::labels`]; `0` is the empty set.
pub type LabelSetId = u32;

/// Which goroutine profile format a snapshot was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `?debug=2` (also panic / SIGQUIT tracebacks): one entry per goroutine.
    Debug2,
    /// `?debug=1`: aggregated text, `count @ pcs` records with labels.
    Debug1,
    /// `?debug=0`: gzipped pprof protobuf, aggregated, with labels.
    Proto,
}

impl Format {
    /// What a parse error calls an input of this format (`debug=2 dump`, …).
    pub(crate) fn subject(self) -> &'static str {
        match self {
            Format::Debug2 => "debug=2 dump",
            Format::Debug1 => "debug=1 profile",
            Format::Proto => "pprof profile (debug=0)",
        }
    }

    /// The `debug=` value of the pprof endpoint that serves this format.
    pub fn debug_level(self) -> u8 {
        match self {
            Format::Debug2 => 2,
            Format::Debug1 => 1,
            Format::Proto => 0,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Debug2 => "debug=2",
            Format::Debug1 => "debug=1",
            Format::Proto => "debug=0 (pprof proto)",
        })
    }
}

/// `after - before` as a signed goroutine delta, saturating instead of wrapping. Parsed counts
/// are bounded by [`Limits::max_goroutines`], so this only matters for hand-made buckets.
pub(crate) fn delta(after: u64, before: u64) -> i64 {
    let d = i128::from(after) - i128::from(before);
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

/// A saturating sum of goroutine counts.
pub(crate) fn sum_counts(counts: impl IntoIterator<Item = u64>) -> u64 {
    counts.into_iter().fold(0u64, u64::saturating_add)
}

/// A saturating sum of goroutine deltas.
pub(crate) fn sum_deltas(deltas: impl IntoIterator<Item = i64>) -> i64 {
    deltas.into_iter().fold(0i64, i64::saturating_add)
}

/// One frame: function (with package path, without arguments), file and line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Frame {
    /// Fully qualified function name, e.g. `leaky/internal/leaks.Chan.func1`.
    pub function: StrId,
    /// Source file path.
    pub file: StrId,
    /// Line number (0 when unknown).
    pub line: u32,
}

/// One goroutine (debug=2, `count == 1`) or one aggregated record (debug=1 / proto).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// How many goroutines this record stands for (1 for debug=2).
    pub count: u64,
    /// Goroutine id (debug=2 only).
    pub id: Option<u64>,
    /// Wait reason / status as printed (`chan receive`, `semacquire`, …); the empty string
    /// when the format does not carry it (debug=1 / proto).
    pub state: StrId,
    /// `N minutes` from the header (debug=2 only, and only once a goroutine waited ≥ 1 min).
    pub wait_minutes: Option<u32>,
    /// `locked to thread`.
    pub locked_to_thread: bool,
    /// The Go 1.26 runtime found these goroutines blocked on unreachable primitives: marked
    /// `(leaked)` in the state in debug=2; in a `goroutineleak` profile (debug=1 header
    /// `goroutineleak profile: total N`, proto sample type `goroutineleak/count`) every record.
    pub leaked: bool,
    /// The stack, leaf first.
    pub stack: StackId,
    /// `created by X` site (debug=2 only).
    pub created_by: Option<FrameId>,
    /// Go 1.21+ `created by X in goroutine N`.
    pub creator_id: Option<u64>,
    /// pprof labels (debug=1 / proto only).
    pub labels: LabelSetId,
    /// The stack had `...additional frames elided...` / `...N frames elided...`.
    pub elided: bool,
    /// The dump ended in the middle of this goroutine.
    pub truncated: bool,
}

/// A non-fatal problem found while parsing, with the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// 1-based line number (0 for binary formats).
    pub line: u64,
    /// What was wrong.
    pub message: String,
}

/// A parsed goroutine profile.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) format: Format,
    pub(crate) header_total: Option<u64>,
    pub(crate) strings: Vec<Box<str>>,
    pub(crate) frames: Vec<Frame>,
    pub(crate) stack_frames: Vec<FrameId>,
    pub(crate) stacks: Vec<(u32, u32)>,
    pub(crate) label_sets: Vec<Vec<(StrId, StrId)>>,
    pub(crate) records: Vec<Record>,
    pub(crate) warnings: Vec<Warning>,
}

/// A frame with its strings resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameRef<'s> {
    /// Fully qualified function name.
    pub function: &'s str,
    /// Source file.
    pub file: &'s str,
    /// Line number.
    pub line: u32,
}

impl Snapshot {
    /// The format this snapshot was parsed from.
    pub fn format(&self) -> Format {
        self.format
    }
    /// The `total N` announced by a debug=1 header, if any.
    pub fn header_total(&self) -> Option<u64> {
        self.header_total
    }
    /// Number of goroutines (sum of record counts; the parser refuses profiles whose sum
    /// exceeds [`Limits::max_goroutines`], so it cannot overflow).
    pub fn total(&self) -> u64 {
        self.records
            .iter()
            .fold(0u64, |t, r| t.saturating_add(r.count))
    }
    /// All records: one per goroutine for debug=2, one per distinct stack+labels otherwise.
    pub fn records(&self) -> &[Record] {
        &self.records
    }
    /// Non-fatal problems (truncated last goroutine, stray lines inside a goroutine, …).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
    /// An interned string.
    pub fn str(&self, id: StrId) -> &str {
        self.strings.get(id as usize).map(|s| &**s).unwrap_or("")
    }
    /// An interned frame.
    pub fn frame(&self, id: FrameId) -> Frame {
        self.frames.get(id as usize).copied().unwrap_or(Frame {
            function: 0,
            file: 0,
            line: 0,
        })
    }
    /// An interned frame with its strings resolved.
    pub fn frame_ref(&self, id: FrameId) -> FrameRef<'_> {
        let f = self.frame(id);
        FrameRef {
            function: self.str(f.function),
            file: self.str(f.file),
            line: f.line,
        }
    }
    /// Number of distinct stacks.
    pub fn stack_count(&self) -> usize {
        self.stacks.len()
    }
    /// The frames of a stack, leaf (innermost call) first.
    pub fn stack(&self, id: StackId) -> &[FrameId] {
        match self.stacks.get(id as usize) {
            Some(&(start, len)) => self
                .stack_frames
                .get(start as usize..(start + len) as usize)
                .unwrap_or(&[]),
            None => &[],
        }
    }
    /// A label set as `(key, value)` pairs, sorted by key.
    pub fn labels(&self, id: LabelSetId) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.label_sets
            .get(id as usize)
            .into_iter()
            .flatten()
            .map(|&(k, v)| (self.str(k), self.str(v)))
    }
}

/// Builds a [`Snapshot`] while parsing: interning borrows the input (`'a`), so a frame seen
/// before costs one hash lookup and no allocation; strings are copied out once at the end.
pub(crate) struct Builder<'a> {
    format: Format,
    pub(crate) header_total: Option<u64>,
    strings: Vec<Cow<'a, str>>,
    string_map: FxHashMap<Cow<'a, str>, StrId>,
    frames: Vec<Frame>,
    frame_map: FxHashMap<(&'a str, &'a str, u32), FrameId>,
    stack_frames: Vec<FrameId>,
    stacks: Vec<(u32, u32)>,
    stack_map: FxHashMap<Box<[FrameId]>, StackId>,
    label_sets: Vec<Vec<(StrId, StrId)>>,
    label_map: FxHashMap<Vec<(StrId, StrId)>, LabelSetId>,
    pub(crate) records: Vec<Record>,
    pub(crate) warnings: Vec<Warning>,
    /// Scratch stack being assembled.
    pub(crate) scratch: Vec<FrameId>,
    limits: Limits,
    /// Sum of the record counts so far.
    total: u64,
    /// Frames pushed so far, over all records.
    total_frames: usize,
}

/// Cap on stored warnings, so garbage input cannot grow them without bound.
const MAX_WARNINGS: usize = 100;

impl<'a> Builder<'a> {
    pub(crate) fn new(format: Format, limits: &Limits) -> Self {
        let mut b = Builder {
            format,
            header_total: None,
            strings: Vec::new(),
            string_map: FxHashMap::default(),
            frames: Vec::new(),
            frame_map: FxHashMap::default(),
            stack_frames: Vec::new(),
            stacks: Vec::new(),
            stack_map: FxHashMap::default(),
            label_sets: vec![Vec::new()],
            label_map: FxHashMap::default(),
            records: Vec::new(),
            warnings: Vec::new(),
            scratch: Vec::with_capacity(64),
            limits: limits.clone(),
            total: 0,
            total_frames: 0,
        };
        b.intern("");
        b
    }

    pub(crate) fn intern(&mut self, s: &'a str) -> StrId {
        if let Some(&id) = self.string_map.get(s) {
            return id;
        }
        let id = self.strings.len() as StrId;
        self.strings.push(Cow::Borrowed(s));
        self.string_map.insert(Cow::Borrowed(s), id);
        id
    }

    /// Interns a string that had to be unescaped (rare: label values with escapes).
    pub(crate) fn intern_owned(&mut self, s: String) -> StrId {
        if let Some(&id) = self.string_map.get(s.as_str()) {
            return id;
        }
        let id = self.strings.len() as StrId;
        self.strings.push(Cow::Owned(s.clone()));
        self.string_map.insert(Cow::Owned(s), id);
        id
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The error for a crossed limit: `{subject} has more than {value} {items} (limit …)`.
    pub(crate) fn over(&self, items: &'static str, limit: &'static str, value: u64) -> ParseError {
        ParseError::Limit {
            subject: self.format.subject(),
            items,
            limit,
            value,
        }
    }

    /// Checks a count announced by the input (a debug=1 header's `total N`).
    pub(crate) fn check_announced(&self, total: u64) -> Result<(), ParseError> {
        if total > self.limits.max_goroutines {
            return Err(self.over(
                "goroutines (its header says so)",
                "max_goroutines",
                self.limits.max_goroutines,
            ));
        }
        Ok(())
    }

    /// Appends a frame to the stack being assembled, within the frame limits.
    pub(crate) fn push_frame(&mut self, f: FrameId) -> Result<(), ParseError> {
        if self.scratch.len() >= self.limits.max_frames_per_stack {
            return Err(self.over(
                "frames in one stack",
                "max_frames_per_stack",
                self.limits.max_frames_per_stack as u64,
            ));
        }
        if self.total_frames >= self.limits.max_total_frames {
            return Err(self.over(
                "frames in all stacks together",
                "max_total_frames",
                self.limits.max_total_frames as u64,
            ));
        }
        self.total_frames += 1;
        self.scratch.push(f);
        Ok(())
    }

    /// Adds a record, within the record and goroutine limits.
    pub(crate) fn push_record(&mut self, r: Record) -> Result<(), ParseError> {
        if self.records.len() >= self.limits.max_records {
            return Err(self.over(
                "goroutine records",
                "max_records",
                self.limits.max_records as u64,
            ));
        }
        match self.total.checked_add(r.count) {
            Some(t) if t <= self.limits.max_goroutines => self.total = t,
            _ => {
                return Err(self.over(
                    "goroutines in total (a count that cannot be real)",
                    "max_goroutines",
                    self.limits.max_goroutines,
                ))
            }
        }
        self.records.push(r);
        Ok(())
    }

    pub(crate) fn frame(&mut self, function: &'a str, file: &'a str, line: u32) -> FrameId {
        if let Some(&id) = self.frame_map.get(&(function, file, line)) {
            return id;
        }
        let f = Frame {
            function: self.intern(function),
            file: self.intern(file),
            line,
        };
        let id = self.frames.len() as FrameId;
        self.frames.push(f);
        self.frame_map.insert((function, file, line), id);
        id
    }

    /// Interns `self.scratch` as a stack and clears it.
    pub(crate) fn finish_stack(&mut self) -> StackId {
        let id = if let Some(&id) = self.stack_map.get(self.scratch.as_slice()) {
            id
        } else {
            let id = self.stacks.len() as StackId;
            let start = self.stack_frames.len() as u32;
            self.stack_frames.extend_from_slice(&self.scratch);
            self.stacks.push((start, self.scratch.len() as u32));
            self.stack_map
                .insert(self.scratch.clone().into_boxed_slice(), id);
            id
        };
        self.scratch.clear();
        id
    }

    pub(crate) fn label_set(
        &mut self,
        mut pairs: Vec<(StrId, StrId)>,
    ) -> Result<LabelSetId, ParseError> {
        if pairs.is_empty() {
            return Ok(0);
        }
        if pairs.len() > self.limits.max_labels {
            return Err(self.over(
                "labels on one record",
                "max_labels",
                self.limits.max_labels as u64,
            ));
        }
        pairs.sort_unstable();
        if let Some(&id) = self.label_map.get(&pairs) {
            return Ok(id);
        }
        let id = self.label_sets.len() as LabelSetId;
        self.label_sets.push(pairs.clone());
        self.label_map.insert(pairs, id);
        Ok(id)
    }

    pub(crate) fn warn(&mut self, line: u64, message: impl Into<String>) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(Warning {
                line,
                message: message.into(),
            });
        } else if self.warnings.len() == MAX_WARNINGS {
            self.warnings.push(Warning {
                line,
                message: "more warnings omitted".into(),
            });
        }
    }

    pub(crate) fn build(self) -> Snapshot {
        Snapshot {
            format: self.format,
            header_total: self.header_total,
            strings: self
                .strings
                .into_iter()
                .map(|s| s.into_owned().into_boxed_str())
                .collect(),
            frames: self.frames,
            stack_frames: self.stack_frames,
            stacks: self.stacks,
            label_sets: self.label_sets,
            records: self.records,
            warnings: self.warnings,
        }
    }
}
