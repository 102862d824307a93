//! sqlx errors to driver errors with a kind the host maps to exit codes.

use keeperdb_driver_sdk::{DriverError, ErrorKind};
use sqlx::mysql::MySqlDatabaseError;
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

/// What was being done, for messages about transport failures. It holds no password: no
/// message is ever built with one, so none needs masking afterwards (masking the password's
/// text wherever it occurs would show it: a password equal to the user name, or the port).
pub struct Ctx<'a> {
    /// `host:port` or the SQLite file.
    pub target: &'a str,
}

/// sqlx's protocol errors end with where in sqlx they were raised (`... (sqlx_postgres::
/// connection::tls:95)`): of no use to a user, so dropped.
fn without_location(message: String) -> String {
    let trimmed = message.trim_end();
    let Some(body) = trimmed.strip_suffix(')') else {
        return message;
    };
    let Some((text, location)) = body.rsplit_once(" (") else {
        return message;
    };
    let is_location = location.rsplit_once(':').is_some_and(|(path, line)| {
        !line.is_empty()
            && line.bytes().all(|b| b.is_ascii_digit())
            && path.contains("::")
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
    });
    if is_location {
        text.trim_end().to_string()
    } else {
        message
    }
}

pub fn map(e: sqlx::Error, ctx: &Ctx<'_>) -> DriverError {
    let mut out = match e {
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
                pg_error(pg)
            } else if let Some(my) = db.try_downcast_ref::<MySqlDatabaseError>() {
                mysql_error(my)
            } else if let Some(lite) = db.try_downcast_ref::<SqliteError>() {
                sqlite_error(lite.message(), db.code().map(|c| c.to_string()), ctx)
            } else {
                let mut err = DriverError::new(ErrorKind::Query, db.message().to_string());
                err.code = db.code().map(|c| c.to_string());
                err
            }
        }
        sqlx::Error::Io(io) => {
            let kind = if io.kind() == std::io::ErrorKind::TimedOut {
                ErrorKind::Timeout
            } else {
                ErrorKind::Connection
            };
            DriverError::new(kind, format!("cannot reach {}: {io}", ctx.target))
        }
        sqlx::Error::Tls(e) => DriverError::new(
            ErrorKind::Connection,
            format!("TLS with {} failed: {e}", ctx.target),
        ),
        sqlx::Error::Protocol(p) => DriverError::new(
            ErrorKind::Connection,
            format!("protocol error from {}: {p}", ctx.target),
        ),
        sqlx::Error::Configuration(e) => DriverError::new(
            ErrorKind::Connection,
            format!("invalid connection settings for {}: {e}", ctx.target),
        ),
        sqlx::Error::PoolTimedOut => DriverError::new(
            ErrorKind::Timeout,
            format!("timed out connecting to {}", ctx.target),
        ),
        other => DriverError::new(ErrorKind::Internal, other.to_string()),
    };
    out.message = without_location(out.message);
    out
}

fn pg_error(pg: &PgDatabaseError) -> DriverError {
    let code = pg.code();
    let kind = match code {
        "28P01" | "28000" => ErrorKind::Auth,
        // query_canceled covers both a user's cancel and statement_timeout.
        "57014" if pg.message().contains("timeout") => ErrorKind::Timeout,
        "57014" => ErrorKind::Cancelled,
        c if c.starts_with("08") => ErrorKind::Connection,
        // too many connections, database does not exist, cannot connect now
        "53300" | "3D000" | "57P03" => ErrorKind::Connection,
        "57P01" | "57P02" => ErrorKind::Connection,
        _ => ErrorKind::Query,
    };
    let mut message = pg.message().to_string();
    if let Some(sqlx::postgres::PgErrorPosition::Original(pos)) = pg.position() {
        message.push_str(&format!(" (at character {pos})"));
    }
    if let Some(detail) = pg.detail() {
        message.push_str(&format!("\nDETAIL: {detail}"));
    }
    if let Some(hint) = pg.hint() {
        message.push_str(&format!("\nHINT: {hint}"));
    }
    DriverError::new(kind, message).with_code(code)
}

fn mysql_error(my: &MySqlDatabaseError) -> DriverError {
    let number = my.number();
    let kind = match number {
        // access denied (bad password / user), access denied to database
        1045 | 1044 | 1698 => ErrorKind::Auth,
        // query interrupted / KILL QUERY
        1317 => ErrorKind::Cancelled,
        // max_execution_time exceeded, lock wait timeout
        3024 | 1969 | 1205 => ErrorKind::Timeout,
        // unknown database, too many connections, host blocked
        1049 | 1040 | 1129 | 1130 => ErrorKind::Connection,
        _ => ErrorKind::Query,
    };
    let code = match my.code() {
        Some(state) => format!("{number} ({state})"),
        None => number.to_string(),
    };
    DriverError::new(kind, my.message().to_string()).with_code(code)
}

/// A SQLite error from its extended result code (as text) and message.
pub fn sqlite_error(message: &str, code: Option<String>, ctx: &Ctx<'_>) -> DriverError {
    let primary = code
        .as_deref()
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff);
    let kind = match primary {
        // SQLITE_INTERRUPT
        Some(9) => ErrorKind::Cancelled,
        // SQLITE_CANTOPEN, SQLITE_NOTADB
        Some(14) | Some(26) => ErrorKind::Connection,
        // SQLITE_BUSY, SQLITE_LOCKED
        Some(5) | Some(6) => ErrorKind::Timeout,
        // SQLITE_AUTH
        Some(23) => ErrorKind::Auth,
        _ => ErrorKind::Query,
    };
    let mut message = message.to_string();
    if matches!(primary, Some(14) | Some(26)) {
        message = format!("cannot open SQLite database {}: {message}", ctx.target);
    }
    let mut err = DriverError::new(kind, message);
    err.code = code;
    err
}

pub fn internal(message: impl Into<String>) -> DriverError {
    DriverError::new(ErrorKind::Internal, message)
}

/// A value sqlx could not decode.
pub fn decode_err(e: sqlx::error::BoxDynError) -> DriverError {
    internal(e.to_string())
}

/// `e`, saying which column (numbered from 1) it came from.
pub fn column_error(i: usize, name: &str, e: DriverError) -> DriverError {
    DriverError::new(
        e.kind,
        format!("cannot read column {} ({name}): {}", i + 1, e.message),
    )
}

/// A `tls` setting that is not one of the modes both server engines know.
pub fn unknown_tls_mode(mode: &str) -> DriverError {
    DriverError::new(ErrorKind::Connection, format!("unknown TLS mode `{mode}`"))
}

use sqlx::error::DatabaseError as _;

#[cfg(test)]
mod tests {
    use super::without_location;

    #[test]
    fn sqlx_source_locations_are_dropped() {
        assert_eq!(
            without_location(
                "unexpected response from SSLRequest: 0x45 (sqlx_postgres::connection::tls:95)"
                    .into()
            ),
            "unexpected response from SSLRequest: 0x45"
        );
        // Parentheses that are not a location stay.
        assert_eq!(
            without_location("password authentication failed (user \"app\")".into()),
            "password authentication failed (user \"app\")"
        );
        assert_eq!(without_location("at (a::b:x)".into()), "at (a::b:x)");
    }
}
