//! One renderer for every output format: turns an Arrow cell into the text the engine's own CLI
//! prints (psql, mariadb, sqlite3), or into a JSON value. Each column is downcast once per page,
//! and every cell is written into a reused buffer, so rendering allocates nothing per row.

mod binary;
mod escape;
mod json;
mod number;
mod temporal;
mod text;

use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Field};

use keeperdb_model::connection::Engine;

pub use escape::push_json_string;
use json::render_json;
use number::is_integer;
use text::render_text;

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
            dt if is_integer(dt) || matches!(dt, DataType::Float32 | DataType::Float64) => {
                JsonKind::Number
            }
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

/// The spec of an array column's elements, for rendering them one by one.
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
