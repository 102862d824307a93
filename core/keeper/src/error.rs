//! What can go wrong reaching a vault, each case with its own message built from parts keeperdb
//! controls (host names, counts, a transport reason), never from the SDK's or the server's
//! text, so no token, key or record content can reach an error message.

/// The broad class of a [`VaultError`], for exit codes and for deciding what to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultErrorKind {
    /// The one-time token is malformed, unknown, expired or used: get a new one.
    Token,
    /// The bound application was refused: attach again.
    Access,
    /// The vault could not be reached (network, proxy, TLS, timeouts, throttling, 5xx).
    Unavailable,
    /// A record or field asked for is not there.
    NotFound,
    /// A setting (proxy, CA bundle, stored config) is unusable.
    Config,
    /// A record to write was refused before it was sent (its data is not a valid record).
    Invalid,
}

/// Why a vault call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VaultError {
    /// What was pasted is not a one-time token.
    #[error("this is not a one-time access token: {0}")]
    MalformedToken(String),
    /// The service does not know the token.
    #[error(
        "the one-time access token was not accepted by {host}: it is unknown there. Check that it was copied whole and that its region prefix matches the vault's region (US:, EU:, AU:, GOV:, JP:, CA:); a token also stops working once it expires unused: then create a new one"
    )]
    TokenNotAccepted {
        /// The host asked.
        host: String,
    },
    /// The token already bound another client.
    #[error(
        "the one-time access token was already used: a one-time token binds exactly one client. Create a new one for the Secrets Manager application in Keeper"
    )]
    TokenUsed,
    /// A bound client was refused.
    #[error(
        "{host} refused the Secrets Manager application's access: the application or this client device was removed in Keeper, or its access to the shared folders was revoked. Attach the vault again with a new one-time token"
    )]
    AccessRevoked {
        /// The host asked.
        host: String,
    },
    /// The application may read but not change the vault.
    #[error(
        "{host} refused a change to the vault: the Secrets Manager application may only read its shared folders. In Keeper, give the application the \"Can Edit\" permission on the shared folder (Secrets Manager > the application > Edit), then try again"
    )]
    NotEditable {
        /// The host asked.
        host: String,
    },
    /// No connection could be made, or it broke.
    #[error("cannot reach {host}{via}: {reason}")]
    Unreachable {
        /// The host.
        host: String,
        /// ` through PROXY`, or empty.
        via: String,
        /// What happened, in keeperdb's words.
        reason: String,
    },
    /// The server's certificate was not trusted.
    #[error(
        "cannot make a trusted TLS connection to {host}{via}: {reason}. If a proxy re-signs TLS traffic, add its CA certificate to the vault's CA bundle"
    )]
    Tls {
        /// The host.
        host: String,
        /// ` through PROXY`, or empty.
        via: String,
        /// What the TLS layer said about the certificate.
        reason: String,
    },
    /// The service kept throttling.
    #[error(
        "{host} is throttling this client and still was after {retries} retries: try again in a minute"
    )]
    Throttled {
        /// The host.
        host: String,
        /// Retries made.
        retries: u32,
    },
    /// The service answered, but with an error or something unreadable.
    #[error("{host} answered with an error: {what}")]
    Server {
        /// The host.
        host: String,
        /// What was wrong, in keeperdb's words.
        what: String,
    },
    /// The proxy setting is unusable.
    #[error("the HTTPS proxy setting is unusable: {0}")]
    Proxy(String),
    /// The CA bundle is unusable.
    #[error("the CA bundle {path} is unusable: {reason}")]
    CaBundle {
        /// Its path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The saved application config is unusable.
    #[error(
        "the saved Secrets Manager configuration of vault `{name}` is unusable ({reason}): attach the vault again"
    )]
    Config {
        /// The attachment.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A record to write is not one Keeper accepts; nothing was sent.
    #[error(
        "the record was not written: Keeper does not accept it ({0}); nothing was sent to the vault"
    )]
    RecordRefused(&'static str),
    /// A record is not visible to the application.
    #[error("vault record {0} is not shared with the Secrets Manager application (or was deleted)")]
    RecordNotFound(String),
    /// A record lacks a field.
    #[error("vault record {uid} has no `{field}` value")]
    FieldNotFound {
        /// Record UID.
        uid: String,
        /// Field asked for.
        field: String,
    },
    /// The SDK failed in a way keeperdb could not classify (including a panic on a malformed
    /// answer, which is contained).
    #[error("the Keeper Secrets Manager client failed talking to {host}: {what}")]
    Client {
        /// The host.
        host: String,
        /// What keeperdb knows about it.
        what: String,
    },
}

impl VaultError {
    /// The class of this error.
    pub fn kind(&self) -> VaultErrorKind {
        match self {
            VaultError::MalformedToken(_)
            | VaultError::TokenNotAccepted { .. }
            | VaultError::TokenUsed => VaultErrorKind::Token,
            VaultError::AccessRevoked { .. } | VaultError::NotEditable { .. } => {
                VaultErrorKind::Access
            }
            VaultError::Unreachable { .. }
            | VaultError::Tls { .. }
            | VaultError::Throttled { .. }
            | VaultError::Server { .. }
            | VaultError::Client { .. } => VaultErrorKind::Unavailable,
            VaultError::RecordNotFound(_) | VaultError::FieldNotFound { .. } => {
                VaultErrorKind::NotFound
            }
            VaultError::Proxy(_) | VaultError::CaBundle { .. } | VaultError::Config { .. } => {
                VaultErrorKind::Config
            }
            VaultError::RecordRefused(_) => VaultErrorKind::Invalid,
        }
    }
}

/// Text from outside made safe to put in a message: control characters replaced, length capped.
pub(crate) fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > 80 {
        out.push('…');
    }
    out
}
