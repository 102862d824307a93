//! Bindings of `keeperdb:plugin@0.3.0` (sdk/wit/0.3): the generated worlds,
//! the host code every minor shares (`../shared`) compiled against them, this minor's own
//! `keeper-vault` (secret handles in new fields), and the storage backend world, whose items
//! carry their secrets by reference. 0.4.0 compiles this
//! minor's `keeper-vault` and storage code too: its interfaces are the same.

/// The `connection-source` world; also the home of the shared imports.
pub(crate) mod source_world {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/0.3",
        world: "connection-source",
    });
}

/// The `storage-backend` world, reusing the imports generated above.
pub(crate) mod storage_world {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/0.3",
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

// The shared host code is compiled once per minor on purpose: each copy binds to that minor's
// generated types through `super::`.
#[allow(clippy::duplicate_mod)]
#[path = "../shared/convert.rs"]
mod convert;
#[allow(clippy::duplicate_mod)]
#[path = "../shared/exports.rs"]
mod exports;
#[allow(clippy::duplicate_mod)]
#[path = "../shared/imports.rs"]
mod imports;
#[allow(clippy::duplicate_mod)]
#[path = "../shared/linked_records.rs"]
mod linked_records;
mod storage;
mod vault;

pub(crate) use exports::SourceExports;
pub(crate) use imports::{
    add_fs_read_to_linker, add_http_to_linker, add_keeper_vault_to_linker, add_log_to_linker,
    add_progress_to_linker, add_types_to_linker,
};
pub(crate) use storage::StorageExports;

use source_world::keeperdb::plugin::{fs_read, http, keeper_vault, log, progress, types};
