//! `keeperdb plugins ...`: install, list, inspect, enable, disable, remove and upgrade plugins.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use keeperdb_core::drivers::{DriverEngines, EngineUse};
use keeperdb_core::manifest::{CapabilityRequest, PluginKind};
use keeperdb_core::plugins::{Consent, PluginEntry, Staged, TemplateLang};
use keeperdb_core::{PathContext, capability};

use crate::exit::Exit;
use crate::safe;
use keeperdb_core::App;

/// `plugins new --kind`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum NewKind {
    /// A connection source (WASM).
    Source,
    /// A storage backend (WASM).
    Storage,
    /// A native database driver (Rust).
    Driver,
}

impl From<NewKind> for PluginKind {
    fn from(kind: NewKind) -> Self {
        match kind {
            NewKind::Source => PluginKind::ConnectionSource,
            NewKind::Storage => PluginKind::StorageBackend,
            NewKind::Driver => PluginKind::Driver,
        }
    }
}

/// `plugins new --lang`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum NewLang {
    /// Rust.
    Rust,
    /// JavaScript (componentize-js).
    Js,
}

impl From<NewLang> for TemplateLang {
    fn from(lang: NewLang) -> Self {
        match lang {
            NewLang::Rust => TemplateLang::Rust,
            NewLang::Js => TemplateLang::Js,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install a plugin from a directory or a .tar.gz holding plugin.toml and its payload.
    /// Installing a newer version of an installed plugin upgrades it.
    Install {
        /// Plugin directory or archive, or the id of a plugin bundled with keeperdb
        /// (`plugins list` shows them).
        path: PathBuf,
        /// Grant the capabilities it asks for without asking (for scripts).
        #[arg(long)]
        allow: bool,
        /// Accept a package that is unsigned, or signed by another publisher than the
        /// installed version's, without asking (for scripts; --allow never implies it).
        #[arg(long)]
        trust_publisher: bool,
    },
    /// Start a new plugin in DIR (new or empty) from a template that builds as it is; the
    /// plugin id is DIR's name. Its README says how to build, pack and install it.
    New {
        /// What the plugin is.
        #[arg(long, value_enum)]
        kind: NewKind,
        /// The language it is written in (a driver is Rust).
        #[arg(long, value_enum, default_value = "rust")]
        lang: NewLang,
        /// The new plugin's directory.
        dir: PathBuf,
    },
    /// Check a plugin's component and make a package `plugins install` accepts: refuses
    /// imports keeperdb does not provide (WASI, ...) and a plugin.toml asking for fewer or more
    /// capabilities than the component imports; writes the payload's sha256 into plugin.toml
    /// and makes `<id>-<version>.tar.gz`.
    Pack {
        /// The plugin directory (with plugin.toml), or its component file (plugin.toml beside it).
        path: PathBuf,
        /// Where to write the archive (default: the plugin's directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Upgrade an installed plugin; asks again only if it wants more capabilities.
    Upgrade {
        /// Plugin directory or archive of the newer version.
        path: PathBuf,
        /// Grant widened capabilities without asking (for scripts).
        #[arg(long)]
        allow: bool,
        /// Accept a package that is unsigned, or signed by another publisher than the
        /// installed version's, without asking (for scripts; --allow never implies it).
        #[arg(long)]
        trust_publisher: bool,
    },
    /// List installed plugins: id, version, kind, capabilities, status.
    #[command(alias = "ls")]
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one plugin in detail.
    Info {
        /// Plugin id.
        id: String,
    },
    /// Load the plugin again.
    Enable {
        /// Plugin id.
        id: String,
    },
    /// Keep the plugin installed but do not load it.
    Disable {
        /// Plugin id.
        id: String,
    },
    /// Remove the plugin and what it was granted. The engines it served go back to the
    /// other drivers that serve them.
    #[command(alias = "rm")]
    Remove {
        /// Plugin id.
        id: String,
    },
    /// Choose the driver that serves an engine, when more than one serves it. Until then
    /// the driver that served it first keeps it.
    Prefer {
        /// Driver plugin id (installed or bundled).
        id: String,
        /// The engine it should serve (postgres, mysql, mariadb, sqlite, ...).
        #[arg(long, value_name = "ENGINE")]
        engine: String,
    },
}

pub fn run(app: &App, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Install {
            path,
            allow,
            trust_publisher,
        } => install(app, &path, allow, trust_publisher, false),
        Command::Upgrade {
            path,
            allow,
            trust_publisher,
        } => install(app, &path, allow, trust_publisher, true),
        Command::New { kind, lang, dir } => {
            let made = keeperdb_core::plugins::new_plugin(&dir, kind.into(), lang.into())?;
            println!(
                "wrote the {} `{}` in {} ({} files); its README.md says how to build, pack and install it",
                match kind {
                    NewKind::Source => "connection source",
                    NewKind::Storage => "storage backend",
                    NewKind::Driver => "driver",
                },
                made.id,
                made.dir.display(),
                made.files.len()
            );
            Ok(())
        }
        Command::Pack { path, out } => {
            let packed = keeperdb_core::plugins::pack(&path, out.as_deref())?;
            let m = &packed.manifest;
            if packed.componentized {
                println!("turned the core module {} into a component", m.payload);
            }
            println!(
                "packed {} {} ({}): {}",
                safe::text(&m.id, safe::FIELD),
                m.version,
                m.kind,
                packed.archive.display()
            );
            println!(
                "sha256 {} written to {}",
                m.sha256,
                packed.manifest_path.display()
            );
            Ok(())
        }
        Command::List { json } => list(app, json),
        Command::Info { id } => info(app, &id),
        Command::Enable { id } => {
            let changed = app.set_plugin_enabled(&id, true)?;
            println!(
                "{id}: {}",
                if changed {
                    "enabled"
                } else {
                    "already enabled"
                }
            );
            Ok(())
        }
        Command::Disable { id } => {
            let changed = app.set_plugin_enabled(&id, false)?;
            println!(
                "{id}: {}",
                if changed {
                    "disabled"
                } else {
                    "already disabled"
                }
            );
            Ok(())
        }
        Command::Remove { id } => {
            let removed = app.remove_plugin(&id)?;
            println!("removed {id} {}", removed.record.version);
            for fallback in &removed.fallbacks {
                match &fallback.served_by {
                    Some(by) => println!("{} is served by `{by}` now", fallback.engine),
                    None => println!("no driver serves {} now", fallback.engine),
                }
            }
            Ok(())
        }
        Command::Prefer { id, engine } => {
            let chosen = app.choose_driver(&id, &engine)?;
            match chosen.before.as_deref() {
                Some(before) if before == chosen.driver => {
                    println!("`{}` serves {} already", chosen.driver, chosen.engine)
                }
                Some(before) => println!(
                    "{} is served by `{}` now (was `{before}`)",
                    chosen.engine, chosen.driver
                ),
                None => println!("{} is served by `{}` now", chosen.engine, chosen.driver),
            }
            Ok(())
        }
    }
}

/// How one engine of driver `id` is used, for a table cell or a line.
fn engine_text(id: &str, e: &EngineUse) -> String {
    match e.served_by.as_deref() {
        Some(by) if by == id => e.engine.to_string(),
        Some(by) => format!("{} (not used: `{by}` serves it)", e.engine),
        None => format!("{} (not used)", e.engine),
    }
}

fn engines_text(d: Option<&DriverEngines>) -> String {
    match d {
        Some(d) if !d.engines.is_empty() => d
            .engines
            .iter()
            .map(|e| engine_text(&d.id, e))
            .collect::<Vec<_>>()
            .join(", "),
        Some(_) => "unknown".into(),
        None => "-".into(),
    }
}

fn engines_json(d: Option<&DriverEngines>) -> serde_json::Value {
    match d {
        Some(d) => serde_json::Value::Array(
            d.engines
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "engine": e.engine.as_str(),
                        "in_use": e.served_by.as_deref() == Some(d.id.as_str()),
                        "served_by": e.served_by,
                    })
                })
                .collect(),
        ),
        None => serde_json::Value::Null,
    }
}

fn describe_header(staged: &Staged) -> String {
    let m = &staged.manifest;
    let mut out = match &staged.replaces {
        Some(old) => format!(
            "Upgrading {} {} -> {} ({})",
            m.id, old.version, m.version, m.kind
        ),
        None => format!("Installing {} {} ({})", m.id, m.version, m.kind),
    };
    if let Some(d) = &m.description {
        out.push_str(&format!("\n  {}", safe::text(d, safe::MESSAGE)));
    }
    out.push_str(&format!("\nPublisher: {}", staged.publisher));
    out
}

fn install(
    app: &App,
    path: &Path,
    allow: bool,
    trust_publisher: bool,
    upgrade_only: bool,
) -> anyhow::Result<()> {
    // Unpacked, verified, and (for WASM) the component itself checked and compiled for this
    // machine before anything is asked; the compiled code is kept for the first load.
    let spinner = crate::progress::spinner(format!(
        "checking {}",
        safe::text(&path.display().to_string(), safe::MESSAGE)
    ));
    let started = std::time::Instant::now();
    let staged = app.stage_plugin(path);
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let staged = staged?;
    if staged.manifest.kind != PluginKind::Driver {
        println!(
            "checked and compiled for this machine in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    if upgrade_only && staged.replaces.is_none() {
        return Err(Exit::usage(format!(
            "plugin `{}` is not installed; use `keeperdb plugins install`",
            staged.manifest.id
        ))
        .into());
    }
    println!("{}", describe_header(&staged));
    if staged.manifest.kind == PluginKind::Driver {
        // A driver is a shared library loaded into keeperdb: no sandbox, no capabilities.
        println!(
            "This is a native driver: it runs as native code with all of your rights (it can read, change and send anything you can, and keeperdb cannot limit it). Install it only if you trust its publisher."
        );
    } else if staged.capabilities.is_empty() {
        println!("It asks for no capabilities (it may only log and report progress).");
    } else {
        // One grant a line, each escaped: a path holding a line feed or an escape sequence
        // cannot hide another line of this prompt.
        println!("It asks to:");
        let here = PathContext::from_process();
        for line in &staged.capabilities {
            let new = if line.new { " (new)" } else { "" };
            println!("  {}{new}: {}", line.name, line.meaning);
            for p in &line.scope {
                println!("      {}", safe::text(p, safe::MESSAGE));
                if line.name == capability::FS_READ {
                    match here.expand(p) {
                        Ok(resolved) if resolved != *p => {
                            println!(
                                "        which is {} here",
                                safe::text(&resolved, safe::MESSAGE)
                            )
                        }
                        Ok(_) => {}
                        Err(e) => println!("        {}", safe::text(&e.to_string(), safe::MESSAGE)),
                    }
                }
            }
        }
    }

    // Who published it is asked first and on its own: a yes to capabilities is not a yes to
    // a stranger replacing a plugin the user trusted.
    let publisher = match staged.publisher_concern() {
        None => false,
        Some(concern) => {
            println!("Warning: {concern}.");
            if trust_publisher {
                println!("Accepted with --trust-publisher.");
                true
            } else if std::io::stdin().is_terminal() {
                ask("Accept this publisher? [y/N] ")?
            } else {
                return Err(Exit::usage(format!(
                    "not installing `{}`: {concern}; pass --trust-publisher to accept it",
                    staged.manifest.id
                ))
                .into());
            }
        }
    };
    if staged.publisher_concern().is_some() && !publisher {
        return Err(Exit::usage(format!(
            "not installing `{}`: its publisher was not accepted",
            staged.manifest.id
        ))
        .into());
    }
    let consent = if !staged.needs_consent() {
        println!("No new capabilities: upgrading without asking.");
        true
    } else if allow {
        println!("Granted with --allow.");
        true
    } else if std::io::stdin().is_terminal() {
        ask("Grant these and install? [y/N] ")?
    } else {
        return Err(Exit::usage(format!(
            "not installing `{}`: consent is needed and stdin is not a terminal; pass --allow to grant what it asks for",
            staged.manifest.id
        )).into());
    };
    if !consent {
        return Err(Exit::usage(format!(
            "not installing `{}`: capabilities not granted",
            staged.manifest.id
        ))
        .into());
    }
    let installed = app.install_plugin(
        staged,
        Consent {
            capabilities: true,
            publisher,
        },
    )?;
    let entry = &installed.entry;
    println!(
        "installed {} {} ({})",
        entry.id, entry.installed.version, entry.status
    );
    let (own, others): (Vec<&EngineUse>, Vec<&EngineUse>) = installed
        .engines
        .iter()
        .partition(|e| e.served_by.as_deref() == Some(entry.id.as_str()));
    if !own.is_empty() {
        let names: Vec<String> = own.iter().map(|e| e.engine.to_string()).collect();
        println!("It serves {}.", names.join(", "));
    }
    for e in others {
        let by = e.served_by.as_deref().unwrap_or("another driver");
        println!(
            "`{id}` also serves {engine}, which `{by}` serves now; it will not be used for {engine} until you choose it: `keeperdb plugins prefer {id} --engine {engine}`",
            id = entry.id,
            engine = e.engine,
        );
    }
    Ok(())
}

fn ask(prompt: &str) -> anyhow::Result<bool> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Capabilities with their scope, for a table cell.
fn capabilities_text<'a>(
    capabilities: impl IntoIterator<Item = (&'a String, &'a CapabilityRequest)>,
) -> String {
    let parts: Vec<String> = capabilities
        .into_iter()
        .map(|(name, r)| {
            let scope: Vec<String> = r
                .paths
                .iter()
                .chain(&r.hosts)
                .map(|p| safe::text(p, safe::FIELD))
                .collect();
            if scope.is_empty() {
                name.clone()
            } else {
                format!("{name} [{}]", scope.join(", "))
            }
        })
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}

/// A plugin shipped with keeperdb that is not installed under its id.
struct Bundled {
    manifest: keeperdb_core::manifest::Manifest,
    status: &'static str,
}

/// The bundle's plugins that no installed plugin shadows. A bundled driver serves its engines
/// as it is; a bundled source or storage backend asks for capabilities, so it waits for
/// `plugins install ID` and its consent.
fn bundled_entries(app: &App, installed: &[PluginEntry]) -> Vec<Bundled> {
    let bundle = app.bundle();
    for problem in &bundle.problems {
        eprintln!("keeperdb: warning: bundled plugin: {problem}");
    }
    bundle
        .plugins
        .into_iter()
        .filter(|(m, _)| !installed.iter().any(|e| e.id == m.id))
        .map(|(manifest, _)| Bundled {
            status: if manifest.kind == PluginKind::Driver {
                "bundled, enabled"
            } else {
                "bundled, not installed"
            },
            manifest,
        })
        .collect()
}

fn list(app: &App, json: bool) -> anyhow::Result<()> {
    let entries = app.plugins().list()?;
    let bundled = bundled_entries(app, &entries);
    let drivers = app.driver_engines();
    let engines_of = |id: &str, kind: PluginKind, bundled: bool| {
        drivers
            .iter()
            .find(|d| kind == PluginKind::Driver && d.id == id && d.bundled == bundled)
    };
    if json {
        let rows: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "id": e.id,
                    "version": e.installed.version.to_string(),
                    "kind": e.installed.kind.as_str(),
                    "badge": e.manifest.as_ref().and_then(|m| m.badge.clone()),
                    "capabilities": e.installed.granted.iter().map(|(name, r)| {
                        serde_json::json!({"name": name, "paths": r.paths, "hosts": r.hosts})
                    }).collect::<Vec<_>>(),
                    "enabled": e.installed.enabled,
                    "publisher": e.installed.publisher().to_string(),
                    "publisher_key": e.installed.publisher,
                    "status": e.status,
                    "bundled": false,
                    "engines": engines_json(engines_of(&e.id, e.installed.kind, false)),
                })
            })
            .chain(bundled.iter().map(|b| {
                serde_json::json!({
                    "id": b.manifest.id,
                    "version": b.manifest.version.to_string(),
                    "kind": b.manifest.kind.as_str(),
                    "badge": b.manifest.badge,
                    "capabilities": b.manifest.capabilities.iter().map(|(name, r)| {
                        serde_json::json!({"name": name, "paths": r.paths, "hosts": r.hosts})
                    }).collect::<Vec<_>>(),
                    "enabled": b.manifest.kind == PluginKind::Driver,
                    "status": b.status,
                    "bundled": true,
                    "engines": engines_json(engines_of(&b.manifest.id, b.manifest.kind, true)),
                })
            }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if entries.is_empty() && bundled.is_empty() {
        println!("No plugins installed. Install one with `keeperdb plugins install PATH`.");
        return Ok(());
    }
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.set_header(["ID", "VERSION", "KIND", "CAPABILITIES", "ENGINES", "STATUS"]);
    for e in &entries {
        table.add_row([
            e.id.clone(),
            e.installed.version.to_string(),
            e.installed.kind.to_string(),
            capabilities_text(&e.installed.granted),
            engines_text(engines_of(&e.id, e.installed.kind, false)),
            safe::text(&e.status.to_string(), safe::MESSAGE),
        ]);
    }
    for b in &bundled {
        table.add_row([
            b.manifest.id.clone(),
            b.manifest.version.to_string(),
            b.manifest.kind.to_string(),
            capabilities_text(&b.manifest.capabilities),
            engines_text(engines_of(&b.manifest.id, b.manifest.kind, true)),
            b.status.to_string(),
        ]);
    }
    println!("{table}");
    if bundled
        .iter()
        .any(|b| b.manifest.kind != PluginKind::Driver)
    {
        println!("Bundled sources are used once installed: `keeperdb plugins install ID`.");
    }
    Ok(())
}

fn info(app: &App, id: &str) -> anyhow::Result<()> {
    let e = app.plugins().info(id)?;
    println!("id:           {}", e.id);
    println!("version:      {}", e.installed.version);
    println!("kind:         {}", e.installed.kind);
    if let Some(m) = &e.manifest {
        if let Some(badge) = &m.badge {
            println!("badge:        {}", safe::text(badge, safe::FIELD));
        }
        if let Some(d) = &m.description {
            println!("description:  {}", safe::text(d, safe::MESSAGE));
        }
        println!("host API:     {}", m.api);
        println!(
            "payload:      {}",
            safe::text(&e.dir.join(&m.payload).display().to_string(), safe::MESSAGE)
        );
    }
    println!("publisher:    {}", e.installed.publisher());
    if let Some(key) = &e.installed.publisher {
        println!("publisher key: ed25519:{key}");
    }
    println!("sha256:       {}", e.installed.sha256);
    println!(
        "status:       {}",
        safe::text(&e.status.to_string(), safe::MESSAGE)
    );
    if e.installed.kind == PluginKind::Driver {
        let drivers = app.driver_engines();
        let d = drivers.iter().find(|d| d.id == e.id && !d.bundled);
        println!("engines:      {}", engines_text(d));
    }
    let lines = e.capability_lines();
    if lines.is_empty() {
        println!("capabilities: none (log and progress only)");
    } else {
        println!("capabilities:");
        for line in lines {
            println!("  {}: {}", line.name, line.meaning);
            for p in &line.scope {
                println!("      {}", safe::text(p, safe::MESSAGE));
            }
        }
    }
    Ok(())
}
