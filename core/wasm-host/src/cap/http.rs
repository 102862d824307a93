//! The `http` capability: requests to the hosts the user granted, over https only.

use std::convert::Infallible;

use wasmtime::component::Linker;

use crate::sanitize::sanitize;
use crate::types::PluginError;

/// Per-instance state of `http`: the granted hosts.
#[derive(Debug, Default)]
pub(crate) struct HttpState {
    pub hosts: Vec<String>,
}

impl HttpState {
    /// Check a request to `url` against the grant. There is no HTTP client behind it yet, so
    /// even an allowed request fails; hence no success type.
    pub(crate) fn send(&self, url: &str) -> Result<Infallible, PluginError> {
        let parsed = url::Url::parse(url).map_err(|e| {
            PluginError::Denied(format!("http: `{}` is not a URL: {e}", sanitize(url)))
        })?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        let hosts = &self.hosts;
        if parsed.scheme() != "https" || !hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
            return Err(PluginError::Denied(format!(
                "http: `{}` is outside this plugin's grant (it may reach: {})",
                sanitize(url),
                if hosts.is_empty() {
                    "nothing".to_string()
                } else {
                    hosts.join(", ")
                }
            )));
        }
        // The seam for an HTTP client: no first-party plugin needs one yet, and pulling one
        // into core for nothing would slow every build.
        Err(PluginError::Unavailable(
            "http: this keeperdb does not implement outgoing requests yet".into(),
        ))
    }
}

/// Link `http` in every WIT version this host serves.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut HttpState,
) -> wasmtime::Result<()> {
    crate::v0::add_http_to_linker(linker, get)
}
