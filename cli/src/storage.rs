//! `keeperdb storage ...`: mirror the saved connections and the preferences into an attached
//! Keeper vault (the `KeeperDB Storage` folder), and restore them from there on another
//! machine. Standalone mode only: in gateway mode these commands are hidden and refused.

use clap::Subcommand;
use keeperdb_core::App;
use keeperdb_core::sync::{PlanSummary, StorageStatus, SyncReport, WriteReason};
use serde_json::json;

use crate::vault::time_text;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sync to this attached vault from now on (nothing is written until `storage sync`).
    Enable {
        /// The attached vault (see `keeperdb vault list`).
        #[arg(long)]
        vault: String,
    },
    /// Make the vault mirror the saved connections and the preferences, with live progress.
    Sync {
        /// Only print what a sync would write and remove.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Last sync, pending changes, and what is in the vault but not here.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore connections (passwords into the OS credential store) and preferences from the
    /// vault: what is there but not here, and what another machine changed since.
    Pull {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop syncing. Nothing in the vault is removed.
    Disable,
}

pub fn run(app: &App, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Enable { vault } => {
            let status = app.storage_enable(&vault)?;
            println!(
                "storage sync enabled for vault `{}` (backend {}); run `keeperdb storage sync` to write to it",
                status.vault, status.backend
            );
            print_pending(&status.pending);
        }
        Command::Sync { dry_run, json } => {
            let report = app.storage_sync(dry_run)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report_json(&report))?);
            } else {
                print_report(&report);
            }
        }
        Command::Status { json } => {
            let status = app.storage_status()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status_json(&status))?);
            } else {
                println!("vault:      {}", status.vault);
                println!("backend:    {}", status.backend);
                println!("enabled:    {}", time_text(status.enabled_at));
                println!(
                    "last sync:  {}",
                    status.last_sync.map_or("never".into(), time_text)
                );
                print_pending(&status.pending);
            }
        }
        Command::Pull { json } => {
            let pulled = app.storage_pull()?;
            if json {
                let out = json!({
                    "restored": pulled.restored,
                    "updated": pulled.updated,
                    "passwords": pulled.passwords,
                    "preferences": pulled.preferences,
                    "skipped": pulled.skipped.iter().map(|(n, w)| json!({"name": n, "reason": w})).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!(
                    "restored {} connection(s), updated {}, {} password(s) into the OS credential store{}",
                    pulled.restored.len(),
                    pulled.updated.len(),
                    pulled.passwords,
                    if pulled.preferences {
                        "; preferences restored"
                    } else {
                        ""
                    }
                );
                for (name, why) in &pulled.skipped {
                    eprintln!("keeperdb: not restored: {}: {why}", name.escape_default());
                }
            }
        }
        Command::Disable => {
            app.storage_disable()?;
            println!("storage sync disabled; what it wrote stays in the vault");
        }
    }
    Ok(())
}

/// After a change to a saved connection or a preference: sync when `storage.auto` is on. The
/// change itself is saved either way; a failed sync is a warning, not the command's failure.
pub fn after_change(app: &App) {
    match app.sync_after_change() {
        None => {}
        Some(Ok(report)) if report.applied > 0 => {
            eprintln!("storage: {} change(s) synced", report.applied)
        }
        Some(Ok(_)) => {}
        Some(Err(e)) => eprintln!(
            "keeperdb: the change was saved here, but storage sync failed: {} (run `keeperdb storage sync` to retry)",
            crate::exit::render_core(&e)
        ),
    }
}

fn reason_text(reason: WriteReason) -> &'static str {
    match reason {
        WriteReason::New => "new",
        WriteReason::Edited => "edited",
        WriteReason::Conflict => "edited here and elsewhere; this machine's version wins",
    }
}

fn print_pending(p: &PlanSummary) {
    if p.writes.is_empty() && p.removals.is_empty() && p.duplicates == 0 {
        println!("pending:    nothing ({} item(s) in sync)", p.in_sync);
    } else {
        println!(
            "pending:    {} to write, {} to remove",
            p.writes.len(),
            p.removals.len() + p.duplicates
        );
    }
    print_lists(p);
}

fn print_lists(p: &PlanSummary) {
    for (name, reason) in &p.writes {
        println!(
            "  write   {} ({})",
            name.escape_default(),
            reason_text(*reason)
        );
    }
    for name in &p.removals {
        println!("  remove  {} (removed here)", name.escape_default());
    }
    if !p.only_remote.is_empty() {
        println!(
            "in the vault only (another machine's; `keeperdb storage pull` brings them in): {}",
            p.only_remote.len()
        );
        for name in &p.only_remote {
            println!("  {}", name.escape_default());
        }
    }
    for name in &p.changed_remotely {
        println!(
            "  changed in the vault by another machine: {} (`keeperdb storage pull` takes it)",
            name.escape_default()
        );
    }
    for (name, why) in &p.unreadable {
        eprintln!(
            "keeperdb: unreadable in the vault, left alone: {}: {why}",
            name.escape_default()
        );
    }
}

fn print_report(r: &SyncReport) {
    if r.dry_run {
        println!(
            "dry run: would write {} and remove {}; {} in sync",
            r.plan.writes.len(),
            r.plan.removals.len() + r.plan.duplicates,
            r.plan.in_sync
        );
        print_lists(&r.plan);
        return;
    }
    if r.applied == 0 {
        println!("in sync: nothing to write ({} item(s))", r.plan.in_sync);
    } else {
        println!(
            "synced: {} written, {} removed, {} already in sync",
            r.plan.writes.len(),
            r.plan.removals.len() + r.plan.duplicates,
            r.plan.in_sync
        );
    }
    let mut rest = r.plan.clone();
    rest.writes.retain(|(_, why)| *why == WriteReason::Conflict);
    rest.removals.clear();
    print_lists(&rest);
}

fn summary_json(p: &PlanSummary) -> serde_json::Value {
    json!({
        "in_sync": p.in_sync,
        "writes": p.writes.iter().map(|(n, r)| json!({"name": n, "reason": match r {
            WriteReason::New => "new", WriteReason::Edited => "edited", WriteReason::Conflict => "conflict",
        }})).collect::<Vec<_>>(),
        "removals": p.removals,
        "duplicates": p.duplicates,
        "only_in_vault": p.only_remote,
        "changed_in_vault": p.changed_remotely,
        "unreadable": p.unreadable.iter().map(|(n, w)| json!({"item": n, "reason": w})).collect::<Vec<_>>(),
    })
}

fn report_json(r: &SyncReport) -> serde_json::Value {
    json!({
        "dry_run": r.dry_run,
        "applied": r.applied,
        "rounds": r.rounds,
        "plan": summary_json(&r.plan),
    })
}

fn status_json(s: &StorageStatus) -> serde_json::Value {
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    json!({
        "vault": s.vault,
        "backend": s.backend,
        "enabled_at": secs(s.enabled_at),
        "last_sync": s.last_sync.map(secs),
        "pending": summary_json(&s.pending),
    })
}
