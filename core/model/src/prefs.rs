//! Application preferences: typed, with defaults, addressed by dotted keys (`editor.tab_width`)
//! from shells, and kept with room for keys a newer version or a plugin adds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Colour theme for shells that draw one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Follow the system setting.
    #[default]
    System,
    /// Light.
    Light,
    /// Dark.
    Dark,
}

/// Key bindings in the SQL editor and the interactive shell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Keymap {
    /// Emacs-style line editing (readline's default).
    #[default]
    Emacs,
    /// Vi-style modal editing.
    Vi,
}

/// Where local connection passwords are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordStorage {
    /// The OS credential store (Secret Service, Keychain, Credential Manager).
    #[default]
    Keyring,
    /// Keep no password; ask for it at every connect. The explicit fallback where no
    /// credential store exists.
    Prompt,
}

/// Who is the authority for credentials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// keeperdb keeps its own connections, and may mirror them into a vault (storage sync).
    #[default]
    Standalone,
    /// A Keeper Gateway is the only credential authority: no connection or password is
    /// mirrored anywhere, so storage sync is unavailable.
    Gateway,
}

/// Storage sync settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoragePrefs {
    /// Sync after each change of a saved connection or a preference, not only on demand.
    pub auto: bool,
}

/// What AI agents may reach through `keeperdb mcp` (the Model Context Protocol server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpPrefs {
    /// The connections (names, ids or `SOURCE/NAME`) agents may see and query. Empty, the
    /// default, exposes none: nothing is reachable by accident.
    pub connections: Vec<String>,
    /// The exposed connections on which agents may write, each write confirmed by the user.
    /// Never honoured for a connection tagged `production`.
    pub allow_writes: Vec<String>,
    /// Most rows one agent call returns.
    pub max_rows: u32,
    /// Most bytes of JSON rows one agent call returns.
    pub max_bytes: u32,
}

impl Default for McpPrefs {
    fn default() -> Self {
        Self {
            connections: Vec::new(),
            allow_writes: Vec::new(),
            max_rows: 500,
            max_bytes: 256 * 1024,
        }
    }
}

/// SQL editor settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EditorPrefs {
    /// Columns per tab stop.
    pub tab_width: u8,
    /// Insert spaces instead of tabs.
    pub use_spaces: bool,
    /// Key bindings.
    pub keymap: Keymap,
    /// Upper-case SQL keywords when formatting.
    pub uppercase_keywords: bool,
}

impl Default for EditorPrefs {
    fn default() -> Self {
        Self {
            tab_width: 4,
            use_spaces: true,
            keymap: Keymap::default(),
            uppercase_keywords: true,
        }
    }
}

/// Every preference. Unknown top-level tables are kept in `extra` and written back unchanged,
/// so a file touched by a newer keeperdb or holding plugin settings loses nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preferences {
    /// Colour theme.
    pub theme: Theme,
    /// Rows per result page (also the driver's batch size hint).
    pub page_size: u32,
    /// Statement timeout in seconds, 0 for none.
    pub query_timeout_secs: u32,
    /// Connect timeout in seconds.
    pub connect_timeout_secs: u32,
    /// Where local passwords go.
    pub password_storage: PasswordStorage,
    /// Ask before running statements on connections tagged `production`.
    pub confirm_production_writes: bool,
    /// SQL editor settings.
    pub editor: EditorPrefs,
    /// Standalone (the default) or behind a Keeper Gateway.
    pub mode: Mode,
    /// Storage sync settings.
    pub storage: StoragePrefs,
    /// What AI agents may reach over MCP.
    pub mcp: McpPrefs,
    /// Keys this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, toml::Value>,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            theme: Theme::default(),
            page_size: 1000,
            query_timeout_secs: 0,
            connect_timeout_secs: 10,
            password_storage: PasswordStorage::default(),
            confirm_production_writes: true,
            editor: EditorPrefs::default(),
            mode: Mode::default(),
            storage: StoragePrefs::default(),
            mcp: McpPrefs::default(),
            extra: BTreeMap::new(),
        }
    }
}

/// A preference that cannot be read or set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefError {
    /// No preference has that key.
    #[error("unknown preference `{key}` (known: {known})")]
    UnknownKey {
        /// The key asked for.
        key: String,
        /// The known keys, comma-separated.
        known: String,
    },
    /// The value does not fit the preference's type.
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// Why it does not fit.
        reason: String,
    },
}

impl Preferences {
    /// Every known key with its current value as text, in a stable order.
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Ok(toml::Value::Table(table)) = toml::Value::try_from(self.known_only()) {
            flatten("", &toml::Value::Table(table), &mut out);
        }
        out
    }

    /// The value of one key, as text.
    pub fn get(&self, key: &str) -> Result<String, PrefError> {
        self.entries()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| self.unknown(key))
    }

    /// Set one key from text; the value is checked against the preference's type and range.
    /// A list-typed key (`mcp.connections`) takes comma-separated text: `a, b` is the list of
    /// `a` and `b`, the empty text the empty list.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), PrefError> {
        let current = self.get(key)?;
        let invalid = |reason: String| PrefError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason,
        };
        // Type the new value like the current one: numbers and booleans stay typed, so
        // `page_size = "abc"` is refused instead of silently becoming a string.
        let mut tree =
            toml::Value::try_from(self.known_only()).map_err(|e| invalid(e.to_string()))?;
        let mut slot = &mut tree;
        for part in key.split('.') {
            slot = slot.get_mut(part).ok_or_else(|| self.unknown(key))?;
        }
        // A list's text (`a, b`) would read as a string; its slot in the tree knows better.
        let typed = if slot.is_array() {
            toml::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| toml::Value::String(item.to_string()))
                    .collect(),
            )
        } else if current.parse::<i64>().is_ok() {
            toml::Value::Integer(
                value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| invalid("expected a whole number".into()))?,
            )
        } else if current == "true" || current == "false" {
            toml::Value::Boolean(match value.trim() {
                "true" | "yes" | "on" | "1" => true,
                "false" | "no" | "off" | "0" => false,
                _ => return Err(invalid("expected true or false".into())),
            })
        } else {
            toml::Value::String(value.to_string())
        };
        *slot = typed;
        let mut updated: Preferences = tree
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.message().to_string()))?;
        updated.validate().map_err(invalid)?;
        updated.extra = std::mem::take(&mut self.extra);
        *self = updated;
        Ok(())
    }

    /// Range checks the types cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1_000_000).contains(&self.page_size) {
            return Err("page_size must be between 1 and 1000000".into());
        }
        if self.connect_timeout_secs == 0 {
            return Err("connect_timeout_secs must be at least 1".into());
        }
        if !(1..=16).contains(&self.editor.tab_width) {
            return Err("editor.tab_width must be between 1 and 16".into());
        }
        if !(1..=100_000).contains(&self.mcp.max_rows) {
            return Err("mcp.max_rows must be between 1 and 100000".into());
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.mcp.max_bytes) {
            return Err("mcp.max_bytes must be between 1024 and 67108864".into());
        }
        Ok(())
    }

    fn known_only(&self) -> Preferences {
        Preferences {
            extra: BTreeMap::new(),
            ..self.clone()
        }
    }

    fn unknown(&self, key: &str) -> PrefError {
        PrefError::UnknownKey {
            key: key.to_string(),
            known: self
                .entries()
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        // Lists read as the text that sets them: `a, b`.
        toml::Value::Array(items) => out.push((
            prefix.to_string(),
            items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        )),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_and_set_typed_values() {
        let mut p = Preferences::default();
        assert_eq!(p.get("page_size").unwrap(), "1000");
        p.set("page_size", "250").unwrap();
        assert_eq!(p.page_size, 250);
        p.set("editor.keymap", "vi").unwrap();
        assert_eq!(p.editor.keymap, Keymap::Vi);
        p.set("theme", "dark").unwrap();
        assert_eq!(p.theme, Theme::Dark);
        p.set("password_storage", "prompt").unwrap();
        assert_eq!(p.password_storage, PasswordStorage::Prompt);
        p.set("editor.use_spaces", "false").unwrap();
        assert!(!p.editor.use_spaces);
    }

    #[test]
    fn bad_keys_and_values_are_refused_and_change_nothing() {
        let mut p = Preferences::default();
        let before = p.clone();
        let err = p.set("page_sise", "10").unwrap_err();
        assert!(matches!(err, PrefError::UnknownKey { .. }));
        assert!(
            err.to_string().contains("page_size"),
            "lists known keys: {err}"
        );
        assert!(matches!(
            p.set("page_size", "many"),
            Err(PrefError::InvalidValue { .. })
        ));
        assert!(matches!(
            p.set("page_size", "0"),
            Err(PrefError::InvalidValue { .. })
        ));
        let err = p.set("theme", "purple").unwrap_err();
        assert!(err.to_string().contains("purple"), "{err}");
        assert!(matches!(
            p.set("editor.use_spaces", "maybe"),
            Err(PrefError::InvalidValue { .. })
        ));
        assert!(p.set("editor", "x").is_err());
        assert_eq!(p, before);
    }

    #[test]
    fn list_keys_take_comma_separated_text() {
        let mut p = Preferences::default();
        assert_eq!(p.get("mcp.connections").unwrap(), "");
        p.set("mcp.connections", "orders, chinook ,,work/Billing")
            .unwrap();
        assert_eq!(p.mcp.connections, ["orders", "chinook", "work/Billing"]);
        assert_eq!(
            p.get("mcp.connections").unwrap(),
            "orders, chinook, work/Billing"
        );
        // The text it shows sets the same list again.
        let shown = p.get("mcp.connections").unwrap();
        p.set("mcp.connections", &shown).unwrap();
        assert_eq!(p.mcp.connections, ["orders", "chinook", "work/Billing"]);
        p.set("mcp.connections", "").unwrap();
        assert!(p.mcp.connections.is_empty());
        p.set("mcp.max_rows", "20").unwrap();
        assert_eq!(p.mcp.max_rows, 20);
        assert!(p.set("mcp.max_rows", "many").is_err());
    }

    #[test]
    fn unknown_tables_survive_a_round_trip() {
        let text = "page_size = 42\n[plugins.pgpass]\nwatch = true\n";
        let mut p: Preferences = toml::from_str(text).unwrap();
        assert_eq!(p.page_size, 42);
        p.set("theme", "light").unwrap();
        let out = toml::to_string(&p).unwrap();
        let back: Preferences = toml::from_str(&out).unwrap();
        assert_eq!(back.extra, p.extra);
        assert!(out.contains("[plugins.pgpass]"), "{out}");
        assert!(
            p.get("plugins.pgpass.watch").is_err(),
            "extra keys are not settable prefs"
        );
    }
}
