//! Result writers: Arrow record batches to table, CSV, JSON, JSON Lines or Markdown text.
//!
//! Writers take one page (record batch) at a time, write it, and flush, so a result of any size
//! streams through in the memory of one page. Every format shares one cell renderer
//! ([`cell`]), which prints values the way the engine's own CLI does (psql, mariadb, sqlite3),
//! using the `keeperdb.type` field metadata the driver sets. NULL and the empty string stay
//! distinguishable in every format.

pub mod cell;

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, Schema, SchemaRef};

use cell::{CellRenderer, ColumnSpec, Flavor, push_json_string};
use keeperdb_model::connection::Engine;

/// An output format name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// Aligned columns for people (psql-like).
    Table,
    /// RFC 4180 CSV with a header; NULL is an empty field, the empty string is `""`.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// A GitHub-flavoured Markdown table.
    Markdown,
}

impl OutputFormat {
    /// Every format, in the order help text lists them.
    pub const ALL: [OutputFormat; 5] = [
        OutputFormat::Table,
        OutputFormat::Csv,
        OutputFormat::Json,
        OutputFormat::Jsonl,
        OutputFormat::Markdown,
    ];

    /// The name accepted by `--format`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Markdown => "markdown",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name keeperdb does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format `{0}` (expected one of: table, csv, json, jsonl, markdown)")]
pub struct UnknownFormat(pub String);

impl FromStr for OutputFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" | "aligned" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            "jsonl" | "ndjson" | "json-lines" => Ok(OutputFormat::Jsonl),
            "markdown" | "md" => Ok(OutputFormat::Markdown),
            _ => Err(UnknownFormat(s.to_string())),
        }
    }
}

/// Why writing a result failed.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Writing to the output failed (a closed pipe, a full disk).
    #[error("cannot write output: {0}")]
    Io(#[from] io::Error),
    /// Reading the next page failed; the error comes from the driver.
    #[error("{0}")]
    Source(ArrowError),
    /// A page did not match the schema announced at the start.
    #[error("result page has {got} columns, expected {expected}")]
    SchemaMismatch {
        /// Columns announced.
        expected: usize,
        /// Columns in the page.
        got: usize,
    },
}

/// Options shared by every writer.
#[derive(Debug, Clone, Default)]
pub struct FormatOptions {
    /// The engine the rows come from: picks the text conventions (`t`/`f`, `\x..`, ...).
    pub engine: Option<Engine>,
    /// Table format: print the `(N rows)` footer.
    pub footer: bool,
}

/// Writes a result page by page.
pub trait ResultWriter {
    /// Write one page and flush it.
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), FormatError>;
    /// Write what ends the result (closing bracket, footer) and flush.
    fn finish(&mut self) -> Result<(), FormatError>;
    /// Rows written so far.
    fn rows(&self) -> u64;
}

/// A writer for `format` over `out`, for results with `schema`. The header (where the format
/// has one) is written by the first page, or by `finish` for an empty result.
pub fn writer<'w>(
    format: OutputFormat,
    schema: SchemaRef,
    options: &FormatOptions,
    out: Box<dyn Write + 'w>,
) -> Box<dyn ResultWriter + 'w> {
    let flavor = Flavor::of(options.engine.as_ref());
    let specs: Vec<ColumnSpec> = schema
        .fields()
        .iter()
        .map(|f| ColumnSpec::new(f, flavor))
        .collect();
    let base = Base {
        schema,
        specs,
        out,
        rows: 0,
        started: false,
        buf: String::with_capacity(64 * 1024),
        cell: String::with_capacity(256),
        scratch: String::new(),
    };
    match format {
        OutputFormat::Csv => Box::new(Csv(base)),
        OutputFormat::Json => Box::new(Json { base, lines: false }),
        OutputFormat::Jsonl => Box::new(Json { base, lines: true }),
        OutputFormat::Markdown => Box::new(Markdown(base)),
        OutputFormat::Table => Box::new(Table {
            base,
            widths: Vec::new(),
            footer: options.footer,
        }),
    }
}

/// Stream every page of `reader` to `out`; returns the number of rows written.
pub fn write_all(
    reader: &mut dyn RecordBatchReader,
    format: OutputFormat,
    options: &FormatOptions,
    out: Box<dyn Write + '_>,
) -> Result<u64, FormatError> {
    let mut w = writer(format, reader.schema(), options, out);
    for batch in reader {
        let batch = batch.map_err(FormatError::Source)?;
        w.write_batch(&batch)?;
    }
    w.finish()?;
    Ok(w.rows())
}

struct Base<'w> {
    schema: SchemaRef,
    specs: Vec<ColumnSpec>,
    out: Box<dyn Write + 'w>,
    rows: u64,
    started: bool,
    /// The page being built; written and flushed once per page.
    buf: String,
    cell: String,
    scratch: String,
}

impl Base<'_> {
    fn check(&self, batch: &RecordBatch) -> Result<(), FormatError> {
        if batch.num_columns() != self.specs.len() {
            return Err(FormatError::SchemaMismatch {
                expected: self.specs.len(),
                got: batch.num_columns(),
            });
        }
        Ok(())
    }

    fn renderers<'a>(&'a self, batch: &'a RecordBatch) -> Vec<CellRenderer<'a>> {
        self.specs
            .iter()
            .zip(batch.columns())
            .map(|(spec, array)| CellRenderer::new(spec, array))
            .collect()
    }

    fn flush_page(&mut self) -> Result<(), FormatError> {
        self.out.write_all(self.buf.as_bytes())?;
        self.out.flush()?;
        self.buf.clear();
        Ok(())
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }
}

// ---------------------------------------------------------------------------------------------
// CSV

struct Csv<'w>(Base<'w>);

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
        let b = &mut self.0;
        let mut buf = std::mem::take(&mut b.buf);
        let mut cell = std::mem::take(&mut b.cell);
        {
            let renderers = b.renderers(batch);
            for row in 0..batch.num_rows() {
                for (i, r) in renderers.iter().enumerate() {
                    if i > 0 {
                        buf.push(',');
                    }
                    if r.is_null(row) {
                        continue;
                    }
                    cell.clear();
                    r.render_text(row, &mut cell);
                    push_csv_field(&mut buf, &cell);
                }
                buf.push('\n');
            }
        }
        b.buf = buf;
        b.cell = cell;
        b.rows += batch.num_rows() as u64;
        b.flush_page()
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        self.header();
        self.0.flush_page()
    }

    fn rows(&self) -> u64 {
        self.0.rows
    }
}

// ---------------------------------------------------------------------------------------------
// JSON and JSON Lines

struct Json<'w> {
    base: Base<'w>,
    lines: bool,
}

impl ResultWriter for Json<'_> {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        self.base.check(batch)?;
        let lines = self.lines;
        let b = &mut self.base;
        let mut buf = std::mem::take(&mut b.buf);
        let mut scratch = std::mem::take(&mut b.scratch);
        let keys: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| {
                let mut k = String::new();
                push_json_string(&mut k, f.name());
                k
            })
            .collect();
        let mut first = !b.started && b.rows == 0;
        {
            let renderers = b.renderers(batch);
            for row in 0..batch.num_rows() {
                if !lines {
                    buf.push_str(if first { "[\n" } else { ",\n" });
                }
                first = false;
                buf.push('{');
                for (i, r) in renderers.iter().enumerate() {
                    if i > 0 {
                        buf.push(',');
                    }
                    buf.push_str(&keys[i]);
                    buf.push(':');
                    r.render_json(row, &mut buf, &mut scratch);
                }
                buf.push('}');
                if lines {
                    buf.push('\n');
                }
            }
        }
        if batch.num_rows() > 0 {
            b.started = true;
        }
        b.buf = buf;
        b.scratch = scratch;
        b.rows += batch.num_rows() as u64;
        b.flush_page()
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        let b = &mut self.base;
        if !self.lines {
            b.buf.push_str(if b.started { "\n]\n" } else { "[]\n" });
        }
        b.flush_page()
    }

    fn rows(&self) -> u64 {
        self.base.rows
    }
}

// ---------------------------------------------------------------------------------------------
// Markdown

struct Markdown<'w>(Base<'w>);

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
        let b = &mut self.0;
        let mut buf = std::mem::take(&mut b.buf);
        let mut cell = std::mem::take(&mut b.cell);
        {
            let renderers = b.renderers(batch);
            for row in 0..batch.num_rows() {
                buf.push('|');
                for r in &renderers {
                    buf.push(' ');
                    if r.is_null(row) {
                        // Italic, so it differs from a text value `NULL` (which is escaped).
                        buf.push_str("*NULL*");
                    } else {
                        cell.clear();
                        r.render_text(row, &mut cell);
                        push_markdown_cell(&mut buf, &cell);
                    }
                    buf.push_str(" |");
                }
                buf.push('\n');
            }
        }
        b.buf = buf;
        b.cell = cell;
        b.rows += batch.num_rows() as u64;
        b.flush_page()
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        self.header();
        self.0.flush_page()
    }

    fn rows(&self) -> u64 {
        self.0.rows
    }
}

// ---------------------------------------------------------------------------------------------
// Table

/// psql-like aligned text. Column widths come from the header and the first page and only
/// grow afterwards, so output starts at once and memory stays one page.
struct Table<'w> {
    base: Base<'w>,
    widths: Vec<usize>,
    footer: bool,
}

const TABLE_NULL: &str = "NULL";

fn push_table_cell(out: &mut String, s: &str) {
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
        let names: Vec<String> = b
            .schema
            .fields()
            .iter()
            .map(|f| {
                let mut s = String::new();
                push_table_cell(&mut s, f.name());
                s
            })
            .collect();
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
                .schema
                .fields()
                .iter()
                .map(|f| {
                    let mut s = String::new();
                    push_table_cell(&mut s, f.name());
                    width(&s)
                })
                .collect();
        }
        for cells in &rows {
            for (i, c) in cells.iter().enumerate() {
                let w = c.as_deref().map(width).unwrap_or(TABLE_NULL.len());
                self.widths[i] = self.widths[i].max(w);
            }
        }
        self.header();
        let b = &mut self.base;
        let last = self.widths.len().saturating_sub(1);
        for cells in &rows {
            for (i, c) in cells.iter().enumerate() {
                b.buf.push_str(if i == 0 { " " } else { " | " });
                let text = c.as_deref().unwrap_or(TABLE_NULL);
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
        self.base.flush_page()
    }

    fn rows(&self) -> u64 {
        self.base.rows
    }
}

#[cfg(test)]
mod tests;
