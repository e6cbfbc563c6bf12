//! Keeping the evidence directory under `[evidence] max_total_bytes`: the oldest bundles go
//! first, never the first bundle of an incident, never one below a symbolic link. The store's
//! writer only deletes rows; the directories are removed afterwards, on a blocking thread.

use super::real_dir;
use leakhound_store::{Bundle, Db, StoreError};
use std::path::Path;

/// Prune the oldest bundles (never an incident's first) until all bundles take at most
/// `budget` bytes: their rows are deleted on the store's writer, then their directories
/// removed. Returns the pruned bundles.
pub async fn prune_bundles(db: &Db, budget: u64) -> Result<Vec<Bundle>, StoreError> {
    let (total, mut oldest) = db
        .read(move |s| {
            let total = s.evidence_bytes()?;
            let over = total > budget;
            Ok((
                total,
                if over {
                    s.bundles(None, usize::MAX)?
                } else {
                    Vec::new()
                },
            ))
        })
        .await?;
    if total <= budget {
        return Ok(Vec::new());
    }
    oldest.reverse();
    let chosen = tokio::task::spawn_blocking(move || choose(oldest, total, budget))
        .await
        .unwrap_or_default();
    if chosen.is_empty() {
        return Ok(chosen);
    }
    let ids: Vec<i64> = chosen.iter().map(|b| b.id).collect();
    let pruned = db.write(move |s| s.delete_bundles(&ids)).await?;
    let dirs: Vec<_> = pruned.iter().map(|b| b.dir.clone()).collect();
    let _ = tokio::task::spawn_blocking(move || dirs.iter().for_each(|d| remove(d))).await;
    Ok(pruned)
}

/// The bundles to prune, oldest first, until `total` is within `budget`.
fn choose(oldest: Vec<Bundle>, mut total: u64, budget: u64) -> Vec<Bundle> {
    let mut chosen = Vec::new();
    for b in oldest {
        if total <= budget {
            break;
        }
        if b.first_of_incident {
            continue;
        }
        if !removable(&b.dir) {
            tracing::warn!(
                "not pruning the evidence bundle '{}': it (or its target's directory) is a symbolic link or not a directory; kept it and its record",
                b.dir.display()
            );
            continue;
        }
        total = total.saturating_sub(b.bytes);
        chosen.push(b);
    }
    if total > budget {
        tracing::warn!(
            "the evidence directory holds {} in bundles that are the first of their incident (never pruned), over the [evidence] max_total_bytes of {}; raise it or remove old incidents by hand",
            leakhound_core::units::human_bytes(total),
            leakhound_core::units::human_bytes(budget)
        );
    }
    chosen
}

/// Only a real directory inside a real directory: a link planted at the target's directory (or
/// the bundle's) must not make the prune delete what it points to.
fn removable(dir: &Path) -> bool {
    let parent_real = dir
        .parent()
        .is_none_or(|p| real_dir(p).ok().flatten() != Some(false));
    parent_real && real_dir(dir).ok().flatten() != Some(false)
}

/// Remove a pruned bundle's directory (checked again: a link planted since is refused too).
fn remove(dir: &Path) {
    let result = if removable(dir) {
        std::fs::remove_dir_all(dir)
    } else {
        Err(std::io::Error::other("it is now a symbolic link"))
    };
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(
            "cannot remove the pruned evidence bundle '{}': {e}; its record is gone, remove it by hand",
            dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn bundle(incident: &str, at_ms: i64, dir: PathBuf) -> Bundle {
        Bundle {
            id: 0,
            target: "one-api".into(),
            incident: incident.into(),
            first_of_incident: false,
            at_ms,
            trigger: "alert:x".into(),
            dir,
            bytes: 1000,
            goroutines: Some(10),
            profile_format: Some("debug=1".into()),
            suspects: vec![],
            error: None,
        }
    }

    #[tokio::test]
    async fn pruning_keeps_the_budget_and_every_incidents_first_bundle() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(&tmp.path().join("s.db")).unwrap();
        for i in 0..10 {
            let dir = tmp.path().join(format!("b{i}"));
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("goroutine.txt"), vec![b'x'; 1000]).unwrap();
            let b = bundle(if i < 5 { "inc-a" } else { "inc-b" }, i * 1000, dir);
            let (_, first) = db.write(move |s| s.insert_bundle(&b)).await.unwrap();
            assert_eq!(first, i == 0 || i == 5);
        }
        let pruned = prune_bundles(&db, 4000).await.unwrap();
        assert_eq!(pruned.len(), 6);
        let left = db.read(|s| s.bundles(Some("one-api"), 100)).await.unwrap();
        assert_eq!(db.read(|s| s.evidence_bytes()).await.unwrap(), 4000);
        // Newest first: 9, 8, then the two firsts (5, 0).
        let ats: Vec<i64> = left.iter().map(|b| b.at_ms).collect();
        assert_eq!(ats, vec![9000, 8000, 5000, 0]);
        for i in 0..10 {
            let on_disk = tmp.path().join(format!("b{i}")).exists();
            assert_eq!(on_disk, ats.contains(&(i * 1000)), "b{i}");
        }
    }

    #[tokio::test]
    async fn pruning_never_deletes_through_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(&tmp.path().join("s.db")).unwrap();
        // A bundle recorded at evidence/one-api/b0, then evidence/one-api replaced by a link
        // to a directory that holds a b0 of its own.
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(elsewhere.join("b0")).unwrap();
        std::fs::write(elsewhere.join("b0").join("precious"), b"x").unwrap();
        let evidence = tmp.path().join("evidence");
        std::fs::create_dir_all(&evidence).unwrap();
        std::os::unix::fs::symlink(&elsewhere, evidence.join("one-api")).unwrap();
        let first = bundle("inc", 0, evidence.join("one-api").join("b1"));
        // Not the first of its incident: pruned first when over budget.
        let second = bundle("inc", 1, evidence.join("one-api").join("b0"));
        db.write(move |s| {
            s.insert_bundle(&first)
                .and_then(|_| s.insert_bundle(&second))
        })
        .await
        .unwrap();
        let pruned = prune_bundles(&db, 0).await.unwrap();
        assert!(pruned.is_empty(), "{pruned:?}");
        assert!(elsewhere.join("b0").join("precious").exists());
        assert_eq!(db.read(|s| s.bundles(None, 10)).await.unwrap().len(), 2);
    }
}
