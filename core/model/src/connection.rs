//! The connection model shared by every source, the registry, the store and the shells.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::engine::Engine;

/// A connection's stable identity. Local connections get a UUID when saved; a source plugin
/// derives ids from its own keys (a vault record UID, a pgpass line), prefixed by the source id,
/// so they stay the same from one listing to the next.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(String);

impl ConnectionId {
    /// A fresh id for a newly saved local connection.
    pub fn new_local() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Wrap an id that already exists (read from a file or given by a source).
    pub fn from_string(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a connection uses TLS, with libpq's vocabulary (understood for every server engine).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Never use TLS.
    Disable,
    /// Use TLS when the server offers it.
    #[default]
    Prefer,
    /// Require TLS, without checking the certificate.
    Require,
    /// Require TLS and a certificate signed by a trusted CA.
    VerifyCa,
    /// Require TLS, a trusted certificate, and a matching host name.
    VerifyFull,
}

impl TlsMode {
    /// The kebab-case name used in files, URLs (`sslmode=`) and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TLS mode name that keeperdb does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown TLS mode `{0}` (expected one of: disable, prefer, require, verify-ca, verify-full)"
)]
pub struct UnknownTlsMode(pub String);

impl FromStr for TlsMode {
    type Err = UnknownTlsMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "disable" | "disabled" | "false" | "off" => Ok(TlsMode::Disable),
            "allow" | "prefer" | "preferred" => Ok(TlsMode::Prefer),
            "require" | "required" | "true" | "on" => Ok(TlsMode::Require),
            "verify-ca" | "verify_ca" => Ok(TlsMode::VerifyCa),
            "verify-full" | "verify_identity" | "verify-identity" => Ok(TlsMode::VerifyFull),
            _ => Err(UnknownTlsMode(s.to_string())),
        }
    }
}

/// Where a connection came from: the source that produced it and the badge a shell shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// The id of the connection source (`local`, a plugin id such as `keeper-vault`).
    pub source: String,
    /// The short label shown beside the connection (`Local`, `Vault`, `pgpass`).
    pub badge: String,
    /// The vault attachment it was read from, for connections a vault provides: shown beside
    /// the badge, and usable as `VAULT/NAME` when names collide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<String>,
}

impl Origin {
    /// The origin of connections saved by keeperdb itself.
    pub fn local() -> Self {
        Self {
            source: LOCAL_SOURCE_ID.to_string(),
            badge: "Local".to_string(),
            vault: None,
        }
    }
}

/// The source id of keeperdb's own saved connections.
pub const LOCAL_SOURCE_ID: &str = "local";

/// A database connection as every part of keeperdb sees it: its identity, what it is, and
/// where it came from. It never holds a password: credentials are resolved through the
/// connection's source at connect time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Stable identity (see [`ConnectionId`]).
    pub id: ConnectionId,
    /// What it is: the part that is saved, edited and synced.
    #[serde(flatten)]
    pub spec: ConnectionSpec,
    /// Which source produced it.
    pub origin: Origin,
}

impl Connection {
    /// A new local connection of `engine` named `name`, with a fresh id and nothing else set.
    pub fn new_local(engine: Engine, name: impl Into<String>) -> Self {
        Self {
            id: ConnectionId::new_local(),
            spec: ConnectionSpec::new(engine, name),
            origin: Origin::local(),
        }
    }
}

/// What a connection is, apart from its identity and origin. The one shape the local store
/// saves, a source produces and storage sync carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    /// The name people use to refer to it.
    pub name: String,
    /// The engine, which picks the driver.
    pub engine: Engine,
    /// Server host name or address; `None` for file-based engines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Server port; `None` means the engine's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Default database (or schema); for SQLite, the database file path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// User name to log in as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// TLS mode for server engines.
    #[serde(default)]
    pub tls: TlsMode,
    /// Refuse statements that write, where the driver can enforce it.
    #[serde(default)]
    pub read_only: bool,
    /// Environment tag such as `production`, shown by shells as a warning colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Colour for the environment tag (a CSS colour name or `#rrggbb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Driver options (connect timeout, application name, ...), passed to the driver as they are.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

impl ConnectionSpec {
    /// A connection of `engine` named `name`, with nothing else set.
    pub fn new(engine: Engine, name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            engine,
            host: None,
            port: None,
            database: None,
            user: None,
            tls: TlsMode::default(),
            read_only: false,
            environment: None,
            color: None,
            options: BTreeMap::new(),
        }
    }

    /// The port to use: the configured one, or the engine's default.
    pub fn effective_port(&self) -> Option<u16> {
        self.port.or(self.engine.default_port())
    }

    /// Where it points, for tables and logs (never contains a password).
    pub fn target(&self) -> String {
        if self.engine.is_file_based() {
            return self.database.clone().unwrap_or_default();
        }
        let mut out = String::new();
        if let Some(user) = &self.user {
            out.push_str(user);
            out.push('@');
        }
        out.push_str(self.host.as_deref().unwrap_or("localhost"));
        if let Some(port) = self.effective_port() {
            out.push(':');
            out.push_str(&port.to_string());
        }
        if let Some(db) = &self.database {
            out.push('/');
            out.push_str(db);
        }
        out
    }

    /// The colour to show the environment tag in, as RGB: the connection's own `color`
    /// (`#rrggbb` or a common CSS name), else one that says how careful to be: red for
    /// production, orange for staging, green for development and test. `None`: no tag, or a
    /// colour name not known here (shown uncoloured).
    pub fn tag_rgb(&self) -> Option<(u8, u8, u8)> {
        let env = self.environment.as_deref()?.trim().to_ascii_lowercase();
        if let Some(color) = &self.color {
            return color_rgb(color);
        }
        match env.as_str() {
            "production" | "prod" => Some((0xdc, 0x26, 0x26)),
            "staging" | "stage" => Some((0xea, 0x58, 0x0c)),
            "development" | "dev" | "test" | "testing" | "local" => Some((0x16, 0xa3, 0x4a)),
            _ => None,
        }
    }

    /// Check what a shell or a source plugin produced before it is saved or used.
    pub fn validate(&self) -> Result<(), InvalidConnection> {
        if self.engine.is_file_based() {
            if self.database.as_deref().is_none_or(|d| d.trim().is_empty()) {
                return Err(InvalidConnection::MissingDatabaseFile);
            }
        } else if self.host.as_deref().is_some_and(|h| h.trim().is_empty()) {
            return Err(InvalidConnection::EmptyHost);
        }
        if self.port == Some(0) {
            return Err(InvalidConnection::ZeroPort);
        }
        // After the target checks, so a name derived from an empty target does not hide the
        // real problem.
        if self.name.trim().is_empty() {
            return Err(InvalidConnection::EmptyName);
        }
        if self.name.chars().any(char::is_control) {
            return Err(InvalidConnection::ControlCharacter("name"));
        }
        if let Some(color) = &self.color {
            validate_color(color)?;
        }
        Ok(())
    }
}

/// `#rrggbb` or a common CSS colour name as RGB.
fn color_rgb(color: &str) -> Option<(u8, u8, u8)> {
    if let Some(hex) = color.strip_prefix('#') {
        if hex.len() != 6 || !hex.is_ascii() {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        return Some((byte(0)?, byte(2)?, byte(4)?));
    }
    Some(match color.to_ascii_lowercase().as_str() {
        "red" => (0xff, 0x00, 0x00),
        "darkred" => (0x8b, 0x00, 0x00),
        "orange" => (0xff, 0xa5, 0x00),
        "yellow" => (0xff, 0xff, 0x00),
        "gold" => (0xff, 0xd7, 0x00),
        "green" => (0x00, 0x80, 0x00),
        "lime" => (0x00, 0xff, 0x00),
        "teal" => (0x00, 0x80, 0x80),
        "cyan" | "aqua" => (0x00, 0xff, 0xff),
        "blue" => (0x00, 0x00, 0xff),
        "navy" => (0x00, 0x00, 0x80),
        "purple" => (0x80, 0x00, 0x80),
        "magenta" | "fuchsia" => (0xff, 0x00, 0xff),
        "pink" => (0xff, 0xc0, 0xcb),
        "brown" => (0xa5, 0x2a, 0x2a),
        "gray" | "grey" => (0x80, 0x80, 0x80),
        "black" => (0x00, 0x00, 0x00),
        "white" => (0xff, 0xff, 0xff),
        _ => return None,
    })
}

fn validate_color(color: &str) -> Result<(), InvalidConnection> {
    let ok = match color.strip_prefix('#') {
        Some(hex) => hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        None => !color.is_empty() && color.chars().all(|c| c.is_ascii_alphabetic()),
    };
    if ok {
        Ok(())
    } else {
        Err(InvalidConnection::BadColor(color.to_string()))
    }
}

/// A connection that cannot be saved or used as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidConnection {
    /// The name is empty.
    #[error("connection name is empty")]
    EmptyName,
    /// A field holds a control character.
    #[error("connection {0} contains a control character")]
    ControlCharacter(&'static str),
    /// A SQLite connection without a file.
    #[error("a SQLite connection needs a database file path")]
    MissingDatabaseFile,
    /// A host that is present but blank.
    #[error("host is empty")]
    EmptyHost,
    /// Port 0.
    #[error("port 0 is not a valid server port")]
    ZeroPort,
    /// A colour that is neither a name nor `#rrggbb`.
    #[error("colour `{0}` is neither a colour name nor #rrggbb")]
    BadColor(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg() -> Connection {
        Connection {
            id: ConnectionId::from_string("c1"),
            spec: ConnectionSpec {
                name: "orders".into(),
                engine: Engine::POSTGRES,
                host: Some("db.internal".into()),
                port: None,
                database: Some("orders".into()),
                user: Some("app".into()),
                tls: TlsMode::Require,
                read_only: false,
                environment: Some("production".into()),
                color: Some("#ff0000".into()),
                options: BTreeMap::new(),
            },
            origin: Origin::local(),
        }
    }

    #[test]
    fn tls_modes_accept_libpq_and_mysql_spellings() {
        assert_eq!("verify-full".parse::<TlsMode>(), Ok(TlsMode::VerifyFull));
        assert_eq!(
            "VERIFY_IDENTITY".parse::<TlsMode>(),
            Ok(TlsMode::VerifyFull)
        );
        assert_eq!("preferred".parse::<TlsMode>(), Ok(TlsMode::Prefer));
        assert!("maybe".parse::<TlsMode>().is_err());
    }

    #[test]
    fn target_uses_default_port_and_never_a_password() {
        assert_eq!(pg().spec.target(), "app@db.internal:5432/orders");
    }

    #[test]
    fn validation_names_the_problem() {
        let mut c = pg();
        c.spec.name = "  ".into();
        assert_eq!(c.spec.validate(), Err(InvalidConnection::EmptyName));
        let mut c = pg();
        c.spec.color = Some("#12345z".into());
        assert_eq!(
            c.spec.validate(),
            Err(InvalidConnection::BadColor("#12345z".into()))
        );
        let mut c = pg();
        c.spec.engine = Engine::SQLITE;
        c.spec.database = None;
        assert_eq!(
            c.spec.validate(),
            Err(InvalidConnection::MissingDatabaseFile)
        );
        let mut c = pg();
        c.spec.port = Some(0);
        assert_eq!(c.spec.validate(), Err(InvalidConnection::ZeroPort));
        assert_eq!(pg().spec.validate(), Ok(()));
    }

    #[test]
    fn serde_round_trip_keeps_every_field() {
        let c = pg();
        let text = toml::to_string(&c).unwrap();
        let back: Connection = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }
}
