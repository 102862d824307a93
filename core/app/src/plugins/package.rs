//! Staging a package: unpacking a `.tar.gz` without letting it write outside its directory,
//! and verifying manifest, capabilities, host API and payload before anything is installed.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::consent::{self, Staged};
use super::{PluginError, PluginStore, io};
use keeperdb_model::capability;
use keeperdb_model::manifest::{MANIFEST_FILE, Manifest, PluginKind};
use keeperdb_model::signature;

/// Largest archive member accepted (a payload); more is not a plugin.
const MAX_ARCHIVE_MEMBER: u64 = 256 << 20;
/// Most bytes an archive may unpack to in all, whatever its members say: a small archive
/// of many members must not fill the disk.
const MAX_ARCHIVE_TOTAL: u64 = 300 << 20;
/// Most members an archive may hold (a plugin is a handful of files).
const MAX_ARCHIVE_MEMBERS: usize = 1000;
/// Prefix of the directories archives are unpacked into, under the plugins root.
const STAGE_PREFIX: &str = ".stage-";
/// Temp dirs older than this are left over from a killed keeperdb, not another one's work.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

impl PluginStore {
    /// Unpack (if an archive) and verify a package: manifest, known capabilities, host API
    /// range, payload sha256. Nothing is installed yet.
    pub fn stage(&self, path: &Path) -> Result<Staged, PluginError> {
        let (dir, temp) = if path.is_dir() {
            (path.to_path_buf(), None)
        } else if path.is_file() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !(name.ends_with(".tar.gz") || name.ends_with(".tgz")) {
                return Err(PluginError::BadPackage {
                    path: path.to_path_buf(),
                    message: "not a plugin directory or a .tar.gz / .tgz archive".into(),
                });
            }
            self.clean_stale_temp_dirs();
            keeperdb_fs::ensure_private_dir(self.root()).map_err(io(self.root()))?;
            let temp = tempfile::Builder::new()
                .prefix(STAGE_PREFIX)
                .tempdir_in(self.root())
                .map_err(io(self.root()))?;
            unpack_tar_gz(path, temp.path())?;
            (find_manifest_dir(path, temp.path())?, Some(temp))
        } else {
            return Err(PluginError::BadPackage {
                path: path.to_path_buf(),
                message: "no such file or directory".into(),
            });
        };
        let manifest = Manifest::load(&dir)?;
        for name in manifest.capabilities.keys() {
            if !capability::is_known(name) {
                return Err(PluginError::UnknownCapability {
                    id: manifest.id.clone(),
                    capability: name.clone(),
                });
            }
        }
        manifest.check_api()?;
        let payload = manifest.read_verified_payload(&dir)?;
        if manifest.kind != PluginKind::Driver {
            // Read from the binary, no compile: WASI or unrequested imports fail here, at once.
            keeperdb_wasm_host::check_imports(&manifest, &payload)?;
        }
        // The signature covers plugin.toml, which names the payload's sha256 just checked.
        let publisher = signature::verify_dir(&dir)?;
        super::load::check_reserved(&manifest, &publisher)?;

        let replaces = self.read_state()?.plugins.get(&manifest.id).cloned();
        if let Some(old) = &replaces
            && manifest.version < old.version
        {
            return Err(PluginError::Downgrade {
                id: manifest.id.clone(),
                installed: old.version.clone(),
                offered: manifest.version.clone(),
            });
        }
        let capabilities = consent::requested(&manifest, replaces.as_ref());
        Ok(Staged {
            manifest,
            dir,
            _temp: temp,
            replaces,
            capabilities,
            publisher,
            compiled: None,
        })
    }
}

impl PluginStore {
    /// Remove what a killed install left behind in the plugins root: unpacked archives,
    /// half-copied installs and replaced versions, once old enough not to be another
    /// process's work in progress.
    pub fn clean_stale_temp_dirs(&self) {
        let Ok(entries) = fs::read_dir(self.root()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if ![STAGE_PREFIX, ".install-", ".old-"]
                .iter()
                .any(|p| name.starts_with(p))
            {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_AFTER);
            if old && let Err(e) = fs::remove_dir_all(entry.path()) {
                tracing::warn!(dir = %entry.path().display(), "cannot remove a stale temp dir: {e}");
            }
        }
    }
}

/// Unpack a `.tar.gz`: regular files and directories only, no absolute paths, no `..`, at
/// most [`MAX_ARCHIVE_MEMBERS`] members and [`MAX_ARCHIVE_TOTAL`] bytes in all.
fn unpack_tar_gz(archive: &Path, into: &Path) -> Result<(), PluginError> {
    let bad = |message: String| PluginError::BadPackage {
        path: archive.to_path_buf(),
        message,
    };
    let file = File::open(archive).map_err(io(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = tar
        .entries()
        .map_err(|e| bad(format!("not a readable .tar.gz: {e}")))?;
    let mut total: u64 = 0;
    for (count, entry) in entries.enumerate() {
        if count >= MAX_ARCHIVE_MEMBERS {
            return Err(bad(format!(
                "more than {MAX_ARCHIVE_MEMBERS} members; a plugin is a handful of files"
            )));
        }
        let mut entry = entry.map_err(|e| bad(format!("not a readable .tar.gz: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("bad member name: {e}")))?
            .into_owned();
        if path.is_absolute()
            || path
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(bad(format!(
                "member `{}` escapes the archive",
                path.display()
            )));
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            fs::create_dir_all(into.join(&path)).map_err(io(&into.join(&path)))?;
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!(
                "member `{}` is not a regular file (links and devices are refused)",
                path.display()
            )));
        }
        if entry.size() > MAX_ARCHIVE_MEMBER {
            return Err(bad(format!("member `{}` is too large", path.display())));
        }
        let dest = into.join(&path);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut out = File::create(&dest).map_err(io(&dest))?;
        // Counted as written, not as the header claims, and stopped at the first byte over.
        let room = MAX_ARCHIVE_TOTAL - total;
        let written = std::io::copy(&mut (&mut entry).take(room + 1), &mut out)
            .map_err(|e| bad(format!("unpacking `{}`: {e}", path.display())))?;
        if written > room {
            return Err(bad(format!(
                "it unpacks to more than {} MiB in all; refusing it",
                MAX_ARCHIVE_TOTAL >> 20
            )));
        }
        total += written;
    }
    Ok(())
}

/// `plugin.toml` at the top of the archive, or in its single top-level directory.
fn find_manifest_dir(archive: &Path, root: &Path) -> Result<PathBuf, PluginError> {
    if root.join(MANIFEST_FILE).is_file() {
        return Ok(root.to_path_buf());
    }
    let dirs: Vec<PathBuf> = fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    match dirs.as_slice() {
        [only] if only.join(MANIFEST_FILE).is_file() => Ok(only.clone()),
        _ => Err(PluginError::BadPackage {
            path: archive.to_path_buf(),
            message:
                "the archive holds no plugin.toml (at its top or in its single top-level directory)"
                    .into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Consent;
    use super::super::PluginStatus;
    use super::super::fixtures::package;
    use super::*;

    #[test]
    fn unknown_capabilities_and_bad_archives_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let pkg = package(tmp.path(), "0.1.0", &[]);
        let text = fs::read_to_string(pkg.join(MANIFEST_FILE)).unwrap();
        fs::write(
            pkg.join(MANIFEST_FILE),
            format!("{text}\n[capabilities.camera]\n"),
        )
        .unwrap();
        let err = store.stage(&pkg).unwrap_err().to_string();
        assert!(err.contains("`camera`"), "{err}");

        let zip = tmp.path().join("p.zip");
        fs::write(&zip, b"PK").unwrap();
        let err = store.stage(&zip).unwrap_err().to_string();
        assert!(err.contains(".tar.gz"), "{err}");
        let bad = tmp.path().join("p.tar.gz");
        fs::write(&bad, b"garbage").unwrap();
        let err = store.stage(&bad).unwrap_err().to_string();
        assert!(err.contains("p.tar.gz"), "{err}");
    }

    #[test]
    fn a_large_component_importing_wasi_is_refused_at_staging_in_well_under_a_second() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = package(tmp.path(), "0.1.0", &[]);
        // ~18 MB with a nested core module: compiling it would take many seconds.
        let payload = keeperdb_wasm_host::testing::component_importing(
            &[
                "keeperdb:plugin/log@0.4.0",
                "wasi:cli/stdout@0.2.3",
                "wasi:io/streams@0.2.3",
            ],
            100_000,
        );
        fs::write(pkg.join("payload.wasm"), &payload).unwrap();
        let text = fs::read_to_string(pkg.join(MANIFEST_FILE)).unwrap();
        let old_sha = text.lines().find(|l| l.starts_with("sha256")).unwrap();
        let text = text.replace(
            old_sha,
            &format!(
                "sha256 = \"{}\"",
                keeperdb_model::manifest::sha256_hex(&payload)
            ),
        );
        fs::write(pkg.join(MANIFEST_FILE), text).unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let start = std::time::Instant::now();
        let err = store.stage(&pkg).unwrap_err();
        let took = start.elapsed();
        let text = err.to_string();
        assert!(
            text.contains("`wasi:cli/stdout@0.2.3`") && text.contains("`wasi:io/streams@0.2.3`"),
            "{text}"
        );
        assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
    }

    #[test]
    fn installs_from_a_tar_gz_with_a_top_level_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = package(tmp.path(), "0.1.0", &[]);
        let archive = tmp.path().join("demo.tar.gz");
        let file = File::create(&archive).unwrap();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ));
        builder.append_dir_all("demo-0.1.0", &pkg).unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let staged = store.stage(&archive).unwrap();
        store.install(staged, Consent::ALL).unwrap();
        assert_eq!(store.info("demo").unwrap().status, PluginStatus::Enabled);
    }

    #[test]
    fn archive_members_outside_the_archive_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("evil.tar.gz");
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            File::create(&archive).unwrap(),
            flate2::Compression::default(),
        ));
        // `Header::set_path` refuses `..`, so the name is written raw, as a hostile archive would.
        let mut header = tar::Header::new_gnu();
        let name = b"../evil";
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        header.set_size(1);
        header.set_cksum();
        builder.append(&header, &b"x"[..]).unwrap();
        builder.into_inner().unwrap().finish().unwrap();

        let store = PluginStore::at(tmp.path().join("plugins"));
        let err = store.stage(&archive).unwrap_err().to_string();
        assert!(
            err.contains("member `../evil` escapes the archive"),
            "{err}"
        );
        assert!(!tmp.path().join("evil").exists());
    }

    #[test]
    fn a_third_party_package_claiming_a_host_badge_or_id_is_refused() {
        use super::super::fixtures::sign;
        let tmp = tempfile::tempdir().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let pkg = package(tmp.path(), "0.1.0", &[]);
        let text = fs::read_to_string(pkg.join(MANIFEST_FILE)).unwrap();
        for (needle, with, claim) in [
            (
                "id = \"demo\"",
                "id = \"demo\"\nbadge = \"Vault\"",
                "badge `Vault`",
            ),
            (
                "id = \"demo\"",
                "id = \"demo\"\nbadge = \" local\"",
                "badge",
            ),
            ("id = \"demo\"", "id = \"local\"", "id `local`"),
        ] {
            fs::write(pkg.join(MANIFEST_FILE), text.replace(needle, with)).unwrap();
            // Signed by a third party or not at all: the same refusal.
            for signed in [false, true] {
                if signed {
                    sign(&pkg, &[9; 32]);
                } else {
                    let _ = fs::remove_file(pkg.join(keeperdb_model::signature::SIGNATURE_FILE));
                }
                let err = store.stage(&pkg).unwrap_err().to_string();
                assert!(err.contains(claim), "{with}: {err}");
            }
        }
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn an_archive_unpacking_past_the_total_is_stopped_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("bomb.tar.gz");
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            File::create(&archive).unwrap(),
            flate2::Compression::best(),
        ));
        // Each member under the per-member cap, together over the total: zeros compress to
        // almost nothing.
        let member = vec![0u8; 100 << 20];
        for i in 0..4 {
            let mut header = tar::Header::new_gnu();
            header.set_size(member.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, format!("m{i}"), &member[..])
                .unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
        assert!(fs::metadata(&archive).unwrap().len() < (2 << 20));

        let store = PluginStore::at(tmp.path().join("plugins"));
        let err = store.stage(&archive).unwrap_err().to_string();
        assert!(err.contains("more than 300 MiB in all"), "{err}");
        // The unpacked part went with the staging dir.
        let left: Vec<_> = fs::read_dir(store.root())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn temp_dirs_a_killed_install_left_are_removed_once_stale() {
        let tmp = tempfile::tempdir().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let stale = store.root().join(".stage-killed");
        let fresh = store.root().join(".install-demo-running");
        let kept = store.root().join("demo");
        for d in [&stale, &fresh, &kept] {
            fs::create_dir_all(d).unwrap();
        }
        let long_ago = std::time::SystemTime::now() - 2 * STALE_AFTER;
        File::open(&stale).unwrap().set_modified(long_ago).unwrap();
        File::open(&kept).unwrap().set_modified(long_ago).unwrap();
        store.clean_stale_temp_dirs();
        assert!(!stale.exists());
        assert!(fresh.exists() && kept.exists());
    }
}
