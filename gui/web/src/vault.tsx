import { useState } from 'preact/hooks';
import { errorText, post, type Refresh, type Vault } from './api';
import { ErrorLine } from './dialogs';

const REGIONS = ['', 'US', 'EU', 'AU', 'CA', 'JP', 'GOV'];

/** Connect to your Keeper Vault: a name and the one-time token; the name is checked first,
 *  so a bad name never spends the token. */
export function ConnectVault(props: { onAttached: (vault: Vault, refresh: Refresh) => void }) {
  const [name, setName] = useState('');
  const [token, setToken] = useState('');
  const [region, setRegion] = useState('');
  const [proxy, setProxy] = useState('');
  const [serverKey, setServerKey] = useState('');
  const [serverKeyId, setServerKeyId] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function connect(e: Event) {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await post('/api/vaults/check', { name });
      const answer = await post<{ vault: Vault; refresh: Refresh }>('/api/vaults/attach', {
        name,
        token,
        region: region || null,
        proxy: proxy || null,
        server_public_key: serverKey || null,
        server_public_key_id: serverKeyId ? Number(serverKeyId) : null,
      });
      setToken('');
      props.onAttached(answer.vault, answer.refresh);
    } catch (err) {
      // What the user typed stays, so only the wrong part needs fixing.
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="vault-form" onSubmit={connect} data-testid="vault-form">
      <label>
        Name
        <input data-testid="vault-name-input" value={name} required placeholder="work" onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        One-time access token
        <input
          data-testid="vault-token-input"
          type="password"
          autocomplete="off"
          value={token}
          required
          placeholder="US:XXXXXXXX"
          onInput={(e) => setToken(e.currentTarget.value)}
        />
      </label>
      <details>
        <summary>Advanced</summary>
        <label>
          Region
          <select value={region} onChange={(e) => setRegion(e.currentTarget.value)}>
            {REGIONS.map((r) => (
              <option value={r}>{r || 'from the token'}</option>
            ))}
          </select>
        </label>
        <label>
          HTTPS proxy
          <input data-testid="vault-proxy-input" value={proxy} placeholder="http://proxy:3128" onInput={(e) => setProxy(e.currentTarget.value)} />
        </label>
        <label>
          Server public key (own deployments)
          <input data-testid="vault-key-input" value={serverKey} onInput={(e) => setServerKey(e.currentTarget.value)} />
        </label>
        <label>
          Server public key id
          <input data-testid="vault-key-id-input" value={serverKeyId} inputMode="numeric" onInput={(e) => setServerKeyId(e.currentTarget.value)} />
        </label>
      </details>
      <ErrorLine error={error} />
      <button type="submit" class="primary" disabled={busy} data-testid="vault-connect">
        {busy ? 'Connecting…' : 'Connect'}
      </button>
    </form>
  );
}

export function FirstRun(props: { onDone: () => void }) {
  return (
    <div class="first-run" data-testid="first-run">
      <div class="card">
        <h1>Connect to your Keeper Vault</h1>
        <p class="hint">
          keeperdb lists the database records your Keeper Secrets Manager application shares, and connects with the credentials
          the vault hands out at connect time. Paste the application's one-time access token.
        </p>
        <ConnectVault onAttached={() => props.onDone()} />
        <button class="link" data-testid="skip-first-run" onClick={props.onDone}>
          Skip: use local connections only
        </button>
      </div>
    </div>
  );
}
