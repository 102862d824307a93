//! The unmodified keeper-secrets-manager-core SDK against the emulator, over real HTTPS
//! through the CONNECT proxy, trusting the emulator CA through SSL_CERT_FILE.

mod common;

use common::*;
use keeper_secrets_manager_core::dto::dtos::RecordCreate;
use keeper_secrets_manager_core::dto::payload::{CreateOptions, QueryOptions};
use keeper_secrets_manager_core::prelude::*;
use keeperdb_ksm_emulator::{EmulatorConfig, EmulatorHandle, Seed};
use serde_json::json;

const DATABASES: &str = "DbSharedFolder00000001";
const STAGING: &str = "DbStagingSubfolder0001";
const STORAGE: &str = "KeeperDbStorageFolder1";

#[test]
fn token_binds_and_lists_every_record_the_app_sees() {
    let emu = start_demo();
    let mut sm = client(&emu);
    assert_eq!(
        emu.bound_clients(),
        0,
        "SecretsManager::new must not call the service"
    );
    let records = sm.get_secrets(vec![]).expect("get_secrets");
    assert_eq!(emu.bound_clients(), 1);
    let mut titles: Vec<&str> = records.iter().map(|r| r.title.as_str()).collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Chinook (SQLite)",
            "Orders (PostgreSQL)",
            "PAM Orders (PostgreSQL)",
            "PAM Orders admin",
            "Reporting replica (shared directly)",
            "Staging (MariaDB)",
            "Team wiki (not a database)",
            "local dev (synced)",
        ]
    );
    // The bound config holds the app key and owner key and has dropped the one-time token.
    let cfg: serde_json::Value = serde_json::from_str(&saved_config(&sm)).unwrap();
    assert!(cfg.get("appKey").is_some() && cfg.get("appOwnerPublicKey").is_some());
    assert!(
        cfg.get("clientKey").is_none(),
        "the token must be dropped after binding"
    );
    // A second read on the bound client works and does not bind again.
    assert_eq!(sm.get_secrets(vec![]).expect("second read").len(), 8);
}

#[test]
fn database_credentials_fields_and_custom_fields_read_back() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let records = sm.get_secrets(vec![]).unwrap();

    let pg = by_title(&records, "Orders (PostgreSQL)");
    assert_eq!(pg.record_type, "databaseCredentials");
    assert_eq!(pg.folder_uid, DATABASES);
    assert_eq!(pg.inner_folder_uid, None);
    assert_eq!(std_value(pg, "type"), json!("postgresql"));
    assert_eq!(
        std_value(pg, "host"),
        json!({"hostName": "127.0.0.1", "port": "5432"})
    );
    assert_eq!(std_value(pg, "login"), json!("keeperdb_demo"));
    assert_eq!(std_value(pg, "password"), json!("demo-pg-Passw0rd"));
    assert_eq!(custom_value(pg, "Database"), json!("chinook"));
    assert_eq!(pg.revision, Some(1));

    let maria = by_title(&records, "Staging (MariaDB)");
    assert_eq!(
        maria.folder_uid, DATABASES,
        "subfolder records are listed under their shared folder"
    );
    assert_eq!(maria.inner_folder_uid.as_deref(), Some(STAGING));
    assert_eq!(std_value(maria, "type"), json!("mariadb"));

    let synced = by_title(&records, "local dev (synced)");
    assert_eq!(synced.folder_uid, STORAGE);
    assert_eq!(
        custom_value(synced, "keeperdb_local_id"),
        json!("7f3c2a9e-0b1d-4c55-9a8e-2f6d1c0b9e41")
    );

    let direct = by_title(&records, "Reporting replica (shared directly)");
    assert_eq!(std_value(direct, "password"), json!("demo-report-Passw0rd"));

    let pam = by_title(&records, "PAM Orders (PostgreSQL)");
    assert_eq!(pam.record_type, "pamDatabase");
    assert_eq!(
        std_value(pam, "pamHostname"),
        json!({"hostName": "127.0.0.1", "port": "5432"})
    );
    assert_eq!(std_value(pam, "databaseType"), json!("postgresql"));
    assert_eq!(std_value(pam, "Connect Database"), json!("chinook"));
    assert_eq!(custom_value(pam, "Database"), json!("chinook"));
}

#[test]
fn pam_user_is_linked_to_pam_database_only_when_links_are_requested() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);

    let plain = sm.get_secrets(vec![]).unwrap();
    assert!(
        by_title(&plain, "PAM Orders (PostgreSQL)")
            .get_links()
            .is_empty()
    );

    let mut q = QueryOptions::new(vec![], vec![]);
    q.request_links = Some(true);
    let records = sm.get_secrets_with_options(q).unwrap();
    let pam = by_title(&records, "PAM Orders (PostgreSQL)");
    let user = by_title(&records, "PAM Orders admin");
    let links = pam.get_links();
    let cred = links
        .iter()
        .find(|l| l.record_uid == user.uid)
        .expect("credential link to the pamUser");
    assert!(cred.is_admin_user() && cred.is_launch_credential());
    let meta = links
        .iter()
        .find(|l| l.path.as_deref() == Some("meta"))
        .expect("meta self-link");
    assert_eq!(meta.record_uid, pam.uid);
    assert!(meta.allows_connections());
    // The linked credential resolves to a readable record shared to the same app.
    assert_eq!(std_value(user, "login"), json!("keeperdb_admin"));
    assert_eq!(std_value(user, "password"), json!("demo-pam-Adm1n-pw"));
}

#[test]
fn requested_records_filter_returns_only_those() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let got = sm
        .get_secrets(vec!["MariaDbStagingRecord01".into()])
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].title, "Staging (MariaDB)");
    assert!(
        sm.get_secrets(vec!["NoSuchRecordUid0000000".into()])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn get_folders_lists_shared_folders_and_subfolders_with_names() {
    let emu = start_demo();
    let mut sm = client(&emu);
    // get_folders as the very first call binds the client too.
    let folders = sm.get_folders().expect("get_folders");
    let mut got: Vec<(String, String, String)> = folders
        .iter()
        .map(|f| (f.folder_uid.clone(), f.name.clone(), f.parent_uid.clone()))
        .collect();
    got.sort();
    let mut want = vec![
        (
            DATABASES.to_string(),
            "Databases".to_string(),
            String::new(),
        ),
        (
            STAGING.to_string(),
            "Staging".to_string(),
            DATABASES.to_string(),
        ),
        (
            "PamSharedFolder0000001".to_string(),
            "PAM Resources".to_string(),
            String::new(),
        ),
        (
            STORAGE.to_string(),
            "KeeperDB Storage".to_string(),
            String::new(),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
    assert!(
        folders.iter().all(|f| f.folder_key.len() == 32),
        "every folder key unwraps to 32 bytes"
    );
    assert_eq!(sm.get_secrets(vec![]).unwrap().len(), 8);
}

fn db_record(title: &str, local_id: &str, password: &str) -> RecordCreate {
    let mut rc = RecordCreate::new(
        "databaseCredentials",
        title,
        Some("synced by keeperdb".into()),
    );
    rc.append_standard_fields(field("text", Some("type"), json!(["postgresql"])));
    rc.append_standard_fields(field(
        "host",
        None,
        json!([{"hostName": "db.internal", "port": "5432"}]),
    ));
    rc.append_standard_fields(field("login", None, json!(["app"])));
    rc.append_standard_fields(field("password", None, json!([password])));
    rc.append_custom_field(field("text", Some("keeperdb_local_id"), json!([local_id])));
    rc.append_custom_field(field("text", Some("Database"), json!(["orders"])));
    rc
}

#[test]
fn create_update_delete_a_record_in_a_shared_folder() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let uid = sm
        .create_secret(STORAGE, db_record("synced pg", "local-1", "first-Secret"))
        .expect("create");

    let held = stored(&emu, &uid);
    assert_eq!(held.title, "synced pg");
    assert_eq!(held.folder_uid.as_deref(), Some(STORAGE));
    assert_eq!(held.revision, 1);
    assert_eq!(held.custom("keeperdb_local_id"), Some(&json!("local-1")));
    assert_eq!(held.field("password"), Some(&json!("first-Secret")));

    let mut rec = fetch(&mut sm, &uid);
    assert_eq!(rec.folder_uid, STORAGE);
    assert_eq!(custom_value(&rec, "keeperdb_local_id"), json!("local-1"));
    rec.set_standard_field_value_mut("password", json!("second-Secret"))
        .unwrap();
    sm.update_secret(rec).expect("update");
    let held = stored(&emu, &uid);
    assert_eq!(held.revision, 2);
    assert_eq!(held.field("password"), Some(&json!("second-Secret")));
    let reread = fetch(&mut sm, &uid);
    assert_eq!(std_value(&reread, "password"), json!("second-Secret"));
    assert_eq!(reread.revision, Some(2));

    let deleted = sm.delete_secret(vec![uid.clone()]).expect("delete");
    assert_eq!(deleted, format!("\"{uid}\""));
    assert!(emu.records().iter().all(|r| r.uid != uid));
    assert!(sm.get_secrets(vec![uid.clone()]).unwrap().is_empty());
    // Deleting it again reports no success for that uid.
    assert_eq!(
        sm.delete_secret(vec![uid]).expect("second delete answers"),
        ""
    );
}

#[test]
fn stale_revision_update_is_refused() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let a = fetch(&mut sm, "PgOrdersDatabaseRec001");
    let mut b = a.clone();
    let mut a = a;
    a.set_standard_field_value_mut("password", json!("by-a"))
        .unwrap();
    sm.update_secret(a).expect("first writer wins");
    b.set_standard_field_value_mut("password", json!("by-b"))
        .unwrap();
    let e = sm
        .update_secret(b)
        .expect_err("second writer read an old revision")
        .to_string();
    assert!(e.contains("out_of_sync"), "{e}");
    let held = stored(&emu, "PgOrdersDatabaseRec001");
    assert_eq!(held.field("password"), Some(&json!("by-a")));
}

#[test]
fn create_record_in_subfolder_and_create_delete_folders() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let uid = sm
        .create_secret(STAGING, db_record("in staging", "local-2", "pw-2"))
        .expect("create in subfolder");
    let held = stored(&emu, &uid);
    assert_eq!(held.folder_uid.as_deref(), Some(STAGING));
    assert_eq!(held.shared_folder_uid.as_deref(), Some(DATABASES));
    let via_sdk = fetch(&mut sm, &uid);
    assert_eq!(via_sdk.inner_folder_uid.as_deref(), Some(STAGING));

    let folder = sm
        .create_folder(
            CreateOptions::new(STORAGE.into(), None),
            "Team A".into(),
            vec![],
        )
        .expect("create folder");
    let nested = sm
        .create_folder(
            CreateOptions::new(STORAGE.into(), Some(folder.clone())),
            "Nested".into(),
            vec![],
        )
        .expect("create nested folder");
    let views = emu.folders();
    let f = views
        .iter()
        .find(|f| f.uid == folder)
        .expect("folder stored");
    assert_eq!(
        (f.name.as_str(), f.parent_uid.as_deref()),
        ("Team A", Some(STORAGE))
    );
    let n = views.iter().find(|f| f.uid == nested).unwrap();
    assert_eq!(
        (n.name.as_str(), n.parent_uid.as_deref()),
        ("Nested", Some(folder.as_str()))
    );
    let sdk_folders = sm.get_folders().unwrap();
    let sf = sdk_folders
        .iter()
        .find(|f| f.folder_uid == nested)
        .expect("SDK sees the nested folder");
    assert_eq!(sf.name, "Nested");

    // SDK 17.3 quirk, kept faithfully: create_secret walks up from the folder it is given and
    // sends the *topmost* subfolder as subFolderUid, so a record aimed at "Nested" lands in "Team A".
    let rec = sm
        .create_secret(&nested, db_record("deep", "local-3", "pw-3"))
        .expect("create in nested folder");
    assert_eq!(
        stored(&emu, &rec).folder_uid.as_deref(),
        Some(folder.as_str())
    );

    let answer = sm
        .delete_folder(vec![folder.clone()], false)
        .expect("delete_folder answers");
    assert_eq!(answer[0]["responseCode"], json!("folder_not_empty"));
    let answer = sm
        .delete_folder(vec![folder.clone()], true)
        .expect("forced delete");
    assert_eq!(answer[0]["responseCode"], json!("ok"));
    assert!(
        emu.folders()
            .iter()
            .all(|f| f.uid != folder && f.uid != nested)
    );
    assert!(
        emu.records().iter().all(|r| r.uid != rec),
        "records in a force-deleted folder go with it"
    );

    let answer = sm.delete_folder(vec![STORAGE.into()], true).unwrap();
    assert_eq!(
        answer[0]["responseCode"],
        json!("access_denied"),
        "shared folders are not deleted over KSM"
    );
}

#[test]
fn one_time_token_binds_only_one_client() {
    let emu = start_demo();
    let token = emu.issue_default_token().unwrap();
    let mut first = client_for(&emu, &token);
    first.get_secrets(vec![]).expect("first use binds");
    let mut second = client_for(&emu, &token);
    let e = second
        .get_secrets(vec![])
        .expect_err("a used token must not bind again")
        .to_string();
    assert!(
        e.contains("access_denied") && e.contains("Signature is invalid"),
        "{e}"
    );
    assert_eq!(
        first
            .get_secrets(vec![])
            .expect("the bound client still works")
            .len(),
        8
    );
}

#[test]
fn token_never_issued_is_refused() {
    let emu = start_demo();
    let fake = "ksm.test:YyIhK5wXFHj36wGBAOmBsxI3v5rIruINrC8KXjyM58c";
    let mut sm = client_for(&emu, fake);
    let e = sm
        .get_secrets(vec![])
        .expect_err("unknown token")
        .to_string();
    assert!(e.contains("Unable to validate application access"), "{e}");
}

#[test]
fn bound_config_reloads_without_the_token() {
    let emu = start_demo();
    let sm = bound_client(&emu);
    let saved = saved_config(&sm);
    drop(sm);
    let storage = KvStoreType::InMemory(InMemoryKeyValueStorage::new(Some(saved)).unwrap());
    let mut again =
        SecretsManager::new(options(&emu, "", storage)).expect("client from saved config");
    assert_eq!(
        again
            .get_secrets(vec![])
            .expect("reads with saved config")
            .len(),
        8
    );
}

#[test]
fn read_only_app_sees_its_folder_and_cannot_write() {
    let emu = start_demo();
    let token = emu.issue_token("read-only reporting").unwrap();
    let mut sm = client_for(&emu, &token);
    let records = sm.get_secrets(vec![]).unwrap();
    assert!(
        records.iter().all(|r| r.folder_uid == DATABASES),
        "only the Databases folder is shared to it"
    );
    assert_eq!(records.len(), 4);
    assert!(records.iter().all(|r| !r.is_editable));
    let mut pg = by_title(&records, "Orders (PostgreSQL)").clone();
    pg.set_standard_field_value_mut("password", json!("nope"))
        .unwrap();
    let e = sm.update_secret(pg).expect_err("read-only").to_string();
    assert!(e.contains("access_denied"), "{e}");
    let e = sm
        .create_secret(DATABASES, db_record("x", "l", "p"))
        .expect_err("read-only")
        .to_string();
    assert!(e.contains("access_denied"), "{e}");
}

#[test]
fn client_without_the_emulator_ca_gets_a_tls_error() {
    // This emulator makes its own CA, which the client (trusting only the runner's CA) lacks.
    let emu = start(EmulatorConfig {
        ca_dir: None,
        ..demo_config()
    });
    let mut sm = client(&emu);
    let e = sm
        .get_secrets(vec![])
        .expect_err("untrusted certificate must fail")
        .to_string();
    assert!(
        e.contains("error sending request for url (https://ksm.test/api/rest/sm/v1/get_secret)"),
        "{e}"
    );
    // The client broke off the handshake over the certificate, not for any other reason a
    // send can fail (refused connection, proxy, timeout). The server's side of the handshake
    // records the alert on its own thread, which may finish after the client has its error.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut stats = emu.stats();
    while stats.certificate_rejected == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        stats = emu.stats();
    }
    assert!(
        stats.certificate_rejected >= 1,
        "the client did not reject the certificate: {stats:?} ({e})"
    );
    assert_eq!(
        stats.requests, 0,
        "no request may get through an unverified TLS session"
    );
    assert_eq!(emu.bound_clients(), 0);
}

#[test]
fn records_added_while_running_are_served() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let more: Seed = Seed::from_json(
        r#"{"records":[{"folder":"Databases","type":"databaseCredentials","title":"Added later",
            "fields":[{"type":"login","value":["late"]}]}]}"#,
    )
    .unwrap();
    emu.add_seed(&more).unwrap();
    let records = sm.get_secrets(vec![]).unwrap();
    assert_eq!(
        std_value(by_title(&records, "Added later"), "login"),
        json!("late")
    );
}

#[test]
fn attached_files_download_and_upload() {
    use keeper_secrets_manager_core::dto::dtos::KeeperFileUpload;

    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let mut pg = fetch(&mut sm, "PgOrdersDatabaseRec001");
    assert_eq!(pg.files.len(), 1);
    let file = &mut pg.files[0];
    assert_eq!(
        (file.name.as_str(), file.title.as_str()),
        ("server-ca.pem", "Server CA (demo)")
    );
    let data = file.get_file_data().expect("download").expect("content");
    assert!(
        String::from_utf8(data)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let file_uid = file.uid.clone();
    assert_eq!(
        std_value(&pg, "fileRef"),
        json!(file_uid),
        "the record's fileRef names the file"
    );

    let upload = KeeperFileUpload {
        name: "client.key".into(),
        title: "Client key".into(),
        mime_type: "application/octet-stream".into(),
        data: vec![0u8, 1, 2, 255, 13, 10, 45, 45],
    };
    let new_uid = sm.upload_file(pg, upload).expect("upload");
    let held = stored(&emu, "PgOrdersDatabaseRec001");
    let f = held
        .files
        .iter()
        .find(|f| f.uid == new_uid)
        .expect("emulator holds the upload");
    assert_eq!(f.content, [0u8, 1, 2, 255, 13, 10, 45, 45]);
    assert_eq!(f.meta["name"], "client.key");
    assert_eq!(held.revision, 2, "adding a file updates the owner record");

    let mut again = fetch(&mut sm, "PgOrdersDatabaseRec001");
    assert_eq!(again.files.len(), 2);
    let f = again.files.iter_mut().find(|f| f.uid == new_uid).unwrap();
    assert_eq!(
        f.get_file_data().unwrap().unwrap(),
        [0u8, 1, 2, 255, 13, 10, 45, 45]
    );
    assert_eq!(emu.stats().by_endpoint.get("download").copied(), Some(2));
}

#[test]
fn rotation_transaction_can_be_rolled_back_or_finalized() {
    use keeper_secrets_manager_core::dto::payload::UpdateTransactionType;

    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let uid = "PgOrdersDatabaseRec001";
    let password = |emu| stored(emu, uid).field("password").cloned();

    let mut rec = fetch(&mut sm, uid);
    rec.set_standard_field_value_mut("password", json!("rotating-1"))
        .unwrap();
    sm.update_secret_with_transaction(rec, UpdateTransactionType::Rotation)
        .unwrap();
    assert_eq!(password(&emu), Some(json!("rotating-1")));
    sm.complete_transaction(uid, true).expect("rollback");
    assert_eq!(
        password(&emu),
        Some(json!("demo-pg-Passw0rd")),
        "rollback restores the old password"
    );

    let mut rec = fetch(&mut sm, uid);
    rec.set_standard_field_value_mut("password", json!("rotating-2"))
        .unwrap();
    sm.update_secret_with_transaction(rec, UpdateTransactionType::Rotation)
        .unwrap();
    sm.complete_transaction(uid, false).expect("finalize");
    assert_eq!(password(&emu), Some(json!("rotating-2")));
}

#[test]
fn requested_folders_filter_by_shared_folder_or_subfolder() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let titles = |recs: Vec<Record>| {
        let mut t: Vec<String> = recs.into_iter().map(|r| r.title).collect();
        t.sort();
        t
    };
    let sub = sm
        .get_secrets_with_options(QueryOptions::new(vec![], vec![STAGING.into()]))
        .unwrap();
    assert_eq!(titles(sub), ["Staging (MariaDB)"]);
    let storage = sm
        .get_secrets_with_options(QueryOptions::new(vec![], vec![STORAGE.into()]))
        .unwrap();
    assert_eq!(titles(storage), ["local dev (synced)"]);
}

#[test]
fn owner_side_changes_reach_clients() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let uid = "PgOrdersDatabaseRec001";
    let rev = emu
        .set_field(uid, "password", json!("rotated-by-owner"))
        .unwrap();
    assert_eq!(rev, 2);
    let rec = fetch(&mut sm, uid);
    assert_eq!(std_value(&rec, "password"), json!("rotated-by-owner"));
    assert_eq!(rec.revision, Some(2));

    emu.update_record(uid, |r| r["title"] = json!("Orders (renamed)"))
        .unwrap();
    assert_eq!(
        sm.get_secrets(vec![uid.into()]).unwrap()[0].title,
        "Orders (renamed)"
    );

    let e = emu
        .set_field(uid, "noSuchField", json!("x"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no field \"noSuchField\""), "{e}");
    let e = emu
        .set_field("NoSuchRecord", "password", json!("x"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no record with uid \"NoSuchRecord\""), "{e}");
    assert_eq!(stored(&emu, uid).revision, 3, "failed edits change nothing");

    emu.remove_record(uid).unwrap();
    assert!(sm.get_secrets(vec![uid.into()]).unwrap().is_empty());
    assert_eq!(sm.get_secrets(vec![]).unwrap().len(), 7);
}

/// A record in a subfolder of app `keeperdb`'s shared folder, also shared directly to the
/// editable app `second`, and a shared folder `Elsewhere` that `second` does not see.
fn direct_share_seed() -> Seed {
    Seed::from_json(
        r#"{
          "apps": [
            {"name": "keeperdb", "shared_folders": ["Team"]},
            {"name": "second", "records": ["DirectlySharedRecord01"]}
          ],
          "folders": [
            {"uid": "TeamSharedFolder000001", "name": "Team"},
            {"uid": "DoomedSubfolder0000001", "name": "Doomed", "parent": "Team"},
            {"uid": "ElsewhereFolder0000001", "name": "Elsewhere"}
          ],
          "records": [
            {"uid": "DirectlySharedRecord01", "folder": "Doomed", "type": "login",
             "title": "shared twice", "fields": [{"type": "password", "value": ["old-Secret"]}]}
          ]
        }"#,
    )
    .expect("seed parses")
}

/// Removes the record with `remove`, then makes a new record with the same UID in a folder
/// `second` never had, and checks that `second` gained no access to it: a direct share must go
/// with the record it shares, whichever path removed the record.
fn removed_record_share_does_not_reach_a_new_record_with_its_uid(
    remove: impl FnOnce(&EmulatorHandle, &mut SecretsManager),
) {
    const UID: &str = "DirectlySharedRecord01";
    let emu = start(EmulatorConfig {
        seed: direct_share_seed(),
        ca_dir: Some(ca_dir()),
        ..EmulatorConfig::default()
    });
    let mut owner_app = bound_client(&emu);
    let mut second = client_for(&emu, &emu.issue_token("second").unwrap());
    let seen = second.get_secrets(vec![]).expect("second app binds");
    assert_eq!(
        seen.iter().map(|r| r.uid.as_str()).collect::<Vec<_>>(),
        [UID],
        "the record is shared directly to the second app"
    );

    remove(&emu, &mut owner_app);
    assert!(emu.records().iter().all(|r| r.uid != UID));
    assert!(second.get_secrets(vec![]).unwrap().is_empty());

    // The SDK makes up record UIDs itself, so the new record comes from the owner's side.
    let again = Seed::from_json(
        r#"{"records": [{"uid": "DirectlySharedRecord01", "folder": "Elsewhere",
             "type": "login", "title": "newcomer",
             "fields": [{"type": "password", "value": ["new-Secret"]}]}]}"#,
    )
    .unwrap();
    emu.add_seed(&again).expect("the uid is free again");

    // A stale share would make the new record the second app's to delete.
    assert_eq!(
        second
            .delete_secret(vec![UID.into()])
            .expect("delete answers"),
        "",
        "the second app must not be able to delete a record never shared to it"
    );
    let held = stored(&emu, UID);
    assert_eq!(held.title, "newcomer");
    assert_eq!(held.folder_uid.as_deref(), Some("ElsewhereFolder0000001"));
    assert!(second.get_secrets(vec![]).unwrap().is_empty());
}

#[test]
fn force_deleted_folder_takes_direct_shares_of_its_records_with_it() {
    removed_record_share_does_not_reach_a_new_record_with_its_uid(|_, sm| {
        let answer = sm
            .delete_folder(vec!["DoomedSubfolder0000001".into()], true)
            .expect("forced delete");
        assert_eq!(answer[0]["responseCode"], json!("ok"));
    });
}

#[test]
fn deleted_record_takes_its_direct_shares_with_it() {
    removed_record_share_does_not_reach_a_new_record_with_its_uid(|_, sm| {
        let deleted = sm
            .delete_secret(vec!["DirectlySharedRecord01".into()])
            .expect("delete");
        assert_eq!(deleted, "\"DirectlySharedRecord01\"");
    });
}

#[test]
fn owner_removed_record_takes_its_direct_shares_with_it() {
    removed_record_share_does_not_reach_a_new_record_with_its_uid(|emu, _| {
        emu.remove_record("DirectlySharedRecord01").unwrap();
    });
}
