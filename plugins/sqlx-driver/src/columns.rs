//! Arrow column builders for one page of rows, and the page that holds them.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, DurationMicrosecondBuilder, Float32Builder,
    Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder,
    IntervalMonthDayNanoBuilder, StringBuilder, Time64MicrosecondBuilder,
    TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow_array::types::IntervalMonthDayNano;
use arrow_array::{ArrayRef, ListArray, RecordBatch, RecordBatchOptions};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use keeperdb_driver_sdk::{DriverError, ErrorKind, META_TYPE};

/// Rows per page; a page is also cut early once it holds [`PAGE_BYTES`].
pub const PAGE_ROWS: usize = 8192;
/// Approximate bytes per page before it is sent, so wide rows keep memory flat too.
pub const PAGE_BYTES: usize = 16 * 1024 * 1024;

/// The Arrow shape of a column, independent of the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U64,
    F32,
    F64,
    /// Text; also exact decimals, JSON, UUIDs and anything rendered by the engine.
    Utf8,
    Binary,
    Date32,
    Time64,
    /// Microseconds; with `Some("UTC")` for instants.
    Timestamp(Option<&'static str>),
    Duration,
    Interval,
    List(Box<Shape>),
}

impl Shape {
    pub fn data_type(&self) -> DataType {
        match self {
            Shape::Bool => DataType::Boolean,
            Shape::I8 => DataType::Int8,
            Shape::I16 => DataType::Int16,
            Shape::I32 => DataType::Int32,
            Shape::I64 => DataType::Int64,
            Shape::U64 => DataType::UInt64,
            Shape::F32 => DataType::Float32,
            Shape::F64 => DataType::Float64,
            Shape::Utf8 => DataType::Utf8,
            Shape::Binary => DataType::Binary,
            Shape::Date32 => DataType::Date32,
            Shape::Time64 => DataType::Time64(TimeUnit::Microsecond),
            Shape::Timestamp(tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.map(Arc::from)),
            Shape::Duration => DataType::Duration(TimeUnit::Microsecond),
            Shape::Interval => DataType::Interval(arrow_schema::IntervalUnit::MonthDayNano),
            Shape::List(inner) => DataType::List(item_field(inner)),
        }
    }
}

fn item_field(inner: &Shape) -> FieldRef {
    Arc::new(Field::new("item", inner.data_type(), true))
}

/// A field with the engine's type name in its metadata.
pub fn field(name: &str, shape: &Shape, engine_type: &str) -> Field {
    let mut meta = HashMap::new();
    meta.insert(META_TYPE.to_string(), engine_type.to_string());
    Field::new(name, shape.data_type(), true).with_metadata(meta)
}

/// One column's values for the page being built.
pub enum Col {
    Bool(BooleanBuilder),
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    U64(UInt64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Date32(Date32Builder),
    Time64(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder, Option<&'static str>),
    Duration(DurationMicrosecondBuilder),
    Interval(IntervalMonthDayNanoBuilder),
    List {
        item: FieldRef,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        inner: Box<Col>,
    },
}

impl Col {
    pub fn new(shape: &Shape) -> Self {
        match shape {
            Shape::Bool => Col::Bool(BooleanBuilder::new()),
            Shape::I8 => Col::I8(Int8Builder::new()),
            Shape::I16 => Col::I16(Int16Builder::new()),
            Shape::I32 => Col::I32(Int32Builder::new()),
            Shape::I64 => Col::I64(Int64Builder::new()),
            Shape::U64 => Col::U64(UInt64Builder::new()),
            Shape::F32 => Col::F32(Float32Builder::new()),
            Shape::F64 => Col::F64(Float64Builder::new()),
            Shape::Utf8 => Col::Utf8(StringBuilder::new()),
            Shape::Binary => Col::Binary(BinaryBuilder::new()),
            Shape::Date32 => Col::Date32(Date32Builder::new()),
            Shape::Time64 => Col::Time64(Time64MicrosecondBuilder::new()),
            Shape::Timestamp(tz) => Col::Timestamp(TimestampMicrosecondBuilder::new(), *tz),
            Shape::Duration => Col::Duration(DurationMicrosecondBuilder::new()),
            Shape::Interval => Col::Interval(IntervalMonthDayNanoBuilder::new()),
            Shape::List(inner) => Col::List {
                item: item_field(inner),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
                inner: Box::new(Col::new(inner)),
            },
        }
    }

    pub fn append_null(&mut self) {
        match self {
            Col::Bool(b) => b.append_null(),
            Col::I8(b) => b.append_null(),
            Col::I16(b) => b.append_null(),
            Col::I32(b) => b.append_null(),
            Col::I64(b) => b.append_null(),
            Col::U64(b) => b.append_null(),
            Col::F32(b) => b.append_null(),
            Col::F64(b) => b.append_null(),
            Col::Utf8(b) => b.append_null(),
            Col::Binary(b) => b.append_null(),
            Col::Date32(b) => b.append_null(),
            Col::Time64(b) => b.append_null(),
            Col::Timestamp(b, _) => b.append_null(),
            Col::Duration(b) => b.append_null(),
            Col::Interval(b) => b.append_null(),
            Col::List { offsets, nulls, .. } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.push(last);
                nulls.append_null();
            }
        }
    }

    /// Close the current list value (after its items were appended to [`Col::list_items`]).
    pub fn end_list(&mut self, items: usize) -> Result<(), DriverError> {
        if let Col::List { offsets, nulls, .. } = self {
            let last = offsets.last().copied().unwrap_or(0);
            let next = i32::try_from(items)
                .ok()
                .and_then(|n| last.checked_add(n))
                .ok_or_else(|| {
                    DriverError::new(ErrorKind::Internal, "array too large for one page")
                })?;
            offsets.push(next);
            nulls.append_non_null();
        }
        Ok(())
    }

    /// The builder for list items.
    pub fn list_items(&mut self) -> Option<&mut Col> {
        match self {
            Col::List { inner, .. } => Some(inner),
            _ => None,
        }
    }

    pub fn append_str(&mut self, s: &str) -> Result<(), DriverError> {
        match self {
            Col::Utf8(b) => b.append_value(s),
            _ => return Err(mismatch("text")),
        }
        Ok(())
    }

    pub fn append_bytes(&mut self, v: &[u8]) -> Result<(), DriverError> {
        match self {
            Col::Binary(b) => b.append_value(v),
            Col::Utf8(b) => b.append_value(String::from_utf8_lossy(v)),
            _ => return Err(mismatch("bytes")),
        }
        Ok(())
    }

    pub fn append_i64(&mut self, v: i64) -> Result<(), DriverError> {
        let overflow =
            || DriverError::new(ErrorKind::Internal, format!("integer {v} out of range"));
        match self {
            Col::I8(b) => b.append_value(i8::try_from(v).map_err(|_| overflow())?),
            Col::I16(b) => b.append_value(i16::try_from(v).map_err(|_| overflow())?),
            Col::I32(b) => b.append_value(i32::try_from(v).map_err(|_| overflow())?),
            Col::I64(b) => b.append_value(v),
            Col::U64(b) => b.append_value(u64::try_from(v).map_err(|_| overflow())?),
            Col::F64(b) => b.append_value(v as f64),
            Col::Utf8(b) => b.append_value(v.to_string()),
            Col::Bool(b) => b.append_value(v != 0),
            _ => return Err(mismatch("integer")),
        }
        Ok(())
    }

    pub fn append_u64(&mut self, v: u64) -> Result<(), DriverError> {
        match self {
            Col::U64(b) => b.append_value(v),
            _ => match i64::try_from(v) {
                Ok(i) => return self.append_i64(i),
                Err(_) => return Err(mismatch("unsigned integer")),
            },
        }
        Ok(())
    }

    pub fn append_f64(&mut self, v: f64) -> Result<(), DriverError> {
        match self {
            Col::F64(b) => b.append_value(v),
            Col::F32(b) => b.append_value(v as f32),
            Col::Utf8(b) => b.append_value(v.to_string()),
            _ => return Err(mismatch("floating point")),
        }
        Ok(())
    }

    pub fn append_f32(&mut self, v: f32) -> Result<(), DriverError> {
        match self {
            Col::F32(b) => b.append_value(v),
            _ => return self.append_f64(f64::from(v)),
        }
        Ok(())
    }

    pub fn append_bool(&mut self, v: bool) -> Result<(), DriverError> {
        match self {
            Col::Bool(b) => b.append_value(v),
            _ => return Err(mismatch("boolean")),
        }
        Ok(())
    }

    pub fn append_date(&mut self, days_since_epoch: i32) -> Result<(), DriverError> {
        match self {
            Col::Date32(b) => b.append_value(days_since_epoch),
            _ => return Err(mismatch("date")),
        }
        Ok(())
    }

    pub fn append_time(&mut self, micros: i64) -> Result<(), DriverError> {
        match self {
            Col::Time64(b) => b.append_value(micros),
            Col::Duration(b) => b.append_value(micros),
            _ => return Err(mismatch("time")),
        }
        Ok(())
    }

    pub fn append_timestamp(&mut self, micros_since_epoch: i64) -> Result<(), DriverError> {
        match self {
            Col::Timestamp(b, _) => b.append_value(micros_since_epoch),
            _ => return Err(mismatch("timestamp")),
        }
        Ok(())
    }

    pub fn append_interval(
        &mut self,
        months: i32,
        days: i32,
        micros: i64,
    ) -> Result<(), DriverError> {
        match self {
            Col::Interval(b) => b.append_value(IntervalMonthDayNano::new(
                months,
                days,
                micros.saturating_mul(1000),
            )),
            _ => return Err(mismatch("interval")),
        }
        Ok(())
    }

    pub fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Bool(b) => Arc::new(b.finish()),
            Col::I8(b) => Arc::new(b.finish()),
            Col::I16(b) => Arc::new(b.finish()),
            Col::I32(b) => Arc::new(b.finish()),
            Col::I64(b) => Arc::new(b.finish()),
            Col::U64(b) => Arc::new(b.finish()),
            Col::F32(b) => Arc::new(b.finish()),
            Col::F64(b) => Arc::new(b.finish()),
            Col::Utf8(b) => Arc::new(b.finish()),
            Col::Binary(b) => Arc::new(b.finish()),
            Col::Date32(b) => Arc::new(b.finish()),
            Col::Time64(b) => Arc::new(b.finish()),
            Col::Timestamp(b, tz) => {
                let array = b.finish();
                match tz {
                    Some(tz) => Arc::new(array.with_timezone(*tz)),
                    None => Arc::new(array),
                }
            }
            Col::Duration(b) => Arc::new(b.finish()),
            Col::Interval(b) => Arc::new(b.finish()),
            Col::List {
                item,
                offsets,
                nulls,
                inner,
            } => {
                let values = inner.finish();
                let offs = std::mem::replace(offsets, vec![0]);
                let offsets = OffsetBuffer::new(ScalarBuffer::from(offs));
                Arc::new(ListArray::new(
                    item.clone(),
                    offsets,
                    values,
                    nulls.finish(),
                ))
            }
        }
    }
}

fn mismatch(what: &str) -> DriverError {
    DriverError::new(
        ErrorKind::Internal,
        format!("a {what} value does not fit the column's type"),
    )
}

/// The page of rows being built.
pub struct Page {
    pub schema: SchemaRef,
    pub cols: Vec<Col>,
    pub rows: usize,
    pub bytes: usize,
}

impl Page {
    pub fn new(fields: Vec<Field>, shapes: &[Shape]) -> Self {
        Self {
            schema: Arc::new(Schema::new(fields)),
            cols: shapes.iter().map(Col::new).collect(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Count a finished row; true when the page is full.
    pub fn row_done(&mut self, bytes: usize) -> bool {
        self.rows += 1;
        self.bytes += bytes;
        self.rows >= PAGE_ROWS || self.bytes >= PAGE_BYTES
    }

    pub fn take(&mut self) -> Result<RecordBatch, DriverError> {
        let arrays: Vec<ArrayRef> = self.cols.iter_mut().map(Col::finish).collect();
        let rows = self.rows;
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| DriverError::new(ErrorKind::Internal, format!("cannot build a page: {e}")))
    }
}
