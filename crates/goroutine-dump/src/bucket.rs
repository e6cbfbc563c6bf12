//! Grouping goroutines into buckets by stack.
//!
//! Work is done once per *distinct stack*, not per goroutine: a 169k-goroutine dump usually
//! has a few hundred distinct stacks, and each goroutine then costs one table lookup.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{FrameId, Snapshot, StackId, StrId};

/// How goroutines are grouped into buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupBy {
    /// Same functions at the same file:line (the default; argument values are ignored).
    #[default]
    Line,
    /// Same sequence of functions, whatever the lines.
    Function,
    /// Same `created by` site (for formats without it, the outermost non-runtime frame).
    CreatedBy,
}

impl std::str::FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "line" | "stack" => Ok(GroupBy::Line),
            "function" | "func" => Ok(GroupBy::Function),
            "created-by" | "creator" => Ok(GroupBy::CreatedBy),
            other => Err(format!(
                "unknown grouping '{other}': use 'line', 'function' or 'created-by'"
            )),
        }
    }
}

impl std::fmt::Display for GroupBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GroupBy::Line => "line",
            GroupBy::Function => "function",
            GroupBy::CreatedBy => "created-by",
        })
    }
}

/// What the goroutines of a bucket are blocked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Blocking {
    /// `<-ch`
    ChanReceive,
    /// `ch <- v`
    ChanSend,
    /// `select {…}` (including `select {}`)
    Select,
    /// `sync.Mutex.Lock`
    Mutex,
    /// `sync.RWMutex.Lock` / `RLock`
    RwMutex,
    /// `sync.Cond.Wait`
    Cond,
    /// `sync.WaitGroup.Wait`
    WaitGroup,
    /// Other semaphore waits (`semacquire`).
    Semaphore,
    /// Network / file poller (`IO wait`).
    IoWait,
    /// `time.Sleep`
    Sleep,
    /// In a system call.
    Syscall,
    /// Running or runnable: not blocked.
    Running,
    /// Anything else.
    Other,
    /// The format does not say (debug=1 hides the runtime frames that would tell).
    Unknown,
}

impl Blocking {
    /// A short human name.
    pub fn as_str(self) -> &'static str {
        match self {
            Blocking::ChanReceive => "chan receive",
            Blocking::ChanSend => "chan send",
            Blocking::Select => "select",
            Blocking::Mutex => "mutex",
            Blocking::RwMutex => "rwmutex",
            Blocking::Cond => "cond wait",
            Blocking::WaitGroup => "waitgroup",
            Blocking::Semaphore => "semaphore",
            Blocking::IoWait => "IO wait",
            Blocking::Sleep => "sleep",
            Blocking::Syscall => "syscall",
            Blocking::Running => "running",
            Blocking::Other => "other",
            Blocking::Unknown => "?",
        }
    }

    fn from_function(f: &str) -> Option<Blocking> {
        Some(match f {
            "runtime.chanrecv" | "runtime.chanrecv1" | "runtime.chanrecv2" => Blocking::ChanReceive,
            "runtime.chansend" | "runtime.chansend1" => Blocking::ChanSend,
            "runtime.selectgo" | "runtime.block" => Blocking::Select,
            "sync.(*Mutex).Lock"
            | "sync.(*Mutex).lockSlow"
            | "internal/sync.(*Mutex).Lock"
            | "internal/sync.(*Mutex).lockSlow" => Blocking::Mutex,
            "sync.(*RWMutex).Lock" | "sync.(*RWMutex).RLock" => Blocking::RwMutex,
            "sync.(*Cond).Wait" => Blocking::Cond,
            "sync.(*WaitGroup).Wait" => Blocking::WaitGroup,
            "internal/poll.runtime_pollWait" => Blocking::IoWait,
            "time.Sleep" => Blocking::Sleep,
            _ if f.starts_with("syscall.Syscall") || f.starts_with("syscall.RawSyscall") => {
                Blocking::Syscall
            }
            _ => return None,
        })
    }

    fn from_state(s: &str) -> Blocking {
        let s = s.trim();
        let s = s.strip_suffix(" (nil chan)").unwrap_or(s);
        match s {
            "chan receive" => Blocking::ChanReceive,
            "chan send" => Blocking::ChanSend,
            "select" | "select (no cases)" => Blocking::Select,
            "sync.Mutex.Lock" => Blocking::Mutex,
            "sync.RWMutex.Lock" | "sync.RWMutex.RLock" => Blocking::RwMutex,
            "sync.Cond.Wait" => Blocking::Cond,
            "sync.WaitGroup.Wait" => Blocking::WaitGroup,
            "semacquire" => Blocking::Semaphore,
            "IO wait" => Blocking::IoWait,
            "sleep" => Blocking::Sleep,
            "syscall" => Blocking::Syscall,
            "running" | "runnable" => Blocking::Running,
            _ => Blocking::Other,
        }
    }
}

impl std::fmt::Display for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A frame in output form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FrameOut {
    /// Fully qualified function name.
    pub function: String,
    /// Source file.
    pub file: String,
    /// Line (0 when unknown).
    pub line: u32,
}

impl FrameOut {
    /// `function file:line` shortened for tables: the package path is cut to its last element
    /// and the file to its base name.
    pub fn short(&self) -> String {
        format!("{} {}", short_function(&self.function), self.location())
    }
    /// `file.go:123` (base name only).
    pub fn location(&self) -> String {
        let base = self.file.rsplit('/').next().unwrap_or(&self.file);
        format!("{base}:{}", self.line)
    }
}

/// `github.com/x/y/pkg.(*T).M` → `pkg.(*T).M`.
pub fn short_function(f: &str) -> &str {
    match f.rfind('/') {
        Some(i) => &f[i + 1..],
        None => f,
    }
}

/// The package path of a fully qualified Go function name.
pub fn package_of(function: &str) -> &str {
    let slash = function.rfind('/').map_or(0, |i| i + 1);
    match function[slash..].find('.') {
        Some(d) => &function[..slash + d],
        None => function,
    }
}

const STD_ROOTS: &[&str] = &[
    "archive",
    "bufio",
    "builtin",
    "bytes",
    "cmp",
    "compress",
    "container",
    "context",
    "crypto",
    "database",
    "debug",
    "embed",
    "encoding",
    "errors",
    "expvar",
    "flag",
    "fmt",
    "go",
    "hash",
    "html",
    "image",
    "index",
    "internal",
    "io",
    "iter",
    "log",
    "maps",
    "math",
    "mime",
    "net",
    "os",
    "path",
    "plugin",
    "reflect",
    "regexp",
    "runtime",
    "slices",
    "sort",
    "strconv",
    "strings",
    "structs",
    "sync",
    "syscall",
    "testing",
    "text",
    "time",
    "unicode",
    "unique",
    "unsafe",
    "vendor",
    "weak",
];

/// Whether a function belongs to the Go standard library (by its package path's first element).
pub fn is_std(function: &str) -> bool {
    let pkg = package_of(function);
    let root = pkg.split('/').next().unwrap_or(pkg);
    STD_ROOTS.contains(&root)
}

/// Whether a frame is a runtime frame, trimmed from both ends of bucket stacks (the debug=2
/// format hides most of them; debug=1 and proto show them: trimming makes the formats agree).
pub fn is_runtime(function: &str) -> bool {
    function.starts_with("runtime.") || function == "?"
}

/// A `name: count` pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedCount {
    /// The name (a wait reason).
    pub name: String,
    /// How many goroutines.
    pub count: u64,
}

/// A `key=value: count` pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelCount {
    /// Label key.
    pub key: String,
    /// Label value.
    pub value: String,
    /// How many goroutines carry it.
    pub count: u64,
}

/// Distribution of the `N minutes` wait times of a bucket (debug=2 only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitStats {
    /// Goroutines that printed a wait time (Go prints it from 1 minute on).
    pub waiting: u64,
    /// Shortest wait (minutes).
    pub min: u32,
    /// Median wait.
    pub median: u32,
    /// 90th percentile.
    pub p90: u32,
    /// Longest wait.
    pub max: u32,
}

/// Goroutines with the same stack (per [`GroupBy`]).
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Stable key: 16 hex digits of the FNV-1a hash of the canonical grouping text (see
    /// `docs/analyze-json.md`); the same code path gives the same key in every format.
    pub key: String,
    /// Number of goroutines.
    pub count: u64,
    /// What they are blocked on.
    pub blocking: Blocking,
    /// The first frame that is neither runtime nor standard library: "who is leaking".
    pub top_frame: Option<FrameOut>,
    /// The most common `created by` site.
    pub created_by: Option<FrameOut>,
    /// The most common creator goroutine id (Go 1.21+ `created by … in goroutine N`).
    pub creator_id: Option<u64>,
    /// The stack, leaf first, runtime frames trimmed (a representative one for coarse groupings).
    pub frames: Vec<FrameOut>,
    /// Wait reasons, most common first (debug=2 only).
    pub states: Vec<NamedCount>,
    /// Wait times (debug=2, goroutines waiting ≥ 1 minute).
    pub wait_minutes: Option<WaitStats>,
    /// pprof labels, most common first (debug=1 / proto only).
    pub labels: Vec<LabelCount>,
    /// Goroutines `locked to thread`.
    pub locked_to_thread: u64,
    /// Goroutines the runtime marked `(leaked)` (Go 1.26 goroutineleak profile).
    pub leaked: u64,
    /// Goroutines whose stack was cut by a truncated dump.
    pub truncated: u64,
    /// Goroutine ids (debug=2), ascending. Not serialized.
    #[serde(skip)]
    pub ids: Vec<u64>,
}

impl Bucket {
    /// A bucket made by hand (simulations, tests): `count` goroutines on `frames` (leaf first),
    /// blocked on `blocking`; its site is the first frame that is neither runtime nor standard
    /// library, and everything else is empty.
    pub fn from_frames(key: &str, count: u64, blocking: Blocking, frames: Vec<FrameOut>) -> Bucket {
        Bucket {
            key: key.to_string(),
            count,
            blocking,
            top_frame: frames
                .iter()
                .find(|f| !is_runtime(&f.function) && !is_std(&f.function))
                .cloned(),
            created_by: None,
            creator_id: None,
            frames,
            states: Vec::new(),
            wait_minutes: None,
            labels: Vec::new(),
            locked_to_thread: 0,
            leaked: 0,
            truncated: 0,
            ids: Vec::new(),
        }
    }

    /// The frame to show for this bucket: the top user frame, else the first trimmed frame.
    pub fn site(&self) -> Option<&FrameOut> {
        self.top_frame.as_ref().or(self.frames.first())
    }

    /// Label `key=value` pairs carried by at least `share` of the bucket's goroutines.
    pub fn dominant_labels(&self, share: f64) -> Vec<&LabelCount> {
        self.labels
            .iter()
            .filter(|l| self.count > 0 && l.count as f64 >= share * self.count as f64)
            .collect()
    }
}

/// 64-bit FNV-1a: stable across versions and platforms, for bucket keys.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

struct StackInfo {
    trimmed: (usize, usize),
    kind: Option<Blocking>,
    keep: bool,
}

#[derive(Default)]
struct Acc {
    key_text: String,
    count: u64,
    stack: StackId,
    kind: Option<Blocking>,
    states: FxHashMap<StrId, u64>,
    minutes: Vec<u32>,
    labels: FxHashMap<(StrId, StrId), u64>,
    created_by: FxHashMap<FrameId, u64>,
    creators: FxHashMap<u64, u64>,
    locked: u64,
    leaked: u64,
    truncated: u64,
    ids: Vec<u64>,
}

/// Groups all goroutines of `snap` into buckets, largest first.
pub fn bucketize(snap: &Snapshot, group_by: GroupBy) -> Vec<Bucket> {
    bucketize_filtered(snap, group_by, |_, _| true)
}

/// Like [`bucketize`], keeping only the stacks for which `keep(snapshot, frames)` is true.
/// `keep` is called once per distinct stack (frames leaf first, runtime frames included).
pub fn bucketize_filtered(
    snap: &Snapshot,
    group_by: GroupBy,
    mut keep: impl FnMut(&Snapshot, &[FrameId]) -> bool,
) -> Vec<Bucket> {
    // Per distinct stack: trimmed range, blocking kind, filter verdict.
    let infos: Vec<StackInfo> = (0..snap.stack_count() as StackId)
        .map(|sid| {
            let frames = snap.stack(sid);
            let rt = |f: &FrameId| is_runtime(snap.str(snap.frame(*f).function));
            let start = frames.iter().position(|f| !rt(f)).unwrap_or(frames.len());
            let end = frames
                .iter()
                .rposition(|f| !rt(f))
                .map_or(start, |e| e + 1)
                .max(start);
            let kind = frames
                .iter()
                .find_map(|f| Blocking::from_function(snap.str(snap.frame(*f).function)));
            StackInfo {
                trimmed: (start, end),
                kind,
                keep: keep(snap, frames),
            }
        })
        .collect();

    let mut accs: Vec<Acc> = Vec::new();
    let mut by_key: FxHashMap<Vec<u32>, usize> = FxHashMap::default();
    // Cache for the common groupings: stack id (+ created_by for CreatedBy) -> bucket index.
    let mut stack_cache: FxHashMap<(StackId, Option<FrameId>), usize> = FxHashMap::default();
    let mut key_ids: Vec<u32> = Vec::new();

    for r in snap.records() {
        let Some(info) = infos.get(r.stack as usize) else {
            continue;
        };
        if !info.keep {
            continue;
        }
        let cache_key = (
            r.stack,
            if group_by == GroupBy::CreatedBy {
                r.created_by
            } else {
                None
            },
        );
        let idx = match stack_cache.get(&cache_key) {
            Some(&i) => i,
            None => {
                let frames = snap.stack(r.stack);
                let trimmed = frames.get(info.trimmed.0..info.trimmed.1).unwrap_or(&[]);
                key_ids.clear();
                match group_by {
                    GroupBy::Line => key_ids.extend_from_slice(trimmed),
                    GroupBy::Function => {
                        key_ids.extend(trimmed.iter().map(|f| snap.frame(*f).function))
                    }
                    GroupBy::CreatedBy => key_ids.extend(r.created_by.or(trimmed.last().copied())),
                }
                let i = match by_key.get(&key_ids) {
                    Some(&i) => i,
                    None => {
                        let key_text = key_text(snap, group_by, &key_ids);
                        accs.push(Acc {
                            key_text,
                            stack: r.stack,
                            kind: info.kind,
                            ..Acc::default()
                        });
                        by_key.insert(key_ids.clone(), accs.len() - 1);
                        accs.len() - 1
                    }
                };
                stack_cache.insert(cache_key, i);
                i
            }
        };
        let Some(a) = accs.get_mut(idx) else { continue };
        a.count = a.count.saturating_add(r.count);
        if r.state != 0 {
            {
                let n = a.states.entry(r.state).or_default();
                *n = n.saturating_add(r.count);
            }
        }
        if let Some(m) = r.wait_minutes {
            a.minutes.push(m);
        }
        if r.labels != 0 {
            if let Some(set) = snap.label_sets.get(r.labels as usize) {
                for &pair in set {
                    {
                        let n = a.labels.entry(pair).or_default();
                        *n = n.saturating_add(r.count);
                    }
                }
            }
        }
        if let Some(c) = r.created_by {
            {
                let n = a.created_by.entry(c).or_default();
                *n = n.saturating_add(r.count);
            }
        }
        if let Some(c) = r.creator_id {
            {
                let n = a.creators.entry(c).or_default();
                *n = n.saturating_add(r.count);
            }
        }
        if r.locked_to_thread {
            a.locked = a.locked.saturating_add(r.count);
        }
        if r.leaked {
            a.leaked = a.leaked.saturating_add(r.count);
        }
        if r.truncated {
            a.truncated = a.truncated.saturating_add(r.count);
        }
        if let Some(id) = r.id {
            a.ids.push(id);
        }
    }

    let mut out: Vec<Bucket> = accs.into_iter().map(|a| finish(snap, &infos, a)).collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    out
}

/// The canonical grouping text that is hashed into the bucket key.
fn key_text(snap: &Snapshot, group_by: GroupBy, ids: &[u32]) -> String {
    let mut s = String::new();
    s.push_str(match group_by {
        GroupBy::Line => "line",
        GroupBy::Function => "function",
        GroupBy::CreatedBy => "created-by",
    });
    for &id in ids {
        s.push('\n');
        match group_by {
            GroupBy::Function => s.push_str(snap.str(id)),
            GroupBy::Line | GroupBy::CreatedBy => {
                let f = snap.frame_ref(id);
                s.push_str(f.function);
                s.push(' ');
                s.push_str(f.file);
                s.push(':');
                s.push_str(&f.line.to_string());
            }
        }
    }
    s
}

fn frame_out(snap: &Snapshot, id: FrameId) -> FrameOut {
    let f = snap.frame_ref(id);
    FrameOut {
        function: f.function.to_string(),
        file: f.file.to_string(),
        line: f.line,
    }
}

fn top_of<K: Copy + Ord, V: Copy + Ord>(m: &FxHashMap<K, V>) -> Option<K> {
    m.iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(k, _)| *k)
}

fn finish(snap: &Snapshot, infos: &[StackInfo], mut a: Acc) -> Bucket {
    let frames_ids = snap.stack(a.stack);
    let (s, e) = infos.get(a.stack as usize).map_or((0, 0), |i| i.trimmed);
    let trimmed = frames_ids.get(s..e).unwrap_or(&[]);
    let frames: Vec<FrameOut> = trimmed.iter().map(|&f| frame_out(snap, f)).collect();
    let top_frame = frames.iter().find(|f| !is_std(&f.function)).cloned();

    let mut states: Vec<NamedCount> = a
        .states
        .iter()
        .map(|(&s, &c)| NamedCount {
            name: snap.str(s).to_string(),
            count: c,
        })
        .collect();
    states.sort_by(|x, y| y.count.cmp(&x.count).then_with(|| x.name.cmp(&y.name)));
    let blocking = match a.kind {
        Some(k) => k,
        None => states
            .first()
            .map_or(Blocking::Unknown, |s| Blocking::from_state(&s.name)),
    };
    // Go 1.19 prints a mutex wait as `semacquire`; the frames say which primitive it is.
    let wait_minutes = if a.minutes.is_empty() {
        None
    } else {
        a.minutes.sort_unstable();
        let n = a.minutes.len();
        let at = |q: f64| a.minutes[((n - 1) as f64 * q).round() as usize];
        Some(WaitStats {
            waiting: n as u64,
            min: a.minutes[0],
            median: at(0.5),
            p90: at(0.9),
            max: a.minutes[n - 1],
        })
    };
    let mut labels: Vec<LabelCount> = a
        .labels
        .iter()
        .map(|(&(k, v), &c)| LabelCount {
            key: snap.str(k).to_string(),
            value: snap.str(v).to_string(),
            count: c,
        })
        .collect();
    labels.sort_by(|x, y| {
        y.count
            .cmp(&x.count)
            .then_with(|| x.key.cmp(&y.key))
            .then_with(|| x.value.cmp(&y.value))
    });
    a.ids.sort_unstable();
    Bucket {
        key: format!("{:016x}", fnv1a(a.key_text.as_bytes())),
        count: a.count,
        blocking,
        top_frame,
        created_by: top_of(&a.created_by).map(|f| frame_out(snap, f)),
        creator_id: top_of(&a.creators),
        frames,
        states,
        wait_minutes,
        labels,
        locked_to_thread: a.locked,
        leaked: a.leaked,
        truncated: a.truncated,
        ids: a.ids,
    }
}
