//! Stored items to vault records and back.
//!
//! The layout is an interoperability contract with the real vault: Keeper's own apps show a
//! connection as a normal "Database" (`databaseCredentials`) record and the preferences as a
//! "Secure Note" (`encryptedNotes`), and the names below are kept exactly. Every record is
//! found again by its `keeperdb_local_id` custom field; what keeperdb needs to rebuild the
//! item's payload that the record type has no field for lives in `keeperdb_*` custom fields.
//!
//! Payloads come from the host and are checked before anything is written; records come from
//! the vault and are hostile input: a storage record that cannot be read is still listed, with
//! a payload `{"unreadable": "<why>"}`, so the host sees its local id and never writes it twice.
//! Field values are JSON arrays, always built with serde_json.

use keeperdb_plugin::vault::{Field, NewField, NewRecord, VaultRecord};
use keeperdb_plugin::{Error, ItemKind, NewItem, StoredItem, VaultFieldRef};
use serde_json::{Map, Value, json};

/// The vault folder the items live in.
pub const FOLDER_NAME: &str = "KeeperDB Storage";
/// The record type of a connection (Keeper's "Database").
pub const CONNECTION_RECORD: &str = "databaseCredentials";
/// The record type of the preferences (Keeper's "Secure Note").
pub const PREFERENCES_RECORD: &str = "encryptedNotes";
/// The title of the preferences record.
pub const PREFERENCES_TITLE: &str = "KeeperDB Preferences";
/// The custom field holding the local id; a record with one is a storage record.
pub const LOCAL_ID: &str = "keeperdb_local_id";
/// The custom field naming what a record holds: `connection` or `preferences`.
pub const KIND: &str = "keeperdb_kind";
/// The custom field naming the default database (read by Keeper's apps and keeperdb's vault
/// source alike).
pub const DATABASE: &str = "Database";
/// The standard field, and the field a stored item's secret is read from.
pub const PASSWORD_FIELD: &str = "password";

const ENGINE: &str = "keeperdb_engine";
const TLS: &str = "keeperdb_tls";
const READ_ONLY: &str = "keeperdb_read_only";
const ENVIRONMENT: &str = "keeperdb_environment";
const COLOR: &str = "keeperdb_color";
const OPTIONS: &str = "keeperdb_options";
const PASSWORD_MODE: &str = "keeperdb_password";
const PASSWORD_REV: &str = "keeperdb_password_rev";
const EXTRA: &str = "keeperdb_extra";

const TLS_MODES: [&str; 5] = ["disable", "prefer", "require", "verify-ca", "verify-full"];
const PASSWORD_MODES: [&str; 2] = ["keyring", "prompt"];

/// The record for an item, checked: [`Error::InvalidData`] naming the item when its payload
/// is not what the host writes. `item.secret` (a handle) goes into the password field.
pub fn to_record(item: &NewItem) -> Result<NewRecord, Error> {
    let what = || format!("{} item `{}`", kind_name(item.kind), item.local_id);
    if item.local_id.trim().is_empty() {
        return Err(Error::invalid_data(what(), "it has no local id"));
    }
    let built = match item.kind {
        ItemKind::Connection => {
            connection_record(&item.local_id, &item.payload, item.secret.as_deref())
        }
        // Preferences carry no secret; a handle would have nowhere to go.
        ItemKind::Preferences => preferences_record(&item.local_id, &item.payload),
    };
    built.map_err(|message| Error::invalid_data(what(), message))
}

/// The stored item a record holds; `None` when it is not a storage record (it has no
/// non-empty `keeperdb_local_id`). A storage record that cannot be read comes back with a
/// payload `{"unreadable": "<why>"}` and no secret.
pub fn to_item(record: &VaultRecord) -> Option<StoredItem> {
    let local_id = local_id(record)?;
    let kind = custom_text(record, KIND);
    let (kind, read) = match kind.as_ref().map(|k| k.as_deref().map(str::trim)) {
        Ok(Some(k)) if k.eq_ignore_ascii_case("connection") => {
            (ItemKind::Connection, connection_payload(record))
        }
        Ok(Some(k)) if k.eq_ignore_ascii_case("preferences") => {
            (ItemKind::Preferences, preferences_payload(record))
        }
        Ok(Some(k)) => (
            ItemKind::Connection,
            Err(format!(
                "its `{KIND}` is {}, neither `connection` nor `preferences`",
                shown(k)
            )),
        ),
        // No kind: the record type says it.
        Ok(None) if record.record_type == PREFERENCES_RECORD => {
            (ItemKind::Preferences, preferences_payload(record))
        }
        Ok(None) => (ItemKind::Connection, connection_payload(record)),
        Err(why) => (ItemKind::Connection, Err(why.clone())),
    };
    let (payload, secret) = match read {
        Ok(read) => read,
        Err(why) => (json!({ "unreadable": why }).to_string(), None),
    };
    Some(StoredItem {
        local_id,
        remote_ref: record.uid.clone(),
        kind,
        payload,
        secret,
    })
}

/// The local id a record carries: the first value of its `keeperdb_local_id` custom field,
/// when that is non-empty text.
pub fn local_id(record: &VaultRecord) -> Option<String> {
    custom_text(record, LOCAL_ID).ok().flatten()
}

/// An engine id in Keeper's words, for the `type` field Keeper's apps show.
pub fn keeper_engine(engine: &str) -> &str {
    match engine {
        "postgres" | "postgresql" | "pg" => "postgresql",
        "mysql" => "mysql",
        "mariadb" => "mariadb",
        "sqlite" | "sqlite3" => "sqlite",
        "mssql" | "sqlserver" => "mssql",
        "oracle" => "oracle",
        other => other,
    }
}

/// Keeper's free-text `type` as an engine id, for a record that lost its `keeperdb_engine`.
pub fn engine_from_keeper(text: &str) -> Option<String> {
    let lower = text.trim().to_lowercase();
    let known = [
        ("postgres", "postgres"),
        ("pgsql", "postgres"),
        ("mariadb", "mariadb"),
        ("mysql", "mysql"),
        ("sqlite", "sqlite"),
        ("mssql", "mssql"),
        ("sqlserver", "mssql"),
        ("sql server", "mssql"),
        ("oracle", "oracle"),
    ];
    if let Some((_, id)) = known.iter().find(|(needle, _)| lower.contains(needle)) {
        return Some((*id).to_string());
    }
    if lower == "pg" {
        return Some("postgres".into());
    }
    let is_id = !lower.is_empty()
        && lower
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    is_id.then_some(lower)
}

fn kind_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Connection => "connection",
        ItemKind::Preferences => "preferences",
    }
}

// ---- items to records ----------------------------------------------------------------------

fn connection_record(
    local_id: &str,
    payload: &str,
    secret: Option<&str>,
) -> Result<NewRecord, String> {
    let mut object = parse_object(payload)?;
    let name = take_required(&mut object, "name")?;
    let engine = take_required(&mut object, "engine")?;
    let host = take_text(&mut object, "host")?;
    let port = take_port(&mut object)?;
    let database = take_text(&mut object, "database")?;
    let user = take_text(&mut object, "user")?;
    let tls = take_choice(&mut object, "tls", &TLS_MODES)?;
    let read_only = take_bool(&mut object, "read_only")?;
    let environment = take_text(&mut object, "environment")?;
    let color = take_text(&mut object, "color")?;
    let options = take_options(&mut object)?;
    let password = take_choice(&mut object, "password", &PASSWORD_MODES)?;
    let password_rev = take_text(&mut object, "password_rev")?;
    // What is left is not this version's to understand: carried as it is.
    let extra = object;

    // Keeper refuses a standard field with an empty value: a field is written only when it
    // has one (a SQLite file has no host, a connection may have no login or password).
    let mut fields = vec![NewField::new(
        "text",
        Some("type"),
        texts([keeper_engine(&engine)]),
    )];
    if host.is_some() || port.is_some() {
        let address = json!([{
            "hostName": host.unwrap_or_default(),
            "port": port.map(|p| p.to_string()).unwrap_or_default(),
        }]);
        fields.push(NewField::new("host", None, address.to_string()));
    }
    if let Some(user) = user.as_deref() {
        fields.push(NewField::new("login", None, texts([user])));
    }
    if let Some(handle) = secret {
        fields.push(NewField::secret(PASSWORD_FIELD, None, handle));
    }

    let mut custom = Vec::new();
    push_text(&mut custom, DATABASE, database.as_deref());
    push_text(&mut custom, LOCAL_ID, Some(local_id));
    push_text(&mut custom, KIND, Some("connection"));
    push_text(&mut custom, ENGINE, Some(&engine));
    push_text(&mut custom, TLS, tls.as_deref());
    push_text(
        &mut custom,
        READ_ONLY,
        read_only.map(|b| if b { "true" } else { "false" }),
    );
    push_text(&mut custom, ENVIRONMENT, environment.as_deref());
    push_text(&mut custom, COLOR, color.as_deref());
    push_text(
        &mut custom,
        OPTIONS,
        options.map(|o| Value::Object(o).to_string()).as_deref(),
    );
    push_text(&mut custom, PASSWORD_MODE, password.as_deref());
    push_text(&mut custom, PASSWORD_REV, password_rev.as_deref());
    if !extra.is_empty() {
        push_text(&mut custom, EXTRA, Some(&Value::Object(extra).to_string()));
    }

    Ok(NewRecord {
        record_type: CONNECTION_RECORD.into(),
        title: name,
        fields,
        custom,
        notes: None,
    })
}

fn preferences_record(local_id: &str, payload: &str) -> Result<NewRecord, String> {
    let object = parse_object(payload)?;
    let pretty = serde_json::to_string_pretty(&Value::Object(object))
        .map_err(|e| format!("its payload cannot be written: {e}"))?;
    let mut custom = Vec::new();
    push_text(&mut custom, LOCAL_ID, Some(local_id));
    push_text(&mut custom, KIND, Some("preferences"));
    Ok(NewRecord {
        record_type: PREFERENCES_RECORD.into(),
        title: PREFERENCES_TITLE.into(),
        fields: vec![NewField::new("note", None, texts([pretty.as_str()]))],
        custom,
        notes: None,
    })
}

fn parse_object(payload: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(payload) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("its payload is JSON but not an object".into()),
        Err(e) => Err(format!("its payload is not JSON: {e}")),
    }
}

fn take_text(object: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("its `{key}` is not text")),
    }
}

fn take_required(object: &mut Map<String, Value>, key: &str) -> Result<String, String> {
    match take_text(object, key)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(format!("it has no `{key}`")),
    }
}

fn take_port(object: &mut Map<String, Value>) -> Result<Option<u16>, String> {
    match object.remove("port") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| "its `port` is not a number from 0 to 65535".into()),
        Some(_) => Err("its `port` is not a number from 0 to 65535".into()),
    }
}

fn take_bool(object: &mut Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(format!("its `{key}` is not true or false")),
    }
}

fn take_choice(
    object: &mut Map<String, Value>,
    key: &str,
    choices: &[&str],
) -> Result<Option<String>, String> {
    match take_text(object, key)? {
        Some(s) if !choices.contains(&s.as_str()) => Err(format!(
            "its `{key}` is {}, not one of {}",
            shown(&s),
            listed(choices)
        )),
        other => Ok(other),
    }
}

fn take_options(object: &mut Map<String, Value>) -> Result<Option<Map<String, Value>>, String> {
    match object.remove("options") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(options)) if options.values().all(Value::is_string) => Ok(Some(options)),
        Some(_) => Err("its `options` is not an object of text values".into()),
    }
}

/// A field value: a JSON array of these strings.
fn texts<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    Value::Array(
        values
            .into_iter()
            .map(|v| Value::String(v.to_string()))
            .collect(),
    )
    .to_string()
}

fn push_text(custom: &mut Vec<NewField>, label: &str, value: Option<&str>) {
    if let Some(value) = value {
        custom.push(NewField::new("text", Some(label), texts([value])));
    }
}

// ---- records to items ----------------------------------------------------------------------

type Read = Result<(String, Option<VaultFieldRef>), String>;

fn connection_payload(record: &VaultRecord) -> Read {
    if record.title.trim().is_empty() {
        return Err("it has no title (the connection's name)".into());
    }
    let engine = match custom_text(record, ENGINE)? {
        Some(engine) => engine,
        None => standard_type_text(record)?
            .as_deref()
            .and_then(engine_from_keeper)
            .ok_or_else(|| format!("it names no engine (the `{ENGINE}` or `type` field)"))?,
    };
    let mut payload = Map::new();
    payload.insert("name".into(), Value::String(record.title.clone()));
    payload.insert("engine".into(), Value::String(engine));
    let (host, port) = host_and_port(record)?;
    insert_text(&mut payload, "host", host);
    if let Some(port) = port {
        payload.insert("port".into(), Value::from(port));
    }
    insert_text(&mut payload, "database", custom_text(record, DATABASE)?);
    insert_text(
        &mut payload,
        "user",
        first_text(standard(record, "login"), "login")?,
    );
    let tls =
        choice(custom_text(record, TLS)?, TLS, &TLS_MODES)?.unwrap_or_else(|| "prefer".into());
    payload.insert("tls".into(), Value::String(tls));
    let read_only = match custom_text(record, READ_ONLY)?.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(format!(
                "its `{READ_ONLY}` is {}, not `true` or `false`",
                shown(other)
            ));
        }
    };
    payload.insert("read_only".into(), Value::Bool(read_only));
    insert_text(
        &mut payload,
        "environment",
        custom_text(record, ENVIRONMENT)?,
    );
    insert_text(&mut payload, "color", custom_text(record, COLOR)?);
    if let Some(options) = custom_text(record, OPTIONS)? {
        match serde_json::from_str::<Value>(&options) {
            Ok(Value::Object(o)) if o.values().all(Value::is_string) => {
                payload.insert("options".into(), Value::Object(o));
            }
            _ => {
                return Err(format!(
                    "its `{OPTIONS}` is not a JSON object of text values"
                ));
            }
        }
    }
    let password = choice(
        custom_text(record, PASSWORD_MODE)?,
        PASSWORD_MODE,
        &PASSWORD_MODES,
    )?;
    payload.insert(
        "password".into(),
        password.map_or(Value::Null, Value::String),
    );
    insert_text(
        &mut payload,
        "password_rev",
        custom_text(record, PASSWORD_REV)?,
    );
    if let Some(extra) = custom_text(record, EXTRA)? {
        let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(&extra) else {
            return Err(format!("its `{EXTRA}` is not a JSON object"));
        };
        for (key, value) in extra {
            // What the fields say wins over a stray copy.
            payload.entry(key).or_insert(value);
        }
    }

    // The host withholds secret values: a stored password lists as an empty, redacted field.
    let secret = standard(record, PASSWORD_FIELD)
        .filter(|f| f.redacted)
        .map(|_| VaultFieldRef {
            record_uid: record.uid.clone(),
            field: PASSWORD_FIELD.into(),
        });
    Ok((Value::Object(payload).to_string(), secret))
}

fn preferences_payload(record: &VaultRecord) -> Read {
    let note = first_text(standard(record, "note"), "note")?
        .ok_or("it has no note (the preferences as JSON)")?;
    match serde_json::from_str::<Value>(&note) {
        Ok(Value::Object(_)) => Ok((note, None)),
        Ok(_) => Err("its note is JSON but not an object".into()),
        Err(e) => Err(format!("its note is not JSON: {e}")),
    }
}

/// The first standard field of a type.
fn standard<'a>(record: &'a VaultRecord, field_type: &str) -> Option<&'a Field> {
    record.fields.iter().find(|f| f.field_type == field_type)
}

/// The standard `text` field labelled `type` (Keeper's database type).
fn standard_type_text(record: &VaultRecord) -> Result<Option<String>, String> {
    let field = record.fields.iter().find(|f| {
        f.field_type == "text"
            && f.label
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case("type"))
    });
    first_text(field, "type")
}

fn custom_text(record: &VaultRecord, label: &str) -> Result<Option<String>, String> {
    first_text(record.custom_field(label), label)
}

/// The first value of a field as text: `None` when there is no field or no value (or an empty
/// one), an error when it is not a list of text.
fn first_text(field: Option<&Field>, name: &str) -> Result<Option<String>, String> {
    let Some(field) = field else { return Ok(None) };
    if field.redacted {
        return Err(format!(
            "its `{name}` field is of a secret type (`{}`), which cannot be read back",
            field.field_type
        ));
    }
    match serde_json::from_str::<Value>(&field.value) {
        Ok(Value::Array(values)) => match values.into_iter().next() {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok((!s.is_empty()).then_some(s)),
            Some(_) => Err(format!("its `{name}` field does not hold text")),
        },
        _ => Err(format!("its `{name}` field is not a list of values")),
    }
}

/// The `host` field: `[{"hostName": "...", "port": "..."}]`.
fn host_and_port(record: &VaultRecord) -> Result<(Option<String>, Option<u16>), String> {
    let Some(field) = standard(record, "host") else {
        return Ok((None, None));
    };
    let malformed = || "its `host` field is not a host name and port".to_string();
    let address = match serde_json::from_str::<Value>(&field.value) {
        Ok(Value::Array(values)) => match values.into_iter().next() {
            None | Some(Value::Null) => return Ok((None, None)),
            Some(Value::Object(address)) => address,
            Some(_) => return Err(malformed()),
        },
        _ => return Err(malformed()),
    };
    let host = match address.get("hostName") {
        None | Some(Value::Null) => None,
        Some(Value::String(h)) => (!h.is_empty()).then(|| h.clone()),
        Some(_) => return Err(malformed()),
    };
    let bad_port =
        |shown_port: String| format!("its port {shown_port} is not a number from 0 to 65535");
    let port = match address.get("port") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(p.trim().parse::<u16>().map_err(|_| bad_port(shown(p)))?),
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| bad_port(shown(&n.to_string())))?,
        ),
        Some(_) => return Err(malformed()),
    };
    Ok((host, port))
}

fn choice(value: Option<String>, label: &str, choices: &[&str]) -> Result<Option<String>, String> {
    match value {
        Some(v) if !choices.contains(&v.as_str()) => Err(format!(
            "its `{label}` is {}, not one of {}",
            shown(&v),
            listed(choices)
        )),
        other => Ok(other),
    }
}

fn insert_text(payload: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(value) = value {
        payload.insert(key.into(), Value::String(value));
    }
}

/// A value quoted for a message, short.
fn shown(value: &str) -> String {
    let short: String = value.chars().take(20).collect();
    if short.len() < value.len() {
        format!("`{short}...`")
    } else {
        format!("`{short}`")
    }
}

fn listed(choices: &[&str]) -> String {
    choices
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record the vault gives back for one that was created: what the host's KSM client
    /// answers, with the password value withheld as it withholds every secret type.
    fn stored(uid: &str, record: &NewRecord) -> VaultRecord {
        let field = |f: &NewField| {
            let redacted = f.field_type == "password";
            Field {
                field_type: f.field_type.clone(),
                label: f.label.clone(),
                value: if redacted {
                    "[]".into()
                } else {
                    f.value.clone()
                },
                redacted,
            }
        };
        VaultRecord {
            uid: uid.into(),
            record_type: record.record_type.clone(),
            title: record.title.clone(),
            folder_uid: Some("FOLDER".into()),
            fields: record.fields.iter().map(field).collect(),
            custom: record.custom.iter().map(field).collect(),
            notes: record.notes.clone(),
            links: Vec::new(),
        }
    }

    fn item(kind: ItemKind, payload: &Value, secret: Option<&str>) -> NewItem {
        NewItem {
            local_id: "local-1".into(),
            kind,
            payload: payload.to_string(),
            secret: secret.map(Into::into),
        }
    }

    fn payload_of(item: &StoredItem) -> Value {
        serde_json::from_str(&item.payload).expect("payload is JSON")
    }

    fn field(field_type: &str, label: Option<&str>, value: &str) -> Field {
        Field {
            field_type: field_type.into(),
            label: label.map(Into::into),
            value: value.into(),
            redacted: false,
        }
    }

    fn storage_record(fields: Vec<Field>, custom: Vec<Field>) -> VaultRecord {
        VaultRecord {
            uid: "UID9".into(),
            record_type: CONNECTION_RECORD.into(),
            title: "orders".into(),
            folder_uid: None,
            fields,
            custom,
            notes: None,
            links: Vec::new(),
        }
    }

    fn unreadable(item: &StoredItem) -> String {
        match payload_of(item).get("unreadable") {
            Some(Value::String(why)) => why.clone(),
            _ => panic!("readable: {}", item.payload),
        }
    }

    fn full_connection() -> Value {
        json!({
            "name": "Orders – Primär",
            "engine": "postgres",
            "host": "db.internal",
            "port": 6432,
            "database": "orders",
            "user": "app",
            "tls": "verify-full",
            "read_only": true,
            "environment": "production",
            "color": "#ff0000",
            "options": {"connect_timeout": "10", "application_name": "keeperdb \"x\""},
            "password": "keyring",
            "password_rev": "rev-7",
        })
    }

    fn layout(fields: &[NewField]) -> Vec<(String, Option<String>, String, Option<String>)> {
        fields
            .iter()
            .map(|f| {
                (
                    f.field_type.clone(),
                    f.label.clone(),
                    f.value.clone(),
                    f.secret.clone(),
                )
            })
            .collect()
    }

    fn owned(
        t: &str,
        label: Option<&str>,
        value: &str,
        secret: Option<&str>,
    ) -> (String, Option<String>, String, Option<String>) {
        (
            t.into(),
            label.map(Into::into),
            value.into(),
            secret.map(Into::into),
        )
    }

    #[test]
    fn a_connection_becomes_a_database_record_in_keepers_layout() {
        let record = to_record(&item(
            ItemKind::Connection,
            &full_connection(),
            Some("HANDLE-1"),
        ))
        .unwrap();
        assert_eq!(record.record_type, "databaseCredentials");
        assert_eq!(record.title, "Orders – Primär");
        assert_eq!(record.notes, None);
        assert_eq!(
            layout(&record.fields),
            vec![
                owned("text", Some("type"), r#"["postgresql"]"#, None),
                owned(
                    "host",
                    None,
                    r#"[{"hostName":"db.internal","port":"6432"}]"#,
                    None
                ),
                owned("login", None, r#"["app"]"#, None),
                owned("password", None, "[]", Some("HANDLE-1")),
            ]
        );
        assert_eq!(
            layout(&record.custom),
            vec![
                owned("text", Some("Database"), r#"["orders"]"#, None),
                owned("text", Some("keeperdb_local_id"), r#"["local-1"]"#, None),
                owned("text", Some("keeperdb_kind"), r#"["connection"]"#, None),
                owned("text", Some("keeperdb_engine"), r#"["postgres"]"#, None),
                owned("text", Some("keeperdb_tls"), r#"["verify-full"]"#, None),
                owned("text", Some("keeperdb_read_only"), r#"["true"]"#, None),
                owned(
                    "text",
                    Some("keeperdb_environment"),
                    r#"["production"]"#,
                    None
                ),
                owned("text", Some("keeperdb_color"), r##"["#ff0000"]"##, None),
                owned(
                    "text",
                    Some("keeperdb_options"),
                    r#"["{\"application_name\":\"keeperdb \\\"x\\\"\",\"connect_timeout\":\"10\"}"]"#,
                    None
                ),
                owned("text", Some("keeperdb_password"), r#"["keyring"]"#, None),
                owned("text", Some("keeperdb_password_rev"), r#"["rev-7"]"#, None),
            ]
        );
        // Every value is a JSON array of strings.
        for f in record.fields.iter().chain(&record.custom) {
            let value: Value = serde_json::from_str(&f.value).unwrap();
            assert!(value.is_array(), "{f:?}");
        }
    }

    #[test]
    fn a_minimal_connection_writes_no_empty_standard_field_and_only_the_custom_fields_it_has() {
        // Keeper (and its SDK) refuse a record with an empty standard field.
        let payload = json!({"name": "lite", "engine": "sqlite", "tls": "prefer", "read_only": false, "password": null});
        let record = to_record(&item(ItemKind::Connection, &payload, None)).unwrap();
        assert_eq!(
            layout(&record.fields),
            vec![owned("text", Some("type"), r#"["sqlite"]"#, None)]
        );
        let labels: Vec<_> = record
            .custom
            .iter()
            .map(|f| f.label.clone().unwrap())
            .collect();
        assert_eq!(
            labels,
            [
                "keeperdb_local_id",
                "keeperdb_kind",
                "keeperdb_engine",
                "keeperdb_tls",
                "keeperdb_read_only"
            ]
        );
    }

    #[test]
    fn engines_are_written_in_keepers_words() {
        for (engine, keeper) in [
            ("postgres", "postgresql"),
            ("mysql", "mysql"),
            ("mariadb", "mariadb"),
            ("sqlite", "sqlite"),
            ("mssql", "mssql"),
            ("sqlserver", "mssql"),
            ("oracle", "oracle"),
            ("cockroach", "cockroach"),
        ] {
            let record = to_record(&item(
                ItemKind::Connection,
                &json!({"name": "n", "engine": engine}),
                None,
            ))
            .unwrap();
            assert_eq!(record.fields[0].value, texts([keeper]), "{engine}");
            assert_eq!(
                record
                    .custom
                    .iter()
                    .find(|f| f.label.as_deref() == Some(ENGINE))
                    .unwrap()
                    .value,
                texts([engine])
            );
        }
    }

    #[test]
    fn a_full_connection_round_trips_exactly_with_its_secret_reference() {
        let payload = full_connection();
        let record = to_record(&item(ItemKind::Connection, &payload, Some("HANDLE-1"))).unwrap();
        let back = to_item(&stored("REC1", &record)).expect("a storage record");
        assert_eq!(back.local_id, "local-1");
        assert_eq!(back.remote_ref, "REC1");
        assert_eq!(back.kind, ItemKind::Connection);
        assert_eq!(payload_of(&back), payload);
        let secret = back.secret.expect("the password is in the record");
        assert_eq!(
            (secret.record_uid.as_str(), secret.field.as_str()),
            ("REC1", "password")
        );
    }

    #[test]
    fn a_minimal_connection_round_trips_exactly() {
        let payload = json!({"name": "lite", "engine": "sqlite", "database": "/tmp/app.db", "tls": "prefer", "read_only": false, "password": null});
        let record = to_record(&item(ItemKind::Connection, &payload, None)).unwrap();
        let back_record = stored("REC2", &record);
        assert!(
            back_record
                .fields
                .iter()
                .all(|f| f.field_type != "password"),
            "no password field without a password"
        );
        let back = to_item(&back_record).unwrap();
        assert_eq!(payload_of(&back), payload);
        assert!(back.secret.is_none());
    }

    #[test]
    fn absent_tls_read_only_and_password_read_back_as_their_defaults() {
        let record = to_record(&item(
            ItemKind::Connection,
            &json!({"name": "n", "engine": "mysql", "port": 3306}),
            None,
        ))
        .unwrap();
        let back = to_item(&stored("REC3", &record)).unwrap();
        assert_eq!(
            payload_of(&back),
            json!({"name": "n", "engine": "mysql", "port": 3306, "tls": "prefer", "read_only": false, "password": null})
        );
    }

    #[test]
    fn unknown_keys_round_trip_through_keeperdb_extra() {
        let mut payload = full_connection();
        payload["ssh_tunnel"] = json!({"host": "bastion", "port": 22});
        payload["tags"] = json!(["a", "b"]);
        payload["future_flag"] = json!(null);
        let record = to_record(&item(ItemKind::Connection, &payload, None)).unwrap();
        let extra = record
            .custom
            .iter()
            .find(|f| f.label.as_deref() == Some("keeperdb_extra"))
            .expect("keeperdb_extra");
        let text: Vec<String> = serde_json::from_str(&extra.value).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text[0]).unwrap(),
            json!({"ssh_tunnel": {"host": "bastion", "port": 22}, "tags": ["a", "b"], "future_flag": null})
        );
        assert_eq!(
            payload_of(&to_item(&stored("REC4", &record)).unwrap()),
            payload
        );
    }

    #[test]
    fn preferences_become_a_secure_note_and_round_trip() {
        let payload = json!({"theme": "dark", "page_size": 500, "nested": {"a": [1, 2]}});
        let record = to_record(&item(ItemKind::Preferences, &payload, None)).unwrap();
        assert_eq!(record.record_type, "encryptedNotes");
        assert_eq!(record.title, "KeeperDB Preferences");
        let pretty = serde_json::to_string_pretty(&payload).unwrap();
        assert!(pretty.contains('\n'));
        assert_eq!(
            layout(&record.fields),
            vec![owned("note", None, &texts([pretty.as_str()]), None)]
        );
        assert_eq!(
            layout(&record.custom),
            vec![
                owned("text", Some("keeperdb_local_id"), r#"["local-1"]"#, None),
                owned("text", Some("keeperdb_kind"), r#"["preferences"]"#, None),
            ]
        );
        let back = to_item(&stored("PREF", &record)).unwrap();
        assert_eq!(back.kind, ItemKind::Preferences);
        assert_eq!(back.remote_ref, "PREF");
        assert!(back.secret.is_none());
        assert_eq!(payload_of(&back), payload);
    }

    #[test]
    fn payloads_the_host_would_not_write_are_refused_naming_the_item_and_the_problem() {
        let cases = [
            (ItemKind::Connection, "not json".to_string(), "not JSON"),
            (ItemKind::Connection, "[1]".into(), "not an object"),
            (
                ItemKind::Connection,
                json!({"engine": "postgres"}).to_string(),
                "no `name`",
            ),
            (
                ItemKind::Connection,
                json!({"name": "n"}).to_string(),
                "no `engine`",
            ),
            (
                ItemKind::Connection,
                json!({"name": "n", "engine": ""}).to_string(),
                "no `engine`",
            ),
            (
                ItemKind::Connection,
                json!({"name": 7, "engine": "mysql"}).to_string(),
                "`name` is not text",
            ),
            (
                ItemKind::Connection,
                json!({"name": "n", "engine": "mysql", "port": 70000}).to_string(),
                "`port`",
            ),
            (
                ItemKind::Connection,
                json!({"name": "n", "engine": "mysql", "port": "5432"}).to_string(),
                "`port`",
            ),
            (
                ItemKind::Connection,
                json!({"name": "n", "engine": "mysql", "tls": "maybe"}).to_string(),
                "`tls` is `maybe`",
            ),
            (
                ItemKind::Connection,
                json!({"name": "n", "engine": "mysql", "read_only": "yes"}).to_string(),
                "`read_only`",
            ),
            (
                ItemKind::Connection,
                json!({"name": "n", "engine": "mysql", "options": {"a": 1}}).to_string(),
                "`options`",
            ),
            (
                ItemKind::Connection,
                json!({"name": "n", "engine": "mysql", "password": "hunter2"}).to_string(),
                "`password`",
            ),
            (ItemKind::Preferences, "[]".into(), "not an object"),
            (ItemKind::Preferences, "{".into(), "not JSON"),
        ];
        for (kind, payload, expected) in cases {
            let new = NewItem {
                local_id: "local-1".into(),
                kind,
                payload: payload.clone(),
                secret: None,
            };
            match to_record(&new) {
                Err(Error::InvalidData(e)) => {
                    assert!(e.what.contains("local-1"), "{e:?}");
                    assert!(e.message.contains(expected), "{payload}: {}", e.message);
                }
                other => panic!("{payload}: {other:?}"),
            }
        }
        let no_id = NewItem {
            local_id: " ".into(),
            kind: ItemKind::Preferences,
            payload: "{}".into(),
            secret: None,
        };
        assert!(
            matches!(to_record(&no_id), Err(Error::InvalidData(e)) if e.message.contains("no local id"))
        );
    }

    #[test]
    fn the_refusal_of_a_bad_password_mode_does_not_repeat_much_of_it() {
        let long = "x".repeat(200);
        let new = item(
            ItemKind::Connection,
            &json!({"name": "n", "engine": "mysql", "password": long}),
            None,
        );
        let Err(Error::InvalidData(e)) = to_record(&new) else {
            panic!("accepted")
        };
        assert!(e.message.len() < 120, "{}", e.message);
    }

    #[test]
    fn records_without_a_local_id_are_not_items() {
        let plain = storage_record(vec![field("text", Some("type"), r#"["mysql"]"#)], vec![]);
        assert!(to_item(&plain).is_none());
        for value in ["[]", r#"[""]"#, "{not json", "[7]"] {
            let r = storage_record(vec![], vec![field("text", Some(LOCAL_ID), value)]);
            assert!(to_item(&r).is_none(), "{value}");
        }
    }

    #[test]
    fn malformed_storage_records_are_listed_as_unreadable_with_why() {
        let id = || field("text", Some(LOCAL_ID), r#"["local-7"]"#);
        let kind = |k: &str| field("text", Some(KIND), &texts([k]));
        let cases = [
            (
                storage_record(vec![], vec![id(), kind("connection")]),
                "names no engine",
            ),
            (
                storage_record(
                    vec![field("host", None, r#"[{"hostName":"h","port":"99999"}]"#)],
                    vec![
                        id(),
                        kind("connection"),
                        field("text", Some(ENGINE), r#"["mysql"]"#),
                    ],
                ),
                "port `99999`",
            ),
            (
                storage_record(
                    vec![field("host", None, r#""h""#)],
                    vec![id(), field("text", Some(ENGINE), r#"["mysql"]"#)],
                ),
                "`host` field",
            ),
            (
                storage_record(
                    vec![],
                    vec![id(), kind("connection"), field("text", Some(ENGINE), "{")],
                ),
                "`keeperdb_engine` field is not a list",
            ),
            (
                storage_record(
                    vec![],
                    vec![
                        id(),
                        field("text", Some(ENGINE), r#"["mysql"]"#),
                        field("text", Some(TLS), r#"["sometimes"]"#),
                    ],
                ),
                "`keeperdb_tls` is `sometimes`",
            ),
            (
                storage_record(
                    vec![],
                    vec![
                        id(),
                        field("text", Some(ENGINE), r#"["mysql"]"#),
                        field("text", Some(READ_ONLY), r#"["yes"]"#),
                    ],
                ),
                "`keeperdb_read_only`",
            ),
            (
                storage_record(
                    vec![],
                    vec![
                        id(),
                        field("text", Some(ENGINE), r#"["mysql"]"#),
                        field("text", Some(OPTIONS), r#"["[1]"]"#),
                    ],
                ),
                "`keeperdb_options`",
            ),
            (
                storage_record(
                    vec![],
                    vec![
                        id(),
                        field("text", Some(ENGINE), r#"["mysql"]"#),
                        field("text", Some(EXTRA), r#"["nope"]"#),
                    ],
                ),
                "`keeperdb_extra`",
            ),
            (
                storage_record(vec![], vec![id(), kind("something")]),
                "`keeperdb_kind` is `something`",
            ),
            (
                storage_record(vec![], vec![id(), kind("preferences")]),
                "no note",
            ),
            (
                storage_record(
                    vec![field("note", None, r#"["[1, 2]"]"#)],
                    vec![id(), kind("preferences")],
                ),
                "not an object",
            ),
            (
                storage_record(
                    vec![field("note", None, r#"["{oops"]"#)],
                    vec![id(), kind("preferences")],
                ),
                "not JSON",
            ),
        ];
        for (record, expected) in cases {
            let item = to_item(&record).expect("a storage record is always listed");
            assert_eq!(item.local_id, "local-7");
            assert_eq!(item.remote_ref, "UID9");
            assert!(item.secret.is_none());
            let why = unreadable(&item);
            assert!(why.contains(expected), "expected {expected:?} in {why:?}");
        }
        let mut untitled = storage_record(
            vec![],
            vec![id(), field("text", Some(ENGINE), r#"["mysql"]"#)],
        );
        untitled.title = " ".into();
        assert!(unreadable(&to_item(&untitled).unwrap()).contains("no title"));
    }

    #[test]
    fn the_kind_of_a_record_that_lost_keeperdb_kind_comes_from_its_type() {
        let id = field("text", Some(LOCAL_ID), r#"["local-8"]"#);
        let mut prefs = storage_record(
            vec![field("note", None, r#"["{\"a\": 1}"]"#)],
            vec![id.clone()],
        );
        prefs.record_type = PREFERENCES_RECORD.into();
        let item = to_item(&prefs).unwrap();
        assert_eq!(item.kind, ItemKind::Preferences);
        assert_eq!(payload_of(&item), json!({"a": 1}));
        let other = storage_record(vec![], vec![id]);
        assert_eq!(to_item(&other).unwrap().kind, ItemKind::Connection);
    }

    #[test]
    fn a_record_edited_in_keeper_falls_back_to_its_type_and_takes_numeric_ports() {
        let record = storage_record(
            vec![
                field("text", Some("type"), r#"["PostgreSQL 16"]"#),
                field("host", None, r#"[{"hostName":"pg","port":5433}]"#),
                field("login", None, r#"[""]"#),
            ],
            vec![
                field("text", Some(LOCAL_ID), r#"["local-9"]"#),
                field("text", Some(KIND), r#"["connection"]"#),
            ],
        );
        assert_eq!(
            payload_of(&to_item(&record).unwrap()),
            json!({"name": "orders", "engine": "postgres", "host": "pg", "port": 5433, "tls": "prefer", "read_only": false, "password": null})
        );
        for (text, id) in [
            ("mssql", Some("mssql")),
            ("Microsoft SQL Server", Some("mssql")),
            ("MariaDB 11", Some("mariadb")),
            ("duckdb", Some("duckdb")),
            ("¿?", None),
        ] {
            assert_eq!(engine_from_keeper(text).as_deref(), id, "{text}");
        }
    }
}
