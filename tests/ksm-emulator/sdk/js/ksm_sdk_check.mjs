// Drives the KSM emulator with the official JavaScript SDK (@keeper-security/secrets-manager-core),
// unmodified, the way a user points it at the emulator. Run by tests/other_sdks.rs, which starts
// the emulator, then checks its state after this script exits.
//
//   node ksm_sdk_check.mjs SCENARIO
//
// Settings come from the environment: KSM_TOKEN (one-time token), KSM_PROXY_URL,
// KSM_SERVER_PUBLIC_KEY, KSM_SERVER_PUBLIC_KEY_ID, and NODE_EXTRA_CA_CERTS (the emulator's CA;
// TLS verification stays on). SCENARIO is `workflow` (bind, list with and without links, list
// folders, create, update and delete a record, create a folder) or `list` (bind and list, for
// the fault tests). It prints one JSON line: what the SDK returned, or {"error": message} and
// exit code 1 when the SDK threw. It never prints the token or the client's keys.

import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import ksm from '@keeper-security/secrets-manager-core'
import { HttpsProxyAgent } from 'https-proxy-agent'

const {
    createFolder, createSecret2, deleteSecret, getFolders, getSecrets, getSecrets2,
    initializeStorage, inMemoryStorage, setCustomProxyAgent, updateSecret,
} = ksm

const STORAGE_FOLDER = 'KeeperDbStorageFolder1'
const PG_ORDERS = 'PgOrdersDatabaseRec001'

const env = (name) => {
    const v = process.env[name]
    if (!v) throw new Error(`${name} is not set`)
    return v
}

const sdkVersion = () => {
    const require = createRequire(import.meta.url)
    const pkg = require.resolve('@keeper-security/secrets-manager-core/package.json')
    return JSON.parse(readFileSync(pkg, 'utf8')).version
}

const field = (record, type) => (record.data.fields || []).find(f => f.type === type)

const summary = (records) => records
    .map(r => ({ uid: r.recordUid, title: r.data.title, type: r.data.type, folder: r.folderUid || null }))
    .sort((a, b) => a.uid.localeCompare(b.uid))

async function main() {
    const scenario = process.argv[2]
    // The SDK always calls https://<token host>:443; the emulator is the CONNECT proxy.
    setCustomProxyAgent(new HttpsProxyAgent(env('KSM_PROXY_URL')))
    const storage = inMemoryStorage({})
    await initializeStorage(storage, env('KSM_TOKEN'))
    const options = {
        storage,
        serverPublicKey: env('KSM_SERVER_PUBLIC_KEY'),
        serverPublicKeyId: env('KSM_SERVER_PUBLIC_KEY_ID'),
    }
    const out = { sdk: '@keeper-security/secrets-manager-core', version: sdkVersion() }

    // Binds with the one-time token.
    const plain = await getSecrets(options)
    out.records = summary(plain.records)
    out.links_without_request = plain.records.filter(r => (r.links || []).length > 0).length
    if (scenario === 'list') return out
    if (scenario !== 'workflow') throw new Error(`unknown scenario ${scenario}`)

    const pg = plain.records.find(r => r.recordUid === PG_ORDERS)
    out.pg_password = field(pg, 'password').value[0]

    const linked = await getSecrets2(options, { requestLinks: true })
    out.links = Object.fromEntries(linked.records
        .filter(r => (r.links || []).length > 0)
        .map(r => [r.recordUid, r.links.map(l => l.recordUid).sort()]))

    out.folders = (await getFolders(options))
        .map(f => ({ uid: f.folderUid, name: f.name, parent: f.parentUid || null }))
        .sort((a, b) => a.uid.localeCompare(b.uid))

    const recordData = (title, password) => ({
        title,
        type: 'databaseCredentials',
        fields: [
            { type: 'text', label: 'type', value: ['postgresql'] },
            { type: 'host', value: [{ hostName: '127.0.0.1', port: '5432' }] },
            { type: 'login', value: ['js-sdk'] },
            { type: 'password', value: [password] },
        ],
        custom: [],
        notes: 'made by the JavaScript SDK test',
    })
    out.created = await createSecret2(options, { folderUid: STORAGE_FOLDER },
        recordData('Created by the JavaScript SDK', 'created-Passw0rd'))

    const [created] = (await getSecrets(options, [out.created])).records
    field(created, 'password').value = ['updated-Passw0rd']
    await updateSecret(options, created)
    const [updated] = (await getSecrets(options, [out.created])).records
    out.updated_password = field(updated, 'password').value[0]
    out.updated_revision = updated.revision

    out.deleted = await createSecret2(options, { folderUid: STORAGE_FOLDER },
        recordData('Deleted by the JavaScript SDK', 'short-lived'))
    const deleted = await deleteSecret(options, [out.deleted])
    out.delete_status = deleted.records.map(r => [r.recordUid, r.responseCode])

    out.folder_created = await createFolder(options, { folderUid: STORAGE_FOLDER },
        'Made by the JavaScript SDK')
    return out
}

main().then(
    out => console.log(JSON.stringify(out)),
    err => {
        console.log(JSON.stringify({ error: String(err && err.message || err) }))
        process.exitCode = 1
    },
)
