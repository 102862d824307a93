import { useEffect, useRef, useState } from 'preact/hooks';
import type { SQLNamespace } from '@codemirror/lang-sql';
import { ApiError, errorText, get, post, type Conn, type Prefs, type ResultInfo, type RunAnswer, type Statement, type TableRef } from './api';
import { ConfirmDialog, PasswordDialog } from './dialogs';
import { SqlEditor, type EditorHandle } from './editor';
import { Grid } from './grid';
import { SchemaTree } from './schema';
import { statementAt } from './sql';
import { EnvTag, safeColor } from './connections';

type Ask = { kind: 'confirm'; message: string; sql: string } | { kind: 'password'; message: string; sql: string };

/** A result's state from the server, polled while rows are loading. `generation` restarts the
 *  polling (after "fetch all" lifted the cap). */
function usePolled(statement: Statement | undefined, generation: number): ResultInfo | null {
  const [info, setInfo] = useState<ResultInfo | null>(statement?.kind === 'rows' ? statement.result : null);
  useEffect(() => {
    if (statement?.kind !== 'rows') return setInfo(null);
    setInfo((old) => (old?.id === statement.result.id ? old : statement.result));
    let stop = false;
    (async () => {
      while (!stop) {
        const current = await get<ResultInfo>(`/api/results/${statement.result.id}`).catch(() => null);
        if (stop || !current) return;
        setInfo(current);
        if (current.complete || current.error || current.capped) return;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    return () => {
      stop = true;
    };
  }, [statement, generation]);
  return info;
}

export function Workspace(props: { conn: Conn; prefs: Prefs }) {
  const { conn, prefs } = props;
  const editor = useRef<EditorHandle | null>(null);
  const [statements, setStatements] = useState<Statement[]>([]);
  const [tab, setTab] = useState(0);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [ask, setAsk] = useState<Ask | null>(null);
  const [schema, setSchema] = useState<SQLNamespace>({});
  const [history, setHistory] = useState<{ sql: string; at: string }[] | null>(null);
  const [selection, setSelection] = useState<[number, number] | null>(null);
  const [generation, setGeneration] = useState(0);
  const draftKey = `keeperdb.draft.${conn.id}`;

  // Completion from the catalog: table names first, then their columns, a table at a time.
  useEffect(() => {
    let stop = false;
    setSchema({});
    (async () => {
      try {
        const t = await get<{ tables: TableRef[] }>(`/api/schema/tables?connection=${encodeURIComponent(conn.id)}`);
        const ns: Record<string, string[]> = {};
        for (const table of t.tables) ns[table.name] = [];
        if (!stop) setSchema({ ...ns });
        for (const table of t.tables.slice(0, 200)) {
          if (stop) return;
          const c = await get<{ columns: { name: string }[] }>(
            `/api/schema/columns?connection=${encodeURIComponent(conn.id)}&schema=${encodeURIComponent(table.schema ?? '')}&table=${encodeURIComponent(table.name)}`,
          );
          ns[table.name] = c.columns.map((x) => x.name);
        }
        if (!stop) setSchema({ ...ns });
      } catch {
        // Completion is a help; the tree shows catalog errors.
      }
    })();
    return () => {
      stop = true;
    };
  }, [conn.id]);

  const show = (answer: RunAnswer) => {
    setStatements(answer.statements);
    setTab(Math.max(0, answer.statements.length - 1));
    setSelection(null);
    if (answer.error) setError(answer.error.message);
  };

  const run = async (sql: string, confirmed = false) => {
    if (!sql.trim()) return;
    setError(null);
    setNote(null);
    setRunning(true);
    try {
      show(await post<RunAnswer>('/api/query', { connection: conn.id, sql, confirmed }));
    } catch (e) {
      if (e instanceof ApiError && e.kind === 'confirm_required') setAsk({ kind: 'confirm', message: e.message, sql });
      else if (e instanceof ApiError && e.kind === 'password_required') setAsk({ kind: 'password', message: e.message, sql });
      else if (e instanceof ApiError && e.kind === 'cancelled') setError(`Cancelled: ${e.message}`);
      else setError(errorText(e));
    } finally {
      setRunning(false);
    }
  };

  const runFromEditor = (what: 'statement' | 'all') => {
    const h = editor.current;
    if (!h) return;
    const chosen = h.selection();
    void run(what === 'all' ? h.text() : chosen.trim() ? chosen : statementAt(h.text(), h.cursor()));
  };

  const cancel = () => post('/api/cancel', { connection: conn.id }).catch((e) => setError(errorText(e)));

  const openTable = async (t: TableRef) => {
    setError(null);
    setRunning(true);
    try {
      show(await post<RunAnswer>('/api/schema/open', { connection: conn.id, schema: t.schema, table: t.name }));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setRunning(false);
    }
  };

  const current = statements[tab];
  const info = usePolled(current, generation);
  const color = safeColor(conn.color) ?? (conn.environment?.trim().toLowerCase() === 'production' ? '#d93025' : null);

  const copy = async (format: 'tsv' | 'csv' | 'json') => {
    if (!info) return;
    const [from, to] = selection ?? [0, info.loaded - 1];
    try {
      const r = await fetch(`/api/results/${info.id}/text?format=${format}&offset=${from}&limit=${to - from + 1}`, { credentials: 'same-origin' });
      if (!r.ok) throw new Error(`copy failed: ${r.status}`);
      await navigator.clipboard.writeText(await r.text());
      setNote(`Copied ${to - from + 1} row(s) as ${format.toUpperCase()}.`);
    } catch (e) {
      setError(errorText(e));
    }
  };

  const exportAs = async (format: string) => {
    if (!info) return;
    setError(null);
    try {
      const r = await fetch(`/api/results/${info.id}/export?format=${format}`, { credentials: 'same-origin' });
      if (!r.ok || !r.body) throw new Error(`export failed: ${r.status}`);
      const reader = r.body.getReader();
      const parts: BlobPart[] = [];
      let bytes = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value as Uint8Array<ArrayBuffer>);
        bytes += value.length;
        setNote(`Exporting… ${(bytes / 1048576).toFixed(1)} MB`);
      }
      const url = URL.createObjectURL(new Blob(parts));
      const a = document.createElement('a');
      a.href = url;
      a.download = `${conn.name}.${format === 'markdown' ? 'md' : format}`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setNote(`Exported ${(bytes / 1048576).toFixed(1)} MB as ${format}.`);
    } catch (e) {
      setError(`The export did not finish: ${errorText(e)}`);
    }
  };

  const fetchAll = async () => {
    if (!info) return;
    try {
      await post(`/api/results/${info.id}/fetch-all`, {});
      setGeneration((n) => n + 1);
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <div class="workspace">
      <SchemaTree conn={conn} onOpen={openTable} />
      <section class="editor-area">
        <header class="conn-bar" data-testid="conn-bar" ref={(el) => {
            if (el) el.style.borderTopColor = color ?? 'transparent';
          }}
        >
          <strong data-testid="current-connection">{conn.name}</strong>
          <EnvTag c={conn} />
          {conn.read_only && <span class="ro">read-only</span>}
          <span class="target">{conn.target}</span>
          <span class="spacer" />
          <button class="primary" data-testid="run" disabled={running} title="Run the statement at the cursor, or the selection (Ctrl+Enter)" onClick={() => runFromEditor('statement')}>
            Run
          </button>
          <button data-testid="run-all" disabled={running} title="Run everything (Ctrl+Shift+Enter)" onClick={() => runFromEditor('all')}>
            Run all
          </button>
          <button data-testid="cancel" disabled={!running} onClick={cancel}>
            Cancel
          </button>
          <button
            data-testid="history"
            onClick={async () => {
              if (history) return setHistory(null);
              try {
                setHistory((await get<{ entries: { sql: string; at: string }[] }>(`/api/history?connection=${encodeURIComponent(conn.id)}`)).entries);
              } catch (e) {
                setError(errorText(e));
              }
            }}
          >
            History
          </button>
        </header>
        <div class="editor-row">
          <SqlEditor
            engine={conn.engine}
            schema={schema}
            prefs={prefs}
            initial={localStorage.getItem(draftKey) ?? ''}
            onRun={runFromEditor}
            handle={(h) => (editor.current = h)}
            onChange={(text) => localStorage.setItem(draftKey, text)}
          />
          {history && (
            <aside class="history" data-testid="history-panel">
              <h3>History</h3>
              {history.length === 0 && <p class="hint">Nothing run yet.</p>}
              <ul>
                {history.map((h) => (
                  <li title={new Date(h.at).toLocaleString()} onClick={() => editor.current?.setText(h.sql)}>
                    {h.sql}
                  </li>
                ))}
              </ul>
            </aside>
          )}
        </div>
        <div class="results">
          {error && (
            <p class="error" role="alert" data-testid="query-error">
              {error}
            </p>
          )}
          {running && <p class="running" data-testid="running">Running…</p>}
          {statements.length > 1 && (
            <div class="tabs">
              {statements.map((s, i) => (
                <button class={i === tab ? 'tab active' : 'tab'} onClick={() => setTab(i)}>
                  {s.kind === 'rows' ? `Result ${i + 1}` : `Statement ${i + 1}`}
                </button>
              ))}
            </div>
          )}
          {current?.kind === 'affected' && <p data-testid="affected">{current.rows} row(s) affected.</p>}
          {info && (
            <>
              <div class="result-bar">
                <span data-testid="row-count">
                  {info.loaded.toLocaleString('en-US')} row{info.loaded === 1 ? '' : 's'}
                  {!info.complete && !info.capped && !info.error ? ' (loading…)' : ''}
                </span>
                {info.capped && !info.complete && (
                  <button data-testid="fetch-all" onClick={fetchAll}>
                    Capped at {info.loaded.toLocaleString('en-US')}: fetch all
                  </button>
                )}
                {info.error && <span class="error">{info.error.message}</span>}
                <span class="spacer" />
                <button onClick={() => copy('tsv')}>Copy TSV</button>
                <button onClick={() => copy('csv')}>Copy CSV</button>
                <button onClick={() => copy('json')}>Copy JSON</button>
                <select
                  data-testid="export"
                  onChange={(e) => {
                    const v = e.currentTarget.value;
                    e.currentTarget.value = '';
                    if (v) void exportAs(v);
                  }}
                >
                  <option value="">Export…</option>
                  <option value="csv">CSV</option>
                  <option value="json">JSON</option>
                  <option value="jsonl">JSON Lines</option>
                  <option value="markdown">Markdown</option>
                </select>
              </div>
              <Grid key={info.id} info={info} onSelection={setSelection} />
            </>
          )}
          {note && <p class="note">{note}</p>}
        </div>
      </section>
      {ask?.kind === 'confirm' && (
        <ConfirmDialog
          message={ask.message}
          onAnswer={(yes) => {
            setAsk(null);
            if (yes) void run(ask.sql, true);
          }}
        />
      )}
      {ask?.kind === 'password' && (
        <PasswordDialog
          message={ask.message}
          onAnswer={async (password) => {
            setAsk(null);
            if (password === null) return;
            try {
              await post('/api/connect', { connection: conn.id, password });
              void run(ask.sql);
            } catch (e) {
              setError(errorText(e));
            }
          }}
        />
      )}
    </div>
  );
}
