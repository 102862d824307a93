//! The JavaScript example plugins (`plugins/wasm/examples/<name>/package.json`): keeperdb's WIT
//! copied into `wit/deps`, `npm ci`, `npm run build` (componentize-js, WASI disabled), and the
//! component written as an installable plugin dir like the Rust ones. A build is skipped when
//! nothing it reads changed since the last one: componentize-js takes half a minute.

use std::path::Path;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{npm, util};

/// The WIT a JavaScript plugin is built against, as `wit/deps/keeperdb-plugin`.
const WIT: &str = "sdk/wit/0.4";
/// Written beside the build's output: the digest of every input of the last build.
const STAMP: &str = "node_modules/.keeperdb-built";

/// Build every JavaScript example under `examples` into `out_root/<id>/`.
pub fn build_examples(examples: &Path, out_root: &Path) -> Result<()> {
    let mut dirs: Vec<_> = std::fs::read_dir(examples)
        .with_context(|| format!("reading {}", examples.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("package.json").is_file() && p.join("plugin.toml").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Ok(());
    }
    npm::ensure()?;
    for dir in dirs {
        let id = build_one(&dir, out_root)?;
        eprintln!(
            "build-plugins: {id} (JavaScript) -> {}",
            out_root.join(&id).display()
        );
    }
    Ok(())
}

fn build_one(dir: &Path, out_root: &Path) -> Result<String> {
    let wit = util::repo_root().join(WIT);
    let deps = dir.join("wit/deps/keeperdb-plugin");
    std::fs::create_dir_all(&deps)?;
    for entry in std::fs::read_dir(&wit)? {
        let path = entry?.path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, deps.join(name))?;
        }
    }
    npm::ci(dir, &[])?;
    let payload = dir.join("payload.wasm");
    let inputs = inputs_digest(dir)?;
    let stamp = dir.join(STAMP);
    if !(payload.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == inputs)) {
        let started = std::time::Instant::now();
        npm::run_script(dir, "build")?;
        eprintln!(
            "build-plugins: componentize-js built {} in {:.1}s",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
        std::fs::write(&stamp, &inputs)?;
    }
    let component =
        std::fs::read(&payload).with_context(|| format!("reading {}", payload.display()))?;
    if component.len() < 8 || component[4..8] != [0x0d, 0x00, 0x01, 0x00] {
        bail!("{} is not a WebAssembly component", payload.display());
    }
    crate::wasm::write_plugin_dir(dir, &component, out_root)
}

/// The sha256 over the build's inputs: its sources, its WIT and its lock.
fn inputs_digest(dir: &Path) -> Result<String> {
    let mut files = vec![dir.join("package.json"), dir.join("package-lock.json")];
    for sub in ["src", "wit", "wit/deps/keeperdb-plugin"] {
        let mut found: Vec<_> = std::fs::read_dir(dir.join(sub))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        files.extend(found);
    }
    let mut hash = Sha256::new();
    for file in files {
        hash.update(file.to_string_lossy().as_bytes());
        hash.update(std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?);
    }
    Ok(hex::encode(hash.finalize()))
}
