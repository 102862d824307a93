//! `keeperdb vault ...`: attach Keeper vaults with a one-time access token, list, refresh and
//! disconnect them. The token is read from a prompt, or from stdin when it is not a terminal;
//! never from a flag, where it would land in shell history and process listings.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::SystemTime;

use clap::Subcommand;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use keeperdb_core::App;
use keeperdb_core::vaults::{AttachRequest, RefreshReport, VaultStatus};
use secrecy::SecretString;
use serde::Serialize;

use crate::exit::{Exit, VAULT};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attach a Keeper vault through a Keeper Secrets Manager application: paste the
    /// application's one-time access token at the prompt (or pipe it on stdin). The token may
    /// carry a region prefix (US:, EU:, AU:, GOV:, JP:, CA:) or a host name.
    Connect {
        /// The name to address this vault by (`NAME/CONNECTION` when names collide).
        #[arg(long)]
        name: String,
        /// HTTPS proxy to reach Keeper through, `http://host:port` (a password in it is kept
        /// in the OS credential store). Without it, HTTPS_PROXY is used when set.
        #[arg(long, value_name = "URL")]
        proxy: Option<String>,
        /// PEM file of extra CA certificates to trust (a proxy that re-signs TLS).
        #[arg(long, value_name = "FILE")]
        ca_bundle: Option<PathBuf>,
        /// The server's public key, for a Keeper deployment with keys of its own (and the
        /// KSM emulator).
        #[arg(long, value_name = "KEY", requires = "server_public_key_id")]
        server_public_key: Option<String>,
        /// The id of that key.
        #[arg(long, value_name = "N", requires = "server_public_key")]
        server_public_key_id: Option<u32>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the attached vaults: region, status, records seen, last refresh.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read the vaults (or one) now and save their listings for offline use.
    Refresh {
        /// Only this vault.
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disconnect a vault: its application config leaves the OS credential store and its
    /// connections are no longer listed.
    Disconnect {
        /// The vault.
        name: String,
    },
}

pub fn run(app: &App, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Connect {
            name,
            proxy,
            ca_bundle,
            server_public_key,
            server_public_key_id,
            json,
        } => {
            // A one-time token cannot be used twice: refuse a bad name before asking for it.
            app.check_vault_attachable(&name)?;
            let token = read_token(&name)?;
            let (status, report) = app.attach_vault(AttachRequest {
                name,
                token,
                proxy,
                ca_bundle,
                server_key: server_public_key.zip(server_public_key_id),
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&Shown::from(&status))?);
            } else {
                println!("attached vault `{}` ({})", status.name, where_text(&status));
                print_report(&report);
            }
            Ok(())
        }
        Command::List { json } => {
            let vaults = app.vaults()?;
            if json {
                let shown: Vec<Shown> = vaults.iter().map(Shown::from).collect();
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else if vaults.is_empty() {
                eprintln!(
                    "no vault attached; attach one with `keeperdb vault connect --name NAME`"
                );
            } else {
                let mut table = Table::new();
                table
                    .load_style(UTF8_FULL_CONDENSED)
                    .set_content_arrangement(ContentArrangement::Dynamic)
                    .set_header([
                        "NAME",
                        "REGION",
                        "STATUS",
                        "RECORDS",
                        "CONNECTIONS",
                        "LAST REFRESH",
                    ]);
                for v in &vaults {
                    let cached = v.cached.as_ref();
                    table.add_row([
                        v.name.clone(),
                        where_text(v),
                        v.state().to_string(),
                        cached.map_or("-".into(), |c| c.records_seen.to_string()),
                        cached.map_or("-".into(), |c| c.connections.len().to_string()),
                        cached
                            .and_then(|c| c.refreshed())
                            .map_or("never".into(), time_text),
                    ]);
                }
                println!("{table}");
                for v in &vaults {
                    if let Some((_, why)) = v.cached.as_ref().and_then(|c| c.last_failure.as_ref())
                    {
                        eprintln!("keeperdb: vault `{}`: last refresh failed: {why}", v.name);
                    }
                }
            }
            Ok(())
        }
        Command::Refresh { name, json } => {
            let reports = app.refresh_vaults(name.as_deref())?;
            if json {
                let shown: Vec<_> = reports
                    .iter()
                    .map(|r| match &r.outcome {
                        Ok((records, connections, skipped)) => serde_json::json!({
                            "name": r.name, "ok": true, "records": records,
                            "connections": connections, "skipped": skipped,
                        }),
                        Err(why) => serde_json::json!({"name": r.name, "ok": false, "error": why}),
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else if reports.is_empty() {
                eprintln!(
                    "no vault attached; attach one with `keeperdb vault connect --name NAME`"
                );
            } else {
                for r in &reports {
                    print_report(r);
                }
            }
            let failed = reports.iter().filter(|r| r.outcome.is_err()).count();
            if failed > 0 {
                return Err(
                    Exit::new(VAULT, format!("{failed} vault(s) could not be refreshed")).into(),
                );
            }
            Ok(())
        }
        Command::Disconnect { name } => {
            app.detach_vault(&name)?;
            println!(
                "disconnected vault `{name}`; its configuration was removed from the credential store"
            );
            Ok(())
        }
    }
}

/// The one-time token, from a prompt without echo, or the first line of stdin.
fn read_token(name: &str) -> anyhow::Result<SecretString> {
    let token = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("One-time access token for vault `{name}`: "))?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(Exit::usage(
            "no one-time access token was given (paste it at the prompt, or pipe it on stdin)",
        )
        .into());
    }
    Ok(SecretString::from(token))
}

fn print_report(report: &RefreshReport) {
    match &report.outcome {
        Ok((records, connections, skipped)) => {
            let skipped = if *skipped > 0 {
                format!(", {skipped} skipped (see `keeperdb connections list`)")
            } else {
                String::new()
            };
            println!(
                "vault `{}`: {records} records, {connections} connections{skipped}",
                report.name
            );
        }
        Err(why) => eprintln!("keeperdb: vault `{}`: {why}", report.name),
    }
}

fn where_text(v: &VaultStatus) -> String {
    match v.region {
        Some(region) => format!("{region}, {}", v.host),
        None => v.host.clone(),
    }
}

/// A time for people: UTC, to the minute.
pub fn time_text(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%d %H:%M UTC")
        .to_string()
}

/// A vault as `--json` shows it.
#[derive(Serialize)]
struct Shown {
    name: String,
    host: String,
    region: Option<&'static str>,
    proxy: Option<String>,
    status: &'static str,
    records_seen: Option<usize>,
    connections: Option<usize>,
    last_refresh: Option<u64>,
    last_failure: Option<String>,
}

impl From<&VaultStatus> for Shown {
    fn from(v: &VaultStatus) -> Self {
        let cached = v.cached.as_ref();
        Shown {
            name: v.name.clone(),
            host: v.host.clone(),
            region: v.region,
            proxy: v.proxy.clone(),
            status: v.state(),
            records_seen: cached.map(|c| c.records_seen),
            connections: cached.map(|c| c.connections.len()),
            last_refresh: cached.and_then(|c| c.refreshed_at),
            last_failure: cached.and_then(|c| c.last_failure.as_ref().map(|(_, w)| w.clone())),
        }
    }
}
