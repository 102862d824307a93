//! `keeperdb schema CONN`: what the catalog says about each table, the same on every engine:
//! its columns (the type with its length or precision, nullability, the default or none),
//! its keys and its indexes. People get a block per table; `--format json` gives one document
//! for scripts, csv and jsonl one row per column. The shell's `\d TABLE` shows the same.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use keeperdb_core::catalog::{Description, KeyKind};
use keeperdb_core::format::{self, FormatOptions, OutputFormat};

use crate::exit::{self, Exit};
use crate::safe;
use crate::session::{self, Session};
use keeperdb_core::App;

/// Arguments of `keeperdb schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// A saved connection (name or id) or a URL (postgres://, mysql://, mariadb://, sqlite:, file.db).
    #[arg(add = crate::complete::connection_names())]
    pub conn: String,
    /// Only this schema (PostgreSQL) or database (MySQL/MariaDB).
    #[arg(long)]
    pub schema: Option<String>,
    /// Only this table (or view).
    #[arg(long)]
    pub table: Option<String>,
    /// Output format [default: table on a terminal, csv otherwise]; json is one document.
    #[arg(long, value_parser = crate::query::parse_format)]
    pub format: Option<OutputFormat>,
    /// Seconds to wait for the server when connecting.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Per-run database, user, password prompt, SQLite file creation.
    #[command(flatten)]
    pub run: crate::session::RunConnect,
}

/// Run the command.
pub fn run(app: &App, args: SchemaArgs) -> Result<(), Exit> {
    session::install_interrupt_handler()?;
    let format = args.format.unwrap_or(if io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Csv
    });
    let mut session = Session::open(
        app,
        &args.conn,
        &args.run,
        Duration::from_secs(args.connect_timeout),
    )?;
    let tables = match &args.table {
        Some(table) => vec![session.describe(args.schema.as_deref(), table)?],
        None => {
            let listed = session.tables(args.schema.as_deref())?;
            let mut described = Vec::with_capacity(listed.len());
            for t in listed {
                described.push(session.describe_table(t)?);
            }
            described
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if is_for_people(format) && args.schema.is_none() && args.table.is_none() {
        let names: Vec<String> = session.databases()?.into_iter().map(|d| d.name).collect();
        let engine = session.engine();
        let label = if *engine == keeperdb_core::Engine::POSTGRES {
            "Databases"
        } else if *engine == keeperdb_core::Engine::SQLITE {
            "Databases (attached)"
        } else {
            "Databases (schemas)"
        };
        let names: Vec<String> = names.iter().map(|n| safe::text(n, safe::FIELD)).collect();
        writeln!(out, "{label}: {}\n", names.join(", ")).map_err(io_failure)?;
    }
    match write(&tables, format, &mut out) {
        Err(f) if f.code == session::BROKEN_PIPE => Ok(()),
        other => other,
    }
}

fn is_for_people(format: OutputFormat) -> bool {
    matches!(
        format,
        OutputFormat::Table | OutputFormat::Markdown | OutputFormat::Expanded
    )
}

/// Write `tables` as `format`: blocks for people, one JSON document, or a row per column.
pub fn write(
    tables: &[Description],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Exit> {
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, tables)
                .map_err(|e| io_failure(io::Error::other(e)))?;
            writeln!(out).map_err(io_failure)
        }
        OutputFormat::Csv | OutputFormat::Jsonl => {
            let batch = flat(tables)?;
            let options = FormatOptions::default();
            let mut w = format::writer(format, batch.schema(), &options, Box::new(out));
            w.write_batch(&batch)
                .and_then(|()| w.finish())
                .map_err(format_failure)
        }
        people => {
            for t in tables {
                describe(t, people, out)?;
            }
            Ok(())
        }
    }
}

/// One table's block: its columns as a table, then its keys and indexes.
fn describe(t: &Description, format: OutputFormat, out: &mut dyn Write) -> Result<(), Exit> {
    let title = match &t.schema {
        Some(s) => format!(
            "{}.{}",
            safe::text(s, safe::FIELD),
            safe::text(&t.name, safe::FIELD)
        ),
        None => safe::text(&t.name, safe::FIELD),
    };
    let what = match t.kind.as_deref() {
        Some(k) if k.to_ascii_uppercase().contains("VIEW") => "View",
        _ => "Table",
    };
    match format {
        OutputFormat::Markdown => writeln!(out, "### {what} {title}\n"),
        _ => writeln!(out, "{what} {title}"),
    }
    .map_err(io_failure)?;
    let text = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
    let columns = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("column", DataType::Utf8, false),
            Field::new("type", DataType::Utf8, false),
            Field::new("nullable", DataType::Utf8, false),
            Field::new("default", DataType::Utf8, false),
        ])),
        vec![
            text(t.columns.iter().map(|c| c.name.clone()).collect()),
            text(
                t.columns
                    .iter()
                    .map(|c| c.type_name.clone().unwrap_or_default())
                    .collect(),
            ),
            text(
                t.columns
                    .iter()
                    .map(|c| match c.nullable {
                        Some(true) => "yes".to_string(),
                        Some(false) => "no".to_string(),
                        None => String::new(),
                    })
                    .collect(),
            ),
            // No default is no text, never the word NULL.
            text(
                t.columns
                    .iter()
                    .map(|c| c.default.clone().unwrap_or_default())
                    .collect(),
            ),
        ],
    )
    .map_err(|e| Exit::new(exit::QUERY, format!("bad catalog answer: {e}")))?;
    let table_format = if format == OutputFormat::Expanded {
        OutputFormat::Table
    } else {
        format
    };
    let mut w = format::writer(
        table_format,
        columns.schema(),
        &FormatOptions::default(),
        Box::new(&mut *out),
    );
    w.write_batch(&columns)
        .and_then(|()| w.finish())
        .map_err(format_failure)?;
    drop(w);
    let names = |columns: &[String]| {
        columns
            .iter()
            .map(|c| safe::text(c, safe::FIELD))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let named = |name: &Option<String>| match name {
        Some(n) => format!("{} ", safe::text(n, safe::FIELD)),
        None => String::new(),
    };
    let mut lines = Vec::new();
    for (kind, heading) in [
        (KeyKind::PrimaryKey, "Primary key"),
        (KeyKind::Unique, "Unique"),
        (KeyKind::ForeignKey, "Foreign keys"),
    ] {
        let keys: Vec<_> = t.keys.iter().filter(|k| k.kind == kind).collect();
        if keys.is_empty() {
            continue;
        }
        lines.push(format!("{heading}:"));
        for k in keys {
            let mut line = format!("  {}({})", named(&k.name), names(&k.columns));
            if let Some(r) = &k.references {
                let table = match &r.schema {
                    Some(s) => format!(
                        "{}.{}",
                        safe::text(s, safe::FIELD),
                        safe::text(&r.table, safe::FIELD)
                    ),
                    None => safe::text(&r.table, safe::FIELD),
                };
                line.push_str(&format!(" references {table} ({})", names(&r.columns)));
            }
            lines.push(line);
        }
    }
    if !t.indexes.is_empty() {
        lines.push("Indexes:".to_string());
        for i in &t.indexes {
            let mut flags = Vec::new();
            if i.primary {
                flags.push("primary key");
            }
            if i.unique {
                flags.push("unique");
            }
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!(" {}", flags.join(", "))
            };
            lines.push(format!(
                "  {} ({}){flags}",
                safe::text(&i.name, safe::FIELD),
                names(&i.columns)
            ));
        }
    }
    if !t.not_described.is_empty() {
        lines.push(format!(
            "(the driver does not describe {})",
            t.not_described.join(" or ")
        ));
    }
    for line in lines {
        writeln!(out, "{line}").map_err(io_failure)?;
    }
    writeln!(out).map_err(io_failure)
}

/// One row per column, the table's schema and name in front, for csv and jsonl.
fn flat(tables: &[Description]) -> Result<RecordBatch, Exit> {
    let rows: Vec<_> = tables
        .iter()
        .flat_map(|t| t.columns.iter().map(move |c| (t, c)))
        .collect();
    let in_primary_key = |t: &Description, column: &str| {
        t.keys
            .iter()
            .any(|k| k.kind == KeyKind::PrimaryKey && k.columns.iter().any(|c| c == column))
    };
    let texts = |f: &dyn Fn(&Description, &keeperdb_core::catalog::Column) -> Option<String>| {
        Arc::new(StringArray::from(
            rows.iter().map(|(t, c)| f(t, c)).collect::<Vec<_>>(),
        )) as ArrayRef
    };
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("table_schema", DataType::Utf8, true),
            Field::new("table_name", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("type", DataType::Utf8, true),
            Field::new("nullable", DataType::Boolean, true),
            Field::new("default", DataType::Utf8, true),
            Field::new("position", DataType::Int64, true),
            Field::new("primary_key", DataType::Boolean, false),
        ])),
        vec![
            texts(&|t, _| t.schema.clone()),
            texts(&|t, _| Some(t.name.clone())),
            texts(&|_, c| Some(c.name.clone())),
            texts(&|_, c| c.type_name.clone()),
            Arc::new(BooleanArray::from(
                rows.iter().map(|(_, c)| c.nullable).collect::<Vec<_>>(),
            )),
            texts(&|_, c| c.default.clone()),
            Arc::new(Int64Array::from(
                rows.iter().map(|(_, c)| c.position).collect::<Vec<_>>(),
            )),
            Arc::new(BooleanArray::from(
                rows.iter()
                    .map(|(t, c)| in_primary_key(t, &c.name))
                    .collect::<Vec<_>>(),
            )),
        ],
    )
    .map_err(|e| Exit::new(exit::QUERY, format!("bad catalog answer: {e}")))
}

fn format_failure(e: format::FormatError) -> Exit {
    match e {
        format::FormatError::Io(io) => io_failure(io),
        other => Exit::new(exit::QUERY, other.to_string()),
    }
}

fn io_failure(e: io::Error) -> Exit {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Exit::new(session::BROKEN_PIPE, "")
    } else {
        Exit::new(exit::QUERY, format!("cannot write output: {e}"))
    }
}
