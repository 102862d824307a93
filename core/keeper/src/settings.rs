//! How to reach a vault: its host, an HTTPS proxy, a CA bundle and (for isolated deployments
//! and the emulator) the server's public key. None of it is secret; the KSM application keys
//! are in [`crate::BoundConfig`], kept in the OS credential store by the caller.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::VaultError;

/// Non-secret settings of one vault attachment, as saved beside the other attachments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSettings {
    /// The KSM host (`keepersecurity.com`, `keepersecurity.eu`, ...), from the token.
    pub host: String,
    /// HTTPS proxy, `http://proxy:3128` (without credentials; see [`ProxyUrl`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Extra CA certificates to trust (PEM), beside the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// The server's public key (base64url), for deployments with a key of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_public_key: Option<String>,
    /// The id of that key (a positive integer, as the service numbers its keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_public_key_id: Option<u32>,
}

/// A proxy URL split into what may be saved and the password, which may not.
#[derive(Debug)]
pub struct ProxyUrl {
    /// The URL without a password (a user name, if any, is kept).
    pub url: String,
    /// The password it carried, for the credential store.
    pub password: Option<secrecy::SecretString>,
}

impl ProxyUrl {
    /// Check a proxy URL (`http://` or `https://`, a host, an optional port) and take its
    /// password out. Errors never repeat the password.
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let bad = |why: &str| VaultError::Proxy(why.to_string());
        let mut url = url::Url::parse(text.trim()).map_err(|e| {
            bad(&format!(
                "it is not a URL ({e}); write it as http://host:port"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(&format!(
                "its scheme `{}` is not http or https",
                crate::error::printable(url.scheme())
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("it names no host"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(bad(
                "a proxy URL has no path or query: write it as http://host:port",
            ));
        }
        let password = url.password().map(|p| {
            let decoded = percent_decode(p);
            secrecy::SecretString::from(decoded)
        });
        // Setting a password on a URL that has a host cannot fail.
        let _ = url.set_password(None);
        Ok(Self {
            url: url.as_str().trim_end_matches('/').to_string(),
            password,
        })
    }
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A proxy as shown in messages: scheme, host and port only.
pub(crate) fn display_proxy(proxy: &str) -> String {
    match url::Url::parse(proxy) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or("?"),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "the proxy".into(),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_proxy_password_is_taken_out_of_the_url() {
        let p = ProxyUrl::parse("http://alice:s%40cret@proxy.corp:3128").unwrap();
        assert_eq!(p.url, "http://alice@proxy.corp:3128");
        assert_eq!(p.password.unwrap().expose_secret(), "s@cret");
        let plain = ProxyUrl::parse("http://127.0.0.1:8443/").unwrap();
        assert_eq!(plain.url, "http://127.0.0.1:8443");
        assert!(plain.password.is_none());
    }

    #[test]
    fn bad_proxy_urls_are_refused_naming_what_is_wrong() {
        for (text, why) in [
            ("proxy.corp:3128", "scheme"),
            ("socks5://proxy.corp:1080", "scheme `socks5`"),
            ("http://proxy.corp:3128/path", "no path"),
            ("not a url", "not a URL"),
        ] {
            let err = ProxyUrl::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
        let err = ProxyUrl::parse("ftp://u:hunter2@p")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn proxies_are_shown_without_credentials() {
        assert_eq!(
            display_proxy("http://alice:pw@proxy.corp:3128"),
            "http://proxy.corp:3128"
        );
    }
}
