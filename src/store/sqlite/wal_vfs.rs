//! A VFS over SQLite's default one whose WAL files gather a transaction's writes into one
//! `pwrite` per commit.
//!
//! SQLite writes each WAL frame as two `pwrite`s, its 24-byte header and then its page. At
//! saturation a commit carries a few dirty pages per alert, so the writer made about five
//! `pwrite`s per alert, about 5 % of the daemon's CPU (perf). Here the writes to a WAL file
//! collect in a buffer while they run on from each other, and go to the file in one call
//! when SQLite syncs the file (the commit), reads it back, asks its size, truncates or
//! closes it, or writes elsewhere in it.
//!
//! Only for `synchronous = FULL`: there SQLite syncs the WAL before it publishes a commit
//! in the WAL index, so no other connection (a reader, the checkpointer) can look for a
//! frame that is still in the buffer. Under NORMAL nothing syncs at a commit, and the store
//! opens its writer on the default VFS.
//!
//! A write the buffer holds is one SQLite has not yet committed: a crash loses it as it
//! loses any uncommitted frame, and a failed flush fails the sync (the commit) that forced
//! it, as a failed write would have. The database file and everything but the WAL go
//! through the default VFS untouched.

use std::ffi::{CStr, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name to open a connection with (`Connection::open_with_flags_and_vfs`).
pub const NAME: &str = "pagerd-wal";
const NAME_C: &CStr = c"pagerd-wal";

/// Writes beyond this are not buffered (a commit of about 1,000 pages).
const MAX_BUFFER: usize = 1 << 20;

/// The most one call to the default VFS writes: it writes at most 128 KiB − 1 bytes per
/// `pwrite` and takes a shorter write for a full disk.
const MAX_WRITE: usize = 31 * 4096;

/// What a WAL file keeps beside SQLite's own file struct: writes not yet made.
struct Pending {
    buf: Vec<u8>,
    /// Where `buf` goes in the file.
    at: i64,
}

/// The default VFS and how a WAL file's methods wrap its own.
struct Vfs {
    base: *mut ffi::sqlite3_vfs,
    /// Where [`Pending`] starts in a file struct: after the default VFS's part.
    pending_at: usize,
    wal: OnceLock<Wrapped>,
}

/// A WAL file's methods: the default ones, with the writes gathered.
struct Wrapped {
    inner: *const ffi::sqlite3_io_methods,
    methods: ffi::sqlite3_io_methods,
}

// SAFETY: the pointers are to SQLite's static VFS and method tables, which never change or
// go away once SQLite is initialised.
unsafe impl Send for Vfs {}
unsafe impl Sync for Vfs {}
unsafe impl Send for Wrapped {}
unsafe impl Sync for Wrapped {}

static VFS: OnceLock<Result<Vfs, String>> = OnceLock::new();

/// Registers the VFS (once); an error names why it could not be.
pub fn register() -> Result<(), String> {
    VFS.get_or_init(|| unsafe { register_once() })
        .as_ref()
        .map(drop)
        .map_err(Clone::clone)
}

unsafe fn register_once() -> Result<Vfs, String> {
    // SAFETY: `sqlite3_vfs_find` initialises SQLite and returns its default VFS, a static.
    let base = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if base.is_null() {
        return Err("SQLite has no default VFS".into());
    }
    // SAFETY: `base` points to a valid VFS; ours is a copy with its own name, file size and
    // `xOpen`, so its other methods behave as the default's (they read only `mxPathname`
    // and `pAppData`, which are copied).
    let mut vfs: ffi::sqlite3_vfs = unsafe { ptr::read(base) };
    let align = std::mem::align_of::<Pending>();
    let pending_at = (vfs.szOsFile as usize).div_ceil(align) * align;
    vfs.szOsFile = (pending_at + std::mem::size_of::<Pending>()) as c_int;
    vfs.zName = NAME_C.as_ptr();
    vfs.xOpen = Some(x_open);
    vfs.pNext = ptr::null_mut();
    let ours = Box::leak(Box::new(vfs));
    let made = Vfs {
        base,
        pending_at,
        wal: OnceLock::new(),
    };
    // SAFETY: `ours` lives for the rest of the process, as SQLite requires.
    let rc = unsafe { ffi::sqlite3_vfs_register(ours, 0) };
    if rc != ffi::SQLITE_OK {
        return Err(format!("registering the WAL VFS failed (SQLite code {rc})"));
    }
    Ok(made)
}

fn vfs() -> &'static Vfs {
    match VFS.get() {
        Some(Ok(v)) => v,
        // SQLite calls our methods only for files opened through the registered VFS.
        _ => unreachable!("the WAL VFS is used only once registered"),
    }
}

fn wrapped() -> &'static Wrapped {
    vfs()
        .wal
        .get()
        .expect("WAL methods are set before a file uses them")
}

fn inner() -> &'static ffi::sqlite3_io_methods {
    // SAFETY: the default VFS's method table is static.
    unsafe { &*wrapped().inner }
}

/// The buffer of a file opened as a WAL through this VFS.
///
/// # Safety
/// `f` must be such a file, open.
unsafe fn pending<'a>(f: *mut ffi::sqlite3_file) -> &'a mut Pending {
    unsafe { &mut *f.cast::<u8>().add(vfs().pending_at).cast::<Pending>() }
}

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    f: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let v = vfs();
    // SAFETY: the default VFS opens into the front of our (larger) file struct; it is given
    // itself, as it expects (it reads its own `pAppData`).
    let rc = unsafe {
        ((*v.base).xOpen.expect("the default VFS opens files"))(v.base, name, f, flags, out_flags)
    };
    // SAFETY: after a successful open, `pMethods` is the default VFS's table for the file.
    let methods = unsafe { (*f).pMethods };
    if rc != ffi::SQLITE_OK || flags & ffi::SQLITE_OPEN_WAL == 0 || methods.is_null() {
        return rc;
    }
    let w = v.wal.get_or_init(|| wrap(methods));
    if !ptr::eq(w.inner, methods) {
        // Another locking style than the first WAL file's: left as SQLite made it.
        return rc;
    }
    // SAFETY: the bytes after the default VFS's part are ours (`szOsFile`), uninitialised.
    unsafe {
        ptr::write(
            f.cast::<u8>().add(v.pending_at).cast::<Pending>(),
            Pending {
                buf: Vec::new(),
                at: 0,
            },
        );
        (*f).pMethods = &w.methods;
    }
    rc
}

fn wrap(inner: *const ffi::sqlite3_io_methods) -> Wrapped {
    // SAFETY: `inner` is the default VFS's static method table.
    let mut methods = unsafe { ptr::read(inner) };
    methods.xClose = Some(x_close);
    methods.xRead = Some(x_read);
    methods.xWrite = Some(x_write);
    methods.xTruncate = Some(x_truncate);
    methods.xSync = Some(x_sync);
    methods.xFileSize = Some(x_file_size);
    methods.xFileControl = Some(x_file_control);
    if methods.iVersion >= 3 {
        methods.xFetch = Some(x_fetch);
    }
    Wrapped { inner, methods }
}

/// Writes what the buffer holds. The buffer is emptied either way: on an error SQLite fails
/// the commit, and the frames are written again by a later one.
unsafe fn flush(f: *mut ffi::sqlite3_file) -> c_int {
    let p = unsafe { pending(f) };
    if p.buf.is_empty() {
        return ffi::SQLITE_OK;
    }
    let mut rc = ffi::SQLITE_OK;
    for (i, chunk) in p.buf.chunks(MAX_WRITE).enumerate() {
        rc = unsafe {
            (inner().xWrite.expect("files are written"))(
                f,
                chunk.as_ptr().cast(),
                chunk.len() as c_int,
                p.at + (i * MAX_WRITE) as i64,
            )
        };
        if rc != ffi::SQLITE_OK {
            break;
        }
    }
    p.buf.clear();
    rc
}

unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let p = unsafe { pending(f) };
    // SAFETY: SQLite passes `amount` readable bytes.
    let src = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), amount as usize) };
    match gather(&mut p.buf, &mut p.at, src, offset) {
        Gather::Taken => ffi::SQLITE_OK,
        Gather::FlushFirst => {
            let rc = unsafe { flush(f) };
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match gather(&mut p.buf, &mut p.at, src, offset) {
                Gather::Taken => ffi::SQLITE_OK,
                _ => unsafe {
                    (inner().xWrite.expect("files are written"))(f, data, amount, offset)
                },
            }
        }
        Gather::TooBig => unsafe {
            (inner().xWrite.expect("files are written"))(f, data, amount, offset)
        },
    }
}

/// What to do with one write.
#[derive(Debug, PartialEq, Eq)]
enum Gather {
    /// In the buffer now.
    Taken,
    /// Not next to what the buffer holds: write the buffer first, then try again.
    FlushFirst,
    /// Larger than the buffer may grow: write it by itself (the buffer is empty).
    TooBig,
}

/// Adds a write of `src` at `offset` to the buffer (`buf` going at `at`) if it starts
/// inside or right after what the buffer holds: the buffer then holds what the file would.
fn gather(buf: &mut Vec<u8>, at: &mut i64, src: &[u8], offset: i64) -> Gather {
    if buf.is_empty() {
        if src.len() > MAX_BUFFER {
            return Gather::TooBig;
        }
        *at = offset;
        buf.extend_from_slice(src);
        return Gather::Taken;
    }
    let end = *at + buf.len() as i64;
    if offset < *at || offset > end {
        return Gather::FlushFirst;
    }
    let start = (offset - *at) as usize;
    if start + src.len() > MAX_BUFFER {
        return Gather::FlushFirst;
    }
    let overlap = src.len().min(buf.len() - start);
    buf[start..start + overlap].copy_from_slice(&src[..overlap]);
    buf.extend_from_slice(&src[overlap..]);
    Gather::Taken
}

/// Writes the buffer, then (if that worked) runs `call`: what every method but a write does
/// first, so it sees the file as SQLite wrote it.
unsafe fn after_flush(f: *mut ffi::sqlite3_file, call: impl FnOnce() -> c_int) -> c_int {
    match unsafe { flush(f) } {
        ffi::SQLITE_OK => call(),
        rc => rc,
    }
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    let flushed = unsafe { flush(f) };
    // SAFETY: the buffer was written at open and is dropped once, here.
    unsafe { ptr::drop_in_place(pending(f)) };
    let rc = unsafe { (inner().xClose.expect("files are closed"))(f) };
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        rc
    }
}

unsafe extern "C" fn x_read(
    f: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    unsafe {
        after_flush(f, || {
            (inner().xRead.expect("files are read"))(f, data, amount, offset)
        })
    }
}

unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    unsafe {
        after_flush(f, || {
            (inner().xTruncate.expect("files are truncated"))(f, size)
        })
    }
}

unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    unsafe { after_flush(f, || (inner().xSync.expect("files are synced"))(f, flags)) }
}

unsafe extern "C" fn x_file_size(f: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    unsafe {
        after_flush(f, || {
            (inner().xFileSize.expect("files have sizes"))(f, size)
        })
    }
}

unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    unsafe {
        after_flush(f, || {
            (inner().xFileControl.expect("files take controls"))(f, op, arg)
        })
    }
}

unsafe extern "C" fn x_fetch(
    f: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe {
        after_flush(f, || {
            (inner().xFetch.expect("version 3 methods fetch"))(f, offset, amount, out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (why, writes as (offset, bytes), the buffer after them as (at, bytes) and what each
    /// write answered)
    type Case = (
        &'static str,
        Vec<(i64, &'static [u8])>,
        (i64, &'static [u8]),
        Vec<Gather>,
    );

    #[test]
    fn writes_gather_while_they_run_on_and_the_buffer_holds_what_the_file_would() {
        use Gather::*;
        let cases: Vec<Case> = vec![
            ("one write", vec![(32, b"ab")], (32, b"ab"), vec![Taken]),
            (
                "a frame's header then its page",
                vec![(32, b"hh"), (34, b"pppp"), (38, b"hh")],
                (32, b"hhpppphh"),
                vec![Taken, Taken, Taken],
            ),
            (
                "an earlier frame rewritten in place",
                vec![(0, b"aaaa"), (4, b"bbbb"), (2, b"XY")],
                (0, b"aaXYbbbb"),
                vec![Taken, Taken, Taken],
            ),
            (
                "a rewrite running past the end extends it",
                vec![(0, b"aaaa"), (2, b"XYZW")],
                (0, b"aaXYZW"),
                vec![Taken, Taken],
            ),
            (
                "a gap after the end",
                vec![(0, b"aa"), (3, b"b")],
                (0, b"aa"),
                vec![Taken, FlushFirst],
            ),
            (
                "before the start",
                vec![(10, b"aa"), (8, b"b")],
                (10, b"aa"),
                vec![Taken, FlushFirst],
            ),
        ];
        for (why, writes, (at, bytes), answers) in cases {
            let (mut buf, mut start) = (Vec::new(), 0);
            let got: Vec<Gather> = writes
                .iter()
                .map(|(off, b)| gather(&mut buf, &mut start, b, *off))
                .collect();
            assert_eq!(got, answers, "{why}");
            assert_eq!((start, buf.as_slice()), (at, bytes), "{why}");
        }
    }

    #[test]
    fn the_buffer_stays_bounded() {
        let big = vec![7u8; MAX_BUFFER + 1];
        let (mut buf, mut at) = (Vec::new(), 0);
        assert_eq!(gather(&mut buf, &mut at, &big, 0), Gather::TooBig);
        assert!(buf.is_empty());
        let most = vec![1u8; MAX_BUFFER - 10];
        assert_eq!(gather(&mut buf, &mut at, &most, 0), Gather::Taken);
        assert_eq!(
            gather(&mut buf, &mut at, &[2u8; 11], (MAX_BUFFER - 10) as i64),
            Gather::FlushFirst
        );
    }

    /// A writer through the VFS, with a page cache small enough that transactions spill
    /// frames mid-way and rewrite them, one transaction rolled back after spilling; readers
    /// and a checkpoint on the default VFS see exactly what was committed, at each commit.
    #[test]
    fn what_a_writer_commits_through_it_is_what_every_other_connection_reads() {
        register().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let w = rusqlite::Connection::open_with_flags_and_vfs(
            &path,
            rusqlite::OpenFlags::default(),
            NAME,
        )
        .unwrap();
        w.pragma_update(None, "page_size", 1024).unwrap();
        w.pragma_update(None, "journal_mode", "WAL").unwrap();
        w.pragma_update(None, "synchronous", "FULL").unwrap();
        w.pragma_update(None, "cache_size", 20).unwrap();
        w.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        w.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)", [])
            .unwrap();
        let r = rusqlite::Connection::open(&path).unwrap();
        let seen = |r: &rusqlite::Connection| -> (i64, i64) {
            r.query_row(
                "SELECT COUNT(*), COALESCE(SUM(length(v)), 0) FROM t",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap()
        };
        let mut expect = (0i64, 0i64);
        for round in 0..4i64 {
            let tx = w.unchecked_transaction().unwrap();
            for i in 0..300i64 {
                let len = 100 + (i * 37 + round) % 900;
                tx.execute("INSERT INTO t (v) VALUES (randomblob(?1))", [len])
                    .unwrap();
                expect = (expect.0 + 1, expect.1 + len);
            }
            // Rewrites pages written (and spilled) earlier in the transaction.
            tx.execute("UPDATE t SET v = zeroblob(length(v)) WHERE id % 7 = 0", [])
                .unwrap();
            if round == 2 {
                tx.rollback().unwrap();
                expect = (
                    expect.0 - 300,
                    expect.1 - (0..300).map(|i| 100 + (i * 37 + 2) % 900).sum::<i64>(),
                );
            } else {
                tx.commit().unwrap();
            }
            assert_eq!(seen(&r), expect, "round {round}");
            if round == 1 {
                r.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    .unwrap();
            }
        }
        drop(w);
        assert_eq!(seen(&r), expect);
        let check: String = r
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}
