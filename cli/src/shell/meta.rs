//! The shell's `\` commands, as psql users type them.

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use keeperdb_core::driver::CatalogRequest;
use keeperdb_core::format::{FormatOptions, OutputFormat};
use keeperdb_core::session::Display;
use keeperdb_core::sql::StatementBuffer;

use super::{Live, MAX_INCLUDE_DEPTH, Shell, Step, split_qualified};
use crate::exit::{self, Exit};
use crate::session::{Outcome, RunConnect, Session};

const HELP: &str = "\
Statements end with `;`, `\\g`, or `\\G` (`\\gx`) to show their rows expanded.
  \\q                 quit
  \\c [CONN|DB]       connect to a saved connection or URL, or to another database here
  \\conninfo          say what this shell is connected to
  \\l                 list databases (schemas on MySQL/MariaDB)
  \\dn                list schemas
  \\dt [SCHEMA]       list tables
  \\d [TABLE]         describe a table's columns (TABLE may be SCHEMA.TABLE)
  \\x [on|off]        expanded display: one block per row
  \\pset [OPTION VAL] format, null, pager, truncate, expanded; alone: show them
  \\format NAME       table, csv, json, jsonl, markdown or expanded
  \\timing [on|off]   time each statement
  \\i FILE            run the statements in FILE
  \\o [FILE]          send results to FILE; alone: back to the screen
  \\e [FILE]          edit the statement being typed (or the last one, or FILE) in $VISUAL or
                     $EDITOR, then run what ends with `;`
  \\?                 this help
";

/// Every command, for completion.
pub(crate) const COMMANDS: &[&str] = &[
    "\\q",
    "\\c",
    "\\conninfo",
    "\\l",
    "\\dn",
    "\\dt",
    "\\d",
    "\\x",
    "\\pset",
    "\\format",
    "\\timing",
    "\\i",
    "\\o",
    "\\e",
    "\\?",
];

/// Run one `\` command line.
pub(crate) fn run(shell: &mut Shell, line: &str) -> Result<Step, Exit> {
    let (cmd, rest) = match line.split_once(char::is_whitespace) {
        Some((c, r)) => (c, r.trim()),
        None => (line, ""),
    };
    let arg = rest.split_whitespace().next();
    let result = match cmd {
        "\\q" | "\\quit" => return Ok(Step::Quit),
        "\\?" | "\\h" | "\\help" => {
            shell.write_out(HELP);
            Ok(())
        }
        "\\timing" => set_timing(shell, arg),
        "\\x" => set_expanded(shell, arg),
        "\\format" => set_format(shell, arg),
        "\\pset" => pset(shell, rest),
        "\\l" | "\\list" => catalog(shell, CatalogRequest::Databases),
        "\\dt" => catalog(
            shell,
            CatalogRequest::Tables {
                schema: arg.map(str::to_string),
            },
        ),
        "\\d" => match arg {
            None => catalog(shell, CatalogRequest::Tables { schema: None }),
            Some(name) => describe(shell, name),
        },
        "\\dn" => schemas(shell),
        "\\c" | "\\connect" => connect(shell, arg),
        "\\conninfo" => {
            let text = conninfo(&shell.live.borrow().session);
            shell.write_out(&text);
            Ok(())
        }
        "\\i" | "\\include" => include(shell, arg),
        "\\o" | "\\out" => output(shell, arg),
        "\\e" | "\\edit" => return edit(shell, arg),
        other => Err(Exit::usage(format!(
            "unknown command `{}`; `\\?` lists the commands",
            crate::safe::text(other, crate::safe::FIELD)
        ))),
    };
    match result {
        Ok(()) => Ok(Step::Continue),
        Err(f) if f.code == exit::USAGE || f.code == exit::QUERY => {
            eprintln!("error: {}", f.message);
            if !shell.interactive {
                shell.failed = true;
            }
            Ok(Step::Continue)
        }
        Err(f) => Err(f),
    }
}

/// `on`, `off`, or nothing to flip.
fn on_off(arg: Option<&str>, now: bool) -> Result<bool, Exit> {
    match arg.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(!now),
        Some("on" | "true" | "1") => Ok(true),
        Some("off" | "false" | "0") => Ok(false),
        Some(other) => Err(Exit::usage(format!(
            "expected `on` or `off`, not `{}`",
            crate::safe::text(other, crate::safe::FIELD)
        ))),
    }
}

fn set_timing(shell: &mut Shell, arg: Option<&str>) -> Result<(), Exit> {
    shell.timing = on_off(arg, shell.timing)?;
    say(shell, "Timing", shell.timing);
    Ok(())
}

fn set_expanded(shell: &mut Shell, arg: Option<&str>) -> Result<(), Exit> {
    shell.expanded = on_off(arg, shell.expanded)?;
    say(shell, "Expanded display", shell.expanded);
    Ok(())
}

fn say(shell: &mut Shell, what: &str, on: bool) {
    shell.write_out(&format!("{what} is {}.\n", if on { "on" } else { "off" }));
}

fn set_format(shell: &mut Shell, arg: Option<&str>) -> Result<(), Exit> {
    let Some(name) = arg else {
        return Err(Exit::usage(
            "\\format needs a name: table, csv, json, jsonl, markdown or expanded",
        ));
    };
    let format: OutputFormat = name.parse().map_err(|e| Exit::usage(format!("{e}")))?;
    if format == OutputFormat::Expanded {
        shell.format = OutputFormat::Table;
        shell.expanded = true;
    } else {
        shell.format = format;
    }
    shell.write_out(&format!("Output format is {format}.\n"));
    Ok(())
}

/// `\pset OPTION VALUE`, or `\pset` alone to show every option.
fn pset(shell: &mut Shell, rest: &str) -> Result<(), Exit> {
    let (option, value) = match rest.split_once(char::is_whitespace) {
        Some((o, v)) => (o, Some(v.trim())),
        None if rest.is_empty() => {
            let text = settings(shell);
            shell.write_out(&text);
            return Ok(());
        }
        None => (rest, None),
    };
    let mut display = shell.live.borrow().session.display().clone();
    match option {
        "format" => return set_format(shell, value),
        "expanded" | "x" => return set_expanded(shell, value),
        "null" => {
            // psql's quoting: `\pset null '(null)'`.
            let text = value.unwrap_or("").trim_matches('\'').to_string();
            shell.write_out(&format!(
                "Null display is \"{}\".\n",
                crate::safe::text(&text, crate::safe::FIELD)
            ));
            display.null = (!text.is_empty()).then_some(text);
        }
        "pager" => {
            let on = on_off(value, shell.pager.command().is_some())?;
            shell.pager = if on {
                super::Pager::from_env()
            } else {
                super::Pager::off()
            };
            let text = match shell.pager.command() {
                Some(c) => format!("Pager is `{}`.\n", crate::safe::text(c, crate::safe::FIELD)),
                None if on => "Pager is off: PAGER is set to nothing.\n".to_string(),
                None => "Pager is off.\n".to_string(),
            };
            shell.write_out(&text);
        }
        "truncate" => {
            display.max_width = match value {
                Some("off" | "0") => None,
                Some(n) => Some(n.parse::<usize>().ok().filter(|n| *n >= 2).ok_or_else(|| {
                    Exit::usage("\\pset truncate takes a width of 2 or more characters, or `off`")
                })?),
                None => Some(super::DEFAULT_MAX_WIDTH),
            };
            shell.write_out(&match display.max_width {
                Some(n) => format!("Values wider than {n} characters are cut in tables.\n"),
                None => "Values are shown whole.\n".to_string(),
            });
        }
        // An older spelling: `\pset csv`.
        name if name.parse::<OutputFormat>().is_ok() => return set_format(shell, Some(name)),
        other => {
            return Err(Exit::usage(format!(
                "unknown \\pset option `{}`: format, null, pager, truncate or expanded",
                crate::safe::text(other, crate::safe::FIELD)
            )));
        }
    }
    shell.live.borrow_mut().session.set_display(display);
    Ok(())
}

fn settings(shell: &Shell) -> String {
    let display: Display = shell.live.borrow().session.display().clone();
    format!(
        "format    {}\nexpanded  {}\nnull      \"{}\"\npager     {}\ntruncate  {}\n",
        shell.format,
        if shell.expanded { "on" } else { "off" },
        crate::safe::text(
            display.null.as_deref().unwrap_or("NULL"),
            crate::safe::FIELD
        ),
        shell
            .pager
            .command()
            .map_or("off".to_string(), |c| crate::safe::text(
                c,
                crate::safe::FIELD
            )),
        display
            .max_width
            .map_or("off".to_string(), |n| n.to_string()),
    )
}

fn catalog(shell: &mut Shell, request: CatalogRequest) -> Result<(), Exit> {
    let format = shell.format_now(false);
    shell.show(|live, out| live.session.catalog(&request, format, out))?;
    Ok(())
}

/// `\d TABLE`: what `keeperdb schema --table` shows.
fn describe(shell: &mut Shell, name: &str) -> Result<(), Exit> {
    let (schema, table) = split_qualified(name);
    let described = shell
        .live
        .borrow_mut()
        .session
        .describe(schema.as_deref(), &table)?;
    let format = shell.format_now(false);
    shell.show(|_, out| {
        crate::schema::write(std::slice::from_ref(&described), format, out)?;
        Ok(Outcome::Rows(described.columns.len() as u64))
    })?;
    Ok(())
}

/// `\dn`: the schemas (on MySQL and MariaDB, where a schema is a database: the databases).
fn schemas(shell: &mut Shell) -> Result<(), Exit> {
    let names = shell.live.borrow_mut().session.schemas()?;
    let format = shell.format_now(false);
    shell.show(|live, out| {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "schema",
            DataType::Utf8,
            false,
        )]));
        let rows = names.len() as u64;
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(names))])
            .map_err(|e| Exit::new(exit::QUERY, e.to_string()))?;
        let options = FormatOptions {
            engine: Some(live.session.engine().clone()),
            footer: true,
            null: live.session.display().null.clone(),
            max_width: live.session.display().max_width,
        };
        let mut w = keeperdb_core::format::writer(format, schema, &options, Box::new(out));
        w.write_batch(&batch)
            .and_then(|()| w.finish())
            .map_err(|e| Exit::new(exit::QUERY, e.to_string()))?;
        Ok(Outcome::Rows(rows))
    })?;
    Ok(())
}

/// `\c`: the same connection again, a saved connection or URL, or (a name that is neither)
/// another database of this one. The old connection stays if the new one fails.
fn connect(shell: &mut Shell, arg: Option<&str>) -> Result<(), Exit> {
    let (conn_arg, run) = match arg {
        None => (shell.conn_arg.clone(), shell.run.clone()),
        Some(target)
            if keeperdb_core::looks_like_url(target)
                || shell.app.registry().find(target).is_ok() =>
        {
            (target.to_string(), RunConnect::default())
        }
        Some(database) => (
            shell.conn_arg.clone(),
            RunConnect {
                dbname: Some(database.to_string()),
                ..shell.run.clone()
            },
        ),
    };
    let mut session = match Session::open(shell.app, &conn_arg, &run, shell.connect_timeout) {
        Ok(s) => s,
        Err(f) if f.code == exit::INTERRUPTED => return Err(f),
        Err(f) => {
            return Err(Exit::usage(format!(
                "{}; still connected to `{}`",
                f.message,
                crate::safe::text(
                    &shell.live.borrow().session.connection.spec.name,
                    crate::safe::FIELD
                )
            )));
        }
    };
    session.set_display(shell.live.borrow().session.display().clone());
    let engine = session.engine().clone();
    let text = format!(
        "You are now connected to `{}` ({}).\n",
        crate::safe::text(&session.connection.spec.name, crate::safe::FIELD),
        crate::safe::text(&session.connection.spec.target(), crate::safe::FIELD)
    );
    *shell.live.borrow_mut() = Live {
        session,
        completer: keeperdb_core::completion::Completer::new(engine.clone()),
    };
    shell.buffer = StatementBuffer::new(engine);
    shell.conn_arg = conn_arg;
    shell.run = run;
    shell.write_out(&text);
    Ok(())
}

fn conninfo(session: &Session) -> String {
    let spec = &session.connection.spec;
    let field = |v: Option<&str>| crate::safe::text(v.unwrap_or("(default)"), crate::safe::FIELD);
    let mut text = format!(
        "You are connected to `{}` ({} via {}):\n  engine    {}\n",
        crate::safe::text(&spec.name, crate::safe::FIELD),
        crate::safe::text(&session.connection.origin.badge, crate::safe::FIELD),
        crate::safe::text(&session.connection.origin.source, crate::safe::FIELD),
        spec.engine,
    );
    if spec.engine.is_file_based() {
        text.push_str(&format!(
            "  file      {}\n",
            field(spec.database.as_deref())
        ));
    } else {
        text.push_str(&format!(
            "  host      {}\n  port      {}\n  database  {}\n  user      {}\n",
            field(spec.host.as_deref()),
            spec.port.map_or("(default)".to_string(), |p| p.to_string()),
            field(spec.database.as_deref()),
            field(spec.user.as_deref()),
        ));
    }
    if let Some(env) = &spec.environment {
        text.push_str(&format!(
            "  tagged    {}\n",
            crate::safe::text(env, crate::safe::FIELD)
        ));
    }
    if spec.read_only {
        text.push_str("  read-only: statements that write are refused\n");
    }
    text
}

fn include(shell: &mut Shell, arg: Option<&str>) -> Result<(), Exit> {
    let Some(path) = arg else {
        return Err(Exit::usage("\\i needs a file name"));
    };
    if shell.include_depth >= MAX_INCLUDE_DEPTH {
        return Err(Exit::usage(format!(
            "\\i {path}: files include each other more than {MAX_INCLUDE_DEPTH} deep"
        )));
    }
    let file =
        std::fs::File::open(path).map_err(|e| Exit::usage(format!("cannot read {path}: {e}")))?;
    shell.include_depth += 1;
    let interactive = std::mem::replace(&mut shell.interactive, false);
    let ran = shell.piped(BufReader::new(file));
    shell.interactive = interactive;
    shell.include_depth -= 1;
    ran
}

fn output(shell: &mut Shell, arg: Option<&str>) -> Result<(), Exit> {
    let Some(path) = arg else {
        shell.output = None;
        return Ok(());
    };
    let path = PathBuf::from(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        // Results can be as private as the database they come from.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(&path)
        .map_err(|e| Exit::usage(format!("cannot write {}: {e}", path.display())))?;
    shell.output = Some((path, file));
    Ok(())
}

/// `\e`: the statement being typed (or the last one run, or FILE) in the user's editor; what
/// comes back is taken as typed, so complete statements run and the rest waits for more.
fn edit(shell: &mut Shell, arg: Option<&str>) -> Result<Step, Exit> {
    let (path, temporary) = match arg {
        Some(file) => (PathBuf::from(file), false),
        None => {
            let text = match shell.buffer.take_rest() {
                typed if !typed.trim().is_empty() => typed,
                _ => shell.last.clone(),
            };
            (write_temporary(&text)?, true)
        }
    };
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_string());
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("{editor} \"$1\""), "sh"])
        .arg(&path)
        .status();
    let edited = std::fs::read_to_string(&path);
    if temporary {
        let _ = std::fs::remove_file(&path);
    }
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            return Err(Exit::usage(format!(
                "the editor `{editor}` ended with {s}; nothing was run"
            )));
        }
        Err(e) => {
            return Err(Exit::usage(format!(
                "cannot start the editor `{editor}`: {e}"
            )));
        }
    }
    let edited = edited.map_err(|e| Exit::usage(format!("cannot read {}: {e}", path.display())))?;
    let edited = edited.trim_end_matches('\n');
    shell.edited = Some(edited.to_string());
    for line in edited.lines() {
        if let Step::Quit = shell.handle_line(line)? {
            return Ok(Step::Quit);
        }
    }
    Ok(Step::Continue)
}

/// A private file holding `text`, for the editor.
fn write_temporary(text: &str) -> Result<PathBuf, Exit> {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("keeperdb-edit-{}.sql", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let _ = std::fs::remove_file(&path);
    let mut file = options
        .open(&path)
        .map_err(|e| Exit::usage(format!("cannot write {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .and_then(|()| {
            if text.is_empty() {
                Ok(())
            } else {
                file.write_all(b"\n")
            }
        })
        .map_err(|e| Exit::usage(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}
