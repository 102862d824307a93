//! Template connection source: reads `~/.hello-connections`, one connection per line:
//!
//! ```text
//! # name      engine    host           port  database  user
//! orders-db   postgres  db.internal    5432  orders    app
//! ```
//!
//! Copy this directory, rename the id, change the parsing. Build with `cargo xtask
//! build-plugins` in this repository, or `cargo build --release --target
//! wasm32-unknown-unknown` plus `wasm-tools component new` elsewhere.

use keeperdb_plugin::{Connection, ConnectionSource, Credentials, Error, fs, log};

struct Hello;

const FILE: &str = "~/.hello-connections";

impl ConnectionSource for Hello {
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
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, engine, host, port, database, user] = fields[..] else {
                // Say where and what: users read this text.
                return Err(Error::invalid_data(
                    format!("{FILE}:{}", i + 1),
                    "expected: name engine host port database user",
                ));
            };
            let port = port.parse::<u16>().map_err(|_| {
                Error::invalid_data(
                    format!("{FILE}:{}", i + 1),
                    format!("`{port}` is not a port"),
                )
            })?;
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

keeperdb_plugin::export_connection_source!(Hello);
