import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean; testid?: string }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') props.onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.onClose]);
  return (
    <div class="overlay" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class={props.wide ? 'modal wide' : 'modal'} role="dialog" aria-label={props.title} data-testid={props.testid}>
        <header>
          <h2>{props.title}</h2>
          <button class="icon" aria-label="Close" onClick={props.onClose}>
            ×
          </button>
        </header>
        {props.children}
      </div>
    </div>
  );
}

export function ConfirmDialog(props: { message: string; onAnswer: (yes: boolean) => void }) {
  return (
    <Modal title="Confirm" onClose={() => props.onAnswer(false)} testid="confirm-dialog">
      <p class="message">{props.message}</p>
      <footer>
        <button onClick={() => props.onAnswer(false)}>Cancel</button>
        <button class="danger" data-testid="confirm-run" onClick={() => props.onAnswer(true)}>
          Run
        </button>
      </footer>
    </Modal>
  );
}

export function PasswordDialog(props: { message: string; onAnswer: (password: string | null) => void }) {
  const [password, setPassword] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <Modal title="Password" onClose={() => props.onAnswer(null)} testid="password-dialog">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          props.onAnswer(password);
        }}
      >
        <p class="message">{props.message}</p>
        <label>
          Password
          <input ref={input} type="password" autocomplete="off" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <footer>
          <button type="button" onClick={() => props.onAnswer(null)}>
            Cancel
          </button>
          <button type="submit" class="primary">
            Connect
          </button>
        </footer>
      </form>
    </Modal>
  );
}

export function ErrorLine(props: { error: string | null }) {
  if (!props.error) return null;
  return (
    <p class="error" role="alert" data-testid="error">
      {props.error}
    </p>
  );
}
