//! One-time access tokens as Keeper issues them: `[REGION:|host:]<43 characters of base64url>`.

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

use crate::VaultError;

/// The regions a token prefix may name, with the host each one is served from (as the KSM SDK
/// maps them).
pub const REGIONS: [(&str, &str); 6] = [
    ("US", "keepersecurity.com"),
    ("EU", "keepersecurity.eu"),
    ("AU", "keepersecurity.com.au"),
    ("GOV", "govcloud.keepersecurity.us"),
    ("JP", "keepersecurity.jp"),
    ("CA", "keepersecurity.ca"),
];

/// A parsed one-time access token: where it binds, and the token itself (secret).
pub struct OneTimeToken {
    host: String,
    region: Option<&'static str>,
    key: SecretString,
}

impl std::fmt::Debug for OneTimeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneTimeToken")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl OneTimeToken {
    /// Parse what a user pasted. Without a prefix the token binds in the US region, as the
    /// SDK does. The error never repeats the token.
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let text = text.trim();
        let (prefix, key) = match text.rsplit_once(':') {
            Some((prefix, key)) => (Some(prefix.trim()), key.trim()),
            None => (None, text),
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key)
            .map_err(|_| {
                VaultError::MalformedToken(format!(
                    "the part after the region prefix must be base64url ({} characters given, 43 expected)",
                    key.chars().count()
                ))
            })?;
        if bytes.len() != 32 {
            return Err(VaultError::MalformedToken(format!(
                "it decodes to {} bytes, but a one-time token is 32",
                bytes.len()
            )));
        }
        let (host, region) = match prefix {
            None => (REGIONS[0].1.to_string(), Some(REGIONS[0].0)),
            Some(p) => match REGIONS
                .iter()
                .find(|(code, _)| code.eq_ignore_ascii_case(p))
            {
                Some((code, host)) => (host.to_string(), Some(*code)),
                None => (parse_host(p)?, None),
            },
        };
        Ok(Self {
            host,
            region,
            key: SecretString::from(key.to_string()),
        })
    }

    /// The host the token binds at.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The region code, when the prefix named one (or there was none: `US`).
    pub fn region(&self) -> Option<&'static str> {
        self.region
    }

    /// The token in the form the SDK takes (`host:key`), for the one call that binds.
    pub(crate) fn for_sdk(&self) -> SecretString {
        SecretString::from(format!("{}:{}", self.host, self.key.expose_secret()))
    }
}

/// A bare host prefix (`ksm.example.com`, `keepersecurity.eu`); anything else is refused so a
/// typo in a region code is not taken for a host name.
fn parse_host(prefix: &str) -> Result<String, VaultError> {
    let valid = !prefix.is_empty()
        && prefix.len() <= 253
        && prefix.contains('.')
        && prefix
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if valid {
        Ok(prefix.to_ascii_lowercase())
    } else {
        let codes: Vec<&str> = REGIONS.iter().map(|(c, _)| *c).collect();
        Err(VaultError::MalformedToken(format!(
            "its prefix `{}` is neither a region ({}) nor a host name",
            crate::error::printable(prefix),
            codes.join(", ")
        )))
    }
}

/// The region code of a host, if it is one of Keeper's.
pub fn region_of_host(host: &str) -> Option<&'static str> {
    REGIONS.iter().find(|(_, h)| *h == host).map(|(c, _)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "YyIhK5wXFHj36wGBAOmBsxI3v5rIruINrC8KXjyM58c";

    #[test]
    fn region_prefixes_map_to_their_hosts_and_no_prefix_means_us() {
        for (code, host) in REGIONS {
            let t = OneTimeToken::parse(&format!("{code}:{KEY}")).unwrap();
            assert_eq!((t.host(), t.region()), (host, Some(code)));
            let lower = OneTimeToken::parse(&format!("{}:{KEY}", code.to_lowercase())).unwrap();
            assert_eq!(lower.host(), host);
        }
        let bare = OneTimeToken::parse(KEY).unwrap();
        assert_eq!(
            (bare.host(), bare.region()),
            ("keepersecurity.com", Some("US"))
        );
    }

    #[test]
    fn a_bare_host_prefix_is_kept_as_the_host() {
        let t = OneTimeToken::parse(&format!(" ksm.Test.example:{KEY}\n")).unwrap();
        assert_eq!((t.host(), t.region()), ("ksm.test.example", None));
    }

    #[test]
    fn malformed_tokens_are_refused_without_repeating_them() {
        for bad in [
            format!("XX:{KEY}"),
            KEY[..40].to_string(),
            format!("US:{KEY}AAAA"),
            "US:not a token at all!".to_string(),
            String::new(),
        ] {
            let err = OneTimeToken::parse(&bad).unwrap_err().to_string();
            assert!(err.contains("not a one-time access token"), "{bad}: {err}");
            assert!(!err.contains(KEY) && !err.contains(&KEY[..40]), "{err}");
        }
        let err = OneTimeToken::parse(&format!("XX:{KEY}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`XX`") && err.contains("EU"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let t = OneTimeToken::parse(&format!("EU:{KEY}")).unwrap();
        assert!(!format!("{t:?}").contains(KEY));
    }
}
