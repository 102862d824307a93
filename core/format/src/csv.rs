//! CSV (RFC 4180, with a header), quoted as psql quotes it so NULL and the empty string differ.

use arrow_array::RecordBatch;

use crate::base::Base;
use crate::{FormatError, ResultWriter};

pub(crate) struct Csv<'w>(Base<'w>);

impl<'w> Csv<'w> {
    pub(crate) fn new(base: Base<'w>) -> Self {
        Csv(base)
    }
}

/// psql's quoting rule: quote when the field holds the delimiter, a quote, CR or LF, or is
/// exactly `\.`; additionally the empty string is quoted so it differs from NULL.
fn push_csv_field(out: &mut String, s: &str) {
    let quote =
        s.is_empty() || s == "\\." || s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if !quote {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

impl Csv<'_> {
    fn header(&mut self) {
        let b = &mut self.0;
        if b.started {
            return;
        }
        b.started = true;
        for (i, f) in b.schema.fields().iter().enumerate() {
            if i > 0 {
                b.buf.push(',');
            }
            push_csv_field(&mut b.buf, f.name());
        }
        b.buf.push('\n');
    }
}

impl ResultWriter for Csv<'_> {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        self.0.check(batch)?;
        self.header();
        self.0.write_text_rows(batch, "", |buf, i, text| {
            if i > 0 {
                buf.push(',');
            }
            // NULL is an empty field; the empty string is quoted by `push_csv_field`.
            if let Some(s) = text {
                push_csv_field(buf, s);
            }
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
