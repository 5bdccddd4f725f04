//! Minimal HTTP/1.1 GET over a raw socket for integration tests (no client crate needed, and the
//! request is exactly what we say it is).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Response {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// `GET path` with extra request headers (`("Cookie", "socwall=…")`).
pub async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"),
    )
    .await
}

pub async fn request(addr: SocketAddr, raw: &str) -> Response {
    tokio::time::timeout(Duration::from_secs(10), async {
        let s = TcpStream::connect(addr).await.expect("connect");
        request_on(s, raw).await
    })
    .await
    .expect("HTTP request timed out")
}

/// Sends `raw` on an open stream (plain or TLS) and reads the answer to the end.
pub async fn request_on<S>(mut s: S, raw: &str) -> Response
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    s.write_all(raw.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    // A TLS peer may close without close_notify; what was read is the answer.
    let _ = s.read_to_end(&mut buf).await;
    parse(&buf)
}

impl Response {
    /// Every value of a header that may repeat (`Set-Cookie`).
    pub fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Polls `GET path` until it answers 200 with JSON satisfying `cond` (10 s at most). The daemon's
/// listener is bound before `run` starts, so early requests simply wait in the backlog.
pub async fn wait_json(
    addr: SocketAddr,
    path: &str,
    cond: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(addr, path).await;
        if r.status == 200 && cond(&r.json()) {
            return r.json();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting on {path}: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn parse(buf: &[u8]) -> Response {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n").expect("no header end");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}
