//! Ctrl-C (SIGINT) cancels the running statement on the server and exits 130: while the server
//! is still working (`pg_sleep`), and in the middle of streaming a long result.

mod query_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use query_support::*;

fn sigint(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Backends (other than the asking one) running a statement that contains `marker`.
fn active_with(url: &str, marker: &str) -> usize {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() \
         AND query LIKE '%{marker}%'"
    );
    let out = native("psql", &[url, "-X", "-A", "-t", "-c", &sql], &[]);
    String::from_utf8_lossy(&out).trim().parse().unwrap()
}

/// Poll until `cond` holds; gives up (failing the test) after a generous limit so a broken
/// build cannot hang the suite. Not a timing assertion: the limit is only a safety net.
fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    wait_until_within(what, Instant::now() + Duration::from_secs(60), cond)
}

/// Poll until `cond` holds, failing the test at `limit`.
fn wait_until_within(what: &str, limit: Instant, mut cond: impl FnMut() -> bool) {
    while !cond() {
        assert!(Instant::now() < limit, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn marker(kind: &str) -> String {
    format!("kdb_cancel_{kind}_{}", std::process::id())
}

#[test]
fn ctrl_c_cancels_a_sleeping_query_on_the_server() {
    let url = pg_url();
    let kdb = Kdb::new();
    let m = marker("sleep");
    let sql = format!("SELECT pg_sleep(60) AS {m}");
    let child = kdb
        .cmd()
        .args(["query", &url, &sql, "--format", "csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the query to show up in pg_stat_activity", || {
        active_with(&url, &m) == 1
    });
    let interrupted = Instant::now();
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr: {stderr}");
    // query_canceled, from the server: exit 130 alone could come from the CLI's own
    // interrupt check or its watchdog, with the cancel gone astray.
    assert!(
        stderr.contains("57014"),
        "says the server cancelled it: {stderr}"
    );
    // A backend in pg_sleep does not notice its client leave, so without a cancel the
    // statement would stay active for its whole minute.
    wait_until_within(
        "the server to drop the statement",
        interrupted + Duration::from_secs(10),
        || active_with(&url, &m) == 0,
    );
}

#[test]
fn ctrl_c_in_the_middle_of_a_long_result_stops_output_and_the_server() {
    let url = pg_url();
    let kdb = Kdb::new();
    let m = marker("stream");
    // Far more rows than anyone waits for; in the select list (not FROM, which would
    // materialise first) generate_series streams, so rows arrive at once.
    let sql = format!("SELECT generate_series(1, 2000000000) AS {m}, repeat('x', 50) AS pad");
    let mut child = kdb
        .cmd()
        .args(["query", &url, &sql, "--format", "csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut lines = 0;
    // Header plus a first page of rows: the result is streaming.
    while lines < 1000 {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "output ended early"
        );
        lines += 1;
    }
    assert_eq!(active_with(&url, &m), 1, "still running on the server");
    sigint(&child);
    // Keep reading so a full pipe cannot block the writer; it must end by itself.
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut rest).unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "stderr: {stderr}");
    // The server's cancel code: the server would drop the statement anyway once the client
    // went, so an exit alone does not show that the cancel reached it.
    assert!(
        stderr.contains("57014"),
        "says the server cancelled it: {stderr}"
    );
    wait_until("the server to drop the statement", || {
        active_with(&url, &m) == 0
    });
}
