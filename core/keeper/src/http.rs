//! The HTTP client keeperdb hands the KSM SDK in place of its own: the vault's proxy and CA
//! bundle, timeouts so a dead network fails instead of hanging, and a record of why a request
//! failed, so errors are described in keeperdb's words rather than the transport's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keeper_secrets_manager_core::custom_error::KSMRError;
use keeper_secrets_manager_core::dto::payload::{
    EncryptedPayload, KsmHttpResponse, TransmissionKey,
};
use keeper_secrets_manager_core::utils::bytes_to_base64;
use secrecy::{ExposeSecret, SecretString};

use crate::VaultError;
use crate::settings::VaultSettings;

/// How long to wait for a connection (through the proxy, if any).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the last request failed below HTTP, in keeperdb's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransportFailure {
    /// The TLS handshake failed; the reason is one keeperdb wrote.
    Tls(&'static str),
    /// No connection, or it broke; the reason is one keeperdb wrote.
    Network(&'static str),
}

/// The last transport failure, shared between the post function and the error mapping.
pub(crate) type FailureSlot = Arc<Mutex<Option<TransportFailure>>>;

/// Build the blocking client for `settings`. Must run outside any async runtime (reqwest's
/// blocking client starts one of its own).
pub(crate) fn build_client(
    settings: &VaultSettings,
    proxy_password: Option<&SecretString>,
) -> Result<reqwest::blocking::Client, VaultError> {
    let mut builder = reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("keeperdb/", env!("CARGO_PKG_VERSION")));
    if let Some(proxy) = &settings.proxy {
        let mut url = url::Url::parse(proxy).map_err(|e| VaultError::Proxy(e.to_string()))?;
        if let Some(password) = proxy_password {
            url.set_password(Some(password.expose_secret()))
                .map_err(|()| VaultError::Proxy("it cannot carry a password".into()))?;
        }
        let proxy = reqwest::Proxy::all(url.as_str())
            .map_err(|_| VaultError::Proxy("reqwest refused it".into()))?;
        builder = builder.proxy(proxy);
    }
    if let Some(path) = &settings.ca_bundle {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| VaultError::CaBundle {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| VaultError::CaBundle {
                path: shown.clone(),
                reason: "it is not a PEM file of certificates".into(),
            })?;
        if certs.is_empty() {
            return Err(VaultError::CaBundle {
                path: shown,
                reason: "it holds no certificate".into(),
            });
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|_| VaultError::Client {
        host: settings.host.clone(),
        what: "its HTTP client could not be built".into(),
    })
}

/// The SDK's request, sent with `client`, exactly as the SDK's own post function sends it.
pub(crate) fn post(
    client: &reqwest::blocking::Client,
    slot: &FailureSlot,
    url: String,
    transmission_key: TransmissionKey,
    payload: EncryptedPayload,
) -> Result<KsmHttpResponse, KSMRError> {
    let sent = client
        .post(url)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Length", payload.encrypted_payload.len())
        .header(
            "Authorization",
            format!(
                "Signature {}",
                bytes_to_base64(payload.signature.as_bytes())
            ),
        )
        .header(
            "TransmissionKey",
            bytes_to_base64(&transmission_key.encrypted_key),
        )
        .header("PublicKeyId", transmission_key.public_key_id.to_string())
        .header("Accept-Encoding", "gzip, deflate")
        .body(payload.encrypted_payload)
        .send()
        .and_then(|response| {
            let status = response.status().as_u16();
            response.bytes().map(|body| (status, body))
        });
    match sent {
        Ok((status, body)) => {
            record(slot, None);
            Ok(KsmHttpResponse::new(
                status,
                body.to_vec(),
                String::from_utf8_lossy(&body).into_owned(),
            ))
        }
        Err(e) => {
            record(slot, Some(describe(&e)));
            // The SDK only passes this on; keeperdb describes the failure from the slot.
            Err(KSMRError::HTTPError("transport failure".into()))
        }
    }
}

fn record(slot: &FailureSlot, failure: Option<TransportFailure>) {
    if let Ok(mut last) = slot.lock() {
        *last = failure;
    }
}

/// Sort a reqwest error into one of keeperdb's reasons, reading (never repeating) its chain.
fn describe(e: &reqwest::Error) -> TransportFailure {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        chain.push_str(&s.to_string());
        chain.push('\n');
        source = s.source();
    }
    let has = |needle: &str| chain.contains(needle);
    if has("UnknownIssuer") || has("unknown issuer") {
        return TransportFailure::Tls("its certificate is not signed by a CA this machine trusts");
    }
    if has("NotValidForName") || has("not valid for name") {
        return TransportFailure::Tls("its certificate is not valid for this host name");
    }
    if has("Expired") {
        return TransportFailure::Tls("its certificate has expired");
    }
    if has("certificate") || has("HandshakeFailure") || has("tls handshake") {
        return TransportFailure::Tls("the TLS handshake failed");
    }
    if e.is_timeout() {
        return TransportFailure::Network(
            "no answer in time (the network or a firewall may drop the traffic)",
        );
    }
    if has("dns error") || has("failed to lookup") || has("Name or service not known") {
        return TransportFailure::Network("its host name does not resolve");
    }
    if has("proxy") || has("tunnel") {
        return TransportFailure::Network("the proxy refused or could not open the tunnel");
    }
    if has("Connection refused") {
        return TransportFailure::Network("the connection was refused");
    }
    TransportFailure::Network("the connection broke before an answer arrived")
}
