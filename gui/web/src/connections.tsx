import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Conn, Listing } from './api';
import { Modal } from './dialogs';

/** A colour the user or a vault chose, if it is one (anything else is not applied). */
export function safeColor(c: string | null): string | null {
  if (!c) return null;
  return /^#[0-9a-f]{3,8}$/i.test(c) || /^[a-z]{3,20}$/i.test(c) ? c : null;
}

/** The group a connection is listed under: Local, each vault by name, each file source. */
function groupOf(c: Conn): string {
  if (c.vault) return `Vault · ${c.vault}`;
  return c.badge;
}

function matches(c: Conn, q: string): boolean {
  if (!q) return true;
  const hay = `${c.name} ${c.target} ${c.environment ?? ''} ${c.vault ?? ''} ${c.badge}`.toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .every((w) => hay.includes(w));
}

export function Badge(props: { c: Conn }) {
  const c = props.c;
  const vault = c.badge === 'Vault';
  return (
    <span class="badges">
      <span class={vault ? 'badge vault' : c.local ? 'badge local' : 'badge plugin'} data-testid="badge">
        {c.badge}
      </span>
      {c.vault && (
        <span class="vault-name" data-testid="vault-name">
          {c.vault}
        </span>
      )}
    </span>
  );
}

export function EnvTag(props: { c: Conn }) {
  const env = props.c.environment;
  if (!env) return null;
  const production = env.trim().toLowerCase() === 'production';
  const tag = (
    <span class={production ? 'env production' : 'env'} data-testid="env-tag">
      {env}
    </span>
  );
  return tag;
}

export function ConnectionList(props: { listing: Listing | null; selected: string | null; onSelect: (c: Conn) => void; error: string | null }) {
  const [query, setQuery] = useState('');
  const groups = useMemo(() => {
    const out = new Map<string, Conn[]>();
    for (const c of props.listing?.connections ?? []) {
      if (!matches(c, query)) continue;
      const g = groupOf(c);
      out.set(g, [...(out.get(g) ?? []), c]);
    }
    return [...out.entries()];
  }, [props.listing, query]);
  return (
    <nav class="connections" data-testid="connection-list" aria-label="Connections">
      <input class="search" type="search" placeholder="Search connections  (Ctrl+K)" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
      {props.error && <p class="error">{props.error}</p>}
      {props.listing?.failures.map((f) => (
        <p class="warning">
          {f.source}: {f.message}
        </p>
      ))}
      {groups.map(([group, conns]) => (
        <section class="group">
          <h3>
            {group} <span class="count">{conns.length}</span>
          </h3>
          <ul>
            {conns.map((c) => (
              <li
                class={c.id === props.selected ? 'connection selected' : 'connection'}
                data-testid="connection-item"
                data-name={c.name}
                title={`${c.key} · ${c.engine} · ${c.target}`}
                onClick={() => props.onSelect(c)}
              >
                <span
                  class="swatch"
                  ref={(el) => {
                    if (el) el.style.background = safeColor(c.color) ?? 'transparent';
                  }}
                />
                <span class="name">{c.name}</span>
                <Badge c={c} />
                <EnvTag c={c} />
                {c.stale && (
                  <span class="stale" data-testid="stale" title="The vault could not be asked: this is the listing saved at its last refresh">
                    stale
                  </span>
                )}
                <span class="target">{c.target}</span>
              </li>
            ))}
          </ul>
        </section>
      ))}
      {props.listing && props.listing.connections.length === 0 && <p class="hint">No connections yet. Add one, or connect a vault in Settings.</p>}
    </nav>
  );
}

/** Ctrl+K: find a connection by typing, arrows to move, Enter to open. */
export function Switcher(props: { listing: Listing | null; onSelect: (c: Conn) => void; onClose: () => void }) {
  const [query, setQuery] = useState('');
  const [at, setAt] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const find = (q: string) => (props.listing?.connections ?? []).filter((c) => matches(c, q)).slice(0, 50);
  const found = find(query);
  const pick = (c: Conn | undefined) => {
    if (!c) return;
    props.onSelect(c);
    props.onClose();
  };
  return (
    <Modal title="Switch connection" onClose={props.onClose} testid="switcher">
      <input
        ref={input}
        class="search"
        data-testid="switcher-input"
        placeholder="Type a name, a host, an environment…"
        value={query}
        onInput={(e) => {
          setQuery(e.currentTarget.value);
          setAt(0);
        }}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown') setAt((i) => Math.min(i + 1, found.length - 1));
          else if (e.key === 'ArrowUp') setAt((i) => Math.max(i - 1, 0));
          // The input's own value: a key typed right after the text may come before a render.
          else if (e.key === 'Enter') pick(find(e.currentTarget.value)[at] ?? find(e.currentTarget.value)[0]);
          else return;
          e.preventDefault();
        }}
      />
      <ul class="switcher-list">
        {found.map((c, i) => (
          <li class={i === at ? 'connection selected' : 'connection'} data-testid="switcher-item" onClick={() => pick(c)}>
            <span class="name">{c.name}</span>
            <Badge c={c} />
            <EnvTag c={c} />
            <span class="target">{c.target}</span>
          </li>
        ))}
      </ul>
    </Modal>
  );
}
