//! The accept loop: plain TCP or TLS (tokio-rustls), one hyper HTTP/1.1 connection per socket
//! (with upgrades for `/ws`), and in front of the warp routes the viewer-token gate and the
//! security headers. Stops accepting on shutdown and gives open requests a few seconds.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tower_service::Service;
use warp::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use warp::reply::Response;

use super::auth::{self, Gate};
use super::tls::Tls;
use super::{Peer, WebState, plain};

/// A TLS handshake must finish within this (a socket that never speaks holds nothing for long).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request headers must arrive within this (slow-loris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Kernel send buffer of each accepted connection (Linux doubles it for bookkeeping). Without a
/// cap, autotuning on a fast link grows it to `tcp_wmem` max (4 MiB by default): a wall client
/// that stops reading would then swallow a minute or more of updates before its writes block and
/// `max_update_age` can even start counting (measured by `socwall bench --load`,
/// docs/PERFORMANCE.md). 256 KiB still holds several snapshots and allows ≈ 20 MB/s at 25 ms
/// RTT, far more than a wall needs.
pub const SEND_BUFFER_BYTES: usize = 256 * 1024;
/// Requests still running at shutdown get this long.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What the 401 says: how to get in (never which credential was wrong, nor any token).
const UNAUTHORISED: &str = "not authorised: open the wall once with ?token=TOKEN appended to its URL \
(a token from the [auth] section of socwall.toml; the browser then keeps a cookie), or send \
Authorization: Bearer TOKEN";

pub async fn serve(listener: TcpListener, state: Arc<WebState>, tls: Option<Tls>) {
    let svc = warp::service(super::routes(state.clone()));
    let headers = Arc::new(super::security_headers(&state.server));
    let graceful = GracefulShutdown::new();
    let mut shutdown = state.shutdown.clone();
    let acceptor = tls.as_ref().map(Tls::acceptor);
    let reloader = tls.map(|t| t.spawn_reloader(state.shutdown.clone()));
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            _ = shutdown.wait() => break,
        };
        // Best effort: a socket that refuses the option is served with the kernel's default.
        if let Err(e) = socket2::SockRef::from(&tcp).set_send_buffer_size(SEND_BUFFER_BYTES) {
            tracing::debug!(%peer, "cannot set the send buffer size: {e}");
        }
        let ctx = Ctx {
            svc: svc.clone(),
            state: state.clone(),
            headers: headers.clone(),
            peer,
            tls: acceptor.is_some(),
        };
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => connection(tcp, ctx, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => connection(stream, ctx, watcher).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("some HTTP requests were still open at shutdown");
    }
    if let Some(r) = reloader {
        let _ = r.await;
    }
}

/// Everything a connection's requests need.
#[derive(Clone)]
struct Ctx<S> {
    svc: S,
    state: Arc<WebState>,
    headers: Arc<HeaderMap>,
    peer: SocketAddr,
    tls: bool,
}

async fn connection<I, S>(io: I, ctx: Ctx<S>, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(ctx, req).await) }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}

/// The gate, then the routes; every answer gets the security headers.
async fn handle<S>(mut ctx: Ctx<S>, req: Request<Incoming>) -> Response
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible>,
{
    let (mut parts, body) = req.into_parts();
    let secure = ctx.tls || forwarded_https(&parts.headers);
    let st = &ctx.state;
    let mut r = match auth::gate(st.auth.as_ref(), &parts.uri, &parts.headers, secure) {
        Gate::Pass(access) => {
            parts.extensions.insert(access);
            parts.extensions.insert(Peer(ctx.peer));
            match ctx.svc.call(Request::from_parts(parts, body)).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
        Gate::Exchange {
            viewer,
            location,
            cookie,
        } => {
            tracing::info!(viewer = &*viewer, peer = %ctx.peer.ip(), "viewer token exchanged for a session cookie");
            let mut r = Response::new("".into());
            *r.status_mut() = StatusCode::SEE_OTHER;
            let h = r.headers_mut();
            if let (Ok(loc), Ok(c)) = (
                HeaderValue::from_str(&location),
                HeaderValue::from_str(&cookie),
            ) {
                h.insert(header::LOCATION, loc);
                h.insert(header::SET_COOKIE, c);
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Gate::Deny(why) => {
            st.counters.unauthorised.fetch_add(1, Ordering::Relaxed);
            let path = parts.uri.path();
            if why.is_attempt() {
                tracing::warn!(peer = %ctx.peer.ip(), path, reason = why.as_str(), "refused a request: invalid credentials");
            } else {
                tracing::debug!(peer = %ctx.peer.ip(), path, reason = why.as_str(), "refused a request: no credentials");
            }
            let mut r = plain(StatusCode::UNAUTHORIZED, UNAUTHORISED);
            let h = r.headers_mut();
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"socwall\""),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Gate::TokenInSocketUrl => plain(
            StatusCode::BAD_REQUEST,
            "a token in the WebSocket URL is not accepted (URLs end up in logs): send {\"type\":\"auth\",\"token\":\"…\"} as the first message",
        ),
    };
    for (k, v) in ctx.headers.iter() {
        r.headers_mut().entry(k).or_insert_with(|| v.clone());
    }
    r
}

/// A reverse proxy terminating TLS says so with `X-Forwarded-Proto: https`. Believing it can only
/// make the cookie stricter (`Secure`), never weaker.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    // Out of file descriptors, typically: wait for some to close rather than spin.
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
