//! Benchmark: stream a query from PostgreSQL through the loaded driver library into CSV, and
//! print the time and the peak memory. Compare with `psql --csv` on the same query.
//!
//! cargo build --release -p keeperdb-sqlx-driver --examples
//! KEEPERDB_TEST_PG_URL=... target/release/examples/pg_csv_bench [SQL] > out.csv

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use keeperdb_model::credentials::Credentials;
use keeperdb_model::driver::{ConnectRequest, StatementResult};
use keeperdb_model::manifest::sha256_hex;
use keeperdb_model::url::parse_connection_url;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sql = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "SELECT * FROM bench_1m".to_string());
    let url = std::env::var("KEEPERDB_TEST_PG_URL")?;
    let exe = std::env::current_exe()?;
    let profile_dir = exe.parent().and_then(Path::parent).ok_or("no target dir")?;
    let lib = profile_dir.join("libkeeperdb_sqlx_driver.so");
    let bytes = std::fs::read(&lib)?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("lib.so"), &bytes)?;
    std::fs::write(
        dir.path().join("plugin.toml"),
        format!(
            "id = \"sqlx-driver\"\nversion = \"0.1.0\"\nkind = \"driver\"\napi = \"^0.4\"\npayload = \"lib.so\"\nsha256 = \"{}\"\n",
            sha256_hex(&bytes)
        ),
    )?;
    let driver = keeperdb_driver_host::load(dir.path())?;
    let parsed = parse_connection_url(&url)?;
    let creds = Credentials::new(parsed.connection.spec.user.clone(), parsed.password);
    let start = Instant::now();
    let mut conn = driver.connect(&ConnectRequest {
        connection: &parsed.connection,
        credentials: &creds,
        connect_timeout: std::time::Duration::from_secs(10),
    })?;
    let StatementResult::Rows(reader) = conn.execute(&sql)? else {
        return Err("no rows".into());
    };
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let mut writer = arrow_csv::WriterBuilder::new()
        .with_header(true)
        .build(&mut out);
    let mut rows = 0usize;
    for batch in reader {
        let batch = batch?;
        rows += batch.num_rows();
        writer.write(&batch)?;
    }
    drop(writer);
    out.flush()?;
    eprintln!(
        "rows={rows} seconds={:.3} peak_rss_mb={:.1}",
        start.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    Ok(())
}
