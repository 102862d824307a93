//! Benchmark (not a test): cold and warm start of a WASM plugin, and listing 1,000
//! connections through the pgpass plugin beside the same parse + mapping in native Rust.
//!
//! `cargo xtask build-plugins && KEEPERDB_BUNDLED_PLUGINS_DIR=$PWD/target/debug/bundled-plugins \
//!   cargo bench -p keeperdb-wasm-host --bench wasm_plugins`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keeperdb_model::source::ConnectionSource;
use keeperdb_model::{Connection, ConnectionId, Engine, Origin, TlsMode};
use keeperdb_wasm_host::{LoadOptions, LoadedPlugin, PathContext, WasmRuntime, WasmSource};

// The plugin's own parser, compiled natively: the same crate the WASM plugin runs.
use keeperdb_pgpass as pgpass;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn options(home: &Path) -> LoadOptions {
    LoadOptions {
        granted: ["fs-read".to_string()].into_iter().collect(),
        paths: Arc::new(PathContext::with_home(home)),
        vault: None,
        progress: None,
        compiled: None,
    }
}

/// What the plugin does in `list-connections`, then what the host does with the answer.
fn native_list(path: &Path) -> Vec<Connection> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).unwrap();
    assert!(meta.is_file() && !pgpass::insecure_mode(meta.permissions().mode()));
    let text = std::fs::read_to_string(path).unwrap();
    let (entries, _) = pgpass::parse(&text);
    let origin = Origin {
        source: "pgpass".into(),
        badge: "pgpass".into(),
        vault: None,
    };
    let mut out: Vec<Connection> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for e in entries.iter().filter(|e| !e.host.is_wildcard()) {
        let port = match &e.port {
            pgpass::Field::Any => None,
            pgpass::Field::Value(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => continue,
            },
        };
        let key = e.key();
        if !seen.insert(key.clone()) {
            continue;
        }
        let id = ConnectionId::from_string(format!("pgpass:{key}"));
        let c = Connection {
            id,
            spec: keeperdb_model::ConnectionSpec {
                name: e.display_name(),
                engine: Engine::POSTGRES,
                host: e.host.value().map(str::to_string),
                port,
                database: e.database.value().map(str::to_string),
                user: e.user.value().map(str::to_string),
                tls: TlsMode::Prefer,
                read_only: false,
                environment: None,
                color: None,
                options: Default::default(),
            },
            origin: origin.clone(),
        };
        c.spec.validate().unwrap();
        out.push(c);
    }
    out
}

fn main() {
    let plugins = PathBuf::from(std::env::var_os("KEEPERDB_BUNDLED_PLUGINS_DIR").expect(
        "KEEPERDB_BUNDLED_PLUGINS_DIR is not set: run `cargo xtask build-plugins` and point it at target/debug/bundled-plugins",
    ));
    let dir = plugins.join("pgpass");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!(
            "db{i}.example.internal:{}:app_{i}:user{i}:secret\\:{i}\n",
            5432 + (i % 7)
        ));
    }
    let pgpass_path = home.join(".pgpass");
    std::fs::write(&pgpass_path, &text).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pgpass_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let t = Instant::now();
    let rt = WasmRuntime::new(Some(tmp.path().join("cache"))).unwrap();
    let engine_time = t.elapsed();

    // Cold: compile (each run gets an empty cache of its own).
    let mut cold = Vec::new();
    for i in 0..5 {
        let rt = WasmRuntime::new(Some(tmp.path().join(format!("cold-cache-{i}")))).unwrap();
        let t = Instant::now();
        let plugin = LoadedPlugin::load(&rt, &dir, options(&home)).unwrap();
        plugin.instantiate().unwrap();
        cold.push(t.elapsed());
    }

    // Populate the shared cache, then warm starts: verify sha256, map cached code, link,
    // instantiate.
    // The digest the first load recorded is what lets later loads trust the cache entry.
    let first = LoadedPlugin::load(&rt, &dir, options(&home)).unwrap();
    let mut warm_options = options(&home);
    warm_options.compiled = first.compiled_digest().map(str::to_string);
    let mut warm = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let plugin = LoadedPlugin::load(&rt, &dir, warm_options.clone()).unwrap();
        plugin.instantiate().unwrap();
        warm.push(t.elapsed());
    }

    let plugin = Arc::new(LoadedPlugin::load(&rt, &dir, options(&home)).unwrap());
    plugin.instantiate().unwrap();
    let source = WasmSource::new(plugin).unwrap();
    let native_result = native_list(&pgpass_path);
    let wasm_result = source.list().unwrap().connections;
    assert_eq!(native_result.len(), 1000);
    assert_eq!(
        wasm_result, native_result,
        "the WASM and native mappings must agree"
    );

    let mut wasm = Vec::new();
    let mut native = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let list = source.list().unwrap().connections;
        wasm.push(t.elapsed());
        assert_eq!(list.len(), 1000);
        let t = Instant::now();
        let list = native_list(&pgpass_path);
        native.push(t.elapsed());
        assert_eq!(list.len(), 1000);
    }
    let (w, n) = (median(wasm), median(native));
    println!("engine creation:                  {}", ms(engine_time));
    println!(
        "cold start (compile+instantiate): {} (median of 5)",
        ms(median(cold))
    );
    println!(
        "warm start (cache+instantiate):   {} (median of 30; target < 10 ms)",
        ms(median(warm))
    );
    println!("list 1,000 via WASM pgpass:       {} (median of 50)", ms(w));
    println!("list 1,000 native, same mapping:  {} (median of 50)", ms(n));
    println!(
        "WASM / native:                    {:.2}x (target within 2x)",
        w.as_secs_f64() / n.as_secs_f64()
    );
}
