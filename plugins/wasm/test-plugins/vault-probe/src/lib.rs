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
        // The same records fetched by UID: they must be withheld the same way.
        let uids: Vec<String> = records.iter().map(|r| r.uid.clone()).collect();
        let fetched = vault::get_records(&uids, false)?;
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
                // Every value the plugin was given, so the host's test can look for secrets
                // in what the plugin actually saw.
                let seen: Vec<String> = fetched
                    .iter()
                    .filter(|f| f.uid == r.uid)
                    .chain(std::iter::once(&r))
                    .flat_map(|rec| rec.fields.iter().chain(&rec.custom))
                    .map(|f| format!("{}={}", f.field_type, f.value))
                    .collect();
                c.database = Some(seen.join(" "));
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
