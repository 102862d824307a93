//! The network side: one loopback port that is at once an HTTP CONNECT proxy (TLS inside the
//! tunnel, whatever host was asked for) and a direct TLS endpoint, speaking HTTP/1.1 with
//! keep-alive. Faults are applied here, before and after the vault sees a request.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::Stats;
use crate::faults::{self, Fault, RuleState};
use crate::vault::{self, ApiReply, ApiRequest, Vault};

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;
const API_PREFIX: &str = "/api/rest/sm/v1/";

pub(crate) struct Shared {
    pub vault: Mutex<Vault>,
    pub rules: Mutex<Vec<RuleState>>,
    pub stats: Mutex<Stats>,
    pub persist: Option<PathBuf>,
    pub acceptor: TlsAcceptor,
}

/// Locks a mutex even if a panicking thread poisoned it; the data is still consistent
/// because every critical section leaves it so before anything can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn persist_now(&self, v: &Vault) {
        let Some(path) = &self.persist else { return };
        match v.to_persisted() {
            Ok(text) => {
                if let Err(e) = crate::tls::write_atomic(path, text.as_bytes(), true) {
                    tracing::error!(error = %e, "cannot persist the emulator state");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot serialise the emulator state"),
        }
    }
}

pub(crate) async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot use the listening socket");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    lock(&shared.stats).connections += 1;
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let _closed = Closed(shared.clone());
                        connection(tcp, shared).await
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Counts a connection as closed when its task ends, however it ends.
struct Closed(Arc<Shared>);

impl Drop for Closed {
    fn drop(&mut self) {
        lock(&self.0.stats).closed += 1;
    }
}

async fn connection(mut tcp: TcpStream, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(1) => {}
        _ => return,
    }
    // A TLS ClientHello is a client talking to us directly (token host = 127.0.0.1/localhost);
    // anything else must be a CONNECT asking for a tunnel.
    let tunnel = first[0] != 0x16;
    if tunnel {
        let Some(req) = next_request(&mut tcp, &mut Vec::new()).await else {
            return;
        };
        if !req.method.eq_ignore_ascii_case("CONNECT") {
            let msg = "this is a KSM emulator: use it as the client's HTTPS proxy (proxy_url)";
            let _ = write_reply(&mut tcp, &json_reply(400, "bad_request", msg), false).await;
            return;
        }
        tracing::debug!(target_host = %req.path, "CONNECT tunnel opened");
        if tcp
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    }
    match shared.acceptor.accept(tcp).await {
        Ok(tls) => http_loop(tls, &shared).await,
        Err(e) => {
            if rejects_certificate(&e) {
                lock(&shared.stats).certificate_rejected += 1;
            }
            tracing::debug!(error = %e, tunnel, "TLS handshake failed");
        }
    }
}

/// Whether a failed handshake is the client refusing our certificate: it said so with a
/// certificate alert. rustls clients send `unknown_ca` for an issuer they do not know, and
/// `decrypt_error` for a certificate whose signature fails against the trusted CA of that name
/// (every emulator CA has the same name, so that is what a client trusting another one sees).
fn rejects_certificate(e: &std::io::Error) -> bool {
    use rustls::AlertDescription as A;
    matches!(
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::AlertReceived(
            A::UnknownCA
                | A::DecryptError
                | A::BadCertificate
                | A::CertificateUnknown
                | A::UnsupportedCertificate
                | A::CertificateExpired
                | A::CertificateRevoked
        ))
    )
}

struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    close: bool,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The request head at the start of `buf` and its length, `None` while it is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<(usize, HttpRequest)>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err("malformed HTTP request"),
    };
    let req = HttpRequest {
        method: parsed.method.unwrap_or("").to_string(),
        path: parsed.path.unwrap_or("").to_string(),
        headers: parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
        body: vec![],
        close: false,
    };
    Ok(Some((head_len, req)))
}

/// Appends what the peer sends next to `buf`; `Ok(0)` at the end of the stream.
async fn read_more<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 16 * 1024];
    let n = s.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Reads one request; `Ok(None)` on a clean end of stream between requests.
async fn read_request<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> Result<Option<HttpRequest>, &'static str> {
    let (head_len, mut req) = loop {
        if let Some(head) = parse_head(buf)? {
            break head;
        }
        if buf.len() > MAX_HEAD {
            return Err("request head is too large");
        }
        match read_more(s, buf).await {
            Ok(0) | Err(_) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err("connection closed mid-request"),
            Err(_) => return Err("connection failed mid-request"),
            Ok(_) => {}
        }
    };
    if req.header("transfer-encoding").is_some() {
        return Err("chunked request bodies are not supported; send Content-Length");
    }
    let len = match req.header("content-length") {
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| "Content-Length is not a number")?,
        None => 0,
    };
    if len > MAX_BODY {
        return Err("request body is too large");
    }
    req.close = req
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    while buf.len() < head_len + len {
        match read_more(s, buf).await {
            Ok(0) => return Err("connection closed mid-request"),
            Err(_) => return Err("connection failed mid-request"),
            Ok(_) => {}
        }
    }
    req.body = buf[head_len..head_len + len].to_vec();
    buf.drain(..head_len + len);
    Ok(Some(req))
}

/// The next request on a connection, or `None` when the connection is done (a malformed
/// request is answered with a 400 first).
async fn next_request<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> Option<HttpRequest> {
    match read_request(s, buf).await {
        Ok(req) => req,
        Err(msg) => {
            let _ = write_reply(s, &json_reply(400, "bad_request", msg), false).await;
            None
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

fn head(reply: &ApiReply, keep_alive: bool) -> Vec<u8> {
    if reply.status == 204 {
        let conn = if keep_alive { "keep-alive" } else { "close" };
        return format!("HTTP/1.1 204 No Content\r\nConnection: {conn}\r\n\r\n").into_bytes();
    }
    format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes()
}

async fn write_reply<S: AsyncWrite + Unpin>(
    s: &mut S,
    reply: &ApiReply,
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut out = head(reply, keep_alive);
    out.extend_from_slice(&reply.body);
    s.write_all(&out).await?;
    s.flush().await
}

async fn http_loop<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, shared: &Shared) {
    let mut buf = Vec::new();
    loop {
        let Some(req) = next_request(&mut s, &mut buf).await else {
            return;
        };
        let (endpoint, known) = if req.path.starts_with(vault::UPLOAD_PATH) {
            (
                "upload".to_string(),
                req.method.eq_ignore_ascii_case("POST"),
            )
        } else if req.path.starts_with(vault::DOWNLOAD_PATH) {
            (
                "download".to_string(),
                req.method.eq_ignore_ascii_case("GET"),
            )
        } else {
            let ep = req.path.strip_prefix(API_PREFIX).unwrap_or("").to_string();
            let known =
                req.method.eq_ignore_ascii_case("POST") && vault::ENDPOINTS.contains(&ep.as_str());
            (ep, known)
        };
        {
            let mut st = lock(&shared.stats);
            st.requests += 1;
            if known {
                *st.by_endpoint.entry(endpoint.clone()).or_default() += 1;
            }
        }
        if !known {
            tracing::debug!(method = %req.method, "request for an unknown path");
            let reply = ApiReply::json(
                404,
                vault::error_body(&endpoint, "not_found", "No such endpoint", None),
            );
            if write_reply(&mut s, &reply, !req.close).await.is_err() || req.close {
                return;
            }
            continue;
        }
        let decision = faults::decide(&mut lock(&shared.rules), &endpoint);
        if decision.fired > 0 {
            lock(&shared.stats).faults_fired += decision.fired;
        }
        if !decision.latency.is_zero() {
            tokio::time::sleep(decision.latency).await;
        }
        let mut slow = None;
        let reply = match decision.fault {
            Some(Fault::DropConnection) => {
                tracing::debug!(endpoint = %endpoint, "fault: dropping the connection");
                return;
            }
            Some(Fault::HttpStatus(code)) => {
                tracing::debug!(endpoint = %endpoint, status = code, "fault: HTTP error");
                ApiReply {
                    status: code,
                    body: format!("<html><body><h1>{code} {}</h1></body></html>", reason(code))
                        .into_bytes(),
                    content_type: "text/html",
                }
            }
            Some(Fault::Throttle { retry_after }) => {
                tracing::debug!(endpoint = %endpoint, "fault: throttled");
                let message = "Due to repeated attempts, your request has been throttled. Try again in 1 minute.";
                let extra = Some(("retry_after", serde_json::json!(retry_after)));
                ApiReply::json(
                    403,
                    vault::error_body(&endpoint, "throttled", message, extra),
                )
            }
            Some(Fault::KeyRotation) => {
                tracing::debug!(endpoint = %endpoint, "fault: key rotation");
                let id = lock(&shared.vault).server_key_id;
                vault::key_reply(&endpoint, Some(id))
            }
            other => {
                if let Some(Fault::SlowBody {
                    chunk_delay,
                    truncate,
                }) = other
                {
                    slow = Some((chunk_delay, truncate));
                }
                let lose_reply = matches!(other, Some(Fault::LoseReply));
                let api = ApiRequest {
                    endpoint: &endpoint,
                    transmission_key: req.header("TransmissionKey"),
                    public_key_id: req.header("PublicKeyId"),
                    authorization: req.header("Authorization"),
                    body: &req.body,
                };
                let reply = {
                    let mut v = lock(&shared.vault);
                    let (reply, changed) = match endpoint.as_str() {
                        "upload" => file_upload(&mut v, &req),
                        "download" => (file_download(&mut v, &req), false),
                        _ => v.handle(&api),
                    };
                    if changed {
                        shared.persist_now(&v);
                    }
                    reply
                };
                if lose_reply {
                    tracing::debug!(endpoint = %endpoint, "fault: request applied, reply lost");
                    return;
                }
                reply
            }
        };
        match slow {
            None => {
                if write_reply(&mut s, &reply, !req.close).await.is_err() {
                    return;
                }
            }
            Some((delay, truncate)) => {
                tracing::debug!(endpoint = %endpoint, truncate, "fault: slow body");
                if s.write_all(&head(&reply, !req.close)).await.is_err() {
                    return;
                }
                let cut = if truncate {
                    reply.body.len() / 2
                } else {
                    reply.body.len()
                };
                for chunk in reply.body[..cut].chunks(16) {
                    if s.write_all(chunk).await.is_err() || s.flush().await.is_err() {
                        return;
                    }
                    tokio::time::sleep(delay).await;
                }
                if truncate {
                    let _ = s.flush().await;
                    return;
                }
            }
        }
        if req.close {
            let _ = s.shutdown().await;
            return;
        }
    }
}

/// `<uid>?t=<token>` from a file transfer path.
fn file_target<'a>(path: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let rest = path.strip_prefix(prefix)?;
    let (uid, query) = rest.split_once('?')?;
    let token = query.split('&').find_map(|kv| kv.strip_prefix("t="))?;
    Some((uid, token))
}

/// A short JSON error for what is not a KSM endpoint (HTTP errors, file transfers).
fn json_reply(status: u16, code: &str, message: &str) -> ApiReply {
    let body = serde_json::json!({"error": code, "message": message});
    ApiReply::json(status, body.to_string().into_bytes())
}

/// The upload URL handed out by `add_file`: a multipart POST whose `file` part is the
/// encrypted file.
fn file_upload(v: &mut Vault, req: &HttpRequest) -> (ApiReply, bool) {
    let Some((uid, token)) = file_target(&req.path, vault::UPLOAD_PATH) else {
        return (
            json_reply(404, "not_found", "no upload is expected at this URL"),
            false,
        );
    };
    let blob = req
        .header("Content-Type")
        .and_then(|ct| multipart_file(ct, &req.body));
    match v.upload(uid, token, blob) {
        Ok(()) => (
            ApiReply {
                status: 204,
                body: vec![],
                content_type: "text/plain",
            },
            true,
        ),
        Err((status, msg)) => (json_reply(status, "bad_request", &msg), false),
    }
}

fn file_download(v: &mut Vault, req: &HttpRequest) -> ApiReply {
    match file_target(&req.path, vault::DOWNLOAD_PATH).and_then(|(uid, t)| v.download(uid, t)) {
        Some(body) => ApiReply::octets(body),
        None => json_reply(404, "not_found", "no file at this URL"),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The body of the part named `file` in a multipart/form-data body.
fn multipart_file(content_type: &str, body: &[u8]) -> Option<Vec<u8>> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}").into_bytes();
    let mut rest = &body[find(body, &delim)? + delim.len()..];
    let next_delim = [b"\r\n".as_slice(), &delim].concat();
    loop {
        if rest.starts_with(b"--") {
            return None;
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).to_ascii_lowercase();
        let content = &rest[head_end + 4..];
        let end = find(content, &next_delim)?;
        let is_file = head
            .lines()
            .any(|l| l.starts_with("content-disposition:") && l.contains("name=\"file\""));
        if is_file {
            return Some(content[..end].to_vec());
        }
        rest = &content[end + next_delim.len()..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_finds_the_file_part() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\x00\r\n\x01--\r\n--XyZ--\r\n";
        assert_eq!(
            multipart_file("multipart/form-data; boundary=XyZ", body),
            Some(b"\x00\r\n\x01--".to_vec())
        );
        assert_eq!(
            multipart_file("multipart/form-data; boundary=Other", body),
            None
        );
        assert_eq!(multipart_file("application/json", body), None);
        assert_eq!(
            multipart_file("multipart/form-data; boundary=XyZ", b"--XyZ\r\ngarbage"),
            None
        );
    }

    #[test]
    fn file_targets_need_a_token() {
        assert_eq!(
            file_target("/ksm-emulator/files/U1?t=T2", "/ksm-emulator/files/"),
            Some(("U1", "T2"))
        );
        assert_eq!(
            file_target("/ksm-emulator/files/U1", "/ksm-emulator/files/"),
            None
        );
    }
}
