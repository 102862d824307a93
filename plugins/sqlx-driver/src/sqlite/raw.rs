//! SQLite rows read straight from the connection's `sqlite3*` on the producing task.
//!
//! sqlx's SQLite connection steps statements on its own worker thread and hands every row over
//! a channel as owned copies of its values; for big results that hand-over costs more than
//! SQLite itself. While the connection's handle is locked (sqlx guarantees its worker makes
//! no call on it meanwhile) we step our own statement through the same SQLite library sqlx
//! links and write each value straight into the page's Arrow builders.
// Steps statements through SQLite's C API directly.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int};
use std::ptr::{self, NonNull};

use keeperdb_driver_sdk::DriverError;
use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

use crate::Args;
use crate::columns::{Col, PAGE_ROWS, Page};
use crate::errors::{Ctx, internal, sqlite_error};
use crate::stream::{Msg, PumpEnd, Tx};

use super::types::{Seen, mixed_types};

/// One value of the current row, borrowed from SQLite until the next step.
enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

impl Cell<'_> {
    fn class(&self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Int(_) => "INTEGER",
            Cell::Real(_) => "REAL",
            Cell::Text(_) => "TEXT",
            Cell::Blob(_) => "BLOB",
        }
    }
}

/// A value of the first page, kept until the page's column types are known.
enum Owned {
    Null,
    Int(i64),
    Real(f64),
    Text(Box<[u8]>),
    Blob(Box<[u8]>),
}

impl Owned {
    fn cell(&self) -> Cell<'_> {
        match self {
            Owned::Null => Cell::Null,
            Owned::Int(n) => Cell::Int(*n),
            Owned::Real(f) => Cell::Real(*f),
            Owned::Text(t) => Cell::Text(t),
            Owned::Blob(b) => Cell::Blob(b),
        }
    }
}

/// A statement prepared on the locked handle; finalized when dropped, which happens before
/// the handle is unlocked (it is dropped inside [`stream`], which borrows the handle).
struct Stmt {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: NonNull<ffi::sqlite3>,
}

// SAFETY: the pointers are used only by the task that holds the connection's handle lock,
// which keeps sqlx's worker thread off the connection; SQLite connections opened by sqlx use
// the serialized/multi-thread modes, which allow use from any one thread at a time.
unsafe impl Send for Stmt {}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: the statement is valid and finalized exactly once.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// The connection's last error, as a driver error.
fn db_error(db: NonNull<ffi::sqlite3>, ctx: &Ctx<'_>) -> DriverError {
    // SAFETY: the handle is valid while locked; errmsg is a NUL-terminated string owned by
    // SQLite, copied before any other call on the handle.
    let (code, message) = unsafe {
        let code = ffi::sqlite3_extended_errcode(db.as_ptr());
        let msg = ffi::sqlite3_errmsg(db.as_ptr());
        let message = if msg.is_null() {
            "unknown SQLite error".to_string()
        } else {
            String::from_utf8_lossy(CStr::from_ptr(msg).to_bytes()).into_owned()
        };
        (code, message)
    };
    sqlite_error(&message, Some(code.to_string()), ctx)
}

impl Stmt {
    fn error(&self, ctx: &Ctx<'_>) -> DriverError {
        db_error(self.db, ctx)
    }

    /// Step to the next row: true for a row, false at the end.
    fn step(&mut self, ctx: &Ctx<'_>) -> Result<bool, DriverError> {
        // SAFETY: a valid statement on the locked handle.
        match unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            _ => Err(self.error(ctx)),
        }
    }

    fn cell(&self, i: c_int) -> Cell<'_> {
        let s = self.stmt.as_ptr();
        // SAFETY: the statement is on a row and `i` is one of its columns; the text/blob
        // pointer is read before its length (the order SQLite documents) and the slice lives
        // no longer than `&self`, i.e. until the next step.
        unsafe {
            match ffi::sqlite3_column_type(s, i) {
                ffi::SQLITE_INTEGER => Cell::Int(ffi::sqlite3_column_int64(s, i)),
                ffi::SQLITE_FLOAT => Cell::Real(ffi::sqlite3_column_double(s, i)),
                ffi::SQLITE_TEXT => Cell::Text(bytes(
                    ffi::sqlite3_column_text(s, i),
                    ffi::sqlite3_column_bytes(s, i),
                )),
                ffi::SQLITE_BLOB => Cell::Blob(bytes(
                    ffi::sqlite3_column_blob(s, i).cast(),
                    ffi::sqlite3_column_bytes(s, i),
                )),
                _ => Cell::Null,
            }
        }
    }
}

/// # Safety
/// `p` is null or points at `n` readable bytes that outlive `'a`.
unsafe fn bytes<'a>(p: *const u8, n: c_int) -> &'a [u8] {
    match usize::try_from(n) {
        Ok(n) if n > 0 && !p.is_null() => unsafe { std::slice::from_raw_parts(p, n) },
        _ => &[],
    }
}

/// Prepare `sql` (one statement) and bind `args` as text. `Ok(None)` when the text holds more
/// than one statement: sqlx runs those.
fn prepare(
    handle: &mut LockedSqliteHandle<'_>,
    sql: &str,
    args: &Args,
    ctx: &Ctx<'_>,
) -> Result<Option<Stmt>, DriverError> {
    let db = handle.as_raw_handle();
    let Ok(len) = c_int::try_from(sql.len()) else {
        return Ok(None);
    };
    let mut raw: *mut ffi::sqlite3_stmt = ptr::null_mut();
    let mut tail: *const c_char = ptr::null();
    // SAFETY: `sql` is valid for `len` bytes; out-pointers are valid.
    let rc = unsafe {
        ffi::sqlite3_prepare_v2(db.as_ptr(), sql.as_ptr().cast(), len, &mut raw, &mut tail)
    };
    let Some(stmt) = NonNull::new(raw) else {
        if rc != ffi::SQLITE_OK {
            return Err(db_error(db, ctx));
        }
        // Only whitespace or comments: let sqlx answer as it always did.
        return Ok(None);
    };
    let stmt = Stmt { stmt, db };
    if rc != ffi::SQLITE_OK {
        return Err(stmt.error(ctx));
    }
    // SAFETY: SQLite sets `tail` to a position inside `sql`.
    let used = if tail.is_null() {
        sql.len()
    } else {
        usize::try_from(unsafe { tail.offset_from(sql.as_ptr().cast()) }).unwrap_or(0)
    };
    let rest = sql.get(used..).unwrap_or_default();
    if !rest
        .trim_matches(|c: char| c.is_whitespace() || c == ';')
        .is_empty()
    {
        return Ok(None);
    }
    for (i, a) in args.iter().enumerate() {
        let n = c_int::try_from(i + 1).map_err(|_| internal("too many parameters"))?;
        // SAFETY: valid statement; SQLITE_TRANSIENT makes SQLite copy the text.
        let rc = unsafe {
            match a {
                Some(v) => ffi::sqlite3_bind_text(
                    stmt.stmt.as_ptr(),
                    n,
                    v.as_ptr().cast(),
                    c_int::try_from(v.len()).map_err(|_| internal("parameter too long"))?,
                    ffi::SQLITE_TRANSIENT(),
                ),
                None => ffi::sqlite3_bind_null(stmt.stmt.as_ptr(), n),
            }
        };
        if rc != ffi::SQLITE_OK {
            return Err(stmt.error(ctx));
        }
    }
    Ok(Some(stmt))
}

/// Rows changed on this connection since it opened, triggers included (never reset by DDL,
/// unlike `sqlite3_changes`, which keeps the last INSERT/UPDATE/DELETE's count).
pub(super) fn total_changes(handle: &mut LockedSqliteHandle<'_>) -> i64 {
    let db = handle.as_raw_handle();
    // SAFETY: a valid, open connection handle held locked for the call.
    unsafe { ffi::sqlite3_total_changes64(db.as_ptr()) }
}

/// A REAL's text exactly as SQLite itself (and so the sqlite3 shell) writes it: `%!.15g`,
/// which always keeps a decimal point (`3.0`, `1.0e+308`).
pub(super) fn real_text(f: f64) -> String {
    const FORMAT: &CStr = c"%!.15g";
    // SAFETY: SQLite's own printf with a format taking exactly one double; the result is a
    // NUL-terminated string SQLite allocated (or NULL when out of memory), copied and then
    // freed with sqlite3_free as documented.
    unsafe {
        let p = ffi::sqlite3_mprintf(FORMAT.as_ptr(), f);
        if p.is_null() {
            return f.to_string();
        }
        let text = CStr::from_ptr(p).to_string_lossy().into_owned();
        ffi::sqlite3_free(p.cast());
        text
    }
}

/// Append one value; returns its approximate size. `Err(None)`: the value's type does not
/// fit the column's.
fn append(col: &mut Col, cell: &Cell<'_>) -> Result<usize, Option<DriverError>> {
    let fits = |r: Result<(), DriverError>, bytes: usize| r.map(|_| bytes).map_err(|_| None);
    match *cell {
        Cell::Null => {
            col.append_null();
            Ok(8)
        }
        Cell::Int(n) => match col {
            Col::Binary(b) => {
                b.append_value(n.to_string());
                Ok(8)
            }
            _ => fits(col.append_i64(n), 8),
        },
        Cell::Real(f) => match col {
            Col::I64(_) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                fits(col.append_i64(f as i64), 8)
            }
            Col::Utf8(_) => fits(col.append_str(&real_text(f)), 8),
            _ => fits(col.append_f64(f), 8),
        },
        Cell::Blob(b) => fits(col.append_bytes(b), 8 + b.len()),
        Cell::Text(t) => {
            let s = std::str::from_utf8(t)
                .map_err(|e| Some(internal(format!("invalid UTF-8 in a TEXT value: {e}"))))?;
            match col {
                Col::Binary(b) => {
                    b.append_value(s.as_bytes());
                    Ok(8 + t.len())
                }
                _ => fits(col.append_str(s), 8 + t.len()),
            }
        }
    }
}

fn append_row<'a>(
    cols: &mut [Col],
    names: &[String],
    cells: impl Iterator<Item = Cell<'a>>,
) -> Result<usize, DriverError> {
    let mut bytes = 0;
    for (i, (col, cell)) in cols.iter_mut().zip(cells).enumerate() {
        bytes += append(col, &cell).map_err(|e| {
            e.unwrap_or_else(|| {
                mixed_types(i, names.get(i).map_or("", String::as_str), cell.class())
            })
        })?;
    }
    Ok(bytes)
}

/// Stream the rows of `sql`: the schema, then pages. `None` when `sql` is not a single
/// statement (nothing was sent; the caller runs it through sqlx).
pub(super) async fn stream(
    handle: &mut LockedSqliteHandle<'_>,
    sql: &str,
    args: &Args,
    tx: &Tx,
    ctx: &Ctx<'_>,
    names: &[String],
    page_for: impl FnOnce(&[Seen]) -> Page,
) -> Option<PumpEnd> {
    let mut stmt = match prepare(handle, sql, args, ctx) {
        Ok(Some(s)) => s,
        Ok(None) => return None,
        Err(e) => {
            tx.send(Msg::Err(e)).await;
            return Some(PumpEnd::Ended);
        }
    };
    let ncols = names.len();
    let width = c_int::try_from(ncols).unwrap_or(c_int::MAX);

    // The first page's values choose the column types, so they are kept until then.
    let mut first: Vec<Owned> = Vec::new();
    let mut seen = vec![Seen::default(); ncols];
    let mut more = true;
    let mut rows = 0;
    // Stepping may run long (a sort, an aggregate) and blocks this thread: tell the runtime,
    // so the other connections' tasks move to another worker meanwhile.
    let read = tokio::task::block_in_place(|| {
        while rows < PAGE_ROWS {
            if !stmt.step(ctx)? {
                more = false;
                break;
            }
            for (i, s) in (0..width).zip(seen.iter_mut()) {
                first.push(match stmt.cell(i) {
                    Cell::Null => Owned::Null,
                    Cell::Int(n) => {
                        s.int = true;
                        Owned::Int(n)
                    }
                    Cell::Real(f) => {
                        s.real = true;
                        Owned::Real(f)
                    }
                    Cell::Text(t) => {
                        s.text = true;
                        Owned::Text(t.into())
                    }
                    Cell::Blob(b) => {
                        s.blob = true;
                        Owned::Blob(b.into())
                    }
                });
            }
            rows += 1;
        }
        Ok::<(), DriverError>(())
    });
    if let Err(e) = read {
        tx.send(Msg::Err(e)).await;
        return Some(PumpEnd::Ended);
    }
    let mut page = page_for(&seen);
    if !tx.send(Msg::Schema(page.schema.clone())).await {
        return Some(PumpEnd::Ended);
    }
    for row in first.chunks(ncols.max(1)).take(rows) {
        let appended = append_row(&mut page.cols, names, row.iter().map(Owned::cell));
        match appended {
            Ok(bytes) => {
                if page.row_done(bytes) && !send_page(&mut page, tx).await {
                    return Some(PumpEnd::Ended);
                }
            }
            Err(e) => {
                tx.send(Msg::Err(e)).await;
                return Some(PumpEnd::Ended);
            }
        }
    }
    drop(first);

    while more {
        // Fill a page without yielding (the rows are local and the handle is ours), off the
        // runtime's books as above.
        let filled = tokio::task::block_in_place(|| {
            loop {
                match stmt.step(ctx) {
                    Ok(true) => {}
                    Ok(false) => {
                        more = false;
                        break Ok(());
                    }
                    Err(e) => break Err(e),
                }
                let s = &stmt;
                match append_row(&mut page.cols, names, (0..width).map(|i| s.cell(i))) {
                    Ok(bytes) => {
                        if page.row_done(bytes) {
                            break Ok(());
                        }
                    }
                    Err(e) => break Err(e),
                }
            }
        });
        if let Err(e) = filled {
            tx.send(Msg::Err(e)).await;
            return Some(PumpEnd::Ended);
        }
        if more && !send_page(&mut page, tx).await {
            return Some(PumpEnd::Ended);
        }
    }
    if page.rows > 0 && !send_page(&mut page, tx).await {
        return Some(PumpEnd::Ended);
    }
    Some(PumpEnd::Finished)
}

async fn send_page(page: &mut Page, tx: &Tx) -> bool {
    match page.take() {
        Ok(batch) => tx.send(Msg::Batch(batch)).await,
        Err(e) => {
            tx.send(Msg::Err(e)).await;
            false
        }
    }
}
