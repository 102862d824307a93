//! What 0.1.0 has of its own: `keeper-vault` records without links, and a listing that is
//! only the connections.

use super::{keeper_vault, types};
use crate::cap::keeper_vault::{VaultRecord, VaultState};
use crate::types::PluginListing;

impl From<Vec<types::Connection>> for PluginListing {
    fn from(connections: Vec<types::Connection>) -> Self {
        PluginListing {
            connections: connections.into_iter().map(Into::into).collect(),
            skipped: Vec::new(),
        }
    }
}

impl keeper_vault::Host for VaultState {
    fn list_folders(&mut self) -> Result<Vec<keeper_vault::Folder>, types::Error> {
        let folders = self.vault()?.list_folders()?;
        Ok(folders.into_iter().map(Into::into).collect())
    }

    fn list_records(
        &mut self,
        folder_uid: Option<String>,
    ) -> Result<Vec<keeper_vault::VaultRecord>, types::Error> {
        let records = self.vault()?.list_records(folder_uid.as_deref(), false)?;
        Ok(records.into_iter().map(Into::into).collect())
    }

    fn create_folder(&mut self, parent_uid: String, name: String) -> Result<String, types::Error> {
        Ok(self.vault()?.create_folder(&parent_uid, &name)?)
    }

    fn create_record(
        &mut self,
        folder_uid: String,
        record: keeper_vault::NewRecord,
    ) -> Result<String, types::Error> {
        Ok(self.vault()?.create_record(&folder_uid, &record.into())?)
    }

    fn delete_record(&mut self, uid: String) -> Result<(), types::Error> {
        Ok(self.vault()?.delete_record(&uid)?)
    }
}

impl From<VaultRecord> for keeper_vault::VaultRecord {
    fn from(r: VaultRecord) -> Self {
        keeper_vault::VaultRecord {
            uid: r.uid,
            record_type: r.record_type,
            title: r.title,
            folder_uid: r.folder_uid,
            fields: r.fields.into_iter().map(Into::into).collect(),
            custom: r.custom.into_iter().map(Into::into).collect(),
            notes: r.notes,
        }
    }
}
