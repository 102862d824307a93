//! Opening a SQLite file, with the progress handler through which a cancel interrupts the
//! running statement.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use keeperdb_driver_sdk::{DriverError, ErrorKind};
use sqlx::ConnectOptions as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::errors::{Ctx, map};
use crate::session::Locked;
use crate::{CancelTarget, EngineConn, Setup};

pub type Shared = Arc<Locked<SqliteConnection>>;

pub async fn connect(setup: &Setup) -> Result<(EngineConn, CancelTarget), DriverError> {
    let p = &setup.params;
    let Some(path) = p.database.as_deref().filter(|d| !d.trim().is_empty()) else {
        return Err(DriverError::new(
            ErrorKind::Connection,
            "a SQLite connection needs a database file path",
        ));
    };
    let target = path.to_string();
    let ctx = Ctx { target: &target };
    let create = p
        .options
        .get("create")
        .is_some_and(|v| matches!(v.as_str(), "true" | "1" | "yes"));
    let opts = if path == ":memory:" {
        SqliteConnectOptions::new().in_memory(true)
    } else {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .read_only(p.read_only)
    }
    .busy_timeout(setup.timeout);
    // A local file has no network to hang on: `setup.timeout` bounds waiting for locks instead.
    let mut conn = opts.connect().await.map_err(|e| map(e, &ctx))?;
    let interrupt = Arc::new(AtomicBool::new(false));
    {
        let mut handle = conn.lock_handle().await.map_err(|e| map(e, &ctx))?;
        let flag = interrupt.clone();
        // Returning false from the progress handler makes SQLite abort with SQLITE_INTERRUPT.
        handle.set_progress_handler(1000, move || !flag.load(Ordering::Relaxed));
    }
    Ok((
        EngineConn::Sqlite(Arc::new(Locked::new(conn, target))),
        CancelTarget::Sqlite(interrupt),
    ))
}
