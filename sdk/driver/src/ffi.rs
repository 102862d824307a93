//! The raw C ABI between the keeperdb host and a driver library.
//!
//! A driver library exports one symbol, [`ENTRY_SYMBOL`] (`keeperdb_driver_init`), with the
//! signature [`EntryFn`]. It returns a pointer to a [`KdbDriverTable`] that lives as long as the
//! library (the host never unloads drivers). The table starts with a [`KdbHeader`]: the host
//! checks [`KdbHeader::abi_major`] equals [`ABI_MAJOR`] and reads only the fields that fit in
//! [`KdbHeader::table_size`]. The table is append-only: a new minor version adds fields at the
//! end and never moves or changes an existing one.
//!
//! Conventions for every call in the table:
//! - the return value is a status: [`STATUS_OK`] (0) or one of the `STATUS_*` error kinds;
//! - on failure the driver fills the caller's [`KdbError`], whose message the driver owns until
//!   the host calls its `release` callback;
//! - strings cross as [`KdbStr`] (pointer + length, UTF-8, not NUL-terminated), borrowed for the
//!   duration of the call only;
//! - result rows cross as an Arrow C stream ([`FFI_ArrowArrayStream`]) of record batches, pulled
//!   by the host a page at a time;
//! - no call may unwind into the host: every export catches panics and reports them as
//!   [`STATUS_INTERNAL`].
//!
//! Drivers written in Rust never touch this module: they implement [`crate::Driver`] and call
//! [`crate::export_driver!`]. It is public so hosts, and drivers written in other languages, can
//! use the exact same definitions.

use std::ffi::c_void;

pub use arrow_array::ffi_stream::FFI_ArrowArrayStream;

/// ABI major version: a host refuses a table with another major.
pub const ABI_MAJOR: u32 = 1;
/// ABI minor version: grows when fields are appended to [`KdbDriverTable`].
pub const ABI_MINOR: u32 = 0;
/// The host API version this SDK was built for (keeperdb's `HOST_API_VERSION`).
pub const HOST_API_VERSION: (u32, u32, u32) = (0, 4, 0);
/// The name of the one symbol a driver library exports, NUL-terminated for `dlsym`.
pub const ENTRY_SYMBOL: &[u8] = b"keeperdb_driver_init\0";

/// The entry point's type: returns the driver's table, or NULL if the driver cannot start.
pub type EntryFn = unsafe extern "C" fn() -> *const KdbDriverTable;

/// The call succeeded.
pub const STATUS_OK: i32 = 0;
/// The server could not be reached, refused the connection, or TLS failed.
pub const STATUS_CONNECTION: i32 = 1;
/// Wrong user or password.
pub const STATUS_AUTH: i32 = 2;
/// Connect or statement timeout.
pub const STATUS_TIMEOUT: i32 = 3;
/// The statement failed on the server.
pub const STATUS_QUERY: i32 = 4;
/// The statement was cancelled.
pub const STATUS_CANCELLED: i32 = 5;
/// The driver failed (panic, bug, bad input from the host).
pub const STATUS_INTERNAL: i32 = 6;

/// A borrowed UTF-8 string: pointer and length in bytes, no NUL terminator.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KdbStr {
    /// First byte; may be NULL when `len` is 0.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl KdbStr {
    /// Borrow a Rust string for the duration of a call.
    pub fn new(s: &str) -> Self {
        Self {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The empty string.
    pub const fn empty() -> Self {
        Self {
            ptr: std::ptr::null(),
            len: 0,
        }
    }

    /// View the bytes.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid for `'a`.
    pub unsafe fn as_bytes<'a>(&self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            &[]
        } else {
            // SAFETY: the caller guarantees ptr/len describe live memory.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// An error reported by a driver: a kind (one of the `STATUS_*` values), a message and an
/// optional engine code (SQLSTATE or error number). The driver owns the buffers; the host copies
/// them and then calls `release` (when not NULL).
#[repr(C)]
#[derive(Debug)]
pub struct KdbError {
    /// One of the `STATUS_*` values other than [`STATUS_OK`].
    pub kind: i32,
    /// UTF-8 message, never containing a password.
    pub message: *mut u8,
    /// Message length in bytes.
    pub message_len: usize,
    /// UTF-8 engine error code, or NULL.
    pub code: *mut u8,
    /// Code length in bytes.
    pub code_len: usize,
    /// Frees `message` and `code`; NULL when there is nothing to free.
    pub release: Option<unsafe extern "C" fn(*mut KdbError)>,
}

impl KdbError {
    /// An empty error for the host to pass into a call.
    pub const fn empty() -> Self {
        Self {
            kind: STATUS_OK,
            message: std::ptr::null_mut(),
            message_len: 0,
            code: std::ptr::null_mut(),
            code_len: 0,
            release: None,
        }
    }
}

/// A byte buffer owned by the driver (used for JSON answers), freed by its `release`.
#[repr(C)]
#[derive(Debug)]
pub struct KdbBuf {
    /// First byte.
    pub ptr: *mut u8,
    /// Length in bytes.
    pub len: usize,
    /// Frees the buffer; NULL when there is nothing to free.
    pub release: Option<unsafe extern "C" fn(*mut KdbBuf)>,
}

impl KdbBuf {
    /// An empty buffer for the host to pass into a call.
    pub const fn empty() -> Self {
        Self {
            ptr: std::ptr::null_mut(),
            len: 0,
            release: None,
        }
    }
}

/// [`KdbResult::kind`]: nothing was written.
pub const RESULT_NONE: u32 = 0;
/// [`KdbResult::kind`]: rows, in [`KdbResult::stream`].
pub const RESULT_ROWS: u32 = 1;
/// [`KdbResult::kind`]: a statement without rows; see [`KdbResult::rows_affected`].
pub const RESULT_DONE: u32 = 2;

/// A statement's outcome.
#[repr(C)]
#[derive(Debug)]
pub struct KdbResult {
    /// [`RESULT_ROWS`] or [`RESULT_DONE`].
    pub kind: u32,
    /// Rows changed, for [`RESULT_DONE`].
    pub rows_affected: u64,
    /// The rows, for [`RESULT_ROWS`]: a stream of record batches the host now owns.
    pub stream: FFI_ArrowArrayStream,
}

impl KdbResult {
    /// An empty result for the host to pass into a call.
    pub fn empty() -> Self {
        Self {
            kind: RESULT_NONE,
            rows_affected: 0,
            stream: FFI_ArrowArrayStream::empty(),
        }
    }
}

/// The table header: read first, and the only part whose layout never changes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KdbHeader {
    /// Must equal the host's [`ABI_MAJOR`].
    pub abi_major: u32,
    /// The driver's [`ABI_MINOR`]; fields newer than it are absent.
    pub abi_minor: u32,
    /// `size_of::<KdbDriverTable>()` as the driver was built: the host reads no field past it.
    pub table_size: u64,
    /// Host API major the driver was built against.
    pub api_major: u32,
    /// Host API minor.
    pub api_minor: u32,
    /// Host API patch.
    pub api_patch: u32,
    /// Zero.
    pub reserved: u32,
}

/// Driver information, as JSON ([`crate::DriverInfo`]).
pub type InfoFn = unsafe extern "C" fn(out: *mut KdbBuf, err: *mut KdbError) -> i32;
/// Open a connection. `params` is JSON ([`crate::ConnectParams`]); the password travels apart
/// from it (empty `ptr` = no password) so it can never end up in a logged JSON.
pub type ConnectFn = unsafe extern "C" fn(
    params: KdbStr,
    password: KdbStr,
    out_conn: *mut *mut c_void,
    err: *mut KdbError,
) -> i32;
/// Run one statement.
pub type ExecuteFn = unsafe extern "C" fn(
    conn: *mut c_void,
    sql: KdbStr,
    out: *mut KdbResult,
    err: *mut KdbError,
) -> i32;
/// Catalog lookup; `request` is JSON ([`crate::CatalogRequest`]).
pub type CatalogFn = unsafe extern "C" fn(
    conn: *mut c_void,
    request: KdbStr,
    out: *mut KdbResult,
    err: *mut KdbError,
) -> i32;
/// Make a canceller for a connection; it may be used from any thread, and outlives the
/// connection until released.
pub type CancellerNewFn =
    unsafe extern "C" fn(conn: *mut c_void, out: *mut *mut c_void, err: *mut KdbError) -> i32;
/// Cancel what the canceller's connection is running now.
pub type CancelFn = unsafe extern "C" fn(canceller: *mut c_void, err: *mut KdbError) -> i32;
/// Free a canceller.
pub type CancellerReleaseFn = unsafe extern "C" fn(canceller: *mut c_void);
/// Close a connection. Result streams already handed out stay readable.
pub type CloseFn = unsafe extern "C" fn(conn: *mut c_void);

/// The driver's function table, ABI 1.0. Append-only.
#[repr(C)]
#[derive(Debug)]
pub struct KdbDriverTable {
    /// Versions and size.
    pub header: KdbHeader,
    /// See [`InfoFn`].
    pub info: Option<InfoFn>,
    /// See [`ConnectFn`].
    pub connect: Option<ConnectFn>,
    /// See [`ExecuteFn`].
    pub execute: Option<ExecuteFn>,
    /// See [`CatalogFn`].
    pub catalog: Option<CatalogFn>,
    /// See [`CancellerNewFn`].
    pub canceller_new: Option<CancellerNewFn>,
    /// See [`CancelFn`].
    pub cancel: Option<CancelFn>,
    /// See [`CancellerReleaseFn`].
    pub canceller_release: Option<CancellerReleaseFn>,
    /// See [`CloseFn`].
    pub close: Option<CloseFn>,
}

/// The size of an ABI 1.0 table (header and eight function pointers): the least a host accepts.
/// A fixed number, not `size_of`, so it stays right when fields are appended.
pub const TABLE_SIZE_V1_0: usize = 32 + 8 * std::mem::size_of::<usize>();

impl KdbHeader {
    /// The header this SDK writes.
    pub const fn current() -> Self {
        Self {
            abi_major: ABI_MAJOR,
            abi_minor: ABI_MINOR,
            table_size: std::mem::size_of::<KdbDriverTable>() as u64,
            api_major: HOST_API_VERSION.0,
            api_minor: HOST_API_VERSION.1,
            api_patch: HOST_API_VERSION.2,
            reserved: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    /// The ABI 1.0 layout on 64-bit targets. If this fails, a field moved: that breaks every
    /// driver already built. Append new fields at the end and bump ABI_MINOR instead.
    #[test]
    fn the_abi_1_0_layout_does_not_move() {
        assert_eq!(size_of::<KdbHeader>(), 32);
        assert_eq!(offset_of!(KdbDriverTable, info), 32);
        assert_eq!(offset_of!(KdbDriverTable, connect), 40);
        assert_eq!(offset_of!(KdbDriverTable, execute), 48);
        assert_eq!(offset_of!(KdbDriverTable, catalog), 56);
        assert_eq!(offset_of!(KdbDriverTable, canceller_new), 64);
        assert_eq!(offset_of!(KdbDriverTable, cancel), 72);
        assert_eq!(offset_of!(KdbDriverTable, canceller_release), 80);
        assert_eq!(offset_of!(KdbDriverTable, close), 88);
        assert_eq!(TABLE_SIZE_V1_0, 96);
        assert_eq!(size_of::<KdbDriverTable>(), TABLE_SIZE_V1_0);
        assert_eq!(size_of::<KdbError>(), 48);
        assert_eq!(offset_of!(KdbResult, stream), 16);
        assert_eq!(KdbHeader::current().table_size, 96);
    }
}
