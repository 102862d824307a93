// Where statements start and end in the editor's text, for "run the statement at the cursor".
// Quotes, identifiers in quotes and comments are skipped, so a `;` inside them ends nothing.
// (The server splits what it is sent again with the engine's own rules.)

export interface Span {
  from: number;
  to: number;
}

export function statementSpans(text: string): Span[] {
  const spans: Span[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === "'" || c === '"' || c === '`') {
      const close = text.indexOf(c, i + 1);
      i = close < 0 ? text.length : close + 1;
    } else if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end + 1;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (c === ';') {
      spans.push({ from: start, to: i + 1 });
      start = i + 1;
      i++;
    } else {
      i++;
    }
  }
  if (text.slice(start).trim()) spans.push({ from: start, to: text.length });
  return spans;
}

/** The statement the cursor is in (or just after), as text. */
export function statementAt(text: string, cursor: number): string {
  const spans = statementSpans(text).filter((s) => text.slice(s.from, s.to).replace(/;$/, '').trim());
  const hit = spans.find((s) => cursor >= s.from && cursor <= s.to) ?? spans.filter((s) => s.to <= cursor).pop() ?? spans[0];
  return hit ? text.slice(hit.from, hit.to).trim() : '';
}
