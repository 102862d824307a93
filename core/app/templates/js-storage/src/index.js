// A keeperdb storage backend in JavaScript: keeps each item (a saved connection, or the
// preferences) as one record in the Keeper vault folder `__ID__`, made inside the first shared
// folder the KSM application can edit. The payload is the record's notes, the local id and
// kind are custom fields, and a connection's password is the record's `password` field,
// written by the host from a handle so it never enters this plugin.
//
// Built with componentize-js against ../wit/world.wit (`npm run build`); README.md says how
// to build, pack and install, and how WIT types look from JavaScript.

import {
  listFolders,
  listRecords,
  createFolder,
  createRecord,
  deleteRecord,
} from 'keeperdb:plugin/keeper-vault@0.4.0';

const FOLDER = '__ID__';
const LOCAL_ID = 'keeperdb_local_id';
const KIND = 'keeperdb_kind';

// An import's `result` error arrives as an Error whose `payload` is the WIT `error` variant;
// rethrowing the payload passes it on to the host unchanged.
function call(f) {
  try {
    return f();
  } catch (e) {
    throw e.payload ?? e;
  }
}

function folder() {
  const folders = call(() => listFolders());
  const mine = folders.find((f) => f.name === FOLDER);
  if (mine) return mine.uid;
  const shared = folders.find((f) => f.parentUid === undefined || f.parentUid === null);
  if (!shared) {
    throw { tag: 'unavailable', val: 'the application sees no shared folder: share one with it' };
  }
  return call(() => createFolder(shared.uid, FOLDER));
}

// The one string in a custom field's JSON array value.
function text(record, label) {
  const field = record.custom.find((f) => f.label === label);
  if (!field) return undefined;
  try {
    const value = JSON.parse(field.value);
    return Array.isArray(value) && typeof value[0] === 'string' ? value[0] : undefined;
  } catch {
    return undefined;
  }
}

function textField(label, value) {
  return { fieldType: 'text', label, value: JSON.stringify([value]), secret: undefined };
}

export const storage = {
  listItems() {
    const items = [];
    for (const record of call(() => listRecords(folder(), false))) {
      // Records this backend did not write are not its items.
      const localId = text(record, LOCAL_ID);
      if (localId === undefined) continue;
      const hasSecret = record.fields.some((f) => f.fieldType === 'password');
      items.push({
        localId,
        remoteRef: record.uid,
        kind: text(record, KIND) === 'preferences' ? 'preferences' : 'connection',
        payload: record.notes ?? '',
        secret: hasSecret ? { recordUid: record.uid, field: 'password' } : undefined,
      });
    }
    return items;
  },

  put(item) {
    const fields = [];
    if (item.secret !== undefined && item.secret !== null) {
      // The host writes the secret the handle stands for; this plugin never holds it.
      fields.push({ fieldType: 'password', label: undefined, value: '[]', secret: item.secret });
    }
    const record = {
      recordType: 'login',
      title: `keeperdb ${item.kind} ${item.localId}`,
      fields,
      custom: [textField(LOCAL_ID, item.localId), textField(KIND, item.kind)],
      notes: item.payload,
    };
    return call(() => createRecord(folder(), record));
  },

  remove(remoteRef) {
    call(() => deleteRecord(remoteRef));
  },
};
