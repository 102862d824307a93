"""Drives the KSM emulator with the official Python SDK (keeper-secrets-manager-core), unmodified,
the way a user points it at the emulator. Run by tests/other_sdks.rs, which starts the emulator,
then checks its state after this script exits.

    python ksm_sdk_check.py SCENARIO

Settings come from the environment: KSM_TOKEN (one-time token), KSM_PROXY_URL,
KSM_SERVER_PUBLIC_KEY, KSM_SERVER_PUBLIC_KEY_ID, and REQUESTS_CA_BUNDLE (the emulator's CA;
TLS verification stays on). SCENARIO is `workflow` (bind, list with and without links, list
folders, create, update and delete a record, create a folder) or `list` (bind and list, for
the fault tests). It prints one JSON line: what the SDK returned, or {"error": message} and
exit code 1 when the SDK raised. It never prints the token or the client's keys.
"""

import json
import os
import sys
from importlib.metadata import version

from keeper_secrets_manager_core import SecretsManager
from keeper_secrets_manager_core.dto.dtos import RecordCreate, RecordField
from keeper_secrets_manager_core.dto.payload import CreateOptions, QueryOptions
from keeper_secrets_manager_core.storage import InMemoryKeyValueStorage

STORAGE_FOLDER = "KeeperDbStorageFolder1"
PG_ORDERS = "PgOrdersDatabaseRec001"


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set")
    return value


def summary(records):
    return sorted(
        (
            {"uid": r.uid, "title": r.title, "type": r.type, "folder": r.folder_uid or None}
            for r in records
        ),
        key=lambda r: r["uid"],
    )


def record_data(title, password):
    rec = RecordCreate("databaseCredentials", title)
    rec.fields = [
        RecordField(field_type="text", label="type", value=["postgresql"]),
        RecordField(field_type="host", value=[{"hostName": "127.0.0.1", "port": "5432"}]),
        RecordField(field_type="login", value=["python-sdk"]),
        RecordField(field_type="password", value=[password]),
    ]
    rec.custom = []
    rec.notes = "made by the Python SDK test"
    return rec


def run(scenario):
    sm = SecretsManager(
        token=env("KSM_TOKEN"),
        config=InMemoryKeyValueStorage(),
        # The SDK always calls https://<token host>:443; the emulator is the CONNECT proxy.
        proxy_url=env("KSM_PROXY_URL"),
        server_public_key=env("KSM_SERVER_PUBLIC_KEY"),
        server_public_key_id=env("KSM_SERVER_PUBLIC_KEY_ID"),
        verify_ssl_certs=True,
    )
    out = {"sdk": "keeper-secrets-manager-core", "version": version("keeper-secrets-manager-core")}

    # Binds with the one-time token.
    plain = sm.get_secrets()
    out["records"] = summary(plain)
    out["links_without_request"] = sum(1 for r in plain if r.links)
    if scenario == "list":
        return out
    if scenario != "workflow":
        raise RuntimeError(f"unknown scenario {scenario}")

    pg = next(r for r in plain if r.uid == PG_ORDERS)
    out["pg_password"] = pg.get_standard_field_value("password", single=True)

    linked = sm.get_secrets_with_options(QueryOptions(None, None, request_links=True))
    out["links"] = {
        r.uid: sorted(link["recordUid"] for link in r.links) for r in linked if r.links
    }

    out["folders"] = sorted(
        (
            {"uid": f.folder_uid, "name": f.name, "parent": f.parent_uid or None}
            for f in sm.get_folders()
        ),
        key=lambda f: f["uid"],
    )

    out["created"] = sm.create_secret_with_options(
        CreateOptions(STORAGE_FOLDER, None),
        record_data("Created by the Python SDK", "created-Passw0rd"),
    )
    [created] = sm.get_secrets([out["created"]])
    created.set_standard_field_value("password", "updated-Passw0rd")
    sm.save(created)
    [updated] = sm.get_secrets([out["created"]])
    out["updated_password"] = updated.get_standard_field_value("password", single=True)
    out["updated_revision"] = updated.revision

    out["deleted"] = sm.create_secret_with_options(
        CreateOptions(STORAGE_FOLDER, None),
        record_data("Deleted by the Python SDK", "short-lived"),
    )
    deleted = sm.delete_secret([out["deleted"]])
    out["delete_status"] = [[d["recordUid"], d["responseCode"]] for d in deleted]

    out["folder_created"] = sm.create_folder(
        CreateOptions(STORAGE_FOLDER, None), "Made by the Python SDK"
    )
    return out


def main():
    try:
        out = run(sys.argv[1] if len(sys.argv) > 1 else "")
    except Exception as err:  # reported to the Rust test, which asserts on it
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
