//! `cargo xtask bench vault` and `cargo xtask bench storage` run the CLI's `vault_list` and
//! `storage_sync` bench targets (see there).
//!
//! `cargo xtask bench query`: stream rows x 10 mixed columns to CSV with `keeperdb query`
//! and with the engine's own CLI (`psql --csv`, `sqlite3 -csv`) in the same run, and print
//! wall time and peak memory side by side, at two row counts to show memory stays flat.
//! Figures, not assertions: nothing here fails on a slow machine.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::util;

/// What one run measured.
struct Measure {
    wall: f64,
    peak_rss_mb: f64,
    bytes: u64,
    /// sha256 of the output, to tell whether keeperdb printed exactly what the CLI printed.
    digest: String,
}

/// One line of the report.
struct Row {
    engine: &'static str,
    rows: u64,
    tool: String,
    m: Measure,
}

/// Entry point: `bench query [--rows N,N] [--repeat K]`.
pub fn command(args: &[String]) -> Result<()> {
    let mut what = None;
    let mut rows: Vec<u64> = vec![100_000, 1_000_000];
    let mut repeat = 3;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rows" => {
                let v = it
                    .next()
                    .context("--rows needs a value like 100000,1000000")?;
                rows = v
                    .split(',')
                    .map(|n| n.trim().replace('_', "").parse::<u64>())
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("--rows {v}: not a list of numbers"))?;
            }
            "--repeat" => {
                let v = it.next().context("--repeat needs a number")?;
                repeat = v
                    .parse()
                    .with_context(|| format!("--repeat {v}: not a number"))?;
            }
            "query" if what.is_none() => what = Some("query"),
            "vault" if what.is_none() => what = Some("vault"),
            "storage" if what.is_none() => what = Some("storage"),
            "ui" if what.is_none() => what = Some("ui"),
            "plugins" if what.is_none() => what = Some("plugins"),
            other => bail!(
                "unknown bench argument `{other}` (usage: cargo xtask bench query [--rows 100000,1000000] [--repeat 3] | cargo xtask bench vault | cargo xtask bench storage | cargo xtask bench ui | cargo xtask bench plugins)"
            ),
        }
    }
    if what == Some("vault") {
        return ksm_bench("vault_list");
    }
    if what == Some("storage") {
        return ksm_bench("storage_sync");
    }
    if what == Some("ui") {
        return ui_bench();
    }
    if what == Some("plugins") {
        return plugins_bench(repeat.max(1));
    }
    if what != Some("query") {
        bail!(
            "usage: cargo xtask bench query [--rows 100000,1000000] [--repeat 3] | cargo xtask bench vault | cargo xtask bench storage | cargo xtask bench ui | cargo xtask bench plugins"
        );
    }
    if !Path::new("/usr/bin/time").exists() {
        bail!("/usr/bin/time is missing (Debian package `time`); run `cargo xtask setup`");
    }
    query(&rows, repeat.max(1))
}

fn query(row_counts: &[u64], repeat: usize) -> Result<()> {
    eprintln!("bench: building keeperdb and the sqlx driver (release)");
    let release = crate::install::build_release_with_drivers()?;
    let keeperdb = release.join("keeperdb");
    let plugins = release.join("bundled-plugins");
    let work = util::target_dir().join("bench");
    std::fs::create_dir_all(&work)?;
    let config = work.join("config");
    std::fs::create_dir_all(&config)?;

    let pg_url = pg_url()?;
    let mut report = Vec::new();
    for &n in row_counts {
        // PostgreSQL.
        let table = format!("kdb_bench_{n}");
        eprintln!("bench: preparing {table} ({n} rows) in PostgreSQL");
        run_psql(&pg_url, &pg_setup(&table, n))?;
        let sql = format!("SELECT * FROM {table}");
        let kdb = |out: &Path| -> Result<Measure> {
            measure(
                Command::new(&keeperdb)
                    .args(["query", &pg_url, &sql, "--format", "csv"])
                    .env("KEEPERDB_CONFIG_DIR", &config)
                    .env("KEEPERDB_BUNDLED_PLUGINS_DIR", &plugins),
                out,
            )
        };
        let psql = |out: &Path, fetch: Option<&str>| -> Result<Measure> {
            let mut c = Command::new("psql");
            c.args([pg_url.as_str(), "-X", "--csv", "-c", &sql]);
            if let Some(f) = fetch {
                c.args(["-v", &format!("FETCH_COUNT={f}")]);
            }
            measure(&mut c, out)
        };
        let out = work.join("out.csv");
        report.push(best(
            "postgres",
            n,
            "keeperdb query --format csv",
            repeat,
            || kdb(&out),
        )?);
        report.push(best("postgres", n, "psql --csv", repeat, || {
            psql(&out, None)
        })?);
        report.push(best(
            "postgres",
            n,
            "psql --csv (FETCH_COUNT=10000)",
            repeat,
            || psql(&out, Some("10000")),
        )?);
        run_psql(&pg_url, &format!("DROP TABLE {table}"))?;

        // SQLite.
        let db = work.join(format!("bench_{n}.db"));
        if !db.exists() {
            eprintln!("bench: preparing {} ({n} rows)", db.display());
            let tmp = db.with_extension("tmp");
            let _ = std::fs::remove_file(&tmp);
            let status = Command::new("sqlite3")
                .arg(&tmp)
                .arg(sqlite_setup(n))
                .stdout(Stdio::null())
                .status()
                .context("cannot run sqlite3")?;
            if !status.success() {
                bail!("sqlite3 could not build the bench database ({status})");
            }
            std::fs::rename(&tmp, &db)?;
        }
        let db_str = db.to_string_lossy().to_string();
        let sql = "SELECT * FROM t";
        report.push(best(
            "sqlite",
            n,
            "keeperdb query --format csv",
            repeat,
            || {
                measure(
                    Command::new(&keeperdb)
                        .args(["query", &db_str, sql, "--format", "csv"])
                        .env("KEEPERDB_CONFIG_DIR", &config)
                        .env("KEEPERDB_BUNDLED_PLUGINS_DIR", &plugins),
                    &out,
                )
            },
        )?);
        report.push(best("sqlite", n, "sqlite3 -csv", repeat, || {
            measure(
                Command::new("sqlite3").args(["-csv", "-header", &db_str, sql]),
                &out,
            )
        })?);
        let _ = std::fs::remove_file(&out);
    }
    print_report(&report, repeat);
    Ok(())
}

fn pg_url() -> Result<String> {
    if let Ok(u) = std::env::var("KEEPERDB_TEST_PG_URL")
        && !u.trim().is_empty()
    {
        return Ok(u);
    }
    let env = crate::services::read_env(&util::repo_root()).unwrap_or_default();
    match env.get("KEEPERDB_TEST_PG_URL") {
        Some(u) => Ok(u.clone()),
        None => bail!(
            "no PostgreSQL to benchmark against: run `cargo xtask services start` (or set KEEPERDB_TEST_PG_URL)"
        ),
    }
}

fn run_psql(url: &str, sql: &str) -> Result<()> {
    let status = Command::new("psql")
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .stdout(Stdio::null())
        .status()
        .context("cannot run psql")?;
    if !status.success() {
        bail!("psql failed ({status}) on: {sql}");
    }
    Ok(())
}

/// 10 mixed columns: integers, float, exact decimal, text, bool, date, timestamptz, a
/// nullable varchar and a uuid.
fn pg_setup(table: &str, n: u64) -> String {
    format!(
        "DROP TABLE IF EXISTS {table}; \
         CREATE TABLE {table} AS SELECT \
           g::int8 AS id, \
           (g % 1000)::int4 AS small, \
           g * 1.5::float8 AS ratio, \
           ((g % 100000)::numeric / 100)::numeric(12,2) AS amount, \
           md5(g::text) AS label, \
           (g % 2 = 0) AS flag, \
           DATE '2020-01-01' + (g % 1000)::int AS day, \
           TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * INTERVAL '1 second' AS at, \
           CASE WHEN g % 10 = 0 THEN NULL ELSE 'note ' || g END::varchar(40) AS note, \
           md5('u' || g)::uuid AS uid \
         FROM generate_series(1, {n}) g; \
         ANALYZE {table};"
    )
}

fn sqlite_setup(n: u64) -> String {
    format!(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; \
         CREATE TABLE t (id INTEGER, small INTEGER, ratio REAL, amount NUMERIC, label TEXT, \
           flag INTEGER, day TEXT, at TEXT, note TEXT, data BLOB); \
         WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {n}) \
         INSERT INTO t SELECT x, x % 1000, x * 1.5, (x % 100000) / 100.0, \
           printf('label-%08d', x), x % 2, date('2020-01-01', '+' || (x % 1000) || ' days'), \
           datetime(1577836800 + x, 'unixepoch'), \
           CASE WHEN x % 10 = 0 THEN NULL ELSE 'note ' || x END, \
           randomblob(8) FROM g;"
    )
}

/// Run a command with stdout to `out`, under `/usr/bin/time` for its peak RSS.
fn measure(cmd: &mut Command, out: &Path) -> Result<Measure> {
    let rss_file = out.with_extension("rss");
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(&program)
        .args(&args)
        .stdout(File::create(out)?)
        .stderr(Stdio::piped());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let started = Instant::now();
    let output = timed
        .output()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    let wall = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}",
            program.to_string_lossy(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let kb: f64 = std::fs::read_to_string(&rss_file)?
        .lines()
        .last()
        .unwrap_or("0")
        .trim()
        .parse()
        .context("cannot read peak RSS from /usr/bin/time")?;
    let _ = std::fs::remove_file(&rss_file);
    Ok(Measure {
        wall,
        peak_rss_mb: kb / 1024.0,
        bytes: std::fs::metadata(out)?.len(),
        digest: file_digest(out)?,
    })
}

fn file_digest(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut file = File::open(path)?;
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Best wall time of `repeat` runs (and the highest peak RSS seen).
fn best(
    engine: &'static str,
    rows: u64,
    tool: &str,
    repeat: usize,
    mut run: impl FnMut() -> Result<Measure>,
) -> Result<Row> {
    let mut best: Option<Measure> = None;
    for _ in 0..repeat {
        let m = run()?;
        best = Some(match best {
            None => m,
            Some(b) => Measure {
                wall: b.wall.min(m.wall),
                peak_rss_mb: b.peak_rss_mb.max(m.peak_rss_mb),
                bytes: m.bytes,
                digest: m.digest,
            },
        });
    }
    let m = best.context("no runs")?;
    eprintln!(
        "bench: {engine} {rows} rows, {tool}: {:.3} s, {:.1} MB",
        m.wall, m.peak_rss_mb
    );
    Ok(Row {
        engine,
        rows,
        tool: tool.to_string(),
        m,
    })
}

fn print_report(rows: &[Row], repeat: usize) {
    println!();
    println!(
        "Streaming SELECT * (10 mixed columns) to CSV; best wall time of {repeat} runs, highest peak RSS."
    );
    println!(
        "same bytes: keeperdb's CSV is byte-identical to the CLI's (for SQLite it differs by design: X'..' blobs, shortest REALs)."
    );
    println!(
        "{:<9} {:>9}  {:<32} {:>8} {:>12} {:>10} {:>9}  same bytes",
        "engine", "rows", "tool", "wall s", "peak RSS MB", "output MB", "vs CLI"
    );
    for r in rows {
        // keeperdb against the engine's own CLI in its default mode, same engine and row count.
        let reference = rows.iter().find(|o| {
            o.engine == r.engine
                && o.rows == r.rows
                && (o.tool == "psql --csv" || o.tool == "sqlite3 -csv")
        });
        let (ratio, same) = match reference {
            Some(o) if r.tool.starts_with("keeperdb") && o.m.wall > 0.0 => (
                format!("{:.2}x", r.m.wall / o.m.wall),
                if o.m.digest == r.m.digest {
                    "yes"
                } else {
                    "no"
                },
            ),
            _ => (String::new(), ""),
        };
        println!(
            "{:<9} {:>9}  {:<32} {:>8.3} {:>12.1} {:>10.1} {:>9}  {}",
            r.engine,
            r.rows,
            r.tool,
            r.m.wall,
            r.m.peak_rss_mb,
            r.m.bytes as f64 / 1_048_576.0,
            ratio,
            same
        );
    }
}

/// `bench vault` and `bench storage`: the release keeperdb and its bundle, the emulator CA, a
/// Secret Service, and the CLI's bench target (`vault_list`, `storage_sync`), which prints the
/// figures.
fn ksm_bench(target: &str) -> Result<()> {
    eprintln!("bench: building keeperdb and its bundle (release)");
    let release = crate::install::build_release()?;
    let (ca, ca_pem) = crate::make_ksm_ca()?;
    crate::setup::with_secret_service(
        "cargo",
        &["bench", "-p", "keeperdb-cli", "--bench", target],
        &[
            ("KEEPERDB_BENCH_BIN", &release.binary),
            ("KEEPERDB_BUNDLED_PLUGINS_DIR", &release.bundle),
            ("KEEPERDB_KSM_CA_DIR", &ca),
            ("SSL_CERT_FILE", &ca_pem),
        ],
    )
}

/// `cargo xtask bench ui`: the GUI's end-to-end run in a release build with figures on: time
/// from starting `keeperdb ui` to its first painted screen, from a reload to the painted
/// connection list, from Run to the first rows of a 1,000,000-row result, and the page's JS
/// heap before and after scrolling that result end to end.
fn ui_bench() -> Result<()> {
    let release = crate::install::build_release()?;
    let web = crate::ui::web_dir();
    let ui_env = crate::ui::test_env(&web)?;
    let (ca, ca_pem) = crate::make_ksm_ca()?;
    let repo = util::repo_root();
    let services = crate::services::start(&repo)?;
    let service_env: Vec<(String, std::path::PathBuf)> =
        services.into_iter().map(|(k, v)| (k, v.into())).collect();
    let bench = std::path::PathBuf::from("1");
    let mut env: Vec<(&str, &Path)> = vec![
        ("KEEPERDB_BUNDLED_PLUGINS_DIR", &release.bundle),
        ("KEEPERDB_KSM_CA_DIR", &ca),
        ("SSL_CERT_FILE", &ca_pem),
        ("KEEPERDB_UI_BENCH", &bench),
    ];
    env.extend(ui_env.iter().map(|(k, v)| (*k, v.as_path())));
    env.extend(service_env.iter().map(|(k, v)| (k.as_str(), v.as_path())));
    let run = crate::setup::with_secret_service(
        "cargo",
        &[
            "test",
            "--release",
            "-p",
            "keeperdb-cli",
            "--test",
            "ui_e2e",
            "--",
            "--nocapture",
        ],
        &env,
    );
    let stopped = crate::services::stop(&repo);
    run.and(stopped)
}

/// `cargo xtask bench plugins`: a release `keeperdb` installing a plugin (checked and compiled
/// for this machine) and listing its connections the first time and again, for the JavaScript
/// example (a 12 MB component with its engine) beside the Rust source template, each from a
/// fresh config dir, best of `repeat`.
fn plugins_bench(repeat: usize) -> Result<()> {
    eprintln!("bench: building keeperdb (release) and the plugins");
    let keeperdb = crate::install::build_release_with_drivers()?.join("keeperdb");
    let built = crate::wasm::build_plugins(&util::repo_root())?;
    let work = util::target_dir().join("bench-plugins");
    match std::fs::remove_dir_all(&work) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => std::fs::create_dir_all(&work)?,
    }

    // The Rust template, built as its README says.
    let template = work.join("rust-template");
    let status = Command::new(&keeperdb)
        .args(["plugins", "new", "--kind", "source"])
        .arg(&template)
        .status()?;
    anyhow::ensure!(status.success(), "plugins new failed ({status})");
    let mut cargo = crate::wasm::cargo_command(built.route);
    cargo.args(["build", "--release", "--target", crate::wasm::TARGET]);
    if built.route == crate::wasm::Route::Debian {
        cargo.arg("-Zbuild-std=std,panic_abort");
    }
    let status = cargo
        .env("CARGO_TARGET_DIR", &built.wasm_target)
        .current_dir(&template)
        .status()?;
    anyhow::ensure!(
        status.success(),
        "building the Rust template failed ({status})"
    );
    std::fs::copy(
        built
            .wasm_target
            .join(crate::wasm::TARGET)
            .join("release/rust_template.wasm"),
        template.join("payload.wasm"),
    )?;
    let status = Command::new(&keeperdb)
        .args(["plugins", "pack"])
        .arg(&template)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "plugins pack failed ({status})");

    let plugins = [
        (
            "JavaScript example",
            built.test.join("hello-js"),
            ".hello-connections",
        ),
        ("Rust template", template.clone(), ".rust-template"),
    ];
    println!("\nplugins bench (release keeperdb, best of {repeat}, fresh config dir each run)");
    println!(
        "{:<20} {:>10} {:>10} {:>12} {:>12}",
        "plugin", "payload", "install", "first list", "second list"
    );
    for (name, dir, file) in plugins {
        let manifest = keeperdb_model::manifest::Manifest::load(&dir)?;
        let size = std::fs::metadata(dir.join(&manifest.payload))?.len();
        let mut best = [f64::MAX; 3];
        for run in 0..repeat {
            let home = work.join(format!("home-{}-{run}", manifest.id));
            std::fs::create_dir_all(&home)?;
            std::fs::write(
                home.join(file),
                "orders-db postgres db.internal 5432 orders app\n",
            )?;
            let config = home.join("config");
            let time = |args: &[&std::ffi::OsStr]| -> Result<f64> {
                let started = Instant::now();
                let out = Command::new(&keeperdb)
                    .args(args)
                    .env("HOME", &home)
                    .env("KEEPERDB_CONFIG_DIR", &config)
                    .env_remove("KEEPERDB_DATA_DIR")
                    .stdin(std::process::Stdio::null())
                    .output()?;
                let elapsed = started.elapsed().as_secs_f64();
                anyhow::ensure!(
                    out.status.success()
                        && !String::from_utf8_lossy(&out.stderr).contains("failed"),
                    "keeperdb {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                Ok(elapsed)
            };
            let list = ["connections".as_ref(), "list".as_ref()];
            let figures = [
                time(&[
                    "plugins".as_ref(),
                    "install".as_ref(),
                    dir.as_os_str(),
                    "--allow".as_ref(),
                    "--trust-publisher".as_ref(),
                ])?,
                time(&list)?,
                time(&list)?,
            ];
            for (b, f) in best.iter_mut().zip(figures) {
                *b = b.min(f);
            }
        }
        println!(
            "{:<20} {:>8.0}KB {:>9.2}s {:>11.3}s {:>11.3}s",
            name,
            size as f64 / 1e3,
            best[0],
            best[1],
            best[2]
        );
    }
    Ok(())
}
