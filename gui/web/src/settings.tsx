import { useEffect, useState } from 'preact/hooks';
import { errorText, get, post, postLines, type AppState, type Pending, type Prefs, type Storage, type Vault } from './api';
import { ErrorLine, Modal } from './dialogs';
import { ConnectVault } from './vault';

type Tab = 'vaults' | 'storage' | 'prefs';

export function Settings(props: { state: AppState; onPrefs: (p: Prefs) => void; onChanged: () => void; onClose: () => void; initial?: Tab }) {
  const gateway = props.state.mode === 'gateway';
  const [tab, setTab] = useState<Tab>(props.initial ?? 'vaults');
  const tabs: [Tab, string][] = [
    ['vaults', 'Connections · External Vaults'],
    ...(gateway ? [] : ([['storage', 'Storage']] as [Tab, string][])),
    ['prefs', 'Preferences'],
  ];
  return (
    <Modal title="Settings" onClose={props.onClose} wide testid="settings">
      <div class="tabs" role="tablist">
        {tabs.map(([id, label]) => (
          <button role="tab" aria-selected={tab === id} class={tab === id ? 'tab active' : 'tab'} data-testid={`tab-${id}`} onClick={() => setTab(id)}>
            {label}
          </button>
        ))}
      </div>
      {tab === 'vaults' && <Vaults onChanged={props.onChanged} />}
      {tab === 'storage' && !gateway && <StorageTab />}
      {tab === 'prefs' && <Preferences prefs={props.state.prefs} onPrefs={props.onPrefs} />}
    </Modal>
  );
}

function when(t: string | null): string {
  return t ? new Date(t).toLocaleString() : 'never';
}

function Vaults(props: { onChanged: () => void }) {
  const [vaults, setVaults] = useState<Vault[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const load = () =>
    get<{ vaults: Vault[] }>('/api/vaults')
      .then((v) => setVaults(v.vaults))
      .catch((e) => setError(errorText(e)));
  useEffect(() => void load(), []);
  const act = async (what: () => Promise<unknown>) => {
    setError(null);
    try {
      await what();
      await load();
      props.onChanged();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <div class="panel" data-testid="vaults-panel">
      <ErrorLine error={error} />
      <table class="list">
        <thead>
          <tr>
            <th>Vault</th>
            <th>Where</th>
            <th>Status</th>
            <th>Connections</th>
            <th>Last refresh</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(vaults ?? []).map((v) => (
            <tr data-testid="vault-row">
              <td>{v.name}</td>
              <td>{v.region ? `${v.region}, ${v.host}` : v.host}</td>
              <td class={v.state === 'ok' ? 'ok' : 'bad'} title={v.last_failure ?? ''}>
                {v.state}
              </td>
              <td>{v.connections}</td>
              <td>{when(v.refreshed_at)}</td>
              <td class="actions">
                <button onClick={() => act(() => post('/api/vaults/refresh', { name: v.name }))}>Refresh</button>
                <button
                  class="danger"
                  onClick={() => {
                    if (confirm(`Disconnect vault “${v.name}”? Its connections will no longer be listed.`)) void act(() => post('/api/vaults/disconnect', { name: v.name }));
                  }}
                >
                  Disconnect
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {vaults && vaults.length === 0 && <p class="hint">No vault attached.</p>}
      {adding ? (
        <ConnectVault
          onAttached={() => {
            setAdding(false);
            void load();
            props.onChanged();
          }}
        />
      ) : (
        <button class="primary" onClick={() => setAdding(true)}>
          Connect a vault
        </button>
      )}
    </div>
  );
}

function PendingText(props: { p: Pending | null }) {
  const p = props.p;
  if (!p) return null;
  if (!p.writes && !p.removals && !p.only_in_backend && !p.changed_elsewhere && !p.unreadable) return <span>nothing pending ({p.in_sync} in sync)</span>;
  return (
    <span data-testid="pending">
      {p.writes} to write, {p.removals} to remove, {p.only_in_backend} only in the vault, {p.changed_elsewhere} changed elsewhere
      {p.unreadable ? `, ${p.unreadable} unreadable` : ''}
    </span>
  );
}

function StorageTab() {
  const [status, setStatus] = useState<Storage | null>(null);
  const [vaults, setVaults] = useState<Vault[]>([]);
  const [chosen, setChosen] = useState('');
  const [progress, setProgress] = useState<{ done: number; total: number; message: string } | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const load = async () => {
    try {
      const [s, v] = await Promise.all([get<Storage>('/api/storage'), get<{ vaults: Vault[] }>('/api/vaults')]);
      setStatus(s);
      setVaults(v.vaults);
      setChosen((c) => c || v.vaults[0]?.name || '');
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => void load(), []);
  const run = async (what: () => Promise<void>) => {
    setError(null);
    setResult(null);
    setBusy(true);
    try {
      await what();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
      void load();
    }
  };
  const sync = () =>
    run(async () => {
      setProgress({ done: 0, total: 0, message: 'Configuring...' });
      await postLines('/api/storage/sync', { dry_run: false }, (line) => {
        if (line.type === 'progress') setProgress({ done: line.done, total: line.total, message: line.message });
        else if (line.type === 'done') setResult(`Synced: ${line.applied} change(s) written in ${line.rounds} round(s).`);
        else if (line.type === 'error') setError(line.error.message);
      });
    });
  if (!status) return <div class="panel">{error ? <ErrorLine error={error} /> : 'Loading…'}</div>;
  return (
    <div class="panel" data-testid="storage-panel">
      <ErrorLine error={error} />
      {!status.enabled ? (
        <div class="row">
          <p>Keep your saved connections and preferences in a Keeper vault, and restore them on another machine.</p>
          <select value={chosen} data-testid="storage-vault" onChange={(e) => setChosen(e.currentTarget.value)}>
            {vaults.map((v) => (
              <option value={v.name}>{v.name}</option>
            ))}
          </select>
          <button class="primary" disabled={!chosen || busy} data-testid="storage-enable" onClick={() => run(async () => void (await post('/api/storage/enable', { vault: chosen })))}>
            Enable
          </button>
          {vaults.length === 0 && <p class="hint">Connect a vault first (Connections · External Vaults).</p>}
        </div>
      ) : (
        <>
          <dl class="facts">
            <dt>Vault</dt>
            <dd data-testid="storage-vault-name">{status.vault}</dd>
            <dt>Last sync</dt>
            <dd data-testid="last-sync">{when(status.last_sync)}</dd>
            <dt>Pending</dt>
            <dd>
              <PendingText p={status.pending} />
            </dd>
          </dl>
          <div class="row">
            <button class="primary" disabled={busy} data-testid="storage-sync" onClick={sync}>
              Sync now
            </button>
            <button disabled={busy} data-testid="storage-pull" onClick={() => run(async () => {
              const r = await post<{ restored: string[]; updated: string[]; passwords: number }>('/api/storage/pull', {});
              setResult(`Pulled: ${r.restored.length} restored, ${r.updated.length} updated, ${r.passwords} password(s).`);
            })}>
              Pull
            </button>
            <button class="danger" disabled={busy} onClick={() => run(async () => void (await post('/api/storage/disable', {})))}>
              Disable
            </button>
          </div>
        </>
      )}
      {progress && (
        <div class="progress" data-testid="sync-progress-box">
          <progress max={Math.max(progress.total, 1)} value={progress.done} />
          <span data-testid="sync-progress">
            {progress.message} {progress.done} of {progress.total}
          </span>
        </div>
      )}
      {result && (
        <p class="ok" data-testid="sync-result">
          {result}
        </p>
      )}
    </div>
  );
}

function Preferences(props: { prefs: Prefs; onPrefs: (p: Prefs) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [warning, setWarning] = useState<string | null>(null);
  const p = props.prefs;
  const set = async (key: string, value: string) => {
    setError(null);
    try {
      const answer = await post<{ prefs: Prefs; sync_warning: string | null }>('/api/prefs', { key, value });
      setWarning(answer.sync_warning);
      props.onPrefs(answer.prefs);
    } catch (e) {
      setError(errorText(e));
    }
  };
  const number = (key: string, value: number, min: number) => (
    <input type="number" min={min} value={value} onChange={(e) => void set(key, e.currentTarget.value)} />
  );
  return (
    <div class="panel prefs" data-testid="prefs-panel">
      <ErrorLine error={error} />
      {warning && <p class="warning">{warning}</p>}
      <label>
        Theme
        <select data-testid="theme-select" value={p.theme} onChange={(e) => void set('theme', e.currentTarget.value)}>
          <option value="system">System</option>
          <option value="light">Light</option>
          <option value="dark">Dark</option>
        </select>
      </label>
      <label>Rows per page {number('page_size', p.page_size, 1)}</label>
      <label>Statement timeout, seconds (0: none) {number('query_timeout_secs', p.query_timeout_secs, 0)}</label>
      <label class="check">
        <input type="checkbox" checked={p.confirm_production_writes} onChange={(e) => void set('confirm_production_writes', String(e.currentTarget.checked))} />
        Ask before statements that may write to connections tagged production
      </label>
      <h3>Editor</h3>
      <label>Tab width {number('editor.tab_width', p.editor.tab_width, 1)}</label>
      <label class="check">
        <input type="checkbox" checked={p.editor.use_spaces} onChange={(e) => void set('editor.use_spaces', String(e.currentTarget.checked))} />
        Indent with spaces
      </label>
      <label>
        Key bindings
        <select value={p.editor.keymap} onChange={(e) => void set('editor.keymap', e.currentTarget.value)}>
          <option value="emacs">Standard</option>
          <option value="vi">Vi</option>
        </select>
      </label>
      {p.mode !== 'gateway' && (
        <label class="check">
          <input type="checkbox" checked={p.storage.auto} onChange={(e) => void set('storage.auto', String(e.currentTarget.checked))} />
          Sync to the vault after every change
        </label>
      )}
    </div>
  );
}
