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

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::{Result, internal, open_connection};

/// Frames in the WAL beyond which the writer finishes a checkpoint itself.
const WAL_LIMIT_FRAMES: i64 = 65_536;

#[derive(Clone, Default)]
pub(crate) struct WalState {
    /// Serialises checkpoints: a PASSIVE checkpoint that finds another running gives up.
    lock: Arc<Mutex<()>>,
    /// Frames in a WAL that still has frames to copy; 0 once a pass copied them all (a
    /// writer that counted the frames instead paid a second, needless final pass, with its
    /// fsync, after every restart a background pass had prepared).
    frames: Arc<AtomicI64>,
}

impl WalState {
    /// Checkpoints on `conn`; returns the number of frames the WAL held.
    fn checkpoint(&self, conn: &Connection) -> rusqlite::Result<i64> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.pass(conn)
    }

    fn pass(&self, conn: &Connection) -> rusqlite::Result<i64> {
        let (frames, copied): (i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(1)?, r.get(2)?))
            })?;
        // Once every frame is copied, the next write transaction starts the WAL over by
        // itself: the writer has nothing left to finish.
        let pending = if copied >= frames { 0 } else { frames };
        self.frames.store(pending, Ordering::Relaxed);
        Ok(frames)
    }

    /// Whether the WAL has grown past the point where the writer finishes a checkpoint.
    pub fn is_large(&self) -> bool {
        self.frames.load(Ordering::Relaxed) >= WAL_LIMIT_FRAMES
    }

    /// Called by the writer between batches. While a background pass is running the writer
    /// does not wait for it: it tries again after its next batch, when the pass has left
    /// only a short delta to copy.
    pub fn finish_if_large(&self, conn: &Connection) {
        if self.frames.load(Ordering::Relaxed) < WAL_LIMIT_FRAMES {
            return;
        }
        let Ok(_guard) = self.lock.try_lock() else {
            return;
        };
        if let Err(e) = self.pass(conn) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
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
