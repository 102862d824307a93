//! Vault records to connections: which records are database targets, and how their fields
//! map. Everything in a record is hostile input: a field of the wrong shape is treated as
//! missing, and a record that cannot be mapped is skipped with why, never failing the rest.

use keeperdb_plugin::vault::{Field, RecordLink, VaultRecord};
use keeperdb_plugin::{Connection, TlsMode};
use serde_json::Value;

/// The record type of Keeper's "Database" records.
pub const DATABASE: &str = "databaseCredentials";
/// The record type of Keeper's "PAM Database" records.
pub const PAM_DATABASE: &str = "pamDatabase";
/// The custom field storage sync writes into the records it owns; such records are never
/// listed as connections.
pub const LOCAL_ID_FIELD: &str = "keeperdb_local_id";
/// The custom field naming the default database or schema.
pub const DATABASE_FIELD: &str = "Database";

/// What became of one record.
#[derive(Debug)]
pub enum Mapped {
    /// A connection.
    Connection(Connection),
    /// Not a database target (another record type, a storage-sync record): left out silently.
    NotATarget,
    /// A database record that cannot be used, and why.
    Skipped(String),
}

/// Map one record. `linked_user` is the PAM User record its credential link points to, when
/// the application can see it.
pub fn map_record(record: &VaultRecord, linked_user: Option<&VaultRecord>) -> Mapped {
    let pam = record.record_type == PAM_DATABASE;
    if !(pam || record.record_type == DATABASE) || record.custom_field(LOCAL_ID_FIELD).is_some() {
        return Mapped::NotATarget;
    }
    let Some(engine) = engine_of(record) else {
        return Mapped::Skipped(if pam {
            "it names no database type (the `databaseType` field)".into()
        } else {
            "it names no database type (the `type` field)".into()
        });
    };
    let address = first_object(record.field(if pam { "pamHostname" } else { "host" }));
    let host_name = address
        .as_ref()
        .and_then(|a| a.get("hostName"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string);
    let port = match address.as_ref().and_then(|a| a.get("port")) {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(value) => match parse_port(value) {
            Some(p) => Some(p),
            None => {
                return Mapped::Skipped(format!(
                    "its port {} is not a number from 1 to 65535",
                    shown(value)
                ));
            }
        },
    };
    let mut c = Connection::new(record.uid.clone(), record.title.clone(), engine.clone());
    c.database = first_text(record.custom_field(DATABASE_FIELD))
        .or_else(|| pam_setting(record, "database"))
        .or_else(|| first_text(record.field("Connect Database")));
    if engine == "sqlite" {
        // A file, not a server: the host field, if any, holds its path.
        if c.database.is_none() {
            c.database = host_name;
        }
        if c.database.is_none() {
            return Mapped::Skipped(
                "it names no database file (the host or `Database` field)".into(),
            );
        }
    } else {
        let Some(host) = host_name else {
            return Mapped::Skipped(if pam {
                "it has no host (the `pamHostname` field)".into()
            } else {
                "it has no host (the `host` field)".into()
            });
        };
        c.host = Some(host);
        c.port = port;
    }
    c.user = linked_user.and_then(login_of).or_else(|| login_of(record));
    c.tls = use_ssl(record).map(|on| {
        if on {
            TlsMode::Require
        } else {
            TlsMode::Prefer
        }
    });
    Mapped::Connection(c)
}

/// The credential link to follow for a PAM Database: the launch credential, else the admin,
/// else the first credential link (links with a `path` are the record's own settings).
pub fn credential_link(record: &VaultRecord) -> Option<&RecordLink> {
    let credentials: Vec<&RecordLink> = record
        .links
        .iter()
        .filter(|l| l.path.is_none() && l.record_uid != record.uid)
        .collect();
    credentials
        .iter()
        .find(|l| l.is_launch_credential)
        .or_else(|| credentials.iter().find(|l| l.is_admin))
        .or_else(|| credentials.first())
        .copied()
}

/// The engine id a record names, from `databaseType` (PAM), the PAM connection protocol, or
/// the Database record's free-text `type`.
pub fn engine_of(record: &VaultRecord) -> Option<String> {
    let text = if record.record_type == PAM_DATABASE {
        first_text(record.field("databaseType")).or_else(|| pam_setting(record, "protocol"))
    } else {
        first_text(record.fields.iter().find(|f| {
            f.field_type == "text"
                && f.label
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case("type"))
        }))
        .or_else(|| first_text(record.field("databaseType")))
    }?;
    normalize_engine(&text)
}

/// Free text (`PostgreSQL 16`, `Microsoft SQL Server`, `mariadb`) as an engine id. Known
/// engines by their usual names; anything else as lowercase letters, digits and `-`.
pub fn normalize_engine(text: &str) -> Option<String> {
    let lower = text.trim().to_lowercase();
    let known = [
        ("postgres", "postgres"),
        ("pgsql", "postgres"),
        ("mariadb", "mariadb"),
        ("mysql", "mysql"),
        ("sqlite", "sqlite"),
        ("sql server", "sqlserver"),
        ("sqlserver", "sqlserver"),
        ("mssql", "sqlserver"),
        ("oracle", "oracle"),
        ("redshift", "redshift"),
        ("mongo", "mongodb"),
    ];
    if let Some((_, id)) = known.iter().find(|(needle, _)| lower.contains(needle)) {
        return Some((*id).to_string());
    }
    if lower == "pg" {
        return Some("postgres".into());
    }
    let mut id = String::new();
    for c in lower.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    let id = id
        .trim_end_matches('-')
        .chars()
        .take(32)
        .collect::<String>();
    (!id.is_empty()).then_some(id)
}

/// The login a record holds (its `login` field), if readable.
pub fn login_of(record: &VaultRecord) -> Option<String> {
    first_text(record.field("login"))
}

/// The `useSSL` checkbox (`Use SSL` in some templates), when the record has one.
fn use_ssl(record: &VaultRecord) -> Option<bool> {
    let field = [&record.fields, &record.custom]
        .into_iter()
        .flatten()
        .find(|f| {
            f.field_type == "checkbox"
                && f.label.as_deref().is_some_and(|l| {
                    l.chars()
                        .filter(|c| !c.is_whitespace())
                        .collect::<String>()
                        .eq_ignore_ascii_case("usessl")
                })
        })?;
    match values(field)?.first()? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
        _ => None,
    }
}

/// `pamSettings.value[0].connection.<key>` as text.
fn pam_setting(record: &VaultRecord, key: &str) -> Option<String> {
    first_object(record.field("pamSettings"))?
        .get("connection")?
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn values(field: &Field) -> Option<Vec<Value>> {
    if field.redacted {
        return None;
    }
    match serde_json::from_str(&field.value).ok()? {
        Value::Array(items) => Some(items),
        _ => None,
    }
}

fn first_text(field: Option<&Field>) -> Option<String> {
    match values(field?)?.into_iter().next()? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn first_object(field: Option<&Field>) -> Option<serde_json::Map<String, Value>> {
    match values(field?)?.into_iter().next()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn parse_port(value: &Value) -> Option<u16> {
    let n = match value {
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        Value::Number(n) => n.as_u64()?,
        _ => return None,
    };
    u16::try_from(n).ok().filter(|p| *p > 0)
}

/// A value quoted for a message, short.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let short: String = text.chars().take(20).collect();
    format!("`{short}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(field_type: &str, label: Option<&str>, value: &str) -> Field {
        Field {
            field_type: field_type.into(),
            label: label.map(Into::into),
            value: value.into(),
            redacted: false,
        }
    }

    fn record(record_type: &str, fields: Vec<Field>, custom: Vec<Field>) -> VaultRecord {
        VaultRecord {
            uid: "UID1".into(),
            record_type: record_type.into(),
            title: "Orders – Primär".into(),
            folder_uid: None,
            fields,
            custom,
            notes: None,
            links: Vec::new(),
        }
    }

    fn connection(m: Mapped) -> Connection {
        match m {
            Mapped::Connection(c) => c,
            other => panic!("not mapped: {other:?}"),
        }
    }

    #[test]
    fn a_database_record_maps_host_port_login_database_and_engine() {
        let r = record(
            DATABASE,
            vec![
                field("text", Some("type"), r#"["PostgreSQL 16"]"#),
                field(
                    "host",
                    None,
                    r#"[{"hostName":" db.internal ","port":"6432"}]"#,
                ),
                field("login", None, r#"["app"]"#),
            ],
            vec![field("text", Some("database"), r#"["orders"]"#)],
        );
        let c = connection(map_record(&r, None));
        assert_eq!(c.engine, "postgres");
        assert_eq!(
            (c.host.as_deref(), c.port),
            (Some("db.internal"), Some(6432))
        );
        assert_eq!(c.user.as_deref(), Some("app"));
        assert_eq!(c.database.as_deref(), Some("orders"));
        assert_eq!(c.name, "Orders – Primär");
        assert_eq!(c.id, "UID1");
        assert_eq!(c.tls, None);
    }

    #[test]
    fn a_pam_database_takes_its_login_from_the_linked_user_and_ssl_from_use_ssl() {
        let r = record(
            PAM_DATABASE,
            vec![
                field(
                    "pamHostname",
                    None,
                    r#"[{"hostName":"pg.internal","port":""}]"#,
                ),
                field(
                    "pamSettings",
                    None,
                    r#"[{"connection":{"protocol":"postgresql","database":"sales"}}]"#,
                ),
                field("checkbox", Some("Use SSL"), "[true]"),
                field("databaseType", None, r#"["mariadb"]"#),
            ],
            vec![],
        );
        let user = record(
            "pamUser",
            vec![field("login", None, r#"["pam_admin"]"#)],
            vec![],
        );
        let c = connection(map_record(&r, Some(&user)));
        assert_eq!(c.engine, "mariadb", "databaseType wins over the protocol");
        assert_eq!(c.port, None, "an empty port means the engine's default");
        assert_eq!(c.user.as_deref(), Some("pam_admin"));
        assert_eq!(c.database.as_deref(), Some("sales"));
        assert_eq!(c.tls, Some(TlsMode::Require));
    }

    #[test]
    fn engines_are_normalised_and_unknown_ones_kept_as_ids() {
        for (text, id) in [
            ("postgresql", "postgres"),
            ("MySQL", "mysql"),
            ("MariaDB 11", "mariadb"),
            ("mssql", "sqlserver"),
            ("Microsoft SQL Server", "sqlserver"),
            ("Oracle 19c", "oracle"),
            ("redshift", "redshift"),
            ("sqlite3", "sqlite"),
            ("Cassandra DB", "cassandra-db"),
        ] {
            assert_eq!(normalize_engine(text).as_deref(), Some(id), "{text}");
        }
        assert_eq!(normalize_engine("  ¿? "), None);
    }

    #[test]
    fn records_that_cannot_be_mapped_say_why() {
        let no_host = record(
            DATABASE,
            vec![field("text", Some("type"), r#"["mysql"]"#)],
            vec![],
        );
        assert!(
            matches!(map_record(&no_host, None), Mapped::Skipped(why) if why.contains("no host"))
        );
        for port in [r#""99999""#, r#""abc""#, "0", "true"] {
            let bad_port = record(
                DATABASE,
                vec![
                    field("text", Some("type"), r#"["mysql"]"#),
                    field(
                        "host",
                        None,
                        &format!(r#"[{{"hostName":"h","port":{port}}}]"#),
                    ),
                ],
                vec![],
            );
            assert!(
                matches!(map_record(&bad_port, None), Mapped::Skipped(why) if why.contains("port")),
                "{port}"
            );
        }
        let no_type = record(
            DATABASE,
            vec![field("host", None, r#"[{"hostName":"h"}]"#)],
            vec![],
        );
        assert!(
            matches!(map_record(&no_type, None), Mapped::Skipped(why) if why.contains("database type"))
        );
        let hostile = record(
            DATABASE,
            vec![
                field("text", Some("type"), "{not json"),
                field("host", None, r#""text""#),
            ],
            vec![],
        );
        assert!(matches!(map_record(&hostile, None), Mapped::Skipped(_)));
    }

    #[test]
    fn storage_records_and_other_types_are_not_targets() {
        let synced = record(
            DATABASE,
            vec![
                field("text", Some("type"), r#"["postgresql"]"#),
                field("host", None, r#"[{"hostName":"h"}]"#),
            ],
            vec![field("text", Some(LOCAL_ID_FIELD), r#"["local-1"]"#)],
        );
        assert!(matches!(map_record(&synced, None), Mapped::NotATarget));
        let login = record("login", vec![], vec![]);
        assert!(matches!(map_record(&login, None), Mapped::NotATarget));
    }

    #[test]
    fn the_launch_credential_link_is_preferred() {
        let mut r = record(PAM_DATABASE, vec![], vec![]);
        let link = |uid: &str, path: Option<&str>, admin: bool, launch: bool| RecordLink {
            record_uid: uid.into(),
            path: path.map(Into::into),
            is_admin: admin,
            is_launch_credential: launch,
        };
        r.links = vec![
            link("UID1", Some("meta"), false, false),
            link("ADMIN", None, true, false),
            link("LAUNCH", None, false, true),
        ];
        assert_eq!(credential_link(&r).unwrap().record_uid, "LAUNCH");
        r.links.pop();
        assert_eq!(credential_link(&r).unwrap().record_uid, "ADMIN");
        r.links.truncate(1);
        assert!(credential_link(&r).is_none());
    }

    #[test]
    fn a_redacted_field_is_never_read() {
        let mut login = field("login", None, r#"["app"]"#);
        login.redacted = true;
        let r = record(
            DATABASE,
            vec![
                field("text", Some("type"), r#"["mysql"]"#),
                field("host", None, r#"[{"hostName":"h"}]"#),
                login,
            ],
            vec![],
        );
        assert_eq!(connection(map_record(&r, None)).user, None);
    }
}
