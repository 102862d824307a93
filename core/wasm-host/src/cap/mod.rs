//! The capabilities a plugin can import, one module each: its per-instance state, the
//! version-neutral host logic, and an `add_to_linker` that links exactly that interface.
//! Log and progress are always linked; the others only when granted.

pub(crate) mod fs_read;
pub(crate) mod http;
pub(crate) mod keeper_vault;
pub(crate) mod log;
pub(crate) mod progress;

use keeperdb_model::capability;
use wasmtime::component::Linker;

use crate::host::HostState;
use fs_read::GrantedPath;

/// What one plugin was granted, resolved for this run. `None` means not granted (and then
/// not linked); `Some` holds the scope.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Files it may read.
    pub fs_read: Option<Vec<GrantedPath>>,
    /// Hosts it may reach.
    pub http: Option<Vec<String>>,
    /// Whether it may use the vault.
    pub keeper_vault: bool,
}

impl Grants {
    /// Whether a capability is granted (log and progress always are).
    pub fn has(&self, capability: &str) -> bool {
        match capability {
            capability::LOG | capability::PROGRESS | "types" => true,
            capability::FS_READ => self.fs_read.is_some(),
            capability::HTTP => self.http.is_some(),
            capability::KEEPER_VAULT => self.keeper_vault,
            _ => false,
        }
    }

    /// Names of the granted capabilities beyond log and progress.
    pub fn names(&self) -> Vec<&'static str> {
        capability::GRANTABLE
            .into_iter()
            .filter(|c| self.has(c))
            .collect()
    }
}

/// A linker with log and progress, plus exactly the granted capabilities: what is not granted
/// is not there to call.
pub(crate) fn linker(
    engine: &wasmtime::Engine,
    grants: &Grants,
) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    // The shared types interface has no functions, but components import it all the same.
    crate::v0::add_types_to_linker(&mut linker)?;
    log::add_to_linker(&mut linker, |s| &mut s.log)?;
    progress::add_to_linker(&mut linker, |s| &mut s.progress)?;
    if grants.fs_read.is_some() {
        fs_read::add_to_linker(&mut linker, |s| &mut s.fs_read)?;
    }
    if grants.http.is_some() {
        http::add_to_linker(&mut linker, |s| &mut s.http)?;
    }
    if grants.keeper_vault {
        keeper_vault::add_to_linker(&mut linker, |s| &mut s.vault)?;
    }
    Ok(linker)
}
