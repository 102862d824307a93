//! Capability names as written in `plugin.toml`, recorded at install and linked by the WASM
//! host only when granted.

/// Host log; always linked.
pub const LOG: &str = "log";
/// Live progress; always linked.
pub const PROGRESS: &str = "progress";
/// Read exactly the files listed in `paths`.
pub const FS_READ: &str = "fs-read";
/// HTTPS to the hosts listed in `hosts`.
pub const HTTP: &str = "http";
/// The user's Keeper vault through the host's KSM client.
pub const KEEPER_VAULT: &str = "keeper-vault";

/// Capabilities that need the user's consent.
pub const GRANTABLE: [&str; 3] = [FS_READ, HTTP, KEEPER_VAULT];

/// Whether the host knows this capability name.
pub fn is_known(name: &str) -> bool {
    matches!(name, LOG | PROGRESS) || GRANTABLE.contains(&name)
}

/// The capability a WIT interface of the plugin package belongs to.
pub fn of_interface(interface: &str) -> Option<&'static str> {
    match interface {
        "log" => Some(LOG),
        "progress" => Some(PROGRESS),
        "fs-read" => Some(FS_READ),
        "http" => Some(HTTP),
        "keeper-vault" => Some(KEEPER_VAULT),
        "types" => Some("types"),
        _ => None,
    }
}
