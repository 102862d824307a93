//! Running a statement: a single statement is stepped on the raw handle ([`super::raw`]); text
//! holding several statements goes through sqlx, one after the other.

use std::sync::Arc;

use futures_util::StreamExt;
use keeperdb_driver_sdk::DriverError;
use sqlx::sqlite::{Sqlite, SqliteConnection, SqliteRow};
use sqlx::{
    AssertSqlSafe, Column as _, Decode, Executor as _, Row as _, SqlSafeStr as _, Statement as _,
    TypeInfo as _, ValueRef as _,
};

use crate::columns::{Col, PAGE_ROWS, Page};
use crate::errors::{decode_err, internal, map};
use crate::session::bind;
use crate::stream::{Msg, PumpEnd, Tx, done, finish, pump};
use crate::{Args, CancelState};

use super::open::Shared;
use super::raw;
use super::types::{Seen, mixed_types, page_for};

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
                    Col::Utf8(_) => col.append_str(&raw::real_text(f)),
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
        let before = changes_so_far(conn).await;
        let result = bind(stmt.query(), &args).execute(&mut *conn).await;
        // sqlite3_changes still holds the last INSERT/UPDATE/DELETE's count after DDL (a DROP
        // TABLE after inserting 2 rows "affects" 2): a statement that changed nothing on the
        // connection affected no rows.
        let unchanged = before.is_some() && before == changes_so_far(conn).await;
        let result = result.map(|r| if unchanged { 0 } else { r.rows_affected() });
        tx.send(done(result, &ctx)).await;
        return;
    }
    let names: Vec<String> = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let raw = match conn.lock_handle().await {
        Ok(mut handle) => {
            raw::stream(&mut handle, &sql, &args, &tx, &ctx, &names, |seen| {
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

/// The connection's running count of changed rows; `None` if the handle cannot be had.
async fn changes_so_far(conn: &mut SqliteConnection) -> Option<i64> {
    let mut handle = conn.lock_handle().await.ok()?;
    Some(raw::total_changes(&mut handle))
}
