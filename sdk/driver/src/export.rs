//! The C side of [`crate::export_driver!`]: turns a [`Driver`] into a [`KdbDriverTable`].
//! Every function here catches panics, so nothing unwinds into the host.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::RecordBatchReader;
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_schema::{ArrowError, SchemaRef};

use crate::ffi::{
    KdbBuf, KdbDriverTable, KdbError, KdbHeader, KdbResult, KdbStr, RESULT_DONE, RESULT_ROWS,
    STATUS_OK,
};
use crate::{
    Canceller, CatalogRequest, ConnectParams, Connection, Driver, DriverError, ErrorKind, Password,
    QueryResult,
};

/// Gives the export functions the one driver instance (implemented by the macro).
pub trait Instance: Driver {
    /// The driver instance, created on first use.
    fn instance() -> &'static Self;
}

/// The table for a driver type; the macro stores it in a `static`.
pub const fn table<D: Instance>() -> KdbDriverTable {
    KdbDriverTable {
        header: KdbHeader::current(),
        info: Some(info::<D>),
        connect: Some(connect::<D>),
        execute: Some(execute::<D>),
        catalog: Some(catalog::<D>),
        canceller_new: Some(canceller_new::<D>),
        cancel: Some(cancel),
        canceller_release: Some(canceller_release),
        close: Some(close::<D>),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

fn leak_bytes(s: &str) -> (*mut u8, usize) {
    let boxed: Box<[u8]> = s.as_bytes().into();
    let len = boxed.len();
    (Box::into_raw(boxed).cast::<u8>(), len)
}

/// # Safety
/// `ptr`/`len` must come from [`leak_bytes`] and not have been freed.
unsafe fn free_bytes(ptr: *mut u8, len: usize) {
    if !ptr.is_null() {
        // SAFETY: ptr/len were produced by Box::into_raw of a Box<[u8]> of that length.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }
}

unsafe extern "C" fn release_error(err: *mut KdbError) {
    if err.is_null() {
        return;
    }
    // SAFETY: the host passes back the error we filled.
    let err = unsafe { &mut *err };
    // SAFETY: both buffers were made by leak_bytes.
    unsafe {
        free_bytes(err.message, err.message_len);
        free_bytes(err.code, err.code_len);
    }
    err.message = std::ptr::null_mut();
    err.code = std::ptr::null_mut();
    err.message_len = 0;
    err.code_len = 0;
    err.release = None;
}

unsafe extern "C" fn release_buf(buf: *mut KdbBuf) {
    if buf.is_null() {
        return;
    }
    // SAFETY: the host passes back the buffer we filled.
    let buf = unsafe { &mut *buf };
    // SAFETY: made by leak_bytes.
    unsafe { free_bytes(buf.ptr, buf.len) };
    buf.ptr = std::ptr::null_mut();
    buf.len = 0;
    buf.release = None;
}

fn write_error(out: *mut KdbError, error: DriverError) -> i32 {
    let status = error.kind.status();
    if !out.is_null() {
        let (message, message_len) = leak_bytes(&error.message);
        let (code, code_len) = match &error.code {
            Some(c) => leak_bytes(c),
            None => (std::ptr::null_mut(), 0),
        };
        // SAFETY: the host passes a valid, writable KdbError (checked non-null above).
        unsafe {
            out.write(KdbError {
                kind: status,
                message,
                message_len,
                code,
                code_len,
                release: Some(release_error),
            });
        }
    }
    status
}

/// Run `f`, turning a returned error or a panic into a status and a filled [`KdbError`].
fn guard(what: &str, err: *mut KdbError, f: impl FnOnce() -> Result<(), DriverError>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => STATUS_OK,
        Ok(Err(e)) => write_error(err, e),
        Err(payload) => write_error(
            err,
            DriverError::new(
                ErrorKind::Internal,
                format!(
                    "the driver panicked in {what}: {}",
                    panic_message(&*payload)
                ),
            ),
        ),
    }
}

fn bad_input(what: &str) -> DriverError {
    DriverError::new(
        ErrorKind::Internal,
        format!("the host passed an invalid {what}"),
    )
}

/// # Safety
/// `s` must describe live memory for the duration of the call.
unsafe fn str_arg<'a>(s: KdbStr, what: &str) -> Result<&'a str, DriverError> {
    // SAFETY: forwarded from the caller.
    std::str::from_utf8(unsafe { s.as_bytes() }).map_err(|_| bad_input(what))
}

unsafe extern "C" fn info<D: Instance>(out: *mut KdbBuf, err: *mut KdbError) -> i32 {
    guard("info", err, || {
        if out.is_null() {
            return Err(bad_input("output pointer"));
        }
        let json = serde_json::to_string(&D::instance().info())
            .map_err(|e| DriverError::new(ErrorKind::Internal, e.to_string()))?;
        let (ptr, len) = leak_bytes(&json);
        // SAFETY: out is non-null and points to the host's KdbBuf.
        unsafe {
            out.write(KdbBuf {
                ptr,
                len,
                release: Some(release_buf),
            })
        };
        Ok(())
    })
}

unsafe extern "C" fn connect<D: Instance>(
    params: KdbStr,
    password: KdbStr,
    out_conn: *mut *mut c_void,
    err: *mut KdbError,
) -> i32 {
    guard("connect", err, || {
        if out_conn.is_null() {
            return Err(bad_input("output pointer"));
        }
        // SAFETY: the host keeps the strings alive for the call.
        let json = unsafe { str_arg(params, "connect parameters")? };
        let params: ConnectParams = serde_json::from_str(json).map_err(|e| {
            DriverError::new(
                ErrorKind::Internal,
                format!("the host passed invalid connect parameters: {e}"),
            )
        })?;
        let password = if password.ptr.is_null() {
            None
        } else {
            // SAFETY: as above.
            Some(Password::new(
                unsafe { str_arg(password, "password")? }.to_string(),
            ))
        };
        let conn = D::instance().connect(params, password)?;
        let boxed: Box<D::Connection> = Box::new(conn);
        // SAFETY: out_conn is non-null.
        unsafe { out_conn.write(Box::into_raw(boxed).cast::<c_void>()) };
        Ok(())
    })
}

fn write_result(out: *mut KdbResult, result: QueryResult) -> Result<(), DriverError> {
    if out.is_null() {
        return Err(bad_input("output pointer"));
    }
    // SAFETY: out is non-null and points to the host's KdbResult.
    let out = unsafe { &mut *out };
    match result {
        QueryResult::Rows(reader) => {
            let safe = SafeReader::new(reader)?;
            out.kind = RESULT_ROWS;
            out.rows_affected = 0;
            out.stream = FFI_ArrowArrayStream::new(Box::new(safe));
        }
        QueryResult::Done { rows_affected } => {
            out.kind = RESULT_DONE;
            out.rows_affected = rows_affected;
        }
    }
    Ok(())
}

/// # Safety
/// `conn` must be a connection made by [`connect`] for the same driver type, not yet closed.
unsafe fn conn_mut<'a, D: Driver>(conn: *mut c_void) -> Result<&'a mut D::Connection, DriverError> {
    if conn.is_null() {
        return Err(bad_input("connection handle"));
    }
    // SAFETY: forwarded from the caller.
    Ok(unsafe { &mut *conn.cast::<D::Connection>() })
}

unsafe extern "C" fn execute<D: Instance>(
    conn: *mut c_void,
    sql: KdbStr,
    out: *mut KdbResult,
    err: *mut KdbError,
) -> i32 {
    guard("execute", err, || {
        // SAFETY: the host passes its live handle and a live string.
        let conn = unsafe { conn_mut::<D>(conn)? };
        let sql = unsafe { str_arg(sql, "SQL text")? };
        write_result(out, conn.execute(sql)?)
    })
}

unsafe extern "C" fn catalog<D: Instance>(
    conn: *mut c_void,
    request: KdbStr,
    out: *mut KdbResult,
    err: *mut KdbError,
) -> i32 {
    guard("catalog", err, || {
        // SAFETY: the host passes its live handle and a live string.
        let conn = unsafe { conn_mut::<D>(conn)? };
        let json = unsafe { str_arg(request, "catalog request")? };
        let request: CatalogRequest = serde_json::from_str(json).map_err(|e| {
            DriverError::new(
                ErrorKind::Internal,
                format!("the host passed an invalid catalog request: {e}"),
            )
        })?;
        write_result(out, conn.catalog(&request)?)
    })
}

unsafe extern "C" fn canceller_new<D: Instance>(
    conn: *mut c_void,
    out: *mut *mut c_void,
    err: *mut KdbError,
) -> i32 {
    guard("canceller", err, || {
        if out.is_null() {
            return Err(bad_input("output pointer"));
        }
        // SAFETY: the host passes its live handle.
        let conn = unsafe { conn_mut::<D>(conn)? };
        let canceller: Box<Arc<dyn Canceller>> = Box::new(conn.canceller());
        // SAFETY: out is non-null.
        unsafe { out.write(Box::into_raw(canceller).cast::<c_void>()) };
        Ok(())
    })
}

unsafe extern "C" fn cancel(canceller: *mut c_void, err: *mut KdbError) -> i32 {
    guard("cancel", err, || {
        if canceller.is_null() {
            return Err(bad_input("canceller handle"));
        }
        // SAFETY: made by canceller_new and not yet released; only shared access.
        let canceller = unsafe { &*canceller.cast::<Arc<dyn Canceller>>() };
        canceller.cancel()
    })
}

unsafe extern "C" fn canceller_release(canceller: *mut c_void) {
    if canceller.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by canceller_new; the host releases it once.
        drop(unsafe { Box::from_raw(canceller.cast::<Arc<dyn Canceller>>()) });
    }));
}

unsafe extern "C" fn close<D: Instance>(conn: *mut c_void) {
    if conn.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by connect; the host closes it once.
        drop(unsafe { Box::from_raw(conn.cast::<D::Connection>()) });
    }));
}

/// A message that is safe to hand to Arrow's exporter, which refuses NUL bytes by panicking.
#[derive(Debug)]
struct CleanMessage(String);

impl std::fmt::Display for CleanMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CleanMessage {}

fn clean(error: ArrowError) -> ArrowError {
    let text = error.to_string();
    let text = text.strip_prefix("External error: ").unwrap_or(&text);
    ArrowError::ExternalError(Box::new(CleanMessage(text.replace('\0', "\u{fffd}"))))
}

/// Wraps the driver's reader so a panic in `next()`, `schema()` or drop becomes an error.
struct SafeReader {
    inner: Option<Box<dyn RecordBatchReader + Send>>,
    schema: SchemaRef,
}

impl SafeReader {
    fn new(inner: Box<dyn RecordBatchReader + Send>) -> Result<Self, DriverError> {
        let schema = catch_unwind(AssertUnwindSafe(|| inner.schema())).map_err(|p| {
            DriverError::new(
                ErrorKind::Internal,
                format!(
                    "the driver panicked describing its result: {}",
                    panic_message(&*p)
                ),
            )
        })?;
        Ok(Self {
            inner: Some(inner),
            schema,
        })
    }
}

impl Iterator for SafeReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let inner = self.inner.as_mut()?;
        match catch_unwind(AssertUnwindSafe(|| inner.next())) {
            Ok(Some(Ok(batch))) => Some(Ok(batch)),
            Ok(Some(Err(e))) => Some(Err(clean(e))),
            Ok(None) => None,
            Err(payload) => {
                // The reader's state is unknown after a panic: forget it rather than touch it.
                if let Some(broken) = self.inner.take() {
                    std::mem::forget(broken);
                }
                Some(Err(clean(
                    DriverError::new(
                        ErrorKind::Internal,
                        format!(
                            "the driver panicked while reading rows: {}",
                            panic_message(&*payload)
                        ),
                    )
                    .into_arrow(),
                )))
            }
        }
    }
}

impl RecordBatchReader for SafeReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Drop for SafeReader {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(inner)));
        }
    }
}
