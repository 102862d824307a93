// A connection source in JavaScript: reads `~/.hello-connections`, one connection per line:
//
//     # name      engine    host           port  database  user
//     orders-db   postgres  db.internal    5432  orders    app
//
// `keeperdb plugins new --kind source --lang js DIR` writes this plugin under a name of yours
// (reading `~/.DIR`). Built with componentize-js against wit/world.wit (`npm run build`); the
// README of a new plugin, and sdk/plugin/JAVASCRIPT.md, say how WIT types look from JavaScript.

import { log } from 'keeperdb:plugin/log@0.4.0';
import { read } from 'keeperdb:plugin/fs-read@0.4.0';

const FILE = '~/.hello-connections';

// A `result` error is thrown: a thrown `{ tag, val }` becomes the WIT `error` variant.
function invalidData(what, message) {
  return { tag: 'invalid-data', val: { what, message } };
}

function readText(path) {
  try {
    return new TextDecoder().decode(read(path));
  } catch (e) {
    // An import's `result` error arrives as an Error whose `payload` is the WIT variant.
    if (e.payload?.tag === 'not-found') return null;
    throw e.payload ?? e;
  }
}

export const source = {
  listConnections() {
    const text = readText(FILE);
    const connections = [];
    const skipped = [];
    if (text === null) return { connections, skipped };
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const where = `${FILE}:${i + 1}`;
      const fields = line.split(/\s+/);
      if (fields.length !== 6) {
        throw invalidData(where, 'expected: name engine host port database user');
      }
      const [name, engine, host, portText, database, user] = fields;
      const port = Number(portText);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        // One bad line is left out with its reason; the others are still listed.
        skipped.push({ entry: where, reason: `\`${portText}\` is not a port` });
        return;
      }
      connections.push({
        // Stable from one listing to the next: the name.
        id: name,
        name,
        engine,
        host,
        port,
        database,
        user,
        tls: undefined,
        readOnly: false,
        environment: undefined,
        color: undefined,
        options: [],
      });
    });
    log('debug', `${connections.length} connections`);
    return { connections, skipped };
  },

  fetchCredentials(_connection) {
    // This file holds no passwords: the driver prompts, or uses trust/peer auth.
    return { user: undefined, password: undefined };
  },
};
