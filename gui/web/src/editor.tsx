import { useEffect, useRef } from 'preact/hooks';
import { basicSetup } from 'codemirror';
import { Compartment, EditorState, Prec } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { indentUnit } from '@codemirror/language';
import { MariaSQL, MySQL, PostgreSQL, SQLite, StandardSQL, sql, type SQLNamespace } from '@codemirror/lang-sql';
import { vim } from '@replit/codemirror-vim';
import type { Prefs } from './api';

export interface EditorHandle {
  text(): string;
  selection(): string;
  cursor(): number;
  setText(text: string): void;
}

/** The nonce the server put in this page for the editor's style elements. */
function styleNonce(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csp-nonce"]')?.content ?? '';
}

function dialect(engine: string) {
  if (engine === 'postgres') return PostgreSQL;
  if (engine === 'mariadb') return MariaSQL;
  if (engine === 'mysql') return MySQL;
  if (engine === 'sqlite') return SQLite;
  return StandardSQL;
}

/** The SQL editor: CodeMirror 6, the engine's dialect, completion from the catalog, and the
 *  editor preferences applied as they change. */
export function SqlEditor(props: {
  engine: string;
  schema: SQLNamespace;
  prefs: Prefs;
  initial: string;
  onRun: (what: 'statement' | 'all') => void;
  handle: (h: EditorHandle) => void;
  onChange: (text: string) => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const language = useRef(new Compartment());
  const indent = useRef(new Compartment());
  const bindings = useRef(new Compartment());
  const run = useRef(props.onRun);
  run.current = props.onRun;
  const changed = useRef(props.onChange);
  changed.current = props.onChange;

  const indentation = (p: Prefs) => [EditorState.tabSize.of(p.editor.tab_width), indentUnit.of(p.editor.use_spaces ? ' '.repeat(p.editor.tab_width) : '\t')];
  const keys = (p: Prefs) => (p.editor.keymap === 'vi' ? vim() : []);

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: props.initial,
        extensions: [
          bindings.current.of(keys(props.prefs)),
          Prec.highest(
            keymap.of([
              { key: 'Mod-Enter', run: () => (run.current('statement'), true) },
              { key: 'Mod-Shift-Enter', run: () => (run.current('all'), true) },
            ]),
          ),
          basicSetup,
          language.current.of(sql({ dialect: dialect(props.engine), schema: props.schema, upperCaseKeywords: props.prefs.editor.uppercase_keywords })),
          indent.current.of(indentation(props.prefs)),
          EditorView.updateListener.of((u) => u.docChanged && changed.current(u.state.doc.toString())),
          EditorView.cspNonce.of(styleNonce()),
          EditorView.contentAttributes.of({ 'aria-label': 'SQL editor', 'data-testid': 'sql-editor' }),
        ],
      }),
    });
    view.current = v;
    props.handle({
      text: () => v.state.doc.toString(),
      selection: () => {
        const r = v.state.selection.main;
        return v.state.sliceDoc(r.from, r.to);
      },
      cursor: () => v.state.selection.main.head,
      setText: (text) => v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: text } }),
    });
    return () => v.destroy();
  }, []);

  useEffect(() => {
    view.current?.dispatch({
      effects: language.current.reconfigure(sql({ dialect: dialect(props.engine), schema: props.schema, upperCaseKeywords: props.prefs.editor.uppercase_keywords })),
    });
  }, [props.engine, props.schema, props.prefs.editor.uppercase_keywords]);

  useEffect(() => {
    view.current?.dispatch({
      effects: [indent.current.reconfigure(indentation(props.prefs)), bindings.current.reconfigure(keys(props.prefs))],
    });
  }, [props.prefs.editor.tab_width, props.prefs.editor.use_spaces, props.prefs.editor.keymap]);

  return <div class="editor" ref={host} />;
}
