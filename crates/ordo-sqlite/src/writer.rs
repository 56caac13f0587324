//! The single writer thread and its group commit.
//!
//! A batch commits without waiting for the disk (`synchronous=OFF` on this connection);
//! a second thread then fsyncs the WAL file and only after that answers the batch's
//! callers. The writer meanwhile runs the next batch, so the fsync of one batch overlaps
//! the work of the next instead of stalling it. An fsync of the WAL covers every frame
//! written before it, so answering after it is exactly as durable as `synchronous=FULL`:
//! nothing is acknowledged before it is on disk. What a crash can lose is only unanswered
//! work, which other readers may briefly have seen. Checkpoints sync on their own (their
//! connection keeps `synchronous=FULL`, and the writer switches to it for its own).

use std::collections::HashMap;
use std::sync::mpsc;

use ordo_domain::catalog::{Channel, Location, Product};
use ordo_domain::inventory::Balance;
use ordo_store::{Result, StoreError};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::internal;

/// Most commands a batch takes: bounds the latency of the first one in the batch.
const MAX_BATCH: usize = 1024;

type Reply = Box<dyn FnOnce(bool) + Send>;

/// The answers of a committed batch, waiting for the WAL to reach the disk.
type Durable = Vec<Reply>;
type Job = Box<dyn FnOnce(&mut Writer) -> Reply + Send>;

enum Msg {
    Job(Job),
    Shutdown(oneshot::Sender<()>),
}

pub(crate) struct Catalog {
    pub channels: HashMap<String, Channel>,
    pub locations: Vec<Location>,
    /// The routing rules in force.
    pub rules: Vec<ordo_routing::Rule>,
    /// Whether routing reads product records (see `ordo_store::needs_products`).
    pub needs_products: bool,
    /// Whether any location has a daily capacity, so capture keeps day counts.
    pub has_capacity: bool,
}

/// A product as capture needs it, with its balances at every location that has a row.
pub(crate) struct SkuState {
    pub active: bool,
    /// Loaded only while routing reads product records (`Catalog::needs_products`).
    pub product: Option<Product>,
    pub balances: Vec<(String, Balance)>,
}

impl SkuState {
    pub fn balance(&self, location: &str) -> Option<&Balance> {
        self.balances
            .iter()
            .find(|(l, _)| l == location)
            .map(|(_, b)| b)
    }

    pub fn balance_mut(&mut self, location: &str) -> Option<&mut Balance> {
        self.balances
            .iter_mut()
            .find(|(l, _)| l == location)
            .map(|(_, b)| b)
    }
}

pub(crate) struct CustomerRow {
    pub id: i64,
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// What capture reads for every order, kept between captures so a busy writer stops
/// querying it. Write-through: capture changes these and their rows together. Everything
/// else that writes (any other command, a failed job, a failed commit, another process's
/// commit) drops it, so it never disagrees with the tables.
#[derive(Default)]
pub(crate) struct HotState {
    pub skus: HashMap<String, SkuState>,
    pub customers: HashMap<String, CustomerRow>,
}

/// Entries beyond which the hot state starts over, bounding its memory.
const HOT_SKUS_MAX: usize = 50_000;
const HOT_CUSTOMERS_MAX: usize = 100_000;

impl HotState {
    fn clear(&mut self) {
        self.skus.clear();
        self.customers.clear();
    }

    fn trim(&mut self) {
        if self.skus.len() > HOT_SKUS_MAX {
            self.skus.clear();
        }
        if self.customers.len() > HOT_CUSTOMERS_MAX {
            self.customers.clear();
        }
    }
}

pub(crate) struct Writer {
    pub conn: Connection,
    pub hot: HotState,
    /// Set by a job that writes outside a savepoint; if that job then fails, its batch
    /// cannot keep the half-written command and is rolled back whole.
    pub unguarded: bool,
    poisoned: bool,
    catalog: Option<std::sync::Arc<Catalog>>,
    next_number: Option<i64>,
    data_version: i64,
    wal: crate::checkpoint::WalState,
    syncer: mpsc::Sender<Durable>,
}

impl Writer {
    /// Shared, so a command can read the catalog while it writes through `conn`.
    pub fn catalog(&mut self) -> Result<std::sync::Arc<Catalog>> {
        if self.catalog.is_none() {
            self.catalog = Some(std::sync::Arc::new(crate::reads::load_catalog(&self.conn)?));
        }
        Ok(self.catalog.clone().expect("just loaded"))
    }

    pub fn forget_catalog(&mut self) {
        self.catalog = None;
    }

    /// Forgets everything cached from the tables.
    fn forget_all(&mut self) {
        self.catalog = None;
        self.next_number = None;
        self.hot.clear();
    }

    /// Next order number; only valid inside the current write transaction.
    pub fn take_order_number(&mut self) -> Result<i64> {
        let next = match self.next_number {
            Some(n) => n,
            None => self
                .conn
                .query_row("SELECT COALESCE(MAX(number), 0) + 1 FROM orders", [], |r| {
                    r.get(0)
                })
                .map_err(internal)?,
        };
        self.next_number = Some(next + 1);
        Ok(next)
    }

    /// Runs a parameterless statement through the statement cache.
    fn statement(&self, sql: &str) -> Result<()> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
            .map_err(internal)
    }

    fn begin(&mut self) -> rusqlite::Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if version != self.data_version {
            // Another process committed: anything cached may be stale.
            self.data_version = version;
            self.forget_all();
        }
        self.hot.trim();
        Ok(())
    }

    fn run_batch(&mut self, jobs: Vec<Job>) {
        if let Err(e) = self.begin() {
            tracing::error!(error = %e, "cannot start a write transaction");
            self.forget_all();
            // Dropping the jobs drops their reply channels: each caller gets an error.
            drop(jobs);
            return;
        }
        let started = std::time::Instant::now();
        let size = jobs.len();
        let replies: Vec<Reply> = jobs.into_iter().map(|job| job(self)).collect();
        let ran = started.elapsed();
        let commit = if std::mem::take(&mut self.poisoned) {
            Err("a command failed half-way outside a savepoint".to_string())
        } else {
            self.conn.execute_batch("COMMIT").map_err(|e| e.to_string())
        };
        let committed = match commit {
            Ok(()) => true,
            Err(reason) => {
                tracing::error!(error = %reason, "the batch is rolled back");
                let _ = self.conn.execute_batch("ROLLBACK");
                self.forget_all();
                false
            }
        };
        tracing::trace!(
            size,
            run_ms = ran.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "batch committed"
        );
        if committed {
            if let Err(mpsc::SendError(replies)) = self.syncer.send(replies) {
                tracing::error!("the WAL sync thread is gone; the batch is not confirmed");
                for reply in replies {
                    reply(false);
                }
            }
        } else {
            for reply in replies {
                reply(false);
            }
        }
        if self.wal.is_large() {
            // A checkpoint resets the WAL: it must fsync what it copies (FULL), and the
            // batches already answered or queued for sync stay covered by the WAL fsync it
            // performs first.
            let _ = self.conn.execute_batch("PRAGMA synchronous=FULL");
            self.wal.finish_if_large(&self.conn);
            let _ = self.conn.execute_batch("PRAGMA synchronous=OFF");
        }
    }
}

#[derive(Clone)]
pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Msg>,
}

/// Fsyncs the WAL file for every committed batch (several at once when they queue up),
/// then answers their callers.
fn spawn_syncer(wal_path: std::path::PathBuf) -> Result<mpsc::Sender<Durable>> {
    let (tx, rx) = mpsc::channel::<Durable>();
    std::thread::Builder::new()
        .name("ordo-sqlite-wal-sync".into())
        .spawn(move || {
            let mut file: Option<std::fs::File> = None;
            while let Ok(first) = rx.recv() {
                let mut batches = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batches.push(more);
                }
                let synced = match &file {
                    Some(f) => f.sync_data(),
                    None => std::fs::File::open(&wal_path).and_then(|f| {
                        let r = f.sync_data();
                        file = Some(f);
                        r
                    }),
                };
                if let Err(e) = &synced {
                    tracing::error!(error = %e, "WAL fsync failed; the batch is not confirmed");
                }
                for reply in batches.into_iter().flatten() {
                    reply(synced.is_ok());
                }
            }
        })
        .map_err(internal)?;
    Ok(tx)
}

pub(crate) fn spawn(
    conn: Connection,
    wal: crate::checkpoint::WalState,
    wal_path: std::path::PathBuf,
) -> Result<WriterHandle> {
    conn.execute_batch("PRAGMA synchronous=OFF")
        .map_err(internal)?;
    crate::checkpoint::WalState::watch(&conn);
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut writer = Writer {
        conn,
        hot: HotState::default(),
        unguarded: false,
        poisoned: false,
        catalog: None,
        next_number: None,
        data_version: -1,
        wal,
        syncer: spawn_syncer(wal_path)?,
    };
    std::thread::Builder::new()
        .name("ordo-sqlite-writer".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut jobs = Vec::new();
                let mut shutdown = None;
                let mut next = Some(first);
                while let Some(msg) = next.take() {
                    match msg {
                        Msg::Job(j) => jobs.push(j),
                        Msg::Shutdown(done) => {
                            shutdown = Some(done);
                            break;
                        }
                    }
                    if jobs.len() < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if !jobs.is_empty() {
                    writer.run_batch(jobs);
                }
                if let Some(done) = shutdown {
                    // Answer what is queued for sync before the WAL is folded away.
                    let (flushed_tx, flushed_rx) = mpsc::channel::<()>();
                    let flushed: Reply = Box::new(move |_| {
                        let _ = flushed_tx.send(());
                    });
                    if writer.syncer.send(vec![flushed]).is_ok() {
                        let _ = flushed_rx.recv();
                    }
                    let _ = writer
                        .conn
                        .execute_batch("PRAGMA synchronous=FULL; PRAGMA wal_checkpoint(TRUNCATE)");
                    let _ = done.send(());
                    return;
                }
            }
        })
        .map_err(internal)?;
    Ok(WriterHandle { tx })
}

impl WriterHandle {
    /// Runs `f` in the next batch, inside a savepoint; answers only after the batch committed.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.submit(move |w: &mut Writer| {
            // Any command other than capture may change what the hot state holds.
            w.hot.clear();
            let result = w.statement("SAVEPOINT job").and_then(|()| {
                let r = f(w);
                let end = if r.is_err() {
                    w.statement("ROLLBACK TO job")
                        .and_then(|()| w.statement("RELEASE job"))
                } else {
                    w.statement("RELEASE job")
                };
                end.and(r)
            });
            if result.is_err() {
                // A failed command may have taken a number or read a catalog it then rolled back.
                w.next_number = None;
            }
            result
        })
        .await
    }

    /// Runs a capture in the next batch without a savepoint, keeping the hot state. `f`
    /// validates before it writes and sets `Writer::unguarded` before its first write: a
    /// failure after that rolls back the whole batch, since nothing can undo its part alone.
    pub async fn run_capture<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.submit(move |w: &mut Writer| {
            w.unguarded = false;
            let result = f(w);
            if result.is_err() {
                w.next_number = None;
                if std::mem::take(&mut w.unguarded) {
                    w.poisoned = true;
                    w.hot.clear();
                }
            }
            w.unguarded = false;
            result
        })
        .await
    }

    async fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply_tx, reply_rx) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |w: &mut Writer| {
            let result = f(w);
            Box::new(move |committed: bool| {
                let answer = match result {
                    Ok(_) if !committed => Err(StoreError::Internal(
                        "the transaction could not be committed".into(),
                    )),
                    other => other,
                };
                let _ = reply_tx.send(answer);
            })
        });
        self.tx
            .send(Msg::Job(job))
            .map_err(|_| StoreError::Internal("the store is closed".into()))?;
        reply_rx
            .await
            .map_err(|_| StoreError::Internal("the write transaction failed to start".into()))?
    }

    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}
