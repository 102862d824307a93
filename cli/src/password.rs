//! Getting a password from the user: never from a flag, only from a prompt on the terminal or
//! from stdin (for scripts).

use std::io::{BufRead, IsTerminal};

use secrecy::SecretString;

use crate::exit::Exit;

/// Read one line from stdin as a password (trailing newline removed).
pub fn from_stdin() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let trimmed = line.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(Exit::usage("--password-stdin: stdin held no password").into());
    }
    Ok(SecretString::from(trimmed.to_string()))
}

/// Ask on the terminal without echo.
pub fn prompt(what: &str) -> anyhow::Result<SecretString> {
    if !std::io::stdin().is_terminal() {
        return Err(Exit::usage(format!(
            "a password is needed for {what}, but there is no terminal to ask on"
        ))
        .into());
    }
    let password = rpassword::prompt_password(format!("Password for {what}: "))?;
    Ok(SecretString::from(password))
}
