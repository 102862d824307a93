//! The catalog as typed values. A driver answers catalog requests as record batches whose
//! column names the driver ABI fixes (`keeperdb_driver_sdk::catalog_columns`); this reads them
//! by those names, so no shell guesses, and a driver that answers in another shape is named.

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use keeperdb_driver_sdk::catalog_columns;

/// A database (or, for engines without separate databases, a schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// Its name.
    pub name: String,
}

/// A table or view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Its schema, where the engine has schemas.
    pub schema: Option<String>,
    /// Its name.
    pub name: String,
    /// `BASE TABLE`, `VIEW`, ... as the engine says.
    pub kind: Option<String>,
}

impl Table {
    /// `schema.name`, or the name alone.
    pub fn qualified(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// The engine's type name.
    pub type_name: Option<String>,
    /// Whether it accepts NULL, when the engine says.
    pub nullable: Option<bool>,
    /// Its default as SQL text.
    pub default: Option<String>,
    /// 1-based position.
    pub position: Option<i64>,
}

/// A catalog answer in the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the driver's {request} catalog answer has no `{column}` column (it must have {expected}); the driver does not follow the catalog contract"
)]
pub struct CatalogShapeError {
    /// What was asked.
    pub request: &'static str,
    /// The column that is missing.
    pub column: &'static str,
    /// Every column the contract names.
    pub expected: String,
}

fn text_column(
    batch: &RecordBatch,
    request: &'static str,
    column: &'static str,
    all: &[&str],
) -> Result<Vec<Option<String>>, CatalogShapeError> {
    let missing = || CatalogShapeError {
        request,
        column,
        expected: all.join(", "),
    };
    let array = batch.column_by_name(column).ok_or_else(missing)?;
    let text = arrow_cast::cast(array, &DataType::Utf8).map_err(|_| missing())?;
    let strings = text.as_string::<i32>();
    Ok((0..strings.len())
        .map(|i| (!strings.is_null(i)).then(|| strings.value(i).to_string()))
        .collect())
}

/// The databases in a `Databases` answer.
pub fn databases(batches: &[RecordBatch]) -> Result<Vec<Database>, CatalogShapeError> {
    let all = catalog_columns::DATABASES;
    let mut out = Vec::new();
    for b in batches {
        for name in text_column(b, "databases", all[0], &all)?
            .into_iter()
            .flatten()
        {
            out.push(Database { name });
        }
    }
    Ok(out)
}

/// The tables in a `Tables` answer.
pub fn tables(batches: &[RecordBatch]) -> Result<Vec<Table>, CatalogShapeError> {
    let all = catalog_columns::TABLES;
    let mut out = Vec::new();
    for b in batches {
        let schemas = text_column(b, "tables", all[0], &all)?;
        let names = text_column(b, "tables", all[1], &all)?;
        let kinds = text_column(b, "tables", all[2], &all)?;
        for ((schema, name), kind) in schemas.into_iter().zip(names).zip(kinds) {
            if let Some(name) = name {
                out.push(Table { schema, name, kind });
            }
        }
    }
    Ok(out)
}

/// The columns in a `Columns` answer.
pub fn columns(batches: &[RecordBatch]) -> Result<Vec<Column>, CatalogShapeError> {
    let all = catalog_columns::COLUMNS;
    let mut out = Vec::new();
    for b in batches {
        let names = text_column(b, "columns", all[0], &all)?;
        let types = text_column(b, "columns", all[1], &all)?;
        let nullable = text_column(b, "columns", all[2], &all)?;
        let defaults = text_column(b, "columns", all[3], &all)?;
        let positions = text_column(b, "columns", all[4], &all)?;
        for i in 0..names.len() {
            let Some(name) = names[i].clone() else {
                continue;
            };
            out.push(Column {
                name,
                type_name: types[i].clone(),
                nullable: nullable[i].as_deref().map(|v| matches!(v, "true" | "1")),
                default: defaults[i].clone(),
                position: positions[i].as_deref().and_then(|p| p.parse().ok()),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{BooleanArray, Int32Array, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;

    fn batch(columns: Vec<(&str, Arc<dyn Array>)>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    #[test]
    fn tables_read_by_the_contract_names_whatever_their_order() {
        let b = batch(vec![
            (
                "type",
                Arc::new(StringArray::from(vec!["VIEW", "BASE TABLE"])),
            ),
            ("name", Arc::new(StringArray::from(vec!["v", "t"]))),
            (
                "schema",
                Arc::new(StringArray::from(vec![None, Some("public")])),
            ),
        ]);
        let t = tables(&[b]).unwrap();
        assert_eq!(t[0].qualified(), "v");
        assert_eq!(t[1].qualified(), "public.t");
        assert_eq!(t[1].kind.as_deref(), Some("BASE TABLE"));
    }

    #[test]
    fn columns_keep_nullability_defaults_and_positions() {
        let b = batch(vec![
            ("name", Arc::new(StringArray::from(vec!["id", "note"]))),
            ("type", Arc::new(StringArray::from(vec!["integer", "text"]))),
            ("nullable", Arc::new(BooleanArray::from(vec![false, true]))),
            (
                "default",
                Arc::new(StringArray::from(vec![Some("0"), None])),
            ),
            ("position", Arc::new(Int32Array::from(vec![1, 2]))),
        ]);
        let c = columns(&[b]).unwrap();
        assert_eq!(c[0].nullable, Some(false));
        assert_eq!(c[0].default.as_deref(), Some("0"));
        assert_eq!(c[1].nullable, Some(true));
        assert_eq!(c[1].position, Some(2));
    }

    #[test]
    fn an_answer_in_another_shape_names_the_missing_column() {
        let b = batch(vec![("table_name", Arc::new(StringArray::from(vec!["t"])))]);
        let err = tables(&[b]).unwrap_err();
        assert_eq!(err.column, "schema");
        assert!(err.to_string().contains("schema, name, type"), "{err}");
    }
}
