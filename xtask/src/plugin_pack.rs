//! Packs a built driver library into a plugin directory the host can load:
//! `<target>/<profile>/bundled-plugins/<id>/{plugin.toml, plugin.sig, lib<name>.so}` with the real
//! sha256, signed with the project's key.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// A native driver plugin to pack.
pub struct DriverPlugin<'a> {
    /// Plugin id (`sqlx`).
    pub id: &'a str,
    /// The cdylib's crate name with `-` as `_` (`keeperdb_sqlx_driver`).
    pub lib_name: &'a str,
    /// One-line description.
    pub description: &'a str,
    /// The `[[engines]]` it declares: the engine id, its URL schemes, its default port.
    pub engines: &'a [(&'a str, &'a [&'a str], Option<u16>)],
}

/// The first-party drivers this workspace builds.
pub const FIRST_PARTY_DRIVERS: &[DriverPlugin<'static>] = &[DriverPlugin {
    id: "sqlx-driver",
    lib_name: "keeperdb_sqlx_driver",
    description: "PostgreSQL, MySQL/MariaDB and SQLite through sqlx",
    engines: &[
        ("postgres", &["postgres", "postgresql"], Some(5432)),
        ("mysql", &["mysql"], Some(3306)),
        ("mariadb", &["mariadb"], Some(3306)),
        ("sqlite", &["sqlite"], None),
    ],
}];

/// Pack `plugin` from `profile_dir` (e.g. `target/debug`); returns the plugin directory.
pub fn pack_driver(profile_dir: &Path, plugin: &DriverPlugin<'_>) -> Result<PathBuf> {
    let file = format!("lib{}.so", plugin.lib_name);
    let built = profile_dir.join(&file);
    let bytes = fs::read(&built).with_context(|| {
        format!(
            "{} not found: build it first (cargo build -p {})",
            built.display(),
            plugin.lib_name.replace('_', "-")
        )
    })?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let dir = profile_dir.join("bundled-plugins").join(plugin.id);
    fs::create_dir_all(&dir)?;
    let payload = dir.join(&file);
    let tmp = dir.join(format!(".{file}.tmp"));
    fs::write(&tmp, &bytes)?;
    fs::rename(&tmp, &payload)?;
    let mut manifest = format!(
        "id = \"{id}\"\nversion = \"{version}\"\nkind = \"driver\"\napi = \"^0.4\"\npayload = \"{file}\"\nsha256 = \"{sha}\"\ndescription = \"{desc}\"\n",
        id = plugin.id,
        version = env!("CARGO_PKG_VERSION"),
        desc = plugin.description,
    );
    for (engine, schemes, port) in plugin.engines {
        let schemes: Vec<String> = schemes.iter().map(|s| format!("\"{s}\"")).collect();
        manifest.push_str(&format!(
            "\n[[engines]]\nid = \"{engine}\"\nurl_schemes = [{}]\n",
            schemes.join(", ")
        ));
        if let Some(port) = port {
            manifest.push_str(&format!("default_port = {port}\n"));
        }
    }
    let tmp = dir.join(".plugin.toml.tmp");
    fs::write(&tmp, manifest)?;
    fs::rename(&tmp, dir.join("plugin.toml"))?;
    crate::sign::sign_dir(&dir, &crate::sign::seed()?)?;
    Ok(dir)
}
