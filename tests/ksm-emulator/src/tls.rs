//! The emulator's PKI: a CA that clients trust through `SSL_CERT_FILE` (made once, or reused
//! from a directory), and a fresh leaf certificate per start for `ksm.test`, `localhost` and
//! `127.0.0.1`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::EmulatorError;

/// File name of the CA certificate inside a CA directory (point `SSL_CERT_FILE` at it).
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside a CA directory (mode 0600).
pub const CA_KEY_FILE: &str = "ca-key.pem";

const CA_NAME: &str = "keeperdb KSM emulator test CA";

/// The host names the leaf certificate always covers.
pub const DEFAULT_HOSTS: [&str; 3] = ["ksm.test", "localhost", "127.0.0.1"];

fn tls_err(what: &str, e: impl std::fmt::Display) -> EmulatorError {
    EmulatorError::Tls(format!("{what}: {e}"))
}

fn io_err(path: &Path, source: std::io::Error) -> EmulatorError {
    EmulatorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Rebuilt identically on every load, so a stored CA key plus these params sign leaves that
/// chain to the stored CA certificate (no certificate parser needed).
fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "keeperdb tests");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

/// Writes `bytes` to `path` through a temp file and a rename, so readers never see half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), EmulatorError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        crate::crypto::random_uid()
    ));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if private {
            opts.mode(0o600);
        }
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| io_err(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(path, e)
    })
}

/// Makes a CA in `dir` unless one is already there, and returns the path of its certificate.
/// Safe to call from several processes at once (they serialise on a lock file).
pub fn make_ca(dir: &Path) -> Result<PathBuf, EmulatorError> {
    load_or_create_ca(dir).map(|_| dir.join(CA_CERT_FILE))
}

fn load_or_create_ca(dir: &Path) -> Result<KeyPair, EmulatorError> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let lock_path = dir.join(".lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_err(&lock_path, e))?;
    lock.lock().map_err(|e| io_err(&lock_path, e))?;
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    let result = if cert_path.exists() && key_path.exists() {
        let pem = fs::read_to_string(&key_path).map_err(|e| io_err(&key_path, e))?;
        KeyPair::from_pem(&pem)
            .map_err(|e| tls_err(&format!("CA key {} is unreadable", key_path.display()), e))
    } else {
        let key = KeyPair::generate().map_err(|e| tls_err("cannot generate the CA key", e))?;
        let cert = ca_params()
            .self_signed(&key)
            .map_err(|e| tls_err("cannot self-sign the CA", e))?;
        write_atomic(&key_path, key.serialize_pem().as_bytes(), true)?;
        write_atomic(&cert_path, cert.pem().as_bytes(), false)?;
        Ok(key)
    };
    let _ = lock.unlock();
    result
}

/// A directory that disappears with the emulator (used when no CA directory was given).
#[derive(Debug)]
pub(crate) struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(crate) struct Tls {
    pub config: Arc<ServerConfig>,
    pub ca_cert_path: PathBuf,
    pub _temp: Option<TempDir>,
}

pub(crate) fn setup(ca_dir: Option<&Path>, extra_hosts: &[String]) -> Result<Tls, EmulatorError> {
    let (dir, temp) = match ca_dir {
        Some(d) => (d.to_path_buf(), None),
        None => {
            let d = std::env::temp_dir().join(format!(
                "keeperdb-ksm-emulator-{}-{}",
                std::process::id(),
                crate::crypto::random_uid()
            ));
            (d.clone(), Some(TempDir(d)))
        }
    };
    let ca_key = load_or_create_ca(&dir)?;
    let issuer = Issuer::new(ca_params(), &ca_key);

    let mut leaf = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "ksm.test");
    leaf.distinguished_name = dn;
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let mut hosts: Vec<String> = DEFAULT_HOSTS.iter().map(|s| s.to_string()).collect();
    hosts.extend(extra_hosts.iter().cloned());
    hosts.dedup();
    for h in &hosts {
        let san =
            match h.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(h.clone().try_into().map_err(|e| {
                    tls_err(&format!("host name {h:?} cannot go in a certificate"), e)
                })?),
            };
        leaf.subject_alt_names.push(san);
    }
    let leaf_key =
        KeyPair::generate().map_err(|e| tls_err("cannot generate the server TLS key", e))?;
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| tls_err("cannot sign the server certificate", e))?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("TLS versions", e))?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .map_err(|e| tls_err("server certificate", e))?;
    Ok(Tls {
        config: Arc::new(config),
        ca_cert_path: dir.join(CA_CERT_FILE),
        _temp: temp,
    })
}
