//! psql-like aligned text for people, with an optional `(N rows)` footer.

use arrow_array::RecordBatch;

use crate::base::Base;
use crate::{FormatError, FormatOptions, ResultWriter};

/// psql-like aligned text. Column widths come from the header and the first page and only
/// grow afterwards, so output starts at once and memory stays one page.
pub(crate) struct Table<'w> {
    base: Base<'w>,
    widths: Vec<usize>,
    footer: bool,
    null: String,
    max_width: Option<usize>,
    /// Some value was cut to `max_width`.
    cut: bool,
}

impl<'w> Table<'w> {
    pub(crate) fn new(base: Base<'w>, options: &FormatOptions) -> Self {
        Table {
            base,
            widths: Vec::new(),
            footer: options.footer,
            null: null_text(options),
            max_width: options.max_width.map(|w| w.max(2)),
            cut: false,
        }
    }
}

/// What NULL shows as in the formats for people.
pub(crate) fn null_text(options: &FormatOptions) -> String {
    let mut out = String::new();
    push_table_cell(&mut out, options.null.as_deref().unwrap_or("NULL"));
    out
}

/// Cut `s` to at most `max` columns, the last being `…`; whether it was cut.
fn cut_to(s: &mut String, max: usize) -> bool {
    if width(s) <= max {
        return false;
    }
    let mut used = 0;
    let mut end = 0;
    for (i, c) in s.char_indices() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        used += w;
        end = i + c.len_utf8();
    }
    s.truncate(end);
    s.push('…');
    true
}

/// Table cells are one line: line breaks and tabs are shown escaped, other control
/// characters as U+FFFD.
pub(crate) fn push_table_cell(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

fn pad(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

impl Table<'_> {
    fn render_page(&mut self, batch: &RecordBatch) -> Vec<Vec<Option<String>>> {
        let b = &mut self.base;
        let renderers = b.renderers(batch);
        let mut cell = String::new();
        let mut rows = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let mut cells = Vec::with_capacity(renderers.len());
            for r in &renderers {
                if r.is_null(row) {
                    cells.push(None);
                    continue;
                }
                cell.clear();
                r.render_text(row, &mut cell);
                let mut shown = String::with_capacity(cell.len());
                push_table_cell(&mut shown, &cell);
                if let Some(max) = self.max_width {
                    self.cut |= cut_to(&mut shown, max);
                }
                cells.push(Some(shown));
            }
            rows.push(cells);
        }
        rows
    }

    fn header(&mut self) {
        let b = &mut self.base;
        if b.started {
            return;
        }
        b.started = true;
        let names = b.names(push_table_cell);
        for (i, name) in names.iter().enumerate() {
            let w = self.widths[i];
            b.buf.push_str(if i == 0 { " " } else { " | " });
            // Centred, as psql does.
            let left = (w - width(name)) / 2;
            pad(&mut b.buf, left);
            b.buf.push_str(name);
            if i + 1 < names.len() {
                pad(&mut b.buf, w - width(name) - left);
            }
        }
        b.buf.push('\n');
        for (i, w) in self.widths.iter().enumerate() {
            b.buf.push_str(if i == 0 { "-" } else { "-+-" });
            for _ in 0..*w {
                b.buf.push('-');
            }
        }
        b.buf.push_str("-\n");
    }
}

impl ResultWriter for Table<'_> {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        self.base.check(batch)?;
        let rows = self.render_page(batch);
        if self.widths.is_empty() {
            self.widths = self
                .base
                .names(push_table_cell)
                .iter()
                .map(|s| width(s))
                .collect();
        }
        for cells in &rows {
            for (i, c) in cells.iter().enumerate() {
                let w = c.as_deref().map_or_else(|| width(&self.null), width);
                self.widths[i] = self.widths[i].max(w);
            }
        }
        self.header();
        let b = &mut self.base;
        let last = self.widths.len().saturating_sub(1);
        for cells in &rows {
            for (i, c) in cells.iter().enumerate() {
                b.buf.push_str(if i == 0 { " " } else { " | " });
                let text = c.as_deref().unwrap_or(&self.null);
                let fill = self.widths[i].saturating_sub(width(text));
                if b.specs[i].numeric {
                    pad(&mut b.buf, fill);
                    b.buf.push_str(text);
                } else {
                    b.buf.push_str(text);
                    if i != last {
                        pad(&mut b.buf, fill);
                    }
                }
            }
            b.buf.push('\n');
        }
        b.rows += rows.len() as u64;
        b.flush_page()
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        if self.widths.is_empty() {
            self.widths = self
                .base
                .schema
                .fields()
                .iter()
                .map(|f| width(f.name()))
                .collect();
        }
        self.header();
        if self.footer {
            let n = self.base.rows;
            let line = format!("({n} row{})\n", if n == 1 { "" } else { "s" });
            self.base.buf.push_str(&line);
        }
        if let (true, Some(max)) = (self.cut, self.max_width) {
            let line = format!(
                "(values longer than {max} characters are cut; expanded display shows them whole)\n"
            );
            self.base.buf.push_str(&line);
        }
        self.base.flush_page()
    }

    fn rows(&self) -> u64 {
        self.base.rows
    }
}
