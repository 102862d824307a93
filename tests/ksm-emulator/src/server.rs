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
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    lock(&shared.stats).connections += 1;
                    let shared = shared.clone();
                    tokio::spawn(async move { connection(tcp, shared).await });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn connection(tcp: TcpStream, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(1) => {}
        _ => return,
    }
    if first[0] == 0x16 {
        // A TLS ClientHello: a client talking to us directly (token host = 127.0.0.1/localhost).
        match shared.acceptor.accept(tcp).await {
            Ok(tls) => http_loop(tls, &shared).await,
            Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
        }
        return;
    }
    let mut tcp = tcp;
    let mut buf = Vec::new();
    let req = match read_request(&mut tcp, &mut buf).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(msg) => {
            let _ = write_reply(&mut tcp, &plain_error(400, msg), false).await;
            return;
        }
    };
    if req.method.eq_ignore_ascii_case("CONNECT") {
        tracing::debug!(target_host = %req.path, "CONNECT tunnel opened");
        if tcp
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        match shared.acceptor.accept(tcp).await {
            Ok(tls) => http_loop(tls, &shared).await,
            Err(e) => tracing::debug!(error = %e, "TLS handshake in the tunnel failed"),
        }
    } else {
        let msg = "this is a KSM emulator: use it as the client's HTTPS proxy (proxy_url)";
        let _ = write_reply(&mut tcp, &plain_error(400, msg), false).await;
    }
}

fn plain_error(status: u16, msg: &str) -> ApiReply {
    ApiReply {
        status,
        body: serde_json::json!({"error": "bad_request", "message": msg})
            .to_string()
            .into_bytes(),
        content_type: "application/json",
    }
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

/// Reads one request; `Ok(None)` on a clean end of stream between requests.
async fn read_request<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> Result<Option<HttpRequest>, &'static str> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let method = parsed.method.unwrap_or("").to_string();
                let path = parsed.path.unwrap_or("").to_string();
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let find = |n: &str| {
                    headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(n))
                        .map(|(_, v)| v.clone())
                };
                if find("transfer-encoding").is_some() {
                    return Err("chunked request bodies are not supported; send Content-Length");
                }
                let len = match find("content-length") {
                    Some(v) => v
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| "Content-Length is not a number")?,
                    None => 0,
                };
                if len > MAX_BODY {
                    return Err("request body is too large");
                }
                let close = find("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
                while buf.len() < head_len + len {
                    let mut chunk = [0u8; 16 * 1024];
                    let n = s
                        .read(&mut chunk)
                        .await
                        .map_err(|_| "connection failed mid-request")?;
                    if n == 0 {
                        return Err("connection closed mid-request");
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = buf[head_len..head_len + len].to_vec();
                buf.drain(..head_len + len);
                return Ok(Some(HttpRequest {
                    method,
                    path,
                    headers,
                    body,
                    close,
                }));
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD {
                    return Err("request head is too large");
                }
                let mut chunk = [0u8; 16 * 1024];
                let n = match s.read(&mut chunk).await {
                    Ok(n) => n,
                    Err(_) if buf.is_empty() => return Ok(None),
                    Err(_) => return Err("connection failed mid-request"),
                };
                if n == 0 {
                    return if buf.is_empty() {
                        Ok(None)
                    } else {
                        Err("connection closed mid-request")
                    };
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(_) => return Err("malformed HTTP request"),
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
        let req = match read_request(&mut s, &mut buf).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(msg) => {
                let _ = write_reply(&mut s, &plain_error(400, msg), false).await;
                return;
            }
        };
        let endpoint = req.path.strip_prefix(API_PREFIX).unwrap_or("").to_string();
        let known = req.method.eq_ignore_ascii_case("POST")
            && vault::ENDPOINTS.contains(&endpoint.as_str());
        {
            let mut st = lock(&shared.stats);
            st.requests += 1;
            if known {
                *st.by_endpoint.entry(endpoint.clone()).or_default() += 1;
            }
        }
        if !known {
            tracing::debug!(method = %req.method, "request for an unknown path");
            let reply = ApiReply {
                status: 404,
                body: vault::error_body(&endpoint, "not_found", "No such endpoint", None),
                content_type: "application/json",
            };
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
                let body = serde_json::json!({
                    "path": format!("https://keepersecurity.com/api/rest/sm/v1/{endpoint}, POST"),
                    "additional_info": "",
                    "location": "default exception manager - api exception",
                    "error": "throttled",
                    "message": "Due to repeated attempts, your request has been throttled. Try again in 1 minute.",
                    "retry_after": retry_after,
                });
                ApiReply {
                    status: 403,
                    body: body.to_string().into_bytes(),
                    content_type: "application/json",
                }
            }
            Some(Fault::KeyRotation) => {
                tracing::debug!(endpoint = %endpoint, "fault: key rotation");
                let id = lock(&shared.vault).server_key_id.clone();
                let extra = Some(("key_id", serde_json::Value::String(id)));
                ApiReply {
                    status: 400,
                    body: vault::error_body(&endpoint, "key", "invalid key id", extra),
                    content_type: "application/json",
                }
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
                    let (reply, changed) = v.handle(&api);
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
