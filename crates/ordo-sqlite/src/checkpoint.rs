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

#[derive(Clone)]
pub(crate) struct WalState {
    /// Serialises checkpoints: a PASSIVE checkpoint that finds another running gives up.
    lock: Arc<Mutex<()>>,
    limit: i64,
}

impl Default for WalState {
    fn default() -> WalState {
        WalState {
            lock: Arc::default(),
            limit: WAL_LIMIT_FRAMES,
        }
    }
}

thread_local! {
    /// Frames in the WAL after the writer's last commit, as SQLite's WAL hook reports them.
    static WRITER_WAL_FRAMES: Cell<i64> = const { Cell::new(0) };
}

fn record_wal_frames(_wal: &rusqlite::hooks::Wal, frames: c_int) -> rusqlite::Result<()> {
    WRITER_WAL_FRAMES.with(|f| f.set(i64::from(frames)));
    Ok(())
}

/// One PASSIVE checkpoint pass on `conn`; returns the number of frames the WAL held.
fn pass(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
}

impl WalState {
    /// Checkpoints on `conn`; returns the number of frames the WAL held.
    fn checkpoint(&self, conn: &Connection) -> rusqlite::Result<i64> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        pass(conn)
    }

    /// Makes the writer's connection count its WAL after every commit. The count comes
    /// from the writer's own commits, so it is never stale. A count left by the background
    /// connection was: taken just before a restart, it made the writer finish a checkpoint
    /// of the fresh, small WAL (a database fsync for nothing); taken by a pass that caught
    /// up while the writer was in the middle of a batch, "nothing to copy" stopped restarts.
    pub fn watch(conn: &Connection) {
        conn.wal_hook(Some(record_wal_frames));
    }

    /// Whether the WAL has grown past the point where the writer finishes a checkpoint.
    /// Only meaningful on the writer's thread.
    pub fn is_large(&self) -> bool {
        WRITER_WAL_FRAMES.with(Cell::get) >= self.limit
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
        match pass(conn) {
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
                        Ok(frames) if frames >= wal.limit / 2 => Duration::from_millis(5),
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::{Checkpointer, WRITER_WAL_FRAMES, WalState};
    use crate::open_connection;

    /// The WAL must start over again and again under a writer that never pauses, with the
    /// background checkpointer running: a WAL that stops restarting grows without bound.
    #[test]
    fn the_wal_starts_over_again_and_again_under_continuous_writes() {
        let dir = std::env::temp_dir().join(format!("ordo-wal-restart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let conn = open_connection(&path, true).unwrap();
        conn.execute_batch(
            "PRAGMA wal_autocheckpoint=0; PRAGMA synchronous=OFF; \
             CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL);",
        )
        .unwrap();
        let wal = WalState {
            limit: 2_000,
            ..WalState::default()
        };
        WalState::watch(&conn);
        let checkpointer = Checkpointer::spawn(path.clone(), wal.clone()).unwrap();
        let (mut restarts, mut last, mut most) = (0, 0, 0);
        for k in 0..12_000i64 {
            // Rows larger than a 1 KiB page: every commit adds a few frames.
            conn.execute(
                "INSERT INTO t (k, v) VALUES (?1, zeroblob(3000))",
                rusqlite::params![k],
            )
            .unwrap();
            let frames = WRITER_WAL_FRAMES.with(Cell::get);
            if frames < last {
                restarts += 1;
            }
            last = frames;
            most = most.max(frames);
            wal.finish_if_large(&conn);
        }
        checkpointer.stop();
        // About 48,000 frames are written in all. The writer skips its turn while a background
        // pass holds the lock (long in an unoptimised build), so the bound is loose; a WAL
        // that stopped starting over would hold them all.
        assert!(restarts >= 4, "the WAL started over {restarts} times");
        assert!(most < 20_000, "the WAL grew to {most} frames");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 12_000);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
