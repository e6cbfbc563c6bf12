//! A target's goroutine dumps — the evidence bundles the agent saved — over HTTP:
//! `GET /api/targets/{name}/dumps` (the list, with each bundle's suspects and their lines),
//! `GET /api/targets/{name}/dumps/{id}` (its buckets, read from the bundle's `goroutine.txt`),
//! `GET /api/targets/{name}/dumps/diff?from=ID&to=ID` (what grew between two of them).
//! Only files the store recorded are read, by a fixed name inside the bundle's directory.

use crate::api::{blocking, database, unknown_target};
use crate::error::{Path, Query};
use crate::wire::{DumpItem, DumpList};
use crate::{AppError, AppState};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use goroutine_dump::{Bucket, Diff};

use leakhound_store::{Bundle, Reader};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// The profile file of a bundle that the buckets and diffs are read from (`debug=1` text).
const PROFILE: &str = "goroutine.txt";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/targets/{name}/dumps", get(list))
        .route("/api/targets/{name}/dumps/diff", get(diff))
        .route("/api/targets/{name}/dumps/{id}", get(one))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

impl From<Bundle> for DumpItem {
    fn from(bundle: Bundle) -> DumpItem {
        let suspect_lines = bundle
            .suspects
            .iter()
            .map(leakhound_agent::evidence::suspect_line)
            .collect();
        DumpItem {
            bundle,
            suspect_lines,
        }
    }
}

fn known(state: &AppState, name: &str) -> Result<(), AppError> {
    if state.target_names().iter().any(|n| n == name) {
        Ok(())
    } else {
        Err(unknown_target(state, name))
    }
}

async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<DumpList>, AppError> {
    known(&state, &name)?;
    let db = database(&state)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let target = name.clone();
    let dumps = blocking(move || {
        db.with(|s| s.bundles(Some(&target), limit))
            .map_err(|e| e.to_string())
    })
    .await?;
    Ok(Json(DumpList {
        target: name,
        dumps: dumps.into_iter().map(DumpItem::from).collect(),
    }))
}

#[derive(Debug, Deserialize)]
struct TopQuery {
    top: Option<usize>,
}

#[derive(Debug, Serialize)]
struct DumpView {
    dump: DumpItem,
    /// Goroutines in the profile.
    total: u64,
    /// Largest first.
    buckets: Vec<Bucket>,
    more_buckets: usize,
    /// Why there are no buckets (the profile was not saved, or cannot be read).
    error: Option<String>,
}

fn parse_id(text: &str) -> Result<i64, AppError> {
    text.parse::<i64>().map_err(|_| {
        AppError::BadRequest(format!(
            "'{text}' is not a dump id; GET /api/targets/NAME/dumps lists them"
        ))
    })
}

/// The bundle `id` of target `name`, from the store (404 when it is not this target's).
fn load_bundle(db: &Reader, name: &str, id: i64) -> Result<Option<Bundle>, String> {
    let bundle = db.with(|s| s.bundle(id)).map_err(|e| e.to_string())?;
    Ok(bundle.filter(|b| b.target == name))
}

fn no_dump(name: &str, id: i64) -> AppError {
    AppError::NotFound(format!(
        "target '{name}' has no dump {id}; GET /api/targets/{name}/dumps lists them"
    ))
}

/// Bundles whose grouped profile is kept in memory (the most recently asked).
pub const CACHED_DUMPS: usize = 8;

type Parsed = Result<Arc<Vec<Bucket>>, String>;

/// Each bundle's profile is parsed once, then served from here: a bundle is immutable, so
/// re-reading it on every request (hundreds of MB for a hostile one) buys nothing. Concurrent
/// requests for one bundle wait for the same parse; at most [`CACHED_DUMPS`] are kept.
#[derive(Default)]
pub(crate) struct Cache(Mutex<VecDeque<(i64, Arc<OnceCell<Parsed>>)>>);

impl Cache {
    fn cell(&self, id: i64) -> Arc<OnceCell<Parsed>> {
        let Ok(mut entries) = self.0.lock() else {
            return Arc::new(OnceCell::new());
        };
        if let Some(i) = entries.iter().position(|(k, _)| *k == id) {
            if let Some(entry) = entries.remove(i) {
                let cell = entry.1.clone();
                entries.push_back(entry);
                return cell;
            }
        }
        let cell = Arc::new(OnceCell::new());
        entries.push_back((id, cell.clone()));
        while entries.len() > CACHED_DUMPS {
            entries.pop_front();
        }
        cell
    }

    /// The grouped profile of `bundle`: parsed off the runtime on first use, then cached.
    pub(crate) async fn buckets(&self, bundle: &Bundle) -> Parsed {
        let cell = self.cell(bundle.id);
        cell.get_or_init(|| parse_bundle(bundle.clone()))
            .await
            .clone()
    }
}

/// Read and group a bundle's profile, off the async runtime; a failure is logged once (the
/// result is cached) and shown in the dump's JSON.
async fn parse_bundle(bundle: Bundle) -> Parsed {
    if !bundle.has_profile() {
        return Err(match &bundle.error {
            Some(e) => format!("this dump has no goroutine profile: {e}"),
            None => "this dump has no goroutine profile".into(),
        });
    }
    let path = bundle.dir.join(PROFILE);
    let read = path.clone();
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(&read))
        .await
        .map_err(|e| format!("cannot read '{}': {e}", path.display()))?
        .map_err(|e| format!("cannot read '{}': {e} (pruned or moved?)", path.display()))?;
    match leakhound_agent::evidence::bucketize_off_runtime(bytes).await {
        Ok(buckets) => Ok(Arc::new(buckets)),
        Err(e) => {
            tracing::warn!(target_name = %bundle.target, "dump {}: {e}", bundle.id);
            Err(format!("'{}': {e}", path.display()))
        }
    }
}

async fn one(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    Query(q): Query<TopQuery>,
) -> Result<Json<DumpView>, AppError> {
    known(&state, &name)?;
    let id = parse_id(&id)?;
    let db = database(&state)?;
    let top = q.top.unwrap_or(200).clamp(1, 1000);
    let target = name.clone();
    let bundle = blocking(move || load_bundle(&db, &target, id))
        .await?
        .ok_or_else(|| no_dump(&name, id))?;
    let buckets = {
        let _slot = state.heavy_slot().await?;
        state.0.dump_cache.buckets(&bundle).await
    };
    let view = match buckets {
        Ok(buckets) => {
            let mut buckets = buckets.as_ref().clone();
            let total = buckets.iter().map(|b| b.count).sum();
            let more = buckets.len().saturating_sub(top);
            buckets.truncate(top);
            DumpView {
                dump: bundle.into(),
                total,
                buckets,
                more_buckets: more,
                error: None,
            }
        }
        Err(e) => DumpView {
            total: bundle.goroutines.unwrap_or(0),
            dump: bundle.into(),
            buckets: Vec::new(),
            more_buckets: 0,
            error: Some(e),
        },
    };
    Ok(Json(view))
}

#[derive(Debug, Deserialize)]
struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
    top: Option<usize>,
}

#[derive(Debug, Serialize)]
struct DiffView {
    from: Bundle,
    to: Bundle,
    diff: Diff,
    more_entries: usize,
}

async fn diff(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<DiffView>, AppError> {
    known(&state, &name)?;
    let (Some(from), Some(to)) = (&q.from, &q.to) else {
        return Err(AppError::BadRequest(
            "give both dumps to compare: ?from=ID&to=ID (ids from GET /api/targets/NAME/dumps)"
                .into(),
        ));
    };
    let (from, to) = (parse_id(from)?, parse_id(to)?);
    let db = database(&state)?;
    let top = q.top.unwrap_or(200).clamp(1, 1000);
    let target = name.clone();
    let (a, b) = blocking(move || {
        Ok((
            load_bundle(&db, &target, from)?,
            load_bundle(&db, &target, to)?,
        ))
    })
    .await?;
    let from_bundle = a.ok_or_else(|| no_dump(&name, from))?;
    let to_bundle = b.ok_or_else(|| no_dump(&name, to))?;
    let _slot = state.heavy_slot().await?;
    let unreadable = |id: i64, e: String| AppError::Unprocessable(format!("dump {id}: {e}"));
    let before =
        (state.0.dump_cache.buckets(&from_bundle).await).map_err(|e| unreadable(from, e))?;
    let after = (state.0.dump_cache.buckets(&to_bundle).await).map_err(|e| unreadable(to, e))?;
    let mut diff = goroutine_dump::diff(&before, &after);
    let more = diff.entries.len().saturating_sub(top);
    diff.entries.truncate(top);
    Ok(Json(DiffView {
        from: from_bundle,
        to: to_bundle,
        diff,
        more_entries: more,
    }))
}
