//! What libpq-style tools do with the connection a user names for one run: a per-run database
//! and user, a password asked for on the spot, the `PG*` environment and the password file for
//! PostgreSQL URLs, the option file `~/.my.cnf` for MySQL and MariaDB URLs, and a new SQLite
//! file only when asked for. Shells gather the choices
//! ([`RunOverrides`]); [`App::resolve_for_run`](crate::App::resolve_for_run) applies them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use keeperdb_model::{Connection, Credentials, Engine, TlsMode};
use secrecy::SecretString;

/// Per-run changes to the connection the user named.
#[derive(Debug, Clone, Default)]
pub struct RunOverrides {
    /// Use this database (for SQLite: this file) instead of the connection's.
    pub database: Option<String>,
    /// Log in as this user. A stored password belongs to the connection's own user, so it is
    /// not sent for another one.
    pub user: Option<String>,
    /// Ask for the password now, whatever is stored.
    pub ask_password: bool,
    /// Create the SQLite file when it does not exist yet.
    pub create: bool,
}

/// The process environment a libpq tool reads, captured so it can be given explicitly.
#[derive(Debug, Clone, Default)]
pub struct LibpqEnv {
    vars: HashMap<String, String>,
}

impl LibpqEnv {
    /// The `PG*` variables and `HOME` (for `~/.pgpass` and `~/.my.cnf`) of this process.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars()
                .filter(|(k, _)| k.starts_with("PG") || k == "HOME")
                .collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `$PGPASSFILE`, else `~/.pgpass`.
    fn password_file(&self) -> Option<PathBuf> {
        self.get("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| self.get("HOME").map(|h| Path::new(h).join(".pgpass")))
    }
}

/// Fill what a PostgreSQL URL left out from `PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER` and
/// `PGSSLMODE`, as libpq does. `sslmode_given`: the URL set the TLS mode itself.
pub(crate) fn apply_pg_env(
    connection: &mut Connection,
    sslmode_given: bool,
    env: &LibpqEnv,
) -> Vec<String> {
    let mut notes = Vec::new();
    let spec = &mut connection.spec;
    if spec.host.is_none() {
        spec.host = env.get("PGHOST").map(str::to_string);
    }
    if spec.port.is_none()
        && let Some(port) = env.get("PGPORT")
    {
        match port.parse::<u16>() {
            Ok(p) => spec.port = Some(p),
            Err(_) => notes.push("PGPORT is not a port number; it was ignored".to_string()),
        }
    }
    if spec.database.is_none() {
        spec.database = env.get("PGDATABASE").map(str::to_string);
    }
    if spec.user.is_none() {
        spec.user = env.get("PGUSER").map(str::to_string);
    }
    if !sslmode_given && let Some(mode) = env.get("PGSSLMODE") {
        match mode.parse::<TlsMode>() {
            Ok(mode) => spec.tls = mode,
            Err(_) => notes.push("PGSSLMODE is not an sslmode libpq knows; it was ignored".into()),
        }
    }
    notes
}

/// A PostgreSQL password as libpq finds one when the URL has none: `PGPASSWORD`, else the
/// first matching line of the password file, which is skipped (with a note) when others may
/// read it. The notes never hold the password.
pub(crate) fn pg_password(
    connection: &Connection,
    env: &LibpqEnv,
) -> (Option<SecretString>, Vec<String>) {
    if let Some(password) = env.get("PGPASSWORD") {
        return (Some(SecretString::from(password.to_string())), Vec::new());
    }
    let Some(file) = env.password_file() else {
        return (None, Vec::new());
    };
    let Ok(meta) = std::fs::metadata(&file) else {
        return (None, Vec::new());
    };
    use std::os::unix::fs::PermissionsExt;
    if keeperdb_pgpass::insecure_mode(meta.permissions().mode()) {
        return (
            None,
            vec![format!(
                "password file {} has group or world access; permissions should be u=rw (0600) \
                 or less; it was not read",
                file.display()
            )],
        );
    }
    let Ok(text) = std::fs::read_to_string(&file) else {
        return (
            None,
            vec![format!("cannot read the password file {}", file.display())],
        );
    };
    let (entries, _) = keeperdb_pgpass::parse(&text);
    let spec = &connection.spec;
    let host = spec.host.as_deref().unwrap_or("localhost");
    let port = spec.effective_port().unwrap_or(5432).to_string();
    let user = spec.user.as_deref().unwrap_or("");
    let database = spec.database.as_deref().unwrap_or(user);
    let password = keeperdb_pgpass::lookup(&entries, host, &port, database, user);
    (
        password.map(|p| SecretString::from(p.to_string())),
        Vec::new(),
    )
}

/// Apply the per-run database and user. A stored password is kept only for the connection's
/// own user.
pub(crate) fn apply_overrides(
    connection: &mut Connection,
    credentials: &mut Credentials,
    overrides: &RunOverrides,
) {
    if let Some(database) = &overrides.database {
        connection.spec.database = Some(database.clone());
    }
    if let Some(user) = &overrides.user {
        let own = credentials
            .user
            .as_deref()
            .or(connection.spec.user.as_deref());
        if own != Some(user.as_str()) {
            *credentials = Credentials::new(None, None);
        }
        credentials.user = None;
        connection.spec.user = Some(user.clone());
    }
    if overrides.ask_password {
        credentials.password = None;
        credentials.needs_prompt = true;
    }
    if overrides.create && connection.spec.engine == Engine::SQLITE {
        connection
            .spec
            .options
            .insert("create".into(), "true".into());
    }
}

/// What the MySQL and MariaDB clients read from `~/.my.cnf` for a URL: `user`, `host`, `port`,
/// `database` where the URL left them out, and `password` when it has none, from the groups
/// `[client]` and the engine's own (`[mysql]`; `[client-mariadb]`, `[mariadb-client]`,
/// `[mariadb]`), later groups winning as in the clients. A world-writable file is ignored, as
/// the clients ignore it. The notes never hold the password.
pub(crate) fn my_cnf(
    connection: &mut Connection,
    env: &LibpqEnv,
) -> (Option<SecretString>, Vec<String>) {
    let Some(home) = env.get("HOME") else {
        return (None, Vec::new());
    };
    let file = Path::new(home).join(".my.cnf");
    let Ok(meta) = std::fs::metadata(&file) else {
        return (None, Vec::new());
    };
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o002 != 0 {
        return (
            None,
            vec![format!(
                "world-writable option file {} is ignored",
                file.display()
            )],
        );
    }
    let Ok(text) = std::fs::read_to_string(&file) else {
        return (
            None,
            vec![format!("cannot read the option file {}", file.display())],
        );
    };
    let groups: &[&str] = if connection.spec.engine == Engine::MARIADB {
        &[
            "client",
            "client-server",
            "client-mariadb",
            "mariadb-client",
            "mariadb",
        ]
    } else {
        &["client", "mysql"]
    };
    let options = option_file_values(&text, groups);
    let spec = &mut connection.spec;
    let value = |key: &str| options.get(key).cloned();
    if spec.user.is_none() {
        spec.user = value("user");
    }
    if spec.host.is_none() {
        spec.host = value("host");
    }
    if spec.port.is_none() {
        spec.port = value("port").and_then(|p| p.parse().ok());
    }
    if spec.database.is_none() {
        spec.database = value("database");
    }
    (value("password").map(SecretString::from), Vec::new())
}

/// The options of `groups` in a MySQL option file, later lines winning. Keys are read with
/// `-` and `_` alike; a value may be quoted; `!include` lines and options without a value
/// carry nothing these connections use and are passed over.
fn option_file_values(text: &str, groups: &[&str]) -> HashMap<String, String> {
    let mut values = HashMap::new();
    let mut in_group = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';', '!']) {
            continue;
        }
        if let Some(group) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_group = groups.contains(&group.trim().to_ascii_lowercase().as_str());
            continue;
        }
        let Some((key, value)) = line.split_once('=').filter(|_| in_group) else {
            continue;
        };
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        values.insert(key.trim().replace('_', "-"), value.to_string());
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> LibpqEnv {
        LibpqEnv {
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_pg_variable_that_cannot_be_read_is_ignored_with_a_warning_naming_it() {
        let mut c = Connection::new_local(Engine::POSTGRES, "adhoc");
        let before = c.spec.tls;
        let notes = apply_pg_env(
            &mut c,
            false,
            &env(&[
                ("PGPORT", "54x2"),
                ("PGSSLMODE", "sometimes"),
                ("PGHOST", "db.internal"),
            ]),
        );
        assert_eq!(c.spec.port, None);
        assert_eq!(c.spec.tls, before);
        assert_eq!(
            c.spec.host.as_deref(),
            Some("db.internal"),
            "the rest still applies"
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].starts_with("PGPORT "), "{notes:?}");
        assert!(notes[1].starts_with("PGSSLMODE "), "{notes:?}");
        // The warning names the variable, not its value (which could be anything).
        assert!(
            !notes
                .iter()
                .any(|n| n.contains("54x2") || n.contains("sometimes"))
        );

        let mut c = Connection::new_local(Engine::POSTGRES, "adhoc");
        let notes = apply_pg_env(
            &mut c,
            false,
            &env(&[("PGPORT", "6543"), ("PGSSLMODE", "require")]),
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(c.spec.port, Some(6543));
        assert_eq!(c.spec.tls, TlsMode::Require);
    }

    #[test]
    fn option_files_read_the_clients_groups_later_lines_winning() {
        let text = "# mine\n[client]\nuser = app\npassword=\"p w\"\nskip-ssl\n!include /etc/x\n\
                    [mysqld]\nuser=mysql\n[mysql]\nuser='other'\ndatabase = orders\n";
        let mysql = option_file_values(text, &["client", "mysql"]);
        assert_eq!(mysql["user"], "other");
        assert_eq!(mysql["password"], "p w");
        assert_eq!(mysql["database"], "orders");
        let client = option_file_values(text, &["client"]);
        assert_eq!(client["user"], "app");
        assert!(!client.contains_key("database"));
    }
}
