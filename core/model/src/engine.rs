//! Database engines as open ids. A driver plugin declares the engines it serves in its manifest
//! (with their URL schemes and default ports), so a new engine needs a new driver, not a new
//! keeperdb. The four engines keeperdb's own code knows something about (statement splitting,
//! value formatting, URL schemes) have constants; any other valid id is just as good a
//! connection's engine, and connecting to it needs a driver that serves it.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The database engine a connection talks to, by id: lowercase ASCII letters, digits and `-`
/// (`postgres`, `sqlserver`, `oracle`). Spellings people and vault records use for the well-known
/// engines (`postgresql`, `pg`, `sqlite3`) are normalised when parsed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Engine(Cow<'static, str>);

impl Engine {
    /// PostgreSQL and wire-compatible servers.
    pub const POSTGRES: Engine = Engine(Cow::Borrowed("postgres"));
    /// MySQL.
    pub const MYSQL: Engine = Engine(Cow::Borrowed("mysql"));
    /// MariaDB.
    pub const MARIADB: Engine = Engine(Cow::Borrowed("mariadb"));
    /// SQLite files.
    pub const SQLITE: Engine = Engine(Cow::Borrowed("sqlite"));

    /// Longest engine id accepted.
    pub const MAX_LEN: usize = 32;

    /// The engine with this id or alias; refuses text that is not an engine id.
    pub fn new(id: &str) -> Result<Self, UnknownEngine> {
        let lower = id.trim().to_ascii_lowercase();
        let known = match lower.as_str() {
            "postgres" | "postgresql" | "pg" | "pgsql" => Some(Self::POSTGRES),
            "mysql" => Some(Self::MYSQL),
            "mariadb" => Some(Self::MARIADB),
            "sqlite" | "sqlite3" => Some(Self::SQLITE),
            _ => None,
        };
        if let Some(engine) = known {
            return Ok(engine);
        }
        let valid = !lower.is_empty()
            && lower.len() <= Self::MAX_LEN
            && lower.starts_with(|c: char| c.is_ascii_lowercase())
            && lower
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(Self(Cow::Owned(lower)))
        } else {
            Err(UnknownEngine(id.chars().take(Self::MAX_LEN + 8).collect()))
        }
    }

    /// The canonical id, as written in files and accepted on the command line.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The port a server of this engine listens on unless told otherwise, where keeperdb
    /// knows it; a driver applies its own default for other engines.
    pub fn default_port(&self) -> Option<u16> {
        if *self == Self::POSTGRES {
            Some(5432)
        } else if *self == Self::MYSQL || *self == Self::MARIADB {
            Some(3306)
        } else {
            None
        }
    }

    /// Whether connections of this engine name a file rather than a server.
    pub fn is_file_based(&self) -> bool {
        *self == Self::SQLITE
    }

    /// Whether the engine speaks MySQL's dialect (backslash escapes, `#` comments).
    pub fn is_mysql_family(&self) -> bool {
        *self == Self::MYSQL || *self == Self::MARIADB
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Engine({})", self.as_str())
    }
}

impl FromStr for Engine {
    type Err = UnknownEngine;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Engine {
    type Error = UnknownEngine;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<Engine> for String {
    fn from(e: Engine) -> Self {
        e.0.into_owned()
    }
}

/// Text that is not an engine id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a database engine id (lowercase letters, digits and `-`, such as postgres, mysql, mariadb, sqlite, sqlserver)"
)]
pub struct UnknownEngine(pub String);

/// An engine as a driver manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// The engine's id.
    pub id: Engine,
    /// URL schemes that name it (`postgres`, `postgresql`); the id itself when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url_schemes: Vec<String>,
    /// The port its servers listen on by default; none for file-based engines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_port: Option<u16>,
}

impl EngineSpec {
    /// Whether `scheme` (any case) names this engine.
    pub fn has_scheme(&self, scheme: &str) -> bool {
        if self.url_schemes.is_empty() {
            return self.id.as_str().eq_ignore_ascii_case(scheme);
        }
        self.url_schemes
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_spellings_normalise() {
        assert_eq!("postgresql".parse::<Engine>(), Ok(Engine::POSTGRES));
        assert_eq!("PG".parse::<Engine>(), Ok(Engine::POSTGRES));
        assert_eq!("MariaDB".parse::<Engine>(), Ok(Engine::MARIADB));
        assert_eq!("sqlite3".parse::<Engine>(), Ok(Engine::SQLITE));
    }

    #[test]
    fn any_other_engine_is_an_id_of_its_own() {
        let oracle: Engine = "Oracle".parse().unwrap();
        assert_eq!(oracle.as_str(), "oracle");
        assert_eq!(oracle.default_port(), None);
        assert!(!oracle.is_file_based());
        assert_eq!(
            "sql-server2".parse::<Engine>().unwrap().as_str(),
            "sql-server2"
        );
    }

    #[test]
    fn text_that_is_no_id_is_refused_and_shown_bounded() {
        for bad in ["", "  ", "my sql", "pg;drop", "9db", "ünï", "a\u{1b}[31m"] {
            let err = bad.parse::<Engine>().unwrap_err();
            assert!(
                err.to_string().contains("not a database engine id"),
                "{bad}"
            );
        }
        let long = "x".repeat(10_000);
        let err = long.parse::<Engine>().unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
    }

    #[test]
    fn engines_round_trip_through_serde_as_their_id() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct T {
            engine: Engine,
        }
        let text = toml::to_string(&T {
            engine: "redshift".parse().unwrap(),
        })
        .unwrap();
        assert_eq!(text.trim(), "engine = \"redshift\"");
        let back: T = toml::from_str("engine = \"postgresql\"").unwrap();
        assert_eq!(back.engine, Engine::POSTGRES);
        assert!(toml::from_str::<T>("engine = \"no way\"").is_err());
    }
}
