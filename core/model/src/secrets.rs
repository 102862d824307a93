//! The OS credential store's failures, as sources and the local store report them. The store
//! itself (the `keyring` crate) lives in the application core.

/// A credential-store failure. Never carries the secret itself.
#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    /// No usable credential store on this machine (no Secret Service running, locked, ...).
    #[error(
        "no OS credential store is available ({0}). Start one (e.g. gnome-keyring or KeePassXC's Secret Service), \
         or choose the explicit fallback: set the preference password_storage to prompt, to be asked for passwords at connect time"
    )]
    Unavailable(String),
    /// The store answered with an error.
    #[error("the OS credential store failed: {0}")]
    Failed(String),
}
