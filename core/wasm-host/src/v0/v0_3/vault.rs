//! `keeper-vault` as 0.3.0 has it: 0.2.0's records with links and fetched by UID, a listing
//! that carries the entries a source skipped, and new fields that name a secret handle the host
//! fills in, so a storage backend writes a password it never holds.

use super::{keeper_vault, types};
use crate::cap::keeper_vault::{NewField, NewRecord, VaultState};

// Free functions, not methods: this file is compiled into 0.4.0's bindings too, and two
// inherent methods of the same name on `VaultState` would clash.
fn new_field(vault: &VaultState, f: keeper_vault::NewField) -> Result<NewField, types::Error> {
    let secret = match &f.secret {
        Some(handle) => Some(vault.redeem(handle)?),
        None => None,
    };
    Ok(NewField {
        field_type: f.field_type,
        label: f.label,
        value: f.value,
        secret,
    })
}

fn new_record(vault: &VaultState, r: keeper_vault::NewRecord) -> Result<NewRecord, types::Error> {
    let fields = r.fields.into_iter().map(|f| new_field(vault, f));
    let custom = r.custom.into_iter().map(|f| new_field(vault, f));
    Ok(NewRecord {
        record_type: r.record_type,
        title: r.title,
        fields: fields.collect::<Result<_, _>>()?,
        custom: custom.collect::<Result<_, _>>()?,
        notes: r.notes,
    })
}

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
        let record = new_record(self, record)?;
        Ok(self.vault()?.create_record(&folder_uid, &record)?)
    }

    fn delete_record(&mut self, uid: String) -> Result<(), types::Error> {
        Ok(self.vault()?.delete_record(&uid)?)
    }
}
