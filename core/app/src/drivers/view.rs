//! The drivers keeperdb could use, in search order, the engines each serves, and which one
//! serves each engine.
//!
//! Search order: the bundled drivers (an installed copy under a bundled id takes its place),
//! then the other installed drivers by id. An engine is served by the driver recorded for it
//! in the plugin state (the one that served it first, or the one the user chose) while that
//! driver is enabled and serves it; else by the first driver in search order that serves it.
//! A driver serves the engines its manifest declares; one that declares none is asked, which
//! loads its library.

use std::collections::BTreeMap;
use std::path::PathBuf;

use keeperdb_model::Engine;
use keeperdb_model::engine::EngineSpec;
use keeperdb_model::manifest::{Manifest, PluginKind};

use crate::bundle::Bundle;
use crate::plugins::{PluginEntry, PluginStatus};

/// A driver plugin, installed or bundled.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) id: String,
    pub(crate) manifest: Option<Manifest>,
    pub(crate) dir: PathBuf,
    pub(crate) bundled: bool,
    /// Why it is not used (disabled, broken), if so.
    pub(crate) unusable: Option<String>,
}

impl Candidate {
    fn usable_manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref().filter(|_| self.unusable.is_none())
    }
}

/// The drivers, their engines and the recorded choices, read once.
#[derive(Debug)]
pub(crate) struct DriverView {
    pub(crate) candidates: Vec<Candidate>,
    /// Per candidate, the engines it serves, or why they could not be learned.
    pub(crate) served: Vec<Result<Vec<EngineSpec>, String>>,
    pub(crate) choices: BTreeMap<Engine, String>,
    /// What could not be read or loaded on the way, for error messages.
    pub(crate) problems: Vec<String>,
    /// The bundle directory.
    pub(crate) bundle_root: PathBuf,
}

/// The drivers in search order: bundled ids first, then the other installed drivers.
pub(crate) fn candidates(
    installed: &[PluginEntry],
    bundle: &Bundle,
    problems: &mut Vec<String>,
) -> Vec<Candidate> {
    let installed: Vec<&PluginEntry> = installed
        .iter()
        .filter(|e| e.installed.kind == PluginKind::Driver)
        .collect();
    let from_entry = |e: &PluginEntry| Candidate {
        id: e.id.clone(),
        manifest: e.manifest.clone(),
        dir: e.dir.clone(),
        bundled: false,
        unusable: match &e.status {
            PluginStatus::Enabled => None,
            PluginStatus::Disabled => Some("disabled".into()),
            PluginStatus::Broken(why) => Some(format!("broken: {why}")),
        },
    };
    let mut out = Vec::new();
    for (manifest, dir) in &bundle.plugins {
        if manifest.kind != PluginKind::Driver {
            continue;
        }
        let bundled = Candidate {
            id: manifest.id.clone(),
            manifest: Some(manifest.clone()),
            dir: dir.clone(),
            bundled: true,
            unusable: None,
        };
        match installed.iter().find(|e| e.id == manifest.id) {
            // An installed copy that no longer verifies: the copy keeperdb ships serves instead.
            Some(e) if matches!(e.status, PluginStatus::Broken(_)) => {
                problems.push(format!("plugin `{}`: {}", e.id, e.status));
                out.push(bundled);
            }
            Some(e) => out.push(from_entry(e)),
            None => out.push(bundled),
        }
    }
    for e in installed {
        if out.iter().any(|c| c.id == e.id) {
            continue;
        }
        if let PluginStatus::Broken(_) = e.status {
            problems.push(format!("plugin `{}`: {}", e.id, e.status));
        }
        out.push(from_entry(e));
    }
    out
}

/// The engines a driver's manifest declares, if it declares any.
pub(crate) fn declared(manifest: &Manifest) -> Option<Vec<EngineSpec>> {
    (!manifest.engines.is_empty()).then(|| manifest.engines.clone())
}

/// An engine spec learned from a loaded library, which names no URL schemes or port.
pub(crate) fn bare_spec(id: &Engine) -> EngineSpec {
    EngineSpec {
        id: id.clone(),
        url_schemes: Vec::new(),
        default_port: None,
    }
}

impl DriverView {
    /// The view over `candidates`, learning each usable one's engines with `engines_of`
    /// (declared ones are taken from the manifest without asking it).
    pub(crate) fn new(
        candidates: Vec<Candidate>,
        choices: BTreeMap<Engine, String>,
        mut problems: Vec<String>,
        bundle_root: PathBuf,
        engines_of: impl Fn(&Candidate, &Manifest) -> Result<Vec<EngineSpec>, String>,
    ) -> Self {
        let served = candidates
            .iter()
            .map(|c| match (&c.manifest, c.usable_manifest()) {
                (Some(m), _) if !m.engines.is_empty() => Ok(m.engines.clone()),
                (_, Some(m)) => engines_of(c, m).inspect_err(|why| {
                    problems.push(format!("plugin `{}`: {why}", c.id));
                }),
                (_, None) => Err(c
                    .unusable
                    .clone()
                    .unwrap_or_else(|| "its plugin.toml does not read".into())),
            })
            .collect();
        Self {
            candidates,
            served,
            choices,
            problems,
            bundle_root,
        }
    }

    /// Whether candidate `i` serves `engine` (declared or learned), whether or not it is used.
    pub(crate) fn serves(&self, i: usize, engine: &Engine) -> bool {
        self.served[i]
            .as_ref()
            .is_ok_and(|specs| specs.iter().any(|s| s.id == *engine))
    }

    fn usable_for(&self, i: usize, engine: &Engine) -> bool {
        self.candidates[i].unusable.is_none() && self.serves(i, engine)
    }

    /// The candidate that serves `engine`: the recorded one while it is usable and serves it,
    /// else the first in search order that does.
    pub(crate) fn owner(&self, engine: &Engine) -> Option<usize> {
        let n = self.candidates.len();
        if let Some(chosen) = self.choices.get(engine)
            && let Some(i) =
                (0..n).find(|&i| self.candidates[i].id == *chosen && self.usable_for(i, engine))
        {
            return Some(i);
        }
        (0..n).find(|&i| self.usable_for(i, engine))
    }

    /// The id of the driver serving `engine`, if any.
    pub(crate) fn owner_id(&self, engine: &Engine) -> Option<&str> {
        self.owner(engine).map(|i| self.candidates[i].id.as_str())
    }

    /// The candidate with this id.
    pub(crate) fn find(&self, id: &str) -> Option<usize> {
        self.candidates.iter().position(|c| c.id == id)
    }

    /// The engines candidate `i` serves, as ids.
    pub(crate) fn engine_ids(&self, i: usize) -> Vec<Engine> {
        self.served[i]
            .as_ref()
            .map(|specs| specs.iter().map(|s| s.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Every served engine once, in search order, each with its serving driver's spec (its
    /// URL schemes and port): a driver that is not used for an engine cannot change how its
    /// URLs read.
    pub(crate) fn specs(&self) -> Vec<EngineSpec> {
        let mut out: Vec<EngineSpec> = Vec::new();
        for specs in self.served.iter().flatten() {
            for spec in specs {
                if out.iter().any(|s| s.id == spec.id) {
                    continue;
                }
                let Some(owner) = self.owner(&spec.id) else {
                    continue;
                };
                if let Ok(specs) = &self.served[owner]
                    && let Some(own) = specs.iter().find(|s| s.id == spec.id)
                {
                    out.push(own.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(id: &str, engines: &[&str]) -> Manifest {
        let mut text = format!(
            "id = \"{id}\"\nversion = \"0.1.0\"\nkind = \"driver\"\napi = \"^0.4\"\npayload = \"lib.so\"\nsha256 = \"{}\"\n",
            "0".repeat(64)
        );
        for e in engines {
            text.push_str(&format!(
                "[[engines]]\nid = \"{e}\"\nurl_schemes = [\"{e}\"]\n"
            ));
        }
        Manifest::parse(&text, std::path::Path::new("plugin.toml")).unwrap()
    }

    fn candidate(id: &str, engines: &[&str], bundled: bool) -> Candidate {
        Candidate {
            id: id.into(),
            manifest: Some(manifest(id, engines)),
            dir: PathBuf::from(id),
            bundled,
            unusable: None,
        }
    }

    fn view(candidates: Vec<Candidate>, choices: &[(Engine, &str)]) -> DriverView {
        DriverView::new(
            candidates,
            choices
                .iter()
                .map(|(e, d)| (e.clone(), d.to_string()))
                .collect(),
            Vec::new(),
            PathBuf::new(),
            |_, _| Err("not loaded in these tests".into()),
        )
    }

    #[test]
    fn without_a_choice_the_bundled_driver_keeps_its_engine() {
        let v = view(
            vec![
                candidate("sqlx-driver", &["sqlite", "postgres"], true),
                candidate("a-driver", &["sqlite", "oracle"], false),
            ],
            &[],
        );
        assert_eq!(v.owner_id(&Engine::SQLITE), Some("sqlx-driver"));
        assert_eq!(
            v.owner_id(&Engine::new("oracle").unwrap()),
            Some("a-driver")
        );
    }

    #[test]
    fn a_recorded_choice_wins_while_its_driver_is_usable() {
        let mut candidates = vec![
            candidate("sqlx-driver", &["sqlite"], true),
            candidate("a-driver", &["sqlite"], false),
        ];
        let v = view(candidates.clone(), &[(Engine::SQLITE, "a-driver")]);
        assert_eq!(v.owner_id(&Engine::SQLITE), Some("a-driver"));

        candidates[1].unusable = Some("disabled".into());
        let v = view(candidates, &[(Engine::SQLITE, "a-driver")]);
        assert_eq!(v.owner_id(&Engine::SQLITE), Some("sqlx-driver"));
    }

    #[test]
    fn a_choice_naming_a_driver_that_does_not_serve_the_engine_is_not_followed() {
        let v = view(
            vec![
                candidate("sqlx-driver", &["sqlite"], true),
                candidate("a-driver", &["oracle"], false),
            ],
            &[(Engine::SQLITE, "a-driver")],
        );
        assert_eq!(v.owner_id(&Engine::SQLITE), Some("sqlx-driver"));
    }

    #[test]
    fn url_schemes_come_from_the_driver_that_serves_the_engine() {
        let mut hijack = candidate("a-driver", &["sqlite"], false);
        if let Some(m) = &mut hijack.manifest {
            m.engines[0].url_schemes = vec!["postgres".into()];
        }
        let v = view(
            vec![candidate("sqlx-driver", &["sqlite"], true), hijack.clone()],
            &[],
        );
        assert_eq!(v.specs()[0].url_schemes, vec!["sqlite".to_string()]);
        let v = view(
            vec![candidate("sqlx-driver", &["sqlite"], true), hijack],
            &[(Engine::SQLITE, "a-driver")],
        );
        assert_eq!(v.specs()[0].url_schemes, vec!["postgres".to_string()]);
    }
}
