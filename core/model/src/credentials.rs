//! Credentials resolved at connect time. They are never serialised, never logged, and the
//! password is zeroed when dropped.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// What a driver needs to log in. `Debug` never shows the password.
#[derive(Clone, Default)]
pub struct Credentials {
    /// User name, when the source knows a better one than the connection's.
    pub user: Option<String>,
    /// Password, if the login needs one.
    pub password: Option<SecretString>,
    /// The source keeps no password for this connection by the user's choice: a shell should
    /// ask for one before connecting.
    pub needs_prompt: bool,
}

impl Credentials {
    /// Credentials with a user and a password.
    pub fn new(user: Option<String>, password: Option<SecretString>) -> Self {
        Self {
            user,
            password,
            needs_prompt: false,
        }
    }

    /// No credentials (trust or peer authentication, SQLite files).
    pub fn none() -> Self {
        Self::default()
    }

    /// The password, for handing to a driver at the last moment.
    pub fn expose_password(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.expose_secret())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("needs_prompt", &self.needs_prompt)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_password() {
        let c = Credentials::new(
            Some("app".into()),
            Some(SecretString::from("hunter2-secret")),
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(c.expose_password(), Some("hunter2-secret"));
    }
}
