//! Completion of keeperdb's own command line in bash, zsh, fish, elvish and PowerShell, with
//! the names of the connections this machine lists offered wherever a command takes CONN.
//! The shell asks the binary each time (`COMPLETE=SHELL keeperdb -- ...`), so the names are
//! always the current ones.

use std::io::{self, Write};

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};

/// The variable the shell's completion script sets when it asks for candidates.
pub const VAR: &str = "COMPLETE";

/// Answer a completion request and exit, if this run is one.
pub fn answer_if_asked(command: fn() -> clap::Command) {
    clap_complete::CompleteEnv::with_factory(command)
        .var(VAR)
        .complete();
}

/// Candidates for a CONN argument: the connections `connections list` shows.
pub fn connection_names() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let Ok(app) = keeperdb_core::App::open(crate::config_dir_arg()) else {
            return Vec::new();
        };
        app.connection_names()
            .into_iter()
            // A name a plugin or vault chose goes into the user's command line: never one
            // that could carry a terminal control sequence.
            .filter(|n| !n.chars().any(char::is_control))
            .map(CompletionCandidate::new)
            .collect()
    })
}

/// The script that makes `shell` complete keeperdb (what `COMPLETE=SHELL keeperdb` prints).
pub fn write_registration(shell: clap_complete::Shell, out: &mut dyn Write) -> io::Result<()> {
    let name = shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let Some(completer) = shells.completer(&name) else {
        return Err(io::Error::other(format!(
            "no completion for the shell `{name}`"
        )));
    };
    completer.write_registration(VAR, "keeperdb", "keeperdb", "keeperdb", out)
}
