//! Bindings of `keeperdb:plugin@0.2.0` (sdk/wit/0.2): the generated worlds, and the host
//! code every minor shares (`../shared`) compiled against them, plus this minor's own
//! `keeper-vault`. Storage backends need 0.3.0, so only the source world is bound here.

/// The `connection-source` world; also the home of the shared imports.
pub(crate) mod source_world {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/0.2",
        world: "connection-source",
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
#[allow(clippy::duplicate_mod)]
#[path = "../shared/plain_new_record.rs"]
mod plain_new_record;
mod vault;

pub(crate) use exports::SourceExports;
pub(crate) use imports::{
    add_fs_read_to_linker, add_http_to_linker, add_keeper_vault_to_linker, add_log_to_linker,
    add_progress_to_linker, add_types_to_linker,
};

use source_world::keeperdb::plugin::{fs_read, http, keeper_vault, log, progress, types};
