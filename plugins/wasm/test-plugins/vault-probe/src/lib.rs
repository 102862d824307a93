//! Test-only plugin: lists `databaseCredentials` records through `keeper-vault` and answers
//! credentials with a vault field reference, so the password never enters the plugin. A
//! connection named `http:<url>` makes `fetch-credentials` send a request to that URL instead.

use keeperdb_plugin::{
    Connection, ConnectionSource, Credentials, Error, Secret, VaultFieldRef, http, vault,
};

struct VaultProbe;

impl ConnectionSource for VaultProbe {
    fn list_connections() -> Result<Vec<Connection>, Error> {
        let records = vault::list_records(None, false)?;
        Ok(records
            .into_iter()
            .filter(|r| r.record_type == "databaseCredentials")
            .map(|r| {
                let mut c = Connection::new(&r.uid, &r.title, "postgres");
                c.host = Some("db.example".into());
                // A secret field must arrive redacted.
                if r.fields
                    .iter()
                    .any(|f| f.field_type == "password" && !f.redacted)
                {
                    c.environment = Some("LEAKED".into());
                }
                c
            })
            .collect())
    }

    fn credentials(connection: Connection) -> Result<Credentials, Error> {
        if let Some(url) = connection.name.strip_prefix("http:") {
            let response = http::send(&http::Request {
                method: "GET".into(),
                url: url.to_string(),
                headers: Vec::new(),
                body: None,
            })?;
            return Err(Error::Internal(format!(
                "unexpected answer {}",
                response.status
            )));
        }
        Ok(Credentials {
            user: None,
            password: Some(Secret::VaultField(VaultFieldRef {
                record_uid: connection.id,
                field: "password".into(),
            })),
        })
    }
}

keeperdb_plugin::export_connection_source!(VaultProbe);
