//! `keeperdb plugins ...`: install, list, inspect, enable, disable, remove and upgrade plugins.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use keeperdb_core::manifest::{CapabilityRequest, PluginKind};
use keeperdb_core::plugins::{Consent, PluginEntry, Staged};
use keeperdb_core::{PathContext, capability};

use crate::exit::Exit;
use crate::safe;
use keeperdb_core::App;

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
    /// Remove the plugin and what it was granted.
    #[command(alias = "rm")]
    Remove {
        /// Plugin id.
        id: String,
    },
}

pub fn run(app: &App, cmd: Command) -> anyhow::Result<()> {
    let store = app.plugins();
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
        Command::List { json } => list(app, json),
        Command::Info { id } => info(app, &id),
        Command::Enable { id } => {
            let changed = store.set_enabled(&id, true)?;
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
            let changed = store.set_enabled(&id, false)?;
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
            let removed = store.remove(&id)?;
            println!("removed {id} {}", removed.version);
            Ok(())
        }
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
    // Unpacked, verified, and (for WASM) the component itself checked before anything is asked.
    let staged = app.stage_plugin(path)?;
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
    let entry = app.plugins().install(
        staged,
        Consent {
            capabilities: true,
            publisher,
        },
    )?;
    println!(
        "installed {} {} ({})",
        entry.id, entry.installed.version, entry.status
    );
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
    table.set_header(["ID", "VERSION", "KIND", "CAPABILITIES", "STATUS"]);
    for e in &entries {
        table.add_row([
            e.id.clone(),
            e.installed.version.to_string(),
            e.installed.kind.to_string(),
            capabilities_text(&e.installed.granted),
            safe::text(&e.status.to_string(), safe::MESSAGE),
        ]);
    }
    for b in &bundled {
        table.add_row([
            b.manifest.id.clone(),
            b.manifest.version.to_string(),
            b.manifest.kind.to_string(),
            capabilities_text(&b.manifest.capabilities),
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
