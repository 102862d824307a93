//! `keeperdb schema CONN`: databases (or schemas), tables and their columns, from the
//! driver's catalog calls. People get sections; csv/json/jsonl get one flat listing with the
//! schema and table name in front of every column row.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use keeperdb_core::driver::CatalogRequest;
use keeperdb_core::format::{self, FormatOptions, OutputFormat};

use crate::exit::{self, Exit};
use crate::session::{self, Session};
use keeperdb_core::App;

/// Arguments of `keeperdb schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// A saved connection (name or id) or a URL (postgres://, mysql://, mariadb://, sqlite:, file.db).
    pub conn: String,
    /// Only this schema (PostgreSQL) or database (MySQL/MariaDB).
    #[arg(long)]
    pub schema: Option<String>,
    /// Only this table.
    #[arg(long)]
    pub table: Option<String>,
    /// Output format [default: table on a terminal, csv otherwise].
    #[arg(long, value_parser = crate::query::parse_format)]
    pub format: Option<OutputFormat>,
    /// Seconds to wait for the server when connecting.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Per-run database, user, password prompt, SQLite file creation.
    #[command(flatten)]
    pub run: crate::session::RunConnect,
}

use keeperdb_core::catalog::Table as TableRef;

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
    let mut tables = session.tables(args.schema.as_deref())?;
    if let Some(only) = &args.table {
        tables.retain(|t| &t.name == only);
        if tables.is_empty() {
            return Err(Exit::new(
                exit::QUERY,
                format!("no table `{only}` in the catalog"),
            ));
        }
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let human = matches!(format, OutputFormat::Table | OutputFormat::Markdown);
    let result = if human {
        sections(&mut session, &args, &tables, format, &mut out)
    } else {
        flat(&mut session, &tables, format, &mut out)
    };
    match result {
        Err(f) if f.code == session::BROKEN_PIPE => Ok(()),
        other => other,
    }
}

fn io_failure(e: io::Error) -> Exit {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Exit::new(session::BROKEN_PIPE, "")
    } else {
        Exit::new(exit::QUERY, format!("cannot write output: {e}"))
    }
}

fn sections(
    session: &mut Session,
    args: &SchemaArgs,
    tables: &[TableRef],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Exit> {
    if args.schema.is_none() && args.table.is_none() {
        let names: Vec<String> = session.databases()?.into_iter().map(|d| d.name).collect();
        let engine = session.engine();
        let label = if *engine == keeperdb_core::Engine::POSTGRES {
            "Databases"
        } else if *engine == keeperdb_core::Engine::SQLITE {
            "Databases (attached)"
        } else {
            "Databases (schemas)"
        };
        writeln!(out, "{label}: {}\n", names.join(", ")).map_err(io_failure)?;
    }
    for t in tables {
        let title = t.qualified();
        match format {
            OutputFormat::Markdown => writeln!(out, "### {title}\n"),
            _ => writeln!(out, "Table {title}"),
        }
        .map_err(io_failure)?;
        session.catalog(
            &CatalogRequest::Columns {
                schema: t.schema.clone(),
                table: t.name.clone(),
            },
            format,
            out,
        )?;
        writeln!(out).map_err(io_failure)?;
    }
    Ok(())
}

fn flat(
    session: &mut Session,
    tables: &[TableRef],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Exit> {
    let options = FormatOptions {
        engine: Some(session.engine().clone()),
        footer: false,
    };
    let mut pages: Vec<RecordBatch> = Vec::new();
    for t in tables {
        let batches = session.catalog_batches(&CatalogRequest::Columns {
            schema: t.schema.clone(),
            table: t.name.clone(),
        })?;
        for b in batches {
            pages.push(with_table_columns(&b, t)?);
        }
    }
    let Some(first) = pages.first() else {
        return Ok(());
    };
    let fail = |e: format::FormatError| match e {
        format::FormatError::Io(io) => io_failure(io),
        other => Exit::new(exit::QUERY, other.to_string()),
    };
    let mut w = format::writer(format, first.schema(), &options, Box::new(out));
    for page in &pages {
        w.write_batch(page).map_err(fail)?;
    }
    w.finish().map_err(fail)
}

/// Put `table_schema` and `table_name` in front of a `Columns` page (unless it has them).
fn with_table_columns(batch: &RecordBatch, t: &TableRef) -> Result<RecordBatch, Exit> {
    let schema = batch.schema();
    let has = |n: &str| schema.fields().iter().any(|f| f.name() == n);
    let mut fields: Vec<Arc<Field>> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let rows = batch.num_rows();
    if !has("table_schema") {
        fields.push(Arc::new(Field::new("table_schema", DataType::Utf8, true)));
        columns.push(Arc::new(StringArray::from(vec![t.schema.clone(); rows])));
    }
    if !has("table_name") {
        fields.push(Arc::new(Field::new("table_name", DataType::Utf8, false)));
        columns.push(Arc::new(StringArray::from(vec![t.name.clone(); rows])));
    }
    fields.extend(schema.fields().iter().cloned());
    columns.extend(batch.columns().iter().cloned());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Exit::new(exit::QUERY, format!("bad catalog answer: {e}")))
}
