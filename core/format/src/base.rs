//! The state every writer shares: the schema, the column specs, the output, and the page
//! buffer that is written and flushed once per page.

use std::io::Write;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::FormatError;
use crate::cell::{CellRenderer, ColumnSpec, Flavor};

pub(crate) struct Base<'w> {
    pub(crate) schema: SchemaRef,
    pub(crate) specs: Vec<ColumnSpec>,
    out: Box<dyn Write + 'w>,
    pub(crate) rows: u64,
    pub(crate) started: bool,
    /// The page being built; written and flushed once per page.
    pub(crate) buf: String,
    cell: String,
    pub(crate) scratch: String,
}

impl<'w> Base<'w> {
    pub(crate) fn new(schema: SchemaRef, flavor: Flavor, out: Box<dyn Write + 'w>) -> Self {
        let specs: Vec<ColumnSpec> = schema
            .fields()
            .iter()
            .map(|f| ColumnSpec::new(f, flavor))
            .collect();
        Base {
            schema,
            specs,
            out,
            rows: 0,
            started: false,
            buf: String::with_capacity(64 * 1024),
            cell: String::with_capacity(256),
            scratch: String::new(),
        }
    }
}

impl Base<'_> {
    pub(crate) fn check(&self, batch: &RecordBatch) -> Result<(), FormatError> {
        if batch.num_columns() != self.specs.len() {
            return Err(FormatError::SchemaMismatch {
                expected: self.specs.len(),
                got: batch.num_columns(),
            });
        }
        Ok(())
    }

    pub(crate) fn renderers<'a>(&'a self, batch: &'a RecordBatch) -> Vec<CellRenderer<'a>> {
        self.specs
            .iter()
            .zip(batch.columns())
            .map(|(spec, array)| CellRenderer::new(spec, array))
            .collect()
    }

    pub(crate) fn flush_page(&mut self) -> Result<(), FormatError> {
        self.out.write_all(self.buf.as_bytes())?;
        self.out.flush()?;
        self.buf.clear();
        Ok(())
    }

    /// The column names, each written through `escape` (the format's own quoting).
    pub(crate) fn names(&self, escape: impl Fn(&mut String, &str)) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| {
                let mut s = String::new();
                escape(&mut s, f.name());
                s
            })
            .collect()
    }

    /// Write the rows of `batch` in a format whose cells are the text form escaped (CSV,
    /// Markdown), then flush the page. Each row is `row_start`, then `push_cell(buf, column,
    /// text)` for every cell (`None` for NULL) adding the cell and what separates it, then a
    /// newline.
    pub(crate) fn write_text_rows(
        &mut self,
        batch: &RecordBatch,
        row_start: &str,
        mut push_cell: impl FnMut(&mut String, usize, Option<&str>),
    ) -> Result<(), FormatError> {
        // Taken out so the renderers can borrow the specs while the page grows.
        let mut buf = std::mem::take(&mut self.buf);
        let mut cell = std::mem::take(&mut self.cell);
        {
            let renderers = self.renderers(batch);
            for row in 0..batch.num_rows() {
                buf.push_str(row_start);
                for (i, r) in renderers.iter().enumerate() {
                    if r.is_null(row) {
                        push_cell(&mut buf, i, None);
                        continue;
                    }
                    cell.clear();
                    r.render_text(row, &mut cell);
                    push_cell(&mut buf, i, Some(&cell));
                }
                buf.push('\n');
            }
        }
        self.buf = buf;
        self.cell = cell;
        self.rows += batch.num_rows() as u64;
        self.flush_page()
    }
}
