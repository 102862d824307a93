//! `keeperdb-ksm-emulator`: run the offline KSM service and print a one-time token plus the
//! client settings that reach it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keeperdb_ksm_emulator::{Emulator, EmulatorConfig, FaultRule, Seed, make_ca};

#[derive(Parser)]
#[command(
    version,
    about = "A local, offline Keeper Secrets Manager service for tests and demos"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make a CA (ca.pem, ca-key.pem) in DIR unless one is there; print the ca.pem path.
    MakeCa {
        /// Directory for the CA.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Seed file (plain folders, records and apps; see the README).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Loopback port (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Reuse (or create) the CA in this directory instead of a temporary one.
    #[arg(long)]
    ca_dir: Option<PathBuf>,
    /// Keep the encrypted vault in this file across restarts.
    #[arg(long)]
    persist: Option<PathBuf>,
    /// Application to issue the token for (default: the first).
    #[arg(long)]
    app: Option<String>,
    /// Fault rule, repeatable: KIND[=VALUE][,endpoint=E][,after=N][,times=N]; KIND is
    /// latency=MS, status=CODE, throttle[=SECONDS], drop, lose-reply, slow-body=MS, truncate[=MS], key-rotation.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// The server key id clients must send: a positive integer, as the service's are.
    #[arg(long, value_name = "N", default_value_t = keeperdb_ksm_emulator::DEFAULT_SERVER_KEY_ID,
          value_parser = parse_key_id, allow_negative_numbers = true)]
    server_key_id: u32,
    /// Print the settings as one JSON line (for scripts).
    #[arg(long)]
    json: bool,
}

/// A server key id: a positive integer (the SDKs send it in decimal; the JavaScript SDK reads
/// it with `Number()`).
fn parse_key_id(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(
            "not a positive integer; server key ids are numbers such as 17, as the service's are"
                .into(),
        ),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keeperdb-ksm-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(Cmd::MakeCa { out }) = cli.command {
        println!("{}", make_ca(&out)?.display());
        return Ok(());
    }
    let a = cli.serve;
    let seed = match &a.seed {
        Some(p) => Seed::from_file(p)?,
        None => return Err("--seed FILE is required (see seeds/demo.json)".into()),
    };
    let faults = a
        .faults
        .iter()
        .map(|s| FaultRule::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let handle = Emulator::start(EmulatorConfig {
        seed,
        listen: SocketAddr::new(a.bind, a.port),
        ca_dir: a.ca_dir,
        persist_path: a.persist,
        faults,
        server_key_id: a.server_key_id,
        ..EmulatorConfig::default()
    })?;
    let token = match &a.app {
        Some(app) => handle.issue_token(app)?,
        None => handle.issue_default_token()?,
    };
    let ca = handle.ca_pem_path().display().to_string();
    let mut out = std::io::stdout().lock();
    if a.json {
        let v = serde_json::json!({
            "token": token,
            "proxy_url": handle.proxy_url(),
            "hostname": handle.hostname(),
            "server_public_key": handle.server_public_key(),
            "server_public_key_id": handle.server_key_id(),
            "ca_cert": ca,
            "listen": handle.addr().to_string(),
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "KSM emulator listening on {} (HTTPS proxy; TLS for ksm.test, localhost, 127.0.0.1)",
            handle.addr()
        )?;
        writeln!(out, "one-time token:        {token}")?;
        writeln!(out, "proxy_url:             {}", handle.proxy_url())?;
        writeln!(out, "server_public_key:     {}", handle.server_public_key())?;
        writeln!(
            out,
            "server_public_key_id:  {}",
            handle.server_public_key_id()
        )?;
        writeln!(out, "CA certificate:        {ca}")?;
        writeln!(out, "trust it with:         export SSL_CERT_FILE={ca}")?;
        writeln!(out, "applications:          {}", handle.apps().join(", "))?;
        writeln!(
            out,
            "(the token binds one client; restart or use --persist to keep state; Ctrl-C stops)"
        )?;
    }
    out.flush()?;
    drop(out);
    // Stop on Ctrl-C / SIGTERM by dropping the handle, which also removes a temporary CA.
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })?;
    let _ = rx.recv();
    drop(handle);
    Ok(())
}
