//! Expanded display (psql's `\x`, MySQL's `\G`): one block per row, one line per column, for
//! rows too wide for a table. Values are shown whole, escaped as table cells are.

use arrow_array::RecordBatch;

use crate::base::Base;
use crate::table::{null_text, push_table_cell};
use crate::{FormatError, FormatOptions, ResultWriter};

pub(crate) struct Expanded<'w> {
    base: Base<'w>,
    footer: bool,
    null: String,
}

impl<'w> Expanded<'w> {
    pub(crate) fn new(base: Base<'w>, options: &FormatOptions) -> Self {
        Expanded {
            base,
            footer: options.footer,
            null: null_text(options),
        }
    }
}

fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

impl ResultWriter for Expanded<'_> {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        self.base.check(batch)?;
        let names = self.base.names(push_table_cell);
        let name_width = names.iter().map(|n| width(n)).max().unwrap_or(0);
        let mut buf = std::mem::take(&mut self.base.buf);
        {
            let renderers = self.base.renderers(batch);
            let mut cell = String::new();
            for row in 0..batch.num_rows() {
                let values: Vec<String> = renderers
                    .iter()
                    .map(|r| {
                        if r.is_null(row) {
                            return self.null.clone();
                        }
                        cell.clear();
                        r.render_text(row, &mut cell);
                        let mut shown = String::with_capacity(cell.len());
                        push_table_cell(&mut shown, &cell);
                        shown
                    })
                    .collect();
                let value_width = values.iter().map(|v| width(v)).max().unwrap_or(0);
                let label = format!("-[ RECORD {} ]", self.base.rows + row as u64 + 1);
                buf.push_str(&label);
                let mut used = width(&label);
                if used <= name_width {
                    buf.extend(std::iter::repeat_n('-', name_width + 1 - used));
                    buf.push('+');
                    used = name_width + 2;
                }
                buf.extend(std::iter::repeat_n(
                    '-',
                    (name_width + 3 + value_width).saturating_sub(used),
                ));
                buf.push('\n');
                for (name, value) in names.iter().zip(&values) {
                    buf.push_str(name);
                    buf.extend(std::iter::repeat_n(' ', name_width - width(name)));
                    buf.push_str(" | ");
                    buf.push_str(value);
                    buf.push('\n');
                }
            }
        }
        self.base.buf = buf;
        self.base.rows += batch.num_rows() as u64;
        self.base.flush_page()
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        if self.footer && self.base.rows == 0 {
            self.base.buf.push_str("(0 rows)\n");
        }
        self.base.flush_page()
    }

    fn rows(&self) -> u64 {
        self.base.rows
    }
}
