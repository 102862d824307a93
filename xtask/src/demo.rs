//! `cargo xtask demo`: keeperdb's main job, offline. The KSM emulator is seeded with a
//! Database and a PAM Database record pointing at a PostgreSQL server on loopback (the test
//! server, started here); a vault is attached with the emulator's one-time token; the merged
//! connection list shows the Vault badge beside local connections; a query runs over a vault
//! connection with the vault's credentials; then the SQLite part. keeperdb keeps the vault's
//! application config in a throwaway Secret Service started for the demo.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

use crate::{pack_drivers, services, util, wasm};

/// The emulator, stopped when dropped (also on an error half-way).
struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Build everything, then run the demo inside a private D-Bus session with a throwaway
/// Secret Service (gnome-keyring), where keeperdb keeps the vault's application config.
pub fn run(in_session: bool) -> anyhow::Result<()> {
    if in_session {
        return run_in_session();
    }
    util::cargo(&[
        "build",
        "-p",
        "keeperdb-cli",
        "-p",
        "keeperdb-sqlx-driver",
        "-p",
        "keeperdb-ksm-emulator",
    ])?;
    pack_drivers(&util::target_dir().join("debug"))?;
    wasm::build_plugins(&util::repo_root())?;
    let me = std::env::current_exe().context("cannot find the xtask binary")?;
    let me = me.to_string_lossy().into_owned();
    crate::setup::with_secret_service(&me, &["demo", "--in-session"], &[])
}

fn run_in_session() -> anyhow::Result<()> {
    let repo = util::repo_root();
    let profile = util::target_dir().join("debug");
    let work = util::target_dir().join("demo");
    let config = work.join("config");
    let _ = std::fs::remove_dir_all(&config);
    std::fs::create_dir_all(&work)?;
    let db = work.join("chinook.sqlite");
    if !db.exists() {
        let sql = util::shared_dir().join("data/chinook/Chinook_Sqlite.sql");
        util::run_with_stdin_file("sqlite3", &[db.to_str().unwrap_or_default()], &sql)?;
    }

    let services = services::start(&repo)?;
    let result = demo(&profile, &work, &config, &db, &services);
    let stopped = services::stop(&repo);
    result.and(stopped)
}

fn demo(
    profile: &Path,
    work: &Path,
    config: &Path,
    db: &Path,
    services: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let pg = services
        .get("KEEPERDB_TEST_PG_CHINOOK_URL")
        .context("the test PostgreSQL server did not start")?;
    let seed = work.join("vault-seed.json");
    std::fs::write(&seed, seed_for(pg)?.to_string())?;
    let (emulator, settings) = start_emulator(profile, &seed)?;
    let setting = |key: &str| -> anyhow::Result<String> {
        match &settings[key] {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            _ => bail!("the emulator printed no `{key}`"),
        }
    };

    let keeperdb = profile.join("keeperdb");
    let kdb = |args: &[&str]| {
        eprintln!("\n$ keeperdb {}", args.join(" "));
        util::run_env(&keeperdb, args, &[("KEEPERDB_CONFIG_DIR", config)])
    };
    kdb(&["plugins", "install", "keeper-vault", "--allow"])?;
    let (token, proxy) = (setting("token")?, setting("proxy_url")?);
    let (key, key_id, ca) = (
        setting("server_public_key")?,
        setting("server_public_key_id")?,
        setting("ca_cert")?,
    );
    let connect = [
        "vault",
        "connect",
        "--name",
        "demo",
        "--proxy",
        &proxy,
        "--ca-bundle",
        &ca,
        "--server-public-key",
        &key,
        "--server-public-key-id",
        &key_id,
    ];
    eprintln!("\n$ echo <one-time token> | keeperdb {}", connect.join(" "));
    let mut child = Command::new(&keeperdb)
        .args(connect)
        .env("KEEPERDB_CONFIG_DIR", config)
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot start keeperdb")?;
    child
        .stdin
        .take()
        .context("no stdin for keeperdb")?
        .write_all(format!("{token}\n").as_bytes())?;
    if !child.wait()?.success() {
        bail!("keeperdb vault connect failed");
    }
    kdb(&["vault", "list"])?;

    let url = format!("sqlite:{}", db.display());
    kdb(&[
        "connections",
        "add",
        &url,
        "--name",
        "chinook",
        "--env",
        "demo",
    ])?;
    kdb(&["connections", "list"])?;
    kdb(&[
        "query",
        "Chinook (PostgreSQL)",
        "SELECT a.name AS artist, count(*) AS albums FROM artist a JOIN album USING (artist_id) \
         GROUP BY a.name ORDER BY albums DESC, artist LIMIT 5",
        "--format",
        "table",
    ])?;
    kdb(&[
        "query",
        "chinook",
        "SELECT g.Name AS genre, count(*) AS tracks, round(sum(t.Milliseconds) / 3600000.0, 1) AS hours \
         FROM Track t JOIN Genre g USING (GenreId) GROUP BY g.Name ORDER BY tracks DESC LIMIT 8",
        "--format",
        "table",
    ])?;
    kdb(&[
        "query",
        "chinook",
        "SELECT * FROM Artist LIMIT 3",
        "--format",
        "json",
    ])?;
    kdb(&["schema", "chinook"])?;
    drop(emulator);
    Ok(())
}

/// A vault with a Database record and a PAM Database (with its linked PAM User) for the
/// PostgreSQL server at `url`, a record that is not a database, and one storage sync wrote.
fn seed_for(url: &str) -> anyhow::Result<serde_json::Value> {
    let rest = url
        .strip_prefix("postgres://")
        .context("not a postgres URL")?;
    let (auth, rest) = rest.split_once('@').context("no user in the URL")?;
    let (user, password) = auth.split_once(':').context("no password in the URL")?;
    let (hostport, database) = rest.split_once('/').context("no database in the URL")?;
    let (host, port) = hostport.split_once(':').context("no port in the URL")?;
    let address = serde_json::json!([{"hostName": host, "port": port}]);
    Ok(serde_json::json!({
        "apps": [{"name": "keeperdb", "shared_folders": ["Databases", "PAM Resources"]}],
        "folders": [{"name": "Databases"}, {"name": "PAM Resources"}],
        "records": [
            {"folder": "Databases", "type": "databaseCredentials", "title": "Chinook (PostgreSQL)",
             "fields": [{"type": "text", "label": "type", "value": ["postgresql"]},
                        {"type": "host", "value": address},
                        {"type": "login", "value": [user]},
                        {"type": "password", "value": [password]}],
             "custom": [{"type": "text", "label": "Database", "value": [database]}]},
            {"folder": "PAM Resources", "type": "pamDatabase", "title": "Chinook via PAM",
             "fields": [{"type": "pamHostname", "value": address},
                        {"type": "databaseType", "value": ["postgresql"]}],
             "custom": [{"type": "text", "label": "Database", "value": [database]}],
             "links": [{"record": "chinook admin", "data": {"is_admin": true, "is_launch_credential": true}}]},
            {"folder": "PAM Resources", "type": "pamUser", "title": "chinook admin",
             "fields": [{"type": "login", "value": [user]}, {"type": "password", "value": [password]}]},
            {"folder": "Databases", "type": "login", "title": "Team wiki",
             "fields": [{"type": "login", "value": ["me"]}]},
            {"folder": "Databases", "type": "databaseCredentials", "title": "written by storage sync",
             "fields": [{"type": "text", "label": "type", "value": ["postgresql"]}],
             "custom": [{"type": "text", "label": "keeperdb_local_id", "value": ["0b6c"]}]},
        ],
    }))
}

/// Start the emulator binary on a free loopback port; its settings are the JSON line it prints.
fn start_emulator(profile: &Path, seed: &Path) -> anyhow::Result<(Emulator, serde_json::Value)> {
    let mut child = Command::new(profile.join("keeperdb-ksm-emulator"))
        .args(["--seed"])
        .arg(seed)
        .args(["--port", "0", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the KSM emulator")?;
    let stdout = child.stdout.take().context("no stdout from the emulator")?;
    let emulator = Emulator(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let settings: serde_json::Value = serde_json::from_str(&line)
        .with_context(|| format!("the emulator printed `{}`, not its settings", line.trim()))?;
    Ok((emulator, settings))
}
