//! The set of drivers and their search order: the driver plugins the user installed and
//! enabled first, then the bundle shipped with keeperdb (unless the user disabled that id).
//! Drivers load on first use and stay loaded (a library is never unloaded).

use std::sync::{Arc, Mutex};

use keeperdb_model::Engine;
use keeperdb_model::driver::Driver;
use keeperdb_model::engine::EngineSpec;
use keeperdb_model::manifest::{Manifest, PluginKind};

use crate::bundle::Bundle;
use crate::error::Error;
use crate::plugins::PluginStore;

/// The drivers this process has loaded, and where it looks for more.
pub struct DriverSet {
    plugins: PluginStore,
    loaded: Mutex<Vec<Arc<dyn Driver>>>,
}

impl DriverSet {
    /// Drivers from `plugins` (installed) and then the bundle.
    pub fn new(plugins: PluginStore) -> Self {
        Self {
            plugins,
            loaded: Mutex::new(Vec::new()),
        }
    }

    /// The engines the available drivers serve, in search order, as their manifests declare
    /// them (without loading a library); a driver whose manifest declares none is asked.
    pub fn engines(&self) -> Vec<EngineSpec> {
        let mut specs: Vec<EngineSpec> = Vec::new();
        let mut add = |manifest: &Manifest, dir: &std::path::Path| {
            let declared = if manifest.engines.is_empty() {
                match keeperdb_driver_host::load_with_manifest(dir, manifest) {
                    Ok(driver) => driver
                        .engines()
                        .iter()
                        .map(|id| EngineSpec {
                            id: id.clone(),
                            url_schemes: Vec::new(),
                            default_port: None,
                        })
                        .collect(),
                    Err(e) => {
                        tracing::warn!(plugin = %manifest.id, "driver not available: {e}");
                        Vec::new()
                    }
                }
            } else {
                manifest.engines.clone()
            };
            for spec in declared {
                if !specs.iter().any(|s| s.id == spec.id) {
                    specs.push(spec);
                }
            }
        };
        let installed = self.plugins.list().unwrap_or_default();
        for entry in &installed {
            if entry.installed.kind == PluginKind::Driver
                && entry.installed.enabled
                && let Some(manifest) = &entry.manifest
            {
                add(manifest, &entry.dir);
            }
        }
        for (manifest, dir) in &Bundle::of_this_process().plugins {
            if manifest.kind == PluginKind::Driver && !installed.iter().any(|e| e.id == manifest.id)
            {
                add(manifest, dir);
            }
        }
        specs
    }

    /// The driver serving `engine`, loading driver plugins in search order until one does.
    pub fn driver_for(&self, engine: &Engine) -> Result<Arc<dyn Driver>, Error> {
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let serving = |loaded: &[Arc<dyn Driver>]| {
            loaded
                .iter()
                .find(|d| d.engines().contains(engine))
                .cloned()
        };
        if let Some(d) = serving(&loaded) {
            return Ok(d);
        }
        let mut problems = Vec::new();
        match self.plugins.load_enabled_drivers() {
            Ok(found) => {
                problems.extend(
                    found
                        .failures
                        .into_iter()
                        .map(|(id, why)| format!("plugin `{id}`: {why}")),
                );
                for driver in found.drivers {
                    if !loaded.iter().any(|d| d.id() == driver.id()) {
                        loaded.push(driver);
                    }
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
        if let Some(d) = serving(&loaded) {
            return Ok(d);
        }
        let bundle = Bundle::of_this_process();
        problems.extend(bundle.problems.iter().cloned());
        for (manifest, dir) in &bundle.plugins {
            if manifest.kind != PluginKind::Driver
                || loaded.iter().any(|d| d.id() == manifest.id)
                || self.plugins.is_disabled(&manifest.id)
            {
                continue;
            }
            match keeperdb_driver_host::load_with_manifest(dir, manifest) {
                Ok(driver) => {
                    let serves = driver.engines().contains(engine);
                    loaded.push(driver.clone());
                    if serves {
                        return Ok(driver);
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        Err(Error::NoDriver {
            engine: engine.clone(),
            searched: bundle.root,
            problems,
        })
    }
}
