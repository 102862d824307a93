//! A keeperdb connection source: lists the connections in `~/.hello-connections`, one a line:
//!
//! ```text
//! # name      engine    host           port  database  user
//! orders-db   postgres  db.internal    5432  orders    app
//! ```
//!
//! `keeperdb plugins new --kind source DIR` writes this plugin under a name of yours (reading
//! `~/.DIR`). Change the parsing to read your own format; the SDK's guide is `cargo doc --open
//! -p keeperdb-plugin`, and the README of a new plugin says how to build, pack and install it.

use keeperdb_plugin::{Connection, ConnectionSource, Credentials, Error, fs, log, skip};

struct Source;

const FILE: &str = "~/.hello-connections";

impl ConnectionSource for Source {
    fn list_connections() -> Result<Vec<Connection>, Error> {
        let text = match fs::read_to_string(FILE) {
            Ok(text) => text,
            // No file yet: no connections, not an error.
            Err(Error::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = format!("{FILE}:{}", i + 1);
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, engine, host, port, database, user] = fields[..] else {
                // One bad line is left out with its reason; the others are still listed.
                skip(entry, "expected: name engine host port database user");
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                skip(entry, format!("`{port}` is not a port"));
                continue;
            };
            // The id must stay the same from one listing to the next: use the name.
            let mut c = Connection::new(name, name, engine);
            c.host = Some(host.to_string());
            c.port = Some(port);
            c.database = Some(database.to_string());
            c.user = Some(user.to_string());
            out.push(c);
        }
        log::debug(&format!("{} connections", out.len()));
        Ok(out)
    }

    fn credentials(_connection: Connection) -> Result<Credentials, Error> {
        // This file holds no passwords: the driver prompts, or uses trust/peer auth.
        Ok(Credentials {
            user: None,
            password: None,
        })
    }
}

keeperdb_plugin::export_connection_source!(Source);
