//! The WASM runtime against real components built by `cargo xtask build-plugins`: the
//! first-party file sources, and hostile plugins that must be contained.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keeperdb_model::manifest::{MANIFEST_FILE, Manifest, sha256_hex};
use keeperdb_model::source::ConnectionSource;
use keeperdb_model::{Connection, TlsMode};
use keeperdb_wasm_host::{
    Limits, LoadOptions, LoadedPlugin, PathContext, WasmError, WasmRuntime, WasmSource,
};

fn plugins_dir(var: &str) -> PathBuf {
    let dir = std::env::var_os(var).unwrap_or_else(|| {
        panic!("{var} is not set: build the WASM plugins and run these tests with `cargo xtask test-wasm`")
    });
    let dir = PathBuf::from(dir);
    assert!(
        dir.is_dir(),
        "{var}={} is not a directory; run `cargo xtask build-plugins`",
        dir.display()
    );
    dir
}

/// A private copy of a built plugin, so a test can edit or tamper with it.
fn copy_plugin(kind_var: &str, id: &str, into: &Path) -> PathBuf {
    let src = plugins_dir(kind_var).join(id);
    let dst = into.join(id);
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display())) {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
    dst
}

fn bundled(id: &str, into: &Path) -> PathBuf {
    copy_plugin("KEEPERDB_BUNDLED_PLUGINS_DIR", id, into)
}

fn hostile(id: &str, into: &Path) -> PathBuf {
    copy_plugin("KEEPERDB_TEST_PLUGINS_DIR", id, into)
}

fn runtime() -> WasmRuntime {
    WasmRuntime::with_limits(
        None,
        Limits {
            call_deadline: Duration::from_millis(500),
            ..Limits::default()
        },
    )
    .unwrap()
}

fn options(granted: &[&str], ctx: PathContext) -> LoadOptions {
    LoadOptions {
        granted: granted
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        paths: Arc::new(ctx),
        vault: None,
        progress: None,
        compiled: None,
    }
}

fn source(rt: &WasmRuntime, dir: &Path, granted: &[&str], ctx: PathContext) -> WasmSource {
    let plugin =
        LoadedPlugin::load(rt, dir, options(granted, ctx)).unwrap_or_else(|e| panic!("{e}"));
    WasmSource::new(Arc::new(plugin)).unwrap()
}

fn write_private(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn by_name<'a>(list: &'a [Connection], name: &str) -> &'a Connection {
    list.iter()
        .find(|c| c.spec.name == name)
        .unwrap_or_else(|| panic!("no connection named {name} in {list:?}"))
}

const PGPASS: &str = "\
# production
db.internal:5432:orders:app:s3cret\n\
db.internal:*:*:report:r\\:pw\\\\x\n\
*:*:*:admin:wild-admin\n\
db.internal:5432:orders:app:shadowed-duplicate\n\
broken:line\n";

#[test]
fn pgpass_lists_concrete_entries_with_its_badge_and_looks_up_like_libpq() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    write_private(&home.join(".pgpass"), PGPASS, 0o600);
    let dir = bundled("pgpass", tmp.path());
    let src = source(
        &runtime(),
        &dir,
        &["fs-read"],
        PathContext::with_home(&home),
    );

    let list = src.list().unwrap().connections;
    // Wildcard-host lines are credentials only; the duplicate is listed once.
    assert_eq!(list.len(), 2, "{list:?}");
    let app = by_name(&list, "app@db.internal:5432/orders");
    assert_eq!(app.origin.source, "pgpass");
    assert_eq!(app.origin.badge, "pgpass");
    assert_eq!(app.spec.host.as_deref(), Some("db.internal"));
    assert_eq!(app.spec.port, Some(5432));
    assert_eq!(app.id.as_str(), "pgpass:db.internal:5432:orders:app");
    let report = by_name(&list, "report@db.internal");
    assert_eq!(report.spec.port, None);
    assert_eq!(report.spec.database, None);

    // The first matching line wins, escapes are undone.
    let creds = src.credentials(app).unwrap();
    assert_eq!(creds.expose_password(), Some("s3cret"));
    let creds = src.credentials(report).unwrap();
    assert_eq!(creds.expose_password(), Some("r:pw\\x"));

    // A connection the file does not list concretely still matches the wildcard line.
    let mut admin = app.clone();
    admin.spec.user = Some("admin".into());
    admin.spec.host = Some("elsewhere".into());
    assert_eq!(
        src.credentials(&admin).unwrap().expose_password(),
        Some("wild-admin")
    );
    let mut nobody = app.clone();
    nobody.spec.user = Some("nobody".into());
    assert_eq!(src.credentials(&nobody).unwrap().expose_password(), None);
}

#[test]
fn pgpass_readable_by_group_or_others_is_refused_as_libpq_does() {
    let tmp = tempfile::tempdir().unwrap();
    let pgpass = tmp.path().join(".pgpass");
    write_private(&pgpass, PGPASS, 0o644);
    let dir = bundled("pgpass", tmp.path());
    let src = source(
        &runtime(),
        &dir,
        &["fs-read"],
        PathContext::with_home(tmp.path()),
    );
    let err = src.list().unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            pgpass.display()
        )),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn pgpass_follows_pgpassfile_and_a_missing_file_lists_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bundled("pgpass", tmp.path());
    let rt = runtime();
    let src = source(&rt, &dir, &["fs-read"], PathContext::with_home(tmp.path()));
    assert!(src.list().unwrap().connections.is_empty());

    let custom = tmp.path().join("custom-pgpass");
    write_private(&custom, "h1:5433:db:u:pw\n", 0o600);
    let ctx = PathContext::with_home(tmp.path()).var("PGPASSFILE", custom.to_str().unwrap());
    let src = source(&rt, &dir, &["fs-read"], ctx);
    let list = src.list().unwrap().connections;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].spec.port, Some(5433));
}

#[test]
fn pg_service_merges_user_and_system_files_user_first() {
    let tmp = tempfile::tempdir().unwrap();
    let sysconf = tmp.path().join("etc");
    std::fs::create_dir(&sysconf).unwrap();
    std::fs::write(
        sysconf.join("pg_service.conf"),
        "[shared]\nhost=sys.example\n[prod]\nhost=should-be-hidden\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join(".pg_service.conf"),
        "# mine\n[prod]\nhost=db.internal\nport=5433\ndbname=orders\nuser=app\npassword=svc-secret\nsslmode=verify-full\nconnect_timeout=10\n",
    )
    .unwrap();
    let dir = bundled("pg-service", tmp.path());
    let ctx = PathContext::with_home(tmp.path()).var("PGSYSCONFDIR", sysconf.to_str().unwrap());
    let src = source(&runtime(), &dir, &["fs-read"], ctx);
    let list = src.list().unwrap().connections;
    assert_eq!(list.len(), 2, "{list:?}");
    let prod = by_name(&list, "prod");
    assert_eq!(prod.origin.badge, "pg_service");
    assert_eq!(prod.spec.host.as_deref(), Some("db.internal"));
    assert_eq!(prod.spec.port, Some(5433));
    assert_eq!(prod.spec.database.as_deref(), Some("orders"));
    assert_eq!(prod.spec.tls, TlsMode::VerifyFull);
    assert_eq!(
        prod.spec.options.get("connect_timeout").map(String::as_str),
        Some("10")
    );
    assert_eq!(
        by_name(&list, "shared").spec.host.as_deref(),
        Some("sys.example")
    );
    // The password is not part of the listing, only of the credentials.
    assert!(!format!("{list:?}").contains("svc-secret"));
    assert_eq!(
        src.credentials(prod).unwrap().expose_password(),
        Some("svc-secret")
    );
}

#[test]
fn pg_service_syntax_error_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join(".pg_service.conf");
    std::fs::write(&file, "[prod]\nhost db.internal\n").unwrap();
    let dir = bundled("pg-service", tmp.path());
    let ctx = PathContext::with_home(tmp.path()).var("PGSYSCONFDIR", "/nonexistent");
    let err = source(&runtime(), &dir, &["fs-read"], ctx)
        .list()
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{}:2", file.display())), "{err}");
    assert!(err.contains("keyword=value"), "{err}");
}

#[test]
fn hostile_calls_are_contained_and_other_plugins_keep_working() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = runtime();
    let bad = source(
        &rt,
        &hostile("hostile", tmp.path()),
        &[],
        PathContext::default(),
    );
    write_private(&tmp.path().join(".pgpass"), PGPASS, 0o600);
    let good = source(
        &rt,
        &bundled("pgpass", tmp.path()),
        &["fs-read"],
        PathContext::with_home(tmp.path()),
    );

    let list = bad.list().unwrap().connections;
    let ok = by_name(&list, "ok").clone();
    assert_eq!(
        bad.credentials(&ok).unwrap().expose_password(),
        Some("fine")
    );
    for (mode, expected) in [
        ("loop", "did not finish within the 500 ms deadline"),
        ("bomb", "exceeded its memory limit of 64 MiB"),
        ("recurse", "overflowed its call stack"),
        ("panic", "hostile plugin panicked on purpose"),
        ("huge", "more than the 16 MiB a call may return"),
    ] {
        let err = bad
            .credentials(by_name(&list, mode))
            .unwrap_err()
            .to_string();
        assert!(err.contains("plugin `hostile` failed"), "{mode}: {err}");
        assert!(err.contains(expected), "{mode}: {err}");
        // The same plugin serves the next call from a fresh instance...
        assert_eq!(
            bad.credentials(&ok).unwrap().expose_password(),
            Some("fine"),
            "after {mode}"
        );
        // ...and other plugins are untouched.
        assert_eq!(good.list().unwrap().connections.len(), 2, "after {mode}");
    }
}

#[test]
fn bad_descriptors_are_skipped_one_by_one_with_their_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let src = source(
        &runtime(),
        &hostile("hostile", tmp.path()),
        &[],
        PathContext::default(),
    );
    let listing = src.list().unwrap();
    // The good entries are all there, and an engine no driver serves is still a connection.
    for name in ["ok", "loop", "warehouse"] {
        by_name(&listing.connections, name);
    }
    assert_eq!(
        by_name(&listing.connections, "warehouse")
            .spec
            .engine
            .as_str(),
        "sqlserver"
    );
    let skipped: Vec<(&str, &str)> = listing
        .skipped
        .iter()
        .map(|s| (s.entry.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(
        skipped[0].0 == "zero-port" && skipped[0].1.contains("port 0"),
        "{skipped:?}"
    );
    assert!(
        skipped[1].0 == "bad-engine" && skipped[1].1.contains("not a database engine id"),
        "{skipped:?}"
    );
    // What a plugin says is shown only after its control characters are neutralised.
    assert!(!skipped[2].0.contains('\u{1b}'), "{skipped:?}");
    assert!(skipped[2].1.contains("host is empty"), "{skipped:?}");
}

#[test]
fn a_component_importing_an_ungranted_capability_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = hostile("hostile-fs", tmp.path());
    // Asked for, but the user did not grant it.
    let err = LoadedPlugin::load(
        &runtime(),
        &dir,
        options(&[], PathContext::with_home(tmp.path())),
    )
    .unwrap_err();
    assert!(
        matches!(err, WasmError::CapabilityNotGranted { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("`fs-read`") && text.contains("did not grant"),
        "{text}"
    );

    // Not even asked for in the manifest: granting is impossible.
    let manifest = std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    let cut = manifest.find("[capabilities").unwrap();
    std::fs::write(dir.join(MANIFEST_FILE), &manifest[..cut]).unwrap();
    let err = LoadedPlugin::load(
        &runtime(),
        &dir,
        options(&["fs-read"], PathContext::with_home(tmp.path())),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`fs-read`") && err.contains("does not ask for"),
        "{err}"
    );
}

#[test]
fn reads_outside_the_grant_are_denied_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let granted = tmp.path().join(".keeperdb-test-granted");
    std::fs::write(&granted, "granted content").unwrap();
    std::fs::write(tmp.path().join("neighbour"), "neighbour secret").unwrap();
    let dir = hostile("hostile-fs", tmp.path());
    let src = source(
        &runtime(),
        &dir,
        &["fs-read"],
        PathContext::with_home(tmp.path()),
    );
    let list = src.list().unwrap().connections;
    assert_eq!(list.len(), 1);
    let mut c = list[0].clone();
    assert_eq!(
        src.credentials(&c).unwrap().expose_password(),
        Some("granted content")
    );
    c.spec.name = "~/.keeperdb-test-granted".into();
    assert_eq!(
        src.credentials(&c).unwrap().expose_password(),
        Some("granted content")
    );

    let neighbour = tmp.path().join("neighbour").display().to_string();
    let sneaky = format!(
        "{}/../{}/neighbour",
        tmp.path().display(),
        tmp.path().file_name().unwrap().to_str().unwrap()
    );
    for path in [
        "/etc/passwd",
        neighbour.as_str(),
        sneaky.as_str(),
        "neighbour",
        "~/neighbour",
    ] {
        c.spec.name = path.to_string();
        let err = src.credentials(&c).unwrap_err().to_string();
        assert!(
            err.contains("denied") && err.contains(path),
            "{path}: {err}"
        );
        assert!(
            !err.contains("neighbour secret") && !err.contains("root:"),
            "{err}"
        );
    }

    // The granted file replaced by a link to the neighbour: the hostile plugin asks for the
    // granted path, and the link is not followed.
    std::fs::remove_file(&granted).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("neighbour"), &granted).unwrap();
    c.spec.name = "~/.keeperdb-test-granted".into();
    let err = src.credentials(&c).unwrap_err().to_string();
    assert!(
        err.contains("symbolic link") && err.contains("outside this plugin's grant"),
        "{err}"
    );
    assert!(!err.contains("neighbour secret"), "{err}");
}

#[test]
fn an_incompatible_api_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // In the component itself (the manifest claims ^0.1).
    let dir = hostile("future-api", tmp.path());
    let err =
        LoadedPlugin::load(&runtime(), &dir, options(&[], PathContext::default())).unwrap_err();
    assert!(matches!(err, WasmError::IncompatibleApi { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("1.0.0") && text.contains("0.1.0, 0.2.0"),
        "{text}"
    );

    // In the manifest's range.
    let dir = bundled("pgpass", tmp.path());
    let manifest = std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    std::fs::write(dir.join(MANIFEST_FILE), manifest.replace("^0.4", "^3.0")).unwrap();
    let err = LoadedPlugin::load(
        &runtime(),
        &dir,
        options(&["fs-read"], PathContext::default()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("needs host API ^3.0"), "{err}");
}

#[test]
fn a_tampered_payload_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bundled("pgpass", tmp.path());
    let manifest = Manifest::load(&dir).unwrap();
    let payload = dir.join(&manifest.payload);
    let mut bytes = std::fs::read(&payload).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&payload, &bytes).unwrap();
    let err = LoadedPlugin::load(
        &runtime(),
        &dir,
        options(&["fs-read"], PathContext::default()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("refusing to load it") && err.contains(&sha256_hex(&bytes)),
        "{err}"
    );
}

#[test]
fn compiled_components_are_cached_and_a_corrupt_cache_entry_is_recompiled() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = bundled("pgpass", tmp.path());
    let rt = WasmRuntime::new(Some(cache.clone())).unwrap();
    let mut opts = options(&["fs-read"], PathContext::with_home(tmp.path()));
    let cold = LoadedPlugin::load(&rt, &dir, opts.clone()).unwrap();
    assert!(!cold.from_cache(), "nothing was cached yet");
    cold.instantiate().unwrap();
    opts.compiled = cold.compiled_digest().map(str::to_string);
    assert!(opts.compiled.is_some());
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let name = entries[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let sha = Manifest::load(&dir).unwrap().sha256;
    assert!(name.starts_with(&sha) && name.ends_with(".cwasm"), "{name}");

    // Warm start from the cache.
    let warm = LoadedPlugin::load(&rt, &dir, opts.clone()).unwrap();
    assert!(warm.from_cache(), "the warm start compiled again");
    assert!(
        WasmSource::new(Arc::new(warm))
            .unwrap()
            .list()
            .unwrap()
            .connections
            .is_empty()
    );

    // A damaged cache entry is discarded and rebuilt, not trusted.
    std::fs::write(&entries[0], b"garbage").unwrap();
    let again = LoadedPlugin::load(&rt, &dir, opts).unwrap();
    assert!(!again.from_cache(), "a damaged entry was trusted");
    assert!(
        WasmSource::new(Arc::new(again))
            .unwrap()
            .list()
            .unwrap()
            .connections
            .is_empty()
    );
    assert!(std::fs::metadata(&entries[0]).unwrap().len() > 1000);
}

#[test]
fn another_plugins_compiled_entry_copied_over_this_ones_is_not_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let rt = WasmRuntime::new(Some(cache.clone())).unwrap();
    let pgpass = bundled("pgpass", tmp.path());
    let hostile_dir = hostile("hostile", tmp.path());
    let load = |dir: &Path, granted: &[&str], compiled: Option<String>| {
        let mut opts = options(granted, PathContext::with_home(tmp.path()));
        opts.compiled = compiled;
        LoadedPlugin::load(&rt, dir, opts).unwrap_or_else(|e| panic!("{e}"))
    };
    let entry_of = |dir: &Path| {
        let sha = Manifest::load(dir).unwrap().sha256;
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&sha))
            .unwrap()
    };
    let pg_digest = load(&pgpass, &["fs-read"], None)
        .compiled_digest()
        .map(str::to_string);
    let hostile_caps: Vec<String> = Manifest::load(&hostile_dir)
        .unwrap()
        .capabilities
        .into_keys()
        .collect();
    let hostile_granted: Vec<&str> = hostile_caps.iter().map(String::as_str).collect();
    load(&hostile_dir, &hostile_granted, None);
    // The attack: the hostile plugin's compiled code under pgpass's name.
    let hostile_code = std::fs::read(entry_of(&hostile_dir)).unwrap();
    std::fs::write(entry_of(&pgpass), &hostile_code).unwrap();
    let reloaded = load(&pgpass, &["fs-read"], pg_digest);
    let recorded = reloaded.compiled_digest().map(str::to_string);
    // Not deserialized: compiled again from pgpass's own verified payload, and it behaves
    // as pgpass (an empty listing with no ~/.pgpass), with a fresh entry recorded.
    assert!(
        WasmSource::new(Arc::new(reloaded))
            .unwrap()
            .list()
            .unwrap()
            .connections
            .is_empty()
    );
    let now = std::fs::read(entry_of(&pgpass)).unwrap();
    assert_ne!(now, hostile_code);
    assert_eq!(recorded.unwrap(), sha256_hex(&now));
}

#[test]
fn a_storage_backend_lists_puts_removes_and_reports_progress() {
    use keeperdb_model::storage::{ItemKind, NewItem, StorageBackend};
    use keeperdb_wasm_host::WasmStorage;
    use std::sync::Mutex;

    let tmp = tempfile::tempdir().unwrap();
    let dir = hostile("memory-storage", tmp.path());
    let reports: Arc<Mutex<Vec<(u64, u64, String)>>> = Arc::default();
    let sink = reports.clone();
    let mut opts = options(&[], PathContext::default());
    opts.progress = Some(Arc::new(move |done, total, message: &str| {
        sink.lock()
            .unwrap()
            .push((done, total, message.to_string()));
    }));
    let plugin = LoadedPlugin::load(&runtime(), &dir, opts).unwrap();
    // A storage backend is not a connection source.
    let plugin = Arc::new(plugin);
    assert!(WasmSource::new(plugin.clone()).is_err());
    let storage = WasmStorage::new(plugin).unwrap();
    assert_eq!(storage.id(), "memory-storage");

    let item = |local_id: &str, payload: &str| NewItem {
        local_id: local_id.into(),
        kind: ItemKind::Connection,
        payload: payload.into(),
        secret: None,
    };
    let first = storage.put(&item("a", "{\"name\":\"a\"}")).unwrap();
    let second = storage.put(&item("a", "{\"name\":\"a2\"}")).unwrap();
    assert_ne!(first, second, "a recreated item gets a new remote ref");
    storage.put(&item("b", "{}")).unwrap();
    let list = storage.list().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].payload, "{\"name\":\"a2\"}");
    assert_eq!(reports.lock().unwrap().last().unwrap().2, "Configuring...");

    storage.remove(&second).unwrap();
    let err = storage.remove(&second).unwrap_err().to_string();
    assert!(err.contains("not found") && err.contains(&second), "{err}");

    // A trap loses the instance's memory: the next call starts from a fresh instance.
    let err = storage.put(&item("c", "trap")).unwrap_err().to_string();
    assert!(
        err.contains("plugin `memory-storage` failed: put: aborted"),
        "{err}"
    );
    assert!(storage.list().unwrap().is_empty());
}

#[test]
fn the_sdk_template_plugin_works_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join(".hello-connections"),
        "# name engine host port database user\norders-db postgres db.internal 5432 orders app\n",
    )
    .unwrap();
    let dir = hostile("hello-source", tmp.path());
    let src = source(
        &runtime(),
        &dir,
        &["fs-read"],
        PathContext::with_home(tmp.path()),
    );
    let list = src.list().unwrap().connections;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].spec.name, "orders-db");
    assert_eq!(list[0].origin.badge, "Hello");
    assert_eq!(list[0].spec.target(), "app@db.internal:5432/orders");

    // A bad line is left out with where and why; the good ones are still listed.
    std::fs::write(
        tmp.path().join(".hello-connections"),
        "orders-db postgres db.internal\nsales-db mysql db.internal 3306 sales app\n",
    )
    .unwrap();
    let listing = src.list().unwrap();
    assert_eq!(listing.connections.len(), 1);
    assert_eq!(listing.connections[0].spec.name, "sales-db");
    assert_eq!(listing.skipped.len(), 1, "{:?}", listing.skipped);
    let skipped = format!("{:?}", listing.skipped[0]);
    assert!(
        skipped.contains(".hello-connections:1") && skipped.contains("expected"),
        "{skipped}"
    );
}

/// A stand-in for the KSM-backed vault: one record, handed out with its secrets in clear, as
/// any `VaultCapability` might: the host must withhold them before the plugin sees them, and
/// the password reaches the host only through `resolve_field`.
struct FakeVault;

/// The secret values the fake vault's record holds; no plugin may see any of them.
const VAULT_SECRETS: [&str; 3] = ["vault-secret", "custom-secret", "pin-1234"];

fn field(field_type: &str, label: Option<&str>, value: &str) -> vault_types::Field {
    vault_types::Field {
        field_type: field_type.into(),
        label: label.map(str::to_string),
        value: value.into(),
        redacted: false,
    }
}

impl keeperdb_wasm_host::VaultCapability for FakeVault {
    fn list_folders(&self) -> Result<Vec<vault_types::Folder>, vault_types::Error> {
        Ok(Vec::new())
    }

    fn list_records(
        &self,
        _folder_uid: Option<&str>,
        _with_links: bool,
    ) -> Result<Vec<vault_types::VaultRecord>, vault_types::Error> {
        Ok(vec![vault_types::VaultRecord {
            uid: "UID123".into(),
            record_type: "databaseCredentials".into(),
            title: "Orders DB".into(),
            folder_uid: None,
            fields: vec![
                field("login", None, r#"["app"]"#),
                field("password", None, r#"["vault-secret"]"#),
            ],
            custom: vec![
                field("text", Some("Database"), r#"["orders"]"#),
                // Secret types match in any case, as the vault matches them.
                field("Secret", Some("api key"), r#"["custom-secret"]"#),
                field("pinCode", None, r#"["pin-1234"]"#),
            ],
            notes: None,
            links: Vec::new(),
        }])
    }

    fn get_records(
        &self,
        uids: &[String],
        with_links: bool,
    ) -> Result<Vec<vault_types::VaultRecord>, vault_types::Error> {
        let all = self.list_records(None, with_links)?;
        Ok(all.into_iter().filter(|r| uids.contains(&r.uid)).collect())
    }

    fn create_folder(&self, _: &str, _: &str) -> Result<String, vault_types::Error> {
        Err(vault_types::Error::Unavailable("read-only fake".into()))
    }

    fn create_record(
        &self,
        _: &str,
        _: &vault_types::NewRecord,
    ) -> Result<String, vault_types::Error> {
        Err(vault_types::Error::Unavailable("read-only fake".into()))
    }

    fn delete_record(&self, _: &str) -> Result<(), vault_types::Error> {
        Err(vault_types::Error::Unavailable("read-only fake".into()))
    }

    fn resolve_field(
        &self,
        record_uid: &str,
        field: &str,
    ) -> Result<secrecy::SecretString, vault_types::Error> {
        match (record_uid, field) {
            ("UID123", "password") => Ok(secrecy::SecretString::from("vault-secret")),
            _ => Err(vault_types::Error::NotFound(format!(
                "{record_uid}/{field}"
            ))),
        }
    }
}

use keeperdb_wasm_host::vault_types;

#[test]
fn vault_capability_is_linked_on_grant_and_field_references_resolve_host_side() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = hostile("vault-probe", tmp.path());
    let rt = runtime();

    // Asked for but not granted: refused at load, naming the capability.
    let err = LoadedPlugin::load(&rt, &dir, options(&["http"], PathContext::default()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`keeper-vault`"), "{err}");

    // Granted, but no vault attached: a clear error, not a trap.
    let src = source(&rt, &dir, &["keeper-vault", "http"], PathContext::default());
    let err = src.list().unwrap_err().to_string();
    assert!(err.contains("no Keeper vault is attached"), "{err}");

    let mut opts = options(&["keeper-vault", "http"], PathContext::default());
    opts.vault = Some(Arc::new(FakeVault));
    let src = WasmSource::new(Arc::new(LoadedPlugin::load(&rt, &dir, opts).unwrap())).unwrap();
    let list = src.list().unwrap().connections;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].spec.name, "Orders DB");
    assert_eq!(list[0].origin.badge, "Vault");
    assert_eq!(
        list[0].spec.environment, None,
        "the secret field reached the plugin"
    );
    // What the plugin saw of the record, listed and fetched by UID: the plain fields, and
    // no secret value anywhere.
    let seen = list[0].spec.database.clone().unwrap_or_default();
    assert!(
        seen.contains(r#"login=["app"]"#) && seen.contains(r#"text=["orders"]"#),
        "{seen}"
    );
    assert!(seen.contains("password=[]"), "{seen}");
    let everything = format!("{list:?}");
    for secret in VAULT_SECRETS {
        assert!(
            !everything.contains(secret),
            "{secret} reached the plugin: {seen}"
        );
    }
    let creds = src.credentials(&list[0]).unwrap();
    assert_eq!(creds.expose_password(), Some("vault-secret"));

    // http: only granted hosts, https only; this host has no HTTP client yet.
    let mut c = list[0].clone();
    for (url, expected) in [
        ("https://evil.example/steal", "outside this plugin's grant"),
        ("http://api.example.com/x", "outside this plugin's grant"),
        (
            "https://api.example.com/x",
            "does not implement outgoing requests",
        ),
    ] {
        c.spec.name = format!("http:{url}");
        let err = src.credentials(&c).unwrap_err().to_string();
        assert!(err.contains(expected), "{url}: {err}");
    }
}

/// A plugin directory as an older SDK built it (`tests/fixtures/api-MINOR`, committed, never
/// rebuilt), copied so the test may write beside it.
fn older_api_plugin(api: &str, id: &str, into: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("api-{api}"))
        .join(id);
    let dir = into.join(format!("{api}-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["plugin.toml", "payload.wasm"] {
        std::fs::copy(from.join(file), dir.join(file)).unwrap();
    }
    dir
}

#[test]
fn api_0_1_plugins_keep_working() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = runtime();

    // A 0.1.0 file source: loads, and lists and looks up as it always did.
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    write_private(
        &home.join(".pgpass"),
        "db.example:5433:orders:app:pw-from-0.1\n",
        0o600,
    );
    let dir = older_api_plugin("0.1", "pgpass", tmp.path());
    let opts = options(&["fs-read"], PathContext::with_home(&home));
    let plugin = Arc::new(LoadedPlugin::load(&rt, &dir, opts).unwrap());
    assert_eq!(plugin.api_version(), &semver::Version::new(0, 1, 0));
    let src = WasmSource::new(plugin).unwrap();
    let list = src.list().unwrap();
    assert!(list.skipped.is_empty());
    let c = by_name(&list.connections, "app@db.example:5433/orders");
    assert_eq!(c.spec.port, Some(5433));
    assert_eq!(
        src.credentials(c).unwrap().expose_password(),
        Some("pw-from-0.1")
    );

    // A 0.1.0 vault source: keeper-vault 0.1.0 is linked beside 0.2.0, and its field
    // references still resolve host-side.
    let dir = older_api_plugin("0.1", "vault-probe", tmp.path());
    let mut opts = options(&["keeper-vault", "http"], PathContext::default());
    opts.vault = Some(Arc::new(FakeVault));
    let plugin = Arc::new(LoadedPlugin::load(&rt, &dir, opts).unwrap());
    assert_eq!(plugin.api_version(), &semver::Version::new(0, 1, 0));
    let src = WasmSource::new(plugin).unwrap();
    let list = src.list().unwrap().connections;
    assert_eq!(list.len(), 1);
    // The 0.1.0 probe marks the connection when a password field arrives unredacted.
    assert_eq!(
        list[0].spec.environment, None,
        "a secret reached the 0.1.0 plugin"
    );
    let everything = format!("{list:?}");
    for secret in VAULT_SECRETS {
        assert!(
            !everything.contains(secret),
            "{secret} reached the 0.1.0 plugin"
        );
    }
    assert_eq!(
        src.credentials(&list[0]).unwrap().expose_password(),
        Some("vault-secret")
    );
}

#[test]
fn api_0_3_plugins_keep_working() {
    use keeperdb_model::storage::{ItemKind, NewItem, StorageBackend};
    use keeperdb_wasm_host::WasmStorage;

    let tmp = tempfile::tempdir().unwrap();
    let rt = runtime();

    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    write_private(
        &home.join(".pgpass"),
        "db3.example:5432:sales:app:pw-from-0.3\n",
        0o600,
    );
    let dir = older_api_plugin("0.3", "pgpass", tmp.path());
    let opts = options(&["fs-read"], PathContext::with_home(&home));
    let plugin = Arc::new(LoadedPlugin::load(&rt, &dir, opts).unwrap());
    assert_eq!(plugin.api_version(), &semver::Version::new(0, 3, 0));
    let src = WasmSource::new(plugin).unwrap();
    let list = src.list().unwrap();
    let c = by_name(&list.connections, "app@db3.example:5432/sales");
    assert_eq!(
        src.credentials(c).unwrap().expose_password(),
        Some("pw-from-0.3")
    );

    // A 0.3.0 storage backend keeps working beside the 0.4.0 bindings.
    let dir = older_api_plugin("0.3", "memory-storage", tmp.path());
    let plugin = LoadedPlugin::load(&rt, &dir, options(&[], PathContext::default())).unwrap();
    assert_eq!(plugin.api_version(), &semver::Version::new(0, 3, 0));
    let storage = WasmStorage::new(Arc::new(plugin)).unwrap();
    let item = NewItem {
        local_id: "a".into(),
        kind: ItemKind::Preferences,
        payload: "{\"theme\":\"dark\"}".into(),
        secret: None,
    };
    let remote = storage.put(&item).unwrap();
    let list = storage.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].remote_ref, remote);
    assert_eq!(list[0].payload, item.payload);
    storage.remove(&remote).unwrap();
    assert!(storage.list().unwrap().is_empty());
}

#[test]
fn the_imports_of_a_real_component_are_read_without_compiling_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bundled("pgpass", tmp.path());
    let manifest = Manifest::load(&dir).unwrap();
    let bytes = manifest.read_verified_payload(&dir).unwrap();
    let surface = keeperdb_wasm_host::read_surface(&bytes).unwrap();
    assert!(
        surface
            .imports
            .iter()
            .any(|i| i.starts_with("keeperdb:plugin/fs-read@")),
        "{surface:?}"
    );
    assert!(
        surface
            .exports
            .iter()
            .any(|e| e.starts_with("keeperdb:plugin/source@")),
        "{surface:?}"
    );
    let report = keeperdb_wasm_host::check_imports(&manifest, &bytes).unwrap();
    assert!(report.capabilities.contains("fs-read"), "{report:?}");
    assert!(report.unused_requests(&manifest).is_empty());
}
