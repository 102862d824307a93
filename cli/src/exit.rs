//! Exit codes scripts can rely on, and how errors map to them.

use keeperdb_core::driver::{DriverError, DriverErrorKind};
use keeperdb_core::registry::RegistryError;
use keeperdb_core::source::SourceError;

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

/// The exit code for an error, from the first typed error in its chain.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Exit>() {
            return e.code;
        }
        if let Some(e) = cause.downcast_ref::<DriverError>() {
            return match e.kind {
                DriverErrorKind::Query | DriverErrorKind::Internal => QUERY,
                DriverErrorKind::Connection | DriverErrorKind::Auth | DriverErrorKind::Timeout => {
                    CONNECTION
                }
                DriverErrorKind::Cancelled => INTERRUPTED,
            };
        }
        if let Some(RegistryError::Source { source_id, error }) =
            cause.downcast_ref::<RegistryError>()
        {
            // The local store's failures are configuration problems; any other source's are
            // the vault's (or the plugin's) and get their own code.
            return match error {
                SourceError::SecretStore(_) => USAGE,
                _ if source_id == keeperdb_core::model::LOCAL_SOURCE_ID => USAGE,
                _ => VAULT,
            };
        }
    }
    USAGE
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
    out
}
