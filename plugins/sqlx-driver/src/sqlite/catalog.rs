//! The catalog queries (databases, tables, columns) in SQLite's pragmas and schema table.

use keeperdb_driver_sdk::CatalogRequest;

use crate::Args;

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub fn catalog_sql(request: &CatalogRequest) -> (String, Args) {
    match request {
        CatalogRequest::Databases => (
            "SELECT name FROM pragma_database_list ORDER BY seq".into(),
            vec![],
        ),
        CatalogRequest::Tables { schema } => {
            let schema = schema.as_deref().unwrap_or("main");
            (
                format!(
                    "SELECT ? AS schema, name, type FROM {}.sqlite_schema \
                     WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name",
                    quote_ident(schema)
                ),
                vec![Some(schema.to_string())],
            )
        }
        CatalogRequest::Columns { schema, table } => (
            "SELECT name, type, (\"notnull\" = 0) AS nullable, dflt_value AS \"default\", \
             cid + 1 AS position FROM pragma_table_info(?, ?) ORDER BY cid"
                .into(),
            vec![
                Some(table.clone()),
                Some(schema.clone().unwrap_or_else(|| "main".into())),
            ],
        ),
    }
}
