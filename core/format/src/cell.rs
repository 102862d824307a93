//! One renderer for every output format: turns an Arrow cell into the text the engine's own CLI
//! prints (psql, mariadb, sqlite3), or into a JSON value. Each column is downcast once per page,
//! and every cell is written into a reused buffer, so rendering allocates nothing per row.

use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, FixedSizeListArray, GenericListArray, OffsetSizeTrait};
use arrow_schema::{DataType, Field, IntervalUnit, TimeUnit};

use keeperdb_model::connection::Engine;

/// The Arrow field metadata key a driver sets to the engine's own type name (`int4`, `jsonb`,
/// `varchar(20)`, ...).
pub const ENGINE_TYPE_KEY: &str = "keeperdb.type";

/// Whose text conventions to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// psql: `t`/`f`, `\x` bytea, `{..}` arrays, Postgres interval style, `+00` offsets.
    Postgres,
    /// mariadb/mysql CLI: `1`/`0`, `0x..` binary (as with `--binary-as-hex`).
    Mysql,
    /// sqlite3: `1`/`0`, `X'..'` blobs.
    Sqlite,
    /// No engine known: plain ISO-like forms.
    Generic,
}

impl Flavor {
    /// The conventions of an engine.
    pub fn of(engine: Option<&Engine>) -> Self {
        match engine {
            Some(e) if *e == Engine::POSTGRES => Flavor::Postgres,
            Some(e) if e.is_mysql_family() => Flavor::Mysql,
            Some(e) if *e == Engine::SQLITE => Flavor::Sqlite,
            // An engine keeperdb has no conventions for: the neutral text forms.
            _ => Flavor::Generic,
        }
    }
}

/// How a column's values should appear in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// Rendered text, as a JSON string.
    String,
    /// A JSON number (integers, finite floats).
    Number,
    /// true / false.
    Bool,
    /// The value already is JSON text (json/jsonb columns): embedded as it is.
    Raw,
    /// A JSON array of the elements.
    Array,
}

/// Per-column rendering decisions, made once from the schema.
#[derive(Debug, Clone)]
pub struct ColumnSpec {
    flavor: Flavor,
    engine_type: String,
    /// Whether table layouts should right-align this column.
    pub numeric: bool,
}

impl ColumnSpec {
    /// Decide how to render a field.
    pub fn new(field: &Field, flavor: Flavor) -> Self {
        let engine_type = field
            .metadata()
            .get(ENGINE_TYPE_KEY)
            .map(|t| t.trim().to_ascii_lowercase())
            .unwrap_or_default();
        // Exact decimals arrive as text but are numbers to a reader: align them like numbers.
        let base = engine_type.split('(').next().unwrap_or("").trim();
        let numeric = is_numeric(field.data_type())
            || matches!(base, "numeric" | "decimal" | "money" | "decimal unsigned");
        Self {
            flavor,
            engine_type,
            numeric,
        }
    }

    fn is_json_text(&self) -> bool {
        matches!(self.engine_type.as_str(), "json" | "jsonb")
    }

    /// A PostgreSQL `float4` delivered in a Float64 array still prints with float4's digits.
    fn is_pg_float4(&self) -> bool {
        self.flavor == Flavor::Postgres && self.engine_type == "float4"
    }
}

fn is_numeric(dt: &DataType) -> bool {
    dt.is_numeric() || matches!(dt, DataType::Decimal128(..) | DataType::Decimal256(..))
}

/// Renders the cells of one column of one page.
pub struct CellRenderer<'a> {
    spec: &'a ColumnSpec,
    array: &'a ArrayRef,
    /// Looked up once per page instead of through the `dyn Array` on every cell.
    nulls: Option<arrow_buffer::NullBuffer>,
}

impl<'a> CellRenderer<'a> {
    /// A renderer over one column of a page.
    pub fn new(spec: &'a ColumnSpec, array: &'a ArrayRef) -> Self {
        let nulls = array.logical_nulls();
        Self { spec, array, nulls }
    }

    /// Whether the cell is NULL.
    pub fn is_null(&self, row: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(row))
    }

    /// How the column appears in JSON.
    pub fn json_kind(&self) -> JsonKind {
        match self.array.data_type() {
            DataType::Boolean => JsonKind::Bool,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64 => JsonKind::Number,
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
                JsonKind::Array
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                if self.spec.is_json_text() =>
            {
                JsonKind::Raw
            }
            _ => JsonKind::String,
        }
    }

    /// Append the text form of a non-NULL cell to `out`.
    pub fn render_text(&self, row: usize, out: &mut String) {
        render_text(self.spec, self.array.as_ref(), row, out);
    }

    /// Append the JSON form of a cell (NULL included) to `out`.
    pub fn render_json(&self, row: usize, out: &mut String, scratch: &mut String) {
        render_json(self.spec, self.array.as_ref(), row, out, scratch);
    }
}

fn render_json(
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

fn element_spec(spec: &ColumnSpec) -> ColumnSpec {
    // `_int4` / `int4[]` name the array; elements are of the base type.
    let base = spec
        .engine_type
        .strip_prefix('_')
        .or_else(|| spec.engine_type.strip_suffix("[]"))
        .unwrap_or("")
        .to_string();
    ColumnSpec {
        flavor: spec.flavor,
        engine_type: base,
        numeric: false,
    }
}

/// Quote a string as JSON.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn is_integer(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

fn push_int(out: &mut String, v: impl itoa::Integer) {
    let mut b = itoa::Buffer::new();
    out.push_str(b.format(v));
}

/// Append the text form of cell `row` of `array` (which must not be NULL).
fn render_text(spec: &ColumnSpec, array: &dyn Array, row: usize, out: &mut String) {
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
            // PostgreSQL's `infinity` dates arrive as the extremes of the range.
            match (flavor, days) {
                (Flavor::Postgres, i32::MAX) => out.push_str("infinity"),
                (Flavor::Postgres, i32::MIN) => out.push_str("-infinity"),
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

fn to_nanos(v: i64, unit: TimeUnit) -> i128 {
    let v = v as i128;
    match unit {
        TimeUnit::Second => v * 1_000_000_000,
        TimeUnit::Millisecond => v * 1_000_000,
        TimeUnit::Microsecond => v * 1_000,
        TimeUnit::Nanosecond => v,
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
            out.push('"');
            for c in buf.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        } else if !pg && !nested && !is_numeric(values.data_type()) {
            push_json_string(out, &buf);
        } else {
            out.push_str(&buf);
        }
    }
    out.push(if pg { '}' } else { ']' });
}

/// array_out's rule: quote empty strings, `NULL`, and anything with delimiters, quotes,
/// backslashes or white space.
fn pg_array_needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.eq_ignore_ascii_case("null")
        || s.chars().any(|c| {
            matches!(
                c,
                '{' | '}' | ',' | '"' | '\\' | ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'
            )
        })
}

#[derive(Clone, Copy)]
enum FloatWidth {
    Single,
    Double,
}

fn push_float32(out: &mut String, v: f32, flavor: Flavor) {
    if !v.is_finite() {
        push_float(out, v as f64, FloatWidth::Single, flavor);
        return;
    }
    // Shortest digits of the f32 itself, not of its widened f64.
    let mut exp = StackStr::new();
    let _ = write!(exp, "{v:e}");
    push_from_exp(out, exp.as_str(), FloatWidth::Single, flavor);
}

/// A small stack buffer for number formatting, so rendering a float allocates nothing.
struct StackStr {
    buf: [u8; 64],
    len: usize,
}

impl StackStr {
    fn new() -> Self {
        Self {
            buf: [0; 64],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so this cannot fail.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn push_float(out: &mut String, v: f64, width: FloatWidth, flavor: Flavor) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    let mut exp = StackStr::new();
    let _ = match width {
        FloatWidth::Single => write!(exp, "{:e}", v as f32),
        FloatWidth::Double => write!(exp, "{v:e}"),
    };
    push_from_exp(out, exp.as_str(), width, flavor);
}

/// Lay out shortest round-trip digits the way PostgreSQL's float8out/float4out do: plain
/// notation for decimal exponents in [-4, DIG), otherwise `d.ddde+XX`.
fn push_from_exp(out: &mut String, exp_form: &str, width: FloatWidth, _flavor: Flavor) {
    let (mantissa, exponent) = exp_form.split_once('e').unwrap_or((exp_form, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let mut digits = StackStr::new();
    for part in mantissa.split('.') {
        let _ = digits.write_str(part);
    }
    let digits = digits.as_str();
    if digits == "0" {
        out.push_str(if neg { "-0" } else { "0" });
        return;
    }
    let dig = match width {
        FloatWidth::Single => 6,
        FloatWidth::Double => 15,
    };
    if neg {
        out.push('-');
    }
    if exponent < -4 || exponent >= dig {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exponent.abs());
    } else if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = exponent as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

fn push_decimal(out: &mut String, unscaled: &str, scale: i8) {
    let (neg, digits) = match unscaled.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, unscaled),
    };
    if neg {
        out.push('-');
    }
    if scale <= 0 {
        out.push_str(digits);
        // `unsigned_abs`: -(-128i8) does not fit an i8. A zero stays `0` at any scale.
        if digits.trim_start_matches('0').is_empty() {
            return;
        }
        for _ in 0..scale.unsigned_abs() {
            out.push('0');
        }
        return;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        out.push_str("0.");
        for _ in digits.len()..scale {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let split = digits.len() - scale;
        out.push_str(&digits[..split]);
        out.push('.');
        out.push_str(&digits[split..]);
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn push_hex(out: &mut String, bytes: &[u8], table: &[u8; 16]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(table[(b >> 4) as usize] as char);
        out.push(table[(b & 0xf) as usize] as char);
    }
}

fn push_binary(out: &mut String, bytes: &[u8], flavor: Flavor) {
    match flavor {
        Flavor::Postgres | Flavor::Generic => {
            out.push_str("\\x");
            push_hex(out, bytes, HEX_LOWER);
        }
        Flavor::Mysql => {
            out.push_str("0x");
            push_hex(out, bytes, HEX_UPPER);
        }
        Flavor::Sqlite => {
            out.push_str("X'");
            push_hex(out, bytes, HEX_UPPER);
            out.push('\'');
        }
    }
}

fn push_uuid(out: &mut String, b: &[u8]) {
    for (i, chunk) in [&b[0..4], &b[4..6], &b[6..8], &b[8..10], &b[10..16]]
        .iter()
        .enumerate()
    {
        if i > 0 {
            out.push('-');
        }
        push_hex(out, chunk, HEX_LOWER);
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Returns whether the date is BC (PostgreSQL writes the suffix after the time, if any).
/// At least `width` digits, zero-padded (the hot path of every date and time cell).
fn push_padded(out: &mut String, v: u64, width: usize) {
    let mut b = itoa::Buffer::new();
    let s = b.format(v);
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(s);
}

fn push_date_part(out: &mut String, days: i64, flavor: Flavor) -> bool {
    let (y, m, d) = civil_from_days(days);
    let bc = y <= 0 && flavor == Flavor::Postgres;
    let year = if bc { 1 - y } else { y };
    if year < 0 {
        out.push('-');
    }
    push_padded(out, year.unsigned_abs(), 4);
    out.push('-');
    push_padded(out, u64::from(m), 2);
    out.push('-');
    push_padded(out, u64::from(d), 2);
    bc
}

fn push_date(out: &mut String, days: i64, flavor: Flavor) {
    if push_date_part(out, days, flavor) {
        out.push_str(" BC");
    }
}

/// `HH:MM:SS[.ffffff]`, trailing zeros of the fraction dropped (as PostgreSQL does).
fn push_time_of_day(out: &mut String, nanos: i128) {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000) as u32;
    let secs = secs.max(0) as u64;
    push_padded(out, secs / 3600, 2);
    out.push(':');
    push_padded(out, (secs / 60) % 60, 2);
    out.push(':');
    push_padded(out, secs % 60, 2);
    push_fraction(out, frac);
}

fn push_fraction(out: &mut String, frac_nanos: u32) {
    if frac_nanos == 0 {
        return;
    }
    // Engines keep microseconds; show nanoseconds only when they are really there.
    let mut digits = [b'0'; 9];
    let mut v = frac_nanos;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let len = 9 - digits.iter().rev().take_while(|d| **d == b'0').count();
    out.push('.');
    for d in &digits[..len] {
        out.push(*d as char);
    }
}

fn push_signed_clock(out: &mut String, nanos: i128) {
    if nanos < 0 {
        out.push('-');
    }
    push_time_of_day(out, nanos.abs());
}

/// Offset in seconds for a fixed-offset Arrow time zone (`UTC`, `+00:00`, `-05:30`).
/// Named zones other than UTC are shown in UTC, which is still the same instant.
fn tz_offset_secs(tz: &str) -> i64 {
    let t = tz.trim();
    let Some(sign) = t.chars().next().filter(|c| *c == '+' || *c == '-') else {
        return 0;
    };
    let rest = &t[1..];
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => (&rest[..2], &rest[2..]),
        None => (rest, "0"),
    };
    let secs = h.parse::<i64>().unwrap_or(0) * 3600 + m.parse::<i64>().unwrap_or(0) * 60;
    if sign == '-' { -secs } else { secs }
}

fn push_timestamp(out: &mut String, nanos: i128, tz: Option<&str>, flavor: Flavor) {
    let offset = tz.map(tz_offset_secs).unwrap_or(0);
    let local = nanos + offset as i128 * 1_000_000_000;
    let day_nanos = 86_400_000_000_000i128;
    let days = local.div_euclid(day_nanos) as i64;
    let bc = push_date_part(out, days, flavor);
    out.push(' ');
    push_time_of_day(out, local.rem_euclid(day_nanos));
    if tz.is_some() && matches!(flavor, Flavor::Postgres | Flavor::Generic) {
        out.push(if offset < 0 { '-' } else { '+' });
        let a = offset.abs();
        let _ = write!(out, "{:02}", a / 3600);
        if a % 3600 != 0 {
            let _ = write!(out, ":{:02}", (a % 3600) / 60);
        }
    }
    if bc {
        out.push_str(" BC");
    }
}

/// PostgreSQL's default `IntervalStyle = postgres` output.
fn push_pg_interval(out: &mut String, months: i64, days: i64, nanos: i128) {
    let mut is_zero = true;
    let mut is_before = false;
    let mut part = |out: &mut String, value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        if !is_zero {
            out.push(' ');
        }
        if is_before && value > 0 {
            out.push('+');
        }
        let _ = write!(out, "{value} {unit}{}", if value != 1 { "s" } else { "" });
        is_before = value < 0;
        is_zero = false;
    };
    part(out, months / 12, "year");
    part(out, months % 12, "mon");
    part(out, days, "day");
    if is_zero || nanos != 0 {
        if !is_zero {
            out.push(' ');
        }
        if nanos < 0 {
            out.push('-');
        } else if is_before {
            out.push('+');
        }
        let a = nanos.abs();
        let micros_total = a / 1000;
        let secs = micros_total / 1_000_000;
        let _ = write!(
            out,
            "{:02}:{:02}:{:02}",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        );
        push_fraction(out, (a % 1_000_000_000) as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64, w: FloatWidth) -> String {
        let mut s = String::new();
        push_float(&mut s, v, w, Flavor::Postgres);
        s
    }

    #[test]
    fn floats_follow_postgres_layout() {
        assert_eq!(float(1.5, FloatWidth::Double), "1.5");
        assert_eq!(float(1e30, FloatWidth::Double), "1e+30");
        assert_eq!(
            float(1.7976931348623157e308, FloatWidth::Double),
            "1.7976931348623157e+308"
        );
        assert_eq!(
            float(123456789012345.0, FloatWidth::Double),
            "123456789012345"
        );
        assert_eq!(float(1e15, FloatWidth::Double), "1e+15");
        assert_eq!(float(0.0001, FloatWidth::Double), "0.0001");
        assert_eq!(float(0.00001, FloatWidth::Double), "1e-05");
        assert_eq!(float(-2.5e-7, FloatWidth::Double), "-2.5e-07");
        assert_eq!(float(0.0, FloatWidth::Double), "0");
        assert_eq!(float(-0.0, FloatWidth::Double), "-0");
        assert_eq!(float(f64::NAN, FloatWidth::Double), "NaN");
        assert_eq!(float(f64::NEG_INFINITY, FloatWidth::Double), "-Infinity");
        let mut s = String::new();
        push_float32(&mut s, 2.71, Flavor::Postgres);
        assert_eq!(s, "2.71");
        s.clear();
        push_float32(&mut s, 1234567.0, Flavor::Postgres);
        assert_eq!(s, "1.234567e+06");
    }

    #[test]
    fn the_most_negative_declared_scale_multiplies_without_overflow() {
        let mut out = String::new();
        push_decimal(&mut out, "-5", i8::MIN);
        assert_eq!(out, format!("-5{}", "0".repeat(128)));
        let mut zero = String::new();
        push_decimal(&mut zero, "0", i8::MIN);
        assert_eq!(zero, "0");
    }

    #[test]
    fn decimals_keep_their_scale() {
        let mut s = String::new();
        push_decimal(&mut s, "-150", 2);
        assert_eq!(s, "-1.50");
        s.clear();
        push_decimal(&mut s, "5", 3);
        assert_eq!(s, "0.005");
        s.clear();
        push_decimal(&mut s, "12", -2);
        assert_eq!(s, "1200");
    }

    #[test]
    fn dates_and_timestamps() {
        let mut s = String::new();
        push_date(&mut s, 0, Flavor::Postgres);
        assert_eq!(s, "1970-01-01");
        s.clear();
        push_date(&mut s, 19724, Flavor::Postgres);
        assert_eq!(s, "2024-01-02");
        s.clear();
        // 0001-01-01 BC is year 0 in the proleptic calendar.
        push_date(&mut s, -719_528, Flavor::Postgres);
        assert_eq!(s, "0001-01-01 BC");
        s.clear();
        let nanos = (19724i128 * 86_400 + 3 * 3600 + 4 * 60 + 5) * 1_000_000_000 + 123_456_000;
        push_timestamp(&mut s, nanos, Some("UTC"), Flavor::Postgres);
        assert_eq!(s, "2024-01-02 03:04:05.123456+00");
        s.clear();
        push_timestamp(&mut s, nanos, Some("+05:30"), Flavor::Postgres);
        assert_eq!(s, "2024-01-02 08:34:05.123456+05:30");
        s.clear();
        push_timestamp(&mut s, nanos, None, Flavor::Mysql);
        assert_eq!(s, "2024-01-02 03:04:05.123456");
    }

    #[test]
    fn intervals_match_psql() {
        let cases: &[(i64, i64, i128, &str)] = &[
            (0, 0, 0, "00:00:00"),
            (
                14,
                3,
                4 * 3_600_000_000_000 + 5 * 60_000_000_000 + 6_789_000_000,
                "1 year 2 mons 3 days 04:05:06.789",
            ),
            (-1, 0, 0, "-1 mons"),
            (0, -1, 3_600_000_000_000, "-1 days +01:00:00"),
            (0, 0, -90_000_000_000, "-00:01:30"),
            (12, 0, 0, "1 year"),
            (0, 0, 100 * 3_600_000_000_000, "100:00:00"),
        ];
        for (m, d, n, want) in cases {
            let mut s = String::new();
            push_pg_interval(&mut s, *m, *d, *n);
            assert_eq!(&s, want);
        }
    }

    #[test]
    fn array_elements_are_quoted_like_array_out() {
        assert!(pg_array_needs_quotes(""));
        assert!(pg_array_needs_quotes("NULL"));
        assert!(pg_array_needs_quotes("a b"));
        assert!(pg_array_needs_quotes("a,b"));
        assert!(!pg_array_needs_quotes("plain"));
        assert!(!pg_array_needs_quotes("héllo"));
    }
}
