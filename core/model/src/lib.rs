//! keeperdb-model: the vocabulary every other crate speaks.
//!
//! Connections and their engines, TLS modes and origins; credentials resolved at connect time;
//! preferences; connection URLs; plugin manifests and capability names; and the three plugin
//! interfaces (connection source, storage backend, driver). Nothing here opens a socket, loads
//! a library or writes a file: the hosts and the application core do, in terms of these types.

pub mod capability;
pub mod connection;
pub mod credentials;
pub mod driver;
pub mod engine;
pub mod manifest;
pub mod prefs;
pub mod secrets;
pub mod signature;
pub mod source;
pub mod storage;
pub mod url;

pub use connection::{
    Connection, ConnectionId, ConnectionSpec, Engine, LOCAL_SOURCE_ID, Origin, TlsMode,
};
pub use credentials::Credentials;
pub use prefs::Preferences;

/// The host API version this build serves. The driver table header carries it as
/// `keeperdb_driver_sdk::ffi::HOST_API_VERSION`, the WIT package as `keeperdb:plugin@X.Y.Z`;
/// this is the one place the host reads it from (a test checks the WIT headers agree).
pub const HOST_API_VERSION: semver::Version = semver::Version::new(
    keeperdb_driver_sdk::ffi::HOST_API_VERSION.0 as u64,
    keeperdb_driver_sdk::ffi::HOST_API_VERSION.1 as u64,
    keeperdb_driver_sdk::ffi::HOST_API_VERSION.2 as u64,
);

/// Every host API version this build serves, oldest first; the last is [`HOST_API_VERSION`].
/// A 0.x minor may change what crosses the boundary, so each is served by bindings of its own
/// and a plugin built for an older one keeps working.
pub static SERVED_API_VERSIONS: [semver::Version; 4] = [
    semver::Version::new(0, 1, 0),
    semver::Version::new(0, 2, 0),
    semver::Version::new(0, 3, 0),
    HOST_API_VERSION,
];

/// The newest served API version that `wanted` accepts (a manifest's range, or `^X.Y.Z` for
/// what a component or driver was built against).
pub fn served_api_matching(wanted: &semver::VersionReq) -> Option<&'static semver::Version> {
    SERVED_API_VERSIONS.iter().rev().find(|v| wanted.matches(v))
}

/// The served versions as text, for messages: `0.1.0, 0.2.0, 0.3.0`.
pub fn served_api_list() -> String {
    SERVED_API_VERSIONS
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A TOML error as `line L, column C: message`, for errors that name the place to fix.
pub fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {}", error.message().trim())
        }
        None => error.message().trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn toml_errors_name_line_and_column() {
        let text = "a = 1\nb = = 2\n";
        let err = toml::from_str::<toml::Table>(text).unwrap_err();
        let shown = super::describe_toml_error(text, &err);
        assert!(shown.starts_with("line 2, column "), "{shown}");
    }
}
