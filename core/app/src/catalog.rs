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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// The engine's type name, with its length or precision.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// Whether it accepts NULL, when the engine says.
    pub nullable: Option<bool>,
    /// Its default as SQL text.
    pub default: Option<String>,
    /// 1-based position.
    #[serde(skip)]
    pub position: Option<i64>,
}

/// What a key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// The primary key.
    PrimaryKey,
    /// A unique constraint.
    Unique,
    /// A foreign key.
    ForeignKey,
}

impl KeyKind {
    /// As SQL names it: `PRIMARY KEY`, `UNIQUE`, `FOREIGN KEY`.
    pub fn as_sql(self) -> &'static str {
        match self {
            KeyKind::PrimaryKey => "PRIMARY KEY",
            KeyKind::Unique => "UNIQUE",
            KeyKind::ForeignKey => "FOREIGN KEY",
        }
    }
}

impl Key {
    /// The key as SQL, of a table in `schema`: `FOREIGN KEY (album_id) REFERENCES album(id)`
    /// (the referenced table qualified when it is in another schema).
    pub fn definition(&self, schema: Option<&str>) -> String {
        let mut sql = format!("{} ({})", self.kind.as_sql(), self.columns.join(", "));
        if let Some(r) = &self.references {
            let table = match &r.schema {
                Some(s) if Some(s.as_str()) != schema => format!("{s}.{}", r.table),
                _ => r.table.clone(),
            };
            sql.push_str(&format!(" REFERENCES {table}({})", r.columns.join(", ")));
        }
        sql
    }
}

/// A primary key, unique constraint or foreign key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Key {
    /// Its name, where the engine names it (SQLite names neither primary nor foreign keys).
    pub name: Option<String>,
    /// What it is.
    pub kind: KeyKind,
    /// Its columns, in key order.
    pub columns: Vec<String>,
    /// For a foreign key: what it refers to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references: Option<Reference>,
}

/// The columns a foreign key refers to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reference {
    /// The referenced table's schema, where the engine has schemas.
    pub schema: Option<String>,
    /// The referenced table.
    pub table: String,
    /// Its columns, in the order of the key's.
    pub columns: Vec<String>,
}

/// An index of a table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Index {
    /// Its name.
    pub name: String,
    /// Its columns (or expressions), in order.
    pub columns: Vec<String>,
    /// It enforces uniqueness.
    pub unique: bool,
    /// It is the primary key's.
    pub primary: bool,
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
                nullable: nullable[i].as_deref().map(|v| bool_of(Some(v))),
                default: defaults[i].clone(),
                position: positions[i].as_deref().and_then(|p| p.parse().ok()),
            });
        }
    }
    Ok(out)
}

fn bool_of(v: Option<&str>) -> bool {
    matches!(v, Some("true" | "1" | "t"))
}

/// The keys in a `Keys` answer: rows of one key are consecutive, a new key starting at
/// position 1.
pub fn keys(batches: &[RecordBatch]) -> Result<Vec<Key>, CatalogShapeError> {
    let all = catalog_columns::KEYS;
    let mut out: Vec<Key> = Vec::new();
    for b in batches {
        let col = |n: usize| text_column(b, "keys", all[n], &all);
        let (names, kinds, columns, positions) = (col(0)?, col(1)?, col(2)?, col(3)?);
        let (ref_schemas, ref_tables, ref_columns) = (col(4)?, col(5)?, col(6)?);
        for i in 0..names.len() {
            let Some(column) = columns[i].clone() else {
                continue;
            };
            let kind = match kinds[i].as_deref().map(str::to_ascii_uppercase).as_deref() {
                Some("PRIMARY KEY") => KeyKind::PrimaryKey,
                Some("UNIQUE") => KeyKind::Unique,
                Some("FOREIGN KEY") => KeyKind::ForeignKey,
                _ => continue,
            };
            let first = positions[i].as_deref() == Some("1");
            let same = out
                .last()
                .is_some_and(|k| !first && k.kind == kind && k.name == names[i]);
            if !same {
                out.push(Key {
                    name: names[i].clone(),
                    kind,
                    columns: Vec::new(),
                    references: None,
                });
            }
            let Some(key) = out.last_mut() else { continue };
            key.columns.push(column);
            if kind == KeyKind::ForeignKey
                && let Some(table) = ref_tables[i].clone()
            {
                let r = key.references.get_or_insert_with(|| Reference {
                    schema: ref_schemas[i].clone(),
                    table,
                    columns: Vec::new(),
                });
                r.columns.extend(ref_columns[i].clone());
            }
        }
    }
    Ok(out)
}

/// The indexes in an `Indexes` answer.
pub fn indexes(batches: &[RecordBatch]) -> Result<Vec<Index>, CatalogShapeError> {
    let all = catalog_columns::INDEXES;
    let mut out: Vec<Index> = Vec::new();
    for b in batches {
        let col = |n: usize| text_column(b, "indexes", all[n], &all);
        let (names, columns, positions) = (col(0)?, col(1)?, col(2)?);
        let (unique, primary) = (col(3)?, col(4)?);
        for i in 0..names.len() {
            let (Some(name), Some(column)) = (names[i].clone(), columns[i].clone()) else {
                continue;
            };
            let first = positions[i].as_deref() == Some("1");
            match out.last_mut() {
                Some(index) if !first && index.name == name => index.columns.push(column),
                _ => out.push(Index {
                    name,
                    columns: vec![column],
                    unique: bool_of(unique[i].as_deref()),
                    primary: bool_of(primary[i].as_deref()),
                }),
            }
        }
    }
    Ok(out)
}

/// The schemas in a `Schemas` answer.
pub fn schemas(batches: &[RecordBatch]) -> Result<Vec<String>, CatalogShapeError> {
    let all = catalog_columns::SCHEMAS;
    let mut out = Vec::new();
    for b in batches {
        out.extend(
            text_column(b, "schemas", all[0], &all)?
                .into_iter()
                .flatten(),
        );
    }
    Ok(out)
}

/// Everything the catalog says about one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Description {
    /// The table's schema, where the engine has schemas.
    pub schema: Option<String>,
    /// The table's name.
    pub name: String,
    /// `BASE TABLE`, `VIEW`, ... as the engine says.
    pub kind: Option<String>,
    /// Its columns, in order.
    pub columns: Vec<Column>,
    /// Primary key, unique constraints and foreign keys.
    pub keys: Vec<Key>,
    /// Indexes.
    pub indexes: Vec<Index>,
    /// What the driver could not describe (a driver built before keys and indexes were
    /// part of the catalog contract), to say so rather than show nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_described: Vec<String>,
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

    fn texts(v: Vec<Option<&str>>) -> Arc<dyn Array> {
        Arc::new(StringArray::from(v))
    }

    #[test]
    fn keys_are_grouped_in_order_and_unnamed_ones_stay_apart() {
        let b = batch(vec![
            ("name", texts(vec![Some("pk"), Some("pk"), None, None])),
            (
                "kind",
                texts(vec![
                    Some("PRIMARY KEY"),
                    Some("PRIMARY KEY"),
                    Some("FOREIGN KEY"),
                    Some("FOREIGN KEY"),
                ]),
            ),
            (
                "column",
                texts(vec![Some("a"), Some("b"), Some("x"), Some("y")]),
            ),
            ("position", Arc::new(Int32Array::from(vec![1, 2, 1, 1]))),
            ("ref_schema", texts(vec![None, None, Some("s"), Some("s")])),
            ("ref_table", texts(vec![None, None, Some("t1"), Some("t2")])),
            (
                "ref_column",
                texts(vec![None, None, Some("id"), Some("id")]),
            ),
        ]);
        let k = keys(&[b]).unwrap();
        assert_eq!(k.len(), 3, "{k:?}");
        assert_eq!(k[0].kind, KeyKind::PrimaryKey);
        assert_eq!(k[0].columns, ["a", "b"]);
        assert!(k[0].references.is_none());
        assert_eq!(
            k[2].definition(Some("s")),
            "FOREIGN KEY (y) REFERENCES t2(id)"
        );
        assert_eq!(
            k[2].definition(Some("other")),
            "FOREIGN KEY (y) REFERENCES s.t2(id)"
        );
        assert_eq!(k[0].definition(None), "PRIMARY KEY (a, b)");
        let r = k[2].references.as_ref().unwrap();
        assert_eq!((r.schema.as_deref(), r.table.as_str()), (Some("s"), "t2"));
        assert_eq!(k[1].columns, ["x"]);
    }

    #[test]
    fn indexes_collect_their_columns_and_flags() {
        let b = batch(vec![
            ("name", texts(vec![Some("pkey"), Some("ix"), Some("ix")])),
            (
                "column",
                texts(vec![Some("id"), Some("a"), Some("lower(b)")]),
            ),
            ("position", Arc::new(Int32Array::from(vec![1, 1, 2]))),
            (
                "unique",
                Arc::new(BooleanArray::from(vec![true, false, false])),
            ),
            ("primary", Arc::new(Int32Array::from(vec![1, 0, 0]))),
        ]);
        let i = indexes(&[b]).unwrap();
        assert_eq!(i.len(), 2);
        assert!(i[0].unique && i[0].primary);
        assert_eq!(i[1].columns, ["a", "lower(b)"]);
        assert!(!i[1].unique && !i[1].primary);
    }

    #[test]
    fn an_answer_in_another_shape_names_the_missing_column() {
        let b = batch(vec![("table_name", Arc::new(StringArray::from(vec!["t"])))]);
        let err = tables(&[b]).unwrap_err();
        assert_eq!(err.column, "schema");
        assert!(err.to_string().contains("schema, name, type"), "{err}");
    }
}
