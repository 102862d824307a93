//! SQLite files: open, stream rows, cancel through a progress handler that interrupts the
//! running statement.
//!
//! SQLite values carry their own type (a column may mix them), so a column's Arrow type is
//! chosen from the values of the first page: integers only -> Int64, numbers -> Float64, any
//! text -> Utf8, blobs only -> Binary; a column with only NULLs follows its declared type.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use keeperdb_driver_sdk::{CatalogRequest, DriverError, ErrorKind};
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{
    AssertSqlSafe, Column as _, ConnectOptions as _, Decode, Executor as _, Row as _,
    SqlSafeStr as _, Statement as _, TypeInfo as _, ValueRef as _,
};

use crate::columns::{Col, PAGE_ROWS, Page, Shape, field};
use crate::errors::{Ctx, decode_err, internal, map};
use crate::session::{Locked, bind};
use crate::stream::{Msg, PumpEnd, Tx, done, finish, pump};
use crate::{Args, CancelState, CancelTarget, EngineConn, Setup};

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
    let ctx = Ctx {
        target: &target,
        password: None,
    };
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

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub fn catalog_sql(request: &CatalogRequest) -> (String, Args) {
    match request {
        CatalogRequest::Databases => (
            "SELECT name FROM pragma_database_list ORDER BY seq".into(),
            vec![],
        ),
        CatalogRequest::Tables { schema } => {
            let schema = schema.as_deref().unwrap_or("main");
            (
                format!(
                    "SELECT ? AS schema, name, type FROM {}.sqlite_schema \
                     WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name",
                    quote_ident(schema)
                ),
                vec![Some(schema.to_string())],
            )
        }
        CatalogRequest::Columns { schema, table } => (
            "SELECT name, type, (\"notnull\" = 0) AS nullable, dflt_value AS \"default\", \
             cid + 1 AS position FROM pragma_table_info(?, ?) ORDER BY cid"
                .into(),
            vec![
                Some(table.clone()),
                Some(schema.clone().unwrap_or_else(|| "main".into())),
            ],
        ),
    }
}

/// The storage classes a column's values had in the first page.
#[derive(Default, Clone, Copy)]
pub struct Seen {
    pub int: bool,
    pub real: bool,
    pub text: bool,
    pub blob: bool,
}

/// A value whose storage class does not fit the type chosen from the first page.
pub fn mixed_types(i: usize, name: &str, class: &str) -> DriverError {
    DriverError::new(
        ErrorKind::Query,
        format!(
            "column {} ({name}) holds a {class} value among values of another type; \
             SQLite columns can mix types: CAST the column in the query",
            i + 1,
        ),
    )
}

fn storage(row: &SqliteRow, i: usize) -> Result<Option<&'static str>, DriverError> {
    let v = row.try_get_raw(i).map_err(|e| internal(e.to_string()))?;
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some(match v.type_info().name() {
        "INTEGER" => "INTEGER",
        "REAL" => "REAL",
        "BLOB" => "BLOB",
        _ => "TEXT",
    }))
}

fn infer(declared: &str, seen: Seen) -> Shape {
    if seen.text || (seen.blob && (seen.int || seen.real)) {
        Shape::Utf8
    } else if seen.blob {
        Shape::Binary
    } else if seen.real {
        Shape::F64
    } else if seen.int {
        Shape::I64
    } else {
        // Only NULLs: SQLite's type affinity rules on the declared type.
        let d = declared.to_ascii_uppercase();
        if d.contains("INT") {
            Shape::I64
        } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
            Shape::Utf8
        } else if d.contains("BLOB") {
            Shape::Binary
        } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
            Shape::F64
        } else {
            Shape::Utf8
        }
    }
}

fn append_row(row: &SqliteRow, cols: &mut [Col]) -> Result<usize, DriverError> {
    let mut bytes = 0;
    for (i, col) in cols.iter_mut().enumerate() {
        let class = storage(row, i)?;
        let v = row.try_get_raw(i).map_err(|e| internal(e.to_string()))?;
        bytes += 8;
        let r = match class {
            None => {
                col.append_null();
                Ok(())
            }
            Some("INTEGER") => {
                let n = <i64 as Decode<Sqlite>>::decode(v).map_err(decode_err)?;
                match col {
                    Col::Binary(_) => col.append_bytes(n.to_string().as_bytes()),
                    _ => col.append_i64(n),
                }
            }
            Some("REAL") => {
                let f = <f64 as Decode<Sqlite>>::decode(v).map_err(decode_err)?;
                match col {
                    Col::I64(_) if f.fract() == 0.0 && f.abs() < 9.0e15 => col.append_i64(f as i64),
                    _ => col.append_f64(f),
                }
            }
            Some("BLOB") => {
                let b = <&[u8] as Decode<Sqlite>>::decode(v).map_err(decode_err)?;
                bytes += b.len();
                col.append_bytes(b)
            }
            Some(_) => {
                let s = <&str as Decode<Sqlite>>::decode(v).map_err(decode_err)?;
                bytes += s.len();
                match col {
                    Col::Binary(_) => col.append_bytes(s.as_bytes()),
                    _ => col.append_str(s),
                }
            }
        };
        r.map_err(|_| mixed_types(i, row.columns()[i].name(), class.unwrap_or("NULL")))?;
    }
    Ok(bytes)
}

pub async fn run(shared: Shared, sql: String, args: Args, tx: Tx, cancel: Arc<CancelState>) {
    let (mut guard, ctx) = shared.lock().await;
    let conn: &mut SqliteConnection = &mut guard;
    let stmt = match conn
        .prepare(AssertSqlSafe(sql.clone()).into_sql_str())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tx.send(Msg::Err(map(e, &ctx))).await;
            return;
        }
    };
    if stmt.columns().is_empty() {
        let result = bind(stmt.query(), &args).execute(&mut *conn).await;
        tx.send(done(result.map(|r| r.rows_affected()), &cancel, &ctx))
            .await;
        return;
    }
    let names: Vec<String> = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let raw = match conn.lock_handle().await {
        Ok(mut handle) => {
            crate::sqlite_raw::stream(&mut handle, &sql, &args, &tx, &ctx, &names, |seen| {
                page_for(stmt.columns(), seen)
            })
            .await
        }
        Err(e) => {
            tx.send(Msg::Err(map(e, &ctx))).await;
            Some(PumpEnd::Ended)
        }
    };
    if let Some(end) = raw {
        finish(end, conn, &tx, &cancel).await;
        return;
    }
    // More than one statement: sqlx runs them one after the other.
    let end = {
        let mut rows = bind(stmt.query(), &args).fetch(&mut *conn);
        // Buffer the first page to see what the values are.
        let mut first = Vec::new();
        let mut failed = false;
        while first.len() < PAGE_ROWS {
            match rows.next().await {
                None => break,
                Some(Ok(row)) => first.push(row),
                Some(Err(e)) => {
                    tx.send(Msg::Err(map(e, &ctx))).await;
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            PumpEnd::Ended
        } else {
            let mut page = first_page(stmt.columns(), &first);
            if !tx.send(Msg::Schema(page.schema.clone())).await {
                PumpEnd::StoppedEarly
            } else {
                let buffered = futures_util::stream::iter(first.into_iter().map(Ok));
                pump(
                    buffered.chain(rows),
                    &mut page,
                    &tx,
                    |e| map(e, &ctx),
                    |row: &SqliteRow, cols| append_row(row, cols),
                )
                .await
            }
        }
    };
    finish(end, conn, &tx, &cancel).await;
}

/// The page for a result, its column types chosen from the values of its first rows.
fn first_page(columns: &[sqlx::sqlite::SqliteColumn], first: &[SqliteRow]) -> Page {
    let mut seen = vec![Seen::default(); columns.len()];
    for row in first {
        for (i, s) in seen.iter_mut().enumerate() {
            match storage(row, i) {
                Ok(Some("INTEGER")) => s.int = true,
                Ok(Some("REAL")) => s.real = true,
                Ok(Some("BLOB")) => s.blob = true,
                Ok(Some(_)) => s.text = true,
                _ => {}
            }
        }
    }
    page_for(columns, &seen)
}

/// The page for a result whose first rows had values of the `seen` storage classes.
fn page_for(columns: &[sqlx::sqlite::SqliteColumn], seen: &[Seen]) -> Page {
    let declared: Vec<&str> = columns.iter().map(|c| c.type_info().name()).collect();
    let shapes: Vec<Shape> = declared
        .iter()
        .zip(seen)
        .map(|(d, s)| infer(d, *s))
        .collect();
    let fields = columns
        .iter()
        .zip(&shapes)
        .zip(&declared)
        .map(|((c, s), d)| {
            // sqlx reports "NULL" when it cannot read the declared type (expressions,
            // NUMERIC): name the storage class the values have instead.
            let name = match (*d, s) {
                ("NULL", Shape::I64) => "INTEGER",
                ("NULL", Shape::F64) => "REAL",
                ("NULL", Shape::Binary) => "BLOB",
                ("NULL", _) => "TEXT",
                (d, _) => d,
            };
            field(c.name(), s, name)
        })
        .collect();
    Page::new(fields, &shapes)
}
