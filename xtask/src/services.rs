//! Test database servers: PostgreSQL and MariaDB, installed from Debian packages when missing,
//! run as an unprivileged user on 127.0.0.1 with data in a temp dir, password authentication for
//! a test user with a random password, and Chinook loaded for demos.
//!
//! `start` is idempotent (running servers are reused), `stop` shuts them down and removes their
//! data. The env file (`<target>/test-services/env`, `KEY=value` lines) carries the URLs the tests
//! read; it holds the test password, so it is written with mode 0600 and never printed.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// The system user the servers run as (PostgreSQL refuses to run as root).
const SERVICE_USER: &str = "keeperdb-test";
/// The login the tests use, on both servers.
const TEST_USER: &str = "keeperdb";
/// The database the tests use, on both servers.
const TEST_DB: &str = "keeperdb";

/// Where the state and env file live.
pub fn state_dir(repo: &Path) -> PathBuf {
    target_dir(repo).join("test-services")
}

/// The env file written by `start`.
pub fn env_file(repo: &Path) -> PathBuf {
    state_dir(repo).join("env")
}

fn target_dir(repo: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"))
}

/// Serialises `start` and `stop` between processes (two test runs at once share one set of
/// servers instead of racing to create two).
fn lock(repo: &Path) -> Result<fs::File> {
    let dir = state_dir(repo);
    fs::create_dir_all(&dir)?;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    file.lock().context("locking the test services state")?;
    Ok(file)
}

/// `cargo xtask services <start|stop|env>`.
pub fn command(repo: &Path, args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("start") => {
            let env = start(repo)?;
            println!(
                "test services running; env file: {} ({} variables)",
                env_file(repo).display(),
                env.len()
            );
            Ok(())
        }
        Some("stop") => stop(repo),
        Some("env") => {
            // For `eval "$(cargo xtask services env)"`: prints the password, on purpose, to
            // stdout only.
            for (k, v) in read_env(repo)? {
                println!("export {k}='{v}'");
            }
            Ok(())
        }
        _ => bail!("usage: cargo xtask services <start|stop|env>"),
    }
}

/// Read the env file written by `start`.
pub fn read_env(repo: &Path) -> Result<BTreeMap<String, String>> {
    let path = env_file(repo);
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "{} is missing: run `cargo xtask services start`",
            path.display()
        )
    })?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// Start both servers (or reuse running ones) and return the test environment.
pub fn start(repo: &Path) -> Result<BTreeMap<String, String>> {
    let _lock = lock(repo)?;
    let state = state_dir(repo);
    fs::create_dir_all(&state)?;
    if let Ok(env) = read_env(repo) {
        if running(&env) {
            eprintln!("test services: reusing the running servers");
            return Ok(env);
        }
        eprintln!("test services: previous servers are gone; starting fresh ones");
        let _ = stop_locked(repo);
        fs::create_dir_all(&state)?;
    }
    install_packages()?;
    let as_user = service_user()?;

    let data = std::env::temp_dir().join(format!("keeperdb-services-{}", std::process::id()));
    if data.exists() {
        fs::remove_dir_all(&data)?;
    }
    fs::create_dir_all(&data)?;
    fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;
    as_user.chown(&data)?;

    let password = random_hex(16)?;
    let shared = crate::util::shared_dir().join("data").join("chinook");

    let pg = start_postgres(&data, &as_user, &password, &shared)?;
    let maria = start_mariadb(&data, &as_user, &password, &shared)?;

    let mut env = BTreeMap::new();
    env.insert(
        "KEEPERDB_TEST_SERVICES_DIR".into(),
        data.display().to_string(),
    );
    env.insert(
        "KEEPERDB_TEST_PG_URL".into(),
        format!(
            "postgres://{TEST_USER}:{password}@127.0.0.1:{}/{TEST_DB}",
            pg.port
        ),
    );
    env.insert(
        "KEEPERDB_TEST_PG_CHINOOK_URL".into(),
        format!(
            "postgres://{TEST_USER}:{password}@127.0.0.1:{}/chinook",
            pg.port
        ),
    );
    env.insert(
        "KEEPERDB_TEST_MARIADB_URL".into(),
        format!(
            "mysql://{TEST_USER}:{password}@127.0.0.1:{}/{TEST_DB}",
            maria.port
        ),
    );
    env.insert(
        "KEEPERDB_TEST_MARIADB_CHINOOK_URL".into(),
        format!(
            "mysql://{TEST_USER}:{password}@127.0.0.1:{}/Chinook",
            maria.port
        ),
    );
    env.insert(
        "KEEPERDB_TEST_PSQL".into(),
        pg.bin.join("psql").display().to_string(),
    );
    env.insert("KEEPERDB_TEST_PG_BIN".into(), pg.bin.display().to_string());
    env.insert(
        "KEEPERDB_TEST_MARIADB_CLIENT".into(),
        which("mariadb").unwrap_or_else(|| "mysql".into()),
    );
    env.insert(
        "KEEPERDB_TEST_PG_DATA".into(),
        pg.data.display().to_string(),
    );
    env.insert(
        "KEEPERDB_TEST_MARIADB_DATA".into(),
        maria.data.display().to_string(),
    );
    env.insert("KEEPERDB_TEST_MARIADB_PID".into(), maria.pid.to_string());
    env.insert(
        "KEEPERDB_TEST_MARIADB_SOCKET".into(),
        maria.socket.display().to_string(),
    );
    let chinook_sqlite = data.join("chinook.sqlite");
    if load_sqlite_chinook(&shared, &chinook_sqlite).is_ok() {
        env.insert(
            "KEEPERDB_TEST_SQLITE_CHINOOK".into(),
            chinook_sqlite.display().to_string(),
        );
    }
    write_env(repo, &env)?;
    Ok(env)
}

/// Stop the servers recorded in the env file and remove their data.
pub fn stop(repo: &Path) -> Result<()> {
    let _lock = lock(repo)?;
    stop_locked(repo)
}

fn stop_locked(repo: &Path) -> Result<()> {
    let Ok(env) = read_env(repo) else {
        eprintln!("test services: nothing to stop");
        return Ok(());
    };
    let as_user = service_user()?;
    if let (Some(bin), Some(data)) = (
        env.get("KEEPERDB_TEST_PG_BIN"),
        env.get("KEEPERDB_TEST_PG_DATA"),
    ) {
        let pg_ctl = Path::new(bin).join("pg_ctl");
        let _ = as_user
            .command(&pg_ctl)
            .args(["-D", data, "-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    if let Some(pid) = env
        .get("KEEPERDB_TEST_MARIADB_PID")
        .and_then(|p| p.parse::<u32>().ok())
    {
        // SIGTERM makes mariadbd shut down cleanly.
        let _ = Command::new("kill").arg(pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    if let Some(dir) = env.get("KEEPERDB_TEST_SERVICES_DIR") {
        let _ = fs::remove_dir_all(dir);
    }
    fs::remove_file(env_file(repo))?;
    eprintln!("test services: stopped");
    Ok(())
}

fn running(env: &BTreeMap<String, String>) -> bool {
    let pg_ok = match (
        env.get("KEEPERDB_TEST_PG_BIN"),
        env.get("KEEPERDB_TEST_PG_URL"),
    ) {
        (Some(bin), Some(url)) => port_of(url).is_some_and(|port| {
            Command::new(Path::new(bin).join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success())
        }),
        _ => false,
    };
    let maria_ok = env
        .get("KEEPERDB_TEST_MARIADB_PID")
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
        && env
            .get("KEEPERDB_TEST_MARIADB_URL")
            .and_then(|u| port_of(u))
            .is_some_and(|port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    pg_ok && maria_ok
}

fn port_of(url: &str) -> Option<u16> {
    let after_at = url.rsplit_once('@')?.1;
    let host_port = after_at.split('/').next()?;
    host_port.rsplit_once(':')?.1.parse().ok()
}

fn write_env(repo: &Path, env: &BTreeMap<String, String>) -> Result<()> {
    let path = env_file(repo);
    let tmp = path.with_extension("tmp");
    let mut text = String::new();
    for (k, v) in env {
        text.push_str(&format!("{k}={v}\n"));
    }
    {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
    }
    fs::rename(&tmp, &path)?;
    Ok(())
}

fn which(name: &str) -> Option<String> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn pg_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, b)| b)
}

fn install_packages() -> Result<()> {
    let have_pg = pg_bin_dir().is_some();
    let have_maria = which("mariadbd").is_some() || Path::new("/usr/sbin/mariadbd").exists();
    let have_client = which("mariadb").is_some();
    let have_sqlite = which("sqlite3").is_some();
    if have_pg && have_maria && have_client && have_sqlite {
        return Ok(());
    }
    eprintln!(
        "test services: installing postgresql, mariadb-server, mariadb-client, sqlite3 (apt-get)"
    );
    let status = Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get update")?;
    if !status.success() {
        bail!("apt-get update failed");
    }
    let status = Command::new("apt-get")
        .args([
            "install",
            "-y",
            "--no-install-recommends",
            "postgresql",
            "mariadb-server",
            "mariadb-client",
            "sqlite3",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get install")?;
    if !status.success() {
        bail!("apt-get install of the test servers failed");
    }
    Ok(())
}

/// Runs commands as the unprivileged service user when we are root, as ourselves otherwise.
struct AsUser {
    uid: Option<(u32, u32)>,
}

impl AsUser {
    fn command(&self, program: impl AsRef<Path>) -> Command {
        match self.uid {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", SERVICE_USER, "--"]).arg(program.as_ref());
                c
            }
            None => Command::new(program.as_ref()),
        }
    }

    fn chown(&self, path: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.uid {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .with_context(|| format!("chown {}", path.display()))?;
        }
        Ok(())
    }
}

fn service_user() -> Result<AsUser> {
    let me = Command::new("id").arg("-u").output()?;
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return Ok(AsUser { uid: None });
    }
    let exists = Command::new("id")
        .arg("-u")
        .arg(SERVICE_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?
        .success();
    if !exists {
        let status = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ])
            .status()
            .context("creating the service user")?;
        if !status.success() {
            bail!("useradd {SERVICE_USER} failed");
        }
    }
    let id = |flag: &str| -> Result<u32> {
        let out = Command::new("id").arg(flag).arg(SERVICE_USER).output()?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| anyhow!("cannot read the id of {SERVICE_USER}"))
    };
    Ok(AsUser {
        uid: Some((id("-u")?, id("-g")?)),
    })
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(mut cmd: Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

struct Pg {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

fn start_postgres(root: &Path, as_user: &AsUser, password: &str, chinook: &Path) -> Result<Pg> {
    let bin = pg_bin_dir()
        .ok_or_else(|| anyhow!("PostgreSQL binaries not found under /usr/lib/postgresql"))?;
    let dir = root.join("postgres");
    fs::create_dir_all(&dir)?;
    as_user.chown(&dir)?;
    let data = dir.join("data");
    let pwfile = dir.join("pwfile");
    fs::write(&pwfile, password)?;
    fs::set_permissions(&pwfile, fs::Permissions::from_mode(0o600))?;
    as_user.chown(&pwfile)?;
    let mut initdb = as_user.command(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            TEST_USER,
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        ])
        .arg(format!("--pwfile={}", pwfile.display()));
    run(initdb, "initdb")?;
    fs::remove_file(&pwfile)?;

    let port = free_port()?;
    let mut start = as_user.command(bin.join("pg_ctl"));
    start
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("log"))
        .arg("-o")
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        ))
        .args(["-w", "start"]);
    run(start, "pg_ctl start")?;

    let psql = |db: &str| {
        let mut c = Command::new(bin.join("psql"));
        c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["-U", TEST_USER, "-d", db])
            .env("PGPASSWORD", password);
        c
    };
    let mut create = psql("postgres");
    create.args(["-c", &format!("CREATE DATABASE {TEST_DB}")]);
    run(create, "creating the PostgreSQL test database")?;
    let script = chinook.join("Chinook_PostgreSql.sql");
    if script.exists() {
        let mut load = psql(TEST_DB);
        load.arg("-f").arg(&script).stdout(Stdio::null());
        run(load, "loading Chinook into PostgreSQL")?;
    } else {
        eprintln!(
            "test services: {} not found; Chinook not loaded",
            script.display()
        );
    }
    Ok(Pg { bin, data, port })
}

struct Maria {
    data: PathBuf,
    port: u16,
    pid: u32,
    socket: PathBuf,
}

fn start_mariadb(root: &Path, as_user: &AsUser, password: &str, chinook: &Path) -> Result<Maria> {
    let dir = root.join("mariadb");
    fs::create_dir_all(&dir)?;
    as_user.chown(&dir)?;
    let data = dir.join("data");
    let install = which("mariadb-install-db").unwrap_or_else(|| "mysql_install_db".into());
    let mut init = as_user.command(&install);
    init.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
    run(init, "mariadb-install-db")?;

    let port = free_port()?;
    let socket = dir.join("mysqld.sock");
    let server = which("mariadbd").unwrap_or_else(|| "/usr/sbin/mariadbd".into());
    let child = as_user
        .command(&server)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--pid-file={}", dir.join("mariadbd.pid").display()))
        .arg(format!("--log-error={}", dir.join("log").display()))
        .arg("--innodb-flush-log-at-trx-commit=0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting mariadbd")?;
    // Wait for the pid file: it holds mariadbd's own pid (the child may be runuser).
    let pid_file = dir.join("mariadbd.pid");
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid = loop {
        if let Ok(text) = fs::read_to_string(&pid_file)
            && let Ok(pid) = text.trim().parse::<u32>()
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        {
            break pid;
        }
        if Instant::now() > deadline {
            let log = fs::read_to_string(dir.join("log")).unwrap_or_default();
            bail!("mariadbd did not start within 60 s; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(child);

    let client = which("mariadb").unwrap_or_else(|| "mysql".into());
    let root_sql = |sql: &str| {
        let mut c = Command::new(&client);
        c.arg("--no-defaults")
            .arg(format!("--socket={}", socket.display()))
            .args(["-u", "root", "-e", sql]);
        c
    };
    let setup = format!(
        "CREATE DATABASE {TEST_DB}; \
         CREATE USER '{TEST_USER}'@'127.0.0.1' IDENTIFIED BY '{password}'; \
         CREATE USER '{TEST_USER}'@'localhost' IDENTIFIED BY '{password}'; \
         GRANT ALL PRIVILEGES ON *.* TO '{TEST_USER}'@'127.0.0.1'; \
         GRANT ALL PRIVILEGES ON *.* TO '{TEST_USER}'@'localhost'; FLUSH PRIVILEGES;"
    );
    run(root_sql(&setup), "creating the MariaDB test user")?;
    let script = chinook.join("Chinook_MySql.sql");
    if script.exists() {
        let mut load = Command::new(&client);
        load.arg("--no-defaults")
            .arg(format!("--socket={}", socket.display()))
            .args(["-u", "root"])
            .stdin(fs::File::open(&script)?);
        run(load, "loading Chinook into MariaDB")?;
    }
    Ok(Maria {
        data,
        port,
        pid,
        socket,
    })
}

fn load_sqlite_chinook(chinook: &Path, out: &Path) -> Result<()> {
    let script = chinook.join("Chinook_Sqlite.sql");
    let _ = fs::remove_file(out);
    let mut c = Command::new("sqlite3");
    c.arg(out).stdin(fs::File::open(&script)?);
    run(c, "loading Chinook into SQLite")
}
