//! `keeperdb connections ...`: the merged listing of every source, and management of the
//! connections keeperdb saves itself.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use keeperdb_core::model::{Connection, Engine, LOCAL_SOURCE_ID, TlsMode};
use keeperdb_core::store::{PasswordChange, PasswordSource};
use serde::Serialize;

use crate::exit::Exit;
use crate::password;
use crate::safe;
use keeperdb_core::App;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the connections of every source, with the source's badge.
    #[command(alias = "ls")]
    List {
        /// As JSON (an array of connections, never with passwords).
        #[arg(long)]
        json: bool,
    },
    /// Save a new connection, from a URL and/or flags.
    Add(AddArgs),
    /// Show one connection (from any source).
    Show {
        /// Name, id, or SOURCE/NAME.
        #[arg(add = crate::complete::connection_names())]
        connection: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a saved connection.
    Edit(EditArgs),
    /// Remove a saved connection and its stored password.
    #[command(alias = "rm")]
    Remove {
        /// Name or id.
        #[arg(add = crate::complete::connection_names())]
        connection: String,
    },
}

/// Fields that `add` and `edit` share.
#[derive(Debug, Args)]
pub struct FieldArgs {
    /// Display name (must be unique among saved connections).
    #[arg(long)]
    name: Option<String>,
    /// Engine id: postgres, mysql, mariadb, sqlite, or any engine an installed driver serves.
    #[arg(long)]
    engine: Option<Engine>,
    /// Server host.
    #[arg(long)]
    host: Option<String>,
    /// Server port.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Default database (for SQLite, the file).
    #[arg(long)]
    database: Option<String>,
    /// User name.
    #[arg(long)]
    user: Option<String>,
    /// TLS mode: disable, prefer, require, verify-ca, verify-full.
    #[arg(long)]
    tls: Option<TlsMode>,
    /// Refuse writes on this connection.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    read_only: Option<bool>,
    /// Environment tag, e.g. production.
    #[arg(long = "env")]
    environment: Option<String>,
    /// Colour of the environment tag (name or #rrggbb).
    #[arg(long)]
    color: Option<String>,
    /// Driver option KEY=VALUE (repeatable).
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse_option)]
    options: Vec<(String, String)>,
}

/// How the password is given; never as a flag value.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct PasswordArgs {
    /// Read the password from the first line of stdin.
    #[arg(long)]
    password_stdin: bool,
    /// Ask for the password now, on the terminal.
    #[arg(long, short = 'W')]
    ask_password: bool,
    /// Store no password: ask for it at every connect.
    #[arg(long)]
    prompt_password: bool,
    /// Forget the stored password (edit only).
    #[arg(long)]
    clear_password: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Connection URL (postgres://, mysql://, mariadb://, sqlite:PATH) or a SQLite file path.
    url: Option<String>,
    #[command(flatten)]
    fields: FieldArgs,
    #[command(flatten)]
    password: PasswordArgs,
    /// Print the saved connection as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// Name or id of the saved connection.
    #[arg(add = crate::complete::connection_names())]
    connection: String,
    #[command(flatten)]
    fields: FieldArgs,
    /// Remove a driver option (repeatable).
    #[arg(long, value_name = "KEY")]
    remove_option: Vec<String>,
    #[command(flatten)]
    password: PasswordArgs,
}

fn parse_option(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

pub fn run(app: &App, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::List { json } => list(app, json),
        Command::Add(args) => add(app, args),
        Command::Show { connection, json } => show(app, &connection, json),
        Command::Edit(args) => edit(app, args),
        Command::Remove { connection } => {
            app.ensure_local(&connection)?;
            let removed = app.store().remove(&connection)?;
            println!("removed {} ({})", removed.spec.name, removed.id);
            crate::storage::after_change(app);
            Ok(())
        }
    }
}

/// A connection as printed: the model plus where its password lives (never the password).
#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    connection: &'a Connection,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<PasswordSource>,
}

fn list(app: &App, json: bool) -> anyhow::Result<()> {
    let listing = app.registry().list();
    for failure in &listing.failures {
        eprintln!(
            "keeperdb: source `{}` could not be listed: {}",
            safe::text(&failure.source, safe::FIELD),
            safe::text(&failure.error.to_string(), safe::MESSAGE)
        );
    }
    if !listing.skipped.is_empty() {
        eprintln!(
            "keeperdb: {} entr{} skipped:",
            listing.skipped.len(),
            if listing.skipped.len() == 1 {
                "y"
            } else {
                "ies"
            }
        );
        for (source, skipped) in &listing.skipped {
            eprintln!(
                "  {}: `{}`: {}",
                safe::text(source, safe::FIELD),
                safe::text(&skipped.entry, safe::FIELD),
                safe::text(&skipped.reason, safe::MESSAGE)
            );
        }
    }
    for (source, stale) in &listing.stale {
        eprintln!(
            "keeperdb: `{}` could not be asked now; showing its listing from {} (connecting needs it): {}",
            safe::text(source, safe::FIELD),
            crate::vault::time_text(stale.refreshed_at),
            safe::text(&stale.reason, safe::MESSAGE)
        );
    }
    let stale_sources: Vec<&str> = listing.stale.iter().map(|(s, _)| s.as_str()).collect();
    let is_stale = |c: &Connection| stale_sources.contains(&c.origin.source.as_str());
    let served: Vec<keeperdb_core::Engine> = app.engines().into_iter().map(|s| s.id).collect();
    let has_driver = |c: &Connection| served.contains(&c.spec.engine);
    if json {
        #[derive(Serialize)]
        struct Listed<'a> {
            #[serde(flatten)]
            connection: &'a Connection,
            /// Whether an available driver serves its engine.
            driver: bool,
            /// Listed from what its source saved earlier: the source cannot be reached now.
            stale: bool,
        }
        let rows: Vec<Listed<'_>> = listing
            .connections
            .iter()
            .map(|c| Listed {
                connection: c,
                driver: has_driver(c),
                stale: is_stale(c),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if listing.connections.is_empty() {
        eprintln!("no connections yet; add one with `keeperdb connections add URL`");
    } else {
        let mut table = Table::new();
        table
            .load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(["NAME", "SOURCE", "ENGINE", "TARGET", "ENV", "FLAGS"]);
        // Colour on a terminal (comfy-table's own check), never with NO_COLOR, always with
        // CLICOLOR_FORCE (the usual conventions).
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            table.force_no_tty();
        } else if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") {
            table.enforce_styling();
        }
        for c in &listing.connections {
            let mut flags = Vec::new();
            if c.spec.read_only {
                flags.push("read-only");
            }
            if !has_driver(c) {
                flags.push("no driver");
            }
            if is_stale(c) {
                flags.push("stale");
            }
            let flags = flags.join(", ");
            let source = match &c.origin.vault {
                Some(vault) => format!("{} {vault}", c.origin.badge),
                None => c.origin.badge.clone(),
            };
            let mut env = Cell::new(safe::opt(c.spec.environment.as_deref()));
            if let Some((r, g, b)) = c.spec.tag_rgb() {
                env = env.fg(Color::Rgb { r, g, b });
            }
            // Every cell but the flags came from a source: escaped, so none can draw a row.
            table.add_row(vec![
                Cell::new(safe::text(&c.spec.name, safe::FIELD)),
                Cell::new(safe::text(&source, safe::FIELD)),
                Cell::new(safe::text(c.spec.engine.as_str(), safe::FIELD)),
                Cell::new(safe::text(&c.spec.target(), safe::FIELD)),
                env,
                Cell::new(&flags),
            ]);
        }
        println!("{table}");
    }
    if listing.failures.is_empty() {
        return Ok(());
    }
    // A broken local store is a configuration problem; any other source is the vault's or a
    // plugin's.
    let only_local = listing.failures.iter().all(|f| f.source == LOCAL_SOURCE_ID);
    Err(anyhow::Error::new(Exit {
        code: if only_local {
            crate::exit::USAGE
        } else {
            crate::exit::VAULT
        },
        message: format!("{} source(s) failed to list", listing.failures.len()),
    }))
}

fn show(app: &App, key: &str, json: bool) -> anyhow::Result<()> {
    let connection = app.registry().find(key)?;
    let password = if connection.origin.source == LOCAL_SOURCE_ID {
        app.store().get(connection.id.as_str())?.password
    } else {
        None
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Shown {
                connection: &connection,
                password
            })?
        );
        return Ok(());
    }
    let c = &connection;
    let mut rows: Vec<(&str, String)> = vec![
        ("name", c.spec.name.clone()),
        ("id", c.id.to_string()),
        (
            "source",
            format!("{} ({})", c.origin.badge, c.origin.source),
        ),
        ("engine", c.spec.engine.to_string()),
    ];
    let optional = [
        ("host", c.spec.host.clone()),
        ("port", c.spec.effective_port().map(|p| p.to_string())),
        ("database", c.spec.database.clone()),
        ("user", c.spec.user.clone()),
    ];
    rows.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    if !c.spec.engine.is_file_based() {
        rows.push(("tls", c.spec.tls.to_string()));
    }
    rows.push(("read-only", c.spec.read_only.to_string()));
    if let Some(env) = &c.spec.environment {
        rows.push(("environment", env.clone()));
    }
    if let Some(color) = &c.spec.color {
        rows.push(("color", color.clone()));
    }
    for (k, v) in &c.spec.options {
        rows.push(("option", format!("{k}={v}")));
    }
    let password = match password {
        Some(PasswordSource::Keyring) => "stored in the OS credential store",
        Some(PasswordSource::Prompt) => "asked at connect time",
        None if c.origin.source == LOCAL_SOURCE_ID => "none",
        None => "fetched from the source at connect time",
    };
    rows.push(("password", password.to_string()));
    for (k, v) in rows {
        println!("{k:>12}: {}", safe::text(&v, safe::MESSAGE));
    }
    Ok(())
}

fn add(app: &App, args: AddArgs) -> anyhow::Result<()> {
    let mut connection = match &args.url {
        Some(url) => {
            let parsed = app.parse_url(url)?;
            if parsed.password.is_some() {
                return Err(Exit::usage(
                    "the URL contains a password; passwords are never taken on the command line (they end up in shell history and process lists). Leave it out and use --password-stdin or --ask-password",
                ).into());
            }
            parsed.connection
        }
        None => {
            let engine = args.fields.engine.clone().ok_or_else(|| {
                Exit::usage("give a connection URL, or at least --engine (and --host/--database)")
            })?;
            Connection::new_local(engine, "")
        }
    };
    apply_fields(&mut connection, &args.fields);
    absolutize_file_path(&mut connection)?;
    if connection.spec.name.is_empty() {
        connection.spec.name = connection.spec.target();
    }
    if args.password.clear_password {
        return Err(Exit::usage("--clear-password only applies to `connections edit`").into());
    }
    let change = password_change(&args.password, &connection.spec.name)?;
    let saved = app.store().add(connection, change)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Shown {
                connection: &saved.connection,
                password: saved.password
            })?
        );
    } else {
        println!(
            "saved {} ({})",
            saved.connection.spec.name, saved.connection.id
        );
    }
    crate::storage::after_change(app);
    Ok(())
}

fn edit(app: &App, args: EditArgs) -> anyhow::Result<()> {
    app.ensure_local(&args.connection)?;
    let name = app.store().get(&args.connection)?.connection.spec.name;
    let change = if args.password.clear_password {
        PasswordChange::Clear
    } else {
        password_change(&args.password, &name)?
    };
    let cwd = std::env::current_dir()?;
    let saved = app.store().edit(&args.connection, change, |mut c| {
        apply_fields(&mut c, &args.fields);
        for key in &args.remove_option {
            c.spec.options.remove(key);
        }
        absolutize_in(&mut c, &cwd);
        c
    })?;
    println!(
        "updated {} ({})",
        saved.connection.spec.name, saved.connection.id
    );
    crate::storage::after_change(app);
    Ok(())
}

fn apply_fields(c: &mut Connection, f: &FieldArgs) {
    if let Some(v) = &f.name {
        c.spec.name = v.clone();
    }
    if let Some(v) = &f.engine {
        c.spec.engine = v.clone();
    }
    if let Some(v) = &f.host {
        c.spec.host = Some(v.clone());
    }
    if let Some(v) = f.port {
        c.spec.port = Some(v);
    }
    if let Some(v) = &f.database {
        c.spec.database = Some(v.clone());
    }
    if let Some(v) = &f.user {
        c.spec.user = Some(v.clone());
    }
    if let Some(v) = f.tls {
        c.spec.tls = v;
    }
    if let Some(v) = f.read_only {
        c.spec.read_only = v;
    }
    if let Some(v) = &f.environment {
        c.spec.environment = (!v.is_empty()).then(|| v.clone());
    }
    if let Some(v) = &f.color {
        c.spec.color = (!v.is_empty()).then(|| v.clone());
    }
    let options: BTreeMap<String, String> = f.options.iter().cloned().collect();
    c.spec.options.extend(options);
}

/// A relative SQLite path means "relative to where I am now"; saved as it is, it would point
/// somewhere else from the next directory.
fn absolutize_file_path(c: &mut Connection) -> anyhow::Result<()> {
    absolutize_in(c, &std::env::current_dir()?);
    Ok(())
}

fn absolutize_in(c: &mut Connection, cwd: &std::path::Path) {
    if !c.spec.engine.is_file_based() {
        return;
    }
    if let Some(path) = &c.spec.database
        && std::path::Path::new(path).is_relative()
        && path != ":memory:"
    {
        c.spec.database = Some(cwd.join(path).to_string_lossy().into_owned());
    }
}

fn password_change(p: &PasswordArgs, name: &str) -> anyhow::Result<PasswordChange> {
    Ok(if p.password_stdin {
        PasswordChange::Set(password::from_stdin()?)
    } else if p.ask_password {
        PasswordChange::Set(password::prompt(name)?)
    } else if p.prompt_password {
        PasswordChange::Prompt
    } else {
        PasswordChange::Keep
    })
}
