//! A cell's text form: the per-type dispatch every text format (table, CSV, Markdown) and
//! JSON strings print, and array text.

use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, FixedSizeListArray};
use arrow_schema::{DataType, IntervalUnit, TimeUnit};

use super::binary::{push_binary, push_uuid};
use super::escape::{pg_array_needs_quotes, push_json_string, push_pg_quoted};
use super::number::{FloatWidth, push_decimal, push_float, push_float32, push_int};
use super::temporal::{
    push_date, push_pg_interval, push_signed_clock, push_time_of_day, push_timestamp, to_nanos,
};
use super::{ColumnSpec, Flavor, element_spec, is_numeric};

/// Append the text form of cell `row` of `array` (which must not be NULL).
pub(super) fn render_text(spec: &ColumnSpec, array: &dyn Array, row: usize, out: &mut String) {
    let flavor = spec.flavor;
    match array.data_type() {
        DataType::Null => {}
        DataType::Boolean => {
            let v = array.as_boolean().value(row);
            out.push_str(match (flavor, v) {
                (Flavor::Postgres, true) => "t",
                (Flavor::Postgres, false) => "f",
                (Flavor::Mysql | Flavor::Sqlite, true) => "1",
                (Flavor::Mysql | Flavor::Sqlite, false) => "0",
                (Flavor::Generic, true) => "true",
                (Flavor::Generic, false) => "false",
            });
        }
        DataType::Int8 => push_int(out, array.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => push_int(out, array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => push_int(out, array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => push_int(out, array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => push_int(out, array.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => push_int(out, array.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => push_int(out, array.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => push_int(out, array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float16 => {
            let v = array.as_primitive::<Float16Type>().value(row).to_f32();
            push_float(out, v as f64, FloatWidth::Single, flavor);
        }
        DataType::Float32 => {
            let v = array.as_primitive::<Float32Type>().value(row);
            push_float32(out, v, flavor);
        }
        DataType::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            let width = if spec.is_pg_float4() && (v as f32).is_finite() {
                FloatWidth::Single
            } else {
                FloatWidth::Double
            };
            push_float(out, v, width, flavor);
        }
        DataType::Decimal128(_, scale) => {
            let v = array.as_primitive::<Decimal128Type>().value(row);
            push_decimal(out, &v.to_string(), *scale);
        }
        DataType::Decimal256(_, scale) => {
            let v = array.as_primitive::<Decimal256Type>().value(row);
            push_decimal(out, &v.to_string(), *scale);
        }
        DataType::Utf8 => out.push_str(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => out.push_str(array.as_string::<i64>().value(row)),
        DataType::Utf8View => out.push_str(array.as_string_view().value(row)),
        DataType::Binary => push_binary(out, array.as_binary::<i32>().value(row), flavor),
        DataType::LargeBinary => push_binary(out, array.as_binary::<i64>().value(row), flavor),
        DataType::BinaryView => push_binary(out, array.as_binary_view().value(row), flavor),
        DataType::FixedSizeBinary(16) if spec.engine_type == "uuid" => {
            push_uuid(out, array.as_fixed_size_binary().value(row));
        }
        DataType::FixedSizeBinary(_) => {
            push_binary(out, array.as_fixed_size_binary().value(row), flavor)
        }
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            // PostgreSQL's `infinity` dates arrive as the extremes of the range, and MySQL's
            // zero date as the lowest.
            match (flavor, days) {
                (Flavor::Postgres, i32::MAX) => out.push_str("infinity"),
                (Flavor::Postgres, i32::MIN) => out.push_str("-infinity"),
                (Flavor::Mysql, i32::MIN) => out.push_str("0000-00-00"),
                _ => push_date(out, days as i64, flavor),
            }
        }
        DataType::Date64 => {
            let ms = array.as_primitive::<Date64Type>().value(row);
            push_date(out, ms.div_euclid(86_400_000), flavor);
        }
        DataType::Time32(unit) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<Time32SecondType>().value(row) as i64,
                _ => array.as_primitive::<Time32MillisecondType>().value(row) as i64,
            };
            push_time_of_day(out, to_nanos(v, *unit));
        }
        DataType::Time64(unit) => {
            let v = match unit {
                TimeUnit::Microsecond => array.as_primitive::<Time64MicrosecondType>().value(row),
                _ => array.as_primitive::<Time64NanosecondType>().value(row),
            };
            push_time_of_day(out, to_nanos(v, *unit));
        }
        DataType::Timestamp(unit, tz) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            match (flavor, v) {
                (Flavor::Postgres, i64::MAX) => out.push_str("infinity"),
                (Flavor::Postgres, i64::MIN) => out.push_str("-infinity"),
                (Flavor::Mysql, i64::MIN) => out.push_str("0000-00-00 00:00:00"),
                _ => push_timestamp(out, to_nanos(v, *unit), tz.as_deref(), flavor),
            }
        }
        DataType::Duration(unit) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<DurationSecondType>().value(row),
                TimeUnit::Millisecond => array.as_primitive::<DurationMillisecondType>().value(row),
                TimeUnit::Microsecond => array.as_primitive::<DurationMicrosecondType>().value(row),
                TimeUnit::Nanosecond => array.as_primitive::<DurationNanosecondType>().value(row),
            };
            let nanos = to_nanos(v, *unit);
            match flavor {
                Flavor::Postgres => push_pg_interval(out, 0, 0, nanos),
                _ => push_signed_clock(out, nanos),
            }
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
            push_pg_interval(out, v.months as i64, v.days as i64, v.nanoseconds as i128);
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            let v = array.as_primitive::<IntervalDayTimeType>().value(row);
            push_pg_interval(out, 0, v.days as i64, v.milliseconds as i128 * 1_000_000);
        }
        DataType::Interval(IntervalUnit::YearMonth) => {
            let v = array.as_primitive::<IntervalYearMonthType>().value(row);
            push_pg_interval(out, v as i64, 0, 0);
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            push_list(spec, list.value(row).as_ref(), out);
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            push_list(spec, list.value(row).as_ref(), out);
        }
        DataType::FixedSizeList(..) => {
            let list: &FixedSizeListArray = array.as_fixed_size_list();
            push_list(spec, list.value(row).as_ref(), out);
        }
        _ => match arrow_cast::display::ArrayFormatter::try_new(
            array,
            &arrow_cast::display::FormatOptions::default(),
        ) {
            Ok(f) => {
                let _ = write!(out, "{}", f.value(row));
            }
            Err(_) => {
                let _ = write!(out, "<{}>", array.data_type());
            }
        },
    }
}

/// Array text: psql's `{a,b,NULL}` with its quoting rules; other engines have no array type,
/// so they get a JSON-like list.
fn push_list(spec: &ColumnSpec, values: &dyn Array, out: &mut String) {
    let elem = element_spec(spec);
    let pg = spec.flavor == Flavor::Postgres;
    out.push(if pg { '{' } else { '[' });
    let mut buf = String::new();
    for i in 0..values.len() {
        if i > 0 {
            out.push(',');
        }
        if values.is_null(i) {
            out.push_str(if pg { "NULL" } else { "null" });
            continue;
        }
        buf.clear();
        render_text(&elem, values, i, &mut buf);
        let nested = matches!(
            values.data_type(),
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
        );
        if pg && !nested && pg_array_needs_quotes(&buf) {
            push_pg_quoted(out, &buf);
        } else if !pg && !nested && !is_numeric(values.data_type()) {
            push_json_string(out, &buf);
        } else {
            out.push_str(&buf);
        }
    }
    out.push(if pg { '}' } else { ']' });
}
