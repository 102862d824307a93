//! Checking what a component imports before anything compiles it: the names are read from the
//! binary with wasmparser (nested core modules are skipped, not parsed), so a component that
//! imports WASI or a capability its manifest does not ask for is refused in milliseconds,
//! however large it is, with one message naming every such import.

use std::collections::BTreeSet;

use keeperdb_model::capability;
use keeperdb_model::manifest::Manifest;
use wasmparser::{Chunk, Encoding, Parser, Payload};

use crate::WasmError;

/// The WIT package every plugin interface belongs to.
pub(crate) const PACKAGE: &str = "keeperdb:plugin";

/// The top-level import and export names of a component, as written in its binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentSurface {
    /// Import names (`keeperdb:plugin/log@0.4.0`, `wasi:io/streams@0.2.3`, ...).
    pub imports: Vec<String>,
    /// Export names (`keeperdb:plugin/source@0.4.0`, ...).
    pub exports: Vec<String>,
}

/// What a component's imports ask of keeperdb, once checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Capabilities needing consent that the component imports (`fs-read`, `http`, ...).
    pub capabilities: BTreeSet<&'static str>,
}

impl ImportReport {
    /// Capabilities the manifest asks for but the component never imports: asking for them
    /// would have the user grant rights the plugin cannot use.
    pub fn unused_requests(&self, manifest: &Manifest) -> Vec<String> {
        manifest
            .capabilities
            .keys()
            .filter(|name| capability::GRANTABLE.contains(&name.as_str()))
            .filter(|name| !self.capabilities.contains(name.as_str()))
            .cloned()
            .collect()
    }
}

/// An import keeperdb refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusedImport {
    /// Not a keeperdb interface at all (WASI, another package), or an unknown keeperdb one.
    NotProvided {
        /// The import name.
        import: String,
    },
    /// A keeperdb capability the manifest does not ask for.
    NotRequested {
        /// The import name.
        import: String,
        /// The capability it belongs to.
        capability: &'static str,
    },
}

/// `keeperdb:plugin/<interface>@<version>` split into its parts.
pub(crate) fn parse_name(name: &str) -> Option<(&str, Option<&str>)> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    Some(match rest.split_once('@') {
        Some((iface, version)) => (iface, Some(version)),
        None => (rest, None),
    })
}

/// Whether this host serves a plugin built against `found`: something semver-compatible and
/// at least as new (a plugin may use functions added in its minor).
pub(crate) fn api_served(found: &semver::Version) -> bool {
    semver::VersionReq::parse(&format!("^{found}"))
        .is_ok_and(|req| keeperdb_model::served_api_matching(&req).is_some())
}

/// Read a component's top-level imports and exports without compiling or validating it.
/// Fails when the bytes are not a component (a core module, or not WebAssembly).
pub fn read_surface(bytes: &[u8]) -> Result<ComponentSurface, String> {
    let mut surface = ComponentSurface::default();
    let mut parser = Parser::new(0);
    // Where the parser is in `bytes` (payload ranges are offsets in `bytes` too).
    let mut pos = 0usize;
    loop {
        let data = bytes.get(pos..).unwrap_or_default();
        let (payload, consumed) = match parser.parse(data, true).map_err(|e| e.to_string())? {
            Chunk::Parsed { payload, consumed } => (payload, consumed),
            Chunk::NeedMoreData(_) => return Err("the file ends in the middle of a section".into()),
        };
        match payload {
            Payload::Version { encoding, .. } if encoding != Encoding::Component => {
                return Err(
                    "it is a core WebAssembly module, not a component; turn it into one \
                     (wit-component's ComponentEncoder, `wasm-tools component new`, or \
                     `cargo xtask build-plugins` for a Rust plugin)"
                        .into(),
                );
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    let import = import.map_err(|e| e.to_string())?;
                    surface.imports.push(import.name.full_name().into_owned());
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| e.to_string())?;
                    surface.exports.push(export.name.full_name().into_owned());
                }
            }
            // Nested modules and components: step over their bytes unparsed, so a 12 MB JS
            // engine costs nothing here.
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                pos = usize::try_from(unchecked_range.end).map_err(|e| e.to_string())?;
                continue;
            }
            Payload::End(_) => break,
            _ => {}
        }
        pos += consumed;
    }
    Ok(surface)
}

/// Check a component's imports against what keeperdb provides and what `manifest` asks for,
/// before any compile: every refused import is named in one error. A keeperdb import or export
/// built for a host API this keeperdb does not serve is refused as
/// [`WasmError::IncompatibleApi`].
pub fn check_imports(manifest: &Manifest, bytes: &[u8]) -> Result<ImportReport, WasmError> {
    let plugin = || manifest.id.clone();
    let surface = read_surface(bytes).map_err(|message| WasmError::NotAComponent {
        plugin: plugin(),
        message,
    })?;

    for name in surface.imports.iter().chain(&surface.exports) {
        if let Some((_, Some(version))) = parse_name(name)
            && let Ok(found) = semver::Version::parse(version)
            && !api_served(&found)
        {
            return Err(WasmError::IncompatibleApi {
                plugin: plugin(),
                name: name.clone(),
                found: found.to_string(),
                served: keeperdb_model::served_api_list(),
            });
        }
    }

    let mut report = ImportReport::default();
    let mut refused = Vec::new();
    for name in &surface.imports {
        let cap = parse_name(name)
            .filter(|(_, version)| version.is_some_and(|v| semver::Version::parse(v).is_ok()))
            .and_then(|(iface, _)| capability::of_interface(iface));
        match cap {
            None => refused.push(RefusedImport::NotProvided {
                import: name.clone(),
            }),
            Some(cap) if capability::GRANTABLE.contains(&cap) => {
                report.capabilities.insert(cap);
                if !manifest.capabilities.contains_key(cap) {
                    refused.push(RefusedImport::NotRequested {
                        import: name.clone(),
                        capability: cap,
                    });
                }
            }
            // log, progress and types are always provided.
            Some(_) => {}
        }
    }
    if refused.is_empty() {
        Ok(report)
    } else {
        Err(WasmError::RefusedImports {
            plugin: plugin(),
            refused,
        })
    }
}

/// The message for [`WasmError::RefusedImports`]: every import, grouped by reason, and how to
/// fix each group.
pub(crate) fn describe_refused(plugin: &str, refused: &[RefusedImport]) -> String {
    let mut not_provided = Vec::new();
    let mut not_requested = Vec::new();
    for r in refused {
        match r {
            RefusedImport::NotProvided { import } => not_provided.push(format!("`{import}`")),
            RefusedImport::NotRequested { import, capability } => {
                not_requested.push(format!("`{import}` (capability `{capability}`)"))
            }
        }
    }
    let mut text = format!("plugin `{plugin}` was refused before compiling it:");
    if !not_provided.is_empty() {
        text.push_str(&format!(
            " it imports {} interface(s) keeperdb does not provide: {}; plugins get capabilities \
             only through {PACKAGE} imports",
            not_provided.len(),
            not_provided.join(", ")
        ));
        if not_provided.iter().any(|i| i.starts_with("`wasi:")) {
            text.push_str(
                ". Build it with WASI disabled: componentize-js with `--disable all` (jco \
                 componentize) or `disableFeatures: [\"stdio\", \"random\", \"clocks\", \"http\", \
                 \"fetch-event\"]`; Rust for wasm32-unknown-unknown, not wasm32-wasip1/wasip2",
            );
        }
    }
    if !not_requested.is_empty() {
        if !not_provided.is_empty() {
            text.push(';');
        }
        text.push_str(&format!(
            " it imports {}, which its plugin.toml does not ask for; add them under \
             [capabilities] or build against a world that does not import them",
            not_requested.join(", ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use keeperdb_model::manifest::{MANIFEST_FILE, sha256_hex};

    use super::*;
    use crate::testing::component_importing;
    use crate::{LoadOptions, LoadedPlugin, WasmRuntime};

    /// What componentize-js puts in a component built with its WASI features on (a sample).
    const WASI: [&str; 4] = [
        "wasi:cli/environment@0.2.3",
        "wasi:io/streams@0.2.3",
        "wasi:clocks/monotonic-clock@0.2.3",
        "wasi:random/random@0.2.3",
    ];
    const LOG: &str = "keeperdb:plugin/log@0.4.0";
    const FS_READ: &str = "keeperdb:plugin/fs-read@0.4.0";
    const HTTP: &str = "keeperdb:plugin/http@0.4.0";

    fn manifest_text(sha256: &str, capabilities: &str) -> String {
        format!(
            "id = \"demo\"\nversion = \"0.1.0\"\nkind = \"connection-source\"\napi = \"^0.4\"\n\
             payload = \"plugin.wasm\"\nsha256 = \"{sha256}\"\n{capabilities}"
        )
    }

    fn manifest(capabilities: &str) -> Manifest {
        Manifest::parse(
            &manifest_text(&"0".repeat(64), capabilities),
            Path::new("t"),
        )
        .unwrap()
    }

    const ASKS_FS_READ: &str = "[capabilities.fs-read]\npaths = [\"~/.pgpass\"]\n";

    #[test]
    fn every_wasi_import_is_named_in_one_message_that_says_to_build_without_wasi() {
        let mut imports = WASI.to_vec();
        imports.push(LOG);
        let bytes = component_importing(&imports, 0);
        let err = check_imports(&manifest(""), &bytes).unwrap_err();
        assert_eq!(err.kind(), "refused-imports");
        let text = err.to_string();
        for name in WASI {
            assert!(text.contains(&format!("`{name}`")), "{text}");
        }
        assert!(!text.contains(LOG), "log is provided: {text}");
        assert!(
            text.contains("4 interface(s)") && text.contains("--disable all"),
            "{text}"
        );
        assert!(text.contains("wasm32-unknown-unknown"), "{text}");
    }

    #[test]
    fn a_capability_import_the_manifest_does_not_ask_for_is_refused_naming_it() {
        let bytes = component_importing(&[LOG, FS_READ, HTTP], 0);
        let err = check_imports(&manifest(ASKS_FS_READ), &bytes).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("`{HTTP}` (capability `http`)"))
                && text.contains("does not ask for"),
            "{text}"
        );
        assert!(!text.contains("fs-read"), "fs-read was asked for: {text}");
        assert!(!text.contains("WASI"), "{text}");
    }

    #[test]
    fn wasi_and_unrequested_imports_are_reported_together() {
        let bytes = component_importing(&[WASI[0], HTTP], 0);
        let WasmError::RefusedImports { refused, .. } =
            check_imports(&manifest(""), &bytes).unwrap_err()
        else {
            panic!("not RefusedImports")
        };
        assert_eq!(
            refused,
            vec![
                RefusedImport::NotProvided {
                    import: WASI[0].into()
                },
                RefusedImport::NotRequested {
                    import: HTTP.into(),
                    capability: "http"
                },
            ]
        );
    }

    #[test]
    fn capabilities_asked_for_but_never_imported_are_reported_as_unused() {
        let bytes = component_importing(&[LOG], 0);
        let report = check_imports(&manifest(ASKS_FS_READ), &bytes).unwrap();
        assert!(report.capabilities.is_empty());
        assert_eq!(report.unused_requests(&manifest(ASKS_FS_READ)), ["fs-read"]);

        let bytes = component_importing(&[LOG, FS_READ], 0);
        let report = check_imports(&manifest(ASKS_FS_READ), &bytes).unwrap();
        assert_eq!(report.capabilities, BTreeSet::from(["fs-read"]));
        assert!(report.unused_requests(&manifest(ASKS_FS_READ)).is_empty());
    }

    #[test]
    fn an_unserved_api_version_is_refused_as_incompatible_before_compiling() {
        let bytes = component_importing(&["keeperdb:plugin/log@1.0.0"], 0);
        let err = check_imports(&manifest(""), &bytes).unwrap_err();
        assert_eq!(err.kind(), "incompatible-api", "{err}");
        // An unversioned keeperdb import is not something the host links.
        let bytes = component_importing(&["keeperdb:plugin/log"], 0);
        let err = check_imports(&manifest(""), &bytes).unwrap_err();
        assert_eq!(err.kind(), "refused-imports", "{err}");
    }

    #[test]
    fn a_core_module_or_garbage_is_refused_as_not_a_component() {
        let err = check_imports(&manifest(""), b"\0asm\x01\0\0\0").unwrap_err();
        assert_eq!(err.kind(), "not-a-component");
        assert!(err.to_string().contains("core WebAssembly module"), "{err}");
        let err = check_imports(&manifest(""), b"not wasm at all").unwrap_err();
        assert_eq!(err.kind(), "not-a-component", "{err}");
        let truncated = &component_importing(&[LOG], 0)[..12];
        assert!(check_imports(&manifest(""), truncated).is_err());
    }

    #[test]
    fn imports_are_read_past_a_large_nested_module_without_parsing_it() {
        // ~6 MB of code: a compile would take seconds in a debug build.
        let bytes = component_importing(&[LOG, WASI[1]], 100_000);
        assert!(bytes.len() > 4 << 20, "{}", bytes.len());
        let start = Instant::now();
        let surface = read_surface(&bytes).unwrap();
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(surface.imports, [LOG, WASI[1]]);
    }

    #[test]
    fn loading_a_large_component_that_imports_wasi_fails_in_well_under_a_second() {
        let tmp = tempfile::tempdir().unwrap();
        let mut imports = WASI.to_vec();
        imports.push(LOG);
        let bytes = component_importing(&imports, 100_000);
        std::fs::write(tmp.path().join("plugin.wasm"), &bytes).unwrap();
        std::fs::write(
            tmp.path().join(MANIFEST_FILE),
            manifest_text(&sha256_hex(&bytes), ""),
        )
        .unwrap();
        let runtime = WasmRuntime::new(None).unwrap();
        let start = Instant::now();
        let err = LoadedPlugin::load(&runtime, tmp.path(), LoadOptions::granted::<_, String>([]))
            .unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.kind(), "refused-imports", "{err}");
        assert!(took < Duration::from_secs(1), "took {took:?}");
    }
}

#[cfg(test)]
mod figures {
    use std::time::Instant;

    use crate::testing::component_importing;

    /// Figures, not a check: `cargo nextest run -p keeperdb-wasm-host --run-ignored only
    /// figures --no-capture` prints how long reading the imports takes next to a compile.
    #[test]
    #[ignore = "prints timings; run on demand"]
    fn import_check_against_compile_of_a_large_component() {
        let bytes = component_importing(&["keeperdb:plugin/log@0.4.0"], 10_000);
        let start = Instant::now();
        super::read_surface(&bytes).unwrap();
        let read = start.elapsed();
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        let engine = wasmtime::Engine::new(&config).unwrap();
        let start = Instant::now();
        let compiled = wasmtime::component::Component::from_binary(&engine, &bytes);
        let compile = start.elapsed();
        println!(
            "component of {} bytes: imports read in {read:?}, compiled in {compile:?} ({})",
            bytes.len(),
            if compiled.is_ok() { "ok" } else { "failed" }
        );
    }
}
