//! GitHub-flavoured Markdown tables, with cell text escaped so it cannot break the table.

use arrow_array::RecordBatch;

use crate::base::Base;
use crate::{FormatError, ResultWriter};

pub(crate) struct Markdown<'w>(Base<'w>);

impl<'w> Markdown<'w> {
    pub(crate) fn new(base: Base<'w>) -> Self {
        Markdown(base)
    }
}

fn push_markdown_cell(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '|' | '\\' | '*' | '_' | '`' | '<' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
}

impl Markdown<'_> {
    fn header(&mut self) {
        let b = &mut self.0;
        if b.started {
            return;
        }
        b.started = true;
        b.buf.push('|');
        for f in b.schema.fields() {
            b.buf.push(' ');
            push_markdown_cell(&mut b.buf, f.name());
            b.buf.push_str(" |");
        }
        b.buf.push_str("\n|");
        for spec in &b.specs {
            b.buf
                .push_str(if spec.numeric { " ---: |" } else { " --- |" });
        }
        b.buf.push('\n');
    }
}

impl ResultWriter for Markdown<'_> {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        self.0.check(batch)?;
        self.header();
        self.0.write_text_rows(batch, "|", |buf, _, text| {
            buf.push(' ');
            match text {
                // Italic, so it differs from a text value `NULL` (which is escaped).
                None => buf.push_str("*NULL*"),
                Some(s) => push_markdown_cell(buf, s),
            }
            buf.push_str(" |");
        })
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        self.header();
        self.0.flush_page()
    }

    fn rows(&self) -> u64 {
        self.0.rows
    }
}
