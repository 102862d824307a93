//! Connection URLs as people paste them: `postgres://`, `postgresql://`, `mysql://`,
//! `mariadb://`, `sqlite:` and bare `*.db` / `*.sqlite` paths.

use percent_encoding::percent_decode_str;
use secrecy::SecretString;

use crate::connection::{Connection, Engine, TlsMode};
use crate::engine::EngineSpec;

/// A URL that cannot be turned into a connection. The message never repeats a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Neither a known scheme nor a SQLite file path.
    #[error(
        "`{0}` is not a connection URL: expected postgres://, mysql://, mariadb://, sqlite: or a path ending in .db, .sqlite or .sqlite3"
    )]
    UnknownScheme(String),
    /// The URL does not parse.
    #[error("malformed connection URL: {0}")]
    Malformed(String),
    /// The port is not a number from 1 to 65535.
    #[error("invalid port `{0}` in connection URL (expected 1-65535)")]
    BadPort(String),
    /// A query parameter has a value that is not allowed.
    #[error("invalid value `{value}` for `{key}` in connection URL: {reason}")]
    BadParameter {
        /// Parameter name.
        key: String,
        /// Its value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A SQLite URL without a path.
    #[error("sqlite URL `{0}` names no database file")]
    MissingPath(String),
    /// `?password=`: refused so it cannot end up in a saved URL or shell history by habit.
    #[error(
        "passwords in URL query parameters are not accepted; give it at the prompt, on stdin, or in the user:password part"
    )]
    PasswordInQuery,
    /// Percent-encoding that is not valid UTF-8.
    #[error("connection URL {0} is not valid UTF-8 after percent-decoding")]
    BadEncoding(&'static str),
}

/// A connection parsed from a URL, with the password kept apart so it can go to the
/// credential store and never into the connections file.
#[derive(Debug)]
pub struct ParsedUrl {
    /// The connection (a fresh local id, origin `Local`, name derived from the target).
    pub connection: Connection,
    /// A password that was in the URL, if any.
    pub password: Option<SecretString>,
}

/// Parse a connection URL or a SQLite file path, with the schemes keeperdb knows itself.
pub fn parse_connection_url(input: &str) -> Result<ParsedUrl, UrlError> {
    parse_connection_url_with(input, &[])
}

/// Parse a connection URL or a SQLite file path; `engines` (what the installed drivers declare)
/// add URL schemes beyond the built-in ones, so `sqlserver://host/db` works once a driver for
/// it is installed.
pub fn parse_connection_url_with(
    input: &str,
    engines: &[EngineSpec],
) -> Result<ParsedUrl, UrlError> {
    let input = input.trim();
    let lower = input.to_ascii_lowercase();
    if let Some(rest) = lower
        .strip_prefix("sqlite:")
        .map(|_| &input["sqlite:".len()..])
    {
        return sqlite(input, rest);
    }
    if !lower.contains("://") && is_sqlite_path(&lower) {
        return sqlite(input, input);
    }
    let scheme = lower.split_once("://").map(|(scheme, _)| scheme);
    let engine = match scheme {
        Some("postgres" | "postgresql") => Engine::POSTGRES,
        Some("mysql") => Engine::MYSQL,
        Some("mariadb") => Engine::MARIADB,
        Some(scheme) => match engines.iter().find(|e| e.has_scheme(scheme)) {
            Some(spec) if !spec.id.is_file_based() => spec.id.clone(),
            _ => return Err(UrlError::UnknownScheme(redact(input))),
        },
        None => return Err(UrlError::UnknownScheme(redact(input))),
    };
    server(input, engine)
}

fn is_sqlite_path(lower: &str) -> bool {
    [".db", ".sqlite", ".sqlite3", ".db3"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

fn sqlite(input: &str, rest: &str) -> Result<ParsedUrl, UrlError> {
    // `sqlite:///abs/path`, `sqlite://rel/path`, `sqlite:path`, and a query string of options.
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.strip_prefix("//").unwrap_or(path);
    let path = decode(path, "path")?;
    if path.is_empty() {
        return Err(UrlError::MissingPath(input.to_string()));
    }
    let mut connection = Connection::new_local(Engine::SQLITE, file_stem(&path));
    connection.spec.database = Some(path);
    apply_query(&mut connection, query)?;
    Ok(ParsedUrl {
        connection,
        password: None,
    })
}

fn file_stem(path: &str) -> String {
    std::path::Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

fn server(input: &str, engine: Engine) -> Result<ParsedUrl, UrlError> {
    let url = url::Url::parse(input).map_err(|e| match e {
        url::ParseError::InvalidPort => UrlError::BadPort(port_text(input)),
        other => UrlError::Malformed(format!("{other} in `{}`", redact(input))),
    })?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string());
    let user = match url.username() {
        "" => None,
        u => Some(decode(u, "user name")?),
    };
    let password = url
        .password()
        .map(|p| decode(p, "password").map(SecretString::from))
        .transpose()?;
    let database = match url.path().trim_start_matches('/') {
        "" => None,
        db => Some(decode(db, "database name")?),
    };
    let name = match (&database, &host) {
        (Some(db), Some(h)) => format!("{db}@{h}"),
        (Some(db), None) => db.clone(),
        (None, Some(h)) => h.clone(),
        (None, None) => engine.as_str().to_string(),
    };
    let mut connection = Connection::new_local(engine, name);
    connection.spec.host = host;
    connection.spec.port = url.port();
    connection.spec.user = user;
    connection.spec.database = database;
    apply_query(&mut connection, url.query().unwrap_or(""))?;
    Ok(ParsedUrl {
        connection,
        password,
    })
}

/// The text after the last `:` of the authority, for a port error message.
fn port_text(input: &str) -> String {
    let after_scheme = input.split_once("://").map_or(input, |(_, r)| r);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    host_port
        .rsplit_once(':')
        .map_or(host_port, |(_, p)| p)
        .to_string()
}

fn apply_query(connection: &mut Connection, query: &str) -> Result<(), UrlError> {
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let bad = |reason: &str| UrlError::BadParameter {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        match key.as_ref() {
            "sslmode" | "ssl-mode" | "tls" => {
                connection.spec.tls = value.parse::<TlsMode>().map_err(|e| bad(&e.to_string()))?;
            }
            "read_only" | "readonly" => {
                connection.spec.read_only =
                    parse_bool(&value).ok_or_else(|| bad("expected true or false"))?;
            }
            "mode" if connection.spec.engine == Engine::SQLITE && value == "ro" => {
                connection.spec.read_only = true;
            }
            "password" => return Err(UrlError::PasswordInQuery),
            _ => {
                connection
                    .spec
                    .options
                    .insert(key.into_owned(), value.into_owned());
            }
        }
    }
    Ok(())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn decode(part: &str, what: &'static str) -> Result<String, UrlError> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| UrlError::BadEncoding(what))
}

/// The input with any password replaced, safe for an error message.
fn redact(input: &str) -> String {
    let Some((scheme, rest)) = input.split_once("://") else {
        return input.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{hostport}{tail}")
        }
        None => input.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn postgres_url_with_everything() {
        let p = parse_connection_url(
            "postgresql://app%40corp:p%3Ass@db.internal:6543/orders?sslmode=verify-full&application_name=kdb",
        )
        .unwrap();
        let c = &p.connection;
        assert_eq!(c.spec.engine, Engine::POSTGRES);
        assert_eq!(c.spec.host.as_deref(), Some("db.internal"));
        assert_eq!(c.spec.port, Some(6543));
        assert_eq!(c.spec.user.as_deref(), Some("app@corp"));
        assert_eq!(c.spec.database.as_deref(), Some("orders"));
        assert_eq!(c.spec.tls, TlsMode::VerifyFull);
        assert_eq!(c.spec.options["application_name"], "kdb");
        assert_eq!(c.spec.name, "orders@db.internal");
        assert_eq!(p.password.unwrap().expose_secret(), "p:ss");
        assert_eq!(c.origin, crate::Origin::local());
    }

    #[test]
    fn mysql_and_mariadb_schemes() {
        let p = parse_connection_url("mysql://root@127.0.0.1/shop").unwrap();
        assert_eq!(p.connection.spec.engine, Engine::MYSQL);
        assert_eq!(p.connection.spec.port, None);
        assert_eq!(p.connection.spec.effective_port(), Some(3306));
        assert!(p.password.is_none());
        let p = parse_connection_url("MariaDB://u:pw@[::1]:3307").unwrap();
        assert_eq!(p.connection.spec.engine, Engine::MARIADB);
        assert_eq!(p.connection.spec.host.as_deref(), Some("::1"));
        assert_eq!(p.connection.spec.port, Some(3307));
        assert_eq!(p.connection.spec.database, None);
    }

    #[test]
    fn sqlite_forms() {
        let p = parse_connection_url("sqlite:///var/data/chinook.db").unwrap();
        assert_eq!(p.connection.spec.engine, Engine::SQLITE);
        assert_eq!(
            p.connection.spec.database.as_deref(),
            Some("/var/data/chinook.db")
        );
        assert_eq!(p.connection.spec.name, "chinook");
        let p = parse_connection_url("sqlite:local.sqlite?mode=ro").unwrap();
        assert_eq!(p.connection.spec.database.as_deref(), Some("local.sqlite"));
        assert!(p.connection.spec.read_only);
        let p = parse_connection_url("./music/Chinook_Sqlite.sqlite").unwrap();
        assert_eq!(
            p.connection.spec.database.as_deref(),
            Some("./music/Chinook_Sqlite.sqlite")
        );
        let p = parse_connection_url("/tmp/a b.db").unwrap();
        assert_eq!(p.connection.spec.database.as_deref(), Some("/tmp/a b.db"));
    }

    #[test]
    fn bad_urls_name_what_is_wrong() {
        assert!(matches!(
            parse_connection_url("oracle://scott@db/orcl"),
            Err(UrlError::UnknownScheme(_))
        ));
        assert!(matches!(
            parse_connection_url("notes.txt"),
            Err(UrlError::UnknownScheme(_))
        ));
        assert_eq!(
            parse_connection_url("postgres://db:99999/x").unwrap_err(),
            UrlError::BadPort("99999".into())
        );
        assert_eq!(
            parse_connection_url("postgres://db:abc/x").unwrap_err(),
            UrlError::BadPort("abc".into())
        );
        let err = parse_connection_url("postgres://db/x?sslmode=sometimes").unwrap_err();
        assert!(err.to_string().contains("sometimes") && err.to_string().contains("sslmode"));
        assert!(matches!(
            parse_connection_url("sqlite:"),
            Err(UrlError::MissingPath(_))
        ));
        assert!(matches!(
            parse_connection_url("postgres://db/x?read_only=perhaps"),
            Err(UrlError::BadParameter { .. })
        ));
        assert!(matches!(
            parse_connection_url("postgres://u@db/%FF"),
            Err(UrlError::BadEncoding("database name"))
        ));
    }

    #[test]
    fn errors_never_repeat_the_password() {
        let err = parse_connection_url("oracle://scott:tiger-secret@db/orcl").unwrap_err();
        assert!(!err.to_string().contains("tiger-secret"), "{err}");
        let err = parse_connection_url("postgres://u:tiger-secret@db:x/orcl").unwrap_err();
        assert!(!err.to_string().contains("tiger-secret"), "{err}");
        let err = parse_connection_url("postgres://u@db/x?password=tiger-secret").unwrap_err();
        assert_eq!(err, UrlError::PasswordInQuery);
        assert!(!err.to_string().contains("tiger-secret"), "{err}");
    }

    #[test]
    fn a_driver_declared_scheme_parses_only_with_that_driver() {
        let sqlserver = EngineSpec {
            id: "sqlserver".parse().unwrap(),
            url_schemes: vec!["sqlserver".into(), "mssql".into()],
            default_port: Some(1433),
        };
        assert!(matches!(
            parse_connection_url("mssql://sa@db.internal/sales"),
            Err(UrlError::UnknownScheme(_))
        ));
        let c = parse_connection_url_with("MSSQL://sa@db.internal/sales", &[sqlserver])
            .unwrap()
            .connection;
        assert_eq!(c.spec.engine.as_str(), "sqlserver");
        assert_eq!(c.spec.host.as_deref(), Some("db.internal"));
        assert_eq!(c.spec.database.as_deref(), Some("sales"));
    }
}
