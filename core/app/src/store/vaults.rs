//! Vault attachments in `vaults.toml`: each one's name and how to reach it (no secrets). The
//! KSM application config each attachment was bound with lives in the OS credential store,
//! under `vault:<attachment id>` (an id, so two config dirs never share an entry), with the
//! proxy password if the proxy URL carried one.

use keeperdb_keeper::{BoundConfig, VaultSettings};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{FORMAT_VERSION, LocalStore, StoreError, parse_toml, read_optional, write_atomic};

pub(crate) const VAULTS_FILE: &str = "vaults.toml";

/// One attached vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The name it is addressed by (`VAULT/CONNECTION`).
    pub name: String,
    /// A random id, naming its credential store entry.
    pub id: String,
    /// How to reach it.
    #[serde(flatten)]
    pub settings: VaultSettings,
    /// When it was attached (seconds since the Unix epoch).
    pub attached_at: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct VaultsFile {
    #[serde(default = "format_version")]
    format: u32,
    #[serde(default, rename = "vault")]
    vaults: Vec<Attachment>,
}

fn format_version() -> u32 {
    FORMAT_VERSION
}

/// What is kept in the credential store for an attachment.
#[derive(Serialize, Deserialize)]
struct StoredSecrets {
    ksm_config: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proxy_password: Option<String>,
}

/// An attachment's secrets, read back.
pub struct AttachmentSecrets {
    /// The bound KSM application config.
    pub config: BoundConfig,
    /// The proxy password, if any.
    pub proxy_password: Option<SecretString>,
}

/// Why a vault name is refused; `None` when it is fine.
pub fn check_vault_name(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => Some("it is empty"),
        _ if name.len() > 64 => Some("it is longer than 64 characters"),
        Some(c) if !c.is_ascii_alphanumeric() => Some("it must start with a letter or digit"),
        _ if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) =>
        {
            Some("use only letters, digits, `-`, `_` and `.`")
        }
        _ => None,
    }
}

fn account(attachment_id: &str) -> String {
    format!("vault:{attachment_id}")
}

impl LocalStore {
    pub(crate) fn vaults_path(&self) -> std::path::PathBuf {
        self.dir().path().join(VAULTS_FILE)
    }

    fn read_vaults(&self) -> Result<VaultsFile, StoreError> {
        let path = self.vaults_path();
        let Some(text) = read_optional(&path)? else {
            return Ok(VaultsFile::default());
        };
        let file: VaultsFile = parse_toml(&text, &path)?;
        if file.format > FORMAT_VERSION {
            return Err(StoreError::NewerFormat {
                path,
                found: file.format,
            });
        }
        if let Some(bad) = file
            .vaults
            .iter()
            .find(|v| check_vault_name(&v.name).is_some())
        {
            return Err(StoreError::Corrupt {
                path,
                message: format!("vault name `{}` is not valid", bad.name.escape_default()),
            });
        }
        Ok(file)
    }

    /// Every attached vault, in the order they were attached.
    pub fn vault_attachments(&self) -> Result<Vec<Attachment>, StoreError> {
        Ok(self.read_vaults()?.vaults)
    }

    /// Whether a vault of this name is attached.
    pub fn vault_attachment(&self, name: &str) -> Result<Option<Attachment>, StoreError> {
        Ok(self
            .read_vaults()?
            .vaults
            .into_iter()
            .find(|v| v.name == name))
    }

    /// Save a newly bound attachment: its secrets into the credential store first (so a
    /// listed attachment always has them), then its entry.
    pub fn add_vault_attachment(
        &self,
        attachment: Attachment,
        config: &BoundConfig,
        proxy_password: Option<&SecretString>,
    ) -> Result<(), StoreError> {
        self.locked(|store| {
            let mut file = store.read_vaults()?;
            if file.vaults.iter().any(|v| v.name == attachment.name) {
                return Err(StoreError::DuplicateVault(attachment.name.clone()));
            }
            let secrets = Zeroizing::new(
                serde_json::to_string(&StoredSecrets {
                    ksm_config: config.0.expose_secret().to_string(),
                    proxy_password: proxy_password.map(|p| p.expose_secret().to_string()),
                })
                .map_err(|e| StoreError::Corrupt {
                    path: store.vaults_path(),
                    message: e.to_string(),
                })?,
            );
            store.secrets.set(
                &account(&attachment.id),
                &SecretString::from(secrets.as_str()),
            )?;
            file.vaults.push(attachment);
            store.write_vaults(&file)
        })
    }

    /// Forget an attachment: its entry and its secrets. Returns whether it existed.
    pub fn remove_vault_attachment(&self, name: &str) -> Result<bool, StoreError> {
        self.locked(|store| {
            let mut file = store.read_vaults()?;
            let Some(gone) = file.vaults.iter().position(|v| v.name == name) else {
                return Ok(false);
            };
            let gone = file.vaults.remove(gone);
            store.secrets.delete(&account(&gone.id))?;
            store.write_vaults(&file)?;
            Ok(true)
        })
    }

    /// The secrets of an attachment; `None` if the credential store has none for it.
    pub fn vault_secrets(
        &self,
        attachment: &Attachment,
    ) -> Result<Option<AttachmentSecrets>, StoreError> {
        let Some(text) = self.secrets.get(&account(&attachment.id))? else {
            return Ok(None);
        };
        let stored: StoredSecrets =
            serde_json::from_str(text.expose_secret()).map_err(|_| StoreError::Corrupt {
                path: format!("credential store entry {}", account(&attachment.id)).into(),
                message: "it is not what keeperdb stored there".into(),
            })?;
        Ok(Some(AttachmentSecrets {
            config: BoundConfig(SecretString::from(stored.ksm_config)),
            proxy_password: stored.proxy_password.map(SecretString::from),
        }))
    }

    fn write_vaults(&self, file: &VaultsFile) -> Result<(), StoreError> {
        let text = toml::to_string_pretty(file).map_err(|e| StoreError::Corrupt {
            path: self.vaults_path(),
            message: e.to_string(),
        })?;
        write_atomic(&self.vaults_path(), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names_are_checked() {
        for good in ["work", "prod-eu", "team_1.b", "A"] {
            assert_eq!(check_vault_name(good), None, "{good}");
        }
        for bad in ["", "-x", "a/b", "a:b", "wörk", "a b", &"x".repeat(65)] {
            assert!(check_vault_name(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn a_corrupt_vaults_file_is_reported_and_left_alone() {
        let (_d, store) = super::super::test_store();
        store.dir().ensure().unwrap();
        std::fs::write(store.vaults_path(), "[[vault]]\nname = 3\n").unwrap();
        let err = store.vault_attachments().unwrap_err().to_string();
        assert!(err.contains("vaults.toml") && err.contains("line"), "{err}");
        assert_eq!(
            std::fs::read_to_string(store.vaults_path()).unwrap(),
            "[[vault]]\nname = 3\n"
        );
    }
}
