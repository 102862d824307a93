import { useEffect, useState } from 'preact/hooks';
import { errorText, get, type Conn, type TableRef } from './api';

interface ColumnRef {
  name: string;
  type: string | null;
  nullable: boolean | null;
}

/** The schema tree: tables, then a table's columns, each level asked for when opened. */
export function SchemaTree(props: { conn: Conn; onOpen: (t: TableRef) => void }) {
  const [tables, setTables] = useState<TableRef[] | null>(null);
  const [open, setOpen] = useState<Record<string, ColumnRef[] | 'loading'>>({});
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const id = encodeURIComponent(props.conn.id);

  useEffect(() => {
    setTables(null);
    setOpen({});
    setError(null);
    get<{ tables: TableRef[] }>(`/api/schema/tables?connection=${id}`)
      .then((t) => setTables(t.tables))
      .catch((e) => setError(errorText(e)));
  }, [props.conn.id]);

  const key = (t: TableRef) => `${t.schema ?? ''}.${t.name}`;
  const toggle = async (t: TableRef) => {
    const k = key(t);
    if (open[k]) {
      const { [k]: _, ...rest } = open;
      return setOpen(rest);
    }
    setOpen({ ...open, [k]: 'loading' });
    try {
      const c = await get<{ columns: ColumnRef[] }>(
        `/api/schema/columns?connection=${id}&schema=${encodeURIComponent(t.schema ?? '')}&table=${encodeURIComponent(t.name)}`,
      );
      setOpen((o) => ({ ...o, [k]: c.columns }));
    } catch (e) {
      setError(errorText(e));
    }
  };

  const bySchema = new Map<string, TableRef[]>();
  for (const t of tables ?? []) {
    if (filter && !t.name.toLowerCase().includes(filter.toLowerCase())) continue;
    const s = t.schema ?? '';
    bySchema.set(s, [...(bySchema.get(s) ?? []), t]);
  }

  return (
    <aside class="schema" data-testid="schema-tree" aria-label="Schema">
      <input class="search" type="search" placeholder="Filter tables" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      {error && <p class="error">{error}</p>}
      {!tables && !error && <p class="hint">Loading…</p>}
      {[...bySchema.entries()].map(([schema, list]) => (
        <details open>
          <summary>{schema || 'tables'}</summary>
          <ul>
            {list.map((t) => {
              const cols = open[key(t)];
              return (
                <li>
                  <div class="table" data-testid="schema-table" data-name={t.name} onDblClick={() => props.onOpen(t)}>
                    <button class="icon" aria-label={cols ? 'Close' : 'Open'} onClick={() => toggle(t)}>
                      {cols ? '▾' : '▸'}
                    </button>
                    <span class="name" onClick={() => toggle(t)}>
                      {t.name}
                    </span>
                    {t.kind && t.kind.toUpperCase().includes('VIEW') && <span class="kind">view</span>}
                    <button class="link" title="Show its first page" data-testid="schema-open" onClick={() => props.onOpen(t)}>
                      open
                    </button>
                  </div>
                  {cols === 'loading' && <p class="hint">Loading…</p>}
                  {Array.isArray(cols) && (
                    <ul class="columns">
                      {cols.map((c) => (
                        <li data-testid="schema-column">
                          <span class="name">{c.name}</span> <span class="col-type">{c.type ?? ''}</span>
                          {c.nullable === false && <span class="kind">not null</span>}
                        </li>
                      ))}
                    </ul>
                  )}
                </li>
              );
            })}
          </ul>
        </details>
      ))}
    </aside>
  );
}
