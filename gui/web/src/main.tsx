import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import './style.css';
import { errorText, get, post, type AppState, type Conn, type Listing, type Prefs, type Theme } from './api';
import { ConnectionList, Switcher } from './connections';
import { ErrorLine, Modal } from './dialogs';
import { Settings } from './settings';
import { FirstRun } from './vault';
import { Workspace } from './workspace';

const SKIPPED_VAULT = 'keeperdb.skippedVault';

function applyTheme(theme: Theme) {
  const dark = theme === 'dark' || (theme === 'system' && window.matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
}

function AddConnection(props: { onSaved: () => void; onClose: () => void }) {
  const [form, setForm] = useState({ name: '', url: '', password: '', environment: '', read_only: false });
  const [error, setError] = useState<string | null>(null);
  const field = (k: 'name' | 'url' | 'password' | 'environment') => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <Modal title="Add a connection" onClose={props.onClose} testid="add-connection">
      <form
        class="stack"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            await post('/api/connections/add', { ...form, password: form.password || null, environment: form.environment || null, name: form.name || null });
            props.onSaved();
            props.onClose();
          } catch (err) {
            setError(errorText(err));
          }
        }}
      >
        <label>
          URL or SQLite file path
          <input required value={form.url} placeholder="postgres://app@db.internal:5432/orders" onInput={field('url')} />
        </label>
        <label>
          Name
          <input value={form.name} onInput={field('name')} />
        </label>
        <label>
          Password (kept in the OS credential store)
          <input type="password" autocomplete="off" value={form.password} onInput={field('password')} />
        </label>
        <label>
          Environment
          <input value={form.environment} placeholder="production, staging, …" onInput={field('environment')} />
        </label>
        <label class="check">
          <input type="checkbox" checked={form.read_only} onChange={(e) => setForm({ ...form, read_only: e.currentTarget.checked })} />
          Read-only
        </label>
        <ErrorLine error={error} />
        <footer>
          <button type="submit" class="primary">
            Save
          </button>
        </footer>
      </form>
    </Modal>
  );
}

function App() {
  const [state, setState] = useState<AppState | null>(null);
  const [listing, setListing] = useState<Listing | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);
  const [selected, setSelected] = useState<Conn | null>(null);
  // The vault screen greets a user with no vault until they connect one or skip it.
  const [firstRunDone, setFirstRunDone] = useState(() => localStorage.getItem(SKIPPED_VAULT) === '1');
  const [dialog, setDialog] = useState<'settings' | 'switcher' | 'add' | null>(null);

  const loadState = useCallback(() => {
    get<AppState>('/api/state')
      .then((s) => {
        setState(s);
        applyTheme(s.prefs.theme);
      })
      .catch((e) => setFatal(errorText(e)));
  }, []);
  const loadList = useCallback(() => {
    get<Listing>('/api/connections')
      .then((l) => {
        setListing(l);
        setListError(null);
        setSelected((s) => (s ? (l.connections.find((c) => c.id === s.id) ?? null) : s));
      })
      .catch((e) => setListError(errorText(e)));
  }, []);
  useEffect(() => {
    loadState();
    loadList();
  }, []);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        setDialog('switcher');
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  if (fatal) return <div class="fatal">{fatal}</div>;
  if (!state) return <div class="hint center">Loading…</div>;
  const prefs = state.prefs;
  const setPrefs = (p: Prefs) => {
    setState({ ...state, prefs: p, mode: p.mode });
    applyTheme(p.theme);
  };
  const refreshAll = () => {
    loadState();
    loadList();
  };

  if (state.vaults === 0 && !firstRunDone) {
    return (
      <FirstRun
        onDone={() => {
          localStorage.setItem(SKIPPED_VAULT, '1');
          setFirstRunDone(true);
          refreshAll();
        }}
      />
    );
  }

  return (
    <div class="app" data-testid="app">
      <aside class="sidebar">
        <header class="brand">
          <span class="logo">keeperdb</span>
          <span class="spacer" />
          <button class="icon" title="Add a connection" aria-label="Add a connection" data-testid="add-connection-button" onClick={() => setDialog('add')}>
            +
          </button>
          <button class="icon" title="Refresh" aria-label="Refresh" onClick={loadList}>
            ⟳
          </button>
          <button class="icon" title="Settings" aria-label="Settings" data-testid="settings-button" onClick={() => setDialog('settings')}>
            ⚙
          </button>
        </header>
        <ConnectionList listing={listing} selected={selected?.id ?? null} onSelect={setSelected} error={listError} />
      </aside>
      <main>
        {selected ? (
          <Workspace key={selected.id} conn={selected} prefs={prefs} />
        ) : (
          <div class="hint center">Choose a connection (Ctrl+K).</div>
        )}
      </main>
      {dialog === 'settings' && <Settings state={state} onPrefs={setPrefs} onChanged={refreshAll} onClose={() => setDialog(null)} />}
      {dialog === 'switcher' && <Switcher listing={listing} onSelect={setSelected} onClose={() => setDialog(null)} />}
      {dialog === 'add' && <AddConnection onSaved={refreshAll} onClose={() => setDialog(null)} />}
    </div>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
