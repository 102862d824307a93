//! MySQL and MariaDB: connect, stream rows, cancel with `KILL QUERY` from a side connection.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures_util::StreamExt;
use keeperdb_driver_sdk::{CatalogRequest, DriverError};
use sqlx::mysql::types::MySqlTime;
use sqlx::mysql::{
    MySql, MySqlConnectOptions, MySqlConnection, MySqlRow, MySqlSslMode, MySqlTypeInfo,
};
use sqlx::{
    AssertSqlSafe, Column as _, ConnectOptions as _, Decode, Either, Executor as _, Row as _,
    SqlSafeStr as _, Statement as _, TypeInfo as _, ValueRef as _,
};

use crate::columns::{Col, Page, Shape, field};
use crate::errors::{Ctx, column_error, decode_err, internal, map, unknown_tls_mode};
use crate::session::{Locked, SideCancel, bind, connect_within, restore_read_only};
use crate::stream::{Msg, Tx, done, finish, pump};
use crate::{Args, CancelState, CancelTarget, EngineConn, Setup};

pub type Shared = Arc<Locked<MySqlConnection>>;

// Same mode names as pg.rs but a different sqlx enum, and MySQL has no `allow`: like
// `prefer`, it takes TLS when the server offers it.
fn ssl_mode(tls: &str) -> Result<MySqlSslMode, DriverError> {
    Ok(match tls {
        "disable" => MySqlSslMode::Disabled,
        "allow" | "prefer" => MySqlSslMode::Preferred,
        "require" => MySqlSslMode::Required,
        "verify-ca" => MySqlSslMode::VerifyCa,
        "verify-full" => MySqlSslMode::VerifyIdentity,
        other => return Err(unknown_tls_mode(other)),
    })
}

pub async fn connect(setup: &Setup) -> Result<(EngineConn, CancelTarget), DriverError> {
    let p = &setup.params;
    let target = setup.target(3306);
    let ctx = Ctx { target: &target };
    // The option setters below mirror pg.rs, but sqlx gives the two builders no common trait.
    // The session keeps the server's SQL mode, as the `mariadb`/`mysql` clients do: sqlx
    // would add PIPES_AS_CONCAT (turning `0 || 0` into '00') and NO_ENGINE_SUBSTITUTION.
    let mut opts = MySqlConnectOptions::new()
        .host(setup.host())
        .port(setup.port(3306))
        .ssl_mode(ssl_mode(&p.tls)?)
        .pipes_as_concat(false)
        .no_engine_substitution(false);
    if let Some(user) = &p.user {
        opts = opts.username(user);
    }
    if let Some(db) = &p.database {
        opts = opts.database(db);
    }
    if let Some(password) = setup.password() {
        opts = opts.password(password);
    }
    if let Some(ca) = p.options.get("sslrootcert").or(p.options.get("ssl-ca")) {
        opts = opts.ssl_ca(ca);
    }
    let mut conn = connect_within(setup, &ctx, opts.connect()).await?;
    // sqlx's handshake asks for CLIENT_IGNORE_SPACE, which puts IGNORE_SPACE into the
    // session's mode (function names become reserved); take it out again unless the server's
    // own mode has it.
    sqlx::raw_sql(
        "SET SESSION sql_mode = IF(FIND_IN_SET('IGNORE_SPACE', @@GLOBAL.sql_mode) > 0, \
         @@SESSION.sql_mode, TRIM(BOTH ',' FROM \
         REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',IGNORE_SPACE,', ',')))",
    )
    .execute(&mut conn)
    .await
    .map_err(|e| map(e, &ctx))?;
    if p.read_only {
        sqlx::raw_sql("SET SESSION TRANSACTION READ ONLY")
            .execute(&mut conn)
            .await
            .map_err(|e| map(e, &ctx))?;
    }
    let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| map(e, &ctx))?;
    let cancel = SideCancel {
        opts,
        sql: format!("KILL QUERY {id}"),
        target: target.clone(),
    };
    let mut locked = Locked::new(conn, target);
    if p.read_only {
        locked.restore = crate::read_only::restore_sql("mysql");
    }
    Ok((
        EngineConn::MySql(Arc::new(locked)),
        CancelTarget::MySql(cancel),
    ))
}

pub fn catalog_sql(request: &CatalogRequest) -> (String, Args) {
    match request {
        CatalogRequest::Databases => (
            "SELECT schema_name AS name FROM information_schema.schemata ORDER BY 1".into(),
            vec![],
        ),
        CatalogRequest::Tables { schema } => (
            "SELECT table_schema AS `schema`, table_name AS name, table_type AS type \
             FROM information_schema.tables WHERE table_schema = COALESCE(?, DATABASE()) \
             ORDER BY 2"
                .into(),
            vec![schema.clone()],
        ),
        // MariaDB gives the text `NULL` as the default of a column that has none.
        CatalogRequest::Columns { schema, table } => (
            "SELECT column_name AS name, column_type AS type, (is_nullable = 'YES') AS nullable, \
             NULLIF(column_default, 'NULL') AS `default`, ordinal_position AS position \
             FROM information_schema.columns \
             WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
             ORDER BY ordinal_position"
                .into(),
            vec![schema.clone(), Some(table.clone())],
        ),
        // A database is a schema here.
        CatalogRequest::Schemas => (
            "SELECT schema_name AS name FROM information_schema.schemata ORDER BY 1".into(),
            vec![],
        ),
        CatalogRequest::Keys { schema, table } => (
            "SELECT k.constraint_name AS name, t.constraint_type AS kind, k.column_name AS `column`, \
             k.ordinal_position AS position, k.referenced_table_schema AS ref_schema, \
             k.referenced_table_name AS ref_table, k.referenced_column_name AS ref_column \
             FROM information_schema.key_column_usage k \
             JOIN information_schema.table_constraints t ON t.constraint_schema = k.constraint_schema \
             AND t.table_schema = k.table_schema AND t.table_name = k.table_name \
             AND t.constraint_name = k.constraint_name \
             WHERE k.table_schema = COALESCE(?, DATABASE()) AND k.table_name = ? \
             AND t.constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') \
             ORDER BY FIELD(t.constraint_type, 'PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY'), \
             k.constraint_name, k.ordinal_position"
                .into(),
            vec![schema.clone(), Some(table.clone())],
        ),
        CatalogRequest::Indexes { schema, table } => (
            "SELECT index_name AS name, column_name AS `column`, seq_in_index AS position, \
             (non_unique = 0) AS `unique`, (index_name = 'PRIMARY') AS `primary` \
             FROM information_schema.statistics \
             WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
             ORDER BY (index_name = 'PRIMARY') DESC, index_name, seq_in_index"
                .into(),
            vec![schema.clone(), Some(table.clone())],
        ),
    }
}

/// How to decode one column.
#[derive(Debug, Clone, Copy)]
enum MyKind {
    Int,
    UInt,
    Float,
    Double,
    Text,
    Bytes,
    Date,
    DateTime,
    Timestamp,
    Time,
}

fn kind_of(ti: &MySqlTypeInfo) -> (MyKind, Shape) {
    let name = ti.name();
    match name {
        "BOOLEAN" | "TINYINT" => (MyKind::Int, Shape::I8),
        "SMALLINT" => (MyKind::Int, Shape::I16),
        "INT" | "MEDIUMINT" => (MyKind::Int, Shape::I32),
        "BIGINT" => (MyKind::Int, Shape::I64),
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "YEAR" => {
            (MyKind::UInt, Shape::I32)
        }
        "INT UNSIGNED" => (MyKind::UInt, Shape::I64),
        "BIGINT UNSIGNED" | "BIT" => (MyKind::UInt, Shape::U64),
        "FLOAT" => (MyKind::Float, Shape::F32),
        "DOUBLE" => (MyKind::Double, Shape::F64),
        "DATE" => (MyKind::Date, Shape::Date32),
        "DATETIME" => (MyKind::DateTime, Shape::Timestamp(None)),
        // sqlx sets the session time zone to UTC, so TIMESTAMPs arrive as UTC instants.
        "TIMESTAMP" => (MyKind::Timestamp, Shape::Timestamp(Some("UTC"))),
        "TIME" => (MyKind::Time, Shape::Duration),
        // The BINARY flag also marks text in a `_bin` collation (MariaDB's JSON is one): only
        // the `binary` character set means bytes.
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB"
            if !<str as sqlx::Type<MySql>>::compatible(ti) =>
        {
            (MyKind::Bytes, Shape::Binary)
        }
        "GEOMETRY" => (MyKind::Bytes, Shape::Binary),
        // DECIMAL keeps its exact text; JSON, ENUM, SET, CHAR, VARCHAR, TEXT are text.
        _ => (MyKind::Text, Shape::Utf8),
    }
}

const UNIX_EPOCH_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

fn append_row(row: &MySqlRow, kinds: &[MyKind], cols: &mut [Col]) -> Result<usize, DriverError> {
    let mut bytes = 0;
    for (i, (kind, col)) in kinds.iter().zip(cols.iter_mut()).enumerate() {
        let v = row.try_get_raw(i).map_err(|e| internal(e.to_string()))?;
        if v.is_null() {
            // sqlx calls a zero date NULL; it is a value (`d IS NULL` is 0 on the server).
            let zero = matches!(kind, MyKind::Date | MyKind::DateTime | MyKind::Timestamp)
                && is_zero_date(&v);
            match (zero, kind) {
                (true, MyKind::Date) => col.append_date(i32::MIN),
                (true, _) => col.append_timestamp(i64::MIN),
                (false, _) => {
                    col.append_null();
                    Ok(())
                }
            }
            .map_err(|e| column_error(i, row.columns()[i].name(), e))?;
            continue;
        }
        bytes += 8;
        let r = match kind {
            MyKind::Int => col.append_i64(<i64 as Decode<MySql>>::decode(v).map_err(decode_err)?),
            MyKind::UInt => col.append_u64(<u64 as Decode<MySql>>::decode(v).map_err(decode_err)?),
            MyKind::Float => col.append_f32(<f32 as Decode<MySql>>::decode(v).map_err(decode_err)?),
            MyKind::Double => {
                col.append_f64(<f64 as Decode<MySql>>::decode(v).map_err(decode_err)?)
            }
            MyKind::Text | MyKind::Bytes => {
                let b = <&[u8] as Decode<MySql>>::decode(v).map_err(decode_err)?;
                bytes += b.len();
                col.append_bytes(b)
            }
            // Zero dates ('0000-00-00') have no calendar value: they travel as the extremes
            // (i32::MIN days, i64::MIN microseconds), which the renderer shows as the mysql
            // client does, `0000-00-00 00:00:00`; no real date is that far back.
            MyKind::Date => match <NaiveDate as Decode<MySql>>::decode(v.clone()) {
                Ok(d) => {
                    let days = d.signed_duration_since(UNIX_EPOCH_DATE).num_days();
                    col.append_date(i32::try_from(days).map_err(|_| internal("date out of range"))?)
                }
                // The text protocol's zero date is not NULL to sqlx, and does not parse.
                Err(_) if is_zero_date(&v) => col.append_date(i32::MIN),
                Err(e) => Err(partial_date(e)),
            },
            MyKind::DateTime => match <NaiveDateTime as Decode<MySql>>::decode(v.clone()) {
                Ok(t) => col.append_timestamp(t.and_utc().timestamp_micros()),
                Err(_) if is_zero_date(&v) => col.append_timestamp(i64::MIN),
                Err(_) if is_zero_date(&v) => col.append_timestamp(i64::MIN),
                Err(e) => Err(partial_date(e)),
            },
            MyKind::Timestamp => match <DateTime<Utc> as Decode<MySql>>::decode(v.clone()) {
                Ok(t) => col.append_timestamp(t.timestamp_micros()),
                Err(e) => Err(partial_date(e)),
            },
            MyKind::Time => {
                let t = <MySqlTime as Decode<MySql>>::decode(v).map_err(decode_err)?;
                let secs = (i64::from(t.hours()) * 60 + i64::from(t.minutes())) * 60
                    + i64::from(t.seconds());
                let micros = secs * 1_000_000 + i64::from(t.microseconds());
                // `MySqlTime::is_negative` is inverted in sqlx 0.9.0; the sign itself is right.
                col.append_time(if t.sign().is_negative() {
                    -micros
                } else {
                    micros
                })
            }
        };
        r.map_err(|e| column_error(i, row.columns()[i].name(), e))?;
    }
    Ok(bytes)
}

/// Whether a DATE/DATETIME/TIMESTAMP value is MySQL's zero date (`0000-00-00`, any time).
fn is_zero_date(v: &sqlx::mysql::MySqlValueRef<'_>) -> bool {
    let Ok(b) = <&[u8] as Decode<MySql>>::decode(v.clone()) else {
        return false;
    };
    // Text protocol: the client's own text. Binary: a length byte, then year (2 bytes), month
    // and day, ...; length 0 means all zeros.
    b.starts_with(b"0000-00-00")
        || b.first()
            .is_some_and(|len| usize::from(*len) + 1 == b.len())
            && b[1..].iter().take(4).all(|x| *x == 0)
}

/// A date with a zero month or day (`2024-00-10`, allowed by some SQL modes): no calendar
/// value holds it, and reading it as NULL would be wrong.
fn partial_date(e: sqlx::error::BoxDynError) -> DriverError {
    DriverError::new(
        keeperdb_driver_sdk::ErrorKind::Query,
        format!("{e}; read the column as text instead, e.g. CAST(col AS CHAR)"),
    )
}

/// The type name to show: text in a `_bin` collation is named as text, not as bytes.
fn engine_type_name(ti: &MySqlTypeInfo, shape: &Shape) -> String {
    let name = ti.name();
    // sqlx calls TINYINT(1) "BOOLEAN", but it holds any TINYINT and mysql prints it as a number.
    if name == "BOOLEAN" {
        return "TINYINT(1)".into();
    }
    if *shape == Shape::Utf8 {
        match name {
            "BINARY" => return "CHAR".into(),
            "VARBINARY" => return "VARCHAR".into(),
            n if n.ends_with("BLOB") => return n.replace("BLOB", "TEXT"),
            _ => {}
        }
    }
    name.to_string()
}

fn schema_of(columns: &[sqlx::mysql::MySqlColumn]) -> (Vec<MyKind>, Page) {
    let mut kinds = Vec::new();
    let mut shapes = Vec::new();
    let mut fields = Vec::new();
    for c in columns {
        let (k, s) = kind_of(c.type_info());
        fields.push(field(c.name(), &s, &engine_type_name(c.type_info(), &s)));
        kinds.push(k);
        shapes.push(s);
    }
    (kinds, Page::new(fields, &shapes))
}

pub async fn run(shared: Shared, sql: String, args: Args, tx: Tx, cancel: Arc<CancelState>) {
    let (mut guard, ctx) = shared.lock().await;
    let conn: &mut MySqlConnection = &mut guard;
    restore_read_only(shared.restore, conn).await;
    let stmt = match conn
        .prepare(AssertSqlSafe(sql.clone()).into_sql_str())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            let err = map(e, &ctx);
            // 1295: not supported in the prepared statement protocol; use the text protocol.
            if err.code.as_deref().is_some_and(|c| c.starts_with("1295")) && args.is_empty() {
                run_text(conn, sql, &tx, &cancel, &ctx).await;
            } else {
                tx.send(Msg::Err(err)).await;
            }
            return;
        }
    };
    if stmt.columns().is_empty() {
        let result = bind(stmt.query(), &args).execute(&mut *conn).await;
        tx.send(done(result.map(|r| r.rows_affected()), &ctx)).await;
        return;
    }
    let (kinds, mut page) = schema_of(stmt.columns());
    if !tx.send(Msg::Schema(page.schema.clone())).await {
        return;
    }
    let end = {
        let rows = bind(stmt.query(), &args).fetch(&mut *conn);
        pump(
            rows,
            &mut page,
            &tx,
            |e| map(e, &ctx),
            |row: &MySqlRow, cols| append_row(row, &kinds, cols),
        )
        .await
    };
    finish(end, conn, &tx, &cancel).await;
}

/// Statements the prepared protocol refuses: run them as text; the schema comes from the first
/// row, so a statement that returns no row reports `Done`.
async fn run_text(
    conn: &mut MySqlConnection,
    sql: String,
    tx: &Tx,
    cancel: &CancelState,
    ctx: &Ctx<'_>,
) {
    let end = {
        let mut stream = sqlx::raw_sql(AssertSqlSafe(sql)).fetch_many(&mut *conn);
        let mut affected = 0;
        let first = loop {
            match stream.next().await {
                None => break None,
                Some(Ok(Either::Left(r))) => affected += r.rows_affected(),
                Some(Ok(Either::Right(row))) => break Some(row),
                Some(Err(e)) => {
                    tx.send(Msg::Err(map(e, ctx))).await;
                    return;
                }
            }
        };
        let Some(first) = first else {
            tx.send(done(Ok(affected), ctx)).await;
            return;
        };
        let (kinds, mut page) = schema_of(first.columns());
        if !tx.send(Msg::Schema(page.schema.clone())).await {
            return;
        }
        let rows = stream.filter_map(|item| async move {
            match item {
                Ok(Either::Right(row)) => Some(Ok(row)),
                Ok(Either::Left(_)) => None,
                Err(e) => Some(Err(e)),
            }
        });
        pump(
            futures_util::stream::iter([Ok(first)]).chain(Box::pin(rows)),
            &mut page,
            tx,
            |e| map(e, ctx),
            |row: &MySqlRow, cols| append_row(row, &kinds, cols),
        )
        .await
    };
    finish(end, conn, tx, cancel).await;
}
