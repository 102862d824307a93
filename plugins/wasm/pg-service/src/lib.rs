//! A keeperdb connection source over libpq's connection service files.
//!
//! Files, in libpq's order: the user's (`$PGSERVICEFILE`, else `~/.pg_service.conf`), then the
//! system-wide `pg_service.conf` in `$PGSYSCONFDIR` (else `/etc/postgresql-common`, Debian's
//! sysconfdir). A service defined in the user's file hides one of the same name in the system
//! file, as in libpq. Each `[service]` becomes a connection named after it: `host` (or
//! `hostaddr`), `port`, `dbname`, `user` and `sslmode` map to the connection, `password` is
//! only handed out as its credentials, every other keyword is passed to the driver as an
//! option. Unlike libpq, blanks around `=` are allowed.

use keeperdb_plugin::{Connection, ConnectionSource, Credentials, Error, Secret, TlsMode};

mod service;

pub use service::{Service, parse};

struct PgService;

/// Every service from every granted file that exists, the user's file first.
fn read_services() -> Result<Vec<Service>, Error> {
    let mut out: Vec<Service> = Vec::new();
    for grant in keeperdb_plugin::fs::granted_paths() {
        let text = match keeperdb_plugin::fs::read_to_string(&grant.path) {
            Ok(text) => text,
            Err(Error::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        for service in parse(&text, &grant.path)? {
            if !out.iter().any(|s| s.name == service.name) {
                out.push(service);
            }
        }
    }
    Ok(out)
}

fn tls_mode(value: &str, service: &Service) -> Result<TlsMode, Error> {
    Ok(match value {
        "disable" => TlsMode::Disable,
        "allow" | "prefer" => TlsMode::Prefer,
        "require" => TlsMode::Require,
        "verify-ca" => TlsMode::VerifyCa,
        "verify-full" => TlsMode::VerifyFull,
        other => {
            return Err(Error::invalid_data(
                service.origin(),
                format!("invalid sslmode `{other}` in service `{}`", service.name),
            ));
        }
    })
}

fn to_connection(service: &Service) -> Result<Connection, Error> {
    let mut c = Connection::new(&service.name, &service.name, "postgres");
    for (key, value) in &service.settings {
        match key.as_str() {
            "host" => c.host = Some(value.clone()),
            "hostaddr" => {
                if c.host.is_none() {
                    c.host = Some(value.clone());
                }
            }
            "port" => {
                c.port = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| {
                            Error::invalid_data(
                                service.origin(),
                                format!(
                                    "port `{value}` of service `{}` is not a port number",
                                    service.name
                                ),
                            )
                        })?,
                )
            }
            "dbname" => c.database = Some(value.clone()),
            "user" => c.user = Some(value.clone()),
            "sslmode" => c.tls = Some(tls_mode(value, service)?),
            "password" => {}
            _ => c.options.push((key.clone(), value.clone())),
        }
    }
    Ok(c)
}

impl ConnectionSource for PgService {
    fn list_connections() -> Result<Vec<Connection>, Error> {
        read_services()?.iter().map(to_connection).collect()
    }

    fn credentials(connection: Connection) -> Result<Credentials, Error> {
        let services = read_services()?;
        let service = services
            .iter()
            .find(|s| s.name == connection.id)
            .ok_or_else(|| Error::NotFound(format!("service `{}`", connection.id)))?;
        let password = service
            .settings
            .iter()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| Secret::Value(v.clone()));
        Ok(Credentials {
            user: None,
            password,
        })
    }
}

keeperdb_plugin::export_connection_source!(PgService);
