//! The one way a running agent reaches its database: [`Db`] owns the only writable connection,
//! on a writer thread fed by a bounded channel, and a [`Reader`] pool of read-only connections.
//!
//! Every write (a batch of samples, an alert transition with its outbox rows and the rule
//! engine's state, a delivery's outcome, a bundle, an action run) is a job run on the writer
//! thread in order, so writers never contend for SQLite's lock and a slow disk slows the
//! writes, not the async runtime. Reads take a pooled read-only connection on a blocking
//! thread; in WAL mode they never wait for the writer.

use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Jobs waiting for the writer; a full queue makes writers wait (backpressure), never drops.
pub const WRITE_QUEUE: usize = 256;

/// Read-only connections kept open for reuse (more are opened while busy, then closed).
pub const IDLE_READERS: usize = 4;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A running database: one writer thread and a pool of readers. Cheap to clone; the writer
/// thread ends when the last clone is dropped, after the jobs already queued.
#[derive(Debug, Clone)]
pub struct Db {
    jobs: mpsc::Sender<Job>,
    reader: Reader,
}

impl Db {
    /// Open (or create and migrate) the database at `path` and start its writer thread.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let mut store = Store::open(path)?;
        let (jobs, mut rx) = mpsc::channel::<Job>(WRITE_QUEUE);
        std::thread::Builder::new()
            .name("leakhound-store-writer".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    // A panicking job (a bug) fails its own caller (its reply is dropped), not
                    // every later write.
                    let run = std::panic::AssertUnwindSafe(|| job(&mut store));
                    if std::panic::catch_unwind(run).is_err() {
                        tracing::error!("a database write panicked; the writer goes on");
                    }
                }
            })
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                detail: format!("cannot start the database writer thread: {e}"),
            })?;
        Ok(Db {
            jobs,
            reader: Reader::new(path),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.reader.path()
    }

    /// The read pool (for the web API and other views).
    pub fn reader(&self) -> Reader {
        self.reader.clone()
    }

    fn stopped(&self) -> StoreError {
        StoreError::Sql {
            path: self.path().display().to_string(),
            detail: "the database writer has stopped".into(),
        }
    }

    fn unfinished(&self) -> StoreError {
        StoreError::Sql {
            path: self.path().display().to_string(),
            detail: "the write did not finish (it failed on the writer thread; see the log)".into(),
        }
    }

    fn job<T: Send + 'static>(
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> (Job, oneshot::Receiver<Result<T, StoreError>>) {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |store: &mut Store| {
            let _ = tx.send(f(store));
        });
        (job, rx)
    }

    /// Run `f` on the writer thread, after the writes queued before it; waits for a place in
    /// the queue and for the result.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (job, rx) = Self::job(f);
        self.jobs.send(job).await.map_err(|_| self.stopped())?;
        rx.await.map_err(|_| self.unfinished())?
    }

    /// [`Db::write`] from a thread outside the async runtime (a blocking task).
    pub fn write_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (job, rx) = Self::job(f);
        self.jobs.blocking_send(job).map_err(|_| self.stopped())?;
        rx.blocking_recv().map_err(|_| self.unfinished())?
    }

    /// Run `f` on a pooled read-only connection on a blocking thread.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.reader.read(f).await
    }
}

/// A pool of read-only connections to one database, opened on first use (so a view can be made
/// before the agent creates the file). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Reader {
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Vec<Store>>>,
}

impl Reader {
    /// Readers of the database at `path` (nothing is opened yet).
    pub fn new(path: &Path) -> Reader {
        Reader {
            path: Arc::new(path.to_path_buf()),
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on a read-only connection, here and now (call it from a blocking thread).
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut store = match pooled {
            Some(store) => store,
            None => Store::open_read_only(&self.path)?,
        };
        let result = f(&mut store);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE_READERS {
                idle.push(store);
            }
        }
        result
    }

    /// [`Reader::with`] on a blocking thread, for async callers.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = self.clone();
        match tokio::task::spawn_blocking(move || reader.with(f)).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Sql {
                path: self.path.display().to_string(),
                detail: format!("a database read failed: {e}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use leakhound_core::{Metrics, Sample};

    fn sample(ts: i64) -> Sample {
        Sample {
            target: "a".into(),
            ts_ms: ts,
            up: true,
            error: None,
            latency_ms: 1.0,
            source: "health".into(),
            metrics: Metrics {
                goroutines: Some(10),
                ..Metrics::default()
            },
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_from_many_tasks_go_through_one_writer_and_reads_see_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("d.db")).unwrap();
        let mut tasks = Vec::new();
        for i in 0..32 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.write(move |s| s.insert(&[sample(i)])).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let n = db.read(|s| s.count(None)).await.unwrap();
        assert_eq!(n, 32);
        // From a blocking thread too.
        let d = db.clone();
        tokio::task::spawn_blocking(move || d.write_blocking(|s| s.insert(&[sample(99)])))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(db.reader().with(|s| s.count(Some("a"))).unwrap(), 33);
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("d.db")).unwrap();
        let r = db
            .write(|_s| -> Result<(), StoreError> { panic!("a bug") })
            .await;
        assert!(r.unwrap_err().to_string().contains("did not finish"));
        db.write(|s| s.insert(&[sample(1)])).await.unwrap();
        assert_eq!(db.read(|s| s.count(None)).await.unwrap(), 1);
    }

    #[test]
    fn a_reader_of_a_missing_file_names_it_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.db");
        let err = Reader::new(&path).with(|s| s.count(None)).unwrap_err();
        assert!(err.to_string().contains("none.db"), "{err}");
        assert!(!path.exists());
    }
}
