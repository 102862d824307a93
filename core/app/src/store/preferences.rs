//! The preferences in `preferences.toml`: read (defaults when there is no file) and changed one
//! key at a time under the store's lock.

use keeperdb_model::prefs::Preferences;

use super::{LocalStore, StoreError, parse_toml, read_optional, write_atomic};

impl LocalStore {
    /// The preferences (defaults if the file does not exist yet).
    pub fn preferences(&self) -> Result<Preferences, StoreError> {
        let path = self.preferences_path();
        match read_optional(&path)? {
            None => Ok(Preferences::default()),
            Some(text) => {
                let prefs: Preferences = parse_toml(&text, &path)?;
                prefs.validate().map_err(|message| StoreError::Corrupt {
                    path: path.clone(),
                    message,
                })?;
                Ok(prefs)
            }
        }
    }
    /// Replace every preference (restored from storage sync); keys this version does not know
    /// are kept from the file.
    pub fn replace_preferences(&self, preferences: &Preferences) -> Result<(), StoreError> {
        preferences
            .validate()
            .map_err(|message| StoreError::Corrupt {
                path: self.preferences_path(),
                message,
            })?;
        self.locked(|store| {
            let mut updated = preferences.clone();
            updated.extra = store.preferences()?.extra;
            let text = toml::to_string_pretty(&updated).map_err(|e| StoreError::Corrupt {
                path: store.preferences_path(),
                message: e.to_string(),
            })?;
            write_atomic(&store.preferences_path(), text.as_bytes())
        })
    }
    /// Change one preference.
    pub fn set_preference(&self, key: &str, value: &str) -> Result<Preferences, StoreError> {
        self.locked(|store| {
            let mut prefs = store.preferences()?;
            prefs.set(key, value)?;
            let text = toml::to_string_pretty(&prefs).map_err(|e| StoreError::Corrupt {
                path: store.preferences_path(),
                message: e.to_string(),
            })?;
            write_atomic(&store.preferences_path(), text.as_bytes())?;
            Ok(prefs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::PREFERENCES_FILE;
    use super::*;

    fn store() -> (tempfile::TempDir, LocalStore) {
        super::super::test_store()
    }

    #[test]
    fn preferences_round_trip_and_corrupt_prefs_are_reported() {
        let (_d, store) = store();
        assert_eq!(store.preferences().unwrap(), Preferences::default());
        store.set_preference("page_size", "77").unwrap();
        assert_eq!(store.preferences().unwrap().page_size, 77);
        fs::write(
            store.dir().path().join(PREFERENCES_FILE),
            "page_size = \"x\"\n",
        )
        .unwrap();
        let err = store.preferences().unwrap_err().to_string();
        assert!(
            err.contains("preferences.toml") && err.contains("line 1"),
            "{err}"
        );
    }
}
