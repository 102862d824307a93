//! A cell's JSON form: numbers and booleans as JSON values, json/jsonb text embedded, arrays
//! as JSON arrays, everything else as a JSON string of its text form.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, GenericListArray, OffsetSizeTrait};
use arrow_schema::DataType;

use super::escape::push_json_string;
use super::number::is_integer;
use super::text::render_text;
use super::{ColumnSpec, element_spec};

pub(super) fn render_json(
    spec: &ColumnSpec,
    array: &dyn Array,
    row: usize,
    out: &mut String,
    scratch: &mut String,
) {
    if array.is_null(row) {
        out.push_str("null");
        return;
    }
    match array.data_type() {
        DataType::Boolean => {
            out.push_str(if array.as_boolean().value(row) {
                "true"
            } else {
                "false"
            });
        }
        DataType::Float32 | DataType::Float64 => {
            let v = match array.data_type() {
                DataType::Float32 => array.as_primitive::<Float32Type>().value(row) as f64,
                _ => array.as_primitive::<Float64Type>().value(row),
            };
            if v.is_finite() {
                scratch.clear();
                render_text(spec, array, row, scratch);
                // psql-style exponents (`1e+30`) are valid JSON numbers as well.
                out.push_str(scratch);
            } else {
                scratch.clear();
                render_text(spec, array, row, scratch);
                push_json_string(out, scratch);
            }
        }
        dt if is_integer(dt) => render_text(spec, array, row, out),
        DataType::List(_) => json_list(spec, array.as_list::<i32>(), row, out, scratch),
        DataType::LargeList(_) => json_list(spec, array.as_list::<i64>(), row, out, scratch),
        DataType::FixedSizeList(..) => {
            let list = array.as_fixed_size_list();
            json_values(spec, list.value(row).as_ref(), out, scratch);
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View if spec.is_json_text() => {
            render_text(spec, array, row, out);
        }
        _ => {
            scratch.clear();
            render_text(spec, array, row, scratch);
            push_json_string(out, scratch);
        }
    }
}

fn json_list<O: OffsetSizeTrait>(
    spec: &ColumnSpec,
    list: &GenericListArray<O>,
    row: usize,
    out: &mut String,
    scratch: &mut String,
) {
    json_values(spec, list.value(row).as_ref(), out, scratch);
}

fn json_values(spec: &ColumnSpec, values: &dyn Array, out: &mut String, scratch: &mut String) {
    let elem = element_spec(spec);
    out.push('[');
    for i in 0..values.len() {
        if i > 0 {
            out.push(',');
        }
        let mut inner = String::new();
        render_json(&elem, values, i, &mut inner, scratch);
        out.push_str(&inner);
    }
    out.push(']');
}
