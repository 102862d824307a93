//! `plugins pack`: turn a plugin directory (or a component with its `plugin.toml` beside it)
//! into a package `plugins install` accepts: the component's imports checked against keeperdb
//! and against the capabilities the manifest asks for (neither less nor more), the payload's
//! sha256 written into `plugin.toml`, and `<id>-<version>.tar.gz` made from the two.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use keeperdb_model::manifest::{MANIFEST_FILE, Manifest, PluginKind, sha256_hex};

use super::{PluginError, io};

/// What [`pack`] made.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The manifest as written, with the payload's sha256.
    pub manifest: Manifest,
    /// The `plugin.toml` that was updated.
    pub manifest_path: PathBuf,
    /// The archive.
    pub archive: PathBuf,
    /// The payload was a core module (as `cargo build` leaves it) and was replaced by the
    /// component encoded from it.
    pub componentized: bool,
}

/// Pack `input` (a directory holding `plugin.toml`, or a component file whose directory holds
/// it) into `<out_dir>/<id>-<version>.tar.gz` (`out_dir` defaults to the plugin's directory).
pub fn pack(input: &Path, out_dir: Option<&Path>) -> Result<Packed, PluginError> {
    let bad = |message: String| PluginError::BadPackage {
        path: input.to_path_buf(),
        message,
    };
    let (dir, payload_override) = if input.is_dir() {
        (input.to_path_buf(), None)
    } else if input.is_file() {
        let name = input
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad("the component's file name is not valid UTF-8".into()))?;
        let dir = match input.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        (dir, Some(name.to_string()))
    } else {
        return Err(bad("no such file or directory".into()));
    };
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = fs::read_to_string(&manifest_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            bad(format!(
                "no {MANIFEST_FILE} in {}: write one (id, version, kind, api, payload, \
                 [capabilities]) or start from `keeperdb plugins new`",
                dir.display()
            ))
        } else {
            io(&manifest_path)(e)
        }
    })?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| PluginError::BadPackage {
        path: manifest_path.clone(),
        message: format!("not valid TOML: {e}"),
    })?;
    if let Some(name) = payload_override {
        table.insert("payload".into(), toml::Value::String(name));
    }
    let payload_name = table
        .get("payload")
        .and_then(|v| v.as_str())
        .ok_or_else(|| PluginError::BadPackage {
            path: manifest_path.clone(),
            message: "it names no `payload` (the component or library file, beside it)".into(),
        })?
        .to_string();
    let payload_path = dir.join(&payload_name);
    let mut payload = fs::read(&payload_path).map_err(io(&payload_path))?;
    let kind = table.get("kind").and_then(|v| v.as_str());
    let componentized =
        kind != Some(PluginKind::Driver.as_str()) && keeperdb_wasm_host::is_core_module(&payload);
    if componentized {
        let id = table.get("id").and_then(|v| v.as_str()).unwrap_or("plugin");
        payload = keeperdb_wasm_host::component_from_module(id, &payload)?;
    }
    table.insert("sha256".into(), toml::Value::String(sha256_hex(&payload)));
    let new_text = toml::to_string_pretty(&table).map_err(|e| PluginError::BadPackage {
        path: manifest_path.clone(),
        message: e.to_string(),
    })?;
    // Everything install checks of a manifest, before anything is written.
    let manifest = Manifest::parse(&new_text, &manifest_path)?;
    manifest.check_api()?;
    for name in manifest.capabilities.keys() {
        if !keeperdb_model::capability::is_known(name) {
            return Err(PluginError::UnknownCapability {
                id: manifest.id.clone(),
                capability: name.clone(),
            });
        }
    }
    if manifest.kind != PluginKind::Driver {
        let report = keeperdb_wasm_host::check_imports(&manifest, &payload)?;
        let unused = report.unused_requests(&manifest);
        if !unused.is_empty() {
            return Err(PluginError::UnusedCapabilities {
                id: manifest.id.clone(),
                capabilities: unused,
            });
        }
    }

    if componentized {
        write_atomic(&payload_path, &payload)?;
    }
    write_atomic(&manifest_path, new_text.as_bytes())?;
    let out_dir = out_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.clone());
    fs::create_dir_all(&out_dir).map_err(io(&out_dir))?;
    let top = format!("{}-{}", manifest.id, manifest.version);
    let archive = out_dir.join(format!("{top}.tar.gz"));
    let tmp = out_dir.join(format!(".{top}.tar.gz.tmp"));
    write_archive(
        &tmp,
        &top,
        &[
            (MANIFEST_FILE, new_text.as_bytes()),
            (&payload_name, &payload),
        ],
    )
    .inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    fs::rename(&tmp, &archive).map_err(io(&archive))?;
    Ok(Packed {
        manifest,
        manifest_path,
        archive,
        componentized,
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// `path`: a gzipped tar of `files` under the directory `top`.
fn write_archive(path: &Path, top: &str, files: &[(&str, &[u8])]) -> Result<(), PluginError> {
    let file = File::create(path).map_err(io(path))?;
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{top}/{name}"), *bytes)
            .map_err(io(path))?;
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::super::{Consent, PluginStore};
    use super::*;
    use keeperdb_wasm_host::testing::component_importing;

    const LOG: &str = "keeperdb:plugin/log@0.4.0";
    const FS_READ: &str = "keeperdb:plugin/fs-read@0.4.0";

    /// A plugin directory with a hand-written manifest (no sha256) asking for `capabilities`,
    /// and a component importing `imports`.
    fn plugin_dir(root: &Path, imports: &[&str], capabilities: &str) -> PathBuf {
        let dir = root.join("demo");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("demo.wasm"), component_importing(imports, 0)).unwrap();
        fs::write(
            dir.join(MANIFEST_FILE),
            format!(
                "id = \"demo\"\nversion = \"0.2.0\"\nkind = \"connection-source\"\n\
                 api = \"^0.4\"\npayload = \"demo.wasm\"\n{capabilities}"
            ),
        )
        .unwrap();
        dir
    }

    const ASKS_FS_READ: &str = "[capabilities.fs-read]\npaths = [\"~/.pgpass\"]\n";

    #[test]
    fn a_packed_directory_gets_its_sha256_and_installs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = plugin_dir(tmp.path(), &[LOG, FS_READ], ASKS_FS_READ);
        let packed = pack(&dir, Some(&tmp.path().join("out"))).unwrap();
        assert_eq!(packed.archive, tmp.path().join("out/demo-0.2.0.tar.gz"));
        let written = Manifest::load(&dir).unwrap();
        written.read_verified_payload(&dir).unwrap();

        let store = PluginStore::at(tmp.path().join("plugins"));
        let staged = store.stage(&packed.archive).unwrap();
        assert_eq!(staged.manifest.sha256, written.sha256);
        let entry = store
            .install(
                staged,
                Consent {
                    capabilities: true,
                    publisher: true,
                },
            )
            .unwrap();
        assert_eq!(entry.id, "demo");
    }

    #[test]
    fn packing_a_component_file_uses_the_manifest_beside_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = plugin_dir(tmp.path(), &[LOG], "");
        fs::write(dir.join("other.wasm"), component_importing(&[LOG], 0)).unwrap();
        let packed = pack(&dir.join("other.wasm"), None).unwrap();
        assert_eq!(packed.manifest.payload, "other.wasm");
        assert_eq!(packed.archive, dir.join("demo-0.2.0.tar.gz"));
    }

    #[test]
    fn a_manifest_asking_for_more_than_the_component_imports_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = plugin_dir(tmp.path(), &[LOG], ASKS_FS_READ);
        let before = fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
        let err = pack(&dir, None).unwrap_err();
        assert_eq!(err.kind(), "unused-capabilities", "{err}");
        assert!(err.to_string().contains("`fs-read`"), "{err}");
        // Nothing written.
        assert_eq!(fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap(), before);
        assert!(!dir.join("demo-0.2.0.tar.gz").exists());
    }

    #[test]
    fn a_manifest_asking_for_less_than_the_component_imports_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = plugin_dir(tmp.path(), &[LOG, FS_READ], "");
        let err = pack(&dir, None).unwrap_err().to_string();
        assert!(
            err.contains(FS_READ) && err.contains("does not ask for"),
            "{err}"
        );
    }

    #[test]
    fn a_component_importing_wasi_is_refused_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = plugin_dir(tmp.path(), &[LOG, "wasi:cli/stdout@0.2.3"], "");
        let err = pack(&dir, None).unwrap_err().to_string();
        assert!(
            err.contains("wasi:cli/stdout@0.2.3") && err.contains("--disable all"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_manifest_says_how_to_start_one() {
        let tmp = tempfile::tempdir().unwrap();
        let err = pack(tmp.path(), None).unwrap_err().to_string();
        assert!(err.contains("plugins new"), "{err}");
    }
}
