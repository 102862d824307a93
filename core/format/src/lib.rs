//! Result writers: Arrow record batches to table, CSV, JSON, JSON Lines or Markdown text.
//!
//! Writers take one page (record batch) at a time, write it, and flush, so a result of any size
//! streams through in the memory of one page. Every format shares one cell renderer
//! ([`cell`]), which prints values the way the engine's own CLI does (psql, mariadb, sqlite3),
//! using the `keeperdb.type` field metadata the driver sets. NULL and the empty string stay
//! distinguishable in every format.

pub mod cell;

mod base;
mod csv;
mod expanded;
mod json;
mod markdown;
mod table;

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};

use base::Base;
use cell::Flavor;
use csv::Csv;
use expanded::Expanded;
use json::Json;
use keeperdb_model::connection::Engine;
use markdown::Markdown;
use table::Table;

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
    /// One block per row, a column a line (psql's `\x`, MySQL's `\G`): for wide rows.
    Expanded,
}

impl OutputFormat {
    /// Every format, in the order help text lists them.
    pub const ALL: [OutputFormat; 6] = [
        OutputFormat::Table,
        OutputFormat::Csv,
        OutputFormat::Json,
        OutputFormat::Jsonl,
        OutputFormat::Markdown,
        OutputFormat::Expanded,
    ];

    /// Formats for people, where `null` and a cell width limit apply.
    pub fn is_for_people(self) -> bool {
        matches!(self, OutputFormat::Table | OutputFormat::Expanded)
    }

    /// The name accepted by `--format`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Markdown => "markdown",
            OutputFormat::Expanded => "expanded",
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
#[error(
    "unknown output format `{0}` (expected one of: table, csv, json, jsonl, markdown, expanded)"
)]
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
            "expanded" | "vertical" => Ok(OutputFormat::Expanded),
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
    /// Table and expanded formats: what NULL shows as (`NULL` when unset; psql's
    /// `\pset null`). The other formats keep NULL apart from text in their own way.
    pub null: Option<String>,
    /// Table format: cut values wider than this many columns, ending them with `…`, and say
    /// so under the table (expanded shows values whole).
    pub max_width: Option<usize>,
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
    let base = Base::new(schema, Flavor::of(options.engine.as_ref()), out);
    match format {
        OutputFormat::Csv => Box::new(Csv::new(base)),
        OutputFormat::Json => Box::new(Json::new(base, false)),
        OutputFormat::Jsonl => Box::new(Json::new(base, true)),
        OutputFormat::Markdown => Box::new(Markdown::new(base)),
        OutputFormat::Table => Box::new(Table::new(base, options)),
        OutputFormat::Expanded => Box::new(Expanded::new(base, options)),
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

#[cfg(test)]
mod tests;
