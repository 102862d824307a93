//! `keeperdb ui`'s HTTP API against real parts: the server in this process over a real config
//! dir, real SQLite files and the PostgreSQL test server, the bundled WASM plugins and the KSM
//! emulator over HTTPS. Every refusal of the hardening has its own test.

mod query_support;
mod ui_support;
mod vault_support;

use std::time::{Duration, Instant};

use query_support::{Kdb, pg_url, service_url};
use serde_json::{Value, json};
use ui_support::{Gui, error_of};

/// A copy of the Chinook SQLite database, saved as connection `chinook`.
fn with_chinook(gui: &Gui, dir: &std::path::Path) -> String {
    let file = dir.join("chinook.sqlite");
    std::fs::copy(service_url("KEEPERDB_TEST_SQLITE_CHINOOK"), &file).unwrap();
    let saved = gui.post_json(
        "/api/connections/add",
        &json!({"name": "chinook", "url": file.to_str().unwrap()}),
    );
    saved["id"].as_str().unwrap().to_string()
}

fn query(gui: &Gui, id: &str, sql: &str) -> Value {
    gui.post_json("/api/query", &json!({"connection": id, "sql": sql}))
}

fn rows(gui: &Gui, result: &str, offset: usize, limit: usize) -> Value {
    gui.get_json(&format!(
        "/api/results/{result}/rows?offset={offset}&limit={limit}"
    ))
}

// --- hardening -------------------------------------------------------------------------------

#[test]
fn a_host_other_than_loopback_on_the_own_port_is_refused() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{}", gui.port),
        format!("127.0.0.1:{}", gui.port + 1),
    ] {
        let r = gui.get_with_host("/api/state", &host);
        assert_eq!(r.status(), 421, "Host {host}");
    }
    for host in [
        format!("localhost:{}", gui.port),
        format!("127.0.0.1:{}", gui.port),
    ] {
        assert_eq!(
            gui.get_with_host("/api/state", &host).status(),
            200,
            "Host {host}"
        );
    }
}

#[test]
fn without_the_session_cookie_the_api_is_refused() {
    let kdb = Kdb::new();
    let gui = Gui::start(kdb.config.path());
    let (status, kind, message) = error_of(gui.get("/api/state"));
    assert_eq!((status, kind.as_str()), (401, "denied"));
    assert!(message.contains("keeperdb ui"), "{message}");
    assert_eq!(gui.get("/").status(), 401);
}

#[test]
fn the_launch_token_signs_in_once_with_a_strict_http_only_cookie() {
    let kdb = Kdb::new();
    let gui = Gui::start(kdb.config.path());
    let first = gui.client.get(&gui.launch_url).send().unwrap();
    assert_eq!(first.status(), 303);
    assert_eq!(
        first.headers()["location"],
        "/",
        "the token leaves the address bar"
    );
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let again = gui.client.get(&gui.launch_url).send().unwrap();
    assert_eq!(again.status(), 403, "a used token is refused");
    let wrong = gui.client.get(gui.url("/?token=0000")).send().unwrap();
    assert_eq!(wrong.status(), 403);
}

#[test]
fn a_post_without_json_the_header_or_the_own_origin_is_refused() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let cookie = gui.cookie.clone().unwrap();
    let body = json!({"key": "theme", "value": "dark"}).to_string();
    let post = |ct: &str, header: Option<&str>, origin: Option<&str>| {
        let mut r = gui
            .client
            .post(gui.url("/api/prefs"))
            .header("cookie", &cookie)
            .header("content-type", ct)
            .body(body.clone());
        if let Some(h) = header {
            r = r.header("x-keeperdb", h);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send().unwrap()
    };
    let own = gui.origin();
    let cases = [
        (
            "no custom header",
            post("application/json", None, Some(&own)),
        ),
        (
            "cross-origin",
            post("application/json", Some("1"), Some("http://evil.example")),
        ),
        ("no origin", post("application/json", Some("1"), None)),
        (
            "a form",
            post("application/x-www-form-urlencoded", Some("1"), Some(&own)),
        ),
        ("text/plain", post("text/plain", Some("1"), Some(&own))),
    ];
    for (what, r) in cases {
        let (status, kind, _) = error_of(r);
        assert_eq!((status, kind.as_str()), (403, "denied"), "{what}");
    }
    assert_eq!(
        gui.get_json("/api/prefs")["theme"],
        "system",
        "no refused call changed anything"
    );
    assert_eq!(
        post("application/json", Some("1"), Some(&own)).status(),
        200
    );
    assert_eq!(gui.get_json("/api/prefs")["theme"], "dark");
}

#[test]
fn a_cross_site_read_is_refused_and_no_answer_carries_cors_headers() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let r = gui
        .client
        .get(gui.url("/api/connections"))
        .header("cookie", gui.cookie.clone().unwrap())
        .header("origin", "http://evil.example")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let ok = gui.get("/api/state");
    assert!(ok.headers().get("access-control-allow-origin").is_none());
    let csp = ok.headers()["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(ok.headers()["x-content-type-options"], "nosniff");
}

#[test]
fn other_methods_are_refused() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let r = gui
        .client
        .delete(gui.url("/api/connections"))
        .header("cookie", gui.cookie.clone().unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
}

// --- preferences and connections --------------------------------------------------------------

#[test]
fn a_bad_preference_is_refused_by_name_and_nothing_changes() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let (status, kind, message) =
        error_of(gui.post("/api/prefs", &json!({"key": "page_size", "value": "lots"})));
    assert_eq!((status, kind.as_str()), (400, "invalid"));
    assert!(message.contains("page_size"), "{message}");
    let (_, _, message) = error_of(gui.post("/api/prefs", &json!({"key": "nope", "value": "1"})));
    assert!(message.contains("nope"), "{message}");
    let (_, kind, _) = error_of(gui.post("/api/prefs", &json!({"key": "theme"})));
    assert_eq!(kind, "invalid", "a body without `value`");
    assert_eq!(gui.get_json("/api/prefs")["page_size"], 1000);
}

#[test]
fn a_saved_connection_is_listed_with_the_local_badge_and_never_a_password() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let state = gui.get_json("/api/state");
    assert_eq!(
        (state["vaults"].as_u64(), state["connections"].as_u64()),
        (Some(0), Some(0))
    );
    let pg = pg_url();
    let parts = query_support::url_parts(&pg);
    let url = format!(
        "postgres://{}@{}:{}/{}",
        parts.user, parts.host, parts.port, parts.database
    );
    gui.post_json(
        "/api/connections/add",
        &json!({"name": "pg", "url": url, "password": parts.password, "environment": "staging"}),
    );
    let listed = gui.get("/api/connections").text().unwrap();
    assert!(
        !listed.contains(&parts.password),
        "a password reached the page"
    );
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let pg = &listed["connections"][0];
    assert_eq!(
        (pg["name"].as_str(), pg["badge"].as_str()),
        (Some("pg"), Some("Local"))
    );
    assert_eq!(
        (pg["key"].as_str(), pg["environment"].as_str()),
        (Some("local/pg"), Some("staging"))
    );
    let answer = query(&gui, pg["id"].as_str().unwrap(), "SELECT 1 AS one");
    assert_eq!(answer["statements"][0]["kind"], "rows");
}

#[test]
fn a_connection_url_with_a_password_or_a_relative_file_is_refused() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let (status, _, message) = error_of(gui.post(
        "/api/connections/add",
        &json!({"url": "postgres://u:hunter2@db/x"}),
    ));
    assert_eq!(status, 400);
    assert!(
        message.contains("password field") && !message.contains("hunter2"),
        "{message}"
    );
    let (status, _, message) =
        error_of(gui.post("/api/connections/add", &json!({"url": "data/file.sqlite"})));
    assert_eq!(status, 400);
    assert!(message.contains("absolute"), "{message}");
    assert_eq!(gui.get_json("/api/connections")["connections"], json!([]));
}

// --- queries and results ----------------------------------------------------------------------

#[test]
fn rows_come_back_by_windows_with_null_apart_from_the_empty_string() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let id = with_chinook(&gui, kdb.config.path());
    let answer = query(
        &gui,
        &id,
        "SELECT 1 AS one, NULL AS nul, '' AS empty; SELECT TrackId, Name FROM Track ORDER BY TrackId",
    );
    let statements = answer["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 2);
    let first = &statements[0]["result"];
    let cells = rows(&gui, first["id"].as_str().unwrap(), 0, 10);
    assert_eq!(cells["rows"], json!([["1", null, ""]]));
    let tracks = &statements[1]["result"];
    let names: Vec<&str> = tracks["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["TrackId", "Name"]);
    let window = rows(&gui, tracks["id"].as_str().unwrap(), 3000, 3);
    assert_eq!(window["rows"][0][0], "3001");
    assert_eq!(window["complete"], true);
    assert_eq!(window["loaded"], 3503);
}

#[test]
fn a_failing_statement_names_what_was_wrong_and_earlier_results_stay() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let id = with_chinook(&gui, kdb.config.path());
    let (status, kind, message) = error_of(gui.post(
        "/api/query",
        &json!({"connection": id, "sql": "SELECT * FROM no_such_table"}),
    ));
    assert_eq!((status, kind.as_str()), (422, "query"));
    assert!(message.contains("no_such_table"), "{message}");
    let answer = query(&gui, &id, "SELECT 1; SELECT * FROM no_such_table; SELECT 3");
    assert_eq!(answer["statements"].as_array().unwrap().len(), 1);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no_such_table")
    );
    let (status, _, _) = error_of(gui.post("/api/query", &json!({"connection": id, "sql": " ; "})));
    assert_eq!(status, 400);
    let (status, kind, _) = error_of(gui.post(
        "/api/query",
        &json!({"connection": "nope", "sql": "SELECT 1"}),
    ));
    assert_eq!((status, kind.as_str()), (404, "not_found"));
}

#[test]
fn a_big_result_stops_at_the_row_cap_until_fetch_all() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let id = with_chinook(&gui, kdb.config.path());
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 250000) SELECT x FROM c";
    let answer = query(&gui, &id, sql);
    let result = answer["statements"][0]["result"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let info = wait_until(&gui, &result, |i| {
        i["capped"] == true || i["complete"] == true
    });
    // Loading stops at the first page that reaches the cap (100 pages of 1000 rows).
    let loaded = info["loaded"].as_u64().unwrap();
    assert_eq!(info["capped"], true, "{info}");
    assert!((100_000..110_000).contains(&loaded), "{info}");
    gui.post_json(&format!("/api/results/{result}/fetch-all"), &json!({}));
    let info = wait_until(&gui, &result, |i| i["complete"] == true);
    assert_eq!(info["loaded"], 250_000);
    assert_eq!(rows(&gui, &result, 249_999, 5)["rows"], json!([["250000"]]));
    let csv = gui
        .get(&format!("/api/results/{result}/export?format=csv"))
        .text()
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        (lines.len(), lines[0], lines[250_000]),
        (250_001, "x", "250000")
    );
}

fn wait_until(gui: &Gui, result: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let info = gui.get_json(&format!("/api/results/{result}"));
        if done(&info) || Instant::now() > deadline {
            return info;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn copy_text_is_tsv_csv_or_json_of_the_rows_asked_for() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let id = with_chinook(&gui, kdb.config.path());
    let answer = query(
        &gui,
        &id,
        "SELECT 'a\tb' AS t, NULL AS n, 2 AS k UNION ALL SELECT 'c', 'd', 3",
    );
    let result = answer["statements"][0]["result"]["id"].as_str().unwrap();
    let text = |format: &str| {
        gui.get(&format!(
            "/api/results/{result}/text?format={format}&offset=0&limit=1"
        ))
        .text()
        .unwrap()
    };
    assert_eq!(text("tsv"), "t\tn\tk\n\"a\tb\"\t\t2\n");
    assert_eq!(text("csv"), "t,n,k\na\tb,,2\n");
    let json: Value = serde_json::from_str(&text("json")).unwrap();
    assert_eq!(json, json!([{"t": "a\tb", "n": null, "k": 2}]));
    let (status, _, message) = error_of(gui.get(&format!("/api/results/{result}/text?format=xml")));
    assert_eq!(status, 400);
    assert!(message.contains("xml"), "{message}");
}

#[test]
fn history_keeps_each_connections_statements_but_never_a_password() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let id = with_chinook(&gui, kdb.config.path());
    query(&gui, &id, "SELECT 1");
    query(&gui, &id, "SELECT 2");
    let _ = gui.post(
        "/api/query",
        &json!({"connection": id, "sql": "ALTER USER x WITH PASSWORD 'hunter2'"}),
    );
    let history = gui.get_json(&format!("/api/history?connection={id}"));
    let sqls: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sql"].as_str().unwrap())
        .collect();
    assert_eq!(sqls, ["SELECT 2", "SELECT 1"]);
}

#[test]
fn the_schema_tree_loads_by_level_and_opens_a_table_on_its_first_page() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let id = with_chinook(&gui, kdb.config.path());
    let tables = gui.get_json(&format!("/api/schema/tables?connection={id}"));
    let track = tables["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Track")
        .expect("Track is listed")
        .clone();
    let schema = track["schema"].as_str().unwrap_or("");
    let columns = gui.get_json(&format!(
        "/api/schema/columns?connection={id}&schema={schema}&table=Track"
    ));
    assert_eq!(columns["columns"][0]["name"], "TrackId");
    let opened = gui.post_json(
        "/api/schema/open",
        &json!({"connection": id, "schema": track["schema"], "table": "Track"}),
    );
    let result = &opened["statements"][0]["result"];
    assert!(result["loaded"].as_u64().unwrap() > 0);
    assert!(
        opened["statements"][0]["sql"]
            .as_str()
            .unwrap()
            .contains("\"Track\"")
    );
}

#[test]
fn a_long_query_is_cancelled_on_the_server() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let parts = query_support::url_parts(&pg_url());
    let url = format!(
        "postgres://{}@{}:{}/{}",
        parts.user, parts.host, parts.port, parts.database
    );
    let saved = gui.post_json(
        "/api/connections/add",
        &json!({"name": "pg", "url": url, "password": parts.password}),
    );
    let id = saved["id"].as_str().unwrap().to_string();
    query(&gui, &id, "SELECT 1");
    let started = Instant::now();
    let (status, kind, message) = std::thread::scope(|s| {
        let running = s.spawn(|| {
            error_of(gui.post(
                "/api/query",
                &json!({"connection": id, "sql": "SELECT pg_sleep(60)"}),
            ))
        });
        std::thread::sleep(Duration::from_millis(700));
        gui.post_json("/api/cancel", &json!({"connection": id}));
        running.join().unwrap()
    });
    assert_eq!((status, kind.as_str()), (409, "cancelled"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        query(&gui, &id, "SELECT 2 AS two")["statements"][0]["kind"],
        "rows",
        "the session is usable after"
    );
}

#[test]
fn writes_to_production_wait_for_confirmation_and_read_only_refuses_them() {
    let kdb = Kdb::new();
    let gui = Gui::signed_in(kdb.config.path());
    let parts = query_support::url_parts(&pg_url());
    let url = format!(
        "postgres://{}@{}:{}/{}",
        parts.user, parts.host, parts.port, parts.database
    );
    let prod = gui.post_json(
        "/api/connections/add",
        &json!({"name": "prod", "url": url, "password": parts.password, "environment": "production"}),
    )["id"].as_str().unwrap().to_string();
    let table = format!("ui_confirm_{}", std::process::id());
    let create = format!("CREATE TABLE {table} (x int)");
    let (status, kind, message) =
        error_of(gui.post("/api/query", &json!({"connection": prod, "sql": create})));
    assert_eq!((status, kind.as_str()), (428, "confirm_required"));
    assert!(
        message.contains("prod") && message.contains("production"),
        "{message}"
    );
    let exists =
        format!("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = '{table}'");
    let n = query(&gui, &prod, &exists);
    let rid = n["statements"][0]["result"]["id"].as_str().unwrap();
    assert_eq!(
        rows(&gui, rid, 0, 1)["rows"],
        json!([["0"]]),
        "nothing ran before the confirmation"
    );
    gui.post_json(
        "/api/query",
        &json!({"connection": prod, "sql": create, "confirmed": true}),
    );
    gui.post_json(
        "/api/query",
        &json!({"connection": prod, "sql": format!("DROP TABLE {table}"), "confirmed": true}),
    );
    let ro = gui.post_json(
        "/api/connections/add",
        &json!({"name": "ro", "url": url, "password": parts.password, "read_only": true}),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, kind, message) =
        error_of(gui.post("/api/query", &json!({"connection": ro, "sql": create})));
    assert_eq!((status, kind.as_str()), (422, "query"), "{message}");
    assert!(message.to_lowercase().contains("read-only"), "{message}");
}

// --- vaults and storage sync -----------------------------------------------------------------

fn attach_body(emu: &keeperdb_ksm_emulator::EmulatorHandle, name: &str, token: &str) -> Value {
    json!({
        "name": name, "token": token, "region": null, "proxy": emu.proxy_url(),
        "server_public_key": emu.server_public_key(),
        "server_public_key_id": emu.server_public_key_id().parse::<u32>().unwrap(),
    })
}

fn vault_emulator() -> keeperdb_ksm_emulator::EmulatorHandle {
    use keeperdb_ksm_emulator::{Emulator, EmulatorConfig, Seed};
    let seed = json!({
        "apps": [{"name": "keeperdb", "shared_folders": ["Team"], "editable": true}],
        "folders": [{"name": "Team"}],
        "records": [vault_support::database("Orders", Some("Team"), "postgresql",
            vault_support::host_field("db.internal", Some("5432")), "app", "orders-secret")],
    });
    Emulator::start(EmulatorConfig {
        seed: Seed::from_json(&seed.to_string()).unwrap(),
        ca_dir: Some(keeperdb_ksm_emulator::test_ca_dir().unwrap_or_else(|e| panic!("{e}"))),
        ..EmulatorConfig::default()
    })
    .expect("emulator starts")
}

#[test]
fn a_vault_attached_with_a_token_lists_its_connections_with_the_vault_badge() {
    let kdb = Kdb::new();
    vault_support::install_vault_source(&kdb);
    let emu = vault_emulator();
    let gui = Gui::signed_in(kdb.config.path());
    let (status, _, message) =
        error_of(gui.post("/api/vaults/check", &json!({"name": "bad/name"})));
    assert_eq!(status, 400, "{message}");
    let token = emu.issue_default_token().unwrap();
    let (status, _, _) =
        error_of(gui.post("/api/vaults/attach", &attach_body(&emu, "bad/name", &token)));
    assert_eq!(
        status, 400,
        "a bad name is refused before the token is spent"
    );
    let attached = gui.post_json("/api/vaults/attach", &attach_body(&emu, "work", &token));
    assert_eq!(attached["refresh"]["ok"], true, "{attached}");
    let listed = gui.get("/api/connections").text().unwrap();
    assert!(
        !listed.contains("orders-secret"),
        "a vault password reached the page"
    );
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let orders = listed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Orders")
        .expect("Orders is listed")
        .clone();
    assert_eq!(
        (orders["badge"].as_str(), orders["vault"].as_str()),
        (Some("Vault"), Some("work"))
    );
    assert_eq!(orders["key"], "work/Orders");
    let vaults = gui.get_json("/api/vaults");
    assert_eq!(vaults["vaults"][0]["state"], "ok");
    let (status, kind, message) =
        error_of(gui.post("/api/vaults/attach", &attach_body(&emu, "again", &token)));
    assert!(status >= 400 && !message.is_empty(), "{kind}: {message}");
    assert!(
        !message.contains(token.split(':').next_back().unwrap()),
        "the token is not echoed: {message}"
    );
    gui.post_json("/api/vaults/disconnect", &json!({"name": "work"}));
    assert_eq!(gui.get_json("/api/vaults")["vaults"], json!([]));
}

#[test]
fn storage_sync_streams_its_progress_to_the_end() {
    let kdb = Kdb::new();
    let out = kdb.run(&["plugins", "install", "keeper-storage", "--allow"]);
    query_support::assert_success(&out, "plugins install keeper-storage");
    let emu = vault_emulator();
    let gui = Gui::signed_in(kdb.config.path());
    let token = emu.issue_default_token().unwrap();
    gui.post_json("/api/vaults/attach", &attach_body(&emu, "work", &token));
    for i in 0..12 {
        gui.post_json(
            "/api/connections/add",
            &json!({"name": format!("c{i}"), "url": format!("postgres://u@db{i}.internal/x"), "password": format!("pw-{i}")}),
        );
    }
    let enabled = gui.post_json("/api/storage/enable", &json!({"vault": "work"}));
    assert_eq!(enabled["enabled"], true);
    let body = ok_json_lines(gui.post("/api/storage/sync", &json!({"dry_run": false})));
    let progress: Vec<&Value> = body.iter().filter(|l| l["type"] == "progress").collect();
    let last = progress.last().expect("progress was streamed");
    assert_eq!(last["done"], last["total"], "{body:?}");
    assert!(last["total"].as_u64().unwrap() >= 12);
    assert_eq!(last["message"], "Configuring...");
    let end = body.last().unwrap();
    assert_eq!(end["type"], "done", "{end}");
    assert_eq!(end["applied"], last["total"]);
    let status = gui.get_json("/api/storage");
    assert!(status["last_sync"].is_string(), "{status}");
    assert_eq!(status["pending"]["writes"], 0);
    gui.post_json("/api/prefs", &json!({"key": "mode", "value": "gateway"}));
    assert_eq!(gui.get_json("/api/storage")["available"], false);
    let (status, _, message) = error_of(gui.post("/api/storage/pull", &json!({})));
    assert_eq!(status, 400);
    assert!(message.to_lowercase().contains("gateway"), "{message}");
}

fn ok_json_lines(r: reqwest::blocking::Response) -> Vec<Value> {
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    r.text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
