//! `cargo xtask install` and `cargo xtask dist`: a release build of `keeperdb` with its bundled
//! first-party plugins (the native driver and the WASM sources), laid out as the binary expects:
//!
//! ```text
//! PREFIX/bin/keeperdb
//! PREFIX/lib/keeperdb/plugins/<id>/{plugin.toml, payload}
//! ```
//!
//! The binary finds `../lib/keeperdb/plugins` relative to its own (resolved) location, so the
//! tree works wherever it is unpacked or installed.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::util;

/// Where the bundled plugins go, relative to the prefix. The keeperdb binary looks here,
/// relative to `bin/`; the install test proves the two agree.
pub const PLUGINS_SUBDIR: &str = "lib/keeperdb/plugins";

/// A release build of the binary and its bundle, inside target/.
pub struct Release {
    pub(crate) binary: PathBuf,
    pub(crate) bundle: PathBuf,
}

/// Build the release binary and its driver plugins, packed beside it; returns the profile dir.
pub fn build_release_with_drivers() -> Result<PathBuf> {
    // The release binary embeds the GUI's page: build it first.
    crate::ui::build()?;
    util::cargo(&[
        "build",
        "--release",
        "-p",
        "keeperdb-cli",
        "-p",
        "keeperdb-sqlx-driver",
    ])?;
    let profile = util::target_dir().join("release");
    crate::pack_drivers(&profile)?;
    Ok(profile)
}

/// Build the release binary and its whole bundle (drivers and first-party WASM sources).
pub fn build_release() -> Result<Release> {
    let profile = build_release_with_drivers()?;
    let bundle = profile.join("bundled-plugins");
    crate::wasm::build_first_party(&util::repo_root(), &bundle)?;
    Ok(Release {
        binary: profile.join("keeperdb"),
        bundle,
    })
}

/// `cargo xtask install [--prefix DIR]`.
pub fn install(release: &Release, prefix: Option<PathBuf>) -> Result<()> {
    let prefix = match prefix {
        Some(p) => p,
        None => default_prefix()?,
    };
    lay_out(release, &prefix)?;
    let bin = prefix.join("bin");
    eprintln!(
        "xtask: installed {} and its plugins under {}",
        bin.join("keeperdb").display(),
        prefix.join(PLUGINS_SUBDIR).display()
    );
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|dir| same_dir(&dir, &bin)));
    if !on_path {
        eprintln!(
            "xtask: {} is not on your PATH; add it, e.g. `export PATH=\"{}:$PATH\"`",
            bin.display(),
            bin.display()
        );
    }
    Ok(())
}

/// `cargo xtask dist`: `target/dist/keeperdb-VERSION-TRIPLE.tar.gz`, one top-level folder.
pub fn dist(release: &Release) -> Result<PathBuf> {
    let name = format!("keeperdb-{}-{}", env!("CARGO_PKG_VERSION"), host_triple()?);
    let dist = util::target_dir().join("dist");
    let staging = dist.join(&name);
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("removing the old {}", staging.display()))?;
    }
    lay_out(release, &staging)?;
    fs::copy(
        util::repo_root().join("README.md"),
        staging.join("README.md"),
    )?;

    let archive = dist.join(format!("{name}.tar.gz"));
    let partial = dist.join(format!(".{name}.tar.gz.partial"));
    let file =
        fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    tar.follow_symlinks(false);
    tar.append_dir_all(&name, &staging)
        .with_context(|| format!("archiving {}", staging.display()))?;
    tar.into_inner()?.finish()?.sync_all()?;
    fs::rename(&partial, &archive)?;
    fs::remove_dir_all(&staging)?;
    eprintln!(
        "xtask: wrote {} (unpack anywhere and run {name}/bin/keeperdb)",
        archive.display()
    );
    Ok(archive)
}

/// Copy the binary and the bundle under `prefix`. Each part is staged beside its final place and
/// renamed into it, so an interrupted install leaves the previous one working.
fn lay_out(release: &Release, prefix: &Path) -> Result<()> {
    let (binary, bundle) = (&release.binary, &release.bundle);
    let bin = prefix.join("bin");
    fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    let staged = bin.join(".keeperdb.partial");
    fs::copy(binary, &staged)
        .with_context(|| format!("copying {} to {}", binary.display(), staged.display()))?;
    fs::rename(&staged, bin.join("keeperdb"))?;

    let plugins = prefix.join(PLUGINS_SUBDIR);
    let parent = plugins.parent().context("plugin dir has a parent")?;
    fs::create_dir_all(parent)?;
    let staged = parent.join(".plugins.partial");
    if staged.exists() {
        fs::remove_dir_all(&staged)?;
    }
    copy_tree(bundle, &staged)?;
    if plugins.exists() {
        let old = parent.join(".plugins.old");
        if old.exists() {
            fs::remove_dir_all(&old)?;
        }
        fs::rename(&plugins, &old)?;
        fs::rename(&staged, &plugins)?;
        fs::remove_dir_all(&old)?;
    } else {
        fs::rename(&staged, &plugins)?;
    }
    Ok(())
}

/// Copy plugin directories (plain files only; the bundle holds nothing else).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue; // a pack step's temp file
            }
            fs::copy(entry.path(), &target)?;
        } else {
            bail!(
                "{} is neither a file nor a directory; the bundle holds only plugin files",
                entry.path().display()
            );
        }
    }
    Ok(())
}

fn default_prefix() -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set: give the install location with --prefix DIR")?;
    Ok(PathBuf::from(home).join(".local"))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV printed no host triple")
}
