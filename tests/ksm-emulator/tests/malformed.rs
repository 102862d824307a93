//! Hand-made requests (an independent client implementation, not the SDK) probing how the
//! emulator answers bad input: the service's error envelopes, never a crash.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use hmac::{Hmac, Mac};
use keeperdb_ksm_emulator::EmulatorHandle;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand::RngCore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};

// Deliberately not the emulator's own crypto module: a mistake shared by both sides would
// otherwise go unnoticed.
fn gcm_enc(key: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    let mut out = nonce.to_vec();
    out.extend(
        Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(Nonce::from_slice(&nonce), plain)
            .unwrap(),
    );
    out
}

fn gcm_dec(key: &[u8], blob: &[u8]) -> Vec<u8> {
    Aes256Gcm::new_from_slice(key)
        .unwrap()
        .decrypt(Nonce::from_slice(&blob[..12]), &blob[12..])
        .expect("decrypts")
}

fn point(s: &SecretKey) -> Vec<u8> {
    s.public_key().to_encoded_point(false).as_bytes().to_vec()
}

struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "error bodies are plaintext JSON, got {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Raw HTTP over TLS through the emulator's CONNECT tunnel.
fn tunnel(emu: &EmulatorHandle) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    tls_stream(emu, true, "ksm.test")
}

fn tls_stream(
    emu: &EmulatorHandle,
    via_connect: bool,
    host: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut tcp = TcpStream::connect(emu.addr()).unwrap();
    if via_connect {
        let connect = format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n");
        tcp.write_all(connect.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            tcp.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
    }
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(emu.ca_pem_path()).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn = rustls::ClientConnection::new(
        Arc::new(cfg),
        ServerName::try_from(host.to_string()).unwrap(),
    )
    .unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

fn read_reply(s: &mut impl Read) -> Reply {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(n)) = resp.parse(&buf) {
            let len: usize = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .unwrap_or(0);
            let status = resp.code.unwrap();
            while buf.len() < n + len {
                let k = s.read(&mut chunk).unwrap();
                assert!(k > 0, "connection closed mid-body");
                buf.extend_from_slice(&chunk[..k]);
            }
            return Reply {
                status,
                body: buf[n..n + len].to_vec(),
            };
        }
        let k = s.read(&mut chunk).unwrap();
        assert!(k > 0, "connection closed before a reply");
        buf.extend_from_slice(&chunk[..k]);
    }
}

fn exchange(s: &mut (impl Read + Write), bytes: &[u8]) -> Reply {
    s.write_all(bytes).unwrap();
    s.flush().unwrap();
    read_reply(s)
}

fn raw_request(emu: &EmulatorHandle, bytes: &[u8]) -> Reply {
    exchange(&mut tunnel(emu), bytes)
}

/// The request headers a tamper function may change: TransmissionKey, PublicKeyId,
/// Authorization, in that order.
type Headers = Vec<(String, String)>;

/// A KSM client written from the protocol doc.
struct RawClient {
    client_key: Vec<u8>,
    client_id: String,
    device: SecretKey,
    server: PublicKey,
    key_id: String,
}

struct Sent {
    reply: Reply,
    tk: Vec<u8>,
}

impl RawClient {
    fn new(emu: &EmulatorHandle) -> Self {
        let token = emu.issue_default_token().unwrap();
        Self::with_token(emu, &token)
    }

    fn with_token(emu: &EmulatorHandle, token: &str) -> Self {
        let (_, tok) = token.split_once(':').unwrap();
        let client_key = URL_SAFE_NO_PAD.decode(tok).unwrap();
        let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(&client_key).unwrap();
        mac.update(b"KEEPER_SECRETS_MANAGER_CLIENT_ID");
        let server =
            PublicKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(emu.server_public_key()).unwrap())
                .unwrap();
        RawClient {
            client_key,
            client_id: STANDARD.encode(mac.finalize().into_bytes()),
            device: SecretKey::random(&mut rand::thread_rng()),
            server,
            key_id: emu.server_public_key_id(),
        }
    }

    fn payload(&self, bind: bool) -> Value {
        json!({
            "clientVersion": "mr17.3.0",
            "clientId": self.client_id,
            "publicKey": bind.then(|| STANDARD.encode(point(&self.device))),
        })
    }

    /// Builds and sends a request; `tamper` may change any part before it goes out.
    fn send(
        &self,
        emu: &EmulatorHandle,
        endpoint: &str,
        payload: &[u8],
        tamper: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>, &mut Headers),
    ) -> Sent {
        let mut tk = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut tk);
        let eph = SecretKey::random(&mut rand::thread_rng());
        let shared = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), self.server.as_affine());
        let mut etk = point(&eph);
        etk.extend(gcm_enc(&Sha256::digest(shared.raw_secret_bytes()), &tk));
        let mut body = gcm_enc(&tk, payload);
        let mut signed = etk.clone();
        signed.extend_from_slice(&body);
        let sig: DerSignature = SigningKey::from(&self.device).sign(&signed);
        let mut headers = vec![
            ("TransmissionKey".to_string(), STANDARD.encode(&etk)),
            ("PublicKeyId".to_string(), self.key_id.clone()),
            (
                "Authorization".to_string(),
                format!("Signature {}", STANDARD.encode(sig.as_bytes())),
            ),
        ];
        tamper(&mut etk, &mut body, &mut headers);
        let mut req = format!(
            "POST /api/rest/sm/v1/{endpoint} HTTP/1.1\r\nHost: ksm.test\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(&body);
        Sent {
            reply: raw_request(emu, &bytes),
            tk: tk.to_vec(),
        }
    }

    /// Sends `payload` as it is, untampered.
    fn send_plain(&self, emu: &EmulatorHandle, endpoint: &str, payload: &[u8]) -> Reply {
        self.send(emu, endpoint, payload, |_, _, _| {}).reply
    }

    /// A `get_secret` (binding when `bind`), changed by `tamper` before it goes out.
    fn get_secret_tampered(
        &self,
        emu: &EmulatorHandle,
        bind: bool,
        tamper: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>, &mut Headers),
    ) -> Reply {
        let payload = self.payload(bind).to_string();
        self.send(emu, "get_secret", payload.as_bytes(), tamper)
            .reply
    }

    fn get_secret(&self, emu: &EmulatorHandle, bind: bool) -> Sent {
        let payload = self.payload(bind).to_string();
        self.send(emu, "get_secret", payload.as_bytes(), |_, _, _| {})
    }
}

fn assert_error(r: &Reply, status: u16, code: &str, message_part: &str) {
    let v = r.json();
    assert_eq!((r.status, v["error"].as_str()), (status, Some(code)), "{v}");
    let msg = v["message"].as_str().unwrap_or("");
    assert!(
        msg.contains(message_part),
        "message {msg:?} lacks {message_part:?}"
    );
}

#[test]
fn independent_client_binds_and_decrypts_the_app_key() {
    let emu = start_demo();
    let c = RawClient::new(&emu);
    let sent = c.get_secret(&emu, true);
    assert_eq!(sent.reply.status, 200);
    let v: Value = serde_json::from_slice(&gcm_dec(&sent.tk, &sent.reply.body)).unwrap();
    let eak = v["encryptedAppKey"]
        .as_str()
        .expect("encryptedAppKey on binding");
    assert!(!eak.contains('='), "encryptedAppKey must be unpadded");
    assert_eq!(
        gcm_dec(&c.client_key, &URL_SAFE_NO_PAD.decode(eak).unwrap()).len(),
        32
    );
    assert!(v["records"].is_array() && v["folders"].is_array());
    // After binding the app key is never sent again (the SDK would panic on it).
    let again = c.get_secret(&emu, false);
    let v: Value = serde_json::from_slice(&gcm_dec(&again.tk, &again.reply.body)).unwrap();
    assert!(v["encryptedAppKey"].is_null(), "{}", v["encryptedAppKey"]);
}

#[test]
fn replayed_token_with_another_key_is_refused() {
    let emu = start_demo();
    let token = emu.issue_default_token().unwrap();
    let first = RawClient::with_token(&emu, &token);
    assert_eq!(first.get_secret(&emu, true).reply.status, 200);
    let thief = RawClient::with_token(&emu, &token);
    assert_error(
        &thief.get_secret(&emu, true).reply,
        403,
        "access_denied",
        "Signature is invalid",
    );
    assert_eq!(
        first.get_secret(&emu, false).reply.status,
        200,
        "the rightful client is unaffected"
    );
}

#[test]
fn bad_signature_is_refused() {
    let emu = start_demo();
    let c = RawClient::new(&emu);
    assert_eq!(c.get_secret(&emu, true).reply.status, 200);
    let other = SigningKey::random(&mut rand::thread_rng());
    let r = c.get_secret_tampered(&emu, false, |etk, body, h| {
        let mut signed = etk.clone();
        signed.extend_from_slice(body);
        let sig: DerSignature = other.sign(&signed);
        h[2].1 = format!("Signature {}", STANDARD.encode(sig.as_bytes()));
    });
    assert_error(&r, 403, "access_denied", "Signature is invalid");
    let r = c.get_secret_tampered(&emu, false, |_, _, h| {
        h[2].1 = "Signature !!!not-base64!!!".into();
    });
    assert_error(&r, 403, "access_denied", "Signature is invalid");
}

#[test]
fn wrong_key_id_gets_the_key_hint_once() {
    let emu = start_demo();
    let c = RawClient::new(&emu);
    let wrong = |_: &mut Vec<u8>, _: &mut Vec<u8>, h: &mut Headers| h[1].1 = "7".into();
    let first = c.get_secret_tampered(&emu, true, wrong);
    let v = first.json();
    assert_eq!(
        (first.status, v["error"].as_str(), v["key_id"].as_u64()),
        (400, Some("key"), Some(17)),
        "{v}"
    );
    // A client that ignores the hint (the SDK in custom-key mode does) is not kept looping.
    let second = c.get_secret_tampered(&emu, true, wrong);
    let v = second.json();
    assert_eq!(v["error"], "key");
    assert!(v.get("key_id").is_none(), "{v}");
    assert_eq!(
        emu.bound_clients(),
        0,
        "nothing was bound by requests for the wrong key"
    );
}

#[test]
fn a_key_id_that_is_not_a_number_gets_the_numeric_hint() {
    // What the JavaScript SDK sends for a key id that is not a number (`Number("emu-1")`).
    let emu = start_demo();
    let c = RawClient::new(&emu);
    for sent in ["NaN", "017", " 17x"] {
        let r = c.get_secret_tampered(&emu, true, |_, _, h| h[1].1 = sent.into());
        let v = r.json();
        assert_eq!(
            (r.status, v["error"].as_str(), v["key_id"].as_u64()),
            (400, Some("key"), Some(17)),
            "{sent:?}: {v}"
        );
    }
}

#[test]
fn tampered_ciphertext_is_refused() {
    let emu = start_demo();
    let c = RawClient::new(&emu);
    let r = c.get_secret_tampered(&emu, true, |_, body, _| {
        let n = body.len() - 1;
        body[n] ^= 0x01;
    });
    // The signature covers the original body, but decryption fails first.
    assert_error(&r, 400, "bad_request", "decrypt the payload");
    let r = c.get_secret_tampered(&emu, true, |etk, _, h| {
        etk[70] ^= 0x01;
        h[0].1 = STANDARD.encode(&*etk);
    });
    assert_error(&r, 400, "bad_request", "transmission key");
    assert_eq!(emu.bound_clients(), 0);
    assert_eq!(
        c.get_secret(&emu, true).reply.status,
        200,
        "an intact request still binds"
    );
}

#[test]
fn bad_json_and_missing_fields_are_bad_requests() {
    let emu = start_demo();
    let c = RawClient::new(&emu);
    let r = c.send_plain(&emu, "get_secret", b"{not json");
    assert_error(&r, 400, "bad_request", "not valid JSON");
    let r = c.send_plain(&emu, "get_secret", br#"{"clientVersion":"mr17.3.0"}"#);
    assert_error(&r, 400, "bad_request", "clientId");
    let r = c.send_plain(&emu, "get_secret", br#"{"clientId":"bm90LWEtY2xpZW50"}"#);
    assert_error(
        &r,
        403,
        "access_denied",
        "Unable to validate application access",
    );
    let r = c.get_secret_tampered(&emu, true, |_, _, h| {
        h.remove(0);
    });
    assert_error(&r, 400, "bad_request", "TransmissionKey");
    assert_eq!(c.get_secret(&emu, true).reply.status, 200);
    // A bound client sending junk to a write endpoint gets a precise error.
    let junk = json!({"clientId": c.client_id, "recordUid": "x"});
    let r = c.send_plain(&emu, "create_secret", junk.to_string().as_bytes());
    assert_error(&r, 400, "bad_request", "folderUid is missing");
    let junk = json!({"clientId": c.client_id, "recordUid": "PgOrdersDatabaseRec001", "revision": 1, "data": "AAAA"});
    let r = c.send_plain(&emu, "update_secret", junk.to_string().as_bytes());
    assert_error(&r, 400, "bad_request", "does not decrypt");
}

#[test]
fn broken_http_never_takes_the_emulator_down() {
    let emu = start_demo();
    let r = raw_request(&emu, b"\x00\x01garbage\r\n\r\n");
    assert_eq!(r.status, 400);
    let r = raw_request(
        &emu,
        b"POST /api/rest/sm/v1/get_secret HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    let r = raw_request(
        &emu,
        b"POST /api/rest/sm/v1/no_such_thing HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert_error(&r, 404, "not_found", "No such endpoint");
    let r = raw_request(
        &emu,
        b"POST /api/rest/sm/v1/get_secret HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    // A request cut short, a TLS handshake abandoned, and a non-proxy request.
    {
        let mut s = tunnel(&emu);
        s.write_all(b"POST /api/rest/sm/v1/get_secret HTTP/1.1\r\nContent-Length: 50\r\n\r\nshort")
            .unwrap();
    }
    {
        let mut tcp = TcpStream::connect(emu.addr()).unwrap();
        tcp.write_all(b"CONNECT ksm.test:443 HTTP/1.1\r\n\r\n\x16\x03\x01\x00\x05hello")
            .unwrap();
    }
    let mut tcp = TcpStream::connect(emu.addr()).unwrap();
    tcp.write_all(b"GET http://ksm.test/ HTTP/1.1\r\nHost: ksm.test\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut tcp).status, 400);

    let mut sm = client(&emu);
    assert_eq!(sm.get_secrets(vec![]).expect("still serving").len(), 8);
}

#[test]
fn direct_tls_and_other_host_names_are_served() {
    let emu = start_demo();
    for (via_connect, host) in [
        (false, "localhost"),
        (false, "127.0.0.1"),
        (true, "localhost"),
    ] {
        let r = exchange(
            &mut tls_stream(&emu, via_connect, host),
            b"POST /api/rest/sm/v1/nope HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        );
        assert_error(&r, 404, "not_found", "No such endpoint");
    }
}

#[test]
fn file_urls_without_the_right_token_are_not_found() {
    let emu = start_demo();
    for req in [
        "GET /ksm-emulator/files/whatever?t=guess HTTP/1.1\r\nHost: ksm.test\r\n\r\n",
        "GET /ksm-emulator/files/whatever HTTP/1.1\r\nHost: ksm.test\r\n\r\n",
        "POST /ksm-emulator/upload/whatever?t=guess HTTP/1.1\r\nHost: ksm.test\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 52\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n",
    ] {
        // The URL is checked before the body: an unknown URL is 404 whatever is sent.
        let r = raw_request(&emu, req.as_bytes());
        assert_eq!(r.status, 404, "{req}");
    }
    let r = raw_request(
        &emu,
        b"POST /ksm-emulator/upload/whatever?t=guess HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(r.status, 404);
}
