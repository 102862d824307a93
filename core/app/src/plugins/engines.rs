//! Which driver serves each engine, as the state file records it beside the capabilities the
//! user granted: the driver that served an engine first keeps it, and only the user's choice
//! moves it to another (see `crate::drivers` for how the set of drivers is searched).

use std::collections::BTreeMap;

use super::{PluginError, PluginStore};
use keeperdb_model::Engine;

impl PluginStore {
    /// Per engine, the driver recorded to serve it. An entry that does not name an engine
    /// (the file was edited by hand) is left out, with a warning.
    pub fn engine_choices(&self) -> Result<BTreeMap<Engine, String>, PluginError> {
        Ok(valid_choices(self.read_state()?.engines))
    }

    /// Record that `driver` serves `engine` from now on. Returns the driver recorded before,
    /// if any. The caller checks that `driver` exists and serves `engine`.
    pub(crate) fn choose_driver(
        &self,
        engine: &Engine,
        driver: &str,
    ) -> Result<Option<String>, PluginError> {
        self.locked(|| {
            let mut state = self.read_state()?;
            let before = state
                .engines
                .insert(engine.as_str().to_string(), driver.to_string());
            if before.as_deref() != Some(driver) {
                state.version = super::state::STATE_VERSION;
                self.write_state(&state)?;
            }
            Ok(before)
        })
    }
}

fn valid_choices(raw: BTreeMap<String, String>) -> BTreeMap<Engine, String> {
    raw.into_iter()
        .filter_map(|(engine, driver)| match Engine::new(&engine) {
            Ok(e) if e.as_str() == engine => Some((e, driver)),
            _ => {
                tracing::warn!(
                    engine = %engine.escape_debug(),
                    "plugins.toml names a driver for something that is not an engine id; ignored"
                );
                None
            }
        })
        .collect()
}

/// Record `keep` (engine, driver) for each engine that has no driver recorded yet: what an
/// install writes, in the same locked write as the plugin itself.
pub(super) fn record_first(engines: &mut BTreeMap<String, String>, keep: &[(Engine, String)]) {
    for (engine, driver) in keep {
        engines
            .entry(engine.as_str().to_string())
            .or_insert_with(|| driver.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_recorded_driver_of_an_engine_is_kept() {
        let mut engines = BTreeMap::new();
        record_first(&mut engines, &[(Engine::SQLITE, "sqlx-driver".into())]);
        record_first(
            &mut engines,
            &[
                (Engine::SQLITE, "fake-driver".into()),
                (Engine::POSTGRES, "fake-driver".into()),
            ],
        );
        assert_eq!(engines["sqlite"], "sqlx-driver");
        assert_eq!(engines["postgres"], "fake-driver");
    }

    #[test]
    fn a_hand_edited_entry_that_is_no_engine_id_is_ignored() {
        let raw = BTreeMap::from([
            ("sqlite".to_string(), "a".to_string()),
            ("Not An Engine!".to_string(), "b".to_string()),
            // An alias is not how keeperdb writes it: ignored, not silently renamed.
            ("postgresql".to_string(), "c".to_string()),
        ]);
        let valid = valid_choices(raw);
        assert_eq!(valid.len(), 1);
        assert_eq!(valid[&Engine::SQLITE], "a");
    }
}
