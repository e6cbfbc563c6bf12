//! The JSON shapes of `analyze --json` and `diff --json` (docs/analyze-json.md).

use goroutine_dump::{Bucket, Diff, Format, GroupBy, Suspect, Warning};
use serde::Serialize;

use super::input::Loaded;

#[derive(Serialize)]
pub(super) struct SnapshotJson<'a> {
    source: &'a str,
    format: Format,
    goroutines: u64,
    bytes: usize,
    parse_ms: f64,
    warnings: &'a [Warning],
}

#[derive(Serialize)]
pub(super) struct AnalyzeJson<'a> {
    pub group_by: GroupBy,
    pub snapshots: Vec<SnapshotJson<'a>>,
    /// Buckets of the last snapshot.
    pub buckets: &'a [Bucket],
    /// Present when there are several snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspects: Option<&'a [Suspect]>,
    /// Buckets of the service's `/debug/pprof/goroutineleak` profile (Go 1.26+), when served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_leaks: Option<&'a [Bucket]>,
}

#[derive(Serialize)]
pub(super) struct DiffJson<'a> {
    pub group_by: GroupBy,
    pub before: SnapshotJson<'a>,
    pub after: SnapshotJson<'a>,
    pub diff: &'a Diff,
}

pub(super) fn snapshot_json(l: &Loaded) -> SnapshotJson<'_> {
    SnapshotJson {
        source: &l.name,
        format: l.snapshot.format(),
        goroutines: l.snapshot.total(),
        bytes: l.bytes,
        parse_ms: l.elapsed.as_secs_f64() * 1000.0,
        warnings: l.snapshot.warnings(),
    }
}
