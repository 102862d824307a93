//! Test-only plugin: lists its granted paths, and `fetch-credentials` reads the file named by
//! the connection's name, so a test can aim it at paths outside its grant.

use keeperdb_plugin::{Connection, ConnectionSource, Credentials, Error, Secret};

struct HostileFs;

impl ConnectionSource for HostileFs {
    fn list_connections() -> Result<Vec<Connection>, Error> {
        Ok(keeperdb_plugin::fs::granted_paths()
            .into_iter()
            .map(|g| {
                let mut c = Connection::new(g.path.clone(), g.path, "sqlite");
                c.database = Some(g.requested);
                c
            })
            .collect())
    }

    fn credentials(connection: Connection) -> Result<Credentials, Error> {
        let text = keeperdb_plugin::fs::read_to_string(&connection.name)?;
        Ok(Credentials {
            user: None,
            password: Some(Secret::Value(text)),
        })
    }
}

keeperdb_plugin::export_connection_source!(HostileFs);
