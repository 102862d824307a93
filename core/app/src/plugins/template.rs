//! `plugins new`: a plugin directory that builds as it is, for a connection source, a storage
//! backend (Rust or JavaScript) or a native driver (Rust). The templates are
//! `core/app/templates/`; the SDK and WIT a template builds against are copied in from `sdk/`,
//! embedded in this binary, so a new plugin needs nothing of a keeperdb checkout.

use std::fs;
use std::path::{Path, PathBuf};

use keeperdb_model::manifest::PluginKind;

use super::{PluginError, io};

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateLang {
    /// Rust: a WASM component through the guest SDK, or a native driver.
    Rust,
    /// JavaScript, built into a component with componentize-js.
    Js,
}

/// What [`new_plugin`] wrote.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// The plugin id, taken from the directory's name.
    pub id: String,
    /// The directory.
    pub dir: PathBuf,
    /// Every file written, relative to `dir`.
    pub files: Vec<PathBuf>,
}

macro_rules! file {
    ($to:expr, $from:expr) => {
        (
            $to,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $from)),
        )
    };
}

const WIT: [(&str, &str); 3] = [
    file!("wit/host.wit", "../../sdk/wit/0.4/host.wit"),
    file!("wit/types.wit", "../../sdk/wit/0.4/types.wit"),
    file!("wit/worlds.wit", "../../sdk/wit/0.4/worlds.wit"),
];

const RUST_GUEST_SDK: [(&str, &str); 5] = [
    file!(
        "keeperdb-sdk/plugin/Cargo.toml",
        "../../sdk/plugin/Cargo.toml"
    ),
    file!(
        "keeperdb-sdk/plugin/src/lib.rs",
        "../../sdk/plugin/src/lib.rs"
    ),
    file!(
        "keeperdb-sdk/wit/0.4/host.wit",
        "../../sdk/wit/0.4/host.wit"
    ),
    file!(
        "keeperdb-sdk/wit/0.4/types.wit",
        "../../sdk/wit/0.4/types.wit"
    ),
    file!(
        "keeperdb-sdk/wit/0.4/worlds.wit",
        "../../sdk/wit/0.4/worlds.wit"
    ),
];

const DRIVER_SDK: [(&str, &str); 4] = [
    file!(
        "keeperdb-sdk/driver/Cargo.toml",
        "templates/rust-driver/sdk-Cargo.toml"
    ),
    file!(
        "keeperdb-sdk/driver/src/lib.rs",
        "../../sdk/driver/src/lib.rs"
    ),
    file!(
        "keeperdb-sdk/driver/src/export.rs",
        "../../sdk/driver/src/export.rs"
    ),
    file!(
        "keeperdb-sdk/driver/src/ffi.rs",
        "../../sdk/driver/src/ffi.rs"
    ),
];

/// The files of one template, before its placeholders are filled in.
fn template(kind: PluginKind, lang: TemplateLang) -> Option<Vec<(String, &'static str)>> {
    use TemplateLang::{Js, Rust};
    let own: Vec<(&str, &str)> = match (kind, lang) {
        (PluginKind::ConnectionSource, Rust) => vec![
            file!("Cargo.toml", "templates/rust-source/Cargo.toml"),
            file!("plugin.toml", "templates/rust-source/plugin.toml"),
            // The repository's example is the template's code.
            file!(
                "src/lib.rs",
                "../../plugins/wasm/examples/hello-source/src/lib.rs"
            ),
            file!("README.md", "templates/rust-wasm-README.md"),
            file!(".gitignore", "templates/rust-gitignore"),
        ],
        (PluginKind::StorageBackend, Rust) => vec![
            file!("Cargo.toml", "templates/rust-storage/Cargo.toml"),
            file!("plugin.toml", "templates/rust-storage/plugin.toml"),
            file!("src/lib.rs", "templates/rust-storage/src/lib.rs"),
            file!("README.md", "templates/rust-wasm-README.md"),
            file!(".gitignore", "templates/rust-gitignore"),
        ],
        (PluginKind::Driver, Rust) => vec![
            file!("Cargo.toml", "templates/rust-driver/Cargo.toml"),
            file!("plugin.toml", "templates/rust-driver/plugin.toml"),
            file!("src/lib.rs", "templates/rust-driver/src/lib.rs"),
            file!("README.md", "templates/rust-driver/README.md"),
            file!(".gitignore", "templates/rust-driver/gitignore"),
        ],
        (PluginKind::ConnectionSource, Js) => vec![
            file!("package.json", "templates/js-source/package.json"),
            file!("plugin.toml", "templates/js-source/plugin.toml"),
            file!(
                "src/index.js",
                "../../plugins/wasm/examples/hello-js/src/index.js"
            ),
            file!("wit/world.wit", "templates/js-source/wit/world.wit"),
            file!("README.md", "templates/js-README.md"),
            file!(".gitignore", "templates/js-gitignore"),
        ],
        (PluginKind::StorageBackend, Js) => vec![
            file!("package.json", "templates/js-storage/package.json"),
            file!("plugin.toml", "templates/js-storage/plugin.toml"),
            file!("src/index.js", "templates/js-storage/src/index.js"),
            file!("wit/world.wit", "templates/js-storage/wit/world.wit"),
            file!("README.md", "templates/js-README.md"),
            file!(".gitignore", "templates/js-gitignore"),
        ],
        (PluginKind::Driver, Js) => return None,
    };
    let shared: Vec<(String, &str)> = match (kind, lang) {
        (PluginKind::Driver, _) => DRIVER_SDK
            .iter()
            .map(|(p, t)| (p.to_string(), *t))
            .collect(),
        (_, Rust) => RUST_GUEST_SDK
            .iter()
            .map(|(p, t)| (p.to_string(), *t))
            .collect(),
        (_, Js) => WIT
            .iter()
            .map(|(p, t)| (p.replace("wit/", "wit/deps/keeperdb-plugin/"), *t))
            .collect(),
    };
    Some(
        own.into_iter()
            .map(|(p, t)| (p.to_string(), t))
            .chain(shared)
            .collect(),
    )
}

/// Write a new plugin of `kind` in `lang` into `dir`, which must not exist yet or be empty.
/// The plugin id is the directory's name (lowercase letters, digits and `-`).
pub fn new_plugin(
    dir: &Path,
    kind: PluginKind,
    lang: TemplateLang,
) -> Result<NewPlugin, PluginError> {
    let bad = |message: String| PluginError::BadPackage {
        path: dir.to_path_buf(),
        message,
    };
    let id = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| bad("the directory has no name to take the plugin id from".into()))?
        .to_string();
    if id.is_empty()
        || !id.starts_with(|c: char| c.is_ascii_lowercase())
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(bad(format!(
            "`{id}` cannot be a plugin id: name the directory with lowercase letters, digits \
             and `-`, starting with a letter (the id is the directory's name)"
        )));
    }
    let files = template(kind, lang).ok_or_else(|| {
        bad(
            "a driver is a native library loaded into keeperdb: write it in Rust over the \
             driver SDK (a JavaScript plugin may be a connection source or a storage backend)"
                .into(),
        )
    })?;
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(bad(
                    "the directory is not empty: nothing was written; choose a new one".into(),
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dir)(e)),
    }
    let crate_name = id.replace('-', "_");
    let sdk_version = keeperdb_model::HOST_API_VERSION.to_string();
    let mut written = Vec::new();
    for (relative, text) in files {
        let text = text
            .replace("~/.hello-connections", "~/.__ID__")
            .replace("__ID__", &id)
            .replace("__CRATE__", &crate_name)
            .replace("__SDK_VERSION__", &sdk_version)
            .replace("__KIND__", kind_words(kind));
        // The vendored SDK is a member of the new plugin's workspace, not a root of its own.
        let text = if relative == "keeperdb-sdk/plugin/Cargo.toml" {
            text.replace("\n[workspace]\n", "\n")
        } else {
            text
        };
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        fs::write(&path, text).map_err(io(&path))?;
        written.push(PathBuf::from(relative));
    }
    Ok(NewPlugin {
        id,
        dir: dir.to_path_buf(),
        files: written,
    })
}

fn kind_words(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::ConnectionSource => "connection source",
        PluginKind::StorageBackend => "storage backend",
        PluginKind::Driver => "driver",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_fills_in_its_id_and_names_only_files_it_writes() {
        let tmp = tempfile::tempdir().unwrap();
        for (kind, lang) in [
            (PluginKind::ConnectionSource, TemplateLang::Rust),
            (PluginKind::StorageBackend, TemplateLang::Rust),
            (PluginKind::Driver, TemplateLang::Rust),
            (PluginKind::ConnectionSource, TemplateLang::Js),
            (PluginKind::StorageBackend, TemplateLang::Js),
        ] {
            let dir = tmp
                .path()
                .join(format!("my-{}-{lang:?}", kind_words(kind).replace(' ', "-")).to_lowercase());
            let made = new_plugin(&dir, kind, lang).unwrap();
            for file in &made.files {
                let text = fs::read_to_string(dir.join(file)).unwrap();
                for placeholder in ["__ID__", "__CRATE__", "__SDK_VERSION__", "__KIND__"] {
                    assert!(
                        !text.contains(placeholder),
                        "{} keeps {placeholder}",
                        file.display()
                    );
                }
            }
            let manifest = keeperdb_model::manifest::Manifest::load(&dir).unwrap();
            assert_eq!(manifest.id, made.id);
            assert_eq!(manifest.kind, kind);
        }
    }

    #[test]
    fn a_non_empty_directory_is_left_as_it_was() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mine");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("notes.txt"), "keep me").unwrap();
        let err = new_plugin(&dir, PluginKind::ConnectionSource, TemplateLang::Rust).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        assert_eq!(
            fs::read_to_string(dir.join("notes.txt")).unwrap(),
            "keep me"
        );
    }

    #[test]
    fn a_bad_id_or_a_javascript_driver_is_refused_saying_why() {
        let tmp = tempfile::tempdir().unwrap();
        let err = new_plugin(
            &tmp.path().join("My_Plugin"),
            PluginKind::ConnectionSource,
            TemplateLang::Rust,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`My_Plugin` cannot be a plugin id"), "{err}");
        let err = new_plugin(
            &tmp.path().join("js-driver"),
            PluginKind::Driver,
            TemplateLang::Js,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("write it in Rust"), "{err}");
        assert!(!tmp.path().join("js-driver").exists());
    }
}
