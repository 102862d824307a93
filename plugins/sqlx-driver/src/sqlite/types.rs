//! A column's Arrow type, chosen from the storage classes of its first page's values.
//!
//! SQLite values carry their own type (a column may mix them), so a column's Arrow type is
//! chosen from the values of the first page: integers only -> Int64, reals only -> Float64,
//! any text, or integers and reals together -> Utf8, blobs only -> Binary; a column with only NULLs follows its declared type.
//! Both the raw path and the sqlx path use these, so they sit apart from either.

use keeperdb_driver_sdk::{DriverError, ErrorKind};
use sqlx::{Column as _, TypeInfo as _};

use crate::columns::{Page, Shape, field};

/// The storage classes a column's values had in the first page.
#[derive(Default, Clone, Copy)]
pub(super) struct Seen {
    pub(super) int: bool,
    pub(super) real: bool,
    pub(super) text: bool,
    pub(super) blob: bool,
}

/// A value whose storage class does not fit the type chosen from the first page.
pub(super) fn mixed_types(i: usize, name: &str, class: &str) -> DriverError {
    DriverError::new(
        ErrorKind::Query,
        format!(
            "column {} ({name}) holds a {class} value among values of another type; \
             SQLite columns can mix types: CAST the column in the query",
            i + 1,
        ),
    )
}

fn infer(declared: &str, seen: Seen) -> Shape {
    // INTEGERs and REALs together are text, each written as sqlite3 writes it (`3`, `3.0`):
    // one Float64 column would make the integers look like REALs.
    if seen.text || (seen.blob && (seen.int || seen.real)) || (seen.int && seen.real) {
        Shape::Utf8
    } else if seen.blob {
        Shape::Binary
    } else if seen.real {
        Shape::F64
    } else if seen.int {
        Shape::I64
    } else {
        // Only NULLs: SQLite's type affinity rules on the declared type.
        let d = declared.to_ascii_uppercase();
        if d.contains("INT") {
            Shape::I64
        } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
            Shape::Utf8
        } else if d.contains("BLOB") {
            Shape::Binary
        } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
            Shape::F64
        } else {
            Shape::Utf8
        }
    }
}

/// The page for a result whose first rows had values of the `seen` storage classes.
pub(super) fn page_for(columns: &[sqlx::sqlite::SqliteColumn], seen: &[Seen]) -> Page {
    let declared: Vec<&str> = columns.iter().map(|c| c.type_info().name()).collect();
    let shapes: Vec<Shape> = declared
        .iter()
        .zip(seen)
        .map(|(d, s)| infer(d, *s))
        .collect();
    let fields = columns
        .iter()
        .zip(&shapes)
        .zip(&declared)
        .zip(seen)
        .map(|(((c, s), d), seen)| {
            // sqlx reports "NULL" when it cannot read the declared type (expressions,
            // NUMERIC): name the storage class the values have instead, and NUMERIC for
            // integers and reals together.
            let name = match (*d, s) {
                ("NULL", Shape::I64) => "INTEGER",
                ("NULL", Shape::F64) => "REAL",
                ("NULL", Shape::Binary) => "BLOB",
                ("NULL", _) if seen.int && seen.real && !seen.text && !seen.blob => "NUMERIC",
                ("NULL", _) => "TEXT",
                (d, _) => d,
            };
            field(c.name(), s, name)
        })
        .collect();
    Page::new(fields, &shapes)
}
