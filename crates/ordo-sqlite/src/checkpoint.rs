//! WAL checkpoints off the write path.
//!
//! With automatic checkpoints, the commit that crosses the WAL threshold copies the WAL
//! into the database file and fsyncs it while every queued order waits. Here a separate
//! connection keeps copying committed frames into the database in PASSIVE mode (it never
//! blocks the writer or readers). The WAL file only starts over when a write transaction
//! begins right after a checkpoint that copied every frame, which a background copy racing
//! a busy writer never achieves; so when the WAL has grown past a limit, the writer itself
//! finishes the copy between two batches (a short delta, since the background already did
//! the bulk) and its next transaction starts the WAL over.

use std::cell::Cell;
use std::ffi::c_int;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::{Result, internal, open_connection};

/// Frames in the WAL beyond which the writer finishes a checkpoint itself (about 550 MB
/// with 1 KiB pages; a WAL only grows this large under sustained load, since at any pause
/// the background pass catches up and the WAL starts over). Each restart holds the queued
/// orders for the final copy and its database fsync (20–90 ms on the benchmark machine), so
/// the limit sets how many orders pay for it: under full load, 65,536 frames meant a restart
/// every half-second and a p99 near 90 ms, 262,144 one every two seconds and 75 ms; at this
/// limit, about one order in 200 waits for a restart.
pub(crate) const WAL_LIMIT_FRAMES: i64 = 524_288;

#[derive(Clone, Default)]
pub(crate) struct WalState {
    /// Serialises checkpoints: a PASSIVE checkpoint that finds another running gives up.
    lock: Arc<Mutex<()>>,
}

thread_local! {
    /// Frames in the WAL after the writer's last commit, as SQLite's WAL hook reports them.
    static WRITER_WAL_FRAMES: Cell<i64> = const { Cell::new(0) };
}

fn record_wal_frames(_wal: &rusqlite::hooks::Wal, frames: c_int) -> rusqlite::Result<()> {
    WRITER_WAL_FRAMES.with(|f| f.set(i64::from(frames)));
    Ok(())
}

impl WalState {
    /// Checkpoints on `conn`; returns the number of frames the WAL held.
    fn checkpoint(&self, conn: &Connection) -> rusqlite::Result<i64> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
    }

    /// Makes the writer's connection count its WAL after every commit. The count comes
    /// from the writer's own commits, so it is never stale: a count taken by the background
    /// connection just before a restart would make the writer finish a checkpoint of the
    /// fresh, small WAL, paying a database fsync for nothing.
    pub fn watch(conn: &Connection) {
        conn.wal_hook(Some(record_wal_frames));
    }

    /// Whether the WAL has grown past the point where the writer finishes a checkpoint.
    /// Only meaningful on the writer's thread.
    pub fn is_large(&self) -> bool {
        WRITER_WAL_FRAMES.with(Cell::get) >= WAL_LIMIT_FRAMES
    }

    /// Called by the writer between batches. While a background pass is running the writer
    /// does not wait for it: it tries again after its next batch, when the pass has left
    /// only a short delta to copy. When a background pass has already copied every frame,
    /// this pass copies and syncs nothing; either way the next transaction starts the WAL over.
    pub fn finish_if_large(&self, conn: &Connection) {
        if !self.is_large() {
            return;
        }
        let Ok(_guard) = self.lock.try_lock() else {
            return;
        };
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
            Ok(_) => WRITER_WAL_FRAMES.with(|f| f.set(0)),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    pub fn spawn(path: PathBuf, wal: WalState) -> Result<Checkpointer> {
        let conn = open_connection(&path, false)?;
        crate::vfs::set_chunk_size(&conn, crate::DB_CHUNK_BYTES).map_err(internal)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ordo-sqlite-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let pause = match wal.checkpoint(&conn) {
                        // Close to the limit, keep up so the writer's final copy stays short.
                        Ok(frames) if frames >= WAL_LIMIT_FRAMES / 2 => Duration::from_millis(5),
                        // Further off, let pages that are written again and again (balances,
                        // the ends of tables and indexes) pile up and copy them once.
                        Ok(frames) if frames > 0 => Duration::from_millis(50),
                        Ok(_) => Duration::from_millis(100),
                        Err(e) => {
                            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                            Duration::from_millis(500)
                        }
                    };
                    std::thread::sleep(pause);
                }
            })
            .map_err(internal)?;
        Ok(Checkpointer {
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.lock().expect("checkpointer lock").take() {
            let _ = t.join();
        }
    }
}
