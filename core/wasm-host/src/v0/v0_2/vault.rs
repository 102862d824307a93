//! What 0.2.0 added: `keeper-vault` records with their links and fetched by UID, and a
//! listing that carries the entries a source skipped.

use super::{keeper_vault, types};
use crate::cap::keeper_vault::VaultState;

impl keeper_vault::Host for VaultState {
    fn list_folders(&mut self) -> Result<Vec<keeper_vault::Folder>, types::Error> {
        let folders = self.vault()?.list_folders()?;
        Ok(folders.into_iter().map(Into::into).collect())
    }

    fn list_records(
        &mut self,
        folder_uid: Option<String>,
        with_links: bool,
    ) -> Result<Vec<keeper_vault::VaultRecord>, types::Error> {
        let records = self
            .vault()?
            .list_records(folder_uid.as_deref(), with_links)?;
        Ok(records.into_iter().map(Into::into).collect())
    }

    fn get_records(
        &mut self,
        uids: Vec<String>,
        with_links: bool,
    ) -> Result<Vec<keeper_vault::VaultRecord>, types::Error> {
        let records = self.vault()?.get_records(&uids, with_links)?;
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
