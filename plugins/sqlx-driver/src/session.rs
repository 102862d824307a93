//! Connection plumbing every engine shares: the locked connection a statement's task holds,
//! binding catalog arguments, the connect timeout, and cancelling from a side connection.

use std::future::Future;

use keeperdb_driver_sdk::{DriverError, ErrorKind};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Database, Encode, Executor, Type};
use tokio::sync::{Mutex, MutexGuard};

use crate::errors::{Ctx, map};
use crate::{Args, Setup};

/// An engine connection and what to call it in messages.
pub struct Locked<C> {
    conn: Mutex<C>,
    /// `host:port` or the SQLite file.
    target: String,
    /// For a read-only session: the SQL that makes it read-only again, run before each
    /// statement (see read_only.rs).
    pub restore: Option<&'static str>,
}

impl<C> Locked<C> {
    pub fn new(conn: C, target: String) -> Self {
        Locked {
            conn: Mutex::new(conn),
            target,
            restore: None,
        }
    }

    /// Wait for the connection (an earlier statement may still hold it) and the context for
    /// its errors. No password: the connection is open, nothing later can echo it.
    pub async fn lock(&self) -> (MutexGuard<'_, C>, Ctx<'_>) {
        let ctx = Ctx {
            target: &self.target,
        };
        (self.conn.lock().await, ctx)
    }
}

/// Bind the catalog query's parameters.
pub fn bind<'q, DB: Database>(
    mut q: Query<'q, DB, DB::Arguments>,
    args: &Args,
) -> Query<'q, DB, DB::Arguments>
where
    Option<String>: for<'t> Encode<'t, DB> + Type<DB>,
{
    for a in args {
        q = q.bind(a.clone());
    }
    q
}

/// Open a server connection, giving up after the setup's timeout.
pub async fn connect_within<C>(
    setup: &Setup,
    ctx: &Ctx<'_>,
    connecting: impl Future<Output = Result<C, sqlx::Error>>,
) -> Result<C, DriverError> {
    match tokio::time::timeout(setup.timeout, connecting).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(map(e, ctx)),
        Err(_) => Err(DriverError::new(
            ErrorKind::Timeout,
            format!(
                "connecting to {} timed out after {} ms",
                ctx.target,
                setup.timeout.as_millis()
            ),
        )),
    }
}

/// A server statement that stops the statement running on one session, sent from a new side
/// connection (the session itself is busy streaming).
pub struct SideCancel<O> {
    pub opts: O,
    /// Built from the session id the server gave us, never from user text.
    pub sql: String,
    pub target: String,
}

impl<O> SideCancel<O>
where
    O: ConnectOptions,
    O::Connection: Sized,
    for<'c> &'c mut O::Connection: Executor<'c, Database = <O::Connection as Connection>::Database>,
{
    pub async fn send(&self) -> Result<(), DriverError> {
        let ctx = Ctx {
            target: &self.target,
        };
        let mut side = self.opts.connect().await.map_err(|e| map(e, &ctx))?;
        sqlx::raw_sql(AssertSqlSafe(self.sql.clone()))
            .execute(&mut side)
            .await
            .map_err(|e| map(e, &ctx))?;
        let _ = side.close().await;
        Ok(())
    }
}

/// Put a read-only session back to read-only before a statement. Its error is ignored: it
/// fails only in a transaction already aborted, where nothing can write until ROLLBACK (which
/// must not be kept from running), and the next statement puts it back.
pub async fn restore_read_only<C>(restore: Option<&'static str>, conn: &mut C)
where
    C: Connection,
    for<'c> &'c mut C: Executor<'c, Database = <C as Connection>::Database>,
{
    if let Some(sql) = restore {
        let _ = sqlx::raw_sql(sql).execute(&mut *conn).await;
    }
}
