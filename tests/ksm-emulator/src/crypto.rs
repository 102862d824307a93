//! The KSM primitives, server side (protocol doc §2): AES-256-GCM and AES-256-CBC, ECIES over
//! P-256, ECDSA-P256-SHA256 (DER), the client id HMAC, and the base64 flavours the SDK insists on.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};

/// A primitive failed; the message never contains key material.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CryptoError(pub &'static str);

type Result<T> = std::result::Result<T, CryptoError>;

const GCM_NONCE: usize = 12;
const CBC_IV: usize = 16;
const POINT_LEN: usize = 65;

/// 32 fresh random bytes (an AES key).
pub fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut k);
    k
}

/// A record/folder UID as the service makes them: 16 random bytes, url-safe base64 without
/// padding, never starting with `-` or `_` (the SDK does the same for the UIDs it makes).
pub fn random_uid() -> String {
    loop {
        let mut b = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut b);
        let s = URL_SAFE_NO_PAD.encode(b);
        if !s.starts_with(['-', '_']) {
            return s;
        }
    }
}

const BAD_KEY: CryptoError = CryptoError("AES key is not 32 bytes");

fn gcm(key: &[u8]) -> Result<Aes256Gcm> {
    Aes256Gcm::new_from_slice(key).map_err(|_| BAD_KEY)
}

/// `nonce(12) || ciphertext || tag(16)`, no AAD.
pub fn gcm_encrypt(key: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; GCM_NONCE];
    rand::thread_rng().fill_bytes(&mut nonce);
    let ct = gcm(key)?
        .encrypt(Nonce::from_slice(&nonce), plain)
        .map_err(|_| CryptoError("AES-GCM encryption failed"))?;
    Ok([&nonce[..], &ct].concat())
}

/// Inverse of [`gcm_encrypt`]; fails on a wrong key or any tampering.
pub fn gcm_decrypt(key: &[u8], blob: &[u8]) -> Result<Vec<u8>> {
    let cipher = gcm(key)?;
    if blob.len() < GCM_NONCE + 16 {
        return Err(CryptoError("AES-GCM ciphertext is too short"));
    }
    let (nonce, ct) = blob.split_at(GCM_NONCE);
    cipher
        .decrypt(Nonce::from_slice(nonce), ct)
        .map_err(|_| CryptoError("AES-GCM authentication failed"))
}

type CbcEnc = cbc::Encryptor<aes::Aes256>;
type CbcDec = cbc::Decryptor<aes::Aes256>;

/// `iv(16) || ciphertext`, PKCS#7 padded (folder names and subfolder keys). The service uses
/// CBC, unauthenticated, for folders only; everything else is GCM (doc §2.2, §5).
pub fn cbc_encrypt(key: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let mut iv = [0u8; CBC_IV];
    rand::thread_rng().fill_bytes(&mut iv);
    let enc = CbcEnc::new_from_slices(key, &iv).map_err(|_| BAD_KEY)?;
    let ct = enc.encrypt_padded_vec_mut::<Pkcs7>(plain);
    Ok([&iv[..], &ct].concat())
}

/// Inverse of [`cbc_encrypt`], with the padding removed.
pub fn cbc_decrypt(key: &[u8], blob: &[u8]) -> Result<Vec<u8>> {
    if blob.len() < CBC_IV + 16 || !(blob.len() - CBC_IV).is_multiple_of(16) {
        return Err(CryptoError("AES-CBC ciphertext has a bad length"));
    }
    let (iv, ct) = blob.split_at(CBC_IV);
    let dec = CbcDec::new_from_slices(key, iv).map_err(|_| BAD_KEY)?;
    dec.decrypt_padded_vec_mut::<Pkcs7>(ct)
        .map_err(|_| CryptoError("AES-CBC padding is invalid"))
}

/// The 65-byte uncompressed SEC1 point of a public key.
pub fn public_point(secret: &SecretKey) -> Vec<u8> {
    secret
        .public_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec()
}

fn ecdh_key(secret: &SecretKey, public: &PublicKey) -> [u8; 32] {
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
    Sha256::digest(shared.raw_secret_bytes()).into()
}

/// ECIES as the SDK does it: `ephemeralPub(65) || AES-GCM(SHA-256(ECDH x), plain)`.
#[cfg_attr(not(test), allow(dead_code))]
pub fn ecies_encrypt(recipient_point: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let recipient = PublicKey::from_sec1_bytes(recipient_point)
        .map_err(|_| CryptoError("bad P-256 public key"))?;
    let eph = SecretKey::random(&mut rand::thread_rng());
    let key = ecdh_key(&eph, &recipient);
    Ok([public_point(&eph), gcm_encrypt(&key, plain)?].concat())
}

/// Inverse of [`ecies_encrypt`] with the recipient's private key.
pub fn ecies_decrypt(secret: &SecretKey, blob: &[u8]) -> Result<Vec<u8>> {
    if blob.len() < POINT_LEN + GCM_NONCE + 16 {
        return Err(CryptoError("ECIES blob is too short"));
    }
    let (point, rest) = blob.split_at(POINT_LEN);
    let eph = PublicKey::from_sec1_bytes(point)
        .map_err(|_| CryptoError("ECIES ephemeral key is not a P-256 point"))?;
    gcm_decrypt(&ecdh_key(secret, &eph), rest)
}

/// Verifies an ECDSA-P256-SHA256 DER signature by the holder of `point`.
pub fn verify_signature(point: &[u8], message: &[u8], der_sig: &[u8]) -> bool {
    let Ok(key) = VerifyingKey::from_sec1_bytes(point) else {
        return false;
    };
    let Ok(sig) = DerSignature::from_bytes(der_sig) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}

/// `clientId = b64std(HMAC-SHA512(clientKey, "KEEPER_SECRETS_MANAGER_CLIENT_ID"))` (doc §3.1).
pub fn client_id(client_key: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(client_key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(b"KEEPER_SECRETS_MANAGER_CLIENT_ID");
    STANDARD.encode(mac.finalize().into_bytes())
}

// Two encoders, not one: the SDK decodes each field with one strict decoder, which panics on
// the other padding (doc §2.1).

/// Padded standard base64 (everything inside records, folders and links).
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Unpadded url-safe base64 (UIDs, `appData`, `encryptedAppKey`, the server public key).
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes what a client sends, in either alphabet, padded or not.
pub fn b64_lenient(s: &str) -> Result<Vec<u8>> {
    let mapped: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    LENIENT
        .decode(mapped.as_bytes())
        .map_err(|_| CryptoError("value is not base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcm_round_trip_and_tamper() {
        let k = random_key();
        let mut ct = gcm_encrypt(&k, b"hello").unwrap();
        assert_eq!(gcm_decrypt(&k, &ct).unwrap(), b"hello");
        let last = ct.len() - 1;
        ct[last] ^= 1;
        assert!(gcm_decrypt(&k, &ct).is_err());
    }

    #[test]
    fn cbc_round_trip() {
        let k = random_key();
        let ct = cbc_encrypt(&k, &k).unwrap();
        assert_eq!(ct.len(), 16 + 48);
        assert_eq!(cbc_decrypt(&k, &ct).unwrap(), k);
    }

    #[test]
    fn ecies_round_trip() {
        let s = SecretKey::random(&mut rand::thread_rng());
        let blob = ecies_encrypt(&public_point(&s), &[7u8; 32]).unwrap();
        assert_eq!(blob.len(), 125);
        assert_eq!(ecies_decrypt(&s, &blob).unwrap(), [7u8; 32]);
    }

    #[test]
    fn uid_shape() {
        for _ in 0..50 {
            let u = random_uid();
            assert_eq!(u.len(), 22);
            assert!(!u.starts_with(['-', '_']));
        }
    }

    #[test]
    fn lenient_base64_takes_both_flavours() {
        let bytes = [0xfbu8, 0xff, 0x01, 0x02];
        assert_eq!(b64_lenient(&b64(&bytes)).unwrap(), bytes);
        assert_eq!(b64_lenient(&b64url(&bytes)).unwrap(), bytes);
        assert!(b64_lenient("%%%").is_err());
    }
}
