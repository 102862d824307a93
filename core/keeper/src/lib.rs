//! The Keeper vault behind keeperdb's `keeper-vault` capability.
//!
//! A [`KsmClient`] is one Keeper Secrets Manager client (the official
//! `keeper-secrets-manager-core` SDK) bound to one named vault attachment. It is bound once
//! with a one-time access token ([`KsmClient::bind`], which returns the [`BoundConfig`] to keep
//! in the OS credential store) and reopened from that config afterwards ([`KsmClient::open`]).
//! The SDK is blocking, so each client runs on a thread of its own, never on an async runtime.
//! Requests go through keeperdb's HTTP client: the attachment's HTTPS proxy and CA bundle,
//! timeouts, and failures described in keeperdb's words ([`VaultError`], whose messages never
//! carry a token, key or record content).
//!
//! [`KsmVault`] serves the capability to WASM plugins: records with their secret values
//! withheld, and secrets resolved host-side ([`KsmVault::secret`]) for the driver only.

#![warn(missing_docs)]

mod client;
mod error;
mod http;
mod records;
mod settings;
mod token;
mod vault;

pub use client::{BoundConfig, KsmClient};
pub use error::{VaultError, VaultErrorKind};
pub use settings::{ProxyUrl, VaultSettings};
pub use token::{OneTimeToken, REGIONS, region_of_host};
pub use vault::KsmVault;
