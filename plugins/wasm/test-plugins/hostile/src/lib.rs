//! Test-only plugin: `fetch-credentials` misbehaves in the way the connection's name says
//! (`loop`, `bomb`, `recurse`, `panic`, `huge`); `ok` behaves. The host must contain each one
//! with a clear error and keep serving the next call. Its listing also holds descriptors a host
//! must skip one by one (port 0, an engine id that is no id, an id with terminal escapes), and
//! one for an engine no driver may serve, which must still be listed.

use keeperdb_plugin::{Connection, ConnectionSource, Credentials, Error, Secret};

struct Hostile;

const MODES: [&str; 6] = ["ok", "loop", "bomb", "recurse", "panic", "huge"];

#[inline(never)]
fn recurse(depth: u64, trail: &mut [u64; 64]) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    trail[(depth % 64) as usize] = depth;
    let below = recurse(std::hint::black_box(depth + 1), trail);
    below.wrapping_add(trail[(depth % 7) as usize])
}

impl ConnectionSource for Hostile {
    fn list_connections() -> Result<Vec<Connection>, Error> {
        let mut list: Vec<Connection> = MODES
            .iter()
            .map(|m| {
                let mut c = Connection::new(*m, *m, "postgres");
                c.host = Some("localhost".into());
                c
            })
            .collect();
        let mut zero_port = Connection::new("zero-port", "zero-port", "postgres");
        zero_port.port = Some(0);
        list.push(zero_port);
        list.push(Connection::new(
            "bad-engine",
            "bad-engine",
            "no such;engine",
        ));
        let mut escapes = Connection::new("evil\u{1b}[31m", "evil", "mysql");
        escapes.host = Some(String::new());
        list.push(escapes);
        let mut sqlserver = Connection::new("mssql", "warehouse", "sqlserver");
        sqlserver.host = Some("mssql.internal".into());
        list.push(sqlserver);
        Ok(list)
    }

    fn credentials(connection: Connection) -> Result<Credentials, Error> {
        let password = match connection.name.as_str() {
            "ok" => "fine".to_string(),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![0xAB; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => {
                let mut trail = [0u64; 64];
                recurse(0, &mut trail).to_string()
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "huge" => "x".repeat(40 << 20),
            other => return Err(Error::NotFound(format!("no mode `{other}`"))),
        };
        Ok(Credentials {
            user: None,
            password: Some(Secret::Value(password)),
        })
    }
}

keeperdb_plugin::export_connection_source!(Hostile);
