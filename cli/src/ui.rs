//! `keeperdb ui`: serve the GUI on 127.0.0.1 and open it in the browser.

use std::io::Write;

use clap::Args;
use keeperdb_core::App;
use keeperdb_gui::Ui;

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct UiArgs {
    /// Listen on this port (default: a free one the system picks).
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Do not open a browser: print the launch URL to stdout.
    #[arg(long)]
    no_open: bool,
}

pub fn run(app: App, args: UiArgs) -> anyhow::Result<()> {
    if !keeperdb_gui::assets_built() {
        return Err(Exit::usage(keeperdb_gui::NOT_BUILT).into());
    }
    let ui = Ui::bind(app, args.port.unwrap_or(0))?;
    let url = ui.launch_url();
    // The URL's token signs in once; it is shown only to the user who started the server.
    if args.no_open {
        println!("{url}");
    } else if let Err(e) = webbrowser::open(&url) {
        eprintln!("keeperdb: cannot open a browser ({e}); open this link:");
        println!("{url}");
    }
    let _ = std::io::stdout().flush();
    eprintln!(
        "keeperdb ui: serving on http://127.0.0.1:{} (Ctrl-C stops it)",
        ui.port()
    );
    Ok(ui.serve()?)
}
