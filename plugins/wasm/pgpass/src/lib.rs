//! A keeperdb connection source over libpq's password file (`~/.pgpass`, or `$PGPASSFILE`).
//!
//! Format (as libpq reads it): one `hostname:port:database:username:password` entry per line;
//! `#` starts a comment line; `\:` and `\\` escape a colon and a backslash; a field that is
//! exactly `*` matches anything. The first matching line wins. A file readable or writable by
//! group or others is refused, with libpq's message, as libpq refuses it.
//!
//! Listing: every line whose hostname is concrete (not `*`) is a connection; its port,
//! database and user are taken from the line, a `*` there leaving the value unset. Lines with a
//! wildcard hostname only provide credentials. Duplicate entries are listed once (the first).
//! Credentials: libpq's lookup over the whole file, with the connection's host (default
//! `localhost`), port (default 5432), database (default: the user name) and user.

use keeperdb_plugin::{Connection, ConnectionSource, Credentials, Error, Secret};

use keeperdb_pgpass as pgpass;

pub use pgpass::{Entry, Field, parse};

struct Pgpass;

/// The resolved path of the password file (the plugin's only grant).
fn pgpass_path() -> Result<String, Error> {
    keeperdb_plugin::fs::granted_paths()
        .into_iter()
        .next()
        .map(|g| g.path)
        .ok_or_else(|| Error::Internal("no fs-read grant for the password file".into()))
}

/// The file's entries, or none when it does not exist (libpq ignores a missing file).
fn read_entries() -> Result<(String, Vec<Entry>), Error> {
    let path = pgpass_path()?;
    let meta = match keeperdb_plugin::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(Error::NotFound(_)) => return Ok((path, Vec::new())),
        Err(e) => return Err(e),
    };
    if !meta.is_file {
        return Err(Error::Unavailable(format!(
            "password file \"{path}\" is not a plain file"
        )));
    }
    if pgpass::insecure_mode(meta.mode) {
        return Err(Error::Unavailable(format!(
            "password file \"{path}\" has group or world access; permissions should be u=rw (0600) or less"
        )));
    }
    let text = keeperdb_plugin::fs::read_to_string(&path)?;
    let (entries, skipped) = parse(&text);
    for line in skipped {
        keeperdb_plugin::log::warn(&format!(
            "{path}:{line}: not a hostname:port:database:username:password entry, ignored"
        ));
    }
    Ok((path, entries))
}

impl ConnectionSource for Pgpass {
    fn list_connections() -> Result<Vec<Connection>, Error> {
        let (path, entries) = read_entries()?;
        let mut out: Vec<Connection> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for entry in entries.iter().filter(|e| !e.host.is_wildcard()) {
            let port = match &entry.port {
                Field::Any => None,
                Field::Value(p) => match p.parse::<u16>() {
                    Ok(p) if p > 0 => Some(p),
                    _ => {
                        keeperdb_plugin::log::warn(&format!(
                            "{path}:{}: port `{p}` is not a port number, entry not listed",
                            entry.line
                        ));
                        continue;
                    }
                },
            };
            let id = entry.key();
            if !seen.insert(id.clone()) {
                continue;
            }
            let mut c = Connection::new(id, entry.display_name(), "postgres");
            c.host = entry.host.value().map(str::to_string);
            c.port = port;
            c.database = entry.database.value().map(str::to_string);
            c.user = entry.user.value().map(str::to_string);
            out.push(c);
        }
        Ok(out)
    }

    fn credentials(connection: Connection) -> Result<Credentials, Error> {
        let (_, entries) = read_entries()?;
        let host = connection.host.as_deref().unwrap_or("localhost");
        let port = connection.port.unwrap_or(5432).to_string();
        let user = connection.user.as_deref().unwrap_or("");
        let database = connection.database.as_deref().unwrap_or(user);
        let password = pgpass::lookup(&entries, host, &port, database, user);
        Ok(Credentials {
            user: None,
            password: password.map(|p| Secret::Value(p.to_string())),
        })
    }
}

keeperdb_plugin::export_connection_source!(Pgpass);
