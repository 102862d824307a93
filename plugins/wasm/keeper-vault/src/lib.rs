//! keeperdb's Keeper vault source: the `databaseCredentials` ("Database") and `pamDatabase`
//! ("PAM Database") records of the shared folders the attached Keeper Secrets Manager
//! application can see, as connections. The host binds each instance to one vault attachment
//! and gives its connections the `Vault` badge.
//!
//! - Listing reads every record once, with links, and maps the database records
//!   (`mapping`); records written by storage sync (`keeperdb_local_id`) are not connections, and
//!   a record that cannot be mapped is reported with [`keeperdb_plugin::skip`], by title.
//! - Credentials are fetched at connect time: the record is read again (so a rotated login is
//!   seen) and the password is answered as a vault field reference, which the host resolves,
//!   so it never enters this plugin. A PAM Database logs in as its linked PAM User.

use keeperdb_plugin::vault::{self, VaultRecord};
use keeperdb_plugin::{Connection, ConnectionSource, Credentials, Error, Secret, VaultFieldRef};

pub mod mapping;

use mapping::{Mapped, PAM_DATABASE, credential_link, login_of, map_record};

struct KeeperVault;

impl ConnectionSource for KeeperVault {
    fn list_connections() -> Result<Vec<Connection>, Error> {
        let records = vault::list_records(None, true)?;
        let mut connections = Vec::new();
        for record in &records {
            let user = linked_user(record, &records);
            match map_record(record, user) {
                Mapped::Connection(c) => connections.push(c),
                Mapped::NotATarget => {}
                Mapped::Skipped(why) => keeperdb_plugin::skip(record.title.clone(), why),
            }
        }
        Ok(connections)
    }

    fn credentials(connection: Connection) -> Result<Credentials, Error> {
        let record = vault::get_records(std::slice::from_ref(&connection.id), true)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "vault record `{}` ({}) is gone or no longer shared with the Secrets Manager application",
                    connection.name, connection.id
                ))
            })?;
        if record.record_type == PAM_DATABASE
            && let Some(link) = credential_link(&record)
        {
            let user = vault::get_records(std::slice::from_ref(&link.record_uid), false)?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    Error::Unavailable(format!(
                        "PAM Database `{}` logs in as PAM User record {}, which is not shared with the Secrets Manager application: share that record (or its folder) with the application",
                        record.title, link.record_uid
                    ))
                })?;
            return Ok(password_of(&user, connection.user));
        }
        Ok(password_of(&record, connection.user))
    }
}

/// The login and a reference to the password of `holder`: the record itself, or the PAM User
/// it links to. The login read now wins over the one listed (it may have been changed).
fn password_of(holder: &VaultRecord, listed_user: Option<String>) -> Credentials {
    let login = match login_of(holder) {
        Some(login) => Some(login),
        None => listed_user,
    };
    Credentials {
        user: login,
        password: Some(Secret::VaultField(VaultFieldRef {
            record_uid: holder.uid.clone(),
            field: "password".into(),
        })),
    }
}

/// The PAM User a PAM Database's credential link points to, if the application sees it.
fn linked_user<'a>(record: &VaultRecord, all: &'a [VaultRecord]) -> Option<&'a VaultRecord> {
    if record.record_type != PAM_DATABASE {
        return None;
    }
    let link = credential_link(record)?;
    all.iter().find(|r| r.uid == link.record_uid)
}

keeperdb_plugin::export_connection_source!(KeeperVault);
