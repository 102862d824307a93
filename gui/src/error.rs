//! Errors: the server's own ([`UiError`]), and how any failure reaches the page
//! ([`ApiError`]: a status, a kind the page branches on, and a message it shows as text).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keeperdb_core::driver::{DriverError, DriverErrorKind};
use keeperdb_core::registry::RegistryError;
use serde::Serialize;

/// Why the GUI server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The port could not be bound.
    #[error(
        "cannot listen on 127.0.0.1:{port}: {source}; choose another port or leave it to the system"
    )]
    Bind {
        /// The port asked for (0: any).
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime or the listener failed.
    #[error("the GUI server failed: {0}")]
    Runtime(#[source] std::io::Error),
}

/// The class of a [`UiError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiErrorKind {
    /// The port is taken or not allowed.
    Bind,
    /// The server itself failed.
    Runtime,
}

impl UiError {
    /// The class of this error.
    pub fn kind(&self) -> UiErrorKind {
        match self {
            UiError::Bind { .. } => UiErrorKind::Bind,
            UiError::Runtime(_) => UiErrorKind::Runtime,
        }
    }
}

/// A failure as the page receives it: `{"error": {"kind", "message"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
pub struct Inner<'a> {
    pub kind: &'a str,
    pub message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The JSON body, for streams that report an error as one of their lines.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"kind": self.kind, "message": self.message})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                kind: self.kind,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<DriverError> for ApiError {
    fn from(e: DriverError) -> Self {
        let (status, kind) = match e.kind {
            DriverErrorKind::Query => (StatusCode::UNPROCESSABLE_ENTITY, "query"),
            DriverErrorKind::Auth => (StatusCode::FORBIDDEN, "auth"),
            DriverErrorKind::Connection => (StatusCode::BAD_GATEWAY, "unavailable"),
            DriverErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            DriverErrorKind::Cancelled => (StatusCode::CONFLICT, "cancelled"),
            DriverErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let message = match &e.code {
            Some(code) => format!("{} ({code})", e.message),
            None => e.message.clone(),
        };
        Self::new(status, kind, message)
    }
}

impl From<keeperdb_core::Error> for ApiError {
    fn from(e: keeperdb_core::Error) -> Self {
        use keeperdb_core::{Error, ErrorKind};
        let message = e.to_string();
        match e {
            Error::Driver(d) => d.into(),
            Error::Registry(RegistryError::NotFound(_)) | Error::NoVault(_) => {
                Self::not_found(message)
            }
            Error::Registry(RegistryError::Ambiguous { .. }) => Self::conflict(message),
            other => match other.kind() {
                ErrorKind::Config => Self::invalid(message),
                ErrorKind::Connection | ErrorKind::Source => {
                    Self::new(StatusCode::BAD_GATEWAY, "unavailable", message)
                }
                ErrorKind::Query => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "query", message),
                ErrorKind::Cancelled => Self::new(StatusCode::CONFLICT, "cancelled", message),
            },
        }
    }
}

macro_rules! via_core {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                keeperdb_core::Error::from(e).into()
            }
        }
    )*};
}

via_core!(
    keeperdb_core::store::StoreError,
    keeperdb_core::sync::SyncError,
    keeperdb_core::prefs::PrefError,
    keeperdb_core::url::UrlError,
    RegistryError
);
