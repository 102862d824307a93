//! `cargo xtask build-ui`: the GUI's page (`gui/web`, TypeScript) built with npm into
//! `gui/web/dist`, which release builds of `keeperdb` embed; and the browser the GUI's
//! end-to-end tests drive (Debian's `chromium`, which `setup` installs).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::{npm, util};

/// Env var naming `gui/web` once its npm packages (playwright-core) are installed.
pub const WEB_DIR_ENV: &str = "KEEPERDB_UI_WEB_DIR";
/// Env var naming the Chromium binary the end-to-end tests launch.
pub const CHROMIUM_ENV: &str = "KEEPERDB_CHROMIUM";

/// Debian's Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

pub fn web_dir() -> PathBuf {
    util::repo_root().join("gui").join("web")
}

/// Install the page's npm packages and build it; returns `gui/web`.
pub fn build() -> Result<PathBuf> {
    let web = web_dir();
    npm::ensure()?;
    npm::ci(&web, &[])?;
    npm::run_script(&web, "build")?;
    if !web.join("dist").join("index.html").is_file() {
        bail!("npm run build in {} left no dist/index.html", web.display());
    }
    eprintln!(
        "xtask: built the GUI's page into {}",
        web.join("dist").display()
    );
    Ok(web)
}

/// What the GUI's end-to-end tests read.
pub fn test_env(web: &Path) -> Result<Vec<(&'static str, PathBuf)>> {
    if !Path::new(CHROMIUM).is_file() {
        bail!("{CHROMIUM} is missing: `cargo xtask setup` installs Debian's chromium");
    }
    Ok(vec![
        (WEB_DIR_ENV, web.to_path_buf()),
        (CHROMIUM_ENV, PathBuf::from(CHROMIUM)),
    ])
}
