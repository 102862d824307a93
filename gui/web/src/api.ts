// Every call to the server goes through here (gui/API.md). Changes are JSON POSTs with the
// X-KeeperDB header; the browser adds this page's Origin, which the server checks.

export class ApiError extends Error {
  constructor(
    readonly kind: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function answer<T>(r: Response): Promise<T> {
  if (r.ok) return (await r.json()) as T;
  let kind = 'internal';
  let message = `${r.status} ${r.statusText}`;
  try {
    const body = (await r.json()) as { error?: { kind?: string; message?: string } };
    kind = body.error?.kind ?? kind;
    message = body.error?.message ?? message;
  } catch {
    // Not JSON: keep the status line.
  }
  throw new ApiError(kind, message, r.status);
}

export function get<T>(path: string): Promise<T> {
  return fetch(path, { credentials: 'same-origin' }).then((r) => answer<T>(r));
}

function postInit(body: unknown): RequestInit {
  return {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-KeeperDB': '1' },
    body: JSON.stringify(body ?? {}),
  };
}

export function post<T>(path: string, body?: unknown): Promise<T> {
  return fetch(path, postInit(body)).then((r) => answer<T>(r));
}

/** A POST whose answer is JSON lines, each handed to `onLine` as it arrives. */
export async function postLines(path: string, body: unknown, onLine: (line: any) => void): Promise<void> {
  const r = await fetch(path, postInit(body));
  if (!r.ok || !r.body) {
    await answer(r);
    return;
  }
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let at: number;
    while ((at = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, at).trim();
      pending = pending.slice(at + 1);
      if (line) onLine(JSON.parse(line));
    }
  }
  if (pending.trim()) onLine(JSON.parse(pending));
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

// --- shapes ---------------------------------------------------------------------------------

export type Theme = 'system' | 'light' | 'dark';

export interface Prefs {
  theme: Theme;
  page_size: number;
  query_timeout_secs: number;
  connect_timeout_secs: number;
  confirm_production_writes: boolean;
  editor: { tab_width: number; use_spaces: boolean; keymap: 'emacs' | 'vi'; uppercase_keywords: boolean };
  storage: { auto: boolean };
  mode: 'standalone' | 'gateway';
}

export interface AppState {
  version: string;
  mode: 'standalone' | 'gateway';
  storage_available: boolean;
  vaults: number;
  connections: number;
  prefs: Prefs;
}

export interface Conn {
  id: string;
  name: string;
  key: string;
  source: string;
  badge: string;
  vault: string | null;
  engine: string;
  target: string;
  environment: string | null;
  color: string | null;
  read_only: boolean;
  stale: boolean;
  local: boolean;
}

export interface Listing {
  connections: Conn[];
  failures: { source: string; message: string }[];
  stale: { source: string; refreshed_at: string; reason: string }[];
  skipped: { source: string; name: string; reason: string }[];
}

export interface Vault {
  name: string;
  host: string;
  region: string | null;
  proxy: string | null;
  attached_at: string;
  state: string;
  records: number | null;
  connections: number;
  refreshed_at: string | null;
  last_failure: string | null;
}

export interface Refresh {
  name: string;
  ok: boolean;
  records: number;
  connections: number;
  skipped: number;
  error: string | null;
}

export interface Pending {
  in_sync: number;
  writes: number;
  removals: number;
  only_in_backend: number;
  changed_elsewhere: number;
  unreadable: number;
}

export interface Storage {
  available: boolean;
  enabled: boolean;
  vault: string | null;
  backend: string | null;
  enabled_at: string | null;
  last_sync: string | null;
  pending: Pending | null;
}

export interface Column {
  name: string;
  type: string;
}

export interface ResultInfo {
  id: string;
  columns: Column[];
  loaded: number;
  complete: boolean;
  capped: boolean;
  error: { kind: string; message: string } | null;
}

export type Statement =
  | { kind: 'rows'; sql: string; result: ResultInfo }
  | { kind: 'affected'; sql: string; rows: number };

export interface RunAnswer {
  statements: Statement[];
  error: { kind: string; message: string } | null;
}

export interface Rows {
  rows: (string | null)[][];
  loaded: number;
  complete: boolean;
  capped: boolean;
}

export interface TableRef {
  schema: string | null;
  name: string;
  kind: string | null;
}
