//! The plugins shipped with keeperdb: `$KEEPERDB_BUNDLED_PLUGINS_DIR`, else `bundled-plugins/`
//! beside the executable (a build tree), else `../lib/keeperdb/plugins` from it (an installed or
//! unpacked release), each subdirectory one plugin with its `plugin.toml`.

use std::path::{Path, PathBuf};

use keeperdb_model::manifest::{MANIFEST_FILE, Manifest};

/// The env var naming the bundle directory.
pub const BUNDLED_PLUGINS_ENV: &str = "KEEPERDB_BUNDLED_PLUGINS_DIR";

/// The bundle's place relative to the installed binary's `bin/` parent (what `cargo xtask
/// install` and `cargo xtask dist` lay out).
const INSTALLED_PLUGINS_DIR: &str = "lib/keeperdb/plugins";

/// The plugins found in the bundle, and what could not be read there.
#[derive(Debug, Default)]
pub struct Bundle {
    /// The directory searched.
    pub root: PathBuf,
    /// Each plugin's manifest and directory, in name order.
    pub plugins: Vec<(Manifest, PathBuf)>,
    /// Plugin directories whose manifest could not be read, with why.
    pub problems: Vec<String>,
}

impl Bundle {
    /// The bundle of this process: from the env var, else relative to the running executable
    /// (resolved through symlinks, so `/usr/local/bin/keeperdb -> /opt/keeperdb/bin/keeperdb`
    /// finds `/opt/keeperdb/lib/keeperdb/plugins`).
    pub fn of_this_process() -> Self {
        match root_of_this_process() {
            Ok(root) => Self::read(root),
            Err(problem) => Self {
                problems: vec![problem],
                ..Self::default()
            },
        }
    }

    /// Read the bundle at `root`; a missing directory is an empty bundle.
    pub fn read(root: PathBuf) -> Self {
        let mut bundle = Self {
            root,
            ..Self::default()
        };
        let Ok(entries) = std::fs::read_dir(&bundle.root) else {
            return bundle;
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join(MANIFEST_FILE).is_file())
            .collect();
        dirs.sort();
        for dir in dirs {
            match Manifest::load(&dir) {
                Ok(m) => bundle.plugins.push((m, dir)),
                Err(e) => bundle.problems.push(e.to_string()),
            }
        }
        bundle
    }

    /// The bundled plugin with this id.
    pub fn find(&self, id: &str) -> Option<&(Manifest, PathBuf)> {
        self.plugins.iter().find(|(m, _)| m.id == id)
    }
}

fn root_of_this_process() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(BUNDLED_PLUGINS_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot locate the keeperdb executable: {e}"))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    Ok(root_beside(exe.parent().unwrap_or(Path::new("."))))
}

/// Where the bundle of a binary in `bin_dir` is: beside it in a build tree, else the installed
/// layout.
fn root_beside(bin_dir: &Path) -> PathBuf {
    let beside = bin_dir.join("bundled-plugins");
    if beside.is_dir() {
        return beside;
    }
    bin_dir.join("..").join(INSTALLED_PLUGINS_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_tree_bundle_beside_the_binary_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bundled-plugins")).unwrap();
        assert_eq!(root_beside(dir.path()), dir.path().join("bundled-plugins"));
    }

    #[test]
    fn an_installed_binary_looks_in_lib_keeperdb_plugins() {
        let prefix = tempfile::tempdir().unwrap();
        let bin = prefix.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        assert_eq!(root_beside(&bin), bin.join("../lib/keeperdb/plugins"));
    }

    #[test]
    fn a_missing_bundle_is_empty_and_a_broken_manifest_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Bundle::read(dir.path().join("nope"));
        assert!(missing.plugins.is_empty() && missing.problems.is_empty());
        std::fs::create_dir(dir.path().join("broken")).unwrap();
        std::fs::write(dir.path().join("broken").join(MANIFEST_FILE), "id = ").unwrap();
        let bundle = Bundle::read(dir.path().to_path_buf());
        assert!(bundle.plugins.is_empty());
        assert_eq!(bundle.problems.len(), 1, "{:?}", bundle.problems);
    }
}
