//! PostgreSQL: connect, stream rows decoded from the binary protocol, cancel with
//! `pg_cancel_backend` from a side connection.

use std::fmt::Write as _;
use std::sync::Arc;

use keeperdb_driver_sdk::{CatalogRequest, DriverError, ErrorKind};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, PgSslMode, PgTypeInfo, PgTypeKind};
use sqlx::{
    AssertSqlSafe, Column as _, ConnectOptions as _, Executor as _, Row as _, SqlSafeStr as _,
    Statement as _, TypeInfo as _, ValueRef as _,
};

use crate::columns::{Col, Page, Shape, field};
use crate::errors::{Ctx, column_error, internal, map, unknown_tls_mode};
use crate::session::{Locked, SideCancel, bind, connect_within, restore_read_only};
use crate::stream::{Msg, Tx, done, finish, pump};
use crate::{Args, CancelState, CancelTarget, EngineConn, Setup};

pub type Shared = Arc<Locked<PgConnection>>;

fn ssl_mode(tls: &str) -> Result<PgSslMode, DriverError> {
    Ok(match tls {
        "disable" => PgSslMode::Disable,
        "allow" => PgSslMode::Allow,
        "prefer" => PgSslMode::Prefer,
        "require" => PgSslMode::Require,
        "verify-ca" => PgSslMode::VerifyCa,
        "verify-full" => PgSslMode::VerifyFull,
        other => return Err(unknown_tls_mode(other)),
    })
}

pub async fn connect(setup: &Setup) -> Result<(EngineConn, CancelTarget), DriverError> {
    let p = &setup.params;
    let target = setup.target(5432);
    let ctx = Ctx { target: &target };
    // The option setters below mirror mysql.rs, but sqlx gives the two builders no common trait.
    let mut opts = PgConnectOptions::new_without_pgpass()
        .host(setup.host())
        .port(setup.port(5432))
        .ssl_mode(ssl_mode(&p.tls)?)
        .application_name(
            p.options
                .get("application_name")
                .map(String::as_str)
                .unwrap_or("keeperdb"),
        );
    if let Some(user) = &p.user {
        opts = opts.username(user);
    }
    if let Some(db) = &p.database {
        opts = opts.database(db);
    }
    if let Some(password) = setup.password() {
        opts = opts.password(password);
    }
    if let Some(ca) = p.options.get("sslrootcert") {
        opts = opts.ssl_root_cert(ca);
    }
    let mut server_options: Vec<(&str, &str)> = Vec::new();
    if p.read_only {
        server_options.push(("default_transaction_read_only", "on"));
    }
    if let Some(t) = p.options.get("statement_timeout") {
        server_options.push(("statement_timeout", t));
    }
    if !server_options.is_empty() {
        opts = opts.options(server_options);
    }
    let mut conn = connect_within(setup, &ctx, opts.connect()).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| map(e, &ctx))?;
    let cancel = SideCancel {
        opts,
        sql: format!("SELECT pg_cancel_backend({pid})"),
        target: target.clone(),
    };
    let mut locked = Locked::new(conn, target);
    if p.read_only {
        locked.restore = crate::read_only::restore_sql("postgres");
    }
    Ok((EngineConn::Pg(Arc::new(locked)), CancelTarget::Pg(cancel)))
}

pub fn catalog_sql(request: &CatalogRequest) -> (String, Args) {
    match request {
        CatalogRequest::Databases => (
            "SELECT datname::text AS name FROM pg_catalog.pg_database \
             WHERE NOT datistemplate ORDER BY 1"
                .into(),
            vec![],
        ),
        CatalogRequest::Tables { schema } => (
            "SELECT table_schema::text AS schema, table_name::text AS name, \
             table_type::text AS type FROM information_schema.tables \
             WHERE ($1::text IS NULL AND table_schema NOT IN ('pg_catalog', 'information_schema')) \
             OR table_schema = $1::text ORDER BY 1, 2"
                .into(),
            vec![schema.clone()],
        ),
        // pg_catalog rather than information_schema: the types as psql shows them
        // (`character varying(200)`, `numeric(10,2)`), and what information_schema leaves out.
        CatalogRequest::Columns { schema, table } => (
            "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type, \
             NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS \"default\", \
             a.attnum::int4 AS position FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE n.nspname = COALESCE($1::text, current_schema()) AND c.relname = $2::text \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
                .into(),
            vec![schema.clone(), Some(table.clone())],
        ),
        CatalogRequest::Schemas => (
            "SELECT nspname::text AS name FROM pg_catalog.pg_namespace \
             WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' ORDER BY 1"
                .into(),
            vec![],
        ),
        CatalogRequest::Keys { schema, table } => (
            "SELECT con.conname::text AS name, CASE con.contype WHEN 'p' THEN 'PRIMARY KEY' \
             WHEN 'u' THEN 'UNIQUE' ELSE 'FOREIGN KEY' END AS kind, a.attname::text AS \"column\", \
             k.ord::int4 AS position, rn.nspname::text AS ref_schema, rc.relname::text AS ref_table, \
             ra.attname::text AS ref_column FROM pg_catalog.pg_constraint con \
             JOIN pg_catalog.pg_class c ON c.oid = con.conrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
             LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid \
             LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
             LEFT JOIN pg_catalog.pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refnum \
             WHERE con.contype IN ('p', 'u', 'f') \
             AND n.nspname = COALESCE($1::text, current_schema()) AND c.relname = $2::text \
             ORDER BY CASE con.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 ELSE 2 END, con.conname, k.ord"
                .into(),
            vec![schema.clone(), Some(table.clone())],
        ),
        CatalogRequest::Indexes { schema, table } => (
            "SELECT ic.relname::text AS name, COALESCE(a.attname::text, \
             pg_get_indexdef(i.indexrelid, k.ord::int4, true)) AS \"column\", k.ord::int4 AS position, \
             i.indisunique AS \"unique\", i.indisprimary AS \"primary\" FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             AND k.attnum > 0 \
             WHERE n.nspname = COALESCE($1::text, current_schema()) AND c.relname = $2::text \
             AND k.ord <= i.indnkeyatts ORDER BY i.indisprimary DESC, ic.relname, k.ord"
                .into(),
            vec![schema.clone(), Some(table.clone())],
        ),
    }
}

pub async fn run(shared: Shared, sql: String, args: Args, tx: Tx, cancel: Arc<CancelState>) {
    let (mut guard, ctx) = shared.lock().await;
    let conn: &mut PgConnection = &mut guard;
    restore_read_only(shared.restore, conn).await;
    let stmt = match conn
        .prepare(AssertSqlSafe(sql.clone()).into_sql_str())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            let err = map(e, &ctx);
            // Scripts with several statements cannot be prepared: run them as one simple query.
            if err.code.as_deref() == Some("42601") && err.message.contains("multiple commands") {
                let result = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *conn).await;
                tx.send(done(result.map(|r| r.rows_affected()), &ctx)).await;
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

    let mut kinds: Vec<PgKind> = stmt
        .columns()
        .iter()
        .map(|c| kind_of(c.type_info()))
        .collect();
    // Names and type names as the statement the user wrote has them.
    let names: Vec<(String, String)> = stmt
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                c.type_info().name().to_ascii_lowercase(),
            )
        })
        .collect();
    let stmt = match as_text(&kinds, &sql, &args) {
        // Types without a binary decoder come as the server's own text for them (what psql
        // shows), from the same statement wrapped so that only those columns are cast.
        Some(wrapped) => match conn.prepare(AssertSqlSafe(wrapped).into_sql_str()).await {
            Ok(wrapped) if wrapped.columns().len() == kinds.len() => {
                for k in kinds.iter_mut().filter(|k| k.needs_text()) {
                    *k = PgKind::Text;
                }
                wrapped
            }
            // A statement that cannot sit in a WITH (FETCH, SELECT INTO, ...): its bytes.
            _ => stmt,
        },
        None => stmt,
    };
    let shapes: Vec<Shape> = kinds.iter().map(PgKind::shape).collect();
    let fields = names
        .iter()
        .zip(&shapes)
        .map(|((name, ty), s)| field(name, s, ty))
        .collect();
    let mut page = Page::new(fields, &shapes);
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
            |row: &PgRow, cols| append_row(row, &kinds, cols),
        )
        .await
    };
    finish(end, conn, &tx, &cancel).await;
}

/// `sql` wrapped so that the columns whose type has no binary decoder here are cast to text
/// by the server (`::text` is the type's output function: ranges, geometry, tsvector, void,
/// composites, ...); `None` when every column decodes. The statement's own columns are
/// renamed `cN` in a WITH, so duplicate or odd names cannot clash; a data-modifying statement
/// with RETURNING still runs once.
fn as_text(kinds: &[PgKind], sql: &str, args: &Args) -> Option<String> {
    if !args.is_empty() || !kinds.iter().any(PgKind::needs_text) {
        return None;
    }
    let mut body = sql.trim_end();
    while let Some(b) = body.strip_suffix(';') {
        body = b.trim_end();
    }
    let list: Vec<String> = (1..=kinds.len()).map(|i| format!("c{i}")).collect();
    let select: Vec<String> = kinds
        .iter()
        .zip(&list)
        .map(|(k, c)| {
            if k.needs_text() {
                format!("{c}::text")
            } else {
                c.clone()
            }
        })
        .collect();
    // The body on lines of its own: a trailing `--` comment cannot swallow the parenthesis.
    Some(format!(
        "WITH keeperdb_q({}) AS (\n{body}\n) SELECT {} FROM keeperdb_q",
        list.join(", "),
        select.join(", ")
    ))
}

fn append_row(row: &PgRow, kinds: &[PgKind], cols: &mut [Col]) -> Result<usize, DriverError> {
    let mut bytes = 0;
    for (i, (kind, col)) in kinds.iter().zip(cols.iter_mut()).enumerate() {
        let appended = match row.try_get_raw(i) {
            Ok(v) if v.is_null() => {
                col.append_null();
                Ok(())
            }
            Ok(v) => match v.as_bytes() {
                Ok(b) => {
                    bytes += b.len() + 8;
                    append(col, kind, b)
                }
                Err(e) => Err(internal(e.to_string())),
            },
            Err(e) => Err(internal(e.to_string())),
        };
        appended.map_err(|e| column_error(i, row.columns()[i].name(), e))?;
    }
    Ok(bytes)
}

/// How to decode one column from the binary protocol.
#[derive(Debug, Clone)]
enum PgKind {
    Bool,
    I2,
    I4,
    I8,
    Oid,
    F4,
    F8,
    Text,
    Jsonb,
    Bytea,
    Uuid,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Numeric,
    Char,
    Inet,
    MacAddr,
    Bits,
    Array(Box<PgKind>),
    /// A type we cannot decode: asked for as text (see [`as_text`]), or, for a statement
    /// that cannot be wrapped, its binary form passed on as bytes.
    Raw,
}

fn kind_of(ti: &PgTypeInfo) -> PgKind {
    // int2vector and oidvector are arrays inside, but print as `1 2`: take their text.
    if matches!(ti.oid().map(|o| o.0), Some(22) | Some(30)) {
        return PgKind::Raw;
    }
    match ti.kind() {
        PgTypeKind::Domain(base) => return kind_of(base),
        PgTypeKind::Enum(_) => return PgKind::Text,
        PgTypeKind::Array(elem) => return PgKind::Array(Box::new(kind_of(elem))),
        PgTypeKind::Composite(_) | PgTypeKind::Range(_) => return PgKind::Raw,
        PgTypeKind::Simple | PgTypeKind::Pseudo => {}
    }
    match ti.oid().map(|o| o.0) {
        Some(16) => PgKind::Bool,
        Some(17) => PgKind::Bytea,
        Some(18) => PgKind::Char,
        Some(20) => PgKind::I8,
        Some(21) => PgKind::I2,
        Some(23) => PgKind::I4,
        Some(26) => PgKind::Oid,
        // text, name, json, xml, bpchar, varchar, unknown, citext-like via name below
        Some(19) | Some(25) | Some(114) | Some(142) | Some(705) | Some(1042) | Some(1043) => {
            PgKind::Text
        }
        Some(700) => PgKind::F4,
        Some(701) => PgKind::F8,
        // money's text follows the server's lc_monetary (`$12.50`): take the server's.
        Some(790) => PgKind::Raw,
        Some(1082) => PgKind::Date,
        Some(1083) => PgKind::Time,
        Some(1114) => PgKind::Timestamp,
        Some(1184) => PgKind::TimestampTz,
        Some(1186) => PgKind::Interval,
        Some(1266) => PgKind::TimeTz,
        Some(1700) => PgKind::Numeric,
        Some(2950) => PgKind::Uuid,
        Some(3802) => PgKind::Jsonb,
        Some(869) | Some(650) => PgKind::Inet,
        Some(829) => PgKind::MacAddr,
        Some(1560) | Some(1562) => PgKind::Bits,
        _ if ti.name().eq_ignore_ascii_case("citext") => PgKind::Text,
        _ => PgKind::Raw,
    }
}

impl PgKind {
    /// No binary decoder here: the value is asked for as the server's text.
    fn needs_text(&self) -> bool {
        match self {
            PgKind::Raw => true,
            PgKind::Array(inner) => inner.needs_text(),
            _ => false,
        }
    }

    fn shape(&self) -> Shape {
        match self {
            PgKind::Bool => Shape::Bool,
            PgKind::I2 => Shape::I16,
            PgKind::I4 => Shape::I32,
            PgKind::I8 | PgKind::Oid => Shape::I64,
            PgKind::F4 => Shape::F32,
            PgKind::F8 => Shape::F64,
            PgKind::Text
            | PgKind::Jsonb
            | PgKind::Uuid
            | PgKind::TimeTz
            | PgKind::Numeric
            | PgKind::Char
            | PgKind::Inet
            | PgKind::MacAddr
            | PgKind::Bits => Shape::Utf8,
            PgKind::Bytea | PgKind::Raw => Shape::Binary,
            PgKind::Date => Shape::Date32,
            PgKind::Time => Shape::Time64,
            PgKind::Timestamp => Shape::Timestamp(None),
            PgKind::TimestampTz => Shape::Timestamp(Some("UTC")),
            PgKind::Interval => Shape::Interval,
            PgKind::Array(inner) => Shape::List(Box::new(inner.shape())),
        }
    }
}

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Days since 1970 for a PostgreSQL date. PostgreSQL sends `infinity` / `-infinity` as the
/// extremes of i32; they stay the extremes (the renderer prints them back as words), which no
/// finite date can reach since PostgreSQL's last date is far below i32::MAX days.
fn date_from_pg(days: i32) -> i32 {
    match days {
        i32::MAX | i32::MIN => days,
        _ => days.saturating_add(PG_EPOCH_DAYS),
    }
}

/// Microseconds since 1970 for a PostgreSQL timestamp, keeping the `±infinity` extremes as
/// they are (see [`date_from_pg`]).
fn timestamp_from_pg(micros: i64) -> i64 {
    match micros {
        i64::MAX | i64::MIN => micros,
        _ => micros.saturating_add(PG_EPOCH_MICROS),
    }
}

fn short(what: &str) -> DriverError {
    internal(format!("malformed {what} value from the server"))
}

fn be<const N: usize>(b: &[u8], at: usize, what: &str) -> Result<[u8; N], DriverError> {
    b.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| short(what))
}

fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn append(col: &mut Col, kind: &PgKind, b: &[u8]) -> Result<(), DriverError> {
    match kind {
        PgKind::Bool => col.append_bool(b.first().is_some_and(|v| *v != 0)),
        PgKind::I2 => col.append_i64(i64::from(i16::from_be_bytes(be(b, 0, "int2")?))),
        PgKind::I4 => col.append_i64(i64::from(i32::from_be_bytes(be(b, 0, "int4")?))),
        PgKind::I8 => col.append_i64(i64::from_be_bytes(be(b, 0, "int8")?)),
        PgKind::Oid => col.append_i64(i64::from(u32::from_be_bytes(be(b, 0, "oid")?))),
        PgKind::F4 => col.append_f32(f32::from_be_bytes(be(b, 0, "float4")?)),
        PgKind::F8 => col.append_f64(f64::from_be_bytes(be(b, 0, "float8")?)),
        PgKind::Text | PgKind::Char => col.append_str(&text(b)),
        PgKind::Jsonb => col.append_str(&text(b.get(1..).unwrap_or_default())),
        PgKind::Bytea | PgKind::Raw => col.append_bytes(b),
        PgKind::Uuid => {
            let u: [u8; 16] = be(b, 0, "uuid")?;
            let mut s = String::with_capacity(36);
            for (i, byte) in u.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    s.push('-');
                }
                let _ = write!(s, "{byte:02x}");
            }
            col.append_str(&s)
        }
        PgKind::Date => {
            let d = i32::from_be_bytes(be(b, 0, "date")?);
            col.append_date(date_from_pg(d))
        }
        PgKind::Time => col.append_time(i64::from_be_bytes(be(b, 0, "time")?)),
        PgKind::TimeTz => {
            let micros = i64::from_be_bytes(be(b, 0, "timetz")?);
            let zone_west = i32::from_be_bytes(be(b, 8, "timetz")?);
            col.append_str(&format_timetz(micros, -zone_west))
        }
        PgKind::Timestamp | PgKind::TimestampTz => {
            let t = i64::from_be_bytes(be(b, 0, "timestamp")?);
            col.append_timestamp(timestamp_from_pg(t))
        }
        PgKind::Interval => {
            let micros = i64::from_be_bytes(be(b, 0, "interval")?);
            let days = i32::from_be_bytes(be(b, 8, "interval")?);
            let months = i32::from_be_bytes(be(b, 12, "interval")?);
            col.append_interval(months, days, micros)
        }
        PgKind::Numeric => col.append_str(&numeric_text(b)?),
        PgKind::Inet => col.append_str(&inet_text(b)?),
        PgKind::MacAddr => {
            let m: [u8; 6] = be(b, 0, "macaddr")?;
            let parts: Vec<String> = m.iter().map(|x| format!("{x:02x}")).collect();
            col.append_str(&parts.join(":"))
        }
        PgKind::Bits => {
            let len =
                usize::try_from(i32::from_be_bytes(be(b, 0, "bit")?)).map_err(|_| short("bit"))?;
            let bytes = b.get(4..).unwrap_or_default();
            let text: String = (0..len)
                .map(|i| {
                    let byte = bytes.get(i / 8).copied().unwrap_or(0);
                    if byte & (0x80 >> (i % 8)) != 0 {
                        '1'
                    } else {
                        '0'
                    }
                })
                .collect();
            col.append_str(&text)
        }
        PgKind::Array(inner) => append_array(col, inner, b),
    }
}

/// `inet`/`cidr` as psql prints them: the prefix length shown for cidr, and for inet only
/// when it is not the full address.
fn inet_text(b: &[u8]) -> Result<String, DriverError> {
    let [family, bits, is_cidr, len]: [u8; 4] = be(b, 0, "inet")?;
    let addr = b
        .get(4..4 + usize::from(len))
        .ok_or_else(|| short("inet"))?;
    let (text, full) = match (family, addr.len()) {
        (2, 4) => (
            std::net::Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string(),
            32,
        ),
        (3, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(addr);
            (std::net::Ipv6Addr::from(a).to_string(), 128)
        }
        _ => return Err(short("inet")),
    };
    Ok(if is_cidr != 0 || bits != full {
        format!("{text}/{bits}")
    } else {
        text
    })
}

fn append_array(col: &mut Col, inner: &PgKind, b: &[u8]) -> Result<(), DriverError> {
    let ndim = i32::from_be_bytes(be(b, 0, "array")?);
    if ndim > 1 {
        // A list column cannot hold the nesting faithfully; refuse rather than flatten.
        return Err(DriverError::new(
            ErrorKind::Query,
            format!(
                "a {ndim}-dimensional array cannot be read as a list; cast it to text in the query (e.g. `col::text`)"
            ),
        ));
    }
    let mut at = 12;
    let mut count: usize = if ndim == 0 { 0 } else { 1 };
    for _ in 0..ndim.max(0) {
        let len = i32::from_be_bytes(be(b, at, "array")?);
        count = count.saturating_mul(usize::try_from(len).map_err(|_| short("array"))?);
        at += 8;
    }
    let items = col
        .list_items()
        .ok_or_else(|| internal("array column without a list"))?;
    for _ in 0..count {
        let len = i32::from_be_bytes(be(b, at, "array")?);
        at += 4;
        if len < 0 {
            items.append_null();
            continue;
        }
        let len = len as usize;
        let value = b.get(at..at + len).ok_or_else(|| short("array"))?;
        append(items, inner, value)?;
        at += len;
    }
    col.end_list(count)
}

/// The exact decimal text of a `numeric` in binary form (base-10000 digits).
fn numeric_text(b: &[u8]) -> Result<String, DriverError> {
    let ndigits = i16::from_be_bytes(be(b, 0, "numeric")?);
    let weight = i16::from_be_bytes(be(b, 2, "numeric")?);
    let sign = u16::from_be_bytes(be(b, 4, "numeric")?);
    let dscale = u16::from_be_bytes(be(b, 6, "numeric")?);
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let mut digits = Vec::with_capacity(ndigits.max(0) as usize);
    for i in 0..ndigits.max(0) as usize {
        digits.push(i16::from_be_bytes(be(b, 8 + 2 * i, "numeric")?));
    }
    let digit = |i: i32| -> i16 {
        if i >= 0 && (i as usize) < digits.len() {
            digits[i as usize]
        } else {
            0
        }
    };
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    let weight = i32::from(weight);
    if weight < 0 {
        s.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                let _ = write!(s, "{}", digit(i));
            } else {
                let _ = write!(s, "{:04}", digit(i));
            }
        }
    }
    let dscale = usize::from(dscale);
    if dscale > 0 {
        let mut frac = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while frac.len() < dscale {
            let _ = write!(frac, "{:04}", digit(i));
            i += 1;
        }
        frac.truncate(dscale);
        s.push('.');
        s.push_str(&frac);
    }
    Ok(s)
}

/// `HH:MM:SS[.ffffff]+HH[:MM]`, as psql shows a `timetz`.
fn format_timetz(micros: i64, offset_secs: i32) -> String {
    let mut s = format_time(micros);
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let off = offset_secs.unsigned_abs();
    let _ = write!(s, "{sign}{:02}", off / 3600);
    if !off.is_multiple_of(3600) {
        let _ = write!(s, ":{:02}", (off % 3600) / 60);
    }
    s
}

fn format_time(micros: i64) -> String {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let mut s = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    );
    if frac != 0 {
        let f = format!("{frac:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&ndigits.to_be_bytes());
        b.extend_from_slice(&weight.to_be_bytes());
        b.extend_from_slice(&sign.to_be_bytes());
        b.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numeric_binary_decodes_exactly() {
        // 12345678901234567890.123456789
        let b = numeric(
            8,
            4,
            0,
            9,
            &[1234, 5678, 9012, 3456, 7890, 1234, 5678, 9000],
        );
        assert_eq!(numeric_text(&b).unwrap(), "12345678901234567890.123456789");
        // -0.0005
        let b = numeric(1, -1, 0x4000, 4, &[5]);
        assert_eq!(numeric_text(&b).unwrap(), "-0.0005");
        // 0.00 with no digits
        let b = numeric(0, 0, 0, 2, &[]);
        assert_eq!(numeric_text(&b).unwrap(), "0.00");
        // 10000 (weight 1, one digit, trailing group implicit)
        let b = numeric(1, 1, 0, 0, &[1]);
        assert_eq!(numeric_text(&b).unwrap(), "10000");
        assert_eq!(numeric_text(&numeric(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
    }

    #[test]
    fn infinities_stay_at_the_extremes_and_finite_values_move_to_1970() {
        assert_eq!(date_from_pg(i32::MIN), i32::MIN);
        assert_eq!(date_from_pg(i32::MAX), i32::MAX);
        assert_eq!(date_from_pg(0), PG_EPOCH_DAYS);
        assert_eq!(timestamp_from_pg(i64::MIN), i64::MIN);
        assert_eq!(timestamp_from_pg(i64::MAX), i64::MAX);
        assert_eq!(timestamp_from_pg(-1), PG_EPOCH_MICROS - 1);
    }

    #[test]
    fn timetz_formats_like_psql() {
        assert_eq!(format_timetz(45_296_000_000, 7200), "12:34:56+02");
        assert_eq!(format_timetz(45_296_500_000, -19800), "12:34:56.5-05:30");
    }
}
