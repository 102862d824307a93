//! Exit codes scripts can rely on, and how errors map to them.

use keeperdb_core::ErrorKind;
use keeperdb_core::driver::DriverError;
use keeperdb_core::registry::RegistryError;

/// A statement failed on the server.
pub const QUERY: u8 = 1;
/// Bad usage or configuration.
pub const USAGE: u8 = 2;
/// The database could not be reached or refused the login.
pub const CONNECTION: u8 = 3;
/// The vault (or another credential source) failed or refused.
pub const VAULT: u8 = 4;
/// Interrupted by Ctrl-C.
pub const INTERRUPTED: u8 = 130;

/// An error that carries its own exit code (for cases no typed error describes).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    /// The code.
    pub code: u8,
    /// What to print.
    pub message: String,
}

impl Exit {
    /// A failure with a code.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A usage or configuration error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, message)
    }

    /// Ctrl-C.
    pub fn interrupted() -> Self {
        Self::new(INTERRUPTED, "interrupted: the query was cancelled")
    }
}

/// The exit code for a kind of core failure.
pub fn code_of_kind(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Config => USAGE,
        ErrorKind::Connection => CONNECTION,
        ErrorKind::Query => QUERY,
        ErrorKind::Cancelled => INTERRUPTED,
        ErrorKind::Source => VAULT,
    }
}

/// The exit code for a core error.
pub fn code_of(err: &keeperdb_core::Error) -> u8 {
    code_of_kind(err.kind())
}

/// The exit code for an error, from the first typed error in its chain.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Exit>() {
            return e.code;
        }
        if let Some(e) = cause.downcast_ref::<keeperdb_core::Error>() {
            return code_of(e);
        }
        if let Some(e) = cause.downcast_ref::<DriverError>() {
            return code_of_kind(keeperdb_core::error::driver_kind(e.kind));
        }
        if let Some(e) = cause.downcast_ref::<RegistryError>() {
            return code_of_kind(keeperdb_core::error::registry_kind(e));
        }
    }
    USAGE
}

/// What to type to fix a core failure, where the fix is a keeperdb command. Core's messages
/// name no command; the CLI adds its own.
fn hint(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use keeperdb_core::plugins::PluginError;
    use keeperdb_core::secret_store::SecretStoreError;
    use keeperdb_core::store::StoreError;
    if let Some(keeperdb_core::Error::NoDriver { .. }) = cause.downcast_ref() {
        return Some(
            "`keeperdb plugins install DIR` adds a driver plugin; `cargo xtask install` from a source checkout, or unpacking a release archive, brings the bundled ones",
        );
    }
    if let Some(keeperdb_core::Error::NoVaultSource) = cause.downcast_ref() {
        return Some("`keeperdb plugins install keeper-vault`");
    }
    if let Some(keeperdb_core::Error::Sync(e)) = cause.downcast_ref() {
        use keeperdb_core::sync::SyncError;
        match e {
            SyncError::NoBackend => {
                return Some("`keeperdb plugins install keeper-storage`");
            }
            SyncError::NotEnabled => return Some("`keeperdb storage enable --vault NAME`"),
            SyncError::GatewayMode => return Some("`keeperdb prefs set mode standalone`"),
            SyncError::EnabledElsewhere(_) | SyncError::VaultChanged(_) => {
                return Some(
                    "`keeperdb storage disable`, then `keeperdb storage enable --vault NAME`",
                );
            }
            _ => {}
        }
    }
    if let Some(keeperdb_core::Error::NoVault(_)) = cause.downcast_ref() {
        return Some("see `keeperdb vault list`");
    }
    if let Some(RegistryError::NotFound(_)) = cause.downcast_ref() {
        return Some("see `keeperdb connections list`");
    }
    if let Some(PluginError::NotInstalled(_)) = cause.downcast_ref() {
        return Some("see `keeperdb plugins list`");
    }
    if let Some(StoreError::NoConfigDir) = cause.downcast_ref() {
        return Some("or pass --config-dir DIR");
    }
    // Transparent wrappers hide the credential store's error from the source chain.
    let secrets = cause.downcast_ref::<SecretStoreError>().or_else(|| {
        match cause.downcast_ref::<StoreError>() {
            Some(StoreError::Secrets(e)) => Some(e),
            _ => match cause.downcast_ref::<keeperdb_core::Error>() {
                Some(keeperdb_core::Error::Secrets(e))
                | Some(keeperdb_core::Error::Store(StoreError::Secrets(e))) => Some(e),
                _ => None,
            },
        }
    });
    if let Some(SecretStoreError::Unavailable(_)) = secrets {
        return Some("the fallback is `keeperdb prefs set password_storage prompt`");
    }
    None
}

/// The hint for the first cause in `err`'s chain that has one.
fn first_hint(err: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if let Some(h) = hint(c) {
            return Some(h);
        }
        cause = c.source();
    }
    None
}

/// A core error in the CLI's words: what core says, plus what to type to fix it.
pub fn render_core(err: &keeperdb_core::Error) -> String {
    let text = err.to_string();
    match first_hint(err) {
        Some(h) => format!("{text} ({h})"),
        None => text,
    }
}

/// The message for an error: each cause once, joined the way people read them.
pub fn render(err: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut last = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || last.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        last = text;
    }
    if let Some(h) = err.chain().find_map(hint) {
        out.push_str(&format!(" ({h})"));
    }
    out
}
