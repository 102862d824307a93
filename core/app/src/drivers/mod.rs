//! The set of drivers and which one serves each engine: the driver that served an engine first
//! (the bundled one, or the first installed) keeps it, and another driver that serves the same
//! engine is used for it only once the user chooses it; the choice is kept in the plugin state
//! beside the other consent. Search order and the rules are in [`view`]. Drivers load on first
//! use and stay loaded (a library is never unloaded).

mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use keeperdb_model::Engine;
use keeperdb_model::driver::Driver;
use keeperdb_model::engine::EngineSpec;
use keeperdb_model::manifest::{Manifest, PluginKind};
use serde::Serialize;

use crate::bundle::Bundle;
use crate::error::Error;
use crate::plugins::{Consent, InstalledPlugin, PluginEntry, PluginError, PluginStore, Staged};
use view::{Candidate, DriverView};

/// The drivers this process has loaded, and where it looks for more.
pub struct DriverSet {
    plugins: PluginStore,
    /// The driver serving each engine, once asked for.
    serving: Mutex<HashMap<Engine, Arc<dyn Driver>>>,
}

/// One engine a driver serves, and whether it is the driver used for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineUse {
    /// The engine.
    pub engine: Engine,
    /// The driver that serves it now: this one, another one, or none (this one is disabled
    /// or broken, and nothing else serves it).
    pub served_by: Option<String>,
}

/// A driver plugin and the engines it serves, as `plugins list` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct DriverEngines {
    /// Plugin id.
    pub id: String,
    /// It is the copy shipped with keeperdb, not an installed one.
    pub bundled: bool,
    /// The engines it serves.
    pub engines: Vec<EngineUse>,
    /// Why it is not used, or why its engines could not be learned.
    pub problem: Option<String>,
}

/// What installing a plugin did.
#[derive(Debug)]
pub struct Installed {
    /// The installed plugin.
    pub entry: PluginEntry,
    /// For a driver, each engine it serves and which driver serves it now: another driver
    /// that served it before keeps it until the user chooses this one.
    pub engines: Vec<EngineUse>,
}

/// What choosing a driver for an engine changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The engine.
    pub engine: Engine,
    /// The driver that serves it from now on.
    pub driver: String,
    /// The driver that served it before, if any (the same one when nothing changed).
    pub before: Option<String>,
}

/// What removing a plugin did.
#[derive(Debug)]
pub struct Removed {
    /// What was installed.
    pub record: InstalledPlugin,
    /// The engines it served, each with the driver that serves it now, if any.
    pub fallbacks: Vec<EngineUse>,
}

impl DriverSet {
    /// Drivers from `plugins` (installed) and the bundle.
    pub fn new(plugins: PluginStore) -> Self {
        Self {
            plugins,
            serving: Mutex::new(HashMap::new()),
        }
    }

    fn serving(&self) -> MutexGuard<'_, HashMap<Engine, Arc<dyn Driver>>> {
        self.serving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forget which driver served which engine (after the drivers or the choices changed).
    fn forget(&self) {
        self.serving().clear();
    }

    fn view(&self) -> DriverView {
        let mut problems = Vec::new();
        let installed = self.plugins.list().unwrap_or_else(|e| {
            problems.push(e.to_string());
            Vec::new()
        });
        let choices = self.plugins.engine_choices().unwrap_or_else(|e| {
            problems.push(e.to_string());
            Default::default()
        });
        let bundle = Bundle::of_this_process();
        problems.extend(bundle.problems.iter().cloned());
        let candidates = view::candidates(&installed, &bundle, &mut problems);
        DriverView::new(candidates, choices, problems, bundle.root, |c, m| {
            load(c, m).map(|d| d.engines().iter().map(view::bare_spec).collect())
        })
    }

    /// The engines the drivers serve, in search order, each with the URL schemes and port of
    /// the driver that serves it.
    pub fn engines(&self) -> Vec<EngineSpec> {
        self.view().specs()
    }

    /// Every driver plugin, installed or bundled, with the engines it serves and which
    /// driver serves each.
    pub fn report(&self) -> Vec<DriverEngines> {
        let view = self.view();
        (0..view.candidates.len())
            .map(|i| uses_of(&view, i))
            .collect()
    }

    /// The driver serving `engine`, loaded.
    pub fn driver_for(&self, engine: &Engine) -> Result<Arc<dyn Driver>, Error> {
        if let Some(d) = self.serving().get(engine) {
            return Ok(d.clone());
        }
        let view = self.view();
        let Some(i) = view.owner(engine) else {
            return Err(Error::NoDriver {
                engine: engine.clone(),
                searched: view.bundle_root,
                problems: view.problems,
            });
        };
        let c = &view.candidates[i];
        let loaded = match &c.manifest {
            Some(m) => load(c, m).and_then(|d| {
                if d.engines().contains(engine) {
                    Ok(d)
                } else {
                    Err(format!("its library does not serve {engine}"))
                }
            }),
            None => Err("its plugin.toml does not read".into()),
        };
        match loaded {
            Ok(d) => {
                self.serving().insert(engine.clone(), d.clone());
                Ok(d)
            }
            Err(reason) => Err(Error::DriverUnavailable {
                engine: engine.clone(),
                driver: c.id.clone(),
                reason,
                others: (0..view.candidates.len())
                    .filter(|&j| {
                        j != i && view.candidates[j].unusable.is_none() && view.serves(j, engine)
                    })
                    .map(|j| view.candidates[j].id.clone())
                    .collect(),
            }),
        }
    }

    /// Install a staged package once the user consented. For a driver, each engine it serves
    /// that another driver serves now stays with that driver (recorded in the same write), so
    /// the new one takes over nothing until the user chooses it.
    pub fn install(&self, staged: Staged, consent: Consent) -> Result<Installed, Error> {
        if staged.manifest.kind != PluginKind::Driver {
            let entry = self.plugins.install(staged, consent)?;
            return Ok(Installed {
                entry,
                engines: Vec::new(),
            });
        }
        // Asked before its library is opened to learn engines it does not declare.
        staged.check_consent(consent)?;
        let id = staged.manifest.id.clone();
        let offered: Vec<Engine> = match view::declared(&staged.manifest) {
            Some(specs) => specs.into_iter().map(|s| s.id).collect(),
            None => {
                match keeperdb_driver_host::load_with_manifest(staged.dir(), &staged.manifest) {
                    Ok(d) => d.engines().to_vec(),
                    Err(e) => {
                        // Installed all the same; `plugins list` shows why it serves nothing.
                        tracing::warn!(plugin = %id, "cannot learn which engines it serves: {e}");
                        Vec::new()
                    }
                }
            }
        };
        let before = self.view();
        let keep: Vec<(Engine, String)> = offered
            .iter()
            .map(|e| (e.clone(), before.owner_id(e).unwrap_or(&id).to_string()))
            .collect();
        let entry = self.plugins.install_keeping(staged, consent, &keep)?;
        self.forget();
        let after = self.view();
        let engines = match after.find(&id) {
            Some(i) => uses_of(&after, i).engines,
            None => Vec::new(),
        };
        Ok(Installed { entry, engines })
    }

    /// Make `driver` the one that serves `engine` (an engine id or alias). Refused, changing
    /// nothing, when the text is no engine id, when no installed or bundled driver has that
    /// id, when it is disabled or broken, or when it does not serve that engine.
    pub fn choose(&self, driver: &str, engine: &str) -> Result<Chosen, Error> {
        let engine = Engine::new(engine).map_err(PluginError::from)?;
        let view = self.view();
        let Some(i) = view.find(driver) else {
            return Err(self.not_a_driver(driver, &view).into());
        };
        let c = &view.candidates[i];
        match c.unusable.as_deref() {
            None => {}
            Some("disabled") => return Err(PluginError::Disabled(driver.to_string()).into()),
            Some(why) => {
                return Err(PluginError::GrantMismatch {
                    id: driver.to_string(),
                    message: why.to_string(),
                }
                .into());
            }
        }
        if !view.serves(i, &engine) {
            return Err(PluginError::DoesNotServe {
                id: driver.to_string(),
                engine,
                served: view
                    .engine_ids(i)
                    .iter()
                    .map(|e| e.as_str().to_string())
                    .collect(),
            }
            .into());
        }
        let before = view.owner_id(&engine).map(str::to_string);
        self.plugins.choose_driver(&engine, driver)?;
        self.forget();
        Ok(Chosen {
            engine,
            driver: driver.to_string(),
            before,
        })
    }

    fn not_a_driver(&self, id: &str, view: &DriverView) -> PluginError {
        let kind = self
            .plugins
            .info(id)
            .ok()
            .map(|e| e.installed.kind)
            .or_else(|| Bundle::of_this_process().find(id).map(|(m, _)| m.kind));
        match kind {
            Some(kind) if kind != PluginKind::Driver => PluginError::NotADriver {
                id: id.to_string(),
                kind,
            },
            _ => PluginError::NoSuchDriver {
                id: id.to_string(),
                drivers: view.candidates.iter().map(|c| c.id.clone()).collect(),
            },
        }
    }

    /// Remove an installed plugin. The engines it served fall back to the other drivers that
    /// serve them, in search order.
    pub fn remove(&self, id: &str) -> Result<Removed, Error> {
        let before = self.view();
        let served: Vec<Engine> = before
            .find(id)
            .filter(|&i| !before.candidates[i].bundled)
            .map(|i| {
                before
                    .engine_ids(i)
                    .into_iter()
                    .filter(|e| before.owner_id(e) == Some(id))
                    .collect()
            })
            .unwrap_or_default();
        let record = self.plugins.remove(id)?;
        self.forget();
        let after = self.view();
        let fallbacks = served
            .into_iter()
            .map(|engine| EngineUse {
                served_by: after.owner_id(&engine).map(str::to_string),
                engine,
            })
            .collect();
        Ok(Removed { record, fallbacks })
    }

    /// Enable or disable an installed plugin; returns whether anything changed. A disabled
    /// driver's engines are served by the next driver that serves them, and come back to it
    /// when it is enabled again.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<bool, Error> {
        let changed = self.plugins.set_enabled(id, enabled)?;
        self.forget();
        Ok(changed)
    }
}

fn load(c: &Candidate, manifest: &Manifest) -> Result<Arc<dyn Driver>, String> {
    keeperdb_driver_host::load_with_manifest(&c.dir, manifest).map_err(|e| e.to_string())
}

fn uses_of(view: &DriverView, i: usize) -> DriverEngines {
    let c = &view.candidates[i];
    DriverEngines {
        id: c.id.clone(),
        bundled: c.bundled,
        engines: view
            .engine_ids(i)
            .into_iter()
            .map(|engine| EngineUse {
                served_by: view.owner_id(&engine).map(str::to_string),
                engine,
            })
            .collect(),
        problem: c
            .unusable
            .clone()
            .or_else(|| view.served[i].as_ref().err().cloned()),
    }
}
