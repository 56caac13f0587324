//! A thin VFS over the platform's default one that turns a commit's WAL appends into one
//! write.
//!
//! SQLite appends every WAL frame with two `pwrite` calls (the 24-byte frame header, then
//! the page), so a batch that dirties a few thousand 1 KiB pages costs the writer thread a
//! few thousand system calls. Here the WAL file keeps consecutive appends in memory and
//! writes them at once when the commit frame is complete, before the commit can become
//! visible. Everything else goes straight to the default VFS.
//!
//! Why this is as durable and as visible as writing frame by frame:
//! - a commit is published to other connections only through the wal-index header, which
//!   SQLite writes after the commit frame; the buffer is flushed when the commit frame's
//!   page arrives (a frame header carries the database size only on a commit frame), so
//!   frames that are not yet written belong to no published transaction;
//! - every read, sync, size query, truncation, file control and close of the WAL flushes
//!   first, so SQLite never observes the file without its own writes, and a non-contiguous
//!   write (a restarted WAL, a rewritten frame) flushes the earlier bytes first, keeping the
//!   order of writes;
//! - nothing is acknowledged before the WAL file is fsync'd (see `writer`), and the flush
//!   happens inside the COMMIT statement, before that.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name connections pass to use this VFS.
pub const NAME: &str = "ordo-unix";
const NAME_C: &CStr = c"ordo-unix";

/// Pending bytes beyond which the buffer is written even without a commit (a transaction
/// that spills pages to the WAL before it commits).
const FLUSH_AT: usize = 4 << 20;

/// The most one call of the default VFS writes.
const WRITE_CHUNK: usize = 64 << 10;

/// The size of a WAL frame header; a write of exactly this size past the WAL header is one.
const FRAME_HEADER: usize = 24;
const WAL_HEADER: i64 = 32;

#[repr(C)]
struct File {
    /// Must come first: SQLite sees a `File` as an `sqlite3_file`.
    base: ffi::sqlite3_file,
    /// The default VFS's file, stored right after this struct in the same allocation.
    inner: *mut ffi::sqlite3_file,
    wal: bool,
    pending: Vec<u8>,
    pending_at: i64,
    /// The last header written was a commit frame's: its page completes the transaction.
    commit_frame: bool,
}

struct Registered {
    default: *mut ffi::sqlite3_vfs,
}
// SAFETY: the default VFS is a static object inside SQLite, valid for the process.
unsafe impl Send for Registered {}
unsafe impl Sync for Registered {}

static REGISTERED: OnceLock<Result<Registered, String>> = OnceLock::new();

/// Registers the VFS once per process (not as the default); returns an error if SQLite
/// has no default VFS to wrap.
pub fn register() -> Result<(), String> {
    REGISTERED
        .get_or_init(|| unsafe {
            let default = ffi::sqlite3_vfs_find(ptr::null());
            if default.is_null() {
                return Err("SQLite has no default VFS".into());
            }
            let mut vfs: ffi::sqlite3_vfs = *default;
            vfs.szOsFile = (inner_offset() + (*default).szOsFile as usize) as c_int;
            vfs.pNext = ptr::null_mut();
            vfs.zName = NAME_C.as_ptr();
            vfs.xOpen = Some(open);
            let vfs = Box::leak(Box::new(vfs));
            let rc = ffi::sqlite3_vfs_register(vfs, 0);
            if rc != ffi::SQLITE_OK {
                return Err(format!("registering the VFS failed ({rc})"));
            }
            Ok(Registered { default })
        })
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

/// Makes the database file grow in steps of `bytes` (SQLITE_FCNTL_CHUNK_SIZE), so a busy
/// database changes its size, and with it the file system's metadata that every fsync must
/// then also commit, once per step instead of at every checkpoint.
pub fn set_chunk_size(conn: &rusqlite::Connection, bytes: c_int) -> Result<(), String> {
    let mut size = bytes;
    // SAFETY: the handle is live for the borrow of `conn`; the argument is an int, as
    // SQLITE_FCNTL_CHUNK_SIZE expects.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_CHUNK_SIZE,
            (&mut size as *mut c_int).cast(),
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(format!("setting the chunk size failed ({rc})"))
    }
}

fn default_vfs() -> *mut ffi::sqlite3_vfs {
    match REGISTERED.get() {
        Some(Ok(r)) => r.default,
        _ => ptr::null_mut(),
    }
}

const fn inner_offset() -> usize {
    let size = std::mem::size_of::<File>();
    let align = 16;
    size.div_ceil(align) * align
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    unsafe {
        let default = default_vfs();
        let this = file as *mut File;
        let inner = (file as *mut u8).add(inner_offset()) as *mut ffi::sqlite3_file;
        // SQLite calls xClose only when pMethods is set: leave it null until we succeed.
        (*this).base.pMethods = ptr::null();
        let Some(inner_open) = (*default).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        (*inner).pMethods = ptr::null();
        let rc = inner_open(default, name, inner, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            if let Some(close) = (*inner).pMethods.as_ref().and_then(|m| m.xClose) {
                close(inner);
            }
            return rc;
        }
        if (*inner).pMethods.is_null() {
            return ffi::SQLITE_CANTOPEN;
        }
        ptr::write(
            this,
            File {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                inner,
                wal: flags & ffi::SQLITE_OPEN_WAL != 0,
                pending: Vec::new(),
                pending_at: 0,
                commit_frame: false,
            },
        );
        rc
    }
}

fn inner_methods(f: &File) -> &ffi::sqlite3_io_methods {
    // SAFETY: `inner` was opened by the default VFS and stays open until `close`.
    unsafe { &*(*f.inner).pMethods }
}

/// Writes the pending appends; on failure they are dropped (the transaction that wrote
/// them fails with the returned code).
fn flush(f: &mut File) -> c_int {
    if f.pending.is_empty() {
        return ffi::SQLITE_OK;
    }
    let write = inner_methods(f).xWrite.expect("xWrite");
    let mut rc = ffi::SQLITE_OK;
    // The unix VFS writes at most 128 KiB - 1 bytes per call (it masks the length).
    for (i, chunk) in f.pending.chunks(WRITE_CHUNK).enumerate() {
        let at = f.pending_at + (i * WRITE_CHUNK) as i64;
        rc = unsafe { write(f.inner, chunk.as_ptr().cast(), chunk.len() as c_int, at) };
        if rc != ffi::SQLITE_OK {
            break;
        }
    }
    f.pending.clear();
    if f.pending.capacity() > 2 * FLUSH_AT {
        f.pending = Vec::new();
    }
    rc
}

unsafe fn this<'a>(file: *mut ffi::sqlite3_file) -> &'a mut File {
    unsafe { &mut *(file as *mut File) }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let f = this(file);
        let flushed = flush(f);
        let close = inner_methods(f).xClose.expect("xClose");
        let rc = close(f.inner);
        ptr::drop_in_place(&mut f.pending);
        f.base.pMethods = ptr::null();
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            rc
        }
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let f = this(file);
        let rc = flush(f);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        (inner_methods(f).xRead.expect("xRead"))(f.inner, buf, amount, offset)
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let f = this(file);
        if !f.wal {
            return (inner_methods(f).xWrite.expect("xWrite"))(f.inner, buf, amount, offset);
        }
        if !f.pending.is_empty() && offset != f.pending_at + f.pending.len() as i64 {
            let rc = flush(f);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let data = std::slice::from_raw_parts(buf as *const u8, amount as usize);
        if f.pending.is_empty() {
            f.pending_at = offset;
        }
        f.pending.extend_from_slice(data);
        if data.len() == FRAME_HEADER && offset >= WAL_HEADER {
            // Bytes 4..8 of a frame header: the database size after a commit, else 0.
            f.commit_frame = data[4..8] != [0, 0, 0, 0];
            return ffi::SQLITE_OK;
        }
        if std::mem::take(&mut f.commit_frame) || f.pending.len() >= FLUSH_AT {
            return flush(f);
        }
        ffi::SQLITE_OK
    }
}

macro_rules! flushing {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            unsafe {
                let f = this(file);
                let rc = flush(f);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                (inner_methods(f).$method.expect(stringify!($method)))(f.inner, $($arg),*)
            }
        }
    };
}

/// Passes a call through; a method the default VFS lacks answers `$missing`.
macro_rules! passing {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> $ret {
            unsafe {
                let f = this(file);
                match inner_methods(f).$method {
                    Some(method) => method(f.inner, $($arg),*),
                    None => $missing,
                }
            }
        }
    };
}

flushing!(truncate, xTruncate, (size: ffi::sqlite3_int64));
flushing!(sync, xSync, (flags: c_int));
flushing!(file_size, xFileSize, (size: *mut ffi::sqlite3_int64));
flushing!(file_control, xFileControl, (op: c_int, arg: *mut c_void));
passing!(lock, xLock, (level: c_int) -> c_int, ffi::SQLITE_IOERR);
passing!(unlock, xUnlock, (level: c_int) -> c_int, ffi::SQLITE_IOERR);
passing!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int) -> c_int, ffi::SQLITE_IOERR);
passing!(sector_size, xSectorSize, () -> c_int, 4096);
passing!(device_characteristics, xDeviceCharacteristics, () -> c_int, 0);
passing!(shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_IOERR);
passing!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int) -> c_int, ffi::SQLITE_IOERR);
passing!(shm_unmap, xShmUnmap, (delete: c_int) -> c_int, ffi::SQLITE_OK);
passing!(fetch, xFetch, (offset: ffi::sqlite3_int64, amount: c_int, out: *mut *mut c_void) -> c_int, {
    *out = ptr::null_mut();
    ffi::SQLITE_OK
});
passing!(unfetch, xUnfetch, (offset: ffi::sqlite3_int64, page: *mut c_void) -> c_int, ffi::SQLITE_OK);

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    unsafe {
        let f = this(file);
        if let Some(barrier) = inner_methods(f).xShmBarrier {
            barrier(f.inner);
        }
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, OpenFlags, params};

    fn open(path: &std::path::Path) -> Connection {
        super::register().unwrap();
        let c =
            Connection::open_with_flags_and_vfs(path, OpenFlags::default(), super::NAME).unwrap();
        c.execute_batch("PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=50;")
            .unwrap();
        c
    }

    #[test]
    fn commits_are_visible_to_other_connections_and_survive_reopening_without_the_vfs() {
        let dir = std::env::temp_dir().join(format!("ordo-vfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let _ = std::fs::remove_file(&path);
        let writer = open(&path);
        writer
            .execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL); CREATE INDEX t_v ON t (v);")
            .unwrap();
        let reader = open(&path);
        let mut expected = 0i64;
        for round in 0..40i64 {
            // Small transactions, and every tenth one larger than the page cache, so pages
            // spill into the WAL before the commit frame.
            let rows = if round % 10 == 9 { 5_000 } else { 50 };
            writer.execute_batch("BEGIN").unwrap();
            for i in 0..rows {
                let k = round * 100_000 + i;
                writer
                    .execute(
                        "INSERT INTO t (k, v) VALUES (?1, ?2)",
                        params![k, format!("{:x}", k * 7919 % 100_003)],
                    )
                    .unwrap();
            }
            if round % 7 == 3 {
                writer.execute_batch("ROLLBACK").unwrap();
            } else {
                writer.execute_batch("COMMIT").unwrap();
                expected += rows;
            }
            let seen: i64 = reader
                .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(seen, expected, "after round {round}");
            if round % 13 == 12 {
                writer
                    .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                    .unwrap();
            }
        }
        let ok: String = reader
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        drop(reader);
        drop(writer);
        let plain = Connection::open(&path).unwrap();
        let count: i64 = plain
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, expected);
        let ok: String = plain
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        drop(plain);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
