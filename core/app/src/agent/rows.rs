//! Arrow pages into JSON rows for an agent, under a row cap and a byte cap. Cells are rendered
//! by `keeperdb-format`'s JSON writer, so an agent sees exactly what `--format json` prints
//! (NULL as `null`, the empty string as `""`, engine-aware types); rows are arrays in column
//! order, so two columns of the same name both survive.

use std::fmt;

use arrow_array::RecordBatch;
use keeperdb_format::{FormatOptions, OutputFormat};
use keeperdb_model::Engine;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::session::StreamError;

/// Why a result was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// It had more rows than one call may return.
    RowLimit,
    /// Its rows came to more bytes than one call may return.
    ByteLimit,
}

/// Rows collected for an agent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rows {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The rows, each an array in column order.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Why the result was cut, if it was: more rows exist than `rows` holds.
    pub truncated: Option<Cut>,
    /// Bytes of JSON the rows take.
    pub bytes: usize,
}

/// One JSON object's values, in the order they came.
struct RowValues(Vec<serde_json::Value>);

impl<'de> Deserialize<'de> for RowValues {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RowValues;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RowValues, A::Error> {
                let mut out = Vec::new();
                while let Some((_, v)) =
                    map.next_entry::<serde::de::IgnoredAny, serde_json::Value>()?
                {
                    out.push(v);
                }
                Ok(RowValues(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Collects pages until a cap is reached.
pub(crate) struct Collector {
    engine: Engine,
    max_rows: usize,
    max_bytes: usize,
    pub(crate) out: Rows,
}

impl Collector {
    pub(crate) fn new(engine: Engine, max_rows: usize, max_bytes: usize) -> Self {
        Self {
            engine,
            max_rows,
            max_bytes,
            out: Rows::default(),
        }
    }

    /// Take a page; `false` once a cap is reached (the caller stops reading and cancels the
    /// rest on the server).
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<bool, StreamError> {
        if self.out.columns.is_empty() {
            self.out.columns = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
        }
        let mut text = Vec::new();
        {
            let options = FormatOptions {
                engine: Some(self.engine.clone()),
                footer: false,
                ..FormatOptions::default()
            };
            let mut w = keeperdb_format::writer(
                OutputFormat::Jsonl,
                batch.schema(),
                &options,
                Box::new(&mut text),
            );
            w.write_batch(batch).map_err(StreamError::Output)?;
            w.finish().map_err(StreamError::Output)?;
        }
        // JSON Lines escape newlines inside strings, so each line is one row.
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if self.out.rows.len() >= self.max_rows {
                self.out.truncated = Some(Cut::RowLimit);
                return Ok(false);
            }
            if self.out.bytes + line.len() > self.max_bytes {
                self.out.truncated = Some(Cut::ByteLimit);
                return Ok(false);
            }
            let RowValues(values) = serde_json::from_slice(line).map_err(|e| {
                StreamError::Read(arrow_schema::ArrowError::JsonError(e.to_string()))
            })?;
            self.out.bytes += line.len();
            self.out.rows.push(values);
        }
        Ok(true)
    }
}
