//! Conversions between one 0.x minor's generated types and the crate's (and the model's) own,
//! field by field, so that nothing outside `v0/` needs the generated ones. Compiled once per
//! minor, against that minor's bindings (`super::`); what differs between minors is in the
//! minor's own folder.

use keeperdb_model::connection::TlsMode;

use super::{keeper_vault, log, types};
use crate::cap::keeper_vault::{Field, Folder};
use crate::cap::log::Level;
use crate::types::{Descriptor, InvalidData, PluginCredentials, PluginError, PluginSecret};

impl From<types::Error> for PluginError {
    fn from(e: types::Error) -> Self {
        match e {
            types::Error::InvalidData(d) => PluginError::InvalidData(InvalidData {
                what: d.what,
                message: d.message,
            }),
            types::Error::Denied(m) => PluginError::Denied(m),
            types::Error::NotFound(m) => PluginError::NotFound(m),
            types::Error::Unavailable(m) => PluginError::Unavailable(m),
            types::Error::Internal(m) => PluginError::Internal(m),
        }
    }
}

impl From<PluginError> for types::Error {
    fn from(e: PluginError) -> Self {
        match e {
            PluginError::InvalidData(d) => types::Error::InvalidData(types::InvalidData {
                what: d.what,
                message: d.message,
            }),
            PluginError::Denied(m) => types::Error::Denied(m),
            PluginError::NotFound(m) => types::Error::NotFound(m),
            PluginError::Unavailable(m) => types::Error::Unavailable(m),
            PluginError::Internal(m) => types::Error::Internal(m),
        }
    }
}

impl From<log::Level> for Level {
    fn from(level: log::Level) -> Self {
        match level {
            log::Level::Trace => Level::Trace,
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warn,
            log::Level::Error => Level::Error,
        }
    }
}

impl From<types::TlsMode> for TlsMode {
    fn from(tls: types::TlsMode) -> Self {
        match tls {
            types::TlsMode::Disable => TlsMode::Disable,
            types::TlsMode::Prefer => TlsMode::Prefer,
            types::TlsMode::Require => TlsMode::Require,
            types::TlsMode::VerifyCa => TlsMode::VerifyCa,
            types::TlsMode::VerifyFull => TlsMode::VerifyFull,
        }
    }
}

impl From<TlsMode> for types::TlsMode {
    fn from(tls: TlsMode) -> Self {
        match tls {
            TlsMode::Disable => types::TlsMode::Disable,
            TlsMode::Prefer => types::TlsMode::Prefer,
            TlsMode::Require => types::TlsMode::Require,
            TlsMode::VerifyCa => types::TlsMode::VerifyCa,
            TlsMode::VerifyFull => types::TlsMode::VerifyFull,
        }
    }
}

impl From<types::Connection> for Descriptor {
    fn from(c: types::Connection) -> Self {
        Descriptor {
            id: c.id,
            name: c.name,
            engine: c.engine,
            host: c.host,
            port: c.port,
            database: c.database,
            user: c.user,
            tls: c.tls.map(Into::into),
            read_only: c.read_only,
            environment: c.environment,
            color: c.color,
            options: c.options,
        }
    }
}

impl From<&Descriptor> for types::Connection {
    fn from(d: &Descriptor) -> Self {
        types::Connection {
            id: d.id.clone(),
            name: d.name.clone(),
            engine: d.engine.clone(),
            host: d.host.clone(),
            port: d.port,
            database: d.database.clone(),
            user: d.user.clone(),
            tls: d.tls.map(Into::into),
            read_only: d.read_only,
            environment: d.environment.clone(),
            color: d.color.clone(),
            options: d.options.clone(),
        }
    }
}

impl From<types::Credentials> for PluginCredentials {
    fn from(c: types::Credentials) -> Self {
        PluginCredentials {
            user: c.user,
            password: c.password.map(|secret| match secret {
                types::Secret::Value(v) => PluginSecret::Value(v),
                types::Secret::VaultField(r) => PluginSecret::VaultField {
                    record_uid: r.record_uid,
                    field: r.field,
                },
            }),
        }
    }
}

impl From<Folder> for keeper_vault::Folder {
    fn from(f: Folder) -> Self {
        keeper_vault::Folder {
            uid: f.uid,
            name: f.name,
            parent_uid: f.parent_uid,
            shared_folder_uid: f.shared_folder_uid,
        }
    }
}

impl From<Field> for keeper_vault::Field {
    fn from(f: Field) -> Self {
        keeper_vault::Field {
            field_type: f.field_type,
            label: f.label,
            value: f.value,
            redacted: f.redacted,
        }
    }
}
