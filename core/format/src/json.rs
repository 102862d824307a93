//! JSON (one array of objects) and JSON Lines (one object per line): the same objects, so one
//! writer with a switch.

use arrow_array::RecordBatch;

use crate::base::Base;
use crate::cell::push_json_string;
use crate::{FormatError, ResultWriter};

pub(crate) struct Json<'w> {
    base: Base<'w>,
    lines: bool,
}

impl<'w> Json<'w> {
    /// `lines`: JSON Lines instead of one JSON array.
    pub(crate) fn new(base: Base<'w>, lines: bool) -> Self {
        Json { base, lines }
    }
}

impl ResultWriter for Json<'_> {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        self.base.check(batch)?;
        let lines = self.lines;
        let b = &mut self.base;
        let mut buf = std::mem::take(&mut b.buf);
        let mut scratch = std::mem::take(&mut b.scratch);
        let keys = b.names(push_json_string);
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
