//! `keeperdb mcp` end to end: the real binary as a child process, driven by an rmcp client
//! over its stdio, against the real test PostgreSQL server and SQLite files. The PostgreSQL
//! connection is saved with its password in the Secret Service, so these tests run inside a
//! private D-Bus session with a throwaway keyring (as `cargo xtask test` does).

mod query_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use query_support::*;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientRequest, ElicitRequestParams,
    ElicitResult, ElicitationAction, ElicitationCapability, FormElicitationCapability,
    Implementation, InitializeRequestParams, Request, ServerResult,
};
use rmcp::service::{PeerRequestOptions, RequestContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Value, json};

/// What the test client answers when the server asks the user to confirm a write.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// The client declares no elicitation support.
    CannotAsk,
    /// The user declines.
    Decline,
    /// The user accepts.
    Accept,
}

struct TestClient {
    answer: Answer,
}

impl ClientHandler for TestClient {
    async fn create_elicitation(
        &self,
        _request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        Ok(match self.answer {
            Answer::Accept => {
                ElicitResult::new(ElicitationAction::Accept).with_content(json!({"confirm": true}))
            }
            _ => ElicitResult::new(ElicitationAction::Decline),
        })
    }

    fn get_info(&self) -> InitializeRequestParams {
        let mut capabilities = ClientCapabilities::default();
        if self.answer != Answer::CannotAsk {
            capabilities.elicitation =
                Some(ElicitationCapability::default().with_form(FormElicitationCapability::new()));
        }
        InitializeRequestParams::new(capabilities, Implementation::new("keeperdb-tests", "0"))
    }
}

type Client = RunningService<RoleClient, TestClient>;

fn require_secret_service() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "this test needs a Secret Service: run it through `cargo xtask test`, which starts gnome-keyring in a private D-Bus session"
    );
}

fn ok(kdb: &Kdb, args: &[&str]) -> String {
    let out = kdb.run(args);
    assert_success(&out, &format!("keeperdb {}", args.join(" ")));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn set(kdb: &Kdb, key: &str, value: &str) {
    ok(kdb, &["prefs", "set", key, value]);
}

/// Save the test PostgreSQL server as `name`, its password in the credential store. Returns
/// the password, for leak checks.
fn add_pg(kdb: &Kdb, name: &str, extra: &[&str]) -> String {
    add_server(kdb, name, "postgres", &pg_url(), extra)
}

/// Save a test server (`scheme` and the parts of `url`) as `name`, its password in the
/// credential store, never on the command line. Returns the password.
fn add_server(kdb: &Kdb, name: &str, scheme: &str, url: &str, extra: &[&str]) -> String {
    require_secret_service();
    let p = url_parts(url);
    let url = format!("{scheme}://{}@{}:{}/{}", p.user, p.host, p.port, p.database);
    let mut args = vec![
        "connections",
        "add",
        &url,
        "--name",
        name,
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    let mut child = kdb
        .cmd()
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{}", p.password).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out, "connections add");
    p.password
}

/// A fresh SQLite file with a table `t`, saved as `name`.
fn add_sqlite(kdb: &Kdb, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let path = kdb.config.path().join(format!("{name}.sqlite"));
    native(
        "sqlite3",
        &[
            path.to_str().unwrap(),
            "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);",
        ],
        &[],
    );
    let mut args = vec!["connections", "add", path.to_str().unwrap(), "--name", name];
    args.extend_from_slice(extra);
    ok(kdb, &args);
    path
}

fn sqlite_count(path: &std::path::Path) -> String {
    let out = native(
        "sqlite3",
        &[path.to_str().unwrap(), "SELECT count(*) FROM t"],
        &[],
    );
    String::from_utf8_lossy(&out).trim().to_string()
}

async fn start(kdb: &Kdb, args: &[&str], answer: Answer) -> Client {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keeperdb"));
    cmd.env("KEEPERDB_CONFIG_DIR", kdb.config.path())
        .env("KEEPERDB_BUNDLED_PLUGINS_DIR", plugin_dir())
        .env_remove("RUST_LOG")
        .arg("mcp")
        .args(args);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("keeperdb mcp starts");
    TestClient { answer }
        .serve(transport)
        .await
        .expect("the MCP handshake succeeds")
}

async fn call(client: &Client, tool: &'static str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("tool arguments must be an object")
    };
    client
        .peer()
        .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool} call failed at the protocol level: {e}"))
}

/// The structured content of a successful call.
fn success(result: &CallToolResult) -> &Value {
    assert_ne!(result.is_error, Some(true), "the call failed: {result:?}");
    result
        .structured_content
        .as_ref()
        .expect("structured content")
}

/// The error message and kind of a failed call.
fn failure(result: &CallToolResult) -> (String, String) {
    assert_eq!(
        result.is_error,
        Some(true),
        "the call should fail: {result:?}"
    );
    let v = result
        .structured_content
        .as_ref()
        .expect("structured error");
    (
        v["error"].as_str().unwrap().to_string(),
        v["kind"].as_str().unwrap().to_string(),
    )
}

async fn query(client: &Client, connection: &str, sql: &str) -> CallToolResult {
    call(
        client,
        "query",
        json!({"connection": connection, "sql": sql}),
    )
    .await
}

fn names(listing: &Value) -> Vec<String> {
    listing["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn audit_log(kdb: &Kdb) -> String {
    std::fs::read_to_string(kdb.config.path().join("data/agent-audit.jsonl")).unwrap_or_default()
}

/// Backends (other than the asking one) running a statement that contains `marker`.
fn active_with(marker: &str) -> usize {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() \
         AND query LIKE '%{marker}%'"
    );
    let out = native("psql", &[&pg_url(), "-X", "-A", "-t", "-c", &sql], &[]);
    String::from_utf8_lossy(&out).trim().parse().unwrap()
}

/// Poll until `cond` holds; the limit is a safety net, not a timing assertion.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let limit = Instant::now() + Duration::from_secs(90);
    while !cond() {
        assert!(Instant::now() < limit, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_exposes_only_what_was_allowed_and_no_secret() {
    let kdb = Kdb::new();
    let password = add_pg(&kdb, "pg", &["--env", "staging"]);
    add_sqlite(&kdb, "lite", &[]);
    add_sqlite(&kdb, "hidden", &[]);

    // Nothing listed anywhere: nothing exposed.
    let client = start(&kdb, &[], Answer::Accept).await;
    let listing = call(&client, "list_connections", json!({})).await;
    assert!(names(success(&listing)).is_empty(), "{listing:?}");
    let (msg, kind) = failure(&query(&client, "lite", "SELECT 1").await);
    assert_eq!(kind, "refused");
    assert!(msg.contains("not a connection exposed"), "{msg}");
    client.cancel().await.unwrap();

    // The preference exposes; the flag narrows.
    set(&kdb, "mcp.connections", "pg, lite");
    let client = start(&kdb, &[], Answer::Accept).await;
    let listing = call(&client, "list_connections", json!({})).await;
    let listed = success(&listing).clone();
    assert_eq!(names(&listed), ["pg", "lite"]);
    let pg = &listed["connections"][0];
    assert_eq!(pg["engine"], "postgres");
    assert_eq!(pg["source"], "Local");
    assert_eq!(pg["environment"], "staging");
    assert_eq!(pg["writes_allowed"], false);
    // A connection that exists but is not exposed looks like one that does not exist.
    let (_, kind) = failure(&query(&client, "hidden", "SELECT 1").await);
    assert_eq!(kind, "refused");

    let mut seen = format!("{listing:?}");
    let result = query(&client, "pg", "SELECT current_user AS who, 42 AS n").await;
    let rows = success(&result).clone();
    assert_eq!(rows["columns"], json!(["who", "n"]));
    assert_eq!(rows["rows"][0][1], json!(42));
    assert_eq!(rows["truncated"], false);
    seen.push_str(&format!("{result:?}"));
    let described = call(&client, "describe", json!({"connection": "pg"})).await;
    success(&described);
    seen.push_str(&format!("{described:?}"));
    let failed = query(&client, "pg", "SELECT * FROM no_such_table_kdb").await;
    let (msg, kind) = failure(&failed);
    assert_eq!(kind, "query");
    assert!(msg.contains("no_such_table_kdb"), "{msg}");
    seen.push_str(&format!("{failed:?}"));
    client.cancel().await.unwrap();

    let client = start(&kdb, &["--connections", "lite"], Answer::Accept).await;
    let listing = call(&client, "list_connections", json!({})).await;
    assert_eq!(names(success(&listing)), ["lite"]);
    seen.push_str(&format!("{listing:?}"));
    client.cancel().await.unwrap();

    assert!(
        !seen.contains(&password),
        "a tool result shows the password"
    );
    let log = audit_log(&kdb);
    assert!(log.contains("SELECT current_user AS who"), "{log}");
    assert!(!log.contains(&password), "the audit log holds the password");
    let shown = ok(&kdb, &["mcp", "log"]);
    assert!(
        shown.contains("SELECT current_user AS who, 42 AS n"),
        "{shown}"
    );
    assert!(
        shown.contains("no_such_table_kdb") && shown.contains(" error "),
        "{shown}"
    );
    assert!(
        shown.contains("hidden") && shown.contains("refused"),
        "{shown}"
    );
    assert!(!shown.contains(&password));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_capped_and_say_so() {
    let kdb = Kdb::new();
    let chinook = service_url("KEEPERDB_TEST_SQLITE_CHINOOK");
    ok(&kdb, &["connections", "add", &chinook, "--name", "chinook"]);
    set(&kdb, "mcp.connections", "chinook");
    set(&kdb, "mcp.max_rows", "5");
    let client = start(&kdb, &[], Answer::Accept).await;
    let result = query(
        &client,
        "chinook",
        "SELECT TrackId, Name FROM Track ORDER BY TrackId",
    )
    .await;
    let v = success(&result);
    assert_eq!(v["row_count"], 5);
    assert_eq!(v["rows"].as_array().unwrap().len(), 5);
    assert_eq!(v["truncated"], true);
    assert!(
        v["truncation"].as_str().unwrap().contains("row limit of 5"),
        "{v}"
    );
    assert_eq!(v["rows"][0][0], json!(1));

    let small = query(&client, "chinook", "SELECT 1 AS one UNION ALL SELECT 2").await;
    let v = success(&small);
    assert_eq!(v["truncated"], false);
    assert_eq!(v["rows"], json!([[1], [2]]));

    let plan = call(
        &client,
        "explain",
        json!({"connection": "chinook", "sql": "SELECT * FROM Track WHERE TrackId = 3"}),
    )
    .await;
    assert!(
        format!("{:?}", success(&plan))
            .to_lowercase()
            .contains("track")
    );
    let described = call(
        &client,
        "describe",
        json!({"connection": "chinook", "table": "Track"}),
    )
    .await;
    let v = success(&described);
    let columns: Vec<&str> = v["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        columns.contains(&"TrackId") && columns.contains(&"Milliseconds"),
        "{v}"
    );
    let keys = serde_json::to_string(&v["tables"][0]["keys"]).unwrap();
    assert!(keys.contains("PRIMARY KEY (TrackId)"), "{keys}");
    assert!(
        keys.contains("FOREIGN KEY (AlbumId) REFERENCES Album(AlbumId)"),
        "{keys}"
    );
    client.cancel().await.unwrap();

    set(&kdb, "mcp.max_rows", "100000");
    set(&kdb, "mcp.max_bytes", "2048");
    let client = start(&kdb, &[], Answer::Accept).await;
    let result = query(&client, "chinook", "SELECT * FROM Track").await;
    let v = success(&result);
    assert_eq!(v["truncated"], true);
    assert!(
        v["truncation"]
            .as_str()
            .unwrap()
            .contains("size limit of 2048"),
        "{v}"
    );
    assert!(serde_json::to_string(&v["rows"]).unwrap().len() <= 2048 + 2 * 100);
    client.cancel().await.unwrap();
    assert!(audit_log(&kdb).contains("\"outcome\":\"truncated\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_leave_confirmation_and_no_production_tag() {
    let kdb = Kdb::new();
    let lite = add_sqlite(&kdb, "lite", &[]);
    let prod = add_sqlite(&kdb, "prodlite", &["--env", "production"]);
    set(&kdb, "mcp.connections", "lite, prodlite");
    let insert = "INSERT INTO t VALUES (2)";

    // Not allowed: refused, even though the client would confirm.
    let client = start(&kdb, &[], Answer::Accept).await;
    let (msg, kind) = failure(&query(&client, "lite", insert).await);
    assert_eq!(kind, "refused");
    assert!(msg.contains("read-only for agents"), "{msg}");
    // Lifting SQLite's read-only switch is refused whatever the policy.
    let (msg, _) = failure(&query(&client, "lite", "PRAGMA query_only = 0").await);
    assert!(msg.contains("read-only state"), "{msg}");
    // A write dressed as a read meets the read-only session.
    let dressed = query(
        &client,
        "lite",
        "WITH x AS (SELECT 5) INSERT INTO t SELECT * FROM x",
    )
    .await;
    let (_, kind) = failure(&dressed);
    assert_eq!(kind, "query");
    client.cancel().await.unwrap();
    assert_eq!(sqlite_count(&lite), "1");

    set(&kdb, "mcp.allow_writes", "lite, prodlite");
    // Allowed, but the client cannot ask the user: refused.
    let client = start(&kdb, &[], Answer::CannotAsk).await;
    let (msg, _) = failure(&query(&client, "lite", insert).await);
    assert!(msg.contains("elicitation"), "{msg}");
    client.cancel().await.unwrap();
    // The user declines: refused.
    let client = start(&kdb, &[], Answer::Decline).await;
    let (msg, kind) = failure(&query(&client, "lite", insert).await);
    assert_eq!(kind, "refused");
    assert!(msg.contains("declined"), "{msg}");
    client.cancel().await.unwrap();
    assert_eq!(sqlite_count(&lite), "1");

    // The user accepts: it runs, once.
    let client = start(&kdb, &[], Answer::Accept).await;
    let listing = call(&client, "list_connections", json!({})).await;
    let v = success(&listing);
    assert_eq!(v["connections"][0]["writes_allowed"], true);
    assert_eq!(v["connections"][1]["writes_allowed"], false, "production");
    let done = query(&client, "lite", insert).await;
    assert_eq!(success(&done)["rows_affected"], 1);
    assert_eq!(sqlite_count(&lite), "2");
    // Production: refused even when allowed and confirmed.
    let (msg, kind) = failure(&query(&client, "prodlite", insert).await);
    assert_eq!(kind, "refused");
    assert!(msg.contains("production"), "{msg}");
    client.cancel().await.unwrap();
    assert_eq!(sqlite_count(&prod), "1");
    let shown = ok(&kdb, &["mcp", "log"]);
    assert!(
        shown.contains("lite query ok rows=1: INSERT INTO t VALUES (2)"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_stay_read_only() {
    let kdb = Kdb::new();
    add_pg(&kdb, "pg", &[]);
    let table = format!("kdb_mcp_ro_{}", std::process::id());
    psql(
        &pg_url(),
        &format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (a int PRIMARY KEY)"),
    );
    set(&kdb, "mcp.connections", "pg");
    set(&kdb, "mcp.allow_writes", "pg");
    let client = start(&kdb, &[], Answer::Accept).await;
    for switch in [
        format!("begin; set transaction read write; insert into {table} values (1); commit"),
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE".to_string(),
        "SET default_transaction_read_only = off".to_string(),
        "SET SESSION TRANSACTION READ WRITE".to_string(),
        "select set_config('default_transaction_read_only', 'off', false)".to_string(),
        "BEGIN READ WRITE".to_string(),
    ] {
        let (msg, kind) = failure(&query(&client, "pg", &switch).await);
        assert_eq!(kind, "refused", "{switch}");
        assert!(msg.contains("read-only state"), "{switch}: {msg}");
    }
    // A write that reads like a read runs in the read-only session, and the server refuses.
    let dressed = format!("WITH d AS (DELETE FROM {table} RETURNING *) SELECT * FROM d");
    let (msg, kind) = failure(&query(&client, "pg", &dressed).await);
    assert_eq!(kind, "query");
    assert!(msg.contains("25006") || msg.contains("read-only"), "{msg}");
    let described = call(
        &client,
        "describe",
        json!({"connection": "pg", "table": table}),
    )
    .await;
    let v = success(&described);
    assert_eq!(v["tables"][0]["columns"][0]["name"], "a", "{v}");
    assert_eq!(
        v["tables"][0]["keys"][0]["definition"], "PRIMARY KEY (a)",
        "{v}"
    );
    // Allowed and confirmed: it runs.
    let done = query(&client, "pg", &format!("INSERT INTO {table} VALUES (7)")).await;
    assert_eq!(success(&done)["rows_affected"], 1);
    client.cancel().await.unwrap();
    psql(&pg_url(), &format!("DROP TABLE {table}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_statement_is_cut_by_the_timeout_and_by_a_client_cancel() {
    let kdb = Kdb::new();
    add_pg(&kdb, "pg", &[]);
    set(&kdb, "mcp.connections", "pg");

    // The timeout cancels on the server.
    set(&kdb, "query_timeout_secs", "2");
    let client = start(&kdb, &[], Answer::Accept).await;
    let marker = format!("kdb_mcp_timeout_{}", std::process::id());
    let started = Instant::now();
    let result = query(&client, "pg", &format!("SELECT pg_sleep(120) AS {marker}")).await;
    let (msg, kind) = failure(&result);
    assert_eq!(kind, "timeout", "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    wait_until("the server to drop the timed-out statement", || {
        active_with(&marker) == 0
    });
    client.cancel().await.unwrap();

    // The client's cancel cancels on the server; the timeout is far away.
    set(&kdb, "query_timeout_secs", "600");
    let client = start(&kdb, &[], Answer::Accept).await;
    let marker = format!("kdb_mcp_cancel_{}", std::process::id());
    let mut params = serde_json::Map::new();
    params.insert("connection".into(), json!("pg"));
    params.insert(
        "sql".into(),
        json!(format!("SELECT pg_sleep(120) AS {marker}")),
    );
    let mut options = PeerRequestOptions::no_options();
    // On this timeout the client gives up and sends the protocol's cancel notice.
    options.timeout = Some(Duration::from_secs(3));
    let handle = client
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(
                CallToolRequestParams::new("query").with_arguments(params),
            )),
            options,
        )
        .await
        .unwrap();
    let m = marker.clone();
    tokio::task::spawn_blocking(move || {
        wait_until("the statement to run on the server", || {
            active_with(&m) == 1
        })
    })
    .await
    .unwrap();
    let answer = handle.await_response().await;
    assert!(
        !matches!(answer, Ok(ServerResult::CallToolResult(_))),
        "the client gave up first: {answer:?}"
    );
    let m = marker.clone();
    tokio::task::spawn_blocking(move || {
        wait_until("the server to drop the cancelled statement", || {
            active_with(&m) == 0
        })
    })
    .await
    .unwrap();
    let k = kdb.config.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        wait_until("the audit log to record the cancel", || {
            std::fs::read_to_string(k.join("data/agent-audit.jsonl"))
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains(&marker) && l.contains("\"outcome\":\"cancelled\""))
        })
    })
    .await
    .unwrap();
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_sessions_stay_read_only() {
    let kdb = Kdb::new();
    let url = mariadb_url();
    let password = add_server(&kdb, "maria", "mariadb", &url, &[]);
    let table = format!("kdb_mcp_ro_{}", std::process::id());
    mariadb(
        &url,
        &format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (a int PRIMARY KEY)"),
        &[],
    );
    set(&kdb, "mcp.connections", "maria");
    let client = start(&kdb, &[], Answer::Accept).await;
    let result = query(&client, "maria", "SELECT 1 AS one").await;
    assert_eq!(success(&result)["rows"], json!([[1]]));
    for switch in [
        "SET SESSION TRANSACTION READ WRITE",
        "SET @@session.tx_read_only = 0",
        "SET SESSION transaction_read_only = OFF",
        "START TRANSACTION READ WRITE",
    ] {
        let (msg, kind) = failure(&query(&client, "maria", switch).await);
        assert_eq!(kind, "refused", "{switch}");
        assert!(msg.contains("read-only state"), "{switch}: {msg}");
    }
    let (_, kind) =
        failure(&query(&client, "maria", &format!("INSERT INTO {table} VALUES (1)")).await);
    assert_eq!(kind, "refused");
    let plan = call(
        &client,
        "explain",
        json!({"connection": "maria", "sql": format!("SELECT * FROM {table}")}),
    )
    .await;
    assert!(!format!("{plan:?}").contains(&password));
    success(&plan);
    let described = call(
        &client,
        "describe",
        json!({"connection": "maria", "table": table}),
    )
    .await;
    let v = success(&described);
    assert_eq!(
        v["tables"][0]["keys"][0]["definition"], "PRIMARY KEY (a)",
        "{v}"
    );
    client.cancel().await.unwrap();
    mariadb(&url, &format!("DROP TABLE {table}"), &[]);
}
