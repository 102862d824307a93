//! Where the CLI finds drivers and connections. Drivers come from the driver plugins the user
//! installed and enabled (`keeperdb plugins install`), then from the bundle shipped with the
//! binary: `$KEEPERDB_BUNDLED_PLUGINS_DIR`, else `bundled-plugins/` beside the executable (a
//! build tree), else `../lib/keeperdb/plugins` from it (an installed or unpacked release), each
//! subdirectory one plugin with its `plugin.toml`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use keeperdb_core::driver::Driver;
use keeperdb_core::manifest::{Manifest, PluginKind};
use keeperdb_core::plugins::PluginStore;
use keeperdb_core::{Connection, Credentials, Engine};

use crate::app::App;
use crate::exit::{self, Exit};

/// The env var naming the plugin bundle directory.
pub const PLUGIN_DIR_ENV: &str = "KEEPERDB_BUNDLED_PLUGINS_DIR";

/// The directory whose subdirectories are driver plugins.
pub fn plugin_root() -> Result<PathBuf, Exit> {
    if let Some(dir) = std::env::var_os(PLUGIN_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Exit::usage(format!("cannot locate the keeperdb executable: {e}")))?;
    // Through symlinks (`/usr/local/bin/keeperdb -> /opt/keeperdb/bin/keeperdb`) to the tree
    // the binary was installed with.
    let exe = exe.canonicalize().unwrap_or(exe);
    let dir = exe.parent().unwrap_or(Path::new("."));
    let beside = dir.join("bundled-plugins");
    if beside.is_dir() {
        return Ok(beside);
    }
    Ok(dir.join("..").join(INSTALLED_PLUGINS_DIR))
}

/// The bundle's place relative to the installed binary's `bin/` parent (what `cargo xtask
/// install` and `cargo xtask dist` lay out).
const INSTALLED_PLUGINS_DIR: &str = "lib/keeperdb/plugins";

/// Drivers loaded so far (a library is never unloaded, so neither is its driver).
static LOADED: Mutex<Vec<Arc<dyn Driver>>> = Mutex::new(Vec::new());

/// The driver serving `engine`: an installed, enabled driver plugin if one serves it, else
/// one from the bundle (unless the user disabled that plugin id). Loaded on first use.
pub fn driver_for(app: &App, engine: Engine) -> Result<Arc<dyn Driver>, Exit> {
    let mut loaded = LOADED
        .lock()
        .map_err(|_| Exit::usage("driver table poisoned"))?;
    if let Some(d) = loaded.iter().find(|d| d.engines().contains(&engine)) {
        return Ok(d.clone());
    }
    let mut problems = Vec::new();
    let store = PluginStore::for_config(app.store.dir());
    match store.load_enabled_drivers() {
        Ok(found) => {
            problems.extend(
                found
                    .failures
                    .into_iter()
                    .map(|(id, why)| format!("plugin `{id}`: {why}")),
            );
            for driver in found.drivers {
                if !loaded.iter().any(|d| d.id() == driver.id()) {
                    loaded.push(driver);
                }
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    if let Some(d) = loaded.iter().find(|d| d.engines().contains(&engine)) {
        return Ok(d.clone());
    }
    let bundle = bundled_plugins(&mut problems);
    let searched = bundle
        .as_ref()
        .map(|(root, _)| root.display().to_string())
        .unwrap_or_default();
    for (manifest, dir) in bundle.into_iter().flat_map(|(_, dirs)| dirs) {
        if manifest.kind != PluginKind::Driver
            || loaded.iter().any(|d| d.id() == manifest.id)
            || store.is_disabled(&manifest.id)
        {
            continue;
        }
        match keeperdb_core::driver_host::load_with_manifest(&dir, &manifest) {
            Ok(driver) => {
                let serves = driver.engines().contains(&engine);
                loaded.push(driver.clone());
                if serves {
                    return Ok(driver);
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    let mut message = format!(
        "no driver for {engine}: none of the installed driver plugins serves it, nor any in {searched}"
    );
    if !problems.is_empty() {
        message.push_str(" (");
        message.push_str(&problems.join("; "));
        message.push(')');
    }
    message.push_str(
        "; install a driver plugin that serves it with `keeperdb plugins install DIR`, \
         or install keeperdb with its bundled drivers (`cargo xtask install` from a source checkout, \
         or unpack a release archive)",
    );
    Err(Exit::usage(message))
}

/// The plugins in the bundle directory (every kind), if there is one.
pub fn bundled_plugins(problems: &mut Vec<String>) -> Option<(PathBuf, Vec<(Manifest, PathBuf)>)> {
    let root = match plugin_root() {
        Ok(r) => r,
        Err(f) => {
            problems.push(f.message);
            return None;
        }
    };
    let entries = match std::fs::read_dir(&root) {
        Ok(e) => e,
        // No bundle is normal once plugins are installed; say so only if nothing is found.
        Err(_) => return Some((root, Vec::new())),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join(keeperdb_core::manifest::MANIFEST_FILE).is_file())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        match Manifest::load(&dir) {
            Ok(m) => out.push((m, dir)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    Some((root, out))
}

/// Whether a command-line CONN is a URL or a database file rather than a registry name.
pub fn looks_like_url(arg: &str) -> bool {
    let lower = arg.to_ascii_lowercase();
    lower.contains("://")
        || lower.starts_with("sqlite:")
        || [".db", ".sqlite", ".sqlite3", ".db3"]
            .iter()
            .any(|ext| lower.ends_with(ext))
        || arg.starts_with('/')
        || arg.starts_with("./")
}

/// Resolve a CONN argument: a URL (or SQLite file path), else a connection from the registry
/// by id or name, with its credentials fetched now through its source.
pub fn resolve_connection(app: &App, arg: &str) -> Result<(Connection, Credentials), Exit> {
    if looks_like_url(arg) {
        let parsed = keeperdb_core::url::parse_connection_url(arg)
            .map_err(|e| Exit::usage(e.to_string()))?;
        if parsed.password.is_some() {
            eprintln!(
                "keeperdb: warning: a password in a URL on the command line is visible in the process list and shell history; save the connection (`keeperdb connections add URL --ask-password`) instead"
            );
        }
        let credentials = Credentials::new(None, parsed.password);
        return Ok((parsed.connection, credentials));
    }
    let registry = app.registry();
    let connection = registry.find(arg).map_err(|e| {
        Exit::usage(format!(
            "{e} (CONN is a saved connection's name or id, or a URL such as postgres://user@host/db)"
        ))
    })?;
    let credentials = registry.credentials(&connection).map_err(|e| {
        let code = if connection.origin.source == keeperdb_core::model::LOCAL_SOURCE_ID {
            exit::USAGE
        } else {
            exit::VAULT
        };
        Exit::new(
            code,
            format!("cannot get credentials for `{}`: {e}", connection.name),
        )
    })?;
    if credentials.needs_prompt {
        // The user chose to keep no password for this connection: ask for it now.
        let password = crate::password::prompt(&connection.name).map_err(|e| {
            Exit::usage(format!(
                "{e} (`{}` keeps no stored password)",
                connection.name
            ))
        })?;
        return Ok((
            connection,
            Credentials::new(credentials.user, Some(password)),
        ));
    }
    Ok((connection, credentials))
}
