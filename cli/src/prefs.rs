//! `keeperdb prefs ...`

use clap::Subcommand;

use keeperdb_core::App;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print one preference.
    Get {
        /// Dotted key, e.g. `editor.tab_width`.
        key: String,
    },
    /// Change one preference.
    Set {
        /// Dotted key, e.g. `page_size`.
        key: String,
        /// New value.
        value: String,
    },
    /// Print every preference.
    List {
        /// As a JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(app: &App, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Get { key } => println!("{}", app.store().preferences()?.get(&key)?),
        Command::Set { key, value } => {
            let prefs = app.store().set_preference(&key, &value)?;
            println!("{key} = {}", prefs.get(&key)?);
            crate::storage::after_change(app);
        }
        Command::List { json } => {
            let entries = app.store().preferences()?.entries();
            if json {
                let map: serde_json::Map<String, serde_json::Value> = entries
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&map)?);
            } else {
                for (k, v) in entries {
                    println!("{k} = {v}");
                }
            }
        }
    }
    Ok(())
}
