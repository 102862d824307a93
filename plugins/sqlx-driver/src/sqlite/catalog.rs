//! The catalog queries (databases, tables, columns) in SQLite's pragmas and schema table.

use keeperdb_driver_sdk::CatalogRequest;

use crate::Args;

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The database a request names, `main` when it names none.
fn schema_of(schema: &Option<String>) -> String {
    schema.clone().unwrap_or_else(|| "main".into())
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
            vec![Some(table.clone()), Some(schema_of(schema))],
        ),
        // The schemas of SQLite are its attached databases.
        CatalogRequest::Schemas => (
            "SELECT name FROM pragma_database_list ORDER BY seq".into(),
            vec![],
        ),
        // SQLite names neither primary nor foreign keys: their rows carry no name.
        CatalogRequest::Keys { schema, table } => (
            "SELECT name, kind, \"column\", position, ref_schema, ref_table, ref_column FROM ( \
             SELECT 0 AS k, 0 AS grp, NULL AS name, 'PRIMARY KEY' AS kind, name AS \"column\", \
             pk AS position, NULL AS ref_schema, NULL AS ref_table, NULL AS ref_column \
             FROM pragma_table_info(?, ?) WHERE pk > 0 \
             UNION ALL SELECT 1, il.seq, il.name, 'UNIQUE', ii.name, ii.seqno + 1, NULL, NULL, NULL \
             FROM pragma_index_list(?, ?) il, pragma_index_info(il.name, ?) ii \
             WHERE il.origin = 'u' \
             UNION ALL SELECT 2, f.id, NULL, 'FOREIGN KEY', f.\"from\", f.seq + 1, ?, f.\"table\", f.\"to\" \
             FROM pragma_foreign_key_list(?, ?) f) ORDER BY k, grp, position"
                .into(),
            {
                let (t, s) = (Some(table.clone()), Some(schema_of(schema)));
                vec![t.clone(), s.clone(), t.clone(), s.clone(), s.clone(), s.clone(), t, s]
            },
        ),
        CatalogRequest::Indexes { schema, table } => (
            "SELECT il.name AS name, COALESCE(ii.name, '(expression)') AS \"column\", \
             ii.seqno + 1 AS position, il.\"unique\" = 1 AS \"unique\", il.origin = 'pk' AS \"primary\" \
             FROM pragma_index_list(?, ?) il, pragma_index_info(il.name, ?) ii \
             ORDER BY il.origin = 'pk' DESC, il.name, ii.seqno"
                .into(),
            vec![
                Some(table.clone()),
                Some(schema_of(schema)),
                Some(schema_of(schema)),
            ],
        ),
    }
}
