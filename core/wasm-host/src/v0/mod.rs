//! Everything bound to the `keeperdb:plugin@0.x` WIT package (sdk/wit/v0): the generated
//! bindings of both worlds, the host side of their imports, the calls into their exports and
//! the conversions to the crate's version-neutral types. A future major gets a folder of its
//! own beside this one, served side by side.

mod convert;
mod exports;
mod imports;

pub(crate) use exports::Exports;
pub(crate) use imports::{
    add_fs_read_to_linker, add_http_to_linker, add_keeper_vault_to_linker, add_log_to_linker,
    add_progress_to_linker, add_types_to_linker,
};

/// The `connection-source` world; also the home of the shared imports.
pub(crate) mod source_world {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/v0",
        world: "connection-source",
    });
}

/// The `storage-backend` world, reusing the imports generated above.
pub(crate) mod storage_world {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/v0",
        world: "storage-backend",
        with: {
            "keeperdb:plugin/types": super::source_world::keeperdb::plugin::types,
            "keeperdb:plugin/log": super::source_world::keeperdb::plugin::log,
            "keeperdb:plugin/progress": super::source_world::keeperdb::plugin::progress,
            "keeperdb:plugin/fs-read": super::source_world::keeperdb::plugin::fs_read,
            "keeperdb:plugin/http": super::source_world::keeperdb::plugin::http,
            "keeperdb:plugin/keeper-vault": super::source_world::keeperdb::plugin::keeper_vault,
        },
    });
}

use source_world::keeperdb::plugin::{fs_read, http, keeper_vault, log, progress, types};
use storage_world::exports::keeperdb::plugin::storage;

#[cfg(test)]
mod tests {
    /// The host API version lives in the driver SDK's table header; every WIT file the host
    /// binds must declare the same package version, or a plugin built against the WIT would be
    /// judged against a different version than the one it was built for.
    #[test]
    fn every_wit_header_declares_the_host_api_version() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/wit/v0");
        let expected = format!(
            "package keeperdb:plugin@{};",
            keeperdb_model::HOST_API_VERSION
        );
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "wit") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let header = text
                .lines()
                .find(|l| l.starts_with("package "))
                .unwrap_or_default();
            assert_eq!(header, expected, "{}", path.display());
            seen += 1;
        }
        assert!(
            seen >= 3,
            "the WIT files were not found in {}",
            dir.display()
        );
    }
}
